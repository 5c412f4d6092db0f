// RDMA devices as librdmacm sees them, and an RDMA/CM listener that turns
// connect requests into Connections. The target decides; this layer only
// carries private data, accepts, rejects and reports connection events.
// Thread: a CmListener is used from one thread (the CM thread).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/rdma/verbs_fabric.h"

namespace srp::rdma {

// One device with its PD and one completion notifier per poller.
// On-demand paging for RC transfers (ibv_query_device_ex odp_caps): what a
// registration with IBV_ACCESS_ON_DEMAND could serve without pinning.
struct OnDemandPaging {
    bool supported = false;      // IBV_ODP_SUPPORT in general_caps
    bool rc_rdma_read = false;   // IBV_ODP_SUPPORT_READ in per_transport_caps.rc_odp_caps
    bool rc_rdma_write = false;  // IBV_ODP_SUPPORT_WRITE
};

class RdmaDevice {
public:
    RdmaDevice(ibv_context* context, std::size_t pollers);
    const std::string& name() const noexcept { return name_; }
    std::uint64_t node_guid() const noexcept { return node_guid_; }  // host order
    VerbsDomain& domain() noexcept { return domain_; }
    VerbsNotifier& notifier(std::size_t poller) noexcept { return *notifiers_[poller]; }
    ibv_context* context() const noexcept { return context_; }
    // Probed once at start; all false when the query fails (rxe on 6.1 has no ODP).
    const OnDemandPaging& odp() const noexcept { return odp_; }
    // IPv4/IPv6 addresses of the network interfaces behind port 1 (RoCE/iWARP).
    std::vector<std::string> addresses() const;

private:
    ibv_context* context_;
    std::string name_;
    std::uint64_t node_guid_;
    OnDemandPaging odp_;
    VerbsDomain domain_;
    std::vector<std::unique_ptr<VerbsNotifier>> notifiers_;
};

// The devices librdmacm uses; their contexts are the ones cm_ids report.
class DeviceList {
public:
    explicit DeviceList(std::size_t pollers);
    ~DeviceList();
    DeviceList(const DeviceList&) = delete;
    DeviceList& operator=(const DeviceList&) = delete;
    std::vector<std::unique_ptr<RdmaDevice>>& devices() noexcept { return devices_; }
    RdmaDevice* find(ibv_context* context) noexcept;

    // Hot removal and return of devices (`rdma link delete`, a driver
    // unbind, a new port). The kernel lists a device being removed no
    // more, and completes the removal only once every process closed it:
    // soft-RoCE cannot take resources away from a process.
    // Our devices the kernel no longer lists.
    std::vector<RdmaDevice*> vanished() const;
    // Destroys one device's PD and notifiers; nothing of it may be in use.
    void release(RdmaDevice* device);
    // Opens the devices that appeared since the last call, and hands back
    // librdmacm's references to released ones (it closes them then).
    // Returns the new devices.
    std::vector<RdmaDevice*> refresh();

private:
    std::size_t pollers_;
    ibv_context** list_ = nullptr;
    std::vector<std::unique_ptr<RdmaDevice>> devices_;
};

enum class CmEvent { established, disconnected, device_removal, error };

class ConnectRequest {
public:
    ConnectRequest(rdma_cm_id* id, std::vector<std::uint8_t> private_data, RdmaDevice* device);
    ~ConnectRequest();  // destroys the id unless a connection took it
    std::span<const std::uint8_t> private_data() const noexcept { return private_data_; }
    std::string source_address() const;
    RdmaDevice* device() const noexcept { return device_; }
    // Creates the QP. The connection borrows the cm_id; this request keeps
    // owning it (and destroys it, after the connection) unless accept()
    // succeeds. token identifies the connection in later events.
    std::unique_ptr<VerbsConnection> create_connection(std::size_t poller, QueueDepths depths, std::uint64_t token);
    // rdma_accept with the login response as private data; errno-style
    // result. On success the connection owns the cm_id.
    int accept(VerbsConnection& connection, std::span<const std::uint8_t> private_data);
    void reject(std::span<const std::uint8_t> private_data) noexcept;

private:
    rdma_cm_id* id_;
    bool owned_ = true;
    std::vector<std::uint8_t> private_data_;
    RdmaDevice* device_;
};

class CmListener {
public:
    struct Handlers {
        std::function<void(ConnectRequest&)> on_connect_request;
        std::function<void(std::uint64_t token, CmEvent event)> on_event;
    };
    CmListener(DeviceList& devices, Handlers handlers);
    // Binds and listens; throws std::system_error naming the address.
    void listen(const std::string& host, std::uint16_t port);
    // Closes the listeners bound to a device that is going away (a wildcard
    // listener belongs to no device and stays). Returns how many.
    std::size_t drop_listeners_on(ibv_context* context);
    // Listens again on every address whose listener was dropped, where the
    // address has an RDMA device again. Returns how many it re-created.
    std::size_t relisten();
    int fd() const noexcept { return channel_->fd; }
    // Handles every pending event without blocking.
    void process_events();

private:
    DeviceList& devices_;
    Handlers handlers_;
    struct Listening {
        std::string host;
        std::uint16_t port;
        CmId id;  // empty while the address has no RDMA device
    };
    CmId bind_and_listen(const std::string& host, std::uint16_t port);
    EventChannel channel_;
    std::vector<Listening> listeners_;
};

}  // namespace srp::rdma
