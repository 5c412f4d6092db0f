// Human-readable decoding of INQUIRY data and VPD pages (SPC-4 6.6, 7.8; SBC-3 6.6).
#pragma once

#include <cstdint>
#include <span>
#include <string>

namespace srp::initiator::cli {

std::string decode_standard_inquiry(std::span<const std::uint8_t> data);
std::string decode_vpd(std::span<const std::uint8_t> page);

}  // namespace srp::initiator::cli
