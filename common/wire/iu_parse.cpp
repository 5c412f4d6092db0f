#include "common/wire/iu_parse.h"

#include <cstring>

namespace srp::wire {
namespace {

template <class T>
T copy_from(Bytes bytes) noexcept {
    T value;
    std::memcpy(&value, bytes.data(), sizeof(T));
    return value;
}

// Fixed-size IUs whose opcode is byte 0. Extra trailing bytes are allowed:
// receive buffers are larger than most IUs and SRP does not forbid padding.
template <class T>
Parsed<T> parse_fixed(Bytes iu, Opcode expected) noexcept {
    if (iu.size() < sizeof(T)) return std::unexpected(WireError::truncated);
    if (iu[0] != static_cast<std::uint8_t>(expected)) return std::unexpected(WireError::wrong_opcode);
    return copy_from<T>(iu);
}

// Parses the descriptor of one direction at iu[*offset], advancing *offset.
Parsed<DataBufferView> parse_buffer(Bytes iu, std::size_t& offset, std::uint8_t format_nibble,
                                    std::uint8_t desc_cnt, std::uint32_t imm_data_offset,
                                    bool data_in) noexcept {
    DataBufferView view;
    view.format = static_cast<DataFormat>(format_nibble);
    switch (view.format) {
        case DataFormat::none:
            return view;
        case DataFormat::direct: {
            if (offset + sizeof(DirectDescriptor) > iu.size())
                return std::unexpected(WireError::descriptor_beyond_iu);
            view.descriptors_in_iu = iu.subspan(offset, sizeof(DirectDescriptor));
            view.total_length = copy_from<DirectDescriptor>(view.descriptors_in_iu).len.value();
            view.table_count = 1;
            offset += sizeof(DirectDescriptor);
            return view;
        }
        case DataFormat::indirect: {
            if (offset + sizeof(IndirectHeader) > iu.size())
                return std::unexpected(WireError::descriptor_beyond_iu);
            const auto header = copy_from<IndirectHeader>(iu.subspan(offset));
            offset += sizeof(IndirectHeader);
            const std::size_t in_iu_bytes = std::size_t{desc_cnt} * sizeof(DirectDescriptor);
            if (offset + in_iu_bytes > iu.size())
                return std::unexpected(WireError::descriptor_count_exceeds_iu);
            const std::uint32_t table_len = header.table_desc.len.value();
            if (table_len % sizeof(DirectDescriptor) != 0 || table_len < in_iu_bytes)
                return std::unexpected(WireError::descriptor_table_bad_length);
            view.table = header.table_desc;
            view.table_count = table_len / static_cast<std::uint32_t>(sizeof(DirectDescriptor));
            view.total_length = header.len.value();
            view.descriptors_in_iu = iu.subspan(offset, in_iu_bytes);
            offset += in_iu_bytes;
            return view;
        }
        case DataFormat::immediate: {
            if (data_in) return std::unexpected(WireError::unsupported_data_format);
            if (imm_data_offset == 0) return std::unexpected(WireError::immediate_data_not_negotiated);
            if (offset + sizeof(ImmediateHeader) > iu.size())
                return std::unexpected(WireError::descriptor_beyond_iu);
            view.total_length = copy_from<ImmediateHeader>(iu.subspan(offset)).len.value();
            offset += sizeof(ImmediateHeader);
            // SRP-2: the data starts at the offset negotiated at login, after the descriptor.
            if (imm_data_offset < offset ||
                std::size_t{imm_data_offset} + view.total_length > iu.size())
                return std::unexpected(WireError::immediate_data_beyond_iu);
            view.immediate_data = iu.subspan(imm_data_offset, view.total_length);
            view.table_count = 0;
            return view;
        }
    }
    return std::unexpected(WireError::unsupported_data_format);
}

}  // namespace

std::string_view to_string(WireError error) noexcept {
    switch (error) {
        case WireError::truncated: return "IU shorter than its fixed part";
        case WireError::wrong_opcode: return "unexpected opcode";
        case WireError::add_cdb_len_not_multiple_of_4: return "additional CDB length not a multiple of 4";
        case WireError::cdb_beyond_iu: return "additional CDB beyond the IU";
        case WireError::unsupported_data_format: return "unsupported data buffer format";
        case WireError::immediate_data_not_negotiated: return "immediate data not granted at login";
        case WireError::descriptor_beyond_iu: return "data descriptor beyond the IU";
        case WireError::descriptor_count_exceeds_iu: return "descriptor count larger than the IU holds";
        case WireError::descriptor_table_bad_length: return "descriptor table length invalid";
        case WireError::immediate_data_beyond_iu: return "immediate data beyond the IU";
        case WireError::response_data_beyond_iu: return "response data beyond the IU";
        case WireError::sense_beyond_iu: return "sense data beyond the IU";
        case WireError::buffer_too_small: return "output buffer too small";
    }
    return "unknown wire error";
}

Parsed<Opcode> peek_opcode(Bytes iu) noexcept {
    if (iu.empty()) return std::unexpected(WireError::truncated);
    return static_cast<Opcode>(iu[0]);
}

Parsed<LoginReq> parse_login_req(Bytes iu) noexcept { return parse_fixed<LoginReq>(iu, Opcode::login_req); }

Parsed<LoginReqRdma> parse_login_req_rdma(Bytes private_data) noexcept {
    if (private_data.size() < sizeof(LoginReqRdma)) return std::unexpected(WireError::truncated);
    auto req = copy_from<LoginReqRdma>(private_data);
    if (req.opcode != static_cast<std::uint8_t>(Opcode::login_req))
        return std::unexpected(WireError::wrong_opcode);
    return req;
}

Parsed<LoginRsp> parse_login_rsp(Bytes iu) noexcept { return parse_fixed<LoginRsp>(iu, Opcode::login_rsp); }
Parsed<LoginRej> parse_login_rej(Bytes iu) noexcept { return parse_fixed<LoginRej>(iu, Opcode::login_rej); }
Parsed<ILogout> parse_i_logout(Bytes iu) noexcept { return parse_fixed<ILogout>(iu, Opcode::i_logout); }
Parsed<TLogout> parse_t_logout(Bytes iu) noexcept { return parse_fixed<TLogout>(iu, Opcode::t_logout); }
Parsed<TskMgmt> parse_tsk_mgmt(Bytes iu) noexcept { return parse_fixed<TskMgmt>(iu, Opcode::tsk_mgmt); }
Parsed<CredReq> parse_cred_req(Bytes iu) noexcept { return parse_fixed<CredReq>(iu, Opcode::cred_req); }
Parsed<CredRsp> parse_cred_rsp(Bytes iu) noexcept { return parse_fixed<CredRsp>(iu, Opcode::cred_rsp); }
Parsed<AerRsp> parse_aer_rsp(Bytes iu) noexcept { return parse_fixed<AerRsp>(iu, Opcode::aer_rsp); }

Parsed<RspView> parse_rsp(Bytes iu) noexcept {
    auto header = parse_fixed<RspHeader>(iu, Opcode::rsp);
    if (!header) return std::unexpected(header.error());
    RspView view{*header, {}, {}};
    const std::uint64_t resp_len =
        (header->flags & kRspFlagRspValid) ? header->resp_data_len.value() : 0;
    const std::uint64_t sense_len =
        (header->flags & kRspFlagSnsValid) ? header->sense_data_len.value() : 0;
    if (sizeof(RspHeader) + resp_len > iu.size())
        return std::unexpected(WireError::response_data_beyond_iu);
    if (sizeof(RspHeader) + resp_len + sense_len > iu.size())
        return std::unexpected(WireError::sense_beyond_iu);
    view.response_data = iu.subspan(sizeof(RspHeader), resp_len);
    view.sense_data = iu.subspan(sizeof(RspHeader) + resp_len, sense_len);
    return view;
}

Parsed<AerReqView> parse_aer_req(Bytes iu) noexcept {
    auto header = parse_fixed<AerReqHeader>(iu, Opcode::aer_req);
    if (!header) return std::unexpected(header.error());
    const std::uint64_t sense_len = header->sense_data_len.value();
    if (sizeof(AerReqHeader) + sense_len > iu.size()) return std::unexpected(WireError::sense_beyond_iu);
    return AerReqView{*header, iu.subspan(sizeof(AerReqHeader), sense_len)};
}

DirectDescriptor DataBufferView::descriptor(std::size_t index) const noexcept {
    return descriptor_at(descriptors_in_iu, index);
}

DirectDescriptor descriptor_at(Bytes table, std::size_t index) noexcept {
    return copy_from<DirectDescriptor>(table.subspan(index * sizeof(DirectDescriptor)));
}

Parsed<CmdView> parse_cmd(Bytes iu, std::uint32_t imm_data_offset) noexcept {
    auto header = parse_fixed<CmdHeader>(iu, Opcode::cmd);
    if (!header) return std::unexpected(header.error());
    CmdView view{*header, {}, {}, {}};
    // SRP r16a 6.8: ADDITIONAL CDB LENGTH counts 4-byte words in bits 7..2;
    // Linux carries it as a byte count, so the low two bits must be zero.
    if (header->add_cdb_len % 4 != 0) return std::unexpected(WireError::add_cdb_len_not_multiple_of_4);
    std::size_t offset = sizeof(CmdHeader) + header->add_cdb_len;
    if (offset > iu.size()) return std::unexpected(WireError::cdb_beyond_iu);
    // The CDB is contiguous: 16 bytes in the header, the rest in add_data.
    view.cdb = iu.subspan(offsetof(CmdHeader, cdb), 16u + header->add_cdb_len);

    const std::uint8_t out_nibble = header->buf_fmt >> 4;
    const std::uint8_t in_nibble = header->buf_fmt & 0x0f;
    if (out_nibble > 3 || in_nibble > 3) return std::unexpected(WireError::unsupported_data_format);
    // SRP r16a 5.8.2: the DATA-OUT descriptor comes first, then the DATA-IN one.
    auto out = parse_buffer(iu, offset, out_nibble, header->data_out_desc_cnt, imm_data_offset, false);
    if (!out) return std::unexpected(out.error());
    auto in = parse_buffer(iu, offset, in_nibble, header->data_in_desc_cnt, imm_data_offset, true);
    if (!in) return std::unexpected(in.error());
    view.data_out = *out;
    view.data_in = *in;
    return view;
}

}  // namespace srp::wire
