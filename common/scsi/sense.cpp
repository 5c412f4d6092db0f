#include "common/scsi/sense.h"

#include <cstdio>

namespace srp::scsi {

FixedSense SenseBuilder::build() const noexcept {
    FixedSense s{};
    s[0] = 0x70;  // current error, fixed format
    s[2] = static_cast<std::uint8_t>(key);
    if (information) {
        s[0] |= 0x80;  // VALID: the INFORMATION field is meaningful
        s[3] = static_cast<std::uint8_t>(*information >> 24);
        s[4] = static_cast<std::uint8_t>(*information >> 16);
        s[5] = static_cast<std::uint8_t>(*information >> 8);
        s[6] = static_cast<std::uint8_t>(*information);
    }
    s[7] = kFixedSenseBytes - 8;  // additional sense length
    s[12] = static_cast<std::uint8_t>(static_cast<std::uint16_t>(asc) >> 8);
    s[13] = static_cast<std::uint8_t>(static_cast<std::uint16_t>(asc) & 0xff);
    if (field) {
        // SKSV | C/D | BPV | bit pointer, then the 16-bit field pointer.
        std::uint8_t b = 0x80;
        if (field->in_cdb) b |= 0x40;
        if (field->bit) b = static_cast<std::uint8_t>(b | 0x08 | (*field->bit & 0x07));
        s[15] = b;
        s[16] = static_cast<std::uint8_t>(field->byte >> 8);
        s[17] = static_cast<std::uint8_t>(field->byte & 0xff);
    }
    return s;
}

std::optional<DecodedSense> decode_sense(std::span<const std::uint8_t> sense) noexcept {
    if (sense.size() < 1) return std::nullopt;
    const std::uint8_t code = sense[0] & 0x7f;
    DecodedSense d;
    if (code == 0x70 || code == 0x71) {
        if (sense.size() < 14) return std::nullopt;
        d.key = static_cast<SenseKey>(sense[2] & 0x0f);
        d.asc = sense[12];
        d.ascq = sense[13];
        if (sense[0] & 0x80)
            d.information = (std::uint32_t{sense[3]} << 24) | (std::uint32_t{sense[4]} << 16) |
                            (std::uint32_t{sense[5]} << 8) | sense[6];
        return d;
    }
    if (code == 0x72 || code == 0x73) {  // descriptor format (SPC-4 4.5.2)
        if (sense.size() < 4) return std::nullopt;
        d.key = static_cast<SenseKey>(sense[1] & 0x0f);
        d.asc = sense[2];
        d.ascq = sense[3];
        return d;
    }
    return std::nullopt;
}

std::string DecodedSense::describe() const {
    char codes[32];
    std::snprintf(codes, sizeof codes, " (0x%02x/0x%02x)", asc, ascq);
    return std::string(sense_key_name(key)) + ": " + std::string(asc_name(asc_ascq())) + codes;
}

}  // namespace srp::scsi
