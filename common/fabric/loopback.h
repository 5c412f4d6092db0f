// In-memory fabric for fast tests of whole SRP exchanges: two connected
// endpoints in one process, RDMA resolved through a domain's registrations,
// and fault injection (disconnect, remote access error, held completions).
// Thread safety: both ends of a pair may be driven from different threads.
#pragma once

#include <sys/eventfd.h>

#include <atomic>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

#include "common/fabric/connection.h"

namespace srp::fabric {

class LoopbackDomain : public MemoryDomain, public std::enable_shared_from_this<LoopbackDomain> {
public:
    std::expected<std::unique_ptr<Registration>, std::error_code> register_memory(std::span<std::uint8_t> memory,
                                                                                  bool remote_access) override;
    // Resolves a remote access (an RDMA WRITE when write, else a READ): the
    // bytes, or nullopt for a bad rkey or range, or a window that is not
    // bound, bound elsewhere or bound without that access.
    std::optional<std::span<std::uint8_t>> resolve(const RemoteSegment& remote, bool write) const;
    std::size_t registration_count() const;
    // Type-2 windows, modelled as a verbs device has them: a bind gives the
    // window a new key byte, an invalidate leaves it unbound (IBTA 10.6.7.2).
    bool supports_windows() const noexcept override;
    // Tests: a device without windows (the initiator falls back to one rkey).
    void set_windows_supported(bool supported);
    std::expected<std::unique_ptr<Registration>, std::error_code> register_for_windows(
        std::span<std::uint8_t> memory) override;
    std::expected<std::unique_ptr<Window>, std::error_code> allocate_window() override;
    std::size_t bound_windows() const;
    // Fault injection: after `successes` more registrations, every one fails
    // with ENOMEM (as ibv_reg_mr does when pinned memory runs out); nullopt
    // stops failing.
    void fail_registrations_after(std::optional<std::size_t> successes);

private:
    friend class LoopbackRegistration;
    friend class LoopbackWindow;
    friend class LoopbackConnection;
    std::optional<std::size_t> fail_after_;
    struct Region {
        std::span<std::uint8_t> bytes;
        bool remote_access;
        bool window_bind = false;  // register_for_windows
    };
    struct WindowState {
        std::uint32_t rkey = 0;
        bool bound = false;
        std::span<std::uint8_t> range;
        WindowAccess access = WindowAccess::remote_read;
    };
    void unregister(std::uint32_t key);
    std::uint32_t window_rkey(std::uint32_t index) const;
    // A bind as the device checks it: the registration allows binds, the
    // range lies inside it, the window is not bound already (type 2).
    bool bind_window(std::uint32_t index, const WindowBind& bind);
    void invalidate_window(std::uint32_t index);
    void release_window(std::uint32_t index);
    std::optional<std::span<std::uint8_t>> resolve_window(const RemoteSegment& remote, bool write) const;
    mutable std::mutex mutex_;
    std::map<std::uint32_t, Region> regions_;
    std::map<std::uint32_t, WindowState> windows_;  // by index (rkey bits 8..30)
    std::uint32_t next_key_ = 0x1000;
    std::uint32_t next_window_ = 1;
    bool windows_supported_ = true;
};

class LoopbackNotifier : public Notifier {
public:
    LoopbackNotifier();
    ~LoopbackNotifier() override;
    int fd() const noexcept override { return fd_; }
    void consume() noexcept override;
    void wake() noexcept;

private:
    int fd_;
};

class LoopbackConnection;
struct LoopbackFaults {
    std::optional<CompletionStatus> next_rdma_status;  // fail the next RDMA op with this status
    bool hold_completions = false;                     // delay send/RDMA completions until released
    bool refuse_receives = false;                      // post_receive fails
    std::optional<std::size_t> receive_queue_depth;    // receives posted at once at most, like a QP's max_recv_wr
    // A chain longer than this is refused part-way, as a verbs post that
    // overruns the send queue: its prefix runs, the chain is reported
    // flushed once and the connection breaks.
    std::optional<std::size_t> send_queue_depth;
};

// Creates a connected pair. Each end resolves the other end's RDMA through its domain.
std::pair<std::unique_ptr<LoopbackConnection>, std::unique_ptr<LoopbackConnection>> make_loopback_pair(
    std::shared_ptr<LoopbackDomain> domain_a, std::shared_ptr<LoopbackNotifier> notifier_a,
    std::shared_ptr<LoopbackDomain> domain_b, std::shared_ptr<LoopbackNotifier> notifier_b);

class LoopbackConnection : public Connection {
public:
    struct Shared;  // state of the pair, behind one mutex
    LoopbackConnection(std::shared_ptr<Shared> shared, int side);
    ~LoopbackConnection() override;

