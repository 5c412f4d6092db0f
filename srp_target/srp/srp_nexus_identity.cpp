#include "srp_target/srp/srp_nexus_identity.h"

#include <algorithm>

namespace srp::target {

namespace {
constexpr std::size_t kSrpTransportIdBytes = 24;
constexpr std::uint8_t kProtocolIdentifierSrp = 0x4;  // SPC-4 7.6.1, table "PROTOCOL IDENTIFIER values"
constexpr std::size_t kInitiatorPortIdOffset = 8;
}  // namespace

NexusIdentity srp_nexus_identity(const wire::PortId& initiator_port, const wire::PortId& target_port) {
    // SPC-4 7.6.4 TransportID for SRP: FORMAT CODE 00b and PROTOCOL
    // IDENTIFIER 4h in byte 0, bytes 1-7 reserved, the 16-byte INITIATOR
    // PORT IDENTIFIER (as SRP_LOGIN_REQ carries it, SRP r16a) in bytes 8-23.
    NexusIdentity identity;
    identity.initiator.assign(kSrpTransportIdBytes, 0);
    identity.initiator[0] = kProtocolIdentifierSrp;
    std::copy(initiator_port.begin(), initiator_port.end(),
              identity.initiator.begin() + static_cast<std::ptrdiff_t>(kInitiatorPortIdOffset));
    identity.target_port.assign(target_port.begin(), target_port.end());
    return identity;
}

}  // namespace srp::target
