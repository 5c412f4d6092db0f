// The verbs implementation of the fabric seam: a memory domain over a PD,
// a Notifier over a completion channel, and a Connection over an RC QP that
// belongs to an rdma_cm_id. Thread: see fabric/connection.h.
#pragma once

#include <optional>
#include <utility>
#include <vector>

#include "common/fabric/connection.h"
#include "common/rdma/owners.h"

namespace srp::rdma {

class VerbsDomain : public fabric::MemoryDomain {
public:
    explicit VerbsDomain(ibv_context* context);
    std::expected<std::unique_ptr<fabric::Registration>, std::error_code> register_memory(
        std::span<std::uint8_t> memory, bool remote_access) override;
    bool supports_windows() const noexcept override { return windows_; }
    std::string_view windows_withheld() const noexcept override { return withheld_; }
    std::expected<std::unique_ptr<fabric::Registration>, std::error_code> register_for_windows(
        std::span<std::uint8_t> memory) override;
    std::expected<std::unique_ptr<fabric::Window>, std::error_code> allocate_window() override;
    ibv_pd* pd() const noexcept { return pd_.get(); }
    ibv_context* context() const noexcept { return context_; }

private:
    ibv_context* context_;
    ProtectionDomain pd_;
    bool windows_ = false;  // the device binds type-2 windows through the send queue
    std::string_view withheld_;
};

class VerbsNotifier : public fabric::Notifier {
public:
    explicit VerbsNotifier(ibv_context* context);
    int fd() const noexcept override { return channel_->fd; }
    void consume() noexcept override;
    ibv_comp_channel* channel() const noexcept { return channel_.get(); }

private:
    CompletionChannel channel_;
};

struct QueueDepths {
    std::uint32_t receive = 128;  // = SRP credits
    std::uint32_t send = 512;     // RDMA work requests and responses in flight
    std::uint32_t max_sge = 16;
    // Tests only (the fabric conformance suite): when nonzero, the QP's send
    // queue is created this small while the connection still accounts for
    // `send` work requests, so the provider refuses a long post part-way.
    std::uint32_t test_only_qp_send_wr = 0;
    // Tests only: when nonzero, the inline room asked for (instead of what
    // the connection wants), e.g. more than any device grants, to drive the
    // fallback to a queue pair without inline sends.
    std::uint32_t test_only_inline_bytes = 0;
    // The send queue gets a CQ of its own, so that WakeOn::receives can
    // leave send-side completions silent (the target). With one shared CQ
    // (the initiator, which always waits for everything) a sleep arms one
    // CQ, not two, and WakeOn::receives wakes on everything.
    bool separate_send_cq = false;
};

class VerbsConnection : public fabric::Connection {
public:
    // wr_ids of send chains must be below this (they index small tables).
    static constexpr std::uint64_t kMaxChainWrId = 1u << 20;
    // Creates the CQ (on notifier's channel) and the RC QP on id.
    // Owns the cm_id from the start (the initiator's connect path).
    VerbsConnection(CmId id, VerbsDomain& domain, VerbsNotifier& notifier, QueueDepths depths);
    // Borrows the cm_id of a connect request that is not accepted yet: if
    // anything fails before the accept, the request still owns it and can
    // reject on it. adopt_cm_id() moves ownership once the accept succeeded.
    struct BorrowedCmId {
        rdma_cm_id* id;
    };
    VerbsConnection(BorrowedCmId id, VerbsDomain& domain, VerbsNotifier& notifier, QueueDepths depths);
    void adopt_cm_id(CmId id) noexcept { id_ = std::move(id); }
    ~VerbsConnection() override;