    PostResult post_receive(std::uint64_t wr_id, LocalSegment buffer) override;
    PostResult post_send(std::uint64_t wr_id, LocalSegment iu) override;
    PostResult post_rdma_read(std::uint64_t wr_id, std::span<const RdmaOp> ops) override;
    PostResult post_rdma_write_then_send(std::uint64_t wr_id, std::span<const RdmaOp> ops, LocalSegment iu) override;
    PostResult post_bind_then_send(std::uint64_t wr_id, const WindowBind& bind, LocalSegment iu) override;
    PostResult post_invalidate(std::uint64_t wr_id, Window& window) override;
    std::size_t poll(std::span<Completion> out) override;
    void request_notification(WakeOn wake_on) override;
    void disconnect() override;
    std::uint32_t max_send_sge() const noexcept override { return 4; }
    std::uint32_t max_rdma_read_sge() const noexcept override { return 4; }

    // Fault injection.
    void fail_next_rdma(CompletionStatus status);
    void hold_completions(bool hold);
    void refuse_receives(bool refuse);
    // Models a queue pair's receive queue: a post beyond depth fails with queue_full.
    void set_receive_queue_depth(std::size_t depth);
    // Models a send queue smaller than the chains posted (LoopbackFaults::send_queue_depth).
    void set_send_queue_depth(std::size_t depth);
    bool connected() const;
    std::size_t posted_receives() const;
    // Send-side completions queued while the owner asked not to be woken by them.
    std::size_t silent_completions() const;
    // SENDs posted under a wr_id whose previous SEND had not completed yet.
    std::size_t reused_send_wr_ids() const;
    // Batching: sends still go out at once, but a batch counts as one
    // doorbell (one ibv_post_send on verbs), as every send outside a batch does.
    void begin_batch() override;
    void end_batch() noexcept override;
    std::size_t doorbells() const;
    // Also counts this end's doorbells into tally, which any thread may read
    // (the end itself belongs to the thread that drives it).
    void tally_doorbells(std::shared_ptr<std::atomic<std::size_t>> tally) { tally_ = std::move(tally); }

private:
    PostResult send_locked(std::uint64_t wr_id, LocalSegment iu);
    void complete_locked(int side, Completion c);
    std::optional<CompletionStatus> rdma_locked(std::span<const RdmaOp> ops, bool read);
    // True when the chain overran the modelled send queue (and was handled).
    bool cut_locked(std::uint64_t wr_id, std::span<const RdmaOp> ops, std::size_t count, bool read);

    std::shared_ptr<Shared> shared_;
    int side_;
    std::uint32_t batch_depth_ = 0;   // nested begin_batch(); driven by one thread, like the connection
    std::size_t batched_sends_ = 0;   // sends since begin_batch()
    std::size_t doorbells_ = 0;
    std::shared_ptr<std::atomic<std::size_t>> tally_;
    void count_doorbell() {
        ++doorbells_;
        if (tally_) tally_->fetch_add(1, std::memory_order_relaxed);
    }
    void ring_doorbell() { if (batch_depth_ > 0) ++batched_sends_; else count_doorbell(); }
};

}  // namespace srp::fabric
