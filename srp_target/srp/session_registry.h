// I_T nexuses and their channels (SRP r16a 4.6 multichannel). A nexus is
// (initiator port id, target port id); its NexusId is stable for the life of
// the process, so persistent reservation registrations survive a re-login.
// Thread safety: all methods are thread safe (CM thread, pollers).
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "common/wire/iu_layouts.h"
#include "srp_target/scsi/scsi_target.h"

namespace srp::target {

// The cross-thread handle of one channel: the CM thread and other channels
// ask its poller to disconnect it; the poller owns the channel itself.
class ChannelControl {
public:
    explicit ChannelControl(std::function<void()> wake_poller) : wake_poller_(std::move(wake_poller)) {}
    void request_disconnect(const char* reason) noexcept;
    bool disconnect_requested() const noexcept { return disconnect_requested_.load(std::memory_order_acquire); }
    const char* disconnect_reason() const noexcept { return reason_.load(std::memory_order_acquire); }

private:
    std::function<void()> wake_poller_;
    std::atomic<bool> disconnect_requested_{false};
    std::atomic<const char*> reason_{""};
};

class SessionRegistry {
public:
    explicit SessionRegistry(ScsiTarget& target) : target_(target) {}

    std::uint32_t channel_count(const wire::PortId& initiator, const wire::PortId& target_port) const;
    // Adds a channel to its nexus. SINGLE: asks every other channel of the
    // nexus to disconnect and returns how many were terminated.
    struct Attached {
        NexusId nexus;
        std::uint32_t terminated;
    };
    Attached attach(const wire::PortId& initiator, const wire::PortId& target_port,
                    const std::shared_ptr<ChannelControl>& channel, bool single);
    void detach(NexusId nexus, const ChannelControl* channel);
    std::size_t nexus_count() const;
    std::size_t total_channels() const;

private:
    struct Nexus {
        NexusId id;
        std::vector<std::weak_ptr<ChannelControl>> channels;
    };
    using Key = std::pair<wire::PortId, wire::PortId>;
    ScsiTarget& target_;
    mutable std::mutex mutex_;
    std::map<Key, Nexus> nexuses_;
    NexusId next_id_ = 1;
};

}  // namespace srp::target
