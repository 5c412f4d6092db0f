#include "srp_initiator/cli/decode.h"

#include <cstdio>
#include <sstream>

#include "common/wire/big_endian.h"

namespace srp::initiator::cli {

using wire::load_be;

namespace {
std::string text(std::span<const std::uint8_t> d, std::size_t at, std::size_t n) {
    std::string s;
    for (std::size_t i = at; i < at + n && i < d.size(); ++i) s += static_cast<char>(d[i]);
    while (!s.empty() && s.back() == ' ') s.pop_back();
    return s;
}
std::string hex(std::span<const std::uint8_t> d) {
    std::string s;
    char b[3];
    for (auto v : d) {
        std::snprintf(b, sizeof b, "%02x", v);
        s += b;
    }
    return s;
}
}  // namespace

std::string decode_standard_inquiry(std::span<const std::uint8_t> d) {
    std::ostringstream o;
    if (d.size() < 36) return "standard INQUIRY data too short\n";
    o << "standard INQUIRY\n"
      << "  peripheral         qualifier " << (d[0] >> 5) << ", device type " << (d[0] & 0x1f)
      << ((d[0] & 0x1f) == 0 ? " (direct access block device)" : "") << "\n"
      << "  version            " << int(d[2]) << (d[2] == 6 ? " (SPC-4)" : d[2] == 5 ? " (SPC-3)" : "") << "\n"
      << "  vendor             " << text(d, 8, 8) << "\n"
      << "  product            " << text(d, 16, 16) << "\n"
      << "  revision           " << text(d, 32, 4) << "\n"
      << "  command queueing   " << ((d[7] & 0x02) ? "yes" : "no") << ", HISUP " << ((d[3] & 0x10) ? 1 : 0) << "\n";
    return o.str();
}

std::string decode_vpd(std::span<const std::uint8_t> p) {
    std::ostringstream o;
    if (p.size() < 4) return "VPD page too short\n";
    const std::size_t length = std::min<std::size_t>(load_be<std::uint16_t>(p, 2), p.size() - 4);
    const auto body = p.subspan(4, length);
    char name[8];
    std::snprintf(name, sizeof name, "0x%02x", p[1]);
    switch (p[1]) {
        case 0x00: {
            o << "VPD 0x00 supported pages:";
            for (auto v : body) {
                std::snprintf(name, sizeof name, " 0x%02x", v);
                o << name;
            }
            o << "\n";
            break;
        }
        case 0x80: o << "VPD 0x80 unit serial number: " << text(body, 0, body.size()) << "\n"; break;
        case 0x83: {
            o << "VPD 0x83 device identification\n";
            for (std::size_t at = 0; at + 4 <= body.size();) {
                const std::uint8_t code_set = body[at] & 0x0f, type = body[at + 1] & 0x0f, n = body[at + 3];
                if (at + 4 + n > body.size()) break;
                const auto value = body.subspan(at + 4, n);
                static const char* types[] = {"vendor specific", "T10 vendor id", "EUI-64", "NAA", "relative target port",
                                              "target port group", "logical unit group", "MD5", "SCSI name string"};
                o << "  " << (type < 9 ? types[type] : "type " + std::to_string(type)) << ": "
                  << (code_set == 2 || code_set == 3 ? text(value, 0, n) : "0x" + hex(value)) << "\n";
                at += 4 + n;
            }
            break;
        }
        case 0xB0:
            if (body.size() >= 40) {
                o << "VPD 0xb0 block limits\n"
                  << "  maximum COMPARE AND WRITE blocks  " << int(body[1]) << "\n"
                  << "  maximum transfer length           " << load_be<std::uint32_t>(body, 4) << " blocks\n"
                  << "  optimal transfer length           " << load_be<std::uint32_t>(body, 8) << " blocks\n"
                  << "  maximum UNMAP LBA count           " << load_be<std::uint32_t>(body, 16) << "\n"
                  << "  maximum UNMAP descriptors         " << load_be<std::uint32_t>(body, 20) << "\n"
                  << "  optimal UNMAP granularity         " << load_be<std::uint32_t>(body, 24) << " blocks\n"
                  << "  maximum WRITE SAME length         " << load_be<std::uint64_t>(body, 32) << " blocks\n";
            }
            break;
        case 0xB1:
            if (body.size() >= 4) {
                const auto rate = load_be<std::uint16_t>(body, 0);
                o << "VPD 0xb1 block device characteristics: rotation rate "
                  << (rate == 1 ? "non-rotating medium" : std::to_string(rate)) << "\n";
            }
            break;
        case 0xB2:
            if (body.size() >= 3) {
                o << "VPD 0xb2 logical block provisioning: LBPU " << ((body[1] & 0x80) ? 1 : 0) << ", LBPWS "
                  << ((body[1] & 0x40) ? 1 : 0) << ", LBPWS10 " << ((body[1] & 0x20) ? 1 : 0) << ", LBPRZ "
                  << ((body[1] & 0x04) ? 1 : 0) << ", provisioning type "
                  << ((body[2] & 0x07) == 2 ? "thin" : (body[2] & 0x07) == 0 ? "full" : "resource") << "\n";
            }
            break;
        default: o << "VPD " << name << " (" << length << " bytes): " << hex(body) << "\n";
    }
    return o.str();
}

}  // namespace srp::initiator::cli
