// How a LUN's data reaches the RDMA device: a pure function of the device's
// on-demand paging capabilities and the backstore kind, so it can be tested
// without hardware. The service logs the choice per device and LUN.
#pragma once

#include "srp_target/backstore/backstore.h"

namespace srp::target {

// The device capabilities the choice depends on (from ibv_query_device_ex).
struct OdpCapabilities {
    bool supported = false;
    bool rc_rdma_read = false;
    bool rc_rdma_write = false;
};

enum class DataPath {
    registered_mapping,  // memory backstore: the mapping pinned and registered, zero copy
    odp_mapping,         // a page-cache file mapping registered with IBV_ACCESS_ON_DEMAND, zero copy
    io_uring_bounce,     // io_uring into the channel's registered bounce memory
};
const char* to_string(DataPath path) noexcept;

struct DataPathChoice {
    DataPath path;
    const char* reason;
};

// is_memory: the backstore is the memory kind; kind: file, block device, anonymous.
DataPathChoice choose_data_path(const OdpCapabilities& odp, bool is_memory, BackstoreKind kind) noexcept;

// The path the daemon runs today: odp_mapping is preferred where possible
// but not implemented yet, so it falls back to io_uring_bounce.
inline DataPath implemented(DataPath preferred) noexcept {
    return preferred == DataPath::odp_mapping ? DataPath::io_uring_bounce : preferred;
}

}  // namespace srp::target
