#include "tests/loopback/loopback_server.h"

#include <catch2/catch.hpp>

#include "common/wire/iu_parse.h"

namespace srp::test {

LoopbackServer::LoopbackServer(std::uint64_t lun_bytes, bool register_backstore) {
    auto store = std::make_unique<target::Backstore>(target::BackstoreConfig{dir_.file("lun0"), lun_bytes, false});
    target::LogicalUnitConfig config;
    config.serial = "LOOPBACK0001";
    unit_ = std::make_shared<target::LogicalUnit>(std::move(store), config);
    scsi_.add_lun(0, unit_);
    if (register_backstore) {
        auto r = target_domain_->register_memory(unit_->backstore().bytes(), false);
        REQUIRE(r.has_value());
        backstores_.add(std::move(*r), unit_->backstore());
        unit_->backstore().set_pinned(true);
    }
    policy.target_port_id = wire::make_target_port_id(kTargetGuid, kTargetGuid);
    policy.queue_depth = 32;
    poller_ = std::make_unique<target::Poller>("loopback", [this](target::Channel& c) {
        registry_.detach(c.nexus(), c.control().get());
    });
    poller_->add_notifier(notifier_.get());
    poller_->start();
}

LoopbackServer::~LoopbackServer() { poller_->stop(); }

initiator::Connector LoopbackServer::connector() {
    return [this](std::span<const std::uint8_t> login) -> std::expected<initiator::ConnectedChannel, initiator::LoginFailure> {
        std::uint32_t existing = 0;
        if (auto peek = wire::parse_login_req_rdma(login))
            existing = registry_.channel_count(peek->initiator_port_id, peek->target_port_id);
        const auto decision = target::evaluate_login(target::LoginRequest{login, "127.0.0.1", existing}, policy);
        if (!decision.accepted) {
            ++stats.login_rejects;
            return std::unexpected(initiator::LoginFailure{initiator::LoginFailure::Kind::rejected, decision.explanation,
                                                           static_cast<std::uint32_t>(decision.reason)});
        }
        struct Owner {
            std::shared_ptr<fabric::LoopbackDomain> domain = std::make_shared<fabric::LoopbackDomain>();
            std::shared_ptr<fabric::LoopbackNotifier> notifier = std::make_shared<fabric::LoopbackNotifier>();
            std::unique_ptr<fabric::LoopbackConnection> connection;
        };
        auto owner = std::make_shared<Owner>();
        auto [target_end, initiator_end] = fabric::make_loopback_pair(target_domain_, notifier_, owner->domain, owner->notifier);
        owner->connection = std::move(initiator_end);
        target::Poller* poller = poller_.get();
        auto control = std::make_shared<target::ChannelControl>([poller] { poller->wake(); });
        const auto attached = registry_.attach(decision.request.initiator_port_id, decision.request.target_port_id,
                                               control, decision.single_channel);
        target::ChannelParams params = decision.channel_params(policy);
        params.bounce_chunks = target::kMinBounceChunks;
        params.token = next_token_++;
        params.name = "loopback" + std::to_string(params.token);
        auto channel = std::make_unique<target::Channel>(std::move(target_end), *target_domain_, scsi_, registry_, backstores_, stats,
                                                         control, attached.nexus, params);
        channel->start();
        ++stats.logins;
        const auto rsp = decision.response(policy, attached.terminated > 0);
        poller_->adopt(std::move(channel));
        initiator::ConnectedChannel c;
        c.connection = owner->connection.get();
        c.domain = owner->domain.get();
        c.notifier = owner->notifier.get();
        const auto accept = wire::iu_bytes(rsp);
        c.accept_data.assign(accept.begin(), accept.end());
        c.description = "loopback";
        c.owner = owner;
        return c;
    };
}

}  // namespace srp::test
