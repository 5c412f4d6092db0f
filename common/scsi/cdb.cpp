#include "common/scsi/cdb.h"

#include "common/scsi/scsi_constants.h"
#include "common/wire/big_endian.h"

namespace srp::scsi {

using wire::load_be;
using wire::load_be24;

std::size_t cdb_length_for_opcode(std::uint8_t opcode) noexcept {
    switch (opcode >> 5) {
        case 0: return 6;
        case 1:
        case 2: return 10;
        case 4: return 16;
        case 5: return 12;
        default: return 0;
    }
}

std::optional<LbaRange> decode_lba_range(Cdb cdb) noexcept {
    if (cdb.empty() || cdb.size() < cdb_length_for_opcode(cdb[0])) return std::nullopt;
    if (cdb[0] == op::kCompareAndWrite)
        return LbaRange{load_be<std::uint64_t>(cdb, 2), cdb[13]};
    switch (cdb_length_for_opcode(cdb[0])) {
        case 6: {
            const std::uint32_t blocks = cdb[4] == 0 ? 256u : cdb[4];
            return LbaRange{load_be24(cdb, 1) & 0x1fffffu, blocks};
        }
        case 10: return LbaRange{load_be<std::uint32_t>(cdb, 2), load_be<std::uint16_t>(cdb, 7)};
        case 12: return LbaRange{load_be<std::uint32_t>(cdb, 2), load_be<std::uint32_t>(cdb, 6)};
        case 16: return LbaRange{load_be<std::uint64_t>(cdb, 2), load_be<std::uint32_t>(cdb, 10)};
        default: return std::nullopt;
    }
}

std::uint32_t allocation_length(Cdb cdb) noexcept {
    if (cdb.empty()) return 0;
    switch (cdb[0]) {
        case op::kInquiry: return cdb.size() >= 5 ? load_be<std::uint16_t>(cdb, 3) : 0;
        case op::kRequestSense:
        case op::kModeSense6: return cdb.size() >= 5 ? cdb[4] : 0;
        case op::kModeSense10:
        case op::kPersistentReserveIn: return cdb.size() >= 9 ? load_be<std::uint16_t>(cdb, 7) : 0;
        case op::kReportLuns:
        case op::kMaintenanceIn: return cdb.size() >= 10 ? load_be<std::uint32_t>(cdb, 6) : 0;
        case op::kServiceActionIn16: return cdb.size() >= 14 ? load_be<std::uint32_t>(cdb, 10) : 0;
        case op::kReadCapacity10: return 8;
        default: return 0;
    }
}

LunBytes encode_lun(std::uint16_t lun) noexcept {
    LunBytes b{};
    if (lun < 256) {
        b[1] = static_cast<std::uint8_t>(lun);
    } else {
        b[0] = static_cast<std::uint8_t>(0x40 | ((lun >> 8) & 0x3f));
        b[1] = static_cast<std::uint8_t>(lun & 0xff);
    }
    return b;
}

std::optional<std::uint16_t> decode_lun(const LunBytes& b) noexcept {
    for (std::size_t i = 2; i < b.size(); ++i)
        if (b[i] != 0) return std::nullopt;  // second-level addressing is not used by our LUNs
    switch (b[0] >> 6) {
        case 0:  // peripheral device addressing, bus 0
            if ((b[0] & 0x3f) != 0) return std::nullopt;
            return b[1];
        case 1:  // flat space addressing
            return static_cast<std::uint16_t>(((b[0] & 0x3f) << 8) | b[1]);
        default: return std::nullopt;
    }
}

std::array<std::uint8_t, 16> make_rw16(std::uint8_t opcode, std::uint64_t lba, std::uint32_t blocks,
                                       bool fua) noexcept {
    std::array<std::uint8_t, 16> c{};
    c[0] = opcode;
    if (fua) c[1] = 0x08;
    wire::store_be<std::uint64_t>(c, 2, lba);
    wire::store_be<std::uint32_t>(c, 10, blocks);
    return c;
}

std::array<std::uint8_t, 10> make_rw10(std::uint8_t opcode, std::uint32_t lba, std::uint16_t blocks,
                                       bool fua) noexcept {
    std::array<std::uint8_t, 10> c{};
    c[0] = opcode;
    if (fua) c[1] = 0x08;
    wire::store_be<std::uint32_t>(c, 2, lba);
    wire::store_be<std::uint16_t>(c, 7, blocks);
    return c;
}

}  // namespace srp::scsi
