// Session data path: SRP_CMD construction (direct, indirect, external table,
// immediate data), credits, SRP_RSP handling, task management and timeouts.
#include <poll.h>

#include <algorithm>
#include <cstring>
#include <thread>

#include "common/scsi/cdb.h"
#include "common/scsi/sense.h"
#include "common/wire/iu_encode.h"
#include "common/wire/iu_parse.h"
#include "srp_initiator/session_internal.h"

namespace srp::initiator {

namespace {
wire::Tag to_tag(std::uint64_t value) {
    wire::Tag t;
    std::memcpy(t.data(), &value, sizeof value);
    return t;
}
std::uint64_t from_tag(const wire::Tag& t) {
    std::uint64_t value;
    std::memcpy(&value, t.data(), sizeof value);
    return value;
}
constexpr std::uint64_t kSlotMask = 0xffff;
}  // namespace

std::size_t Session::outstanding() const noexcept {
    std::size_t n = 0;
    for (const auto& ch : channels_) n += ch->slots.size() - ch->free_slots.size();
    return n;
}

bool Session::can_submit() const noexcept {
    // One credit stays in reserve for task management (an abort must always be possible).
    return std::any_of(channels_.begin(), channels_.end(),
                       [](const auto& ch) { return !ch->dead && ch->credits > 1 && !ch->free_slots.empty(); });
}

std::expected<std::uint64_t, SubmitError> Session::submit(std::uint16_t lun, std::span<const std::uint8_t> cdb,
                                                          Direction direction, std::span<std::uint8_t> buffer,
                                                          Completion done) {
    if (!connected()) return std::unexpected(SubmitError::disconnected);
    Channel* ch = nullptr;
    for (std::size_t i = 0; i < channels_.size() && ch == nullptr; ++i) {
        auto& candidate = *channels_[(next_channel_ + i) % channels_.size()];
        if (candidate.credits > 1 && !candidate.free_slots.empty()) ch = &candidate;
    }
    if (ch == nullptr) return std::unexpected(SubmitError::no_credits);
    next_channel_ = (next_channel_ + 1) % channels_.size();
    if (cdb.size() > 16) return std::unexpected(SubmitError::too_large);
    std::optional<std::uint32_t> rkey;
    if (direction != Direction::none && !buffer.empty()) {
        rkey = registration_key(*ch, buffer);
        if (!rkey) return std::unexpected(SubmitError::buffer_not_from_pool);
    }

    const std::uint32_t index = ch->free_slots.back();
    Slot& slot = ch->slots[index];
    const std::uint64_t tag = (next_tag_++ << 16) | index;
    auto header = wire::make_iu<wire::CmdHeader>(wire::Opcode::cmd);
    header.tag = to_tag(tag);
    header.lun = scsi::encode_lun(lun);
    std::copy(cdb.begin(), cdb.end(), header.cdb.begin());
    auto out = std::span<std::uint8_t>(ch->send_memory).subspan(std::size_t{index} * ch->info.max_it_iu_len,
                                                                 ch->info.max_it_iu_len);
    std::expected<std::size_t, wire::WireError> length;
    const auto address = reinterpret_cast<std::uintptr_t>(buffer.data());
    const bool immediate = direction == Direction::to_target && ch->imm_data_offset != 0 &&
                           options_.descriptors == DescriptorMode::automatic &&
                           ch->imm_data_offset + buffer.size() <= ch->info.max_it_iu_len;
    if (direction == Direction::none || buffer.empty()) {
        length = wire::encode_cmd(out, header, {}, {});
    } else if (immediate) {
        length = wire::encode_cmd_immediate(out, header, ch->imm_data_offset, buffer);
    } else if (options_.descriptors == DescriptorMode::indirect || options_.descriptors == DescriptorMode::external) {
        // Split the buffer into pieces; "external" keeps only the first
        // descriptor in the IU and lets the target fetch the table.
        std::vector<wire::DirectDescriptor> pieces;
        for (std::size_t at = 0; at < buffer.size(); at += options_.indirect_piece_bytes) {
            wire::DirectDescriptor d{};
            d.va = address + at;
            d.key = *rkey;
            d.len = static_cast<std::uint32_t>(std::min<std::size_t>(options_.indirect_piece_bytes, buffer.size() - at));
            pieces.push_back(d);
        }
        const bool external = options_.descriptors == DescriptorMode::external;
        const std::size_t table_at = sizeof(wire::CmdHeader) + sizeof(wire::IndirectHeader);
        if (table_at + pieces.size() * sizeof(wire::DirectDescriptor) > out.size())
            return std::unexpected(SubmitError::too_large);
        // The whole table sits in the (registered) send buffer right after the
        // indirect header; table_desc points at it.
        wire::IndirectHeader ih{};
        ih.table_desc.va = reinterpret_cast<std::uintptr_t>(out.data() + table_at);
        ih.table_desc.key = ch->send_mr->rkey();
        ih.table_desc.len = static_cast<std::uint32_t>(pieces.size() * sizeof(wire::DirectDescriptor));
        ih.len = static_cast<std::uint32_t>(buffer.size());
        const std::size_t in_iu = external ? 1 : pieces.size();
        if (direction == Direction::to_target) {
            header.buf_fmt = static_cast<std::uint8_t>(wire::DataFormat::indirect) << 4;
            header.data_out_desc_cnt = static_cast<std::uint8_t>(in_iu);
        } else {
            header.buf_fmt = static_cast<std::uint8_t>(wire::DataFormat::indirect);
            header.data_in_desc_cnt = static_cast<std::uint8_t>(in_iu);
        }
        std::vector<std::uint8_t> descriptors(sizeof ih + pieces.size() * sizeof(wire::DirectDescriptor));
        (void)wire::encode_indirect(descriptors, ih, pieces);
        length = wire::encode_cmd(out, header, {}, descriptors);
        if (length && external) *length = table_at + sizeof(wire::DirectDescriptor);  // the rest stays in memory only
    } else {
        wire::DirectDescriptor d{};
        d.va = address;
        d.key = *rkey;
        d.len = static_cast<std::uint32_t>(buffer.size());
        header.buf_fmt = direction == Direction::to_target ? 0x10 : 0x01;
        length = wire::encode_cmd(out, header, {}, wire::iu_bytes(d));
    }
    if (!length) return std::unexpected(SubmitError::too_large);
    const auto segment = ch->send_mr->segment(std::size_t{index} * ch->info.max_it_iu_len, static_cast<std::uint32_t>(*length));
    if (!ch->link.connection->post_send(index, segment)) return std::unexpected(SubmitError::disconnected);
    ch->free_slots.pop_back();
    --ch->credits;
    slot.busy = true;
    slot.is_tmf = false;
    slot.abort_sent = false;
    slot.tag = tag;
    slot.lun = lun;
    slot.done = std::move(done);
    slot.start = std::chrono::steady_clock::now();
    slot.deadline = slot.start + options_.command_timeout;
    slot.tmf_code = nullptr;
    return tag;
}

void Session::begin_batch() {
    for (auto& ch : channels_)
        if (!ch->dead) ch->link.connection->begin_batch();
}

void Session::end_batch() {
    for (auto& ch : channels_)
        if (!ch->dead) ch->link.connection->end_batch();
}

std::size_t Session::poll() {
    std::size_t completed = 0;
    for (auto& ch : channels_) {
        if (ch->dead) continue;
        fabric::Completion c[32];
        const std::size_t n = ch->link.connection->poll(c);
        const std::size_t before = ch->free_slots.size();
        for (std::size_t i = 0; i < n; ++i) handle_completion(*ch, c[i]);
        if (!ch->dead && ch->link.peer_disconnected && ch->link.peer_disconnected())
            fail_channel(*ch, "the target disconnected");
        completed += ch->free_slots.size() > before ? ch->free_slots.size() - before : 0;
    }
    check_timeouts();
    return completed;
}

std::size_t Session::wait(std::chrono::milliseconds timeout) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    int spins = 0;
    for (;;) {
        if (std::size_t n = poll(); n > 0) return n;
        if (std::chrono::steady_clock::now() >= until || outstanding() == 0) return 0;
        // Spin a little on multi-core hosts; on one CPU it only delays the peer.
        static const int kSpins = std::thread::hardware_concurrency() > 1 ? 64 : 0;
        if (++spins < kSpins) continue;
        // Idle: sleep on the completion channels instead of burning the CPU rxe needs.
        std::vector<pollfd> fds;
        std::vector<fabric::Notifier*> notifiers;
        for (auto& ch : channels_) {
            if (ch->dead || ch->link.notifier == nullptr) continue;
            ch->link.connection->request_notification();
            fds.push_back(pollfd{ch->link.notifier->fd(), POLLIN, 0});
            notifiers.push_back(ch->link.notifier);
        }
        if (std::size_t n = poll(); n > 0) return n;
        if (fds.empty()) {
            std::this_thread::sleep_for(std::chrono::microseconds(50));
            continue;
        }
        if (::poll(fds.data(), fds.size(), 10) <= 0) continue;
        for (std::size_t i = 0; i < fds.size(); ++i)
            if (fds[i].revents & POLLIN) notifiers[i]->consume();
    }
}

