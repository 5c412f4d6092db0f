// SRP port identifiers (SRP r16a 5.6.5): 16 bytes, shown as 32 hex digits.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "common/wire/iu_layouts.h"

namespace srp::wire {

// "fe80000000000000505400fffe123456", also with ':' or '-' separators or "0x".
std::optional<PortId> parse_port_id(const std::string& text);
std::string format_port_id(const PortId& id);
// target_port_id = id_ext || ioc_guid (I/O class 0x0100).
PortId make_target_port_id(std::uint64_t id_ext, std::uint64_t ioc_guid);

}  // namespace srp::wire
