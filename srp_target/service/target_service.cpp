#include "srp_target/service/target_service.h"

#include <poll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <optional>
#include <thread>

#include "common/sys/cpu_share.h"
#include "common/wire/iu_parse.h"
#include "srp_target/service/logical_units.h"
#include "srp_target/service/lu_identity.h"
#include "srp_target/service/ready_file.h"

namespace srp::target {

namespace {

constexpr std::chrono::seconds kLogoutDrainTime{10};

// The daemon's logins: an RDMA/CM connect request.
class VerbsIncomingLogin : public IncomingLogin {
public:
    explicit VerbsIncomingLogin(rdma::ConnectRequest& request) : request_(request) {}
    std::span<const std::uint8_t> private_data() const override { return request_.private_data(); }
    std::string source_address() const override { return request_.source_address(); }
    std::string device_name() const override { return request_.device()->name(); }
    fabric::MemoryDomain& domain() override { return request_.device()->domain(); }
    std::unique_ptr<fabric::Connection> create_connection(std::size_t poller, ChannelQueueDepths depths,
                                                          std::uint64_t token) override {
        rdma::QueueDepths verbs_depths{depths.receive, depths.send, depths.max_sge};
        verbs_depths.separate_send_cq = true;  // responses need not wake the poller (Channel::arm)
        auto connection = request_.create_connection(poller, verbs_depths, token);
        created_ = connection.get();
        return connection;
    }
    int accept(fabric::Connection& connection, std::span<const std::uint8_t> login_response) override {
        if (&connection != created_) return EINVAL;
        return request_.accept(*created_, login_response);
    }
    void reject(std::span<const std::uint8_t> login_reject) noexcept override { request_.reject(login_reject); }

private:
    rdma::ConnectRequest& request_;
    rdma::VerbsConnection* created_ = nullptr;
};

ConnectionEvent to_connection_event(rdma::CmEvent event) {
    switch (event) {
        case rdma::CmEvent::established: return ConnectionEvent::established;
        case rdma::CmEvent::disconnected: return ConnectionEvent::disconnected;
        case rdma::CmEvent::device_removal: return ConnectionEvent::device_removal;
        case rdma::CmEvent::error: break;
    }
    return ConnectionEvent::error;
}

}  // namespace

TargetService::TargetService(TargetConfig config) : config_(std::move(config)) {
    for (auto& [number, lu] : build_logical_units(config_)) {
        const auto& store = lu->backstore();
        spdlog::info("LUN {}: {} ({} bytes, {}-byte blocks{}), {}, serial {}, NAA 0x{:016x}{}", number,
                     store.path().empty() ? "anonymous memory" : store.path(), store.size_bytes(), lu->block_size(),
                     store.read_only() ? ", read-only" : "", store.describe(), lu->config().serial,
                     lu->naa_identifier(), lu->config().uuid ? ", UUID " + format_uuid(*lu->config().uuid) : "");
        if (store.maps_page_cache())
            spdlog::warn("LUN {}: io=mapped pins page-cache pages of {} for RDMA; Linux >= 6.5 refuses that for "
                         "regular files, and a full or failing disk raises SIGBUS",
                         number, store.path());
        target_.add_lun(number, std::move(lu));
    }
    devices_ = std::make_unique<rdma::DeviceList>(config_.pollers);
    if (devices_->devices().empty())
        throw std::runtime_error("no RDMA device found (load a driver, or set up soft-RoCE: "
                                 "modprobe rdma_rxe; rdma link add rxe0 type rxe netdev eth0)");
    for (auto& device : devices_->devices()) open_device(*device);
    std::vector<Poller*> pollers;
    const unsigned cpus = sys::usable_cpus();
    errno = 0;
    const int inherited = ::getpriority(PRIO_PROCESS, 0);
    const std::optional<int> nice = config_.poller_nice ? config_.poller_nice : auto_poller_nice(cpus, errno ? 0 : inherited);
    spdlog::info("{} poller(s) at nice {} ({}; {} usable CPU(s))", config_.pollers, nice.value_or(inherited),
                 config_.poller_nice ? "--poller-nice" : nice ? "auto: one CPU shared" : "auto: inherited", cpus);
    for (std::uint32_t i = 0; i < config_.pollers; ++i) {
        auto poller = std::make_unique<Poller>("poller" + std::to_string(i),
                                               [this](Channel& c) { acceptor_->on_channel_closed(c); });
        poller->set_nice(nice);
        pollers.push_back(poller.get());
        pollers_.push_back(std::move(poller));
    }
    acceptor_ = std::make_unique<ChannelAcceptor>(
        target_, registry_, stats_, pollers,
        AcceptorLimits{config_.max_channels, config_.max_channels_per_address, config_.bounce_chunks});
    listener_ = std::make_unique<rdma::CmListener>(
        *devices_, rdma::CmListener::Handlers{[this](rdma::ConnectRequest& r) { on_connect_request(r); },
                                              [this](std::uint64_t t, rdma::CmEvent e) {
                                                  acceptor_->on_event(t, to_connection_event(e));
                                              }});
    for (const auto& address : config_.listen) listener_->listen(address.host, address.port);
    set_poller_notifiers();
    for (auto& poller : pollers_) poller->start();
}

TargetService::~TargetService() { shutdown(); }

LoginPolicy TargetService::policy_for(const rdma::RdmaDevice& device) const {
    LoginPolicy policy;
    policy.target_port_id = make_target_port_id(config_.id_ext.value_or(device.node_guid()),
                                                config_.ioc_guid.value_or(device.node_guid()));
    policy.max_it_iu_len = config_.max_iu_size;
    policy.queue_depth = config_.queue_depth;
    policy.max_channels_per_nexus = config_.max_channels_per_nexus;
    policy.immediate_data = config_.immediate_data;
    policy.acl = config_.acl;
    return policy;
}

void TargetService::log_login_hints() const {
    // A fixed listen address belongs to one device: hint only for that one
    // (the others' GUIDs would name a target port that address never reaches),
    // unless no device reports owning it (then every device, as before).
    auto owns = [](const rdma::RdmaDevice& device, const std::string& host) {
        const auto addresses = device.addresses();
        return std::find(addresses.begin(), addresses.end(), host) != addresses.end();
    };
    for (const auto& device : devices_->devices()) {
        const auto policy = policy_for(*device);
        const std::string id_ext = format_port_id(policy.target_port_id).substr(0, 16);
        const std::string ioc_guid = format_port_id(policy.target_port_id).substr(16);
        for (const auto& listen : config_.listen) {
            std::vector<std::string> hosts{listen.host};
            if (listen.host == "0.0.0.0" || listen.host == "::") {
                hosts = device->addresses();
            } else if (!owns(*device, listen.host) &&
                       std::any_of(devices_->devices().begin(), devices_->devices().end(),
                                   [&](const auto& d) { return owns(*d, listen.host); })) {
                continue;
            }
            for (const auto& host : hosts)
                spdlog::info("listening on {} {}:{}; connect the kernel initiator with: echo id_ext={},ioc_guid={},dest={}:{} "
                             "> /sys/class/infiniband_srp/srp-{}-1/add_target",
                             device->name(), host, listen.port, id_ext, ioc_guid, host, listen.port, device->name());
        }
    }
}


void TargetService::on_connect_request(rdma::ConnectRequest& request) {
    rdma::RdmaDevice& device = *request.device();
    if (releasing_.contains(device.name())) {  // a wildcard listener still hears it
        spdlog::warn("login from {} on {} refused: the device is being removed", request.source_address(),
                     device.name());
        request.reject({});
        return;
    }
    VerbsIncomingLogin login(request);
    acceptor_->on_connect_request(login, policy_for(device), backstores_.at(&device));
}

void TargetService::log_stats() const {
    spdlog::info("stats: {} nexus(es), {} channel(s); logins {} rejected {} closed {}; commands {} "
                 "(check conditions {}, task management {}, immediate {} (written in place {}), external tables {}, bounce {}); "
                 "read {} bytes, written {} bytes; protocol errors {}, transport errors {}",
                 registry_.nexus_count(), registry_.total_channels(), stats_.logins.load(), stats_.login_rejects.load(),
                 stats_.channels_closed.load(), stats_.commands.load(), stats_.check_conditions.load(),
                 stats_.task_management.load(), stats_.immediate_commands.load(), stats_.immediate_in_place.load(), stats_.external_tables.load(),
                 stats_.bounce_commands.load(), stats_.bytes_read.load(), stats_.bytes_written.load(),
                 stats_.protocol_errors.load(), stats_.transport_errors.load());
}

int TargetService::run() {
    sigset_t signals;
    sigemptyset(&signals);
    for (int s : {SIGINT, SIGTERM, SIGUSR1}) sigaddset(&signals, s);
    const int signal_fd = ::signalfd(-1, &signals, SFD_NONBLOCK | SFD_CLOEXEC);
    if (signal_fd < 0) throw std::system_error(errno, std::generic_category(), "signalfd");
    log_login_hints();
    // Created before the "ready" line, so whoever saw that line finds the file.
    std::optional<ReadyFile> ready_file;
    if (!config_.ready_file.empty()) ready_file.emplace(config_.ready_file);
    spdlog::info("srp_target ready: {} LUN(s), {} device(s), {} poller(s)", target_.luns().size(),
                 devices_->devices().size(), pollers_.size());
    bool ready_file_warned = false;
    auto next_stats = std::chrono::steady_clock::now() + std::chrono::seconds(config_.stats_interval_s);
    auto next_device_check = std::chrono::steady_clock::now() + kDeviceCheckInterval;
    bool running = true;
    while (running) {
        pollfd fds[2] = {{listener_->fd(), POLLIN, 0}, {signal_fd, POLLIN, 0}};
        ::poll(fds, 2, 1000);
        listener_->process_events();
        // The heartbeat: a stuck main loop (no logins, no signals served) goes stale.
        if (ready_file && !ready_file->touch() && !ready_file_warned) {
            spdlog::warn("ready file {}: cannot update its time: {}", ready_file->path(), std::strerror(errno));
            ready_file_warned = true;
        }
        signalfd_siginfo info{};
        while (::read(signal_fd, &info, sizeof info) == sizeof info) {
            if (info.ssi_signo == SIGUSR1) log_stats();
            else {
                spdlog::info("signal {}: shutting down", info.ssi_signo);
                running = false;
            }
        }
        if (running && std::chrono::steady_clock::now() >= next_device_check) {
            check_devices();
            next_device_check = std::chrono::steady_clock::now() + kDeviceCheckInterval;
        }
        if (config_.stats_interval_s != 0 && std::chrono::steady_clock::now() >= next_stats) {
            log_stats();
            next_stats = std::chrono::steady_clock::now() + std::chrono::seconds(config_.stats_interval_s);
        }
    }
    ::close(signal_fd);
    // Not ready any more from the moment logouts begin.
    ready_file.reset();
    shutdown();
    log_stats();
    return 0;
}

void TargetService::shutdown() {
    if (pollers_.empty()) return;
    auto busy = [&] {
        for (auto& p : pollers_)
            if (p->channel_count() != 0) return true;
        return false;
    };
    auto wait_until_idle = [&](std::chrono::seconds limit) {
        const auto deadline = std::chrono::steady_clock::now() + limit;
        while (busy() && std::chrono::steady_clock::now() < deadline) {
            if (listener_) listener_->process_events();
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
    };
    // SRP r16a 6.6: tell every initiator with SRP_T_LOGOUT, after the
    // commands it has in flight finished (new ones end with BUSY, and an
    // initiator retries them after reconnecting). Bounded: a channel whose
    // medium I/O hangs is disconnected when the time is up.
    acceptor_->logout_all(wire::TargetLogoutReason::no_reason);
    wait_until_idle(kLogoutDrainTime);
    if (busy()) spdlog::warn("channels still busy {} s after SRP_T_LOGOUT: disconnecting them", kLogoutDrainTime.count());
    acceptor_->disconnect_all("target shutting down");
    // Let the pollers drain every channel (flushed completions) before freeing anything.
    wait_until_idle(std::chrono::seconds(5));
    // Stop every poller before destroying any: a channel torn down on one
    // poller may still wake another (task management trackers).
    // All at once: each may wait up to its medium drain timeout.
    for (auto& p : pollers_) p->request_stop();
    for (auto& p : pollers_) p->stop();
    pollers_.clear();
    listener_.reset();
    for (const auto& [number, unit] : target_.luns()) (void)unit->backstore().flush(0, 0);
}

}  // namespace srp::target
