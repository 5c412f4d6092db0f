#include "tests/loopback/scripted_target.h"

#include <catch2/catch.hpp>
#include <cstring>

#include "common/wire/iu_encode.h"

namespace srp::test {

namespace {
constexpr std::uint32_t kIuBytes = 8260;
constexpr std::uint32_t kRingDepth = 64;  // more than any test keeps in flight
}  // namespace

initiator::Connector ScriptedTarget::connector() {
    return [this](const initiator::ConnectRequest& request)
               -> std::expected<initiator::ConnectedChannel, initiator::LoginFailure> {
        login_requests.push_back(request.login(gid));
        receive_queue_depth = request.receive_queue_depth;
        auto ch = std::make_shared<Channel>();
        ch->initiator_domain->set_windows_supported(initiator_windows);
        auto pair = fabric::make_loopback_pair(target_domain_, nullptr, ch->initiator_domain, ch->initiator_notifier);
        ch->target_end = std::move(pair.first);
        ch->initiator_end = std::move(pair.second);
        ch->initiator_end->set_receive_queue_depth(request.receive_queue_depth);  // as the QP would be
        ch->ring.resize(std::size_t{kIuBytes} * kRingDepth);
        ch->send_buffer.resize(kIuBytes);
        ch->ring_mr = std::move(*target_domain_->register_memory(ch->ring, false));
        ch->send_mr = std::move(*target_domain_->register_memory(ch->send_buffer, false));
        for (std::uint32_t i = 0; i < kRingDepth; ++i)
            REQUIRE(ch->target_end->post_receive(i, ch->ring_mr->segment(std::size_t{i} * kIuBytes, kIuBytes)));
        auto rsp = wire::make_iu<wire::LoginRsp>(wire::Opcode::login_rsp);
        rsp.req_lim_delta = credits_;
        rsp.max_it_iu_len = kIuBytes;
        rsp.max_ti_iu_len = kIuBytes;
        rsp.buf_fmt = wire::kBufFmtDirect | wire::kBufFmtIndirect;
        initiator::ConnectedChannel c;
        c.connection = ch->initiator_end.get();
        c.domain = ch->initiator_domain.get();
        c.notifier = ch->initiator_notifier.get();
        const auto bytes = wire::iu_bytes(rsp);
        c.accept_data.assign(bytes.begin(), bytes.end());
        c.peer_disconnected = [this] {
            ++cm_checks;
            return false;
        };
        c.description = "scripted";
        c.owner = ch;
        channels_.push_back(ch);
        return c;
    };
}

std::vector<ScriptedTarget::Iu> ScriptedTarget::receive() {
    std::vector<Iu> ius;
    for (std::size_t n = 0; n < channels_.size(); ++n) {
        auto& ch = *channels_[n];
        fabric::Completion c[16];
        for (std::size_t got; (got = ch.target_end->poll(c)) > 0;) {
            for (std::size_t i = 0; i < got; ++i) {
                if (c[i].kind != fabric::WorkKind::receive || c[i].status != fabric::CompletionStatus::success) continue;
                const auto* at = ch.ring.data() + c[i].wr_id * kIuBytes;
                Iu iu;
                iu.bytes.assign(at, at + c[i].byte_len);
                auto op = wire::peek_opcode(iu.bytes);
                if (!op) continue;
                iu.opcode = *op;
                std::memcpy(&iu.tag, at + 8, sizeof iu.tag);  // every IU's tag sits at byte 8
                iu.channel = n;
                ius.push_back(std::move(iu));
                (void)ch.target_end->post_receive(c[i].wr_id, ch.ring_mr->segment(c[i].wr_id * kIuBytes, kIuBytes));
            }
        }
    }
    return ius;
}

void ScriptedTarget::send(Channel& ch, std::span<const std::uint8_t> iu) {
    std::memcpy(ch.send_buffer.data(), iu.data(), iu.size());
    (void)ch.target_end->post_send(sends_++, ch.send_mr->segment(0, static_cast<std::uint32_t>(iu.size())));
}

void ScriptedTarget::respond(const Iu& command, std::uint8_t status, std::uint32_t req_lim_delta) {
    auto h = wire::make_iu<wire::RspHeader>(wire::Opcode::rsp);
    h.req_lim_delta = req_lim_delta;
    std::memcpy(h.tag.data(), &command.tag, sizeof command.tag);
    h.status = status;
    std::uint8_t out[64];
    auto n = wire::encode_rsp(out, h, {}, {});
    REQUIRE(n);
    send(*channels_.at(command.channel), std::span<const std::uint8_t>(out, *n));
}

void ScriptedTarget::request_credit(std::size_t channel, std::uint64_t tag, std::uint32_t req_lim_delta) {
    auto r = wire::make_iu<wire::CredReq>(wire::Opcode::cred_req);
    r.req_lim_delta = req_lim_delta;
    std::memcpy(r.tag.data(), &tag, sizeof tag);
    send(*channels_.at(channel), std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(&r), sizeof r));
}

