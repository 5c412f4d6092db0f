#include "common/rdma/verbs_fabric.h"

#include <fcntl.h>

#include <cerrno>
#include <utility>
#include <vector>

namespace srp::rdma {
namespace {

// Work requests of a chain other than its last carry this bit: they only
// complete on error, and then the error must be reported once for the chain.
constexpr std::uint64_t kChainMemberBit = 1ull << 63;
// A chain whose post was refused after part of it reached the send queue:
// it was reported flushed once; its posted members complete silently.
constexpr std::uint8_t kChainAbandoned = 0xff;
// rdma_rxe's IEEE OUI placeholder (RXE_VENDOR_ID).
constexpr std::uint32_t kSoftRoceVendorId = 0xFFFFFF;
// Inline room asked for per queue pair: an SRP_RSP with fixed-format sense
// data (36 + 18 bytes, SRP r16a 6.9) and an SRP_CMD with one direct
// descriptor (48 + 16 bytes, 6.8) fit; longer IUs go by reference.
constexpr std::uint32_t kInlineSendBytes = 64;

fabric::CompletionStatus map_status(ibv_wc_status status) {
    switch (status) {
        case IBV_WC_SUCCESS: return fabric::CompletionStatus::success;
        case IBV_WC_WR_FLUSH_ERR: return fabric::CompletionStatus::flushed;
        case IBV_WC_REM_ACCESS_ERR: return fabric::CompletionStatus::remote_access_error;
        case IBV_WC_REM_OP_ERR:
        case IBV_WC_REM_INV_REQ_ERR: return fabric::CompletionStatus::remote_operation_error;
        case IBV_WC_RETRY_EXC_ERR:
        case IBV_WC_RNR_RETRY_EXC_ERR: return fabric::CompletionStatus::transport_error;
        default: return fabric::CompletionStatus::local_error;
    }
}

fabric::WorkKind map_kind(ibv_wc_opcode opcode) {
    switch (opcode) {
        case IBV_WC_RECV: return fabric::WorkKind::receive;
        case IBV_WC_RDMA_READ: return fabric::WorkKind::rdma_read;
        case IBV_WC_RDMA_WRITE: return fabric::WorkKind::rdma_write;
        case IBV_WC_LOCAL_INV: return fabric::WorkKind::invalidate;
        default: return fabric::WorkKind::send;
    }
}

}  // namespace

class VerbsRegistration : public fabric::Registration {
public:
    VerbsRegistration(MemoryRegion mr, std::span<std::uint8_t> bytes) : mr_(std::move(mr)), bytes_(bytes) {}
    std::uint32_t lkey() const noexcept override { return mr_->lkey; }
    std::uint32_t rkey() const noexcept override { return mr_->rkey; }
    std::span<std::uint8_t> bytes() const noexcept override { return bytes_; }
    ibv_mr* mr() const noexcept { return mr_.get(); }

private:
    MemoryRegion mr_;
    std::span<std::uint8_t> bytes_;
};

class VerbsWindow : public fabric::Window {
public:
    explicit VerbsWindow(MemoryWindow mw) : mw_(std::move(mw)) {}
    // ibv_inc_rkey: a new key byte per bind (IBTA 10.6.7.2.1, the consumer
    // owns the key of a type-2 window).
    std::uint32_t next_rkey() const noexcept override { return ibv_inc_rkey(mw_->rkey); }
    ibv_mw* mw() const noexcept { return mw_.get(); }

private:
    MemoryWindow mw_;
};

VerbsDomain::VerbsDomain(ibv_context* context) : context_(context), pd_(alloc_pd(context)) {
    ibv_device_attr attr{};
    if (ibv_query_device(context, &attr) != 0) return;
    // Type 2A or 2B: both are bound with IBV_WR_BIND_MW on the send queue.
    const bool has = (attr.device_cap_flags & (IBV_DEVICE_MEM_WINDOW_TYPE_2A | IBV_DEVICE_MEM_WINDOW_TYPE_2B)) != 0;
    // Soft-RoCE (rdma_rxe, vendor id 0xFFFFFF) has them but cannot keep them
    // working: when it retries its send queue (after an RNR NAK or a
    // retransmission timeout) it walks again over binds it already executed
    // and not yet retired, and the queue pair fails (a bind error, or all
    // flushed) or stalls. Windows bound per command always have such binds
    // queued behind unacknowledged SENDs. Seen on Debian 12's 6.1 kernel;
    // the pool's rkey does not depend on it.
    if (has && attr.vendor_id == kSoftRoceVendorId)
        withheld_ = "soft-RoCE (rxe) fails the queue pair when it retries a send queue holding window binds";
    windows_ = has && withheld_.empty();
}

std::expected<std::unique_ptr<fabric::Registration>, std::error_code> VerbsDomain::register_for_windows(
    std::span<std::uint8_t> memory) {
    // No remote access under the MR's own rkey: only windows expose it.
    // LOCAL_WRITE: RDMA READ lands here, and a window granting remote write
    // needs it on its MR (IBTA C10-75).
    auto mr = try_reg_mr(pd_.get(), memory.data(), memory.size(), IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_MW_BIND);
    if (!mr) return std::unexpected(std::error_code(errno, std::generic_category()));
    return std::make_unique<VerbsRegistration>(std::move(mr), memory);
}

std::expected<std::unique_ptr<fabric::Window>, std::error_code> VerbsDomain::allocate_window() {
    MemoryWindow mw(ibv_alloc_mw(pd_.get(), IBV_MW_TYPE_2));
    if (!mw) return std::unexpected(std::error_code(errno, std::generic_category()));
    return std::make_unique<VerbsWindow>(std::move(mw));
}

std::expected<std::unique_ptr<fabric::Registration>, std::error_code> VerbsDomain::register_memory(
    std::span<std::uint8_t> memory, bool remote_access) {
    // RDMA READ writes into local memory, so LOCAL_WRITE is always needed.
    int access = IBV_ACCESS_LOCAL_WRITE;
    if (remote_access) access |= IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_WRITE;
    auto mr = try_reg_mr(pd_.get(), memory.data(), memory.size(), access);
    if (!mr) return std::unexpected(std::error_code(errno, std::generic_category()));
    return std::make_unique<VerbsRegistration>(std::move(mr), memory);
}

VerbsNotifier::VerbsNotifier(ibv_context* context) : channel_(create_comp_channel(context)) {
    const int flags = ::fcntl(channel_->fd, F_GETFL);
    if (flags < 0 || ::fcntl(channel_->fd, F_SETFL, flags | O_NONBLOCK) != 0) throw_verb_error("fcntl", errno);
}

void VerbsNotifier::consume() noexcept {
    ibv_cq* cq = nullptr;
    void* context = nullptr;
    // One event per call: each read is a system call, and reading on until
    // EAGAIN costs one more on every wake-up. Another pending event keeps
    // the descriptor readable, so the owner's next poll() returns at once.
    if (ibv_get_cq_event(channel_.get(), &cq, &context) == 0) {
        ibv_ack_cq_events(cq, 1);
        // The notification fired: the CQ must be armed again before sleeping.
        if (context != nullptr) static_cast<VerbsConnection*>(context)->on_cq_event(cq);
    }
}

VerbsConnection::VerbsConnection(CmId id, VerbsDomain& domain, VerbsNotifier& notifier, QueueDepths depths)
    : VerbsConnection(BorrowedCmId{id.get()}, domain, notifier, depths) {
    id_ = std::move(id);
}

VerbsConnection::VerbsConnection(BorrowedCmId id, VerbsDomain& domain, VerbsNotifier& notifier, QueueDepths depths)
    : cm_id_(id.id) {
    ibv_device_attr attr{};
    if (int rc = ibv_query_device(domain.context(), &attr); rc != 0) throw_verb_error("ibv_query_device", rc);
    max_sge_ = std::min<std::uint32_t>(depths.max_sge, static_cast<std::uint32_t>(std::min(attr.max_sge, attr.max_sge_rd)));
    send_depth_ = std::min<std::uint32_t>(depths.send, static_cast<std::uint32_t>(attr.max_qp_wr));
    const std::uint32_t receive_depth = std::min<std::uint32_t>(depths.receive, static_cast<std::uint32_t>(attr.max_qp_wr));
    if (depths.separate_send_cq) {
        send_cq_ =
            create_cq(domain.context(), std::min(static_cast<int>(send_depth_), attr.max_cqe), notifier.channel(), 0);
        send_cq_->cq_context = this;  // lets the notifier tell which connection's CQ fired
    }
    const std::uint32_t shared = depths.separate_send_cq ? 0 : send_depth_;
    receive_cq_ = create_cq(domain.context(), std::min(static_cast<int>(receive_depth + shared), attr.max_cqe),
                            notifier.channel(), 0);
    receive_cq_->cq_context = this;
    ibv_qp_init_attr qp_attr{};
    qp_attr.send_cq = send_cq();
    qp_attr.recv_cq = receive_cq_.get();
    qp_attr.qp_type = IBV_QPT_RC;
    qp_attr.cap.max_send_wr = depths.test_only_qp_send_wr != 0 ? depths.test_only_qp_send_wr : send_depth_;
    qp_attr.cap.max_recv_wr = receive_depth;
    qp_attr.cap.max_send_sge = max_sge_;
    qp_attr.cap.max_recv_sge = 1;
    qp_attr.sq_sig_all = 0;
    qp_attr.cap.max_inline_data = depths.test_only_inline_bytes != 0 ? depths.test_only_inline_bytes : kInlineSendBytes;
    try {
        qp_ = QueuePair(cm_id_, domain.pd(), qp_attr);
    } catch (const std::system_error&) {
        // A device with no (or less) inline room: the same queue pair without it.
        qp_attr.cap.max_inline_data = 0;
        qp_ = QueuePair(cm_id_, domain.pd(), qp_attr);
    }
    max_inline_ = qp_attr.cap.max_inline_data;  // what the provider granted (rdma_create_qp updates cap)
    request_notification(fabric::WakeOn::everything);
}

VerbsConnection::~VerbsConnection() = default;

fabric::PostResult VerbsConnection::post_receive(std::uint64_t wr_id, fabric::LocalSegment buffer) {
    ibv_sge sge{reinterpret_cast<std::uintptr_t>(buffer.address), buffer.length, buffer.lkey};
    ibv_recv_wr wr{};
    wr.wr_id = wr_id;
    wr.sg_list = &sge;
    wr.num_sge = 1;
    ibv_recv_wr* bad = nullptr;
    if (ibv_post_recv(qp_.get(), &wr, &bad) != 0) return std::unexpected(fabric::PostError::disconnected);
    return {};
}

fabric::PostResult VerbsConnection::post_send(std::uint64_t wr_id, fabric::LocalSegment iu) {
    return post_chain(wr_id, {}, IBV_WR_SEND, ChainEnd{.send = &iu, .bind = nullptr, .invalidate_rkey = std::nullopt});
}

fabric::PostResult VerbsConnection::post_rdma_read(std::uint64_t wr_id, std::span<const fabric::RdmaOp> ops) {
    return post_chain(wr_id, ops, IBV_WR_RDMA_READ, ChainEnd{});
}

fabric::PostResult VerbsConnection::post_rdma_write_then_send(std::uint64_t wr_id, std::span<const fabric::RdmaOp> ops,
                                                              fabric::LocalSegment iu) {
    return post_chain(wr_id, ops, IBV_WR_RDMA_WRITE, ChainEnd{.send = &iu, .bind = nullptr, .invalidate_rkey = std::nullopt});
}

fabric::PostResult VerbsConnection::post_bind_then_send(std::uint64_t wr_id, const fabric::WindowBind& bind,
                                                        fabric::LocalSegment iu) {
    return post_chain(wr_id, {}, IBV_WR_SEND, ChainEnd{.send = &iu, .bind = &bind, .invalidate_rkey = std::nullopt});
}

fabric::PostResult VerbsConnection::post_invalidate(std::uint64_t wr_id, fabric::Window& window) {
    return post_chain(wr_id, {}, IBV_WR_LOCAL_INV,
                      ChainEnd{.send = nullptr, .bind = nullptr, .invalidate_rkey = static_cast<VerbsWindow&>(window).mw()->rkey});
}

fabric::PostResult VerbsConnection::post_chain(std::uint64_t wr_id, std::span<const fabric::RdmaOp> ops,
                                               ibv_wr_opcode opcode, const ChainEnd& parts) {
    const fabric::LocalSegment* send = parts.send;
    const std::uint32_t count = static_cast<std::uint32_t>(ops.size()) + (send ? 1 : 0) + (parts.bind ? 1 : 0) +
                                (parts.invalidate_rkey ? 1 : 0);
    // A chain of nothing would never complete and its caller would wait forever.
    if (count == 0) return std::unexpected(fabric::PostError::empty_chain);
    if (broken_) return std::unexpected(fabric::PostError::disconnected);
    if (wr_id >= kMaxChainWrId) return std::unexpected(fabric::PostError::too_many_segments);
    if (send_outstanding_ + count > send_depth_) return std::unexpected(fabric::PostError::queue_full);
    for (const auto& op : ops)
        if (op.local.size() > max_sge_) return std::unexpected(fabric::PostError::too_many_segments);
    // Queue the chain; pointers are fixed up when it is posted (the vectors may grow).
    if (parts.bind) {
        // Unsignaled, like every chain member but the last: a failed bind
        // is reported with the chain's end (flushed behind it).
        const auto& window = static_cast<const VerbsWindow&>(*parts.bind->window);
        const auto& registration = static_cast<const VerbsRegistration&>(*parts.bind->registration);
        ibv_send_wr wr{};
        wr.wr_id = wr_id | kChainMemberBit;
        wr.opcode = IBV_WR_BIND_MW;
        wr.bind_mw.mw = window.mw();
        wr.bind_mw.rkey = window.next_rkey();
        wr.bind_mw.bind_info.mr = registration.mr();
        wr.bind_mw.bind_info.addr = reinterpret_cast<std::uintptr_t>(parts.bind->range.data());
        wr.bind_mw.bind_info.length = parts.bind->range.size();
        wr.bind_mw.bind_info.mw_access_flags = parts.bind->access == fabric::WindowAccess::remote_write
                                                   ? IBV_ACCESS_REMOTE_WRITE
                                                   : IBV_ACCESS_REMOTE_READ;
        pending_rkeys_.push_back(PendingRkey{pending_wrs_.size(), window.mw(), wr.bind_mw.rkey});
        pending_first_sge_.push_back(pending_sges_.size());
        pending_wrs_.push_back(wr);
    }
    for (std::size_t i = 0; i < ops.size(); ++i) {
        ibv_send_wr wr{};
        wr.wr_id = wr_id | kChainMemberBit;
        wr.opcode = opcode;
        wr.num_sge = static_cast<int>(ops[i].local.size());
        wr.wr.rdma.remote_addr = ops[i].remote.address;
        wr.wr.rdma.rkey = ops[i].remote.rkey;
        pending_first_sge_.push_back(pending_sges_.size());
        for (const auto& local : ops[i].local)
            pending_sges_.push_back(ibv_sge{reinterpret_cast<std::uintptr_t>(local.address), local.length, local.lkey});
        pending_wrs_.push_back(wr);
    }
    if (send) {
        ibv_send_wr wr{};
        wr.opcode = IBV_WR_SEND;
        wr.num_sge = 1;
        if (max_inline_ != 0 && send->length <= max_inline_) wr.send_flags = IBV_SEND_INLINE;
        pending_first_sge_.push_back(pending_sges_.size());
        pending_sges_.push_back(ibv_sge{reinterpret_cast<std::uintptr_t>(send->address), send->length, send->lkey});
        pending_wrs_.push_back(wr);
    }
    if (parts.invalidate_rkey) {
        ibv_send_wr wr{};
        wr.opcode = IBV_WR_LOCAL_INV;
        wr.invalidate_rkey = *parts.invalidate_rkey;
        pending_first_sge_.push_back(pending_sges_.size());
        pending_wrs_.push_back(wr);
    }
    pending_wrs_.back().wr_id = wr_id;
    pending_wrs_.back().send_flags |= IBV_SEND_SIGNALED;  // one completion retires the whole chain
    send_outstanding_ += count;
    if (wr_id >= chain_lengths_.size()) {
        chain_lengths_.resize(wr_id + 1, 0);
        chain_failed_.resize(wr_id + 1, 0);
        // A refused post reports its chains as flushed from end_batch(),
        // which must not throw. Owners reuse a wr_id only after its
        // completion, so at most one report per wr_id waits in synthetic_.
        synthetic_.reserve(chain_lengths_.size());
    }
    chain_lengths_[wr_id] = count;
    chain_failed_[wr_id] = 0;
    if (batch_depth_ == 0) flush_pending();
    return {};
}

void VerbsConnection::end_batch() noexcept {
    if (batch_depth_ > 0 && --batch_depth_ > 0) return;
    flush_pending();
}

void VerbsConnection::flush_pending() {
    if (pending_wrs_.empty()) return;
    for (std::size_t i = 0; i < pending_wrs_.size(); ++i) {
        pending_wrs_[i].sg_list = pending_wrs_[i].num_sge != 0 ? &pending_sges_[pending_first_sge_[i]] : nullptr;
        pending_wrs_[i].next = i + 1 < pending_wrs_.size() ? &pending_wrs_[i + 1] : nullptr;
    }
    ibv_send_wr* bad = nullptr;
    const int rc = ibv_post_send(qp_.get(), pending_wrs_.data(), &bad);
    // The binds that reached the send queue carry their new keys from now on.
    for (const auto& p : pending_rkeys_)
        if (rc == 0 || (bad != nullptr && p.wr < static_cast<std::size_t>(bad - pending_wrs_.data()))) p.mw->rkey = p.rkey;
    pending_rkeys_.clear();
    if (rc != 0) {
        // Work requests from the first refused one on never reach the wire.
        // Report each affected chain as flushed, exactly once, as a QP in
        // error would. A chain cut in two had its prefix posted: that prefix
        // may still complete (silently), so the chain is abandoned, the QP
        // moved to error and nothing more is posted on this connection.
        const std::size_t first_bad = bad ? static_cast<std::size_t>(bad - pending_wrs_.data()) : 0;
        bool cut = false;
        std::size_t chain_start = 0;
        for (std::size_t i = 0; i < pending_wrs_.size(); ++i) {
            if (!(pending_wrs_[i].send_flags & IBV_SEND_SIGNALED)) continue;
            const std::size_t chain_end = i;
            const std::size_t start = std::exchange(chain_start, i + 1);
            if (chain_end < first_bad) continue;  // wholly posted: completes normally
            const std::uint64_t id = pending_wrs_[i].wr_id;
            send_outstanding_ -= chain_lengths_[id];
            chain_lengths_[id] = 0;
            if (start < first_bad) {
                chain_failed_[id] = kChainAbandoned;
                cut = true;
            }
            synthetic_.push_back(fabric::Completion{id, fabric::WorkKind::send, fabric::CompletionStatus::flushed, 0});
        }
        if (cut) {
            broken_ = true;
            disconnect();
        }
    }
    pending_wrs_.clear();
    pending_first_sge_.clear();
    pending_sges_.clear();
}

std::size_t VerbsConnection::poll(std::span<fabric::Completion> out) {
    std::size_t produced = 0;
    while (produced < out.size() && !synthetic_.empty()) {
        out[produced++] = synthetic_.back();
        synthetic_.pop_back();
    }
    // Send-side first: a finished response frees the context a new command may need.
    produced += poll_sends(out.subspan(produced));
    if (send_cq_) produced += poll_receives(out.subspan(produced));
    return produced;
}

std::size_t VerbsConnection::poll_receives(std::span<fabric::Completion> out) {
    std::size_t produced = 0;
    ibv_wc wc[16];
    while (produced < out.size()) {
        const int want = static_cast<int>(std::min<std::size_t>(16, out.size() - produced));
        const int n = ibv_poll_cq(receive_cq_.get(), want, wc);
        if (n <= 0) break;
        // The opcode of an error completion is undefined; the CQ says what it was.
        for (int i = 0; i < n; ++i)
            out[produced++] = fabric::Completion{wc[i].wr_id, fabric::WorkKind::receive, map_status(wc[i].status),
                                                 wc[i].byte_len};
    }
    return produced;
}

std::size_t VerbsConnection::poll_sends(std::span<fabric::Completion> out) {
    std::size_t produced = 0;
    ibv_wc wc[16];
    auto outstanding_chain = [&](std::uint64_t id) { return id < chain_lengths_.size() && chain_lengths_[id] != 0; };
    while (produced < out.size()) {
        const int want = static_cast<int>(std::min<std::size_t>(16, out.size() - produced));
        const int n = ibv_poll_cq(send_cq(), want, wc);
        if (n <= 0) break;
        for (int i = 0; i < n; ++i) {
            const bool member = wc[i].wr_id & kChainMemberBit;
            const std::uint64_t id = wc[i].wr_id & ~kChainMemberBit;
            fabric::Completion c{id, map_kind(wc[i].opcode), map_status(wc[i].status), wc[i].byte_len};
            if (!send_cq_) {  // one shared CQ: receives arrive here too
                // The opcode of an error completion is undefined: tell receives
                // from chains by the wr_id (chain members carry a bit of their own).
                const bool is_receive = wc[i].status == IBV_WC_SUCCESS ? c.kind == fabric::WorkKind::receive
                                                                       : !member && !outstanding_chain(id);
                if (is_receive) {
                    c.kind = fabric::WorkKind::receive;
                    out[produced++] = c;
                    continue;
                }
            }
            if (wc[i].status != IBV_WC_SUCCESS) c.kind = fabric::WorkKind::send;  // the opcode is undefined
            if (member) {
                // An error in the middle of a chain: remember the first one.
                // The chain's signaled end still completes (flushed, since the
                // QP is now in error) and reports the chain once, so the
                // owner never reuses its wr_id while work of it is queued.
                if (id < chain_failed_.size() && chain_failed_[id] == 0)
                    chain_failed_[id] = static_cast<std::uint8_t>(1 + static_cast<int>(c.status));
                continue;
            }
            // The signaled end of a chain retires all its work requests and
            // reports the chain (with its first member's error, if any). An
            // end whose chain is no longer tracked (its owner reused the
            // wr_id too early) is still reported, as it always was.
            if (outstanding_chain(id)) {
                send_outstanding_ -= chain_lengths_[id];
                chain_lengths_[id] = 0;
                if (chain_failed_[id] != 0 && chain_failed_[id] != kChainAbandoned)
                    c.status = static_cast<fabric::CompletionStatus>(chain_failed_[id] - 1);
                chain_failed_[id] = 0;
            }
            out[produced++] = c;
        }
    }
    return produced;
}

void VerbsConnection::on_cq_event(ibv_cq* cq) noexcept {
    if (send_cq_ && cq == send_cq_.get()) send_armed_ = false;
    else receive_armed_ = false;
}

void VerbsConnection::request_notification(fabric::WakeOn wake_on) {
    // Arming is a system call on most providers: only when the last one fired.
    if (!receive_armed_ && ibv_req_notify_cq(receive_cq_.get(), 0) == 0) receive_armed_ = true;
    // Left unarmed, the send CQ stays silent. Arming later fires only for
    // newer completions: the owner's poll after arming finds the queued ones.
    if (send_cq_ && wake_on == fabric::WakeOn::everything && !send_armed_ &&
        ibv_req_notify_cq(send_cq_.get(), 0) == 0)
        send_armed_ = true;
}

void VerbsConnection::disconnect() {
    if (disconnected_) return;
    disconnected_ = true;
    // rdma_disconnect moves the QP to error, so everything posted completes flushed.
    rdma_disconnect(cm_id_);
}

}  // namespace srp::rdma
