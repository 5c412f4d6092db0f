// The cross-thread handle of one channel. The CM thread and other channels
// use it to ask the channel's poller to disconnect it, or to abort tasks on
// it for task management issued on another channel (SAM-5 7: a task
// management function acts on the logical unit, not on one channel). The
// poller owns the channel itself; everything here is thread safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "common/wire/iu_layouts.h"
#include "srp_target/scsi/scsi_task.h"

namespace srp::target {

class ChannelControl;

// Counts what a task management function still waits for: channels that
// have not yet scanned for victims, and victims whose RDMA has not drained.
// The last done() wakes the TMF's own channel, which then responds.
class TmfTracker {
public:
    explicit TmfTracker(std::shared_ptr<ChannelControl> owner) : owner_(std::move(owner)) {}
    void add(std::uint32_t n = 1) noexcept { pending_.fetch_add(n, std::memory_order_relaxed); }
    void done() noexcept;
    bool complete() const noexcept { return pending_.load(std::memory_order_acquire) == 0; }

private:
    std::atomic<std::uint32_t> pending_{1};  // the issuer's own guard, released after fan-out
    std::shared_ptr<ChannelControl> owner_;
};

// Which tasks a TMF aborts (SAM-5 7.2-7.7).
struct AbortScope {
    std::uint8_t function = 0;  // SRP/SAM task management function code
    NexusId nexus = 0;          // the I_T nexus that issued it
    std::uint16_t lun = 0;
    wire::Tag task_tag{};        // ABORT TASK only
    bool all_nexuses = false;    // CLEAR TASK SET and LOGICAL UNIT RESET: every I_T nexus
};

struct AbortOrder {
    AbortScope scope;
    std::shared_ptr<TmfTracker> tracker;  // the channel calls done() once it has scanned
};

class ChannelControl {
public:
    explicit ChannelControl(std::function<void()> wake_poller) : wake_poller_(std::move(wake_poller)) {}
    ~ChannelControl();
    void request_disconnect(const char* reason) noexcept;
    bool disconnect_requested() const noexcept { return disconnect_requested_.load(std::memory_order_acquire); }
    // A graceful target logout (SRP r16a 6.6): the channel stops starting new
    // commands (they end with BUSY), lets the ones in flight finish, sends
    // SRP_T_LOGOUT with this reason code, and then disconnects.
    void request_logout(std::uint32_t reason_code) noexcept;
    bool logout_requested() const noexcept { return logout_requested_.load(std::memory_order_acquire); }
    std::uint32_t logout_reason() const noexcept { return logout_reason_.load(std::memory_order_acquire); }
    const char* disconnect_reason() const noexcept { return reason_.load(std::memory_order_acquire); }
    void wake() const noexcept {
        if (wake_poller_) wake_poller_();
    }

    // Queues an abort for the channel's poller. After close_inbox() the
    // order is acknowledged at once: a closed channel has no tasks left.
    void post_abort(AbortOrder order);
    bool has_abort_orders() const noexcept { return abort_pending_.load(std::memory_order_acquire); }
    std::vector<AbortOrder> take_abort_orders();
    // Called by the channel when it is destroyed: acknowledges what is queued.
    void close_inbox() noexcept;

private:
    std::function<void()> wake_poller_;
    std::atomic<bool> disconnect_requested_{false};
    std::atomic<const char*> reason_{""};
    std::atomic<bool> logout_requested_{false};
    std::atomic<std::uint32_t> logout_reason_{0};
    std::mutex inbox_mutex_;
    bool inbox_closed_ = false;
    std::vector<AbortOrder> inbox_;
    std::atomic<bool> abort_pending_{false};
};

}  // namespace srp::target
