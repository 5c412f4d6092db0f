#include "tests/bench/bench_target.h"

#include <dirent.h>

#include <fstream>
#include <set>
#include <stdexcept>

#include "common/wire/iu_parse.h"

namespace srp::bench {

namespace {

std::set<pid_t> task_ids() {
    std::set<pid_t> ids;
    if (DIR* d = ::opendir("/proc/self/task")) {
        while (const dirent* e = ::readdir(d))
            if (e->d_name[0] != '.') ids.insert(static_cast<pid_t>(std::stol(e->d_name)));
        ::closedir(d);
    }
    return ids;
}

// One login over the loopback fabric, bound to the notifier of the poller
// the acceptor picks for it.
class BenchLogin : public target::IncomingLogin {
public:
    BenchLogin(std::span<const std::uint8_t> login, std::shared_ptr<fabric::LoopbackDomain> domain,
               const std::vector<std::shared_ptr<fabric::LoopbackNotifier>>& notifiers)
        : login_(login), domain_(std::move(domain)), notifiers_(notifiers) {}

    std::span<const std::uint8_t> private_data() const override { return login_; }
    std::string source_address() const override { return "127.0.0.1"; }
    std::string device_name() const override { return "loopback"; }
    fabric::MemoryDomain& domain() override { return *domain_; }
    std::unique_ptr<fabric::Connection> create_connection(std::size_t poller, target::ChannelQueueDepths,
                                                          std::uint64_t) override {
        auto [target_end, initiator_end] =
            fabric::make_loopback_pair(domain_, notifiers_.at(poller), initiator_domain, initiator_notifier);
        initiator_connection = std::move(initiator_end);
        return std::move(target_end);
    }
    int accept(fabric::Connection&, std::span<const std::uint8_t> login_response) override {
        accepted.assign(login_response.begin(), login_response.end());
        return 0;
    }
    void reject(std::span<const std::uint8_t> login_reject) noexcept override {
        rejected.assign(login_reject.begin(), login_reject.end());
    }

    std::shared_ptr<fabric::LoopbackDomain> initiator_domain = std::make_shared<fabric::LoopbackDomain>();
    std::shared_ptr<fabric::LoopbackNotifier> initiator_notifier = std::make_shared<fabric::LoopbackNotifier>();
    std::unique_ptr<fabric::LoopbackConnection> initiator_connection;
    std::vector<std::uint8_t> accepted, rejected;

private:
    std::span<const std::uint8_t> login_;
    std::shared_ptr<fabric::LoopbackDomain> domain_;
    const std::vector<std::shared_ptr<fabric::LoopbackNotifier>>& notifiers_;
};

}  // namespace

BenchTarget::BenchTarget(std::uint64_t lun_bytes, std::size_t pollers, std::uint32_t queue_depth) {
    auto store = std::make_unique<target::Backstore>(
        target::BackstoreConfig{"", lun_bytes, false, target::BackstoreAccess::mapped});
    target::LogicalUnitConfig config;
    config.serial = "BENCH0001";
    unit_ = std::make_shared<target::LogicalUnit>(std::move(store), config);
    scsi_.add_lun(0, unit_);
    // Registered once, as the daemon does for the memory kind: RDMA goes
    // straight into the LUN's mapping.
    auto r = domain_->register_memory(unit_->backstore().bytes(), false);
    if (!r) throw std::system_error(r.error(), "registering the LUN");
    backstores_.add(std::move(*r), unit_->backstore());
    unit_->backstore().set_pinned(true);
    policy_.target_port_id = wire::make_target_port_id(kTargetGuid, kTargetGuid);
    policy_.queue_depth = queue_depth;
    std::vector<target::Poller*> raw;
    for (std::size_t i = 0; i < pollers; ++i) {
        notifiers_.push_back(std::make_shared<fabric::LoopbackNotifier>());
        pollers_.push_back(std::make_unique<target::Poller>("bench" + std::to_string(i),
                                                            [this](target::Channel& c) { acceptor_->on_channel_closed(c); }));
        pollers_.back()->add_notifier(notifiers_.back().get());
        raw.push_back(pollers_.back().get());
    }
    acceptor_ = std::make_unique<target::ChannelAcceptor>(scsi_, registry_, stats_, raw, target::AcceptorLimits{});
    for (auto& p : pollers_) {
        const auto before = task_ids();
        p->start();
        for (pid_t id : task_ids())
            if (!before.contains(id)) poller_tids_.push_back(id);
    }
    if (poller_tids_.size() != pollers_.size()) throw std::runtime_error("cannot find the poller threads");
}

BenchTarget::~BenchTarget() {
    for (auto& p : pollers_) p->stop();
}

std::uint64_t BenchTarget::poller_cpu_ns() const {
    std::uint64_t total = 0;
    for (pid_t id : poller_tids_) {
        std::ifstream in("/proc/self/task/" + std::to_string(id) + "/schedstat");
        std::uint64_t on_cpu_ns = 0;
        in >> on_cpu_ns;
        total += on_cpu_ns;
    }
    return total;
}

initiator::Connector BenchTarget::connector() {
    return [this](const initiator::ConnectRequest& connect)
               -> std::expected<initiator::ConnectedChannel, initiator::LoginFailure> {
        std::lock_guard lock(login_mutex_);
        const initiator::PortGid gid{0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0x02, 0, 0, 0xff, 0xfe, 0, 0, 1};
        const std::vector<std::uint8_t> login = connect.login(gid);
        auto request = std::make_shared<BenchLogin>(login, domain_, notifiers_);
        acceptor_->on_connect_request(*request, policy_, backstores_);
        if (request->accepted.empty())
            return std::unexpected(
                initiator::LoginFailure{initiator::LoginFailure::Kind::rejected, "login rejected", std::nullopt});
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

}  // namespace srp::bench
