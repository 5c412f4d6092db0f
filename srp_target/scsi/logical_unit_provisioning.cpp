// GET LBA STATUS (SERVICE ACTION IN (16), service action 12h; SBC-3, GET LBA STATUS command).
#include <algorithm>

#include "common/wire/big_endian.h"
#include "srp_target/scsi/logical_unit.h"
#include "srp_target/scsi/sense_helpers.h"

namespace srp::target {

using scsi::Asc;
using wire::store_be;

namespace {

// PROVISIONING STATUS (SBC-3, LBA status descriptor): 0h "mapped or unknown", 1h deallocated.
constexpr std::uint8_t kMapped = 0x0;
constexpr std::uint8_t kDeallocated = 0x1;
constexpr std::size_t kHeaderBytes = 8;
constexpr std::size_t kDescriptorBytes = 16;
// Bounds one command's work: the initiator asks again from where we stopped.
constexpr std::size_t kMaxDescriptors = 128;
constexpr std::size_t kMaxProbes = 4096;
constexpr std::uint64_t kMaxDescriptorBlocks = 0xffffffffu;

struct LbaExtent {
    std::uint64_t lba;
    std::uint64_t blocks;
    std::uint8_t status;
};

}  // namespace

void LogicalUnit::get_lba_status(ScsiTask& task, scsi::Cdb cdb) {
    const std::uint64_t start = wire::load_be<std::uint64_t>(cdb, 2);
    const std::uint32_t allocation = scsi::allocation_length(cdb);
    // SBC-3 GET LBA STATUS: a STARTING LOGICAL BLOCK ADDRESS beyond the last LBA.
    if (start >= block_count()) return task.complete_check(illegal(Asc::lba_out_of_range, 2));
    // At least one descriptor is built so that PARAMETER DATA LENGTH is
    // meaningful even when the allocation length truncates it.
    const std::size_t wanted = std::clamp<std::size_t>(
        allocation > kHeaderBytes ? (allocation - kHeaderBytes) / kDescriptorBytes : 0, 1, kMaxDescriptors);
    std::vector<LbaExtent> extents;
    const std::uint64_t count = block_count();
    const std::uint64_t size = config_.block_size;
    std::uint64_t lba = start;
    // A fully provisioned LUN (LBPME=0) has every LBA mapped (SBC-3 4.7.2).
    // A thin one answers from the backstore: an LBA is deallocated only when
    // its whole block lies in a hole, and mapped when any byte of it is
    // backed (the state is per block, holes per file system block).
    for (std::size_t probes = 0; lba < count && probes < kMaxProbes; ++probes) {
        std::uint8_t status = kMapped;
        std::uint64_t blocks = count - lba;
        if (thin_provisioned()) {
            const auto extent = backstore_->provisioning_status(lba * size);
            blocks = extent.mapped ? (extent.length_bytes + size - 1) / size : extent.length_bytes / size;
            status = extent.mapped ? kMapped : kDeallocated;
            if (blocks == 0) {  // a hole smaller than the block: the block is (partly) mapped
                blocks = 1;
                status = kMapped;
            }
            blocks = std::min(blocks, count - lba);
        }
        // NUMBER OF LOGICAL BLOCKS is 32 bits: a longer extent takes several descriptors.
        blocks = std::min<std::uint64_t>(blocks, kMaxDescriptorBlocks);
        if (!extents.empty() && extents.back().status == status &&
            extents.back().blocks + blocks <= kMaxDescriptorBlocks) {
            extents.back().blocks += blocks;
        } else {
            if (extents.size() == wanted) break;
            extents.push_back({lba, blocks, status});
        }
        lba += blocks;
    }
    std::vector<std::uint8_t> d(kHeaderBytes + kDescriptorBytes * extents.size(), 0);
    store_be<std::uint32_t>(d, 0, static_cast<std::uint32_t>(d.size() - 4));  // PARAMETER DATA LENGTH (n - 3)
    std::size_t at = kHeaderBytes;
    for (const auto& e : extents) {
        store_be<std::uint64_t>(d, at, e.lba);
        store_be<std::uint32_t>(d, at + 8, static_cast<std::uint32_t>(e.blocks));
        d[at + 12] = e.status;
        at += kDescriptorBytes;
    }
    set_data_in(task, std::move(d), allocation);
}

}  // namespace srp::target
