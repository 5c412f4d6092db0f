// Turns an SRP data buffer (its direct descriptors) and the local memory a
// command uses into RDMA work requests: one request per remote descriptor
// piece, at most max_sge local segments each (SRP r16a 5.8.2 descriptors).
// Storage is reused between commands to keep the data path free of allocations.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "common/fabric/connection.h"
#include "common/wire/iu_parse.h"

namespace srp::target {

class RdmaPlan {
public:
    // Builds ops moving `bytes` between remote and local. Zero-length
    // descriptors are skipped (SRP r16a 5.8.2 allows them). False when the
    // descriptors describe fewer than `bytes`. With bytes == 0 it builds no
    // op: callers must not post such a plan (an empty chain is refused).
    bool build(std::span<const fabric::RemoteSegment> remote, std::span<const fabric::LocalSegment> local,
               std::uint64_t bytes, std::uint32_t max_sge);
    std::span<const fabric::RdmaOp> ops() const noexcept { return ops_; }
    void clear() noexcept;

private:
    std::vector<fabric::LocalSegment> sges_;
    std::vector<std::pair<std::size_t, std::size_t>> ranges_;  // first sge, count per op
    std::vector<fabric::RemoteSegment> remotes_;
    std::vector<fabric::RdmaOp> ops_;
};

// The direct descriptors of a data buffer: from the IU, or from a fetched
// table (whole table, table_count entries).
void collect_remote_segments(const wire::DataBufferView& buffer, std::span<const std::uint8_t> fetched_table,
                             std::vector<fabric::RemoteSegment>& out);

}  // namespace srp::target
