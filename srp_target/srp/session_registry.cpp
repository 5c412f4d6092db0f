#include "srp_target/srp/session_registry.h"

#include <algorithm>

#include "srp_target/srp/srp_nexus_identity.h"

namespace srp::target {

std::uint32_t SessionRegistry::channel_count(const wire::PortId& initiator, const wire::PortId& target_port) const {
    std::lock_guard lock(mutex_);
    auto it = nexuses_.find({initiator, target_port});
    if (it == nexuses_.end()) return 0;
    return static_cast<std::uint32_t>(it->second.channels.size());
}

SessionRegistry::Nexus& SessionRegistry::find_or_create(const Key& key) {
    auto [it, created] = nexuses_.try_emplace(key);
    if (created) it->second.id = next_id_++;
    return it->second;
}

NexusId SessionRegistry::nexus_id(const wire::PortId& initiator, const wire::PortId& target_port) {
    std::lock_guard lock(mutex_);
    const Key key{initiator, target_port};
    Nexus& nexus = find_or_create(key);
    const NexusId id = nexus.id;
    // A nexus without channels counts as departed until a channel attaches,
    // so logins that fail after this call cannot grow the registry.
    if (nexus.channels.empty() && std::find(departed_.begin(), departed_.end(), key) == departed_.end()) {
        departed_.push_back(key);
        forget_departed();
    }
    return id;
}

SessionRegistry::Attached SessionRegistry::attach(const wire::PortId& initiator, const wire::PortId& target_port,
                                                  const std::shared_ptr<ChannelControl>& channel, bool single) {
    std::lock_guard lock(mutex_);
    const Key key{initiator, target_port};
    Nexus& nexus = find_or_create(key);
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
    if (first) {
        std::erase(departed_, key);
        // Under the lock: ordered against a concurrent last detach.
        target_.attach_nexus(nexus.id, srp_nexus_identity(initiator, target_port));
    }
    return Attached{nexus.id, terminated};
}

void SessionRegistry::detach(NexusId nexus_id, const ChannelControl* channel) {
    std::lock_guard lock(mutex_);
    for (auto& [key, nexus] : nexuses_) {
        if (nexus.id != nexus_id) continue;
        const auto before = nexus.channels.size();
        std::erase_if(nexus.channels, [&](const auto& weak) {
            auto locked = weak.lock();
            return !locked || locked.get() == channel;
        });
        // The nexus is gone with its last channel: drop unit attentions and
        // SPC-2 reservations; persistent registrations stay keyed by the id.
        if (nexus.channels.empty() && before != 0) {
            target_.detach_nexus(nexus_id);
            departed_.push_back(key);
            forget_departed();
        }
        return;
    }
}

void SessionRegistry::forget_departed() {
    // Forget the oldest departed nexuses beyond the bound, except those a
    // persistent reservation still names (SPC-4 5.13: registrations persist
    // across I_T nexus loss).
    std::size_t keep = 0;
    while (departed_.size() - keep > kRememberedDepartedNexuses) {
        const Key key = departed_[keep];
        auto it = nexuses_.find(key);
        if (it != nexuses_.end() && target_.holds_registration(it->second.id)) {
            ++keep;
            continue;
        }
        if (it != nexuses_.end()) {
            target_.forget_nexus(it->second.id);
            nexuses_.erase(it);
        }
        departed_.erase(departed_.begin() + static_cast<std::ptrdiff_t>(keep));
    }
}

std::vector<std::shared_ptr<ChannelControl>> SessionRegistry::channels(std::optional<NexusId> nexus_id) const {
    std::vector<std::shared_ptr<ChannelControl>> out;
    std::lock_guard lock(mutex_);
    for (const auto& [key, nexus] : nexuses_) {
        if (nexus_id && nexus.id != *nexus_id) continue;
        for (const auto& weak : nexus.channels)
            if (auto control = weak.lock()) out.push_back(std::move(control));
    }
    return out;
}

std::size_t SessionRegistry::nexus_count() const {
    std::lock_guard lock(mutex_);
    return static_cast<std::size_t>(std::count_if(nexuses_.begin(), nexuses_.end(),
                                                  [](const auto& n) { return !n.second.channels.empty(); }));
}

std::size_t SessionRegistry::remembered_nexuses() const {
    std::lock_guard lock(mutex_);
    return nexuses_.size();
}

std::size_t SessionRegistry::total_channels() const {
    std::lock_guard lock(mutex_);
    std::size_t total = 0;
    for (const auto& [key, nexus] : nexuses_) total += nexus.channels.size();
    return total;
}

}  // namespace srp::target