void Session::handle_completion(Channel& ch, const fabric::Completion& c) {
    if (c.wr_id & kReceiveTag) {
        if (c.status != fabric::CompletionStatus::success) {
            if (!ch.logging_out) fail_channel(ch, "receive failed: " + std::string(fabric::to_string(c.status)));
            return;
        }
        const auto index = static_cast<std::uint32_t>(c.wr_id & ~kReceiveTag);
        const auto iu = std::span<const std::uint8_t>(ch.receive_memory)
                            .subspan(std::size_t{index} * ch.info.max_ti_iu_len, std::min(c.byte_len, ch.info.max_ti_iu_len));
        handle_response(ch, iu);
        if (!ch.dead) {
            auto segment = ch.receive_mr->segment(std::size_t{index} * ch.info.max_ti_iu_len, ch.info.max_ti_iu_len);
            if (!ch.link.connection->post_receive(c.wr_id, segment)) fail_channel(ch, "cannot repost a receive");
        }
        return;
    }
    if (c.status != fabric::CompletionStatus::success && !ch.logging_out)
        fail_channel(ch, "send failed: " + std::string(fabric::to_string(c.status)));
}

void Session::handle_response(Channel& ch, std::span<const std::uint8_t> iu) {
    auto opcode = wire::peek_opcode(iu);
    if (!opcode) return;
    auto reply = [&](wire::Opcode op, const wire::Tag& tag) {
        auto r = wire::make_iu<wire::CredRsp>(op);
        r.tag = tag;
        std::memcpy(ch.control_memory.data(), &r, sizeof r);
        (void)ch.link.connection->post_send(kControlTag, ch.control_mr->segment(0, sizeof r));
    };
    switch (*opcode) {
        case wire::Opcode::rsp: break;
        case wire::Opcode::cred_req:
            if (auto req = wire::parse_cred_req(iu)) {
                ch.credits += req->req_lim_delta.value();
                reply(wire::Opcode::cred_rsp, req->tag);
            }
            return;
        case wire::Opcode::aer_req:
            if (auto req = wire::parse_aer_req(iu)) {
                ch.credits += req->header.req_lim_delta.value();
                reply(wire::Opcode::aer_rsp, req->header.tag);
            }
            return;
        case wire::Opcode::t_logout: {
            auto t = wire::parse_t_logout(iu);
            return fail_channel(ch, "target logged out (reason 0x" +
                                        (t ? std::to_string(t->reason.value()) : std::string("?")) + ")");
        }
        default: return;
    }
    auto rsp = wire::parse_rsp(iu);
    if (!rsp) return fail_channel(ch, "malformed SRP_RSP: " + std::string(wire::to_string(rsp.error())));
    ch.credits += rsp->header.req_lim_delta.value();  // always, even for a tag we no longer track
    const std::uint64_t tag = from_tag(rsp->header.tag);
    const auto index = static_cast<std::size_t>(tag & kSlotMask);
    if (index >= ch.slots.size() || !ch.slots[index].busy || ch.slots[index].tag != tag) return;
    Slot& slot = ch.slots[index];
    CommandResult result;
    if (slot.is_tmf) {
        const std::uint8_t code = rsp->response_data.size() >= 4 ? rsp->response_data[3] : 0xff;
        if (slot.tmf_code) *slot.tmf_code = code;
        // An abort sent for a timed-out command ends that command now.
        if (slot.victim_tag != 0) {
            const auto victim_index = static_cast<std::size_t>(slot.victim_tag & kSlotMask);
            Slot& victim = ch.slots[victim_index];
            if (victim.busy && victim.tag == slot.victim_tag) {
                CommandResult timed_out;
                timed_out.timed_out = true;
                finish(ch, victim, timed_out);
            }
        }
        return finish(ch, slot, result);
    }
    result.status = static_cast<scsi::Status>(rsp->header.status);
    result.sense.assign(rsp->sense_data.begin(), rsp->sense_data.end());
    result.flags = rsp->header.flags;
    if (result.flags & (wire::kRspFlagDiUnder | wire::kRspFlagDiOver))
        result.data_in_residual = rsp->header.data_in_res_cnt.value();
    if (result.flags & (wire::kRspFlagDoUnder | wire::kRspFlagDoOver))
        result.data_out_residual = rsp->header.data_out_res_cnt.value();
    finish(ch, slot, result);
}

