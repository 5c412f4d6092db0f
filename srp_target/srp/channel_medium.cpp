// The channel's side of the engine's plan/complete split: it answers each
// phase of a command's ScsiTask (scsi_task.h) with the transport's means:
// registered bounce memory for an io backstore's data, RDMA READ for
// DATA-OUT, the poller's MediumQueue (io_uring) for medium steps, a retry
// every pass for a busy LBA range lock, and finally the response.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "srp_target/backstore/sigbus_guard.h"
#include "srp_target/srp/channel.h"

namespace srp::target {

using Phase = ScsiTask::Phase;

void Channel::drive(Request& r) {
    for (;;) {
        switch (r.task.phase()) {
            case Phase::complete:
                // Data to return, but the IU named only a DATA-OUT buffer
                // (bidirectional IUs were refused on arrival): the initiator
                // and the command disagree on the direction of the transfer.
                // SRP r16a 6.8 gives each direction its own descriptor; SAM-5
                // 5.4.2 leaves a transfer the application client did not
                // describe to the device server, and INVALID FIELD IN COMMAND
                // INFORMATION UNIT (SPC-4 4.5.6) names the field at fault.
                // Nothing is fetched or written; the engine already ran the
                // command, which for a data-in command changes no medium. A
                // command that returns nothing (TEST UNIT READY, READ of zero
                // blocks) is not refused: residuals tell what went unused.
                // The reverse, a data-out command with only a DATA-IN
                // descriptor, is refused by the engine: it describes no
                // DATA-OUT bytes (data_out_length_mismatch()).
                if (r.names_data_out && !r.task.data_in().empty()) {
                    spdlog::warn("[{}] request {}: data-in command with a DATA-OUT descriptor refused", params_.name,
                                 r.index);
                    return reject_command(r, scsi::Asc::invalid_field_in_command_iu);
                }
                // Fetch a DATA-IN table only when there is data to return through it.
                if (r.table_count != 0 && !r.table_for_data_out && r.remote.empty() && !r.task.data_in().empty())
                    return after_table_fetch_start(r);
                return respond(r);
            case Phase::awaiting_buffer:
                // io backstore: a WRITE's immediate data is written from the
                // receive buffer it arrived in; other data goes through one
                // contiguous run of registered bounce memory (RDMA on one
                // side, io_uring on the other).
                if (const auto in_place = immediate_in_place(r)) {
                    target_.provide_buffer(r.lun, r.task, *in_place);
                    continue;
                }
                if (!take_bounce(r, r.task.buffer_bytes())) {
                    if (!r.immediate.empty()) return respond_busy(r);
                    return wait_for_resources(r, Resume::engine_buffer);
                }
                target_.provide_buffer(r.lun, r.task, bounce_bytes(r));
                continue;
            case Phase::awaiting_data_out: {
                if (!r.immediate.empty()) {
                    auto dest = r.task.data_out_buffer();  // the engine checked: described >= needed
                    // A memory backstore's mapping may fault (truncated file).
                    // Data written in place is already where the engine wants it.
                    if (dest.data() != r.immediate.data() && !guarded_copy(dest.data(), r.immediate.data(), dest.size())) {
                        r.task.complete_check(
                            scsi::SenseBuilder{scsi::SenseKey::medium_error, scsi::Asc::write_error, {}, {}});
                        continue;
                    }
                    if (r.task.buffer_is_backstore()) backstores_.mark_written(dest);
                    r.data_out_moved = dest.size();
                    stats_.bytes_written += dest.size();
                    r.immediate = {};
                    target_.complete_data_out(r.lun, r.task);
                    continue;
                }
                if (r.table_count != 0 && r.table_for_data_out && r.remote.empty()) return after_table_fetch_start(r);
                return start_data_out(r);
            }
            case Phase::awaiting_medium:
                if (!fixed_buffer_tried_) {
                    fixed_buffer_tried_ = true;
                    fixed_buffer_ = medium_queue_.register_buffer(bounce_memory_.bytes());
                    if (params_.imm_data_offset != 0)
                        fixed_receive_ = medium_queue_.register_buffer(receive_memory_.bytes());
                }
                if (!medium_queue_.submit(r.task.medium_op(), *this, r.index))
                    return wait_for_resources(r, Resume::medium);
                ++outstanding_medium_;
                return advance(r, RequestState::awaiting_medium);
            case Phase::blocked:
                // A busy LBA range (COMPARE AND WRITE): retried every pass.
                if (!r.immediate.empty()) return respond_busy(r);
                r.resume = Resume::range_lock;
                if (r.state != RequestState::waiting) advance(r, RequestState::waiting);
                blocked_.push_back(r.index);
                return;
        }
    }
}

void Channel::on_medium_complete(std::uint64_t tag, MediumResult result) {
    --outstanding_medium_;
    Request& r = requests_[tag];
    // An aborted command: its I/O has finished, so the context may be reused now.
    if (r.state == RequestState::aborting) return finish_abort(r);
    if (closing_) return release(r);
    target_.complete_medium(r.lun, r.task, std::move(result));
    drive(r);
}

void Channel::retry_blocked() {
    if (blocked_.empty()) return;
    const std::vector<std::uint32_t> retry = std::exchange(blocked_, {});
    for (std::uint32_t index : retry) {
        Request& r = requests_[index];
        if (r.state != RequestState::waiting || r.resume != Resume::range_lock) continue;  // aborted meanwhile
        target_.resume(r.lun, r.task);
        if (r.task.phase() == Phase::blocked) {
            blocked_.push_back(index);
            continue;
        }
        drive(r);
    }
}

std::optional<std::span<std::uint8_t>> Channel::immediate_in_place(Request& r) {
    // Only for the IU handle_cmd is processing, whose buffer no other
    // request holds; the engine asks for no more than was described.
    if (r.immediate.empty() || !receive_in_hand_ || receive_in_hand_->kept) return std::nullopt;
    if (!r.task.buffer_only_for_data_out() || r.immediate.size() < r.task.buffer_bytes()) return std::nullopt;
    // Keep one receive posted whatever the writes in flight: IUs that take
    // no credit (SRP_I_LOGOUT) must still find one. Beyond that, copy.
    if (held_receives_ + 1 >= params_.queue_depth) return std::nullopt;
    // O_DIRECT wants page-aligned memory (the MediumOp contract); the
    // receive ring's layout gives it whenever the IU put the data at the
    // offset granted at login.
    const std::size_t offset = static_cast<std::size_t>(r.immediate.data() - receive_memory_.data());
    if (offset % kIoAlignmentBytes != 0 || offset < receive_offset(receive_in_hand_->buffer) ||
        offset + r.immediate.size() > receive_offset(receive_in_hand_->buffer) + params_.it_iu_len)
        return std::nullopt;
    receive_in_hand_->kept = true;
    r.held_receive = receive_in_hand_->buffer;
    ++held_receives_;
    ++stats_.immediate_in_place;
    return receive_memory_.bytes().subspan(offset, r.immediate.size());
}

void Channel::return_held_receive(Request& r) {
    if (!r.held_receive) return;
    const std::uint32_t buffer = *std::exchange(r.held_receive, std::nullopt);
    --held_receives_;
    // Still inside on_receive for this buffer: it reposts it on return.
    if (receive_in_hand_ && receive_in_hand_->buffer == buffer) {
        receive_in_hand_->kept = false;
        return;
    }
    // Reposted before the response that returns its credit is posted, so
    // the initiator never finds the ring short (each credit lets it send
    // one IU, into a receive we must have posted). A closing channel posts
    // nothing more.
    if (!closing_) repost_receive(buffer);
}

void Channel::respond_busy(Request& r) {
    // Immediate data in bounce memory cannot wait for it (its receive
    // buffer is reposted when handle_cmd returns): the initiator retries a
    // BUSY command (SAM-5 5.3.1).
    spdlog::debug("[{}] request {}: no room for immediate data now, BUSY", params_.name, r.index);
    r.task.complete_status(scsi::Status::busy);
    r.data_out_moved = 0;
    r.immediate = {};
    respond(r);
}

}  // namespace srp::target
