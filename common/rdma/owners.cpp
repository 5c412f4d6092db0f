#include "common/rdma/owners.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

namespace srp::rdma {

void throw_verb_error(const char* verb, int error_number) {
    throw std::system_error(error_number, std::generic_category(), verb);
}

void log_destroy_failure(const char* verb, int error_number) noexcept {
    try {
        spdlog::error("{} failed: {}", verb, std::strerror(error_number));
    } catch (...) {
    }
}

void EventChannelDeleter::operator()(rdma_event_channel* p) const noexcept { rdma_destroy_event_channel(p); }
void CmIdDeleter::operator()(rdma_cm_id* p) const noexcept {
    if (rdma_destroy_id(p) != 0) log_destroy_failure("rdma_destroy_id", errno);
}
void PdDeleter::operator()(ibv_pd* p) const noexcept {
    if (int rc = ibv_dealloc_pd(p); rc != 0) log_destroy_failure("ibv_dealloc_pd", rc);
}
void CompChannelDeleter::operator()(ibv_comp_channel* p) const noexcept {
    if (int rc = ibv_destroy_comp_channel(p); rc != 0) log_destroy_failure("ibv_destroy_comp_channel", rc);
}
void CqDeleter::operator()(ibv_cq* p) const noexcept {
    if (int rc = ibv_destroy_cq(p); rc != 0) log_destroy_failure("ibv_destroy_cq", rc);
}
void MrDeleter::operator()(ibv_mr* p) const noexcept {
    if (int rc = ibv_dereg_mr(p); rc != 0) log_destroy_failure("ibv_dereg_mr", rc);
}

void MwDeleter::operator()(ibv_mw* p) const noexcept {
    if (int rc = ibv_dealloc_mw(p); rc != 0) log_destroy_failure("ibv_dealloc_mw", rc);
}

QueuePair::QueuePair(rdma_cm_id* id, ibv_pd* pd, ibv_qp_init_attr& attr) {
    if (rdma_create_qp(id, pd, &attr) != 0) throw_verb_error("rdma_create_qp", errno);
    id_ = id;
}

QueuePair::~QueuePair() {
    if (id_ != nullptr) rdma_destroy_qp(id_);
}

QueuePair& QueuePair::operator=(QueuePair&& other) noexcept {
    if (this != &other) {
        if (id_ != nullptr) rdma_destroy_qp(id_);
        id_ = std::exchange(other.id_, nullptr);
    }
    return *this;
}

EventChannel create_event_channel() {
    EventChannel channel(rdma_create_event_channel());
    if (!channel) throw_verb_error("rdma_create_event_channel", errno);
    return channel;
}

CmId create_cm_id(rdma_event_channel* channel, void* context) {
    rdma_cm_id* id = nullptr;
    if (rdma_create_id(channel, &id, context, RDMA_PS_TCP) != 0) throw_verb_error("rdma_create_id", errno);
    return CmId(id);
}

ProtectionDomain alloc_pd(ibv_context* context) {
    ProtectionDomain pd(ibv_alloc_pd(context));
    if (!pd) throw_verb_error("ibv_alloc_pd", errno);
    return pd;
}

CompletionChannel create_comp_channel(ibv_context* context) {
    CompletionChannel channel(ibv_create_comp_channel(context));
    if (!channel) throw_verb_error("ibv_create_comp_channel", errno);
    return channel;
}

CompletionQueue create_cq(ibv_context* context, int entries, ibv_comp_channel* channel, int comp_vector) {
    CompletionQueue cq(ibv_create_cq(context, entries, nullptr, channel, comp_vector));
    if (!cq) throw_verb_error("ibv_create_cq", errno);
    return cq;
}

MemoryRegion reg_mr(ibv_pd* pd, void* address, std::size_t length, int access) {
    MemoryRegion mr(ibv_reg_mr(pd, address, length, access));
    if (!mr) throw_verb_error("ibv_reg_mr", errno);
    return mr;
}

MemoryRegion try_reg_mr(ibv_pd* pd, void* address, std::size_t length, int access) noexcept {
    return MemoryRegion(ibv_reg_mr(pd, address, length, access));
}

MemoryWindow alloc_mw(ibv_pd* pd, ibv_mw_type type) {
    MemoryWindow mw(ibv_alloc_mw(pd, type));
    if (!mw) throw_verb_error("ibv_alloc_mw", errno);
    return mw;
}

rdma_conn_param connection_parameters(ibv_context* context, std::span<const std::uint8_t> private_data) {
    ibv_device_attr attr{};
    ibv_query_device(context, &attr);
    rdma_conn_param param{};
    param.private_data = private_data.data();
    param.private_data_len = static_cast<std::uint8_t>(private_data.size());
    param.responder_resources = static_cast<std::uint8_t>(std::min(attr.max_qp_rd_atom, 255));
    param.initiator_depth = static_cast<std::uint8_t>(std::min(attr.max_qp_init_rd_atom, 255));
    param.flow_control = 1;
    param.retry_count = 7;
    param.rnr_retry_count = 7;
    return param;
}

std::string device_name(ibv_context* context) {
    return context && context->device ? ibv_get_device_name(context->device) : "unknown";
}

}  // namespace srp::rdma