    fabric::PostResult post_receive(std::uint64_t wr_id, fabric::LocalSegment buffer) override;
    fabric::PostResult post_send(std::uint64_t wr_id, fabric::LocalSegment iu) override;
    fabric::PostResult post_rdma_read(std::uint64_t wr_id, std::span<const fabric::RdmaOp> ops) override;
    fabric::PostResult post_rdma_write_then_send(std::uint64_t wr_id, std::span<const fabric::RdmaOp> ops,
                                                 fabric::LocalSegment iu) override;
    fabric::PostResult post_bind_then_send(std::uint64_t wr_id, const fabric::WindowBind& bind,
                                           fabric::LocalSegment iu) override;
    fabric::PostResult post_invalidate(std::uint64_t wr_id, fabric::Window& window) override;
    std::size_t poll(std::span<fabric::Completion> out) override;
    void request_notification(fabric::WakeOn wake_on) override;
    void disconnect() override;
    void begin_batch() override { ++batch_depth_; }
    void end_batch() noexcept override;
    std::uint32_t max_send_sge() const noexcept override { return max_sge_; }
    // SENDs up to this many bytes are posted inline (0: the device gave no room).
    std::uint32_t max_inline_send() const noexcept { return max_inline_; }
    std::uint32_t max_rdma_read_sge() const noexcept override { return max_sge_; }

    rdma_cm_id* cm_id() const noexcept { return cm_id_; }

private:
    // A chain: an optional window bind, RDMA ops of one opcode, an optional
    // SEND or a local invalidate (invalidate_rkey) at its end.
    struct ChainEnd {
        const fabric::LocalSegment* send = nullptr;
        const fabric::WindowBind* bind = nullptr;
        std::optional<std::uint32_t> invalidate_rkey;
    };
    fabric::PostResult post_chain(std::uint64_t wr_id, std::span<const fabric::RdmaOp> ops, ibv_wr_opcode opcode,
                                  const ChainEnd& parts);
    void flush_pending();

    void on_cq_event(ibv_cq* cq) noexcept;
    // Send-side completions of send_cq() (with one shared CQ, receives too).
    std::size_t poll_sends(std::span<fabric::Completion> out);
    std::size_t poll_receives(std::span<fabric::Completion> out);

    // Members in creation order: destroyed QP first, then the CQs, then the cm_id.
    CmId id_;  // empty while borrowed; declared first so the QP and CQs go before it
    rdma_cm_id* cm_id_;
    // Two CQs on one completion channel, so that send-side completions can
    // be left silent (WakeOn::receives) while receives still wake the owner.
    CompletionQueue send_cq_;  // empty: the send queue shares receive_cq_
    CompletionQueue receive_cq_;
    ibv_cq* send_cq() const noexcept { return send_cq_ ? send_cq_.get() : receive_cq_.get(); }
    QueuePair qp_;
    std::uint32_t max_sge_;
    // SENDs up to this many bytes go inline (IBV_SEND_INLINE): the provider
    // copies them into the work request, so the device does not fetch them
    // (one DMA read less per SRP_RSP or SRP_CMD). 0 when the device refused.
    std::uint32_t max_inline_ = 0;
    std::uint32_t send_depth_;
    std::uint32_t send_outstanding_ = 0;
    // Per chain, indexed by its wr_id (callers use small request indices):
    // how many WRs its signaled completion retires, and whether an error was
    // already reported. 0 = no chain outstanding under that wr_id.
    std::vector<std::uint32_t> chain_lengths_;
    // Per chain: 0, or 1 + the status of its first failed member (reported
    // when the chain's signaled end completes), or kChainAbandoned.
    std::vector<std::uint8_t> chain_failed_;
    // Work requests queued for one ibv_post_send (all of them while batching).
    std::vector<ibv_send_wr> pending_wrs_;
    std::vector<std::size_t> pending_first_sge_;  // index into pending_sges_ per WR
    std::vector<ibv_sge> pending_sges_;
    // Type-2 binds queued: the provider reads the window's current rkey when
    // the bind is posted, so the window takes its new key only afterwards.
    struct PendingRkey {
        std::size_t wr;  // index in pending_wrs_
        ibv_mw* mw;
        std::uint32_t rkey;
    };
    std::vector<PendingRkey> pending_rkeys_;
    std::vector<fabric::Completion> synthetic_;   // chains whose post failed: reported as flushed
    std::uint32_t batch_depth_ = 0;  // nested begin_batch() calls; posts wait while > 0
    // A CQ notification is requested and not yet delivered (arming is a system call).
    bool send_armed_ = false;
    bool receive_armed_ = false;
    bool disconnected_ = false;
    bool broken_ = false;  // a post was refused part-way: nothing more is posted
    friend class VerbsNotifier;
};

}  // namespace srp::rdma
