// WRITE SAME, UNMAP and COMPARE AND WRITE (SBC-3 5.42/5.43, 5.28, 5.2):
// the multi-step medium commands.
#include <algorithm>
#include <cstring>

#include "common/wire/big_endian.h"
#include "srp_target/scsi/logical_unit.h"
#include "srp_target/scsi/sense_helpers.h"

namespace srp::target {

using scsi::Asc;
using scsi::FieldPointer;
using scsi::SenseBuilder;
using scsi::SenseKey;
using Continuation = ScsiTask::Continuation;
namespace op = scsi::op;

namespace {
std::uint16_t length_field(scsi::Cdb cdb) { return cdb.size() == 10 ? 7 : 10; }

// WRITE SAME steps (ScsiTask::step_).
constexpr std::uint8_t kWholeRange = 1;   // one deallocate or zero-range operation
constexpr std::uint8_t kPattern = 2;      // block-by-block writes of the pattern
constexpr std::uint8_t kFlushed = 3;      // the write cache is off: flushed afterwards
}  // namespace

void LogicalUnit::write_same(ScsiTask& task, scsi::Cdb cdb) {
    if (!check_writable(task)) return;
    if (scsi::protect_field(cdb) != 0) return task.complete_check(illegal(Asc::invalid_field_in_cdb, 1, 7));
    // ANCHOR with ANC_SUP=0 in VPD B2h is INVALID FIELD IN CDB, with or
    // without UNMAP (SBC-3 5.42/5.43, the ANCHOR, UNMAP and ANC_SUP table).
    if (cdb[1] & 0x10) return task.complete_check(illegal(Asc::invalid_field_in_cdb, 1, 4));
    const bool ndob = cdb[0] == op::kWriteSame16 && (cdb[1] & 0x01);
    if (cdb[0] == op::kWriteSame10 && (cdb[1] & 0x01))
        return task.complete_check(illegal(Asc::invalid_field_in_cdb, 1, 0));
    const auto range = scsi::decode_lba_range(cdb);
    // NUMBER OF LOGICAL BLOCKS 0 asks for every block through the last one;
    // we set WSNZ=1 in the Block Limits page, which announces that a zero
    // count is refused as INVALID FIELD IN CDB (SBC-3 5.42, 6.6.4).
    if (range->blocks == 0) return task.complete_check(illegal(Asc::invalid_field_in_cdb, length_field(cdb)));
    if (!check_range(task, range->lba, range->blocks)) return;
    // Above MAXIMUM WRITE SAME LENGTH (VPD B0h, the same value): SBC-3 5.42.
    if (range->blocks > max_write_same_blocks())
        return task.complete_check(illegal(Asc::invalid_field_in_cdb, length_field(cdb)));
    // WRITE SAME transfers exactly one logical block (SBC-3 5.42), or none
    // with NDOB. An initiator that described less cannot supply the block
    // (a SAM-5 data overflow); one that described more believes the command
    // moves more than one block (a WRITE mistaken for a WRITE SAME would
    // otherwise replicate its first block silently). Both are refused
    // before anything is written; see data_out_length_mismatch().
    if (task.expected_data_out_ != (ndob ? 0 : config_.block_size))
        return task.complete_check(data_out_length_mismatch());
    task.lba_ = range->lba;
    task.blocks_ = range->blocks;
    task.cdb_bytes_[1] = cdb[1];
    task.scratch_.assign(config_.block_size, 0);
    task.continuation_ = Continuation::write_same;
    if (ndob) return finish_write_same(task);  // no data-out buffer: the block is zeros (LBPRZ=1 pattern)
    expect_data_out(task, task.scratch_, false, Continuation::write_same);
}

void LogicalUnit::finish_write_same(ScsiTask& task) {
    if (!lock_or_block(task, false)) return;
    const bool unmap_bit = task.cdb_bytes_[1] & 0x08;
    const bool zeros = std::all_of(task.scratch_.begin(), task.scratch_.end(), [](auto b) { return b == 0; });
    const std::uint64_t offset = task.lba_ * config_.block_size;
    const std::uint64_t length = std::uint64_t{task.blocks_} * config_.block_size;
    task.cursor_ = 0;
    if (zeros) {
        // UNMAP bit (SBC-3 4.7 logical block provisioning, 5.42, 5.43): a
        // thin LUN (LBPME=1, LBPWS=1, LBPWS10=1) deallocates, but only when
        // the block is zeros: LBPRZ=1 promises that a deallocated block reads
        // as zeros, so any other block must be written. A fully provisioned
        // LUN (LBPME=0) has no unmap operation and the UNMAP bit is not
        // evaluated. A zero block without deallocation is one zero-range
        // operation; both fall back to writing zero blocks when the medium
        // cannot.
        task.step_ = kWholeRange;
        const bool deallocate = unmap_bit && thin_provisioned();
        return issue(task, deallocate ? MediumOpKind::discard : MediumOpKind::write_zeroes, offset, length);
    }
    task.step_ = kPattern;
    write_same_next(task);
}

void LogicalUnit::write_same_next(ScsiTask& task) {
    const std::uint64_t offset = task.lba_ * config_.block_size;
    const std::uint64_t length = std::uint64_t{task.blocks_} * config_.block_size;
    if (task.step_ == kPattern && task.cursor_ < length) {
        if (task.medium_buffer_.empty()) {  // the pattern, repeated over one write step
            task.medium_buffer_ = AlignedBuffer(std::min<std::uint64_t>(length, kWriteSameChunkBytes));
            for (std::size_t at = 0; at < task.medium_buffer_.size(); at += config_.block_size)
                std::memcpy(task.medium_buffer_.data() + at, task.scratch_.data(), config_.block_size);
        }
        const std::uint64_t n = std::min<std::uint64_t>(task.medium_buffer_.size(), length - task.cursor_);
        const std::uint64_t at = task.cursor_;
        task.cursor_ += n;
        return issue(task, MediumOpKind::write, offset + at, n, task.medium_buffer_.bytes().first(n));
    }
    if (task.step_ != kFlushed && !write_cache_enabled()) {
        task.step_ = kFlushed;
        return issue(task, MediumOpKind::flush, offset, length);
    }
    task.complete_good();
}

void LogicalUnit::unmap(ScsiTask& task, scsi::Cdb cdb) {
    if (!check_writable(task)) return;
    if (cdb[1] & 0x01) return task.complete_check(illegal(Asc::invalid_field_in_cdb, 1, 0));  // ANCHOR
    const std::uint16_t length = wire::load_be<std::uint16_t>(cdb, 7);
    if (length == 0) return;
    if (length < 8) return task.complete_check(illegal(Asc::parameter_list_length_error, 7));
    task.scratch_.assign(length, 0);
    expect_data_out(task, task.scratch_, false, Continuation::unmap);
}

void LogicalUnit::finish_unmap(ScsiTask& task) {
    const auto& p = task.scratch_;
    const std::uint16_t descriptor_bytes = wire::load_be<std::uint16_t>(p, 2);
    // SBC-3 5.28.2: the block descriptor data must fit in what was sent.
    if (std::size_t{descriptor_bytes} + 8 > p.size()) return task.complete_check(bad_parameter(2));
    const std::size_t count = descriptor_bytes / 16;
    if (count > kMaxUnmapDescriptors) return task.complete_check(bad_parameter(2));
    for (std::size_t i = 0; i < count; ++i) {  // validate all before changing anything
        const std::uint64_t lba = wire::load_be<std::uint64_t>(p, 8 + 16 * i);
        const std::uint32_t blocks = wire::load_be<std::uint32_t>(p, 8 + 16 * i + 8);
        if (lba > block_count() || blocks > block_count() - lba)
            return task.complete_check(SenseBuilder{SenseKey::illegal_request, Asc::lba_out_of_range,
                                                    FieldPointer{false, static_cast<std::uint16_t>(8 + 16 * i), {}},
                                                    {}});
    }
    task.items_ = static_cast<std::uint32_t>(count);
    task.cursor_ = 0;  // the next descriptor
    unmap_next(task);
}

void LogicalUnit::unmap_next(ScsiTask& task) {
    // One deallocation per descriptor, in order, each holding its range
    // (shared) so it is ordered against a COMPARE AND WRITE of those blocks.
    task.range_lock_.release();
    while (task.cursor_ < task.items_) {
        const std::size_t i = task.cursor_;
        const std::uint64_t lba = wire::load_be<std::uint64_t>(task.scratch_, 8 + 16 * i);
        const std::uint32_t blocks = wire::load_be<std::uint32_t>(task.scratch_, 8 + 16 * i + 8);
        if (blocks == 0) {
            ++task.cursor_;
            continue;
        }
        task.lba_ = lba;
        task.blocks_ = blocks;
        if (!lock_or_block(task, false)) return;  // resume() comes back here
        ++task.cursor_;
        return issue(task, MediumOpKind::discard, lba * config_.block_size, std::uint64_t{blocks} * config_.block_size);
    }
    task.complete_good();
}

void LogicalUnit::compare_and_write(ScsiTask& task, scsi::Cdb cdb) {
    if (!check_writable(task)) return;
    if (scsi::protect_field(cdb) != 0) return task.complete_check(illegal(Asc::invalid_field_in_cdb, 1, 7));
    const auto range = scsi::decode_lba_range(cdb);
    if (range->blocks == 0) return;  // SBC-3 5.2: zero blocks is not an error
    if (range->blocks > kMaxCompareAndWriteBlocks)
        return task.complete_check(illegal(Asc::invalid_field_in_cdb, 13));
    if (!check_range(task, range->lba, range->blocks)) return;
    task.lba_ = range->lba;
    task.blocks_ = range->blocks;
    task.fua_ = scsi::fua_bit(cdb);
    task.scratch_.assign(2 * std::size_t{range->blocks} * config_.block_size, 0);
    expect_data_out(task, task.scratch_, false, Continuation::compare_and_write);
}

void LogicalUnit::finish_compare_and_write(ScsiTask& task) {
    // SBC-3 5.2: the read, compare and write are one atomic operation with
    // respect to other commands: hold the range exclusively throughout.
    if (!lock_or_block(task, true)) return;
    const std::size_t bytes = std::size_t{task.blocks_} * config_.block_size;
    task.medium_buffer_ = AlignedBuffer(2 * bytes);  // [medium as read | data to write]
    task.step_ = 0;
    issue(task, MediumOpKind::read, task.lba_ * config_.block_size, bytes, task.medium_buffer_.bytes().first(bytes));
}

void LogicalUnit::after_compare_and_write_step(ScsiTask& task) {
    if (task.step_ == 1) return task.complete_good();
    const std::size_t bytes = std::size_t{task.blocks_} * config_.block_size;
    const auto medium = task.medium_buffer_.bytes().first(bytes);
    const std::span<const std::uint8_t> verify_data(task.scratch_.data(), bytes);
    const auto mismatch = std::mismatch(verify_data.begin(), verify_data.end(), medium.begin());
    if (mismatch.first != verify_data.end()) {
        const auto offset = static_cast<std::uint32_t>(mismatch.first - verify_data.begin());
        return task.complete_check(SenseBuilder{SenseKey::miscompare, Asc::miscompare_during_verify, {}, offset});
    }
    auto write_data = task.medium_buffer_.bytes().subspan(bytes, bytes);
    std::memcpy(write_data.data(), task.scratch_.data() + bytes, bytes);
    task.step_ = 1;
    issue(task, MediumOpKind::write, task.lba_ * config_.block_size, bytes, write_data,
          task.fua_ || !write_cache_enabled());
}

}  // namespace srp::target
