// Evaluation of an SRP login carried as RDMA/CM private data (SRP r16a 6.2,
// SRP-2 immediate data): accept with the parameters of SRP_LOGIN_RSP, or
// reject with the SRP_LOGIN_REJ reason code and a sentence for the log.
// Pure logic: no RDMA, no session state except what the caller passes in.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/wire/iu_layouts.h"
#include "common/wire/port_id.h"
#include "common/wire/srp_constants.h"
#include "srp_target/srp/channel_types.h"

namespace srp::target {

// Who may log in. Empty lists allow everyone.
struct Acl {
    std::vector<wire::PortId> initiator_port_ids;
    std::vector<std::string> source_addresses;  // "10.0.2.15" or "fe80::1"
    bool allows(const wire::PortId& initiator, const std::string& source_address) const;
};

struct LoginPolicy {
    wire::PortId target_port_id{};          // id_ext || ioc_guid
    std::uint32_t max_it_iu_len = 8276;     // like the kernel targets: 8260 from ib_srp fits
    std::uint32_t max_ti_iu_len = 256;      // SRP_RSP + 4 bytes response data + sense
    std::uint32_t queue_depth = 128;        // receive ring = initial credits
    std::uint32_t max_channels_per_nexus = 64;
    bool immediate_data = true;
    Acl acl;
};

struct LoginRequest {
    std::span<const std::uint8_t> private_data;
    std::string source_address;
    std::uint32_t existing_channels = 0;  // channels of this I_T nexus already logged in
};

struct LoginDecision {
    bool accepted = false;
    wire::LoginRejectReason reason = wire::LoginRejectReason::unable_to_establish_channel;
    std::string explanation;              // why, for the log
    wire::LoginReqRdma request{};         // valid when private data parsed
    bool parsed = false;
    std::uint32_t it_iu_len = 0;
    std::uint32_t imm_data_offset = 0;    // 0: immediate data not granted
    bool single_channel = true;           // SINGLE: terminate the nexus's other channels

    // SRP_LOGIN_RSP for an accepted login; channels_terminated from the caller.
    wire::LoginRsp response(const LoginPolicy& policy, bool channels_terminated) const;
    wire::LoginRej rejection() const;
    // The channel's negotiated sizes (queue depth, IU lengths, immediate data offset).
    ChannelParams channel_params(const LoginPolicy& policy) const;
};

LoginDecision evaluate_login(const LoginRequest& request, const LoginPolicy& policy);

using wire::format_port_id;
using wire::make_target_port_id;
using wire::parse_port_id;

}  // namespace srp::target
