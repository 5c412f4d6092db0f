// SRP channel data path: receive -> parse -> engine -> RDMA -> SRP_RSP.
#include "srp_target/srp/channel.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cassert>
#include <cstring>
#include <utility>

#include "common/wire/iu_encode.h"
#include "srp_target/backstore/sigbus_guard.h"

namespace srp::target {

using fabric::Completion;
using fabric::CompletionStatus;
using fabric::PostError;
using wire::Opcode;

namespace {
// Receives and send chains share the completion queue; receive wr_ids carry this tag.
constexpr std::uint64_t kReceiveTag = 1ull << 62;
constexpr std::size_t kPollBatch = 32;

std::unique_ptr<fabric::Registration> register_or_throw(fabric::MemoryDomain& domain, std::span<std::uint8_t> memory,
                                                        const char* what) {
    auto r = domain.register_memory(memory, false);
    if (!r) throw std::system_error(r.error(), std::string("registering the channel's ") + what);
    return std::move(*r);
}
}  // namespace

Channel::Channel(std::unique_ptr<fabric::Connection> connection, fabric::MemoryDomain& domain, ScsiTarget& target,
                 SessionRegistry& registry, const RegisteredBackstores& backstores, MediumQueue& medium_queue,
                 TargetStats& stats, std::shared_ptr<ChannelControl> control, NexusId nexus, ChannelParams params)
    : target_(target),
      registry_(registry),
      backstores_(backstores),
      medium_queue_(medium_queue),
      stats_(stats),
      control_(std::move(control)),
      nexus_(nexus),
      params_(std::move(params)),
      connection_(std::move(connection)) {
    if (params_.bounce_chunks < kMinBounceChunks)
        throw std::invalid_argument("bounce memory of " + std::to_string(params_.bounce_chunks) +
                                    " chunks cannot hold the largest transfer");
    const std::uint32_t contexts = params_.queue_depth * kContextsPerCredit;
    // With SRP-2 immediate data, each receive buffer starts imm_data_offset
    // bytes before a page boundary and buffers are a whole number of pages
    // apart, so every IU's immediate data is page aligned: an io backstore
    // writes it with O_DIRECT from where it landed, without a copy into
    // bounce memory. Without immediate data the ring is packed.
    receive_stride_ = params_.it_iu_len;
    if (params_.imm_data_offset != 0) {
        receive_stride_ = (params_.it_iu_len + kIoAlignmentBytes - 1) / kIoAlignmentBytes * kIoAlignmentBytes;
        receive_lead_ = (kIoAlignmentBytes - params_.imm_data_offset % kIoAlignmentBytes) % kIoAlignmentBytes;
    }
    receive_memory_ = AlignedBuffer(receive_lead_ + std::size_t{params_.queue_depth} * receive_stride_);
    response_memory_.resize(std::size_t{contexts} * params_.ti_iu_len);
    table_memory_.resize(std::size_t{contexts} * kTableBytes);
    bounce_memory_ = AlignedBuffer(std::size_t{params_.bounce_chunks} * kBounceChunkBytes);
    receive_mr_ = register_or_throw(domain, receive_memory_.bytes(), "receive ring");
    response_mr_ = register_or_throw(domain, response_memory_, "response buffers");
    table_mr_ = register_or_throw(domain, table_memory_, "descriptor tables");
    bounce_mr_ = register_or_throw(domain, bounce_memory_.bytes(), "bounce buffers");
    requests_.resize(contexts);
    for (std::uint32_t i = contexts; i-- > 0;) {
        requests_[i].index = i;
        free_requests_.push_back(i);
    }
    bounce_used_.assign(params_.bounce_chunks, false);
    bounce_free_chunks_ = params_.bounce_chunks;
}

Channel::~Channel() {
    // Orders that arrive from now on are acknowledged by the control itself.
    control_->close_inbox();
    // Destroyed drained (no medium step in flight), on the poller thread.
    if (fixed_buffer_) medium_queue_.unregister_buffer(*fixed_buffer_);
    if (fixed_receive_) medium_queue_.unregister_buffer(*fixed_receive_);
    for (Request& r : requests_) {  // only when a poller stops with work posted
        for (auto& waiter : r.abort_waiters) waiter->done();
        r.abort_waiters.clear();
    }
}

void Channel::start() {
    for (std::uint32_t i = 0; i < params_.queue_depth; ++i) {
        auto segment = receive_mr_->segment(receive_offset(i), params_.it_iu_len);
        if (auto posted = connection_->post_receive(kReceiveTag | i, segment); !posted)
            throw std::system_error(std::make_error_code(std::errc::no_buffer_space),
                                    "posting receive " + std::to_string(i) + ": " +
                                        std::string(fabric::to_string(posted.error())));
        ++outstanding_receives_;
    }
}

void Channel::advance(Request& r, RequestState next) {
    if (!allowed_transition(r.state, next)) {
        // A logic error of ours, never peer input: loud in the log and in debug builds.
        spdlog::error("[{}] request {}: illegal transition {} -> {}", params_.name, r.index, to_string(r.state),
                      to_string(next));
        assert(false && "illegal request state transition");
    }
    spdlog::trace("[{}] request {}: {} -> {}", params_.name, r.index, to_string(r.state), to_string(next));
    if (r.state == RequestState::responding) --responding_;
    if (next == RequestState::responding) ++responding_;
    r.state = next;
}

void Channel::arm() {
    connection_->request_notification(send_completions_awaited() ? fabric::WakeOn::everything
                                                                 : fabric::WakeOn::receives);
}

bool Channel::send_completions_awaited() const noexcept {
    // A response's send completion only returns its context and bounce
    // memory. Waking for it costs the poller a sleep/wake cycle per command
    // (a CQ event read, a re-arm, a poll), so it is collected at the next
    // wake instead, unless something is waiting for exactly that: a
    // command for a context or memory, a TMF for its victim's RDMA, a
    // logout or close for the last completion. Every other chain (RDMA
    // READ of data or of a descriptor table, an aborted victim's) moves a
    // command forward and always wakes.
    return closing_ || logging_out_ || !deferred_.empty() || !receives_waiting_for_context_.empty() ||
           !parked_tmfs_.empty() || waited_responses_ > 0 || outstanding_chains_ != responding_;
}

void Channel::repost_receive(std::uint32_t buffer) {
    auto segment = receive_mr_->segment(receive_offset(buffer), params_.it_iu_len);
    if (connection_->post_receive(kReceiveTag | buffer, segment)) {
        ++outstanding_receives_;
    } else {
        begin_close("cannot post a receive");
    }
}

fabric::LocalSegment Channel::response_buffer(const Request& r) const {
    return response_mr_->segment(std::size_t{r.index} * params_.ti_iu_len, params_.ti_iu_len);
}

std::span<std::uint8_t> Channel::table_buffer(const Request& r) const {
    return table_mr_->bytes().subspan(std::size_t{r.index} * kTableBytes, kTableBytes);
}

std::size_t Channel::poll() {
    if (control_->disconnect_requested() && !closing_) begin_close(control_->disconnect_reason());
    if (control_->logout_requested() && !logging_out_ && !closing_) {
        logging_out_ = true;
        spdlog::info("[{}] logging out (SRP_T_LOGOUT reason 0x{:08x}): {} request(s) in flight", params_.name,
                     control_->logout_reason(), requests_.size() - free_requests_.size());
    }
    poll_task_management();
    Completion completions[kPollBatch];
    const std::size_t n = connection_->poll(completions);
    {  // everything this pass posts leaves with one doorbell at the end of this block
        fabric::SendBatch batch(*connection_);
        for (std::size_t i = 0; i < n; ++i) {
            const Completion& c = completions[i];
            if (c.wr_id & kReceiveTag) {
                on_receive(static_cast<std::uint32_t>(c.wr_id & ~kReceiveTag), c);
            } else if (c.wr_id < requests_.size()) {
                on_chain_done(requests_[c.wr_id], c);
            }
        }
        if (!closing_) {
            retry_blocked();
            run_deferred();
        }
        poll_task_management();  // TMFs whose last victim drained in this pass
        if (logging_out_ && !closing_) continue_logout();
    }
    // A command waiting for a range lock keeps the poller awake: the lock is
    // retried every pass, never slept on.
    return n + (blocked_.empty() || closing_ ? 0 : 1);
}

void Channel::continue_logout() {
    if (logout_request_ || !receives_waiting_for_context_.empty() || free_requests_.empty()) return;
    // Only responses may still be posted: the send queue delivers them
    // before the SRP_T_LOGOUT posted behind them.
    for (const Request& r : requests_)
        if (r.state != RequestState::free && r.state != RequestState::responding) return;
    Request& r = *allocate_request();
    auto logout = wire::make_iu<wire::TLogout>(Opcode::t_logout);
    logout.reason = control_->logout_reason();
    const auto rsp = response_buffer(r);
    std::memcpy(rsp.address, wire::iu_bytes(logout).data(), sizeof logout);
    if (auto posted = connection_->post_send(r.index, fabric::LocalSegment{rsp.address, sizeof logout, rsp.lkey});
        !posted) {
        release(r);
        if (posted.error() == PostError::queue_full) return;  // the next pass tries again
        return begin_close("cannot post SRP_T_LOGOUT");
    }
    ++outstanding_chains_;
    logout_request_ = r.index;
    advance(r, RequestState::responding);
}

void Channel::begin_close(const char* reason) {
    if (closing_) return;
    closing_ = true;
    spdlog::info("[{}] closing: {}", params_.name, reason);
    connection_->disconnect();
}

Channel::Request* Channel::allocate_request() {
    if (free_requests_.empty()) return nullptr;
    Request& r = requests_[free_requests_.back()];
    free_requests_.pop_back();
    r.is_tmf = false;
    r.lun.reset();
    r.data_out_described = r.data_in_described = 0;
    r.names_data_out = false;
    r.data_out_moved = 0;
    r.table_count = 0;
    r.tmf_tracker.reset();
    r.remote.clear();
    r.local.clear();
    r.task = ScsiTask{};
    return &r;
}

void Channel::release(Request& r) {
    return_held_receive(r);
    if (r.state == RequestState::responding && !r.abort_waiters.empty()) --waited_responses_;
    // Task management waiting for this request's RDMA: it has drained.
    for (auto& waiter : r.abort_waiters) waiter->done();
    r.abort_waiters.clear();
    free_bounce(r);
    r.plan.clear();
    r.task = ScsiTask{};  // drops the engine's buffers and any LBA range lock it held
    advance(r, RequestState::free);
    free_requests_.push_back(r.index);
    if (!receives_waiting_for_context_.empty() && !closing_) {
        const auto [buffer, bytes] = receives_waiting_for_context_.front();
        receives_waiting_for_context_.pop_front();
        ++outstanding_receives_;  // on_receive accounts for it again
        on_receive(buffer, Completion{kReceiveTag | buffer, fabric::WorkKind::receive, CompletionStatus::success, bytes});
    }
}

void Channel::on_receive(std::uint32_t buffer, const Completion& c) {
    --outstanding_receives_;
    if (c.status != CompletionStatus::success) {
        if (c.status != CompletionStatus::flushed) ++stats_.transport_errors;
        begin_close(c.status == CompletionStatus::flushed ? "connection closed" : "receive failed");
        return;
    }
    if (closing_) return;
    const auto iu = std::span<const std::uint8_t>(receive_memory_.bytes())
                        .subspan(receive_offset(buffer), std::min(c.byte_len, params_.it_iu_len));
    const auto opcode = wire::peek_opcode(iu);
    if (!opcode) {
        ++stats_.protocol_errors;
        ++pending_credits_;
        spdlog::warn("[{}] empty IU received", params_.name);
        return repost_receive(buffer);
    }
    switch (*opcode) {
        case Opcode::cmd:
        case Opcode::tsk_mgmt: {
            Request* r = allocate_request();
            if (r == nullptr) {  // every context busy: keep the IU until one frees up
                receives_waiting_for_context_.emplace_back(buffer, c.byte_len);
                return;
            }
            // The IU is consumed below, and the buffer reposted, before any
            // response can return the credit that lets the initiator send
            // into it again. A WRITE whose immediate data an io backstore
            // writes in place keeps the buffer until its response
            // (return_held_receive); nested calls (release()) keep their own.
            bool kept = false;
            {
                // Restored on every way out, an exception included.
                struct InHand {
                    std::optional<ReceiveInHand>& slot;
                    std::optional<ReceiveInHand> outer;
                    bool& kept;
                    ~InHand() {
                        kept = slot && slot->kept;
                        slot = outer;
                    }
                } in_hand{receive_in_hand_, std::exchange(receive_in_hand_, ReceiveInHand{buffer, false}), kept};
                if (*opcode == Opcode::cmd) handle_cmd(*r, iu);
                else handle_tmf(*r, iu);
            }
            if (kept) return;
            return repost_receive(buffer);
        }
        case Opcode::i_logout:
            spdlog::info("[{}] SRP_I_LOGOUT received", params_.name);
            return begin_close("initiator logout");
        case Opcode::cred_rsp:
        case Opcode::aer_rsp: return repost_receive(buffer);
        default:
            ++stats_.protocol_errors;
            ++pending_credits_;  // the IU used a credit we must give back
            spdlog::warn("[{}] unexpected IU {} (0x{:02x}) ignored", params_.name, wire::opcode_name(iu[0]), iu[0]);
            return repost_receive(buffer);
    }
}

void Channel::on_chain_done(Request& r, const Completion& c) {
    --outstanding_chains_;
    if (r.state == RequestState::aborting) return finish_abort(r);
    if (c.status != CompletionStatus::success) {
        if (c.status != CompletionStatus::flushed) {
            ++stats_.transport_errors;
            spdlog::warn("[{}] request {} in state {} failed: {}", params_.name, r.index, to_string(r.state),
                         fabric::to_string(c.status));
        }
        begin_close("RDMA operation failed");
        return release(r);
    }
    switch (r.state) {
        case RequestState::fetching_table: return after_table(r);
        case RequestState::reading_data: {
            auto buffer = r.task.data_out_buffer();
            if (r.bounce_count != 0 && !in_bounce(buffer)) {  // copy the bounce chunks into the engine's buffer
                // The buffer may be an unregistered memory mapping (tmpfs
                // full, file truncated): a fault fails this command only.
                if (!guarded_copy(buffer.data(), bounce_bytes(r).data(), buffer.size())) {
                    free_bounce(r);
                    r.task.complete_check(scsi::SenseBuilder{scsi::SenseKey::medium_error, scsi::Asc::write_error, {}, {}});
                    return drive(r);
                }
                free_bounce(r);
            } else if (r.bounce_count == 0) {
                backstores_.mark_written(buffer);  // the HCA wrote behind the page tables
            }
            r.data_out_moved = buffer.size();
            stats_.bytes_written += buffer.size();
            target_.complete_data_out(r.lun, r.task);
            return drive(r);
        }
        case RequestState::responding:
            release(r);
            if (logout_request_ == r.index) begin_close("target logout sent");
            return;
        default: return;
    }
}

}  // namespace srp::target