void Session::finish(Channel& ch, Slot& slot, CommandResult result) {
    result.latency = std::chrono::steady_clock::now() - slot.start;
    auto done = std::move(slot.done);
    slot.busy = false;
    slot.done = nullptr;
    slot.tmf_code = nullptr;
    slot.victim_tag = 0;
    ch.free_slots.push_back(static_cast<std::uint32_t>(&slot - ch.slots.data()));
    if (done) done(result);
}

Session::Slot* Session::post_tmf(Channel& ch, std::uint16_t lun, wire::TaskManagementFunction function,
                                 std::uint64_t task_tag) {
    // Task management may use the last credit: submit() never takes it.
    if (ch.dead || ch.credits < 1 || ch.free_slots.empty()) return nullptr;
    const std::uint32_t index = ch.free_slots.back();
    const std::uint64_t tag = (next_tag_++ << 16) | index;
    auto iu = wire::make_iu<wire::TskMgmt>(wire::Opcode::tsk_mgmt);
    iu.tag = to_tag(tag);
    iu.lun = scsi::encode_lun(lun);
    iu.tsk_mgmt_func = static_cast<std::uint8_t>(function);
    iu.task_tag = to_tag(task_tag);
    const std::size_t at = std::size_t{index} * ch.info.max_it_iu_len;
    std::memcpy(ch.send_memory.data() + at, &iu, sizeof iu);
    if (!ch.link.connection->post_send(index, ch.send_mr->segment(at, sizeof iu))) return nullptr;
    ch.free_slots.pop_back();
    --ch.credits;
    Slot& slot = ch.slots[index];
    slot = Slot{};
    slot.busy = true;
    slot.is_tmf = true;
    slot.tag = tag;
    slot.lun = lun;
    slot.start = std::chrono::steady_clock::now();
    slot.deadline = slot.start + options_.command_timeout;
    return &slot;
}

