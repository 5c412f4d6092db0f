// RAII owners of the rdma-core objects the project uses. This folder is the
// only place that includes <infiniband/verbs.h> and <rdma/rdma_cma.h>.
// Each owner destroys its object exactly once, never throws from a deleter,
// and logs a failed destroy. Creation failures throw std::system_error that
// names the verb and carries errno. Declare members in creation order so the
// implicit destructor tears down in reverse (CQ after QP, PD after MR).
#pragma once

#include <infiniband/verbs.h>
#include <rdma/rdma_cma.h>

#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <system_error>
#include <utility>

namespace srp::rdma {

[[noreturn]] void throw_verb_error(const char* verb, int error_number);
void log_destroy_failure(const char* verb, int error_number) noexcept;

struct EventChannelDeleter { void operator()(rdma_event_channel* p) const noexcept; };
struct CmIdDeleter { void operator()(rdma_cm_id* p) const noexcept; };
struct PdDeleter { void operator()(ibv_pd* p) const noexcept; };
struct CompChannelDeleter { void operator()(ibv_comp_channel* p) const noexcept; };
struct CqDeleter { void operator()(ibv_cq* p) const noexcept; };
struct MrDeleter { void operator()(ibv_mr* p) const noexcept; };
struct MwDeleter { void operator()(ibv_mw* p) const noexcept; };

using EventChannel = std::unique_ptr<rdma_event_channel, EventChannelDeleter>;
using CmId = std::unique_ptr<rdma_cm_id, CmIdDeleter>;
using ProtectionDomain = std::unique_ptr<ibv_pd, PdDeleter>;
using CompletionChannel = std::unique_ptr<ibv_comp_channel, CompChannelDeleter>;
using CompletionQueue = std::unique_ptr<ibv_cq, CqDeleter>;
using MemoryRegion = std::unique_ptr<ibv_mr, MrDeleter>;
// Destroy before the MR it is bound to: rxe refuses to deregister an MR
// that windows still reference.
using MemoryWindow = std::unique_ptr<ibv_mw, MwDeleter>;

// The QP lives inside its cm_id (rdma_create_qp); this owner calls
// rdma_destroy_qp. It must be destroyed before the CQs it uses.
class QueuePair {
public:
    QueuePair() = default;
    QueuePair(rdma_cm_id* id, ibv_pd* pd, ibv_qp_init_attr& attr);
    ~QueuePair();
    QueuePair(QueuePair&& other) noexcept : id_(std::exchange(other.id_, nullptr)) {}
    QueuePair& operator=(QueuePair&& other) noexcept;
    QueuePair(const QueuePair&) = delete;
    QueuePair& operator=(const QueuePair&) = delete;
    ibv_qp* get() const noexcept { return id_ ? id_->qp : nullptr; }

private:
    rdma_cm_id* id_ = nullptr;
};

EventChannel create_event_channel();
CmId create_cm_id(rdma_event_channel* channel, void* context);
ProtectionDomain alloc_pd(ibv_context* context);
CompletionChannel create_comp_channel(ibv_context* context);
CompletionQueue create_cq(ibv_context* context, int entries, ibv_comp_channel* channel, int comp_vector);
MemoryRegion reg_mr(ibv_pd* pd, void* address, std::size_t length, int access);
// Non-throwing variant for registrations that may legitimately fail (a file
// mapping the kernel refuses to pin): returns null and sets errno.
MemoryRegion try_reg_mr(ibv_pd* pd, void* address, std::size_t length, int access) noexcept;

MemoryWindow alloc_mw(ibv_pd* pd, ibv_mw_type type);

// Connection parameters for rdma_accept and rdma_connect: as many RDMA READs
// in flight as the device allows, and "infinite" RNR retries (credits make
// RNR rare; it must never be fatal).
rdma_conn_param connection_parameters(ibv_context* context, std::span<const std::uint8_t> private_data);

// "rxe0" or "mlx5_0".
std::string device_name(ibv_context* context);

}  // namespace srp::rdma
