// Our target on the in-memory loopback fabric for the cost benchmark
// (loopback_cost.cpp): one memory LUN registered for zero copy, N poller
// threads, logins through the daemon's ChannelAcceptor. Unlike
// tests/loopback/LoopbackServer it has no Catch2 and no fault injection, and
// it knows its pollers' thread ids so their CPU time can be read.
// Thread: built, used and destroyed by one thread; the pollers run their own.
// Errors: setup failures throw std::system_error / std::runtime_error.
#pragma once

#include <sys/types.h>

#include <memory>
#include <mutex>
#include <vector>

#include "common/fabric/loopback.h"
#include "srp_initiator/connector.h"
#include "srp_target/service/channel_acceptor.h"
#include "srp_target/service/poller.h"
#include "srp_target/srp/login.h"

namespace srp::bench {

class BenchTarget {
public:
    static constexpr std::uint64_t kTargetGuid = 0x1122334455667788ull;
    BenchTarget(std::uint64_t lun_bytes, std::size_t pollers, std::uint32_t queue_depth);
    ~BenchTarget();
    BenchTarget(const BenchTarget&) = delete;
    BenchTarget& operator=(const BenchTarget&) = delete;

    initiator::Connector connector();
    // CPU time (user + system) the poller threads have used so far, in ns
    // (/proc/self/task/<tid>/schedstat, the scheduler's own nanoseconds).
    std::uint64_t poller_cpu_ns() const;
    std::size_t pollers() const { return pollers_.size(); }

private:
    target::ScsiTarget scsi_;
    std::shared_ptr<target::LogicalUnit> unit_;
    target::SessionRegistry registry_{scsi_};
    target::TargetStats stats_;
    target::LoginPolicy policy_;
    std::shared_ptr<fabric::LoopbackDomain> domain_ = std::make_shared<fabric::LoopbackDomain>();
    target::RegisteredBackstores backstores_;
    std::vector<std::shared_ptr<fabric::LoopbackNotifier>> notifiers_;  // one per poller
    std::vector<std::unique_ptr<target::Poller>> pollers_;
    std::unique_ptr<target::ChannelAcceptor> acceptor_;
    std::vector<pid_t> poller_tids_;
    std::mutex login_mutex_;  // logins one at a time, as on the daemon's CM thread
};

}  // namespace srp::bench
