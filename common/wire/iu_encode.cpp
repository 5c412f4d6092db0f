#include "common/wire/iu_encode.h"

namespace srp::wire {

LoginReqRdma make_login_req_rdma() noexcept {
    LoginReqRdma req{};
    req.opcode = static_cast<std::uint8_t>(Opcode::login_req);
    return req;
}

LoginReqRdma to_rdma_private_data(const LoginReq& req) noexcept {
    LoginReqRdma out = make_login_req_rdma();
    out.tag = req.tag;
    out.req_buf_fmt = req.req_buf_fmt;
    out.req_flags = req.req_flags;
    out.req_it_iu_len = req.req_it_iu_len;
    out.initiator_port_id = req.initiator_port_id;
    out.target_port_id = req.target_port_id;
    out.imm_data_offset = req.imm_data_offset;
    return out;
}

LoginReq from_rdma_private_data(const LoginReqRdma& req) noexcept {
    auto out = make_iu<LoginReq>(Opcode::login_req);
    out.tag = req.tag;
    out.req_buf_fmt = req.req_buf_fmt;
    out.req_flags = req.req_flags;
    out.req_it_iu_len = req.req_it_iu_len;
    out.initiator_port_id = req.initiator_port_id;
    out.target_port_id = req.target_port_id;
    out.imm_data_offset = req.imm_data_offset;
    return out;
}

std::expected<std::size_t, WireError> encode_rsp(MutableBytes out, RspHeader header,
                                                 Bytes response_data, Bytes sense_data) noexcept {
    const std::size_t total = sizeof(RspHeader) + response_data.size() + sense_data.size();
    if (out.size() < total) return std::unexpected(WireError::buffer_too_small);
    header.opcode = static_cast<std::uint8_t>(Opcode::rsp);
    header.resp_data_len = static_cast<std::uint32_t>(response_data.size());
    header.sense_data_len = static_cast<std::uint32_t>(sense_data.size());
    header.flags = static_cast<std::uint8_t>(header.flags & ~(kRspFlagRspValid | kRspFlagSnsValid));
    if (!response_data.empty()) header.flags |= kRspFlagRspValid;
    if (!sense_data.empty()) header.flags |= kRspFlagSnsValid;
    std::memcpy(out.data(), &header, sizeof(header));
    if (!response_data.empty())
        std::memcpy(out.data() + sizeof(header), response_data.data(), response_data.size());
    if (!sense_data.empty())
        std::memcpy(out.data() + sizeof(header) + response_data.size(), sense_data.data(),
                    sense_data.size());
    return total;
}

std::expected<std::size_t, WireError> encode_aer_req(MutableBytes out, AerReqHeader header,
                                                     Bytes sense_data) noexcept {
    const std::size_t total = sizeof(AerReqHeader) + sense_data.size();
    if (out.size() < total) return std::unexpected(WireError::buffer_too_small);
    header.opcode = static_cast<std::uint8_t>(Opcode::aer_req);
    header.sense_data_len = static_cast<std::uint32_t>(sense_data.size());
    std::memcpy(out.data(), &header, sizeof(header));
    if (!sense_data.empty()) std::memcpy(out.data() + sizeof(header), sense_data.data(), sense_data.size());
    return total;
}

std::expected<std::size_t, WireError> encode_cmd(MutableBytes out, CmdHeader header,
                                                 Bytes additional_cdb, Bytes descriptors) noexcept {
    if (additional_cdb.size() % 4 != 0 || additional_cdb.size() > 0xfc)
        return std::unexpected(WireError::add_cdb_len_not_multiple_of_4);
    const std::size_t total = sizeof(CmdHeader) + additional_cdb.size() + descriptors.size();
    if (out.size() < total) return std::unexpected(WireError::buffer_too_small);
    header.opcode = static_cast<std::uint8_t>(Opcode::cmd);
    header.add_cdb_len = static_cast<std::uint8_t>(additional_cdb.size());
    std::memcpy(out.data(), &header, sizeof(header));
    std::size_t at = sizeof(header);
    if (!additional_cdb.empty()) std::memcpy(out.data() + at, additional_cdb.data(), additional_cdb.size());
    at += additional_cdb.size();
    if (!descriptors.empty()) std::memcpy(out.data() + at, descriptors.data(), descriptors.size());
    return total;
}

std::expected<std::size_t, WireError> encode_indirect(MutableBytes out, const IndirectHeader& header,
                                                      std::span<const DirectDescriptor> in_iu) noexcept {
    const std::size_t total = sizeof(IndirectHeader) + in_iu.size_bytes();
    if (out.size() < total) return std::unexpected(WireError::buffer_too_small);
    std::memcpy(out.data(), &header, sizeof(header));
    if (!in_iu.empty()) std::memcpy(out.data() + sizeof(header), in_iu.data(), in_iu.size_bytes());
    return total;
}

std::expected<std::size_t, WireError> encode_cmd_immediate(MutableBytes out, CmdHeader header,
                                                           std::uint32_t imm_data_offset,
                                                           Bytes data) noexcept {
    const std::size_t descriptor_at = sizeof(CmdHeader);
    if (imm_data_offset < descriptor_at + sizeof(ImmediateHeader))
        return std::unexpected(WireError::immediate_data_beyond_iu);
    const std::size_t total = std::size_t{imm_data_offset} + data.size();
    if (out.size() < total) return std::unexpected(WireError::buffer_too_small);
    header.opcode = static_cast<std::uint8_t>(Opcode::cmd);
    header.add_cdb_len = 0;
    header.buf_fmt = static_cast<std::uint8_t>((static_cast<std::uint8_t>(DataFormat::immediate) << 4) |
                                               (header.buf_fmt & 0x0f));
    std::memcpy(out.data(), &header, sizeof(header));
    ImmediateHeader imm{};
    imm.len = static_cast<std::uint32_t>(data.size());
    std::memcpy(out.data() + descriptor_at, &imm, sizeof(imm));
    // Padding between the descriptor and the data is zeroed: no stale bytes on the wire.
    std::memset(out.data() + descriptor_at + sizeof(imm), 0,
                imm_data_offset - descriptor_at - sizeof(imm));
    if (!data.empty()) std::memcpy(out.data() + imm_data_offset, data.data(), data.size());
    return total;
}

}  // namespace srp::wire
