// RDMA devices that go away and come back while the target runs
// (`rdma link delete rxe0`, a driver unbind, a PCI hot-unplug). The kernel
// stops listing a device being removed, and completes the removal only
// after every process closed it: soft-RoCE and most drivers cannot take
// resources away from a process (no disassociate). So a removed device is
// released in full: its channels closed and freed, its listeners closed,
// its memory registrations, notifiers and protection domain destroyed, and
// librdmacm's reference handed back. A device that appears is opened,
// the LUNs registered on it, and the listeners that lost their address
// bound again, without a restart.
#include <spdlog/spdlog.h>

#include <thread>

#include "srp_target/service/data_path_choice.h"
#include "srp_target/service/target_service.h"

namespace srp::target {

void TargetService::open_device(rdma::RdmaDevice& device) {
    RegisteredBackstores registered;
    const OdpCapabilities odp{device.odp().supported, device.odp().rc_rdma_read, device.odp().rc_rdma_write};
    for (const auto& [number, unit] : target_.luns()) {
        const auto choice = choose_data_path(odp, unit->backstore().is_memory(), unit->backstore().kind());
        const DataPath path = implemented(choice.path);
        spdlog::info("{}: LUN {} data path: {} ({}){}", device.name(), number, to_string(path), choice.reason,
                     path != choice.path ? "; the ODP path is not implemented yet" : "");
        if (path != DataPath::registered_mapping) continue;  // io backstores move data through bounce memory
        auto bytes = unit->backstore().bytes();
        if (bytes.size() > config_.register_backstore_max_bytes) {
            spdlog::info("{}: LUN {} is larger than --register-backstore-max: bounce buffers", device.name(), number);
            continue;
        }
        // Local access only: no peer can read or write target memory.
        auto registration = device.domain().register_memory(bytes, false);
        if (registration) {
            registered.add(std::move(*registration), unit->backstore());
            unit->backstore().set_pinned(true);
        } else {
            spdlog::warn("{}: cannot register LUN {} ({}): bounce buffers", device.name(), number,
                         registration.error().message());
        }
    }
    backstores_.insert_or_assign(&device, std::move(registered));
}

void TargetService::set_poller_notifiers(const rdma::RdmaDevice* except) {
    for (std::size_t i = 0; i < pollers_.size(); ++i) {
        std::vector<fabric::Notifier*> notifiers;
        for (auto& device : devices_->devices())
            if (device.get() != except) notifiers.push_back(&device->notifier(i));
        pollers_[i]->set_notifiers(std::move(notifiers));
    }
}

bool TargetService::release_device(rdma::RdmaDevice& device) {
    const std::string name = device.name();
    if (releasing_.insert(name).second)
        spdlog::warn("RDMA device {} is being removed: closing its {} channel(s) and its listeners", name,
                     acceptor_->channels_on(name));
    // No new logins on it: its listeners close first (on_connect_request
    // also refuses requests for a device in releasing_).
    const std::size_t listeners = listener_->drop_listeners_on(device.context());
    acceptor_->disconnect_device(name, "RDMA device removed");
    // The pollers drain and free the channels (flushed completions); the
    // CM events of their ids still need this thread.
    const auto deadline = std::chrono::steady_clock::now() + kDeviceReleaseWait;
    while (acceptor_->channels_on(name) != 0 && std::chrono::steady_clock::now() < deadline) {
        listener_->process_events();
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (acceptor_->channels_on(name) != 0) {
        spdlog::error("RDMA device {}: {} channel(s) not drained yet; trying again", name, acceptor_->channels_on(name));
        return false;  // never free memory a live queue pair may still use
    }
    set_poller_notifiers(&device);  // the pollers stop waiting on its completion channels
    backstores_.erase(&device);     // its memory registrations
    devices_->release(&device);     // its notifiers and protection domain
    releasing_.erase(name);
    spdlog::info("RDMA device {} released{}; the target keeps serving its other devices", name,
                 listeners != 0 ? " (" + std::to_string(listeners) + " listener(s) closed)" : std::string());
    return true;
}

void TargetService::check_devices() {
    bool released = false;
    for (rdma::RdmaDevice* device : devices_->vanished()) released |= release_device(*device);
    const auto added = devices_->refresh();  // after a release: librdmacm closes the device
    for (rdma::RdmaDevice* device : added) {
        spdlog::info("RDMA device {} appeared: serving on it", device->name());
        open_device(*device);
    }
    if (!added.empty()) set_poller_notifiers();
    // Not while a release is unfinished: its address would bind to the dying device again.
    if (releasing_.empty() && (listener_->relisten() > 0 || (released && !added.empty()))) log_login_hints();
}

}  // namespace srp::target
