#include "srp_target/service/data_path_choice.h"

namespace srp::target {

const char* to_string(DataPath path) noexcept {
    switch (path) {
        case DataPath::registered_mapping: return "registered mapping";
        case DataPath::odp_mapping: return "ODP mapping";
        case DataPath::io_uring_bounce: return "io_uring + bounce";
    }
    return "?";
}

DataPathChoice choose_data_path(const OdpCapabilities& odp, bool is_memory, BackstoreKind kind) noexcept {
    // Memory pages (anonymous, tmpfs, hugetlbfs) may be pinned long term.
    if (is_memory) return {DataPath::registered_mapping, "memory backstore: pinned registration is allowed"};
    // A block device's page cache is not where O_DIRECT data lives.
    if (kind == BackstoreKind::block_device) return {DataPath::io_uring_bounce, "block device: O_DIRECT through io_uring"};
    // Page-cache file pages must not be pinned (Linux >= 6.5 refuses writable
    // long-term pins); ODP faults them in per access instead, for both
    // directions of an RC data transfer.
    if (odp.supported && odp.rc_rdma_read && odp.rc_rdma_write)
        return {DataPath::odp_mapping, "the device pages RC RDMA READ and WRITE on demand"};
    if (!odp.supported) return {DataPath::io_uring_bounce, "no on-demand paging on this device"};
    return {DataPath::io_uring_bounce, "on-demand paging lacks RC RDMA READ or WRITE"};
}

}  // namespace srp::target