void ScriptedTarget::respond_tmf(const Iu& tmf, std::uint8_t code, std::uint32_t req_lim_delta) {
    auto h = wire::make_iu<wire::RspHeader>(wire::Opcode::rsp);
    h.req_lim_delta = req_lim_delta;
    std::memcpy(h.tag.data(), &tmf.tag, sizeof tmf.tag);
    const std::uint8_t response[4] = {0, 0, 0, code};
    std::uint8_t out[64];
    auto n = wire::encode_rsp(out, h, response, {});
    REQUIRE(n);
    send(*channels_.at(tmf.channel), std::span<const std::uint8_t>(out, *n));
}

fabric::CompletionStatus ScriptedTarget::write_data_in(const Iu& command, std::span<const std::uint8_t> bytes) {
    auto cmd = wire::parse_cmd(command.bytes, 0);
    REQUIRE(cmd);
    const bool data_in = cmd->data_in.count_in_iu() == 1;
    REQUIRE((data_in || cmd->data_out.count_in_iu() == 1));
    const auto d = data_in ? cmd->data_in.descriptor(0) : cmd->data_out.descriptor(0);
    auto& ch = *channels_.at(command.channel);
    std::vector<std::uint8_t> source(bytes.begin(), bytes.end());
    auto mr = std::move(*target_domain_->register_memory(source, false));
    const fabric::LocalSegment local = mr->segment(0, static_cast<std::uint32_t>(source.size()));
    const fabric::RdmaOp op{fabric::RemoteSegment{d.va.value(), d.key.value(), static_cast<std::uint32_t>(source.size())},
                            std::span(&local, 1)};
    // A zero-length SEND rides behind the RDMA WRITE: its completion reports the WRITE's fate.
    (void)ch.target_end->post_rdma_write_then_send(sends_++, std::span(&op, 1), fabric::LocalSegment{});
    fabric::Completion c[16];
    for (int tries = 0; tries < 100; ++tries)
        for (std::size_t i = 0, n = ch.target_end->poll(c); i < n; ++i)
            if (c[i].kind == fabric::WorkKind::send && c[i].wr_id == sends_ - 1) return c[i].status;
    return fabric::CompletionStatus::local_error;
}

fabric::CompletionStatus ScriptedTarget::read_with_key(const Iu& command, std::span<std::uint8_t> into) {
    auto cmd = wire::parse_cmd(command.bytes, 0);
    REQUIRE(cmd);
    const bool data_in = cmd->data_in.count_in_iu() == 1;
    REQUIRE((data_in || cmd->data_out.count_in_iu() == 1));
    const auto d = data_in ? cmd->data_in.descriptor(0) : cmd->data_out.descriptor(0);
    auto& ch = *channels_.at(command.channel);
    auto mr = std::move(*target_domain_->register_memory(into, false));
    const fabric::LocalSegment local = mr->segment(0, static_cast<std::uint32_t>(into.size()));
    const fabric::RdmaOp op{fabric::RemoteSegment{d.va.value(), d.key.value(), static_cast<std::uint32_t>(into.size())},
                            std::span(&local, 1)};
    const std::uint64_t id = sends_++;
    (void)ch.target_end->post_rdma_read(id, std::span(&op, 1));
    fabric::Completion c[16];
    for (int tries = 0; tries < 100; ++tries)
        for (std::size_t i = 0, n = ch.target_end->poll(c); i < n; ++i)
            if (c[i].kind == fabric::WorkKind::rdma_read && c[i].wr_id == id) return c[i].status;
    return fabric::CompletionStatus::local_error;
}

}  // namespace srp::test
