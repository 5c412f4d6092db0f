// Byte layouts of every SRP information unit (SRP r16a section 5/6, SRP-2 for
// immediate data, Linux srp_login_req_rdma for RDMA/CM logins). Each struct is
// alignment 1 and trivially copyable; sizes and offsets are asserted below so
// a layout can never drift from the wire. Never cast a receive buffer to these
// types: use the parse_* functions of iu_parse.h, which check lengths first.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <type_traits>

#include "common/wire/big_endian.h"

namespace srp::wire {

// The tag is opaque: the target echoes the initiator's 8 bytes unchanged.
using Tag = std::array<std::uint8_t, 8>;
using PortId = std::array<std::uint8_t, 16>;

struct LoginReq {  // SRP_LOGIN_REQ, 64 bytes
    std::uint8_t opcode;
    std::array<std::uint8_t, 7> reserved1;
    Tag tag;
    Be32 req_it_iu_len;
    std::array<std::uint8_t, 4> reserved2;
    Be16 req_buf_fmt;
    std::uint8_t req_flags;
    std::uint8_t reserved3;
    Be16 imm_data_offset;  // SRP-2
    std::array<std::uint8_t, 2> reserved4;
    PortId initiator_port_id;
    PortId target_port_id;
};

// What Linux ib_srp sends as RDMA/CM private data (the first 8 bytes of the
// 64-byte IU are dropped and the opcode moves to byte 11).
struct LoginReqRdma {  // 56 bytes
    Tag tag;
    Be16 req_buf_fmt;
    std::uint8_t req_flags;
    std::uint8_t opcode;
    Be32 req_it_iu_len;
    PortId initiator_port_id;
    PortId target_port_id;
    Be16 imm_data_offset;
    std::array<std::uint8_t, 6> reserved;
};

struct LoginRsp {  // SRP_LOGIN_RSP, 52 bytes
    std::uint8_t opcode;
    std::array<std::uint8_t, 3> reserved1;
    Be32 req_lim_delta;
    Tag tag;
    Be32 max_it_iu_len;
    Be32 max_ti_iu_len;
    Be16 buf_fmt;
    std::uint8_t rsp_flags;
    std::array<std::uint8_t, 25> reserved2;
};

struct LoginRej {  // SRP_LOGIN_REJ, 32 bytes
    std::uint8_t opcode;
    std::array<std::uint8_t, 3> reserved1;
    Be32 reason;
    Tag tag;
    std::array<std::uint8_t, 8> reserved2;
    Be16 buf_fmt;
    std::array<std::uint8_t, 6> reserved3;
};

struct ILogout {  // SRP_I_LOGOUT, 16 bytes
    std::uint8_t opcode;
    std::array<std::uint8_t, 7> reserved;
    Tag tag;
};

struct TLogout {  // SRP_T_LOGOUT, 16 bytes
    std::uint8_t opcode;
    std::uint8_t sol_not;
    std::array<std::uint8_t, 2> reserved;
    Be32 reason;
    Tag tag;
};

struct TskMgmt {  // SRP_TSK_MGMT, 48 bytes
    std::uint8_t opcode;
    std::uint8_t sol_not;
    std::array<std::uint8_t, 6> reserved1;
    Tag tag;
    std::array<std::uint8_t, 4> reserved2;
    std::array<std::uint8_t, 8> lun;
    std::array<std::uint8_t, 2> reserved3;
    std::uint8_t tsk_mgmt_func;
    std::uint8_t reserved4;
    Tag task_tag;
    std::array<std::uint8_t, 8> reserved5;
};

struct CmdHeader {  // SRP_CMD fixed part, 48 bytes; additional CDB and descriptors follow
    std::uint8_t opcode;
    std::uint8_t sol_not;
    std::array<std::uint8_t, 3> reserved1;
    std::uint8_t buf_fmt;
    std::uint8_t data_out_desc_cnt;
    std::uint8_t data_in_desc_cnt;
    Tag tag;
    std::array<std::uint8_t, 4> reserved2;
    std::array<std::uint8_t, 8> lun;
    std::uint8_t reserved3;
    std::uint8_t task_attr;
    std::uint8_t reserved4;
    std::uint8_t add_cdb_len;  // bytes, a multiple of 4
    std::array<std::uint8_t, 16> cdb;
};

struct RspHeader {  // SRP_RSP fixed part, 36 bytes; response data then sense data follow
    std::uint8_t opcode;
    std::uint8_t sol_not;
    std::array<std::uint8_t, 2> reserved1;
    Be32 req_lim_delta;
    Tag tag;
    std::array<std::uint8_t, 2> reserved2;
    std::uint8_t flags;
    std::uint8_t status;
    Be32 data_out_res_cnt;
    Be32 data_in_res_cnt;
    Be32 sense_data_len;
    Be32 resp_data_len;
};

struct CredReq {  // SRP_CRED_REQ, 16 bytes
    std::uint8_t opcode;
    std::uint8_t sol_not;
    std::array<std::uint8_t, 2> reserved;
    Be32 req_lim_delta;
    Tag tag;
};

struct CredRsp {  // SRP_CRED_RSP and SRP_AER_RSP, 16 bytes
    std::uint8_t opcode;
    std::array<std::uint8_t, 7> reserved;
    Tag tag;
};
using AerRsp = CredRsp;

struct AerReqHeader {  // SRP_AER_REQ fixed part, 36 bytes; sense data follows
    std::uint8_t opcode;
    std::uint8_t sol_not;
    std::array<std::uint8_t, 2> reserved1;
    Be32 req_lim_delta;
    Tag tag;
    std::array<std::uint8_t, 4> reserved2;
    std::array<std::uint8_t, 8> lun;
    Be32 sense_data_len;
    std::array<std::uint8_t, 4> reserved3;
};

struct DirectDescriptor {  // srp_direct_buf, 16 bytes
    Be64 va;
    Be32 key;
    Be32 len;
};

struct IndirectHeader {  // srp_indirect_buf without its descriptor list, 20 bytes
    DirectDescriptor table_desc;  // where the whole table lives in initiator memory
    Be32 len;                     // total data length of all descriptors
};

struct ImmediateHeader {  // SRP-2 immediate data descriptor, 4 bytes
    Be32 len;
};

// ---- layout checks ---------------------------------------------------------
template <class T>
inline constexpr bool kIsWireLayout = alignof(T) == 1 && std::is_trivially_copyable_v<T> &&
                                      std::is_standard_layout_v<T>;

// The bytes of a layout, to send or to hand over as private data.
template <class T>
    requires kIsWireLayout<T>
std::span<const std::uint8_t> iu_bytes(const T& iu) noexcept {
    return {reinterpret_cast<const std::uint8_t*>(&iu), sizeof(T)};
}

#define SRP_WIRE_LAYOUT(T, size)                                   \
    static_assert(kIsWireLayout<T>, #T " must be a wire layout"); \
    static_assert(sizeof(T) == (size), #T " has the wrong size")
#define SRP_WIRE_AT(T, field, offset) \
    static_assert(offsetof(T, field) == (offset), #T "::" #field " is at the wrong offset")

SRP_WIRE_LAYOUT(LoginReq, 64);
SRP_WIRE_AT(LoginReq, opcode, 0);
SRP_WIRE_AT(LoginReq, tag, 8);
SRP_WIRE_AT(LoginReq, req_it_iu_len, 16);
SRP_WIRE_AT(LoginReq, req_buf_fmt, 24);
SRP_WIRE_AT(LoginReq, req_flags, 26);
SRP_WIRE_AT(LoginReq, imm_data_offset, 28);
SRP_WIRE_AT(LoginReq, initiator_port_id, 32);
SRP_WIRE_AT(LoginReq, target_port_id, 48);

SRP_WIRE_LAYOUT(LoginReqRdma, 56);
SRP_WIRE_AT(LoginReqRdma, tag, 0);
SRP_WIRE_AT(LoginReqRdma, req_buf_fmt, 8);
SRP_WIRE_AT(LoginReqRdma, req_flags, 10);
SRP_WIRE_AT(LoginReqRdma, opcode, 11);
SRP_WIRE_AT(LoginReqRdma, req_it_iu_len, 12);
SRP_WIRE_AT(LoginReqRdma, initiator_port_id, 16);
SRP_WIRE_AT(LoginReqRdma, target_port_id, 32);
SRP_WIRE_AT(LoginReqRdma, imm_data_offset, 48);

SRP_WIRE_LAYOUT(LoginRsp, 52);
SRP_WIRE_AT(LoginRsp, opcode, 0);
SRP_WIRE_AT(LoginRsp, req_lim_delta, 4);
SRP_WIRE_AT(LoginRsp, tag, 8);
SRP_WIRE_AT(LoginRsp, max_it_iu_len, 16);
SRP_WIRE_AT(LoginRsp, max_ti_iu_len, 20);
SRP_WIRE_AT(LoginRsp, buf_fmt, 24);
SRP_WIRE_AT(LoginRsp, rsp_flags, 26);

SRP_WIRE_LAYOUT(LoginRej, 32);
SRP_WIRE_AT(LoginRej, reason, 4);
SRP_WIRE_AT(LoginRej, tag, 8);
SRP_WIRE_AT(LoginRej, buf_fmt, 24);

SRP_WIRE_LAYOUT(ILogout, 16);
SRP_WIRE_AT(ILogout, tag, 8);
SRP_WIRE_LAYOUT(TLogout, 16);
SRP_WIRE_AT(TLogout, sol_not, 1);
SRP_WIRE_AT(TLogout, reason, 4);
SRP_WIRE_AT(TLogout, tag, 8);

SRP_WIRE_LAYOUT(TskMgmt, 48);
SRP_WIRE_AT(TskMgmt, sol_not, 1);
SRP_WIRE_AT(TskMgmt, tag, 8);
SRP_WIRE_AT(TskMgmt, lun, 20);
SRP_WIRE_AT(TskMgmt, tsk_mgmt_func, 30);
SRP_WIRE_AT(TskMgmt, task_tag, 32);

SRP_WIRE_LAYOUT(CmdHeader, 48);
SRP_WIRE_AT(CmdHeader, sol_not, 1);
SRP_WIRE_AT(CmdHeader, buf_fmt, 5);
SRP_WIRE_AT(CmdHeader, data_out_desc_cnt, 6);
SRP_WIRE_AT(CmdHeader, data_in_desc_cnt, 7);
SRP_WIRE_AT(CmdHeader, tag, 8);
SRP_WIRE_AT(CmdHeader, lun, 20);
SRP_WIRE_AT(CmdHeader, task_attr, 29);
SRP_WIRE_AT(CmdHeader, add_cdb_len, 31);
SRP_WIRE_AT(CmdHeader, cdb, 32);

SRP_WIRE_LAYOUT(RspHeader, 36);
SRP_WIRE_AT(RspHeader, sol_not, 1);
SRP_WIRE_AT(RspHeader, req_lim_delta, 4);
SRP_WIRE_AT(RspHeader, tag, 8);
SRP_WIRE_AT(RspHeader, flags, 18);
SRP_WIRE_AT(RspHeader, status, 19);
SRP_WIRE_AT(RspHeader, data_out_res_cnt, 20);
SRP_WIRE_AT(RspHeader, data_in_res_cnt, 24);
SRP_WIRE_AT(RspHeader, sense_data_len, 28);
SRP_WIRE_AT(RspHeader, resp_data_len, 32);

SRP_WIRE_LAYOUT(CredReq, 16);
SRP_WIRE_AT(CredReq, req_lim_delta, 4);
SRP_WIRE_AT(CredReq, tag, 8);
SRP_WIRE_LAYOUT(CredRsp, 16);
SRP_WIRE_AT(CredRsp, tag, 8);

SRP_WIRE_LAYOUT(AerReqHeader, 36);
SRP_WIRE_AT(AerReqHeader, req_lim_delta, 4);
SRP_WIRE_AT(AerReqHeader, tag, 8);
SRP_WIRE_AT(AerReqHeader, lun, 20);
SRP_WIRE_AT(AerReqHeader, sense_data_len, 28);

SRP_WIRE_LAYOUT(DirectDescriptor, 16);
SRP_WIRE_AT(DirectDescriptor, va, 0);
SRP_WIRE_AT(DirectDescriptor, key, 8);
SRP_WIRE_AT(DirectDescriptor, len, 12);
SRP_WIRE_LAYOUT(IndirectHeader, 20);
SRP_WIRE_AT(IndirectHeader, table_desc, 0);
SRP_WIRE_AT(IndirectHeader, len, 16);
SRP_WIRE_LAYOUT(ImmediateHeader, 4);

#undef SRP_WIRE_LAYOUT
#undef SRP_WIRE_AT

}  // namespace srp::wire
