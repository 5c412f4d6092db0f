// Medium access: READ, WRITE, WRITE AND VERIFY, VERIFY, SYNCHRONIZE CACHE,
// WRITE SAME, UNMAP, COMPARE AND WRITE (SBC-3 5.x).
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

void LogicalUnit::read(ScsiTask& task, scsi::Cdb cdb) {
    if (scsi::protect_field(cdb) != 0) return task.complete_check(illegal(Asc::invalid_field_in_cdb, 1, 7));
    const auto range = scsi::decode_lba_range(cdb);
    if (!check_range(task, range->lba, range->blocks)) return;
    if (std::uint64_t{range->blocks} * config_.block_size > kMaxTransferBytes)
        return task.complete_check(illegal(Asc::invalid_field_in_cdb, length_field(cdb)));
    task.data_in_ = blocks_span(range->lba, range->blocks);
    task.buffer_is_backstore_ = true;
}

void LogicalUnit::write(ScsiTask& task, scsi::Cdb cdb) {
    if (!check_writable(task)) return;
    if (scsi::protect_field(cdb) != 0) return task.complete_check(illegal(Asc::invalid_field_in_cdb, 1, 7));
    const auto range = scsi::decode_lba_range(cdb);
    if (!check_range(task, range->lba, range->blocks)) return;
    if (std::uint64_t{range->blocks} * config_.block_size > kMaxTransferBytes)
        return task.complete_check(illegal(Asc::invalid_field_in_cdb, length_field(cdb)));
    task.lba_ = range->lba;
    task.blocks_ = range->blocks;
    // WRITE AND VERIFY must reach the medium before it can be verified: treat it as FUA.
    task.fua_ = scsi::fua_bit(cdb) || is_write_and_verify(cdb[0]);
    // Zero-copy: the transport fills the backstore mapping directly.
    expect_data_out(task, blocks_span(range->lba, range->blocks), true,
                    is_write_and_verify(cdb[0]) ? ScsiTask::Continuation::write_and_verify
                                                : ScsiTask::Continuation::write);
}

void LogicalUnit::finish_write(ScsiTask& task) {
    // SBC-3 4.15: with FUA, or with the write cache disabled, the data must be
    // on the medium before GOOD.
    if ((task.fua_ || !write_cache_enabled()) && !flush_or_fail(task, task.lba_, task.blocks_)) return;
    task.complete_good();
}

void LogicalUnit::verify(ScsiTask& task, scsi::Cdb cdb) {
    if (scsi::protect_field(cdb) != 0) return task.complete_check(illegal(Asc::invalid_field_in_cdb, 1, 7));
    const std::uint8_t bytchk = (cdb[1] >> 1) & 0x03;
    const auto range = scsi::decode_lba_range(cdb);
    if (!check_range(task, range->lba, range->blocks)) return;
    task.lba_ = range->lba;
    task.blocks_ = range->blocks;
    if (bytchk == 0) return;  // medium verification: mapped memory is always readable
    if (bytchk == 2) return task.complete_check(illegal(Asc::invalid_field_in_cdb, 1, 2));
    const std::uint64_t bytes = bytchk == 1 ? std::uint64_t{range->blocks} * config_.block_size
                                            : (range->blocks ? config_.block_size : 0);
    if (bytes > kMaxTransferBytes)
        return task.complete_check(illegal(Asc::invalid_field_in_cdb, length_field(cdb)));
    task.cdb_bytes_[1] = cdb[1];
    task.scratch_.assign(bytes, 0);
    expect_data_out(task, task.scratch_, false, ScsiTask::Continuation::verify_bytes);
}

void LogicalUnit::finish_verify_bytes(ScsiTask& task) {
    const bool one_block_for_all = ((task.cdb_bytes_[1] >> 1) & 0x03) == 3;
    const auto medium = blocks_span(task.lba_, task.blocks_);
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
    if (flush_or_fail(task, range->lba, blocks)) task.complete_good();
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
    // The whole medium is mapped into our address space (the page cache is
    // the cache), so every valid range fits. IMMED is therefore ignored: the
    // answer and its timing are the same either way.
    task.complete_status(scsi::Status::condition_met);
}

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
    if (ndob) {  // no data-out buffer: the block is zeros (LBPRZ=1 pattern)
        task.phase_ = ScsiTask::Phase::awaiting_data_out;
        task.continuation_ = ScsiTask::Continuation::write_same;
        return complete_data_out(task);
    }
    expect_data_out(task, task.scratch_, false, ScsiTask::Continuation::write_same);
}

