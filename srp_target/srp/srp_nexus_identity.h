// The lasting name of an SRP I_T nexus, as the SCSI engine keeps it for
// persistent reservations (see srp_target/scsi/nexus_identity.h).
#pragma once

#include "common/wire/iu_layouts.h"
#include "srp_target/scsi/nexus_identity.h"

namespace srp::target {

// initiator: the SPC-4 TransportID for SRP, 24 bytes; target_port: the 16
// bytes of the SRP target port identifier (id_ext || ioc_guid).
NexusIdentity srp_nexus_identity(const wire::PortId& initiator_port, const wire::PortId& target_port);

}  // namespace srp::target
