#include "srp_target/srp/session_registry.h"

#include <algorithm>

namespace srp::target {

void ChannelControl::request_disconnect(const char* reason) noexcept {
    reason_.store(reason, std::memory_order_release);
    if (!disconnect_requested_.exchange(true, std::memory_order_acq_rel) && wake_poller_) wake_poller_();
}

std::uint32_t SessionRegistry::channel_count(const wire::PortId& initiator, const wire::PortId& target_port) const {
    std::lock_guard lock(mutex_);
    auto it = nexuses_.find({initiator, target_port});
    if (it == nexuses_.end()) return 0;
    return static_cast<std::uint32_t>(it->second.channels.size());
}

SessionRegistry::Attached SessionRegistry::attach(const wire::PortId& initiator, const wire::PortId& target_port,
                                                  const std::shared_ptr<ChannelControl>& channel, bool single) {
    std::unique_lock lock(mutex_);
    auto [it, created] = nexuses_.try_emplace({initiator, target_port});
    Nexus& nexus = it->second;
    if (created) nexus.id = next_id_++;
    std::uint32_t terminated = 0;
    if (single) {
        // SRP r16a 6.2.2: a SINGLE login terminates the nexus's existing channels.
        for (auto& weak : nexus.channels)
            if (auto other = weak.lock()) {
                other->request_disconnect("terminated by a new SINGLE login of the same I_T nexus");
                ++terminated;
            }
    }
    const bool first = nexus.channels.empty();
    nexus.channels.push_back(channel);
    const NexusId id = nexus.id;
    lock.unlock();
    if (first) target_.attach_nexus(id);
    return Attached{id, terminated};
}

void SessionRegistry::detach(NexusId nexus_id, const ChannelControl* channel) {
    std::unique_lock lock(mutex_);
    for (auto& [key, nexus] : nexuses_) {
        if (nexus.id != nexus_id) continue;
        std::erase_if(nexus.channels, [&](const auto& weak) {
            auto locked = weak.lock();
            return !locked || locked.get() == channel;
        });
        const bool last = nexus.channels.empty();
        lock.unlock();
        // The nexus is gone with its last channel: drop unit attentions and
        // SPC-2 reservations; persistent registrations stay keyed by the id.
        if (last) target_.detach_nexus(nexus_id);
        return;
    }
}

std::size_t SessionRegistry::nexus_count() const {
    std::lock_guard lock(mutex_);
    return static_cast<std::size_t>(std::count_if(nexuses_.begin(), nexuses_.end(),
                                                  [](const auto& n) { return !n.second.channels.empty(); }));
}

std::size_t SessionRegistry::total_channels() const {
    std::lock_guard lock(mutex_);
    std::size_t total = 0;
    for (const auto& [key, nexus] : nexuses_) total += nexus.channels.size();
    return total;
}

}  // namespace srp::target