void LogicalUnit::finish_write_same(ScsiTask& task) {
    const bool unmap_bit = task.cdb_bytes_[1] & 0x08;
    const bool zeros = std::all_of(task.scratch_.begin(), task.scratch_.end(), [](auto b) { return b == 0; });
    const std::uint64_t offset = task.lba_ * config_.block_size;
    const std::uint64_t length = std::uint64_t{task.blocks_} * config_.block_size;
    // UNMAP bit (SBC-3 4.7 logical block provisioning, 5.42, 5.43): a thin LUN (LBPME=1, LBPWS=1,
    // LBPWS10=1) deallocates, but only when the block is zeros: LBPRZ=1
    // promises that a deallocated block reads as zeros, so any other block
    // must be written. A fully provisioned LUN (LBPME=0, LBPWS=LBPWS10=0)
    // has no unmap operation and the UNMAP bit is not evaluated: the command
    // is an ordinary write of the block.
    if (unmap_bit && zeros && thin_provisioned()) {
        if (!backstore_->discard(offset, length))
            return task.complete_check(SenseBuilder{SenseKey::medium_error, Asc::write_error, {}, {}});
    } else {
        auto medium = blocks_span(task.lba_, task.blocks_);
        for (std::uint64_t at = 0; at < length; at += config_.block_size)
            std::memcpy(medium.data() + at, task.scratch_.data(), config_.block_size);
    }
    if (!write_cache_enabled() && !flush_or_fail(task, task.lba_, task.blocks_)) return;
    task.complete_good();
}

void LogicalUnit::unmap(ScsiTask& task, scsi::Cdb cdb) {
    if (!check_writable(task)) return;
    if (cdb[1] & 0x01) return task.complete_check(illegal(Asc::invalid_field_in_cdb, 1, 0));  // ANCHOR
    const std::uint16_t length = wire::load_be<std::uint16_t>(cdb, 7);
    if (length == 0) return;
    if (length < 8) return task.complete_check(illegal(Asc::parameter_list_length_error, 7));
    task.scratch_.assign(length, 0);
    expect_data_out(task, task.scratch_, false, ScsiTask::Continuation::unmap);
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
    for (std::size_t i = 0; i < count; ++i) {
        const std::uint64_t lba = wire::load_be<std::uint64_t>(p, 8 + 16 * i);
        const std::uint32_t blocks = wire::load_be<std::uint32_t>(p, 8 + 16 * i + 8);
        if (!backstore_->discard(lba * config_.block_size, std::uint64_t{blocks} * config_.block_size))
            return task.complete_check(SenseBuilder{SenseKey::medium_error, Asc::write_error, {}, {}});
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
    expect_data_out(task, task.scratch_, false, ScsiTask::Continuation::compare_and_write);
}

void LogicalUnit::finish_compare_and_write(ScsiTask& task) {
    auto medium = blocks_span(task.lba_, task.blocks_);
    const std::span<const std::uint8_t> verify_data(task.scratch_.data(), medium.size());
    const std::span<const std::uint8_t> write_data(task.scratch_.data() + medium.size(), medium.size());
    {
        std::lock_guard lock(compare_and_write_mutex_);
        const auto mismatch = std::mismatch(verify_data.begin(), verify_data.end(), medium.begin());
        if (mismatch.first != verify_data.end()) {
            const auto offset = static_cast<std::uint32_t>(mismatch.first - verify_data.begin());
            return task.complete_check(
                SenseBuilder{SenseKey::miscompare, Asc::miscompare_during_verify, {}, offset});
        }
        std::memcpy(medium.data(), write_data.data(), medium.size());
    }
    if ((task.fua_ || !write_cache_enabled()) && !flush_or_fail(task, task.lba_, task.blocks_)) return;
    task.complete_good();
}

}  // namespace srp::target
