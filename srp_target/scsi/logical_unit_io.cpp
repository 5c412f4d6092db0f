// Medium access: READ, WRITE, WRITE AND VERIFY, VERIFY, SYNCHRONIZE CACHE
// (SBC-3 5.x). WRITE SAME, UNMAP and COMPARE AND WRITE are in
// logical_unit_io_special.cpp; the medium steps in logical_unit_medium.cpp.
#include <algorithm>
#include <cstring>

#include "srp_target/scsi/logical_unit.h"
#include "srp_target/scsi/sense_helpers.h"

namespace srp::target {

using scsi::Asc;
using scsi::SenseBuilder;
using scsi::SenseKey;
using Continuation = ScsiTask::Continuation;
namespace op = scsi::op;

namespace {

// Byte offset of the transfer length field, for the field pointer of a too-long transfer.
std::uint16_t length_field(scsi::Cdb cdb) {
    switch (cdb.size()) {
        case 6: return 4;
        case 10: return 7;
        case 12: return 6;
        default: return 10;
    }
}
bool is_write_and_verify(std::uint8_t opcode) {
    return opcode == op::kWriteAndVerify10 || opcode == op::kWriteAndVerify12 || opcode == op::kWriteAndVerify16;
}

}  // namespace

bool LogicalUnit::check_transfer_length(ScsiTask& task, scsi::Cdb cdb, std::uint64_t blocks) {
    // The MAXIMUM TRANSFER LENGTH of the Block Limits VPD page (SBC-3 6.5.3).
    if (blocks * config_.block_size <= kMaxTransferBytes) return true;
    task.complete_check(illegal(Asc::invalid_field_in_cdb, length_field(cdb)));
    return false;
}

void LogicalUnit::read(ScsiTask& task, scsi::Cdb cdb) {
    if (scsi::protect_field(cdb) != 0) return task.complete_check(illegal(Asc::invalid_field_in_cdb, 1, 7));
    const auto range = scsi::decode_lba_range(cdb);
    if (!check_range(task, range->lba, range->blocks)) return;
    if (!check_transfer_length(task, cdb, range->blocks)) return;
    task.lba_ = range->lba;
    task.blocks_ = range->blocks;
    if (range->blocks == 0) return;
    if (inline_medium()) {  // zero copy: the transport reads the mapping itself
        task.data_in_ = blocks_span(range->lba, range->blocks);
        task.buffer_is_backstore_ = true;
        return;
    }
    request_buffer(task, std::uint64_t{range->blocks} * config_.block_size, Continuation::read);
}

void LogicalUnit::write(ScsiTask& task, scsi::Cdb cdb) {
    if (!check_writable(task)) return;
    if (scsi::protect_field(cdb) != 0) return task.complete_check(illegal(Asc::invalid_field_in_cdb, 1, 7));
    const auto range = scsi::decode_lba_range(cdb);
    if (!check_range(task, range->lba, range->blocks)) return;
    if (!check_transfer_length(task, cdb, range->blocks)) return;
    task.lba_ = range->lba;
    task.blocks_ = range->blocks;
    // WRITE AND VERIFY must reach the medium before it can be verified: treat it as FUA.
    task.fua_ = scsi::fua_bit(cdb) || is_write_and_verify(cdb[0]);
    const auto next = is_write_and_verify(cdb[0]) ? Continuation::write_and_verify : Continuation::write;
    const std::uint64_t bytes = std::uint64_t{range->blocks} * config_.block_size;
    if (task.expected_data_out_ < bytes)  // SAM-5 5.4.2: less than the CDB implies
        return task.complete_check(data_out_length_mismatch());
    task.continuation_ = next;
    if (inline_medium()) {
        // Zero copy: the transport fills the mapping directly, so the range
        // lock is taken before the data moves (COMPARE AND WRITE atomicity).
        if (bytes != 0 && !lock_or_block(task, false)) return;
        return expect_data_out(task, blocks_span(range->lba, range->blocks), true, next);
    }
    if (bytes == 0) return expect_data_out(task, {}, false, next);
    request_buffer(task, bytes, next);
}

void LogicalUnit::finish_write(ScsiTask& task) {
    if (task.blocks_ == 0) return task.complete_good();
    // SBC-3 4.15: with FUA, or with the write cache disabled, the data must be
    // on the medium before GOOD.
    const bool durable = task.fua_ || !write_cache_enabled();
    if (inline_medium()) {  // the data is already in the mapping
        if (!durable) return task.complete_good();
        task.range_lock_.release();
        return issue(task, MediumOpKind::flush, task.lba_ * config_.block_size,
                     std::uint64_t{task.blocks_} * config_.block_size);
    }
    if (!lock_or_block(task, false)) return;
    issue(task, MediumOpKind::write, task.lba_ * config_.block_size, task.transport_buffer_.size(),
          task.transport_buffer_, durable);
}

void LogicalUnit::verify(ScsiTask& task, scsi::Cdb cdb) {
    if (scsi::protect_field(cdb) != 0) return task.complete_check(illegal(Asc::invalid_field_in_cdb, 1, 7));
    const std::uint8_t bytchk = (cdb[1] >> 1) & 0x03;
    const auto range = scsi::decode_lba_range(cdb);
    if (!check_range(task, range->lba, range->blocks)) return;
    if (bytchk == 2) return task.complete_check(illegal(Asc::invalid_field_in_cdb, 1, 2));
    // Every VERIFY reads the medium, so it is bounded like a READ.
    if (!check_transfer_length(task, cdb, range->blocks)) return;
    task.lba_ = range->lba;
    task.blocks_ = range->blocks;
    task.cdb_bytes_[1] = cdb[1];
    if (range->blocks == 0) return;
    if (bytchk == 0) {  // medium verification: the blocks must be readable
        task.continuation_ = Continuation::verify;
        return start_verify_read(task);
    }
    const std::uint64_t bytes = bytchk == 1 ? std::uint64_t{range->blocks} * config_.block_size : config_.block_size;
    task.scratch_.assign(bytes, 0);
    expect_data_out(task, task.scratch_, false, Continuation::verify_bytes);
}

void LogicalUnit::start_verify_read(ScsiTask& task) {
    const std::uint64_t bytes = std::uint64_t{task.blocks_} * config_.block_size;
    task.medium_buffer_ = AlignedBuffer(bytes);
    issue(task, MediumOpKind::read, task.lba_ * config_.block_size, bytes, task.medium_buffer_.bytes());
}

void LogicalUnit::after_verify_read(ScsiTask& task) {
    if (task.continuation_ == Continuation::verify) return task.complete_good();
    const bool one_block_for_all = ((task.cdb_bytes_[1] >> 1) & 0x03) == 3;
    const auto medium = task.medium_buffer_.bytes();
    for (std::size_t i = 0; i < medium.size(); ++i) {
        const std::uint8_t expected = one_block_for_all ? task.scratch_[i % config_.block_size] : task.scratch_[i];
        if (medium[i] != expected)  // SBC-3 5.29: INFORMATION = offset of the first miscompare
            return task.complete_check(SenseBuilder{SenseKey::miscompare, Asc::miscompare_during_verify, {},
                                                    static_cast<std::uint32_t>(i)});
    }
    task.complete_good();
}

void LogicalUnit::synchronize_cache(ScsiTask& task, scsi::Cdb cdb) {
    const auto range = scsi::decode_lba_range(cdb);
    if (!check_range(task, range->lba, range->blocks)) return;
    // NUMBER OF LOGICAL BLOCKS 0 means through the last block (SBC-3 5.22).
    const std::uint64_t blocks = range->blocks ? range->blocks : block_count() - range->lba;
    task.continuation_ = Continuation::synchronize_cache;
    // io backstores: an fdatasync of the whole file or device (the range is a hint).
    issue(task, MediumOpKind::flush, range->lba * config_.block_size, blocks * config_.block_size);
}

void LogicalUnit::pre_fetch(ScsiTask& task, scsi::Cdb cdb) {
    const auto range = scsi::decode_lba_range(cdb);
    // PREFETCH LENGTH 0: from the LBA through the last block (SBC-3 5.10),
    // so the LBA itself must exist.
    if (!check_range(task, range->lba, std::max<std::uint64_t>(range->blocks, 1))) return;
    const std::uint64_t blocks = range->blocks ? range->blocks : block_count() - range->lba;
    backstore_->prefetch(range->lba * config_.block_size, blocks * config_.block_size);
    // SBC-3 5.10 (PRE-FETCH status table): CONDITION MET when the range fits
    // in the cache, GOOD when it does not, for IMMED=0 and IMMED=1 alike.
    // A mapped medium or a buffered io backstore has the page cache as its
    // cache, so every valid range fits; an O_DIRECT backstore has no cache
    // of ours at all, so nothing fits (GOOD). IMMED is therefore ignored:
    // the answer and its timing are the same either way.
    if (backstore_->direct_io()) return task.complete_good();
    task.complete_status(scsi::Status::condition_met);
}

}  // namespace srp::target
