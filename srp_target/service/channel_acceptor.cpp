#include "srp_target/service/channel_acceptor.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>

#include "common/wire/iu_parse.h"

namespace srp::target {

ChannelAcceptor::ChannelAcceptor(ScsiTarget& target, SessionRegistry& registry, TargetStats& stats,
                                 std::vector<Poller*> pollers, AcceptorLimits limits)
    : target_(target), registry_(registry), stats_(stats), pollers_(std::move(pollers)), limits_(limits) {}

bool ChannelAcceptor::admit(const std::string& source, std::string& why) {
    std::lock_guard lock(mutex_);
    if (shutting_down_) {
        why = "the target is shutting down";
        return false;
    }
    if (open_ >= limits_.max_channels) {
        why = "the target's channel limit (--max-channels " + std::to_string(limits_.max_channels) + ") is reached";
        return false;
    }
    auto& from_source = per_source_[source];
    if (from_source >= limits_.max_channels_per_address) {
        why = "the channel limit per source address (--max-channels-per-address " +
              std::to_string(limits_.max_channels_per_address) + ") is reached for " + source;
        if (from_source == 0) per_source_.erase(source);
        return false;
    }
    ++open_;
    ++from_source;
    return true;
}

void ChannelAcceptor::release_slot(const std::string& source) {
    std::lock_guard lock(mutex_);
    --open_;
    if (auto it = per_source_.find(source); it != per_source_.end() && --it->second == 0) per_source_.erase(it);
}

void ChannelAcceptor::reject(IncomingLogin& request, const LoginDecision& decision, wire::LoginRejectReason reason,
                             const std::string& initiator, const std::string& why) {
    ++stats_.login_rejects;
    const auto code = static_cast<std::uint32_t>(reason);
    spdlog::warn("login from {} (initiator {}) on {} rejected with reason 0x{:08x} ({}): {}", request.source_address(),
                 initiator, request.device_name(), code, wire::login_reject_reason_name(code), why);
    auto rej = decision.rejection();
    rej.reason = code;
    request.reject(wire::iu_bytes(rej));
}

void ChannelAcceptor::on_connect_request(IncomingLogin& request, const LoginPolicy& policy,
                                         const RegisteredBackstores& backstores) {
    const std::string source = request.source_address();
    std::uint32_t existing = 0;
    if (auto peek = wire::parse_login_req_rdma(request.private_data()))
        existing = registry_.channel_count(peek->initiator_port_id, peek->target_port_id);
    const auto decision = evaluate_login(LoginRequest{request.private_data(), source, existing}, policy);
    const std::string initiator = decision.parsed ? format_port_id(decision.request.initiator_port_id) : "?";
    if (!decision.accepted) return reject(request, decision, decision.reason, initiator, decision.explanation);
    std::string why;
    if (!admit(source, why)) return reject(request, decision, wire::LoginRejectReason::insufficient_resources, initiator, why);

    std::size_t poller = 0;  // the least loaded poller takes the channel
    for (std::size_t i = 1; i < pollers_.size(); ++i)
        if (pollers_[i]->channel_count() < pollers_[poller]->channel_count()) poller = i;
    Poller* owner = pollers_[poller];
    std::uint64_t token;
    {
        std::lock_guard lock(mutex_);
        token = next_token_++;
    }
    std::unique_ptr<Channel> channel;
    std::shared_ptr<ChannelControl> control;
    fabric::Connection* connection_view = nullptr;
    auto forget_token = [&] {
        std::lock_guard lock(mutex_);
        tokens_.erase(token);
    };
    try {
        control = std::make_shared<ChannelControl>([owner] { owner->wake(); });
        {
            std::lock_guard lock(mutex_);
            tokens_[token] = Open{control, source, request.device_name()};  // on_channel_closed releases the slot by it
        }
        const NexusId nexus = registry_.nexus_id(decision.request.initiator_port_id, decision.request.target_port_id);
        const ChannelQueueDepths depths{policy.queue_depth * 4 + kMaxDescriptorsPerCommand + 8, policy.queue_depth, 16};
        auto connection = request.create_connection(poller, depths, token);
        connection_view = connection.get();
        ChannelParams params = decision.channel_params(policy);
        params.bounce_chunks = limits_.bounce_chunks;
        params.token = token;
        params.name = "n" + std::to_string(nexus) + ".c" + std::to_string(token) + " " + source;
        channel = std::make_unique<Channel>(std::move(connection), request.domain(), target_, registry_, backstores,
                                            owner->medium_queue(), stats_, control, nexus, params);
        channel->start();
    } catch (const std::exception& e) {
        // The request still owns its handle: reject first, then free what was built.
        reject(request, decision, wire::LoginRejectReason::insufficient_resources, initiator, e.what());
        channel.reset();
        forget_token();
        release_slot(source);
        return;
    }
    // SRP r16a 6.2.2: the response says whether existing channels were terminated.
    const bool terminates = decision.single_channel && existing > 0;
    const auto rsp = decision.response(policy, terminates);
    if (int err = request.accept(*connection_view, wire::iu_bytes(rsp)); err != 0) {
        ++stats_.login_rejects;
        spdlog::error("login from {} (initiator {}): accepting failed: {}", source, initiator, std::strerror(err));
        channel.reset();  // the request still owns the handle and destroys it after the channel
        forget_token();
        release_slot(source);
        return;
    }
    SessionRegistry::Attached attached{channel->nexus(), 0};
    try {
        attached = registry_.attach(decision.request.initiator_port_id, decision.request.target_port_id, control,
                                    decision.single_channel);
    } catch (const std::exception& e) {
        spdlog::error("[{}] login accepted but not registered ({}): disconnecting", channel->name(), e.what());
        control->request_disconnect("could not register the channel");
    }
    ++stats_.logins;
    spdlog::info("[{}] login accepted on {}: initiator {}, it_iu_len {}, {} credits, immediate data {}, {}{}",
                 channel->name(), request.device_name(), initiator, decision.it_iu_len, policy.queue_depth,
                 decision.imm_data_offset ? "at " + std::to_string(decision.imm_data_offset) : std::string("off"),
                 decision.single_channel ? "SINGLE" : "MULTI",
                 attached.terminated ? ", terminated " + std::to_string(attached.terminated) + " channel(s)" : "");
    owner->adopt(std::move(channel));
}

void ChannelAcceptor::on_event(std::uint64_t token, ConnectionEvent event) {
    std::shared_ptr<ChannelControl> control;
    {
        std::lock_guard lock(mutex_);
        if (auto it = tokens_.find(token); it != tokens_.end()) control = it->second.control.lock();
    }
    if (!control) return;
    switch (event) {
        case ConnectionEvent::established: break;
        case ConnectionEvent::disconnected: control->request_disconnect("initiator disconnected"); break;
        case ConnectionEvent::device_removal: control->request_disconnect("RDMA device removed"); break;
        case ConnectionEvent::error: control->request_disconnect("connection error"); break;
    }
}

void ChannelAcceptor::on_channel_closed(Channel& channel) {
    registry_.detach(channel.nexus(), channel.control().get());
    ++stats_.channels_closed;
    std::string source;
    {
        std::lock_guard lock(mutex_);
        auto it = tokens_.find(channel.token());
        if (it == tokens_.end()) return;  // not one of ours
        source = it->second.source;
        tokens_.erase(it);
    }
    release_slot(source);
    spdlog::info("[{}] channel closed", channel.name());
}

void ChannelAcceptor::disconnect_all(const char* reason) {
    std::lock_guard lock(mutex_);
    for (auto& [token, open] : tokens_)
        if (auto control = open.control.lock()) control->request_disconnect(reason);
}

void ChannelAcceptor::disconnect_device(const std::string& device, const char* reason) {
    std::lock_guard lock(mutex_);
    for (auto& [token, open] : tokens_)
        if (open.device == device)
            if (auto control = open.control.lock()) control->request_disconnect(reason);
}

std::size_t ChannelAcceptor::channels_on(const std::string& device) const {
    std::lock_guard lock(mutex_);
    return static_cast<std::size_t>(
        std::count_if(tokens_.begin(), tokens_.end(), [&](const auto& t) { return t.second.device == device; }));
}

void ChannelAcceptor::logout_all(wire::TargetLogoutReason reason) {
    std::lock_guard lock(mutex_);
    shutting_down_ = true;
    for (auto& [token, open] : tokens_)
        if (auto control = open.control.lock()) control->request_logout(static_cast<std::uint32_t>(reason));
}

std::size_t ChannelAcceptor::open_channels() const {
    std::lock_guard lock(mutex_);
    return open_;
}

}  // namespace srp::target
