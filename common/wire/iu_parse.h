// Parsing of received SRP information units. Every function checks the
// buffer length and every count before it touches a variable part, and
// returns a WireError instead of reading out of bounds: peer input never
// crashes the process (DESIGN.md house rule 4/5). Views hold spans into the
// caller's buffer, so the buffer must outlive them.
#pragma once

#include <cstdint>
#include <expected>
#include <span>
#include <string_view>

#include "common/wire/iu_layouts.h"
#include "common/wire/srp_constants.h"

namespace srp::wire {

enum class WireError {
    truncated,                    // shorter than the fixed part of the IU
    wrong_opcode,                 // not the IU the caller expected
    add_cdb_len_not_multiple_of_4,
    cdb_beyond_iu,                // additional CDB bytes run past the IU
    unsupported_data_format,      // reserved buffer format nibble, or immediate data for DATA-IN
    immediate_data_not_negotiated,
    descriptor_beyond_iu,         // a descriptor (or its header) runs past the IU
    descriptor_count_exceeds_iu,  // data_*_desc_cnt promises more descriptors than the IU holds
    descriptor_table_bad_length,  // table length is not a multiple of 16, or shorter than the count in the IU
    immediate_data_beyond_iu,
    response_data_beyond_iu,
    sense_beyond_iu,
    buffer_too_small,             // encoder: the output buffer cannot hold the IU
};

std::string_view to_string(WireError error) noexcept;

template <class T>
using Parsed = std::expected<T, WireError>;

using Bytes = std::span<const std::uint8_t>;

// The opcode of any IU except the RDMA/CM login private data.
Parsed<Opcode> peek_opcode(Bytes iu) noexcept;

Parsed<LoginReq> parse_login_req(Bytes iu) noexcept;
Parsed<LoginReqRdma> parse_login_req_rdma(Bytes private_data) noexcept;
Parsed<LoginRsp> parse_login_rsp(Bytes iu) noexcept;
Parsed<LoginRej> parse_login_rej(Bytes iu) noexcept;
Parsed<ILogout> parse_i_logout(Bytes iu) noexcept;
Parsed<TLogout> parse_t_logout(Bytes iu) noexcept;
Parsed<TskMgmt> parse_tsk_mgmt(Bytes iu) noexcept;
Parsed<CredReq> parse_cred_req(Bytes iu) noexcept;
Parsed<CredRsp> parse_cred_rsp(Bytes iu) noexcept;
Parsed<AerRsp> parse_aer_rsp(Bytes iu) noexcept;

struct RspView {
    RspHeader header;
    Bytes response_data;
    Bytes sense_data;
};
Parsed<RspView> parse_rsp(Bytes iu) noexcept;

struct AerReqView {
    AerReqHeader header;
    Bytes sense_data;
};
Parsed<AerReqView> parse_aer_req(Bytes iu) noexcept;

// The data buffer of one direction of an SRP_CMD (SRP r16a 5.8.2, SRP-2 immediate).
struct DataBufferView {
    DataFormat format = DataFormat::none;
    // Total bytes the initiator described: direct len, indirect total len, immediate len.
    std::uint32_t total_length = 0;
    // Indirect only: the whole descriptor table in initiator memory and its entry count.
    DirectDescriptor table{};
    std::uint32_t table_count = 0;
    // Descriptors present in the IU, 16 bytes each (direct: exactly one).
    Bytes descriptors_in_iu;
    // Immediate only: the data carried in the IU.
    Bytes immediate_data;

    std::size_t count_in_iu() const noexcept { return descriptors_in_iu.size() / sizeof(DirectDescriptor); }
    // True when the IU holds fewer descriptors than the table: the rest must be
    // fetched from table with an RDMA READ (ib_srp allow_ext_sg=1).
    bool table_is_partial() const noexcept {
        return format == DataFormat::indirect && table_count > count_in_iu();
    }
    DirectDescriptor descriptor(std::size_t index) const noexcept;  // index < count_in_iu()
};

struct CmdView {
    CmdHeader header;
    Bytes cdb;  // 16 + add_cdb_len bytes
    DataBufferView data_out;
    DataBufferView data_in;
};

// imm_data_offset: the offset granted at login, 0 when immediate data was not granted.
Parsed<CmdView> parse_cmd(Bytes iu, std::uint32_t imm_data_offset) noexcept;

// Descriptors fetched from an external table (16 bytes each).
DirectDescriptor descriptor_at(Bytes table, std::size_t index) noexcept;

}  // namespace srp::wire
