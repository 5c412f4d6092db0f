#include "tests/loopback/loopback_server.h"

#include <catch2/catch.hpp>

#include "common/wire/iu_parse.h"

namespace srp::test {

namespace {

// One login over the loopback fabric, with the faults of the server.
class LoopbackIncomingLogin : public target::IncomingLogin {
public:
    LoopbackIncomingLogin(std::span<const std::uint8_t> login, std::string source, LoginFaults faults,
                          std::shared_ptr<fabric::LoopbackDomain> target_domain,
                          std::shared_ptr<fabric::LoopbackNotifier> target_notifier,
                          std::shared_ptr<std::atomic<std::size_t>> target_doorbells)
        : login_(login), source_(std::move(source)), faults_(faults), target_domain_(std::move(target_domain)),
          target_notifier_(std::move(target_notifier)), target_doorbells_(std::move(target_doorbells)) {}

    std::span<const std::uint8_t> private_data() const override { return login_; }
    std::string source_address() const override { return source_; }
    std::string device_name() const override { return "loopback"; }
    fabric::MemoryDomain& domain() override { return *target_domain_; }
    std::unique_ptr<fabric::Connection> create_connection(std::size_t, target::ChannelQueueDepths,
                                                          std::uint64_t) override {
        if (faults_.fail_connection)
            throw std::system_error(std::make_error_code(std::errc::not_enough_memory), "creating the queue pair");
        auto [target_end, initiator_end] =
            fabric::make_loopback_pair(target_domain_, target_notifier_, initiator_domain, initiator_notifier);
        initiator_connection = std::move(initiator_end);
        target_end->tally_doorbells(target_doorbells_);
        if (faults_.refuse_receives) target_end->refuse_receives(true);
        if (faults_.fail_registration_after) target_domain_->fail_registrations_after(faults_.fail_registration_after);
        return std::move(target_end);  // a structured binding is not implicitly moved (clang)
    }
    int accept(fabric::Connection&, std::span<const std::uint8_t> login_response) override {
        target_domain_->fail_registrations_after(std::nullopt);
        if (faults_.fail_accept != 0) return faults_.fail_accept;
        accepted.assign(login_response.begin(), login_response.end());
        return 0;
    }
    void reject(std::span<const std::uint8_t> login_reject) noexcept override {
        target_domain_->fail_registrations_after(std::nullopt);
        rejected.assign(login_reject.begin(), login_reject.end());
    }

    std::shared_ptr<fabric::LoopbackDomain> initiator_domain = std::make_shared<fabric::LoopbackDomain>();
    std::shared_ptr<fabric::LoopbackNotifier> initiator_notifier = std::make_shared<fabric::LoopbackNotifier>();
    std::unique_ptr<fabric::LoopbackConnection> initiator_connection;
    std::vector<std::uint8_t> accepted, rejected;

private:
    std::span<const std::uint8_t> login_;
    std::string source_;
    LoginFaults faults_;
    std::shared_ptr<fabric::LoopbackDomain> target_domain_;
    std::shared_ptr<fabric::LoopbackNotifier> target_notifier_;
    std::shared_ptr<std::atomic<std::size_t>> target_doorbells_;
};

}  // namespace

LoopbackServer::LoopbackServer(std::uint64_t lun_bytes, bool register_backstore, target::AcceptorLimits limits,
                               target::BackstoreAccess access) {
    auto store = std::make_unique<target::Backstore>(target::BackstoreConfig{dir_.file("lun0"), lun_bytes, false, access});
    target::LogicalUnitConfig config;
    config.serial = "LOOPBACK0001";
    unit_ = std::make_shared<target::LogicalUnit>(std::move(store), config);
    scsi_.add_lun(0, unit_);
    if (register_backstore && unit_->backstore().is_memory()) {
        auto r = target_domain_->register_memory(unit_->backstore().bytes(), false);
        REQUIRE(r.has_value());
        backstores_.add(std::move(*r), unit_->backstore());
        unit_->backstore().set_pinned(true);
    }
    policy.target_port_id = wire::make_target_port_id(kTargetGuid, kTargetGuid);
    policy.queue_depth = 32;
    poller_ = std::make_unique<target::Poller>("loopback", [this](target::Channel& c) { acceptor_->on_channel_closed(c); });
    poller_->add_notifier(notifier_.get());
    acceptor_ = std::make_unique<target::ChannelAcceptor>(scsi_, registry_, stats, std::vector{poller_.get()}, limits);
    poller_->start();
}

LoopbackServer::~LoopbackServer() { poller_->stop(); }

initiator::Connector LoopbackServer::connector(std::string source) {
    return [this, source](const initiator::ConnectRequest& connect)
               -> std::expected<initiator::ConnectedChannel, initiator::LoginFailure> {
        std::lock_guard lock(login_mutex_);
        const std::vector<std::uint8_t> login = connect.login(initiator_gid);  // outlives the acceptor's use
        auto request = std::make_shared<LoopbackIncomingLogin>(login, source, faults, target_domain_, notifier_,
                                                               target_doorbells_);
        acceptor_->on_connect_request(*request, policy, backstores_);
        if (request->accepted.empty()) {
            std::optional<std::uint32_t> reason;
            if (auto rej = wire::parse_login_rej(request->rejected)) reason = rej->reason.value();
            return std::unexpected(initiator::LoginFailure{initiator::LoginFailure::Kind::rejected, "login rejected",
                                                           reason});
        }
        initiator::ConnectedChannel c;
        c.connection = request->initiator_connection.get();
        c.domain = request->initiator_domain.get();
        c.notifier = request->initiator_notifier.get();
        c.accept_data = request->accepted;
        c.description = "loopback";
        request->initiator_connection->set_receive_queue_depth(connect.receive_queue_depth);
        c.owner = request;
        return c;
    };
}

}  // namespace srp::test
