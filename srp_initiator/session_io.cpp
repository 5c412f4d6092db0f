// Session data path: SRP_CMD construction (direct, indirect, external table,
// immediate data), credits, completions and SRP_RSP handling. Task management
// and the recovery of timed-out commands are in session_tmf.cpp.
#include <poll.h>

#include <algorithm>
#include <cstring>
#include <thread>

#include "common/scsi/cdb.h"
#include "common/scsi/sense.h"
#include "common/sys/cpu_share.h"
#include "common/wire/iu_encode.h"
#include "common/wire/iu_parse.h"
#include "srp_initiator/session_internal.h"

namespace srp::initiator {

namespace {
// Busy polls between checks for a CM event; wait() also checks before it sleeps.
constexpr std::uint32_t kIdlePollsPerCmCheck = 64;
}  // namespace

namespace {
std::size_t busy_slots(const auto& ch) {
    return static_cast<std::size_t>(std::count_if(ch.slots.begin(), ch.slots.end(), [](const auto& s) { return s.busy; }));
}
// One credit and one slot stay in reserve for task management (an abort
// must always be possible, also when credits outnumber the slots).
bool has_room(const auto& ch) { return !ch.dead && ch.credits > 1 && ch.free_slots.size() > 1; }
}  // namespace

std::size_t Session::outstanding() const noexcept {
    std::size_t n = 0;
    for (const auto& ch : channels_) n += busy_slots(*ch);
    return n;
}

bool Session::can_submit() const noexcept {
    return std::any_of(channels_.begin(), channels_.end(), [](const auto& ch) { return has_room(*ch); });
}

std::expected<std::uint64_t, SubmitError> Session::submit(std::uint16_t lun, std::span<const std::uint8_t> cdb,
                                                          Direction direction, std::span<std::uint8_t> buffer,
                                                          Completion done) {
    if (!connected()) return std::unexpected(SubmitError::disconnected);
    Channel* ch = nullptr;
    for (std::size_t i = 0; i < channels_.size() && ch == nullptr; ++i) {
        auto& candidate = *channels_[(next_channel_ + i) % channels_.size()];
        if (has_room(candidate)) ch = &candidate;
    }
    if (ch == nullptr) return std::unexpected(SubmitError::no_credits);
    next_channel_ = (next_channel_ + 1) % channels_.size();
    return submit_on(*ch, lun, cdb, direction, buffer, std::move(done));
}

std::expected<std::uint64_t, SubmitError> Session::submit_on(Channel& channel, std::uint16_t lun,
                                                             std::span<const std::uint8_t> cdb, Direction direction,
                                                             std::span<std::uint8_t> buffer, Completion done) {
    if (channel.dead) return std::unexpected(SubmitError::disconnected);
    if (!has_room(channel)) return std::unexpected(SubmitError::no_credits);
    Channel* ch = &channel;
    if (cdb.size() > 16) return std::unexpected(SubmitError::too_large);
    std::optional<std::uint32_t> rkey;
    if (direction != Direction::none && !buffer.empty()) {
        rkey = registration_key(*ch, buffer);
        if (!rkey) return std::unexpected(SubmitError::buffer_not_from_pool);
    }

    const std::uint32_t index = ch->free_slots.back();
    Slot& slot = ch->slots[index];
    const std::uint64_t tag = make_tag(ch->next_sequence++, ch->index, index);
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
    // A command whose descriptors name its buffer gets the slot's window,
    // bound over the buffer alone with the one access its direction needs.
    fabric::Window* window = nullptr;
    if (rkey && !immediate && !ch->windows.empty()) {
        window = ch->windows[index].get();
        rkey = window->next_rkey();
    }
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
    // The bind goes first in the same chain: the send queue executes it
    // before the SRP_CMD that hands its key to the target.
    const auto posted =
        window != nullptr
            ? ch->link.connection->post_bind_then_send(
                  index,
                  fabric::WindowBind{window, ch->pool_mr.get(), buffer,
                                     direction == Direction::from_target ? fabric::WindowAccess::remote_write
                                                                         : fabric::WindowAccess::remote_read},
                  segment)
            : ch->link.connection->post_send(index, segment);
    if (!posted) return std::unexpected(SubmitError::disconnected);
    ch->free_slots.pop_back();
    --ch->credits;
    slot.reset();
    slot.busy = true;
    slot.send_pending = true;
    slot.tag = tag;
    slot.lun = lun;
    slot.set_buffer(buffer);
    slot.window_bound = window != nullptr;
    slot.done = std::move(done);
    slot.start = std::chrono::steady_clock::now();
    slot.deadline = slot.start + options_.command_timeout;
    return tag;
}

// Batches nest (poll() opens one of its own, a caller may have one open):
// only the outermost begin and end reach the connection.
void Session::begin_batch(Channel& ch) {
    if (ch.batch_depth++ == 0 && !ch.dead) ch.link.connection->begin_batch();
}

void Session::end_batch(Channel& ch) {
    if (ch.batch_depth == 0 || --ch.batch_depth != 0) return;
    if (!ch.dead) ch.link.connection->end_batch();
}

void Session::begin_batch() {
    for (auto& ch : channels_) begin_batch(*ch);
}

void Session::end_batch() {
    for (auto& ch : channels_) end_batch(*ch);
}

std::size_t Session::poll_pass(Channel& ch) {
    if (ch.dead) return 0;
    const std::size_t before = ch.finished;
    // Whatever the completions trigger (callbacks resubmitting, CRED_RSP,
    // task management) leaves in one post: one doorbell per pass. Ended on
    // every way out, a throwing user callback included: a batch left open
    // would hold this channel's posts until its commands time out.
    struct PassBatch {
        Session& session;
        Channel& channel;
        ~PassBatch() { session.end_batch(channel); }
    };
    begin_batch(ch);
    const PassBatch batch{*this, ch};
    fabric::Completion c[32];
    const std::size_t n = ch.link.connection->poll(c);
    for (std::size_t i = 0; i < n; ++i) handle_completion(ch, c[i]);
    // Checking for a CM DISCONNECTED event is a system call: do it only when
    // the channel is idle, never on a pass that made progress.
    if (n == 0 && ++ch.idle_polls >= kIdlePollsPerCmCheck) {
        ch.idle_polls = 0;
        if (!ch.dead && ch.link.peer_disconnected && ch.link.peer_disconnected())
            fail_channel(ch, "the target disconnected");
    }
    check_timeouts(ch);
    return ch.finished - before;
}

std::size_t Session::poll() {
    std::size_t completed = 0;
    bool reconnect_all = false;
    for (std::size_t i = 0; i < channels_.size(); ++i) {
        Channel& ch = *channels_[i];
        completed += poll_pass(ch);
        if (!ch.reconnect_wanted) continue;
        // Last step of recovery (the SCSI error handler's host reset): a new
        // login; every command still outstanding ends as timed out / failed.
        ch.reconnect_wanted = false;
        if (independent_channels_) reopen_channel(i);
        else reconnect_all = true;
    }
    if (reconnect_all) (void)reconnect();
    drain_quarantine();
    return completed;
}

std::size_t Session::poll_one(std::size_t index) {
    Channel& ch = *channels_[index];
    std::size_t completed = poll_pass(ch);
    if (ch.reconnect_wanted) {
        ch.reconnect_wanted = false;
        reopen_channel(index);  // ch is gone from here on
    }
    if (quarantined_.load(std::memory_order_acquire) != 0) drain_quarantine();
    return completed;
}

std::size_t Session::wait(std::chrono::milliseconds timeout) {
    std::vector<Channel*> all;
    for (auto& ch : channels_) all.push_back(ch.get());
    return wait_on(all, timeout, true);
}

std::size_t Session::wait_on(std::span<Channel* const> channels, std::chrono::milliseconds timeout, bool whole_session) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    const std::size_t index = channels.empty() ? 0 : channels[0]->index;
    auto poll_now = [&] { return whole_session ? poll() : poll_one(index); };
    auto idle = [&] {
        if (whole_session) return outstanding() == 0;
        return index >= channels_.size() || busy_slots(*channels_[index]) == 0;
    };
    int spins = 0;
    for (;;) {
        if (std::size_t n = poll_now(); n > 0) return n;
        if (std::chrono::steady_clock::now() >= until || idle()) return 0;
        // Spin a little on multi-core hosts; on one CPU it only delays the peer.
        static const int kSpins = sys::usable_cpus() > 1 ? 64 : 0;
        if (++spins < kSpins) continue;
        // Idle: sleep on the completion channels instead of burning the CPU rxe needs.
        // (A poll may have replaced channels: take them afresh.)
        std::vector<Channel*> current;
        if (whole_session)
            for (auto& ch : channels_) current.push_back(ch.get());
        else
            current.push_back(channels_[index].get());
        std::vector<pollfd> fds;
        std::vector<fabric::Notifier*> notifiers;
        for (Channel* ch : current) {
            if (!ch->dead && ch->link.peer_disconnected && ch->link.peer_disconnected())
                fail_channel(*ch, "the target disconnected");
            if (ch->dead || ch->link.notifier == nullptr) continue;
            ch->link.connection->request_notification(fabric::WakeOn::everything);
            fds.push_back(pollfd{ch->link.notifier->fd(), POLLIN, 0});
            notifiers.push_back(ch->link.notifier);
        }
        if (std::size_t n = poll_now(); n > 0) return n;
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
    if (c.wr_id < ch.slots.size()) {
        Slot& slot = ch.slots[c.wr_id];
        slot.send_pending = false;
        if (!slot.busy && !ch.dead) release_slot(ch, slot);
    } else if (c.wr_id >= kInvalidateTag && c.wr_id < kInvalidateTag + ch.slots.size()) {
        // The window is revoked (or the channel failed, which revokes it
        // too): now the command's callback may run and its buffer be reused.
        // A failed invalidate may have left the window valid: the channel
        // goes to error first (fail_channel then completes the command).
        if (c.status != fabric::CompletionStatus::success)
            return fail_channel(ch, "memory window invalidate failed: " + std::string(fabric::to_string(c.status)));
        Slot& slot = ch.slots[c.wr_id - kInvalidateTag];
        slot.window_bound = false;
        if (slot.ending) {
            CommandResult r = std::move(*slot.ending);
            slot.ending.reset();
            complete(ch, slot, std::move(r));
        }
    } else if (c.wr_id > kLogoutWrId && c.wr_id <= kLogoutWrId + kControlResponses) {
        ch.control_busy &= ~(1u << (c.wr_id - kLogoutWrId - 1));  // its buffer may be rewritten now
    }
    if (c.status != fabric::CompletionStatus::success && !ch.logging_out)
        fail_channel(ch, "send failed: " + std::string(fabric::to_string(c.status)));
}

void Session::handle_response(Channel& ch, std::span<const std::uint8_t> iu) {
    auto opcode = wire::peek_opcode(iu);
    if (!opcode) return;
    auto reply = [&](wire::Opcode op, const wire::Tag& tag) {
        // A buffer and a wr_id of its own for every response in flight (kControlResponses).
        std::uint32_t i = 0;
        while (i < kControlResponses && (ch.control_busy & (1u << i)) != 0) ++i;
        if (i == kControlResponses) return;  // all in flight: unanswered, as ib_srp does
        auto r = wire::make_iu<wire::CredRsp>(op);
        r.tag = tag;
        const std::size_t offset = std::size_t{kControlBytes} * (1 + i);
        std::memcpy(ch.control_memory.data() + offset, &r, sizeof r);
        if (ch.link.connection->post_send(kLogoutWrId + 1 + i, ch.control_mr->segment(offset, sizeof r)))
            ch.control_busy |= 1u << i;
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
    if (slot.is_tmf) {
        const std::uint8_t code = rsp->response_data.size() >= 4 ? rsp->response_data[3] : 0xff;
        return handle_tmf_response(ch, slot, code);
    }
    CommandResult result;
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
    if (slot.ending) return;  // already ended; waits for its invalidate
    if (slot.window_bound && !ch.dead) {
        const auto index = static_cast<std::size_t>(&slot - ch.slots.data());
        slot.ending = std::move(result);
        if (ch.link.connection->post_invalidate(kInvalidateTag + index, *ch.windows[index])) return;
        // Not even posted: a channel in error executes no RDMA either, and
        // fail_channel completes this slot with its result.
        return fail_channel(ch, "cannot invalidate a memory window");
    }
    complete(ch, slot, std::move(result));
}

void Session::complete(Channel& ch, Slot& slot, CommandResult result) {
    result.latency = std::chrono::steady_clock::now() - slot.start;
    auto done = std::move(slot.done);
    slot.busy = false;
    slot.done = nullptr;
    slot.tmf_code.reset();
    slot.set_buffer({});
    slot.recovery = Recovery::none;
    if (!slot.send_pending && !ch.dead) release_slot(ch, slot);
    ++ch.finished;
    if (done) done(result);
}

void Session::release_slot(Channel& ch, Slot& slot) {
    ch.free_slots.push_back(static_cast<std::uint32_t>(&slot - ch.slots.data()));
}

// ---- ChannelHandle: one channel, one thread -----------------------------------

ChannelHandle Session::channel_handle(std::size_t channel) {
    if (channel >= channels_.size()) throw std::out_of_range("channel_handle: no channel " + std::to_string(channel));
    independent_channels_ = true;
    return ChannelHandle(*this, channel);
}

std::expected<std::uint64_t, SubmitError> ChannelHandle::submit(std::uint16_t lun, std::span<const std::uint8_t> cdb,
                                                                Direction direction, std::span<std::uint8_t> buffer,
                                                                Completion done) {
    return session_->submit_on(*session_->channels_[index_], lun, cdb, direction, buffer, std::move(done));
}
void ChannelHandle::begin_batch() { session_->begin_batch(*session_->channels_[index_]); }
void ChannelHandle::end_batch() { session_->end_batch(*session_->channels_[index_]); }
std::size_t ChannelHandle::poll() { return session_->poll_one(index_); }
std::size_t ChannelHandle::wait(std::chrono::milliseconds timeout) {
    Session::Channel* ch = session_->channels_[index_].get();
    return session_->wait_on(std::span<Session::Channel* const>(&ch, 1), timeout, false);
}
std::size_t ChannelHandle::outstanding() const noexcept { return busy_slots(*session_->channels_[index_]); }
bool ChannelHandle::can_submit() const noexcept { return has_room(*session_->channels_[index_]); }
bool ChannelHandle::connected() const noexcept { return !session_->channels_[index_]->dead; }
bool ChannelHandle::reconnect() {
    session_->reopen_channel(index_);
    return connected();
}

}  // namespace srp::initiator
