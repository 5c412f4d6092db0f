#include "srp_target/srp/rdma_plan.h"

#include <algorithm>

namespace srp::target {

void RdmaPlan::clear() noexcept {
    sges_.clear();
    ranges_.clear();
    remotes_.clear();
    ops_.clear();
}

bool RdmaPlan::build(std::span<const fabric::RemoteSegment> remote, std::span<const fabric::LocalSegment> local,
                     std::uint64_t bytes, std::uint32_t max_sge) {
    clear();
    std::size_t local_index = 0;
    std::uint64_t local_offset = 0;  // into local[local_index]
    std::uint64_t remaining = bytes;
    for (const auto& descriptor : remote) {
        if (remaining == 0) break;
        std::uint64_t remote_offset = 0;
        std::uint64_t remote_left = std::min<std::uint64_t>(descriptor.length, remaining);
        while (remote_left > 0) {
            // One work request: this remote piece, up to max_sge local segments.
            const std::size_t first = sges_.size();
            std::uint64_t op_bytes = 0;
            while (remote_left > 0 && sges_.size() - first < max_sge) {
                if (local_index >= local.size()) return false;
                const auto& seg = local[local_index];
                const std::uint64_t n = std::min<std::uint64_t>(seg.length - local_offset, remote_left);
                sges_.push_back(fabric::LocalSegment{seg.address + local_offset, static_cast<std::uint32_t>(n), seg.lkey});
                local_offset += n;
                remote_left -= n;
                op_bytes += n;
                if (local_offset == seg.length) {
                    ++local_index;
                    local_offset = 0;
                }
            }
            remotes_.push_back(fabric::RemoteSegment{descriptor.address + remote_offset, descriptor.rkey,
                                                     static_cast<std::uint32_t>(op_bytes)});
            ranges_.emplace_back(first, sges_.size() - first);
            remote_offset += op_bytes;
            remaining -= op_bytes;
        }
    }
    if (remaining != 0) return false;
    // sges_ is final now: the spans stay valid until the next build/clear.
    for (std::size_t i = 0; i < ranges_.size(); ++i)
        ops_.push_back(fabric::RdmaOp{remotes_[i], std::span<const fabric::LocalSegment>(sges_).subspan(
                                                      ranges_[i].first, ranges_[i].second)});
    return true;
}

void collect_remote_segments(const wire::DataBufferView& buffer, std::span<const std::uint8_t> fetched_table,
                             std::vector<fabric::RemoteSegment>& out) {
    out.clear();
    const bool from_table = buffer.table_is_partial();
    const std::size_t count = from_table ? buffer.table_count : buffer.count_in_iu();
    for (std::size_t i = 0; i < count; ++i) {
        const auto d = from_table ? wire::descriptor_at(fetched_table, i) : buffer.descriptor(i);
        out.push_back(fabric::RemoteSegment{d.va.value(), d.key.value(), d.len.value()});
    }
}

}  // namespace srp::target
