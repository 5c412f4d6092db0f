// The srp_target daemon: LUNs, RDMA devices, poller threads and the RDMA/CM
// listener wired together. Construction does all setup and throws a clear
// error (config, backstore, device); run() serves until SIGINT/SIGTERM and
// logs statistics periodically and on SIGUSR1.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <string>
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
    // RDMA devices that come and go (device_hotplug.cpp).
    void open_device(rdma::RdmaDevice& device);  // registers the LUNs it can serve zero copy
    void set_poller_notifiers(const rdma::RdmaDevice* except = nullptr);
    void check_devices();
    bool release_device(rdma::RdmaDevice& device);
    static constexpr std::chrono::seconds kDeviceCheckInterval{1};
    static constexpr std::chrono::seconds kDeviceReleaseWait{10};
    void log_stats() const;
    void log_login_hints() const;
    void shutdown();
    LoginPolicy policy_for(const rdma::RdmaDevice& device) const;

    TargetConfig config_;
    ScsiTarget target_;
    TargetStats stats_;
    SessionRegistry registry_{target_};
    std::unique_ptr<rdma::DeviceList> devices_;
    // Per device; node-based, so channels may hold a reference while devices come and go.
    std::map<const rdma::RdmaDevice*, RegisteredBackstores> backstores_;
    std::set<std::string> releasing_;  // devices whose removal was logged and is under way
    std::vector<std::unique_ptr<Poller>> pollers_;
    std::unique_ptr<ChannelAcceptor> acceptor_;
    std::unique_ptr<rdma::CmListener> listener_;
};

}  // namespace srp::target
