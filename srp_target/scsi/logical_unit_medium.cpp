// The medium half of the plan/complete split: buffers, range locks, medium
// steps, and how a failed step becomes sense data (SBC-3 4.x, SPC-4 4.5).
#include <spdlog/spdlog.h>

#include <cerrno>

#include "srp_target/scsi/logical_unit.h"
#include "srp_target/scsi/sense_helpers.h"

namespace srp::target {

using scsi::Asc;
using scsi::SenseBuilder;
using scsi::SenseKey;
using Continuation = ScsiTask::Continuation;

namespace {
// SPC-4 table D.2 codes this file reports.
constexpr auto kSpaceAllocationFailed = static_cast<Asc>(0x2707);  // SPACE ALLOCATION FAILED WRITE PROTECT
constexpr auto kCapacityDataHasChanged = static_cast<Asc>(0x2A09);

// The INFORMATION field of fixed sense holds 32 bits (SPC-4 4.5.3); a
// larger LBA would need descriptor sense, so it is left out (VALID=0).
std::optional<std::uint32_t> information(std::uint64_t lba) {
    if (lba > 0xffffffffull) return std::nullopt;
    return static_cast<std::uint32_t>(lba);
}
}  // namespace

void LogicalUnit::request_buffer(ScsiTask& task, std::uint64_t bytes, Continuation next) {
    task.buffer_bytes_ = bytes;
    task.continuation_ = next;
    task.phase_ = ScsiTask::Phase::awaiting_buffer;
}

void LogicalUnit::provide_buffer(ScsiTask& task, std::span<std::uint8_t> buffer) {
    if (task.phase_ != ScsiTask::Phase::awaiting_buffer) return;
    task.transport_buffer_ = buffer.first(task.buffer_bytes_);
    switch (task.continuation_) {
        case Continuation::read:
            return issue(task, MediumOpKind::read, task.lba_ * config_.block_size, task.transport_buffer_.size(),
                         task.transport_buffer_);
        case Continuation::write:
        case Continuation::write_and_verify:
            return expect_data_out(task, task.transport_buffer_, false, task.continuation_);
        default: return task.complete_check(SenseBuilder{SenseKey::hardware_error, Asc::internal_target_failure, {}, {}});
    }
}

bool LogicalUnit::lock_or_block(ScsiTask& task, bool exclusive) {
    if (task.range_lock_.held()) return true;
    task.range_lock_ = range_locks_.try_lock(task.lba_, task.blocks_, exclusive);
    if (task.range_lock_.held()) return true;
    task.phase_ = ScsiTask::Phase::blocked;
    return false;
}

void LogicalUnit::resume(ScsiTask& task) {
    if (task.phase_ != ScsiTask::Phase::blocked) return;
    switch (task.continuation_) {
        case Continuation::write:
        case Continuation::write_and_verify:
            if (inline_medium()) {  // memory: the lock precedes the RDMA into the mapping
                if (!lock_or_block(task, false)) return;
                return expect_data_out(task, blocks_span(task.lba_, task.blocks_), true, task.continuation_);
            }
            return finish_write(task);
        case Continuation::compare_and_write: return finish_compare_and_write(task);
        case Continuation::write_same: return finish_write_same(task);
        case Continuation::unmap: return unmap_next(task);
        default: return task.complete_check(SenseBuilder{SenseKey::hardware_error, Asc::internal_target_failure, {}, {}});
    }
}

void LogicalUnit::issue(ScsiTask& task, MediumOpKind kind, std::uint64_t offset, std::uint64_t length,
                        std::span<std::uint8_t> buffer, bool fua) {
    task.medium_op_ = MediumOp{backstore_.get(), kind, offset, length, fua, buffer};
    task.phase_ = ScsiTask::Phase::awaiting_medium;
    // Memory backstores: no queue, the step runs here (guarded against SIGBUS).
    if (inline_medium()) complete_medium(task, backstore_->execute(task.medium_op_));
}

void LogicalUnit::issue_flush(ScsiTask& task, Continuation next) {
    task.continuation_ = next;
    issue(task, MediumOpKind::flush, 0, 0);
}

void LogicalUnit::complete_medium(ScsiTask& task, MediumResult result) {
    if (task.phase_ != ScsiTask::Phase::awaiting_medium) return;
    const MediumOp& op = task.medium_op_;
    if (!result) return medium_failed(task, result.error());
    const bool transfer = op.kind == MediumOpKind::read || op.kind == MediumOpKind::write;
    // A short transfer is the end of the file or device: it shrank.
    if (transfer && *result < op.length) return medium_failed(task, std::make_error_code(std::errc::io_error));
    after_medium(task);
}

void LogicalUnit::after_medium(ScsiTask& task) {
    switch (task.continuation_) {
        case Continuation::read:
            task.data_in_ = task.transport_buffer_;
            return task.complete_good();
        case Continuation::write:
        case Continuation::write_and_verify:
        case Continuation::synchronize_cache: return task.complete_good();
        case Continuation::verify:
        case Continuation::verify_bytes: return after_verify_read(task);
        case Continuation::compare_and_write: return after_compare_and_write_step(task);
        case Continuation::write_same: return write_same_next(task);
        case Continuation::unmap: return unmap_next(task);
        case Continuation::mode_select: return apply_mode_select(task);
        case Continuation::start_stop:
            started_.store(false, std::memory_order_relaxed);
            return task.complete_good();
        case Continuation::none:
        case Continuation::persistent_reserve_out: return task.complete_good();
    }
}

bool LogicalUnit::capacity_shrank() {
    const std::uint64_t before = block_count();
    backstore_->refresh_size();
    const std::uint64_t after = block_count();
    if (after >= before) return false;
    spdlog::warn("backstore {} shrank: {} -> {} blocks of {} bytes; capacity data has changed", backstore_->path(),
                 before, after, config_.block_size);
    // SBC-3 4.6: CAPACITY DATA HAS CHANGED for every I_T nexus.
    std::lock_guard lock(state_mutex_);
    for (NexusId nexus : known_nexuses_) establish_unit_attention(nexus, kCapacityDataHasChanged);
    return true;
}

void LogicalUnit::medium_failed(ScsiTask& task, std::error_code error) {
    const MediumOp op = task.medium_op_;
    const int err = error.value();
    const bool unsupported = err == EOPNOTSUPP || err == ENOTTY || (err == EINVAL && op.kind == MediumOpKind::write_zeroes);
    if ((op.kind == MediumOpKind::discard || op.kind == MediumOpKind::write_zeroes) && unsupported) {
        // WRITE SAME must leave zeros: fall back to writing zero blocks.
        if (task.continuation_ == Continuation::write_same) {
            task.step_ = 2;  // kPattern in logical_unit_io_special.cpp
            return after_medium(task);
        }
        // UNMAP is advisory (SBC-3 4.7.3.4): a device that cannot keeps the blocks mapped.
        if (op.kind == MediumOpKind::discard) return after_medium(task);
    }
    const std::uint64_t first_lba = op.offset / config_.block_size;
    spdlog::warn("backstore {}: {} of {} bytes at LBA {} failed: {}", backstore_->path(), to_string(op.kind),
                 op.length, first_lba, error.message());
    if (err == ENOSPC || err == EDQUOT)  // SBC-3 4.7.3.7: thin provisioning ran out of space
        return task.complete_check(SenseBuilder{SenseKey::data_protect, kSpaceAllocationFailed, {}, {}});
    if (err == EROFS) return task.complete_check(SenseBuilder{SenseKey::data_protect, Asc::write_protected, {}, {}});
    if (capacity_shrank() && (task.lba_ > block_count() || task.blocks_ > block_count() - task.lba_))
        return task.complete_check(illegal(Asc::lba_out_of_range, 2));
    if (err == EINVAL || err == EFAULT || err == EBADF)  // our bug, not the medium's
        return task.complete_check(SenseBuilder{SenseKey::hardware_error, Asc::internal_target_failure, {}, {}});
    // INFORMATION: the first LBA of the failed range (the exact one is unknown).
    if (op.kind == MediumOpKind::read)
        return task.complete_check(
            SenseBuilder{SenseKey::medium_error, Asc::unrecovered_read_error, {}, information(first_lba)});
    const bool ranged = op.kind != MediumOpKind::flush;
    task.complete_check(SenseBuilder{SenseKey::medium_error, Asc::write_error, {},
                                     ranged ? information(first_lba) : std::nullopt});
}

}  // namespace srp::target
