// A poller thread owns a set of channels and drives their completions, and
// owns the io_uring (UringQueue) its channels run medium steps on.
// Adaptive: it spins while there is work, then arms notifications and
// sleeps on the completion channels, the ring's eventfd (storage
// completions) and a wake eventfd together when idle; it never blocks in a
// system call that waits for storage. A pure busy-poll was measured to
// starve rxe's own kernel work on a 2-vCPU guest.
#pragma once

#include <poll.h>
#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/fabric/connection.h"
#include "srp_target/backstore/uring_queue.h"
#include "srp_target/srp/channel.h"

namespace srp::target {

class Poller {
public:
    // on_closed runs on the poller thread after a channel drained, before it
    // is destroyed. Throws std::system_error when io_uring or eventfd cannot be set up.
    Poller(std::string name, std::function<void(Channel&)> on_closed);
    ~Poller();
    Poller(const Poller&) = delete;
    Poller& operator=(const Poller&) = delete;

    void add_notifier(fabric::Notifier* notifier);  // before start()
    // The poller thread's nice value (setpriority on the thread), before
    // start(); nullopt (the default): the nice it inherits from the thread
    // that starts it. Raising it needs no privilege; a lower value that the
    // process may not set is logged and the thread keeps the inherited one.
    void set_nice(std::optional<int> nice) noexcept { nice_ = nice; }
    // The poller thread's id once it runs (0 before): for tests and tools.
    pid_t thread_id() const noexcept { return thread_id_.load(std::memory_order_acquire); }
    // Replaces the completion notifiers while running (an RDMA device went
    // away or came back). Blocks until the poller thread no longer uses the
    // old set: a removed notifier may be destroyed once this returns.
    void set_notifiers(std::vector<fabric::Notifier*> notifiers);
    void start();
    void request_stop() noexcept;  // returns at once; stop() then joins
    void stop();  // joins; channels still present are destroyed
    void adopt(std::unique_ptr<Channel> channel);  // any thread
    void wake() noexcept;                          // any thread
    std::size_t channel_count() const noexcept { return channel_count_.load(std::memory_order_relaxed); }
    // The queue for medium steps of this poller's channels: give it to a
    // channel before adopt(); used on the poller thread only.
    MediumQueue& medium_queue() noexcept { return medium_queue_; }
    const std::string& name() const noexcept { return name_; }

private:
    void run();
    // One pass over the storage completions and every channel; returns the
    // work it found (completions handled).
    std::size_t pass();
    void sleep_until_work();

    // Idle polls before sleeping. On a single CPU spinning only delays the
    // kernel work (rxe, the initiator) that would produce the next completion.
    static int idle_spins_before_sleep() noexcept;
    // Yields (sched_yield) before sleeping while medium steps are in flight,
    // on a single CPU only, where spinning is 0 (see run()).
    static int idle_yields_before_sleep() noexcept;
    static constexpr int kSleepTimeoutMs = 200;
    // How long stop() waits for medium steps still in flight.
    static constexpr std::chrono::seconds kMediumDrainTimeout{30};

    std::string name_;
    std::function<void(Channel&)> on_closed_;
    std::optional<int> nice_;
    std::atomic<pid_t> thread_id_{0};
    UringQueue medium_queue_;  // outlives channels_st_ (declared before it)
    std::vector<fabric::Notifier*> notifiers_;
    int wake_fd_;
    std::vector<pollfd> poll_fds_;  // wake_fd_, the ring's eventfd, then one per notifier
    void rebuild_poll_fds();
    std::mutex inbox_mutex_;
    std::condition_variable notifiers_applied_;
    std::optional<std::vector<fabric::Notifier*>> new_notifiers_;  // under inbox_mutex_, applied by run()
    std::vector<std::unique_ptr<Channel>> inbox_;
    std::vector<std::unique_ptr<Channel>> channels_st_;  // poller thread only
    std::atomic<std::size_t> channel_count_{0};
    std::atomic<bool> stopping_{false};
    std::thread thread_;
};

}  // namespace srp::target
