// The srp_target daemon: LUNs, RDMA devices, poller threads and the RDMA/CM
// listener wired together. Construction does all setup and throws a clear
// error (config, backstore, device); run() serves until SIGINT/SIGTERM and
// logs statistics periodically and on SIGUSR1.
#pragma once

#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "common/rdma/cm.h"
#include "srp_target/scsi/scsi_target.h"
#include "srp_target/service/channel_acceptor.h"
#include "srp_target/service/poller.h"
#include "srp_target/service/target_config.h"
#include "srp_target/srp/channel_types.h"
#include "srp_target/srp/login.h"
#include "srp_target/srp/session_registry.h"

namespace srp::target {

class TargetService {
public:
    explicit TargetService(TargetConfig config);
    ~TargetService();
    // Blocks until a termination signal; the signals must be blocked in every thread (main does it).
    int run();

private:
    void on_connect_request(rdma::ConnectRequest& request);
    void log_stats() const;
    void log_login_hints() const;
    void shutdown();
    LoginPolicy policy_for(const rdma::RdmaDevice& device) const;

    TargetConfig config_;
    ScsiTarget target_;
    TargetStats stats_;
    SessionRegistry registry_{target_};
    std::unique_ptr<rdma::DeviceList> devices_;
    std::vector<RegisteredBackstores> backstores_;  // per device, same order as devices_
    std::vector<std::unique_ptr<Poller>> pollers_;
    std::unique_ptr<ChannelAcceptor> acceptor_;
    std::unique_ptr<rdma::CmListener> listener_;
};

}  // namespace srp::target
