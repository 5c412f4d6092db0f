#include "tests/hostile/raw_channel.h"

#include <poll.h>

#include <algorithm>
#include <cstring>

#include "common/wire/iu_encode.h"
#include "common/wire/iu_parse.h"

namespace srp::hostile {

namespace {
constexpr std::uint64_t kReceiveTag = 1ull << 62;
// Receive buffers: the largest IU a target may send us (SRP_RSP with sense,
// AER_REQ); our target grants max_ti_iu_len 256.
constexpr std::uint32_t kMaxTiIuLen = 16384;
// A send slot holds the longest IU the login allows plus this much, so an
// IU longer than the target accepts can be sent on purpose.
constexpr std::uint32_t kOversizeBytes = 256;
constexpr std::size_t kScratchBytes = 64 * 1024;

using Clock = std::chrono::steady_clock;
}  // namespace

wire::PortId Endpoint::target_port_id() const {
    return wire::make_target_port_id(id_ext, ioc_guid);
}

std::expected<std::unique_ptr<RawChannel>, initiator::LoginFailure> RawChannel::open(const Endpoint& endpoint,
                                                                                     const RawLogin& login,
                                                                                     RawOptions options) {
    std::vector<std::uint8_t> private_data;
    if (login.private_data) {
        private_data = *login.private_data;
    } else {
        auto req = wire::make_login_req_rdma();
        std::memcpy(req.tag.data(), "hostile", 8);
        req.req_it_iu_len = login.it_iu_len;
        req.req_buf_fmt = login.buf_fmt;
        req.req_flags = login.req_flags;
        req.imm_data_offset = login.imm_data_offset;
        req.initiator_port_id = login.initiator_port_id;
        req.target_port_id = login.target_port_id.value_or(endpoint.target_port_id());
        const auto bytes = wire::iu_bytes(req);
        private_data.assign(bytes.begin(), bytes.end());
    }
    initiator::ConnectRequest request;
    request.login = [&](const initiator::PortGid&) { return private_data; };
    // One more send for the RDMA op chain (a READ, or a WRITE and its SEND).
    request.send_queue_depth = options.send_slots + 2;
    request.receive_queue_depth = options.receive_slots;
    auto link = initiator::verbs_connector(endpoint.host, endpoint.port, endpoint.timeout)(request);
    if (!link) return std::unexpected(link.error());

    std::unique_ptr<RawChannel> ch(new RawChannel());
    ch->link_ = std::move(*link);
    ch->options_ = options;
    auto rsp = wire::parse_login_rsp(ch->link_.accept_data);
    if (!rsp)
        return std::unexpected(initiator::LoginFailure{
            initiator::LoginFailure::Kind::protocol, "accepted without a valid SRP_LOGIN_RSP", {}});
    ch->login_rsp_ = *rsp;
    if (rsp->rsp_flags & wire::kRspFlagImmediateSupported) ch->imm_data_offset_ = login.imm_data_offset;
    const std::uint32_t ti_len = std::clamp<std::uint32_t>(rsp->max_ti_iu_len.value(), 64, kMaxTiIuLen);
    ch->slot_bytes_ = std::max<std::uint32_t>(login.it_iu_len, 64) + kOversizeBytes;
    ch->send_memory_.resize(std::size_t{options.send_slots} * ch->slot_bytes_);
    ch->receive_memory_.resize(std::size_t{options.receive_slots} * ti_len);
    ch->scratch_.resize(kScratchBytes);
    ch->data_.resize(options.data_bytes);
    auto reg = [&](std::vector<std::uint8_t>& m, bool remote) -> std::unique_ptr<fabric::Registration> {
        auto r = ch->link_.domain->register_memory(m, remote);
        return r ? std::move(*r) : nullptr;
    };
    ch->send_mr_ = reg(ch->send_memory_, false);
    ch->receive_mr_ = reg(ch->receive_memory_, false);
    ch->scratch_mr_ = reg(ch->scratch_, false);
    ch->data_mr_ = reg(ch->data_, true);  // the target RDMA-reads and -writes it
    if (!ch->send_mr_ || !ch->receive_mr_ || !ch->scratch_mr_ || !ch->data_mr_)
        return std::unexpected(
            initiator::LoginFailure{initiator::LoginFailure::Kind::error, "memory registration", {}});
    ch->send_busy_.assign(options.send_slots, false);
    for (std::uint32_t i = 0; i < options.receive_slots; ++i)
        if (!ch->repost(i))
            return std::unexpected(
                initiator::LoginFailure{initiator::LoginFailure::Kind::error, "posting receives", {}});
    return ch;
}

RawChannel::~RawChannel() {
    // The queue pair goes to error before the registrations below it are released.
    if (link_.connection != nullptr) link_.connection->disconnect();
}

wire::DirectDescriptor RawChannel::descriptor(std::size_t offset, std::uint32_t length) const {
    wire::DirectDescriptor d{};
    d.va = reinterpret_cast<std::uintptr_t>(data_.data() + offset);
    d.key = data_mr_->rkey();
    d.len = length;
    return d;
}

bool RawChannel::repost(std::uint32_t index) {
    const std::uint32_t bytes = static_cast<std::uint32_t>(receive_memory_.size() / options_.receive_slots);
    return link_.connection->post_receive(kReceiveTag | index, receive_mr_->segment(std::size_t{index} * bytes, bytes))
        .has_value();
}

bool RawChannel::send(std::span<const std::uint8_t> iu) {
    if (closed_ || iu.size() > slot_bytes_) return false;
    for (std::uint32_t tries = 0; tries < options_.send_slots && send_busy_[next_slot_]; ++tries)
        next_slot_ = (next_slot_ + 1) % options_.send_slots;
    if (send_busy_[next_slot_]) {
        pump(0ms);
        if (send_busy_[next_slot_]) return false;
    }
    const std::uint32_t slot = next_slot_;
    next_slot_ = (next_slot_ + 1) % options_.send_slots;
    auto segment = send_mr_->segment(std::size_t{slot} * slot_bytes_, static_cast<std::uint32_t>(iu.size()));
    if (!iu.empty()) std::memcpy(segment.address, iu.data(), iu.size());
    if (!link_.connection->post_send(slot, segment)) return false;
    send_busy_[slot] = true;
    return true;
}

void RawChannel::on_completion(const fabric::Completion& c) {
    using fabric::CompletionStatus;
    if (c.status != CompletionStatus::success) {
        if (c.status != CompletionStatus::flushed && !first_error_) first_error_ = c.status;
        closed_ = true;  // any failure leaves the queue pair in error
    }
    if (c.wr_id & kReceiveTag) {
        if (c.status != CompletionStatus::success) return;
        const auto index = static_cast<std::uint32_t>(c.wr_id & ~kReceiveTag);
        const std::size_t bytes = receive_memory_.size() / options_.receive_slots;
        const auto* at = receive_memory_.data() + index * bytes;
        arrived_.emplace_back(at, at + std::min<std::size_t>(c.byte_len, bytes));
        if (!repost(index)) closed_ = true;
        return;
    }
    if (c.wr_id < options_.send_slots) {
        send_busy_[c.wr_id] = false;
    } else {
        rdma_status_ = c.status;
    }
}

std::size_t RawChannel::pump(std::chrono::milliseconds max_sleep) {
    fabric::Completion completions[32];
    std::size_t handled = 0;
    for (;;) {
        const std::size_t n = link_.connection->poll(completions);
        for (std::size_t i = 0; i < n; ++i) on_completion(completions[i]);
        handled += n;
        if (n < std::size(completions)) break;
    }
    if (handled > 0 || max_sleep.count() == 0) return handled;
    if (!closed_ && link_.peer_disconnected && link_.peer_disconnected()) closed_ = true;
    if (link_.notifier == nullptr) return 0;
    // Arm, look once more (a completion may have slipped in), then sleep on the channel.
    link_.connection->request_notification(fabric::WakeOn::everything);
    const std::size_t n = link_.connection->poll(completions);
    for (std::size_t i = 0; i < n; ++i) on_completion(completions[i]);
    if (n > 0) return n;
    pollfd fd{link_.notifier->fd(), POLLIN, 0};
    if (::poll(&fd, 1, static_cast<int>(max_sleep.count())) > 0) link_.notifier->consume();
    return 0;
}

std::optional<Iu> RawChannel::receive(std::chrono::milliseconds timeout) {
    const auto until = Clock::now() + timeout;
    for (;;) {
        if (!arrived_.empty()) {
            Iu iu = std::move(arrived_.front());
            arrived_.pop_front();
            return iu;
        }
        if (closed_ || Clock::now() >= until) return std::nullopt;
        pump(5ms);
    }
}

std::vector<Iu> RawChannel::drain(std::chrono::milliseconds quiet, std::chrono::milliseconds timeout) {
    std::vector<Iu> all;
    const auto until = Clock::now() + timeout;
    auto last = Clock::now();
    for (;;) {
        while (!arrived_.empty()) {
            all.push_back(std::move(arrived_.front()));
            arrived_.pop_front();
            last = Clock::now();
        }
        const auto now = Clock::now();
        if (closed_ || now >= until || now - last >= quiet) return all;
        pump(5ms);
    }
}

bool RawChannel::wait_closed(std::chrono::milliseconds timeout) {
    const auto until = Clock::now() + timeout;
    while (!closed_ && Clock::now() < until) pump(10ms);
    return closed_;
}

std::optional<fabric::CompletionStatus> RawChannel::rdma_read(fabric::RemoteSegment remote,
                                                              std::chrono::milliseconds timeout) {
    remote.length = std::min<std::uint32_t>(remote.length, static_cast<std::uint32_t>(scratch_.size()));
    const fabric::LocalSegment local = scratch_mr_->segment(0, remote.length);
    const fabric::RdmaOp op{remote, {&local, 1}};
    rdma_status_.reset();
    if (!link_.connection->post_rdma_read(options_.send_slots, {&op, 1})) return fabric::CompletionStatus::local_error;
    const auto until = Clock::now() + timeout;
    while (!rdma_status_ && Clock::now() < until) pump(10ms);
    return rdma_status_;
}

std::optional<fabric::CompletionStatus> RawChannel::rdma_write(fabric::RemoteSegment remote,
                                                               std::span<const std::uint8_t> bytes,
                                                               std::chrono::milliseconds timeout) {
    const std::size_t n = std::min(bytes.size(), scratch_.size() - sizeof(wire::AerRsp));
    std::memcpy(scratch_.data(), bytes.data(), n);
    remote.length = static_cast<std::uint32_t>(n);
    const fabric::LocalSegment local = scratch_mr_->segment(0, remote.length);
    const fabric::RdmaOp op{remote, {&local, 1}};
    // Should the WRITE ever succeed, the SEND behind it is an IU the target ignores.
    const auto aer_rsp = wire::make_iu<wire::AerRsp>(wire::Opcode::aer_rsp);
    std::memcpy(scratch_.data() + n, &aer_rsp, sizeof aer_rsp);
    const fabric::LocalSegment iu = scratch_mr_->segment(n, sizeof aer_rsp);
    rdma_status_.reset();
    if (!link_.connection->post_rdma_write_then_send(options_.send_slots, {&op, 1}, iu))
        return fabric::CompletionStatus::local_error;
    const auto until = Clock::now() + timeout;
    while (!rdma_status_ && Clock::now() < until) pump(10ms);
    return rdma_status_;
}

}  // namespace srp::hostile
