// SRP constants: opcodes, flags, formats, reason codes (SRP r16a section 5,
// SRP-2 for immediate data). Values match the Linux include/scsi/srp.h that
// ib_srp and ib_srpt use, so both sides of a Linux peer agree with us.
#pragma once

#include <cstdint>
#include <string_view>

namespace srp::wire {

enum class Opcode : std::uint8_t {
    login_req = 0x00,
    tsk_mgmt = 0x01,
    cmd = 0x02,
    i_logout = 0x03,
    cred_rsp = 0x41,
    aer_rsp = 0x42,
    t_logout = 0x80,
    cred_req = 0x81,
    aer_req = 0x82,
    login_rsp = 0xC0,
    rsp = 0xC1,
    login_rej = 0xC2,
};

std::string_view opcode_name(std::uint8_t opcode) noexcept;

// Buffer format bits of LOGIN_REQ.req_buf_fmt and LOGIN_RSP.buf_fmt (SRP r16a 5.6.2).
inline constexpr std::uint16_t kBufFmtDirect = 0x0002;
inline constexpr std::uint16_t kBufFmtIndirect = 0x0004;

// LOGIN_REQ.req_flags.
inline constexpr std::uint8_t kMultiChannelActionMask = 0x03;
inline constexpr std::uint8_t kMultiChannelSingle = 0x00;
inline constexpr std::uint8_t kMultiChannelMulti = 0x01;
inline constexpr std::uint8_t kReqFlagImmediateRequested = 0x80;

// LOGIN_RSP.rsp_flags.
inline constexpr std::uint8_t kRspFlagNoChannelsTerminated = 0x00;
inline constexpr std::uint8_t kRspFlagChannelsTerminated = 0x01;
inline constexpr std::uint8_t kRspFlagChannelsMaintained = 0x02;
inline constexpr std::uint8_t kRspFlagImmediateSupported = 0x80;

// SRP_CMD.buf_fmt nibbles: high = DATA-OUT format, low = DATA-IN format.
enum class DataFormat : std::uint8_t { none = 0, direct = 1, indirect = 2, immediate = 3 };

// SRP_RSP.flags.
inline constexpr std::uint8_t kRspFlagRspValid = 0x01;
inline constexpr std::uint8_t kRspFlagSnsValid = 0x02;
inline constexpr std::uint8_t kRspFlagDoOver = 0x04;
inline constexpr std::uint8_t kRspFlagDoUnder = 0x08;
inline constexpr std::uint8_t kRspFlagDiOver = 0x10;
inline constexpr std::uint8_t kRspFlagDiUnder = 0x20;

// SRP_TSK_MGMT.tsk_mgmt_func (SRP r16a 6.7, SAM-5 7).
enum class TaskManagementFunction : std::uint8_t {
    abort_task = 0x01,
    abort_task_set = 0x02,
    clear_task_set = 0x04,
    logical_unit_reset = 0x08,
    clear_aca = 0x40,
};

// RSP_CODE in the 4-byte response data of an SRP_RSP to a TSK_MGMT (SRP r16a table 24).
enum class TaskManagementResponse : std::uint8_t {
    complete = 0x00,
    fields_invalid = 0x02,
    not_supported = 0x04,
    failed = 0x05,
};

// SRP_LOGIN_REJ.reason (SRP r16a table 13).
enum class LoginRejectReason : std::uint32_t {
    unable_to_establish_channel = 0x00010000,
    insufficient_resources = 0x00010001,
    it_iu_length_too_large = 0x00010002,
    unable_to_associate_channel = 0x00010003,
    unsupported_descriptor_format = 0x00010004,
    multichannel_unsupported = 0x00010005,
    channel_limit_reached = 0x00010006,
};

std::string_view login_reject_reason_name(std::uint32_t reason) noexcept;

// SRP_T_LOGOUT.reason (SRP r16a 6.6, the target logout reason codes).
enum class TargetLogoutReason : std::uint32_t {
    no_reason = 0x00000000,            // e.g. the target is shutting down
    inactive_channel = 0x00000001,     // reclaiming the resources of an idle channel
    multichannel_action = 0x00000004,  // removed by a SINGLE login of the same initiator port
};

// task_attr of SRP_CMD.
enum class TaskAttribute : std::uint8_t { simple = 0, head_of_queue = 1, ordered = 2, aca = 4 };

// I/O class: SRP r16a (0x0100) carries target_port_id = id_ext || ioc_guid.
inline constexpr std::uint16_t kIoClassR16a = 0x0100;

}  // namespace srp::wire
