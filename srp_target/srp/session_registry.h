// I_T nexuses and their channels (SRP r16a 4.6 multichannel). A nexus is
// (initiator port id, target port id); its NexusId stays stable while the
// nexus is remembered, so a returning nexus gets I_T NEXUS LOSS OCCURRED.
// The engine learns the nexus's lasting name at attach (srp_nexus_identity),
// which persistent reservations are bound to.
// Memory is bounded: of the nexuses with no channel left, the registry
// remembers the most recent kRememberedDepartedNexuses (and every one that
// still holds a persistent reservation registration) and forgets the rest.
// Thread safety: all methods are thread safe (CM thread, pollers). The
// logical units hear of a nexus's arrival and departure under the
// registry's lock, so a last detach and a new login of the same nexus
// cannot interleave.
#pragma once

#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "common/wire/iu_layouts.h"
#include "srp_target/scsi/scsi_target.h"
#include "srp_target/srp/channel_control.h"

namespace srp::target {

inline constexpr std::size_t kRememberedDepartedNexuses = 1024;

class SessionRegistry {
public:
    explicit SessionRegistry(ScsiTarget& target) : target_(target) {}

    std::uint32_t channel_count(const wire::PortId& initiator, const wire::PortId& target_port) const;
    // The nexus's id, creating the nexus without channels when it is new
    // (it is then remembered as departed until a channel attaches). Used to
    // build a channel before it is attached.
    NexusId nexus_id(const wire::PortId& initiator, const wire::PortId& target_port);
    // Adds a channel to its nexus. SINGLE: asks every other channel of the
    // nexus to disconnect and returns how many were terminated. Call only
    // once the channel's own resources exist (a failed login must not cost
    // the working session its channels).
    struct Attached {
        NexusId nexus;
        std::uint32_t terminated;
    };
    Attached attach(const wire::PortId& initiator, const wire::PortId& target_port,
                    const std::shared_ptr<ChannelControl>& channel, bool single);
    void detach(NexusId nexus, const ChannelControl* channel);
    // The channels of one nexus, or of every nexus: task management fans out to them.
    std::vector<std::shared_ptr<ChannelControl>> channels(std::optional<NexusId> nexus) const;
    std::size_t nexus_count() const;        // nexuses with at least one channel
    std::size_t remembered_nexuses() const;  // including departed ones
    std::size_t total_channels() const;

private:
    struct Nexus {
        NexusId id = 0;
        std::vector<std::weak_ptr<ChannelControl>> channels;
    };
    using Key = std::pair<wire::PortId, wire::PortId>;
    Nexus& find_or_create(const Key& key);  // mutex_ held
    void forget_departed();                 // mutex_ held

    ScsiTarget& target_;
    mutable std::mutex mutex_;
    std::map<Key, Nexus> nexuses_;
    std::deque<Key> departed_;  // nexuses that lost their last channel, oldest first
    NexusId next_id_ = 1;
};

}  // namespace srp::target
