// Our target served by a real Poller thread over the loopback fabric, with a
// Connector for the initiator Session: the same login decision and channel
// set-up as the daemon, without RDMA hardware.
#pragma once

#include <memory>

#include "common/fabric/loopback.h"
#include "srp_initiator/session.h"
#include "srp_target/service/poller.h"
#include "srp_target/srp/login.h"
#include "tests/unit/temp_dir.h"

namespace srp::test {

class LoopbackServer {
public:
    static constexpr std::uint64_t kTargetGuid = 0x1122334455667788ull;
    explicit LoopbackServer(std::uint64_t lun_bytes = 8u << 20, bool register_backstore = true);
    ~LoopbackServer();

    initiator::Connector connector();
    target::LoginPolicy policy;
    target::TargetStats stats;
    std::span<std::uint8_t> medium() { return unit_->backstore().bytes(); }
    std::size_t channels() const { return poller_->channel_count(); }

private:
    TempDir dir_;
    target::ScsiTarget scsi_;
    std::shared_ptr<target::LogicalUnit> unit_;
    target::SessionRegistry registry_{scsi_};
    std::shared_ptr<fabric::LoopbackDomain> target_domain_ = std::make_shared<fabric::LoopbackDomain>();
    target::RegisteredBackstores backstores_;
    std::shared_ptr<fabric::LoopbackNotifier> notifier_ = std::make_shared<fabric::LoopbackNotifier>();
    std::unique_ptr<target::Poller> poller_;
    std::uint64_t next_token_ = 1;
};

}  // namespace srp::test