void Session::check_timeouts() {
    const auto now = std::chrono::steady_clock::now();
    for (auto& ch : channels_) {
        if (ch->dead) continue;
        for (auto& slot : ch->slots) {
            if (!slot.busy || slot.is_tmf || slot.abort_sent || now < slot.deadline) continue;
            slot.abort_sent = true;
            // SAM-5 7.2: abort the command; it completes when the TMF response arrives.
            if (Slot* tmf = post_tmf(*ch, slot.lun, wire::TaskManagementFunction::abort_task, slot.tag))
                tmf->victim_tag = slot.tag;
        }
    }
}

CommandResult Session::execute(std::uint16_t lun, std::span<const std::uint8_t> cdb, Direction direction,
                               std::span<std::uint8_t> buffer) {
    // A unit attention (power on, reset, mode change) reports an event, not a
    // failure of this command: retry a few times, as the SCSI midlayer does.
    CommandResult result = execute_once(lun, cdb, direction, buffer);
    for (int retry = 0; retry < 3 && result.status == scsi::Status::check_condition; ++retry) {
        auto sense = scsi::decode_sense(result.sense);
        if (!sense || sense->key != scsi::SenseKey::unit_attention) break;
        result = execute_once(lun, cdb, direction, buffer);
    }
    return result;
}

CommandResult Session::execute_once(std::uint16_t lun, std::span<const std::uint8_t> cdb, Direction direction,
                                    std::span<std::uint8_t> buffer) {
    std::optional<CommandResult> result;
    const auto deadline = std::chrono::steady_clock::now() + options_.command_timeout * 2 + std::chrono::seconds(5);
    for (;;) {
        auto submitted = submit(lun, cdb, direction, buffer, [&](const CommandResult& r) { result = r; });
        if (submitted) break;
        if (submitted.error() != SubmitError::no_credits || std::chrono::steady_clock::now() > deadline) {
            CommandResult failed;
            failed.transport_error = true;
            failed.error = std::string(to_string(submitted.error()));
            return failed;
        }
        wait(std::chrono::milliseconds(10));
    }
    while (!result && std::chrono::steady_clock::now() < deadline) wait(std::chrono::milliseconds(100));
    if (!result) {
        CommandResult failed;
        failed.transport_error = true;
        failed.error = "no response, not even to the abort";
        return failed;
    }
    return *result;
}

std::optional<std::uint8_t> Session::task_management(std::uint16_t lun, wire::TaskManagementFunction function,
                                                     std::uint64_t task_tag, std::size_t channel) {
    if (channel >= channels_.size()) return std::nullopt;
    Channel& ch = *channels_[channel];
    Slot* slot = post_tmf(ch, lun, function, task_tag);
    if (slot == nullptr) return std::nullopt;
    std::optional<std::uint8_t> code;
    slot->tmf_code = &code;
    const auto until = slot->deadline;
    while (slot->busy && !ch.dead && std::chrono::steady_clock::now() < until) wait(std::chrono::milliseconds(100));
    if (slot->busy) return std::nullopt;
    return code;
}

}  // namespace srp::initiator
