// Our target served by a real Poller thread over the loopback fabric, with a
// Connector for the initiator Session. Logins go through the daemon's own
// ChannelAcceptor, so the same decisions, limits and unwinding paths run,
// without RDMA hardware. Faults can be injected into the next logins.
#pragma once

#include <memory>
#include <optional>

#include "common/fabric/loopback.h"
#include "srp_initiator/session.h"
#include "srp_target/service/channel_acceptor.h"
#include "srp_target/service/poller.h"
#include "srp_target/srp/login.h"
#include "tests/unit/temp_dir.h"

namespace srp::test {

// Failures the next logins meet, each where the daemon would meet it.
struct LoginFaults {
    bool fail_connection = false;                     // QP/CQ creation throws
    std::optional<std::size_t> fail_registration_after;  // the channel's n+1-th ibv_reg_mr fails
    bool refuse_receives = false;                     // posting the receive ring fails
    int fail_accept = 0;                              // rdma_accept's errno
};

class LoopbackServer {
public:
    static constexpr std::uint64_t kTargetGuid = 0x1122334455667788ull;
    // access: mapped (memory kind, the default) or automatic (an io_uring LUN).
    explicit LoopbackServer(std::uint64_t lun_bytes = 8u << 20, bool register_backstore = true,
                            target::AcceptorLimits limits = {},
                            target::BackstoreAccess access = target::BackstoreAccess::mapped);
    ~LoopbackServer();

    // source: the initiator's address as the acceptor sees it.
    initiator::Connector connector(std::string source = "127.0.0.1");
    target::LoginPolicy policy;
    target::TargetStats stats;
    LoginFaults faults;
    // The initiator's port GID as its logins see it (ib_srp builds the port id from it).
    initiator::PortGid initiator_gid{0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0x02, 0x00, 0x00, 0xff, 0xfe, 0x00, 0x00, 0x01};
    std::span<std::uint8_t> medium() { return unit_->backstore().bytes(); }
    bool lun_is_memory() const { return unit_->backstore().is_memory(); }
    std::string lun_path() const { return dir_.file("lun0"); }
    std::size_t channels() const { return poller_->channel_count(); }
    std::size_t open_channels() const { return acceptor_->open_channels(); }
    std::size_t registrations() const { return target_domain_->registration_count(); }
    // The daemon's steps when an RDMA device goes away (device "loopback").
    void disconnect_device(const std::string& device) { acceptor_->disconnect_device(device, "test: device removed"); }
    std::size_t channels_on(const std::string& device) const { return acceptor_->channels_on(device); }
    void set_notifiers(std::vector<fabric::Notifier*> notifiers) { poller_->set_notifiers(std::move(notifiers)); }
    fabric::Notifier* notifier() { return notifier_.get(); }
    const target::SessionRegistry& registry() const { return registry_; }
    // Doorbells (send posts) of every target-side connection so far.
    std::size_t target_doorbells() const { return target_doorbells_->load(std::memory_order_relaxed); }

private:
    TempDir dir_;
    target::ScsiTarget scsi_;
    std::shared_ptr<target::LogicalUnit> unit_;
    target::SessionRegistry registry_{scsi_};
    std::shared_ptr<fabric::LoopbackDomain> target_domain_ = std::make_shared<fabric::LoopbackDomain>();
    target::RegisteredBackstores backstores_;
    std::shared_ptr<fabric::LoopbackNotifier> notifier_ = std::make_shared<fabric::LoopbackNotifier>();
    std::unique_ptr<target::Poller> poller_;
    std::unique_ptr<target::ChannelAcceptor> acceptor_;
    std::mutex login_mutex_;  // logins arrive one at a time, as on the daemon's CM thread
    std::shared_ptr<std::atomic<std::size_t>> target_doorbells_ = std::make_shared<std::atomic<std::size_t>>(0);
};

}  // namespace srp::test
