// The name of an I_T nexus that outlives a login and a restart of the
// target: what persistent reservations are bound to (SPC-4 5.12.5 keeps,
// for every registration, the initiator port's name or identifier and the
// target port it came through). NexusId, by contrast, is a handle the
// transport hands out per login session and may reuse after a restart.
// The transport builds the identity and the engine treats it as opaque
// bytes, so SRP and a later iSCSI front end share the engine unchanged.
#pragma once

#include <compare>
#include <cstdint>
#include <vector>

namespace srp::target {

struct NexusIdentity {
    // The initiator port's TransportID (SPC-4 7.6.4): PROTOCOL IDENTIFIER in
    // byte 0, then the port's name. Empty only for a nexus the transport
    // never named (tests, tools), which is never persisted.
    std::vector<std::uint8_t> initiator;
    // The transport's name for the target port the nexus goes through.
    std::vector<std::uint8_t> target_port;

    bool anonymous() const noexcept { return initiator.empty(); }
    friend auto operator<=>(const NexusIdentity&, const NexusIdentity&) = default;
};

}  // namespace srp::target
