// CDB field decoding shared by the target's engine and the initiator's
// command builders (SBC-3 5.x, SPC-4 4.2, SAM-5 4.6 for LUN formats).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>

namespace srp::scsi {

using Cdb = std::span<const std::uint8_t>;

// Length implied by the group code (SPC-4 4.2.5.1); 0 for variable/vendor groups.
std::size_t cdb_length_for_opcode(std::uint8_t opcode) noexcept;

// LBA and block count of the READ/WRITE/VERIFY/WRITE SAME/SYNCHRONIZE CACHE
// family, by CDB length. READ(6)/WRITE(6) map a count of 0 to 256 blocks.
struct LbaRange {
    std::uint64_t lba = 0;
    std::uint32_t blocks = 0;
};
std::optional<LbaRange> decode_lba_range(Cdb cdb) noexcept;

inline bool fua_bit(Cdb cdb) noexcept { return cdb.size() >= 10 && (cdb[1] & 0x08) != 0; }
// RDPROTECT/WRPROTECT/VRPROTECT (byte 1 bits 7..5): we format without protection information.
inline std::uint8_t protect_field(Cdb cdb) noexcept { return cdb.size() >= 10 ? cdb[1] >> 5 : 0; }

// The allocation length of data-in commands (INQUIRY, MODE SENSE, ...).
std::uint32_t allocation_length(Cdb cdb) noexcept;

// 8-byte SAM LUN <-> number, peripheral (0..255) and flat (0..16383) addressing.
using LunBytes = std::array<std::uint8_t, 8>;
LunBytes encode_lun(std::uint16_t lun) noexcept;
std::optional<std::uint16_t> decode_lun(const LunBytes& bytes) noexcept;

// CDB builders used by the initiator and by tests.
std::array<std::uint8_t, 16> make_rw16(std::uint8_t opcode, std::uint64_t lba, std::uint32_t blocks,
                                       bool fua = false) noexcept;
std::array<std::uint8_t, 10> make_rw10(std::uint8_t opcode, std::uint32_t lba, std::uint16_t blocks,
                                       bool fua = false) noexcept;

}  // namespace srp::scsi
