#include "srp_target/service/target_service.h"

#include <poll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <thread>

#include "common/wire/iu_parse.h"
#include "srp_target/service/logical_units.h"
#include "srp_target/service/lu_identity.h"

namespace srp::target {

TargetService::TargetService(TargetConfig config) : config_(std::move(config)) {
    for (auto& [number, lu] : build_logical_units(config_)) {
        const auto& store = lu->backstore();
        spdlog::info("LUN {}: {} ({} bytes, {}-byte blocks{}), serial {}, NAA 0x{:016x}{}", number,
                     store.path().empty() ? "anonymous memory" : store.path(), store.size_bytes(), lu->block_size(),
                     store.read_only() ? ", read-only" : "", lu->config().serial, lu->naa_identifier(),
                     lu->config().uuid ? ", UUID " + format_uuid(*lu->config().uuid) : "");
        target_.add_lun(number, std::move(lu));
    }
    devices_ = std::make_unique<rdma::DeviceList>(config_.pollers);
    if (devices_->devices().empty())
        throw std::runtime_error("no RDMA device found (load a driver, or set up soft-RoCE: "
                                 "modprobe rdma_rxe; rdma link add rxe0 type rxe netdev eth0)");
    for (auto& device : devices_->devices()) {
        RegisteredBackstores registered;
        for (const auto& [number, unit] : target_.luns()) {
            auto bytes = unit->backstore().bytes();
            if (bytes.size() > config_.register_backstore_max_bytes) {
                spdlog::info("{}: LUN {} is larger than --register-backstore-max: bounce buffers", device->name(), number);
                continue;
            }
            // Local access only: no peer can read or write target memory.
            auto registration = device->domain().register_memory(bytes, false);
            if (registration) {
                registered.add(std::move(*registration), unit->backstore());
                unit->backstore().set_pinned(true);
            }
            else spdlog::warn("{}: cannot register LUN {} ({}): bounce buffers", device->name(), number,
                              registration.error().message());
        }
        backstores_.push_back(std::move(registered));
    }
    for (std::uint32_t i = 0; i < config_.pollers; ++i) {
        auto poller = std::make_unique<Poller>("poller" + std::to_string(i), [this](Channel& c) { on_channel_closed(c); });
        for (auto& device : devices_->devices()) poller->add_notifier(&device->notifier(i));
        pollers_.push_back(std::move(poller));
    }
    listener_ = std::make_unique<rdma::CmListener>(
        *devices_, rdma::CmListener::Handlers{[this](rdma::ConnectRequest& r) { on_connect_request(r); },
                                              [this](std::uint64_t t, rdma::CmEvent e) { on_cm_event(t, e); }});
    for (const auto& address : config_.listen) listener_->listen(address.host, address.port);
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
    for (const auto& device : devices_->devices()) {
        const auto policy = policy_for(*device);
        const std::string id_ext = format_port_id(policy.target_port_id).substr(0, 16);
        const std::string ioc_guid = format_port_id(policy.target_port_id).substr(16);
        for (const auto& listen : config_.listen) {
            std::vector<std::string> hosts{listen.host};
            if (listen.host == "0.0.0.0" || listen.host == "::") hosts = device->addresses();
            for (const auto& host : hosts)
                spdlog::info("listening on {} {}:{}; connect the kernel initiator with: echo id_ext={},ioc_guid={},dest={}:{} "
                             "> /sys/class/infiniband_srp/srp-{}-1/add_target",
                             device->name(), host, listen.port, id_ext, ioc_guid, host, listen.port, device->name());
        }
    }
}

void TargetService::on_connect_request(rdma::ConnectRequest& request) {
    rdma::RdmaDevice& device = *request.device();
    const auto policy = policy_for(device);
    const std::string source = request.source_address();
    std::uint32_t existing = 0;
    if (auto peek = wire::parse_login_req_rdma(request.private_data()))
        existing = registry_.channel_count(peek->initiator_port_id, peek->target_port_id);
    const auto decision = evaluate_login(LoginRequest{request.private_data(), source, existing}, policy);
    const std::string initiator = decision.parsed ? format_port_id(decision.request.initiator_port_id) : "?";
    if (!decision.accepted) {
        ++stats_.login_rejects;
        spdlog::warn("login from {} (initiator {}) rejected with reason 0x{:08x} ({}): {}", source, initiator,
                     static_cast<std::uint32_t>(decision.reason),
                     wire::login_reject_reason_name(static_cast<std::uint32_t>(decision.reason)), decision.explanation);
        const auto rej = decision.rejection();
        request.reject(wire::iu_bytes(rej));
        return;
    }
    // The least loaded poller takes the channel.
    std::size_t poller = 0;
    for (std::size_t i = 1; i < pollers_.size(); ++i)
        if (pollers_[i]->channel_count() < pollers_[poller]->channel_count()) poller = i;
    const std::uint64_t token = next_token_++;
    Poller* owner = pollers_[poller].get();
    auto control = std::make_shared<ChannelControl>([owner] { owner->wake(); });
    const std::size_t device_index = static_cast<std::size_t>(
        std::find_if(devices_->devices().begin(), devices_->devices().end(),
                     [&](const auto& d) { return d.get() == &device; }) - devices_->devices().begin());
    std::unique_ptr<Channel> channel;
    rdma::VerbsConnection* verbs = nullptr;
    SessionRegistry::Attached attached{};
    try {
        rdma::QueueDepths depths{policy.queue_depth, policy.queue_depth * 4 + kMaxDescriptorsPerCommand + 8, 16};
        auto connection = request.create_connection(poller, depths, token);
        verbs = connection.get();
        attached = registry_.attach(decision.request.initiator_port_id, decision.request.target_port_id, control,
                                    decision.single_channel);
        ChannelParams params = decision.channel_params(policy);
        params.bounce_chunks = config_.bounce_chunks;
        params.token = token;
        params.name = "n" + std::to_string(attached.nexus) + ".c" + std::to_string(token) + " " + source;
        channel = std::make_unique<Channel>(std::move(connection), device.domain(), target_, backstores_[device_index],
                                            stats_, control, attached.nexus, params);
        channel->start();
    } catch (const std::exception& e) {
        ++stats_.login_rejects;
        spdlog::error("login from {} rejected with reason 0x00010001 (insufficient resources): {}", source, e.what());
        auto rej = decision.rejection();
        rej.reason = static_cast<std::uint32_t>(wire::LoginRejectReason::insufficient_resources);
        request.reject(wire::iu_bytes(rej));
        if (attached.nexus != 0) registry_.detach(attached.nexus, control.get());
        return;
    }
    const auto rsp = decision.response(policy, attached.terminated > 0);
    if (int err = request.accept(*verbs, wire::iu_bytes(rsp)); err != 0) {
        spdlog::error("rdma_accept for {} failed: {}", source, std::strerror(err));
        registry_.detach(attached.nexus, control.get());
        return;
    }
    {
        std::lock_guard lock(tokens_mutex_);
        tokens_[token] = control;
    }
    ++stats_.logins;
    spdlog::info("[{}] login accepted on {}: initiator {}, it_iu_len {}, {} credits, immediate data {}, {}{}",
                 channel->name(), device.name(), initiator, decision.it_iu_len, policy.queue_depth,
                 decision.imm_data_offset ? "at " + std::to_string(decision.imm_data_offset) : std::string("off"),
                 decision.single_channel ? "SINGLE" : "MULTI",
                 attached.terminated ? ", terminated " + std::to_string(attached.terminated) + " channel(s)" : "");
    owner->adopt(std::move(channel));
}

void TargetService::on_cm_event(std::uint64_t token, rdma::CmEvent event) {
    std::shared_ptr<ChannelControl> control;
    {
        std::lock_guard lock(tokens_mutex_);
        if (auto it = tokens_.find(token); it != tokens_.end()) control = it->second.lock();
    }
    if (!control) return;
    switch (event) {
        case rdma::CmEvent::established: break;
        case rdma::CmEvent::disconnected: control->request_disconnect("initiator disconnected"); break;
        case rdma::CmEvent::device_removal: control->request_disconnect("RDMA device removed"); break;
        case rdma::CmEvent::error: control->request_disconnect("connection error"); break;
    }
}

void TargetService::on_channel_closed(Channel& channel) {
    registry_.detach(channel.nexus(), channel.control().get());
    ++stats_.channels_closed;
    spdlog::info("[{}] channel closed", channel.name());
}

void TargetService::log_stats() const {
    spdlog::info("stats: {} nexus(es), {} channel(s); logins {} rejected {} closed {}; commands {} "
                 "(check conditions {}, task management {}, immediate {}, external tables {}, bounce {}); "
                 "read {} bytes, written {} bytes; protocol errors {}, transport errors {}",
                 registry_.nexus_count(), registry_.total_channels(), stats_.logins.load(), stats_.login_rejects.load(),
                 stats_.channels_closed.load(), stats_.commands.load(), stats_.check_conditions.load(),
                 stats_.task_management.load(), stats_.immediate_commands.load(), stats_.external_tables.load(),
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
    spdlog::info("srp_target ready: {} LUN(s), {} device(s), {} poller(s)", target_.luns().size(),
                 devices_->devices().size(), pollers_.size());
    auto next_stats = std::chrono::steady_clock::now() + std::chrono::seconds(config_.stats_interval_s);
    bool running = true;
    while (running) {
        pollfd fds[2] = {{listener_->fd(), POLLIN, 0}, {signal_fd, POLLIN, 0}};
        ::poll(fds, 2, 1000);
        listener_->process_events();
        signalfd_siginfo info{};
        while (::read(signal_fd, &info, sizeof info) == sizeof info) {
            if (info.ssi_signo == SIGUSR1) log_stats();
            else {
                spdlog::info("signal {}: shutting down", info.ssi_signo);
                running = false;
            }
        }
        if (config_.stats_interval_s != 0 && std::chrono::steady_clock::now() >= next_stats) {
            log_stats();
            next_stats = std::chrono::steady_clock::now() + std::chrono::seconds(config_.stats_interval_s);
        }
    }
    ::close(signal_fd);
    shutdown();
    log_stats();
    return 0;
}

void TargetService::shutdown() {
    if (pollers_.empty()) return;
    {
        std::lock_guard lock(tokens_mutex_);
        for (auto& [token, weak] : tokens_)
            if (auto control = weak.lock()) control->request_disconnect("target shutting down");
    }
    // Let the pollers drain every channel (flushed completions) before freeing anything.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    auto busy = [&] {
        for (auto& p : pollers_)
            if (p->channel_count() != 0) return true;
        return false;
    };
    while (busy() && std::chrono::steady_clock::now() < deadline) {
        if (listener_) listener_->process_events();
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    pollers_.clear();
    listener_.reset();
    for (const auto& [number, unit] : target_.luns()) (void)unit->backstore().flush(0, 0);
}

}  // namespace srp::target
