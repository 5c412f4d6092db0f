// Fixed-format sense data (SPC-4 4.5.3): 18 bytes, response code 0x70.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "common/scsi/scsi_constants.h"

namespace srp::scsi {

inline constexpr std::size_t kFixedSenseBytes = 18;
using FixedSense = std::array<std::uint8_t, kFixedSenseBytes>;

// The sense-key-specific field pointer (SPC-4 4.5.2.4.2): which byte (and
// optionally bit) of the CDB (in_cdb) or parameter list was wrong.
struct FieldPointer {
    bool in_cdb = true;
    std::uint16_t byte = 0;
    std::optional<std::uint8_t> bit;
};

struct SenseBuilder {
    SenseKey key = SenseKey::no_sense;
    Asc asc = Asc::no_additional_sense;
    std::optional<FieldPointer> field;
    std::optional<std::uint32_t> information;

    FixedSense build() const noexcept;
};

// The decoded essentials of received sense data (fixed or descriptor format).
struct DecodedSense {
    SenseKey key = SenseKey::no_sense;
    std::uint8_t asc = 0;
    std::uint8_t ascq = 0;
    std::optional<std::uint64_t> information;
    std::uint16_t asc_ascq() const noexcept { return static_cast<std::uint16_t>((asc << 8) | ascq); }
    std::string describe() const;  // "ILLEGAL REQUEST: INVALID FIELD IN CDB (0x24/0x00)"
};
std::optional<DecodedSense> decode_sense(std::span<const std::uint8_t> sense) noexcept;

}  // namespace srp::scsi
