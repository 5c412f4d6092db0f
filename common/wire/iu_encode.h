// Encoding of SRP information units into caller-owned buffers (registered
// send buffers on the data path). Encoders never allocate; they return the
// number of bytes written or WireError::buffer_too_small.
#pragma once

#include <cstdint>
#include <cstring>
#include <expected>
#include <span>

#include "common/wire/iu_layouts.h"
#include "common/wire/iu_parse.h"

namespace srp::wire {

using MutableBytes = std::span<std::uint8_t>;

// Writes any fixed-size layout. The caller sets every field, opcode included.
template <class T>
    requires kIsWireLayout<T>
std::expected<std::size_t, WireError> encode(MutableBytes out, const T& iu) noexcept {
    if (out.size() < sizeof(T)) return std::unexpected(WireError::buffer_too_small);
    std::memcpy(out.data(), &iu, sizeof(T));
    return sizeof(T);
}

// A zeroed IU with its opcode set.
template <class T>
T make_iu(Opcode opcode) noexcept {
    T iu{};
    std::uint8_t* first = reinterpret_cast<std::uint8_t*>(&iu);
    *first = static_cast<std::uint8_t>(opcode);
    return iu;
}
// The RDMA/CM login private data keeps its opcode at byte 11.
LoginReqRdma make_login_req_rdma() noexcept;
LoginReqRdma to_rdma_private_data(const LoginReq& req) noexcept;
LoginReq from_rdma_private_data(const LoginReqRdma& req) noexcept;

// SRP_RSP: header, then response data, then sense. Sets the two lengths and
// the RSPVALID/SNSVALID flags from the spans; other flags come from header.
std::expected<std::size_t, WireError> encode_rsp(MutableBytes out, RspHeader header,
                                                 Bytes response_data, Bytes sense_data) noexcept;

std::expected<std::size_t, WireError> encode_aer_req(MutableBytes out, AerReqHeader header,
                                                     Bytes sense_data) noexcept;

// SRP_CMD: header (buf_fmt and counts as the caller set them), the additional
// CDB bytes (a multiple of 4; add_cdb_len is set from it), then the
// pre-encoded descriptor bytes.
std::expected<std::size_t, WireError> encode_cmd(MutableBytes out, CmdHeader header,
                                                 Bytes additional_cdb, Bytes descriptors) noexcept;

// Descriptor bytes: a direct descriptor, or an indirect header followed by
// the descriptors that travel in the IU.
std::expected<std::size_t, WireError> encode_indirect(MutableBytes out, const IndirectHeader& header,
                                                      std::span<const DirectDescriptor> in_iu) noexcept;

// SRP_CMD with SRP-2 immediate data: the 4-byte immediate descriptor right
// after the CDB, the data at imm_data_offset.
std::expected<std::size_t, WireError> encode_cmd_immediate(MutableBytes out, CmdHeader header,
                                                           std::uint32_t imm_data_offset,
                                                           Bytes data) noexcept;

}  // namespace srp::wire
