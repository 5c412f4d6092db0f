#include "common/wire/port_id.h"

#include <cstdio>

namespace srp::wire {

std::optional<PortId> parse_port_id(const std::string& text) {
    std::string hex;
    for (char c : text)
        if (c != ':' && c != '-') hex += c;
    if (hex.rfind("0x", 0) == 0) hex = hex.substr(2);
    if (hex.size() != 32 || hex.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos) return std::nullopt;
    PortId id{};
    for (std::size_t i = 0; i < 16; ++i) id[i] = static_cast<std::uint8_t>(std::stoul(hex.substr(2 * i, 2), nullptr, 16));
    return id;
}

std::string format_port_id(const PortId& id) {
    std::string s;
    char buf[3];
    for (auto b : id) {
        std::snprintf(buf, sizeof buf, "%02x", b);
        s += buf;
    }
    return s;
}

PortId make_target_port_id(std::uint64_t id_ext, std::uint64_t ioc_guid) {
    PortId id{};
    for (int i = 0; i < 8; ++i) {
        id[i] = static_cast<std::uint8_t>(id_ext >> (56 - 8 * i));
        id[8 + i] = static_cast<std::uint8_t>(ioc_guid >> (56 - 8 * i));
    }
    return id;
}

}  // namespace srp::wire
