// Persistent reservations: which nexus an identity names, and telling the
// nexuses a PERSISTENT RESERVE OUT affected.
#include "srp_target/scsi/logical_unit.h"

namespace srp::target {

void LogicalUnit::establish_reservation_attentions(const PrOutcome& outcome) {
    // Reservations name nexuses by identity; the unit attention goes to the
    // nexus attached under it, if it is here.
    for (const auto& [identity, asc] : outcome.unit_attentions)
        for (const auto& [nexus, attached] : identities_)
            if (attached == identity) establish_unit_attention(nexus, asc);
}

const NexusIdentity& LogicalUnit::identity_of(NexusId nexus) {
    auto [it, added] = identities_.try_emplace(nexus);
    if (added) it->second = anonymous_identity(nexus);
    return it->second;
}

NexusIdentity LogicalUnit::anonymous_identity(NexusId nexus) {
    // No TransportID: only the id tells it apart.
    NexusIdentity identity;
    for (int shift = 56; shift >= 0; shift -= 8) identity.target_port.push_back(static_cast<std::uint8_t>(nexus >> shift));
    return identity;
}

}  // namespace srp::target
