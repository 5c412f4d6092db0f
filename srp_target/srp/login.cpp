#include "srp_target/srp/login.h"

#include <algorithm>

#include "common/wire/iu_encode.h"
#include "common/wire/iu_parse.h"

namespace srp::target {

using wire::LoginRejectReason;

namespace {
constexpr std::uint32_t kMinItIuLen = 64;  // SRP_CMD with a 16-byte CDB and one direct descriptor
constexpr std::uint32_t kImmediateDescriptorEnd = sizeof(wire::CmdHeader) + sizeof(wire::ImmediateHeader);

LoginDecision reject(LoginDecision d, LoginRejectReason reason, std::string why) {
    d.accepted = false;
    d.reason = reason;
    d.explanation = std::move(why);
    return d;
}
}  // namespace

bool Acl::allows(const wire::PortId& initiator, const std::string& source_address) const {
    if (initiator_port_ids.empty() && source_addresses.empty()) return true;
    if (std::find(initiator_port_ids.begin(), initiator_port_ids.end(), initiator) != initiator_port_ids.end())
        return true;
    return std::find(source_addresses.begin(), source_addresses.end(), source_address) != source_addresses.end();
}

LoginDecision evaluate_login(const LoginRequest& request, const LoginPolicy& policy) {
    LoginDecision d;
    auto parsed = wire::parse_login_req_rdma(request.private_data);
    if (!parsed)
        return reject(d, LoginRejectReason::unable_to_establish_channel,
                      "login private data invalid: " + std::string(wire::to_string(parsed.error())) + " (" +
                          std::to_string(request.private_data.size()) + " bytes)");
    d.request = *parsed;
    d.parsed = true;
    const auto& req = *parsed;
    const std::uint32_t it_iu_len = req.req_it_iu_len.value();
    if (it_iu_len > policy.max_it_iu_len)
        return reject(d, LoginRejectReason::it_iu_length_too_large,
                      "requested it_iu_len " + std::to_string(it_iu_len) + " above the maximum " +
                          std::to_string(policy.max_it_iu_len));
    // SRP r16a 6.2: at least 64. Table 13 has a reason for "too large" only;
    // a length below the minimum is an invalid request: "unable to establish
    // the RDMA channel, no reason specified" (LIO and SCST say "too large").
    if (it_iu_len < kMinItIuLen)
        return reject(d, LoginRejectReason::unable_to_establish_channel,
                      "requested it_iu_len " + std::to_string(it_iu_len) + " below the minimum " +
                          std::to_string(kMinItIuLen));
    if ((req.req_buf_fmt.value() & (wire::kBufFmtDirect | wire::kBufFmtIndirect)) == 0)
        return reject(d, LoginRejectReason::unsupported_descriptor_format,
                      "requested buffer formats 0x" + std::to_string(req.req_buf_fmt.value()) +
                          " include neither direct nor indirect descriptors");
    if (req.target_port_id != policy.target_port_id)
        return reject(d, LoginRejectReason::unable_to_associate_channel,
                      "target port id " + format_port_id(req.target_port_id) + " is not ours (" +
                          format_port_id(policy.target_port_id) + ")");
    const std::uint8_t action = req.req_flags & wire::kMultiChannelActionMask;
    if (action > wire::kMultiChannelMulti)
        return reject(d, LoginRejectReason::unable_to_establish_channel,
                      "reserved multichannel action " + std::to_string(action));
    if (!policy.acl.allows(req.initiator_port_id, request.source_address))
        return reject(d, LoginRejectReason::unable_to_establish_channel,
                      "initiator " + format_port_id(req.initiator_port_id) + " from " + request.source_address +
                          " is not in the ACL");
    d.single_channel = action == wire::kMultiChannelSingle;
    if (!d.single_channel && request.existing_channels >= policy.max_channels_per_nexus)
        return reject(d, LoginRejectReason::channel_limit_reached,
                      "I_T nexus already has " + std::to_string(request.existing_channels) + " channels (limit " +
                          std::to_string(policy.max_channels_per_nexus) + ")");
    d.it_iu_len = it_iu_len;
    // SRP-2: grant immediate data when asked for and the offset leaves room
    // for the 4-byte descriptor after the 48-byte SRP_CMD.
    const std::uint32_t offset = req.imm_data_offset.value();
    if (policy.immediate_data && (req.req_flags & wire::kReqFlagImmediateRequested) &&
        offset >= kImmediateDescriptorEnd && offset < it_iu_len)
        d.imm_data_offset = offset;
    d.accepted = true;
    d.explanation = "accepted";
    return d;
}

wire::LoginRsp LoginDecision::response(const LoginPolicy& policy, bool channels_terminated) const {
    auto rsp = wire::make_iu<wire::LoginRsp>(wire::Opcode::login_rsp);
    rsp.tag = request.tag;
    rsp.req_lim_delta = policy.queue_depth;
    rsp.max_it_iu_len = it_iu_len;
    rsp.max_ti_iu_len = policy.max_ti_iu_len;
    rsp.buf_fmt = wire::kBufFmtDirect | wire::kBufFmtIndirect;
    rsp.rsp_flags = single_channel ? (channels_terminated ? wire::kRspFlagChannelsTerminated
                                                          : wire::kRspFlagNoChannelsTerminated)
                                   : wire::kRspFlagChannelsMaintained;
    if (imm_data_offset != 0) rsp.rsp_flags |= wire::kRspFlagImmediateSupported;
    return rsp;
}

ChannelParams LoginDecision::channel_params(const LoginPolicy& policy) const {
    ChannelParams params;
    params.queue_depth = policy.queue_depth;
    params.it_iu_len = it_iu_len;
    params.ti_iu_len = policy.max_ti_iu_len;
    params.imm_data_offset = imm_data_offset;
    return params;
}

wire::LoginRej LoginDecision::rejection() const {
    auto rej = wire::make_iu<wire::LoginRej>(wire::Opcode::login_rej);
    rej.reason = static_cast<std::uint32_t>(reason);
    rej.tag = request.tag;
    rej.buf_fmt = wire::kBufFmtDirect | wire::kBufFmtIndirect;
    return rej;
}

}  // namespace srp::target
