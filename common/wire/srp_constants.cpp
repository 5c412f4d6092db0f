#include "common/wire/srp_constants.h"

namespace srp::wire {

std::string_view opcode_name(std::uint8_t opcode) noexcept {
    switch (static_cast<Opcode>(opcode)) {
        case Opcode::login_req: return "SRP_LOGIN_REQ";
        case Opcode::tsk_mgmt: return "SRP_TSK_MGMT";
        case Opcode::cmd: return "SRP_CMD";
        case Opcode::i_logout: return "SRP_I_LOGOUT";
        case Opcode::cred_rsp: return "SRP_CRED_RSP";
        case Opcode::aer_rsp: return "SRP_AER_RSP";
        case Opcode::t_logout: return "SRP_T_LOGOUT";
        case Opcode::cred_req: return "SRP_CRED_REQ";
        case Opcode::aer_req: return "SRP_AER_REQ";
        case Opcode::login_rsp: return "SRP_LOGIN_RSP";
        case Opcode::rsp: return "SRP_RSP";
        case Opcode::login_rej: return "SRP_LOGIN_REJ";
    }
    return "unknown";
}

std::string_view login_reject_reason_name(std::uint32_t reason) noexcept {
    switch (static_cast<LoginRejectReason>(reason)) {
        case LoginRejectReason::unable_to_establish_channel: return "unable to establish RDMA channel";
        case LoginRejectReason::insufficient_resources: return "insufficient RDMA channel resources";
        case LoginRejectReason::it_iu_length_too_large:
            return "requested maximum initiator to target IU length too large";
        case LoginRejectReason::unable_to_associate_channel:
            return "unable to associate RDMA channel with specified I_T nexus";
        case LoginRejectReason::unsupported_descriptor_format:
            return "one or more requested data buffer descriptor formats not supported";
        case LoginRejectReason::multichannel_unsupported:
            return "SRP target port does not support multiple RDMA channels per I_T nexus";
        case LoginRejectReason::channel_limit_reached:
            return "RDMA channel limit reached for this initiator";
    }
    return "unknown reason";
}

}  // namespace srp::wire
