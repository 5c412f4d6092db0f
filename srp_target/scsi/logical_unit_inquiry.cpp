// INQUIRY with its VPD pages, READ CAPACITY (10)/(16) (SPC-4 6.6, 7.8;
// SBC-3 5.15, 5.16, 6.6).
#include <algorithm>

#include "common/wire/big_endian.h"
#include "srp_target/scsi/logical_unit.h"
#include "srp_target/scsi/sense_helpers.h"

namespace srp::target {

using scsi::Asc;
using scsi::FieldPointer;
using scsi::SenseBuilder;
using scsi::SenseKey;
using wire::store_be;
namespace op = scsi::op;

namespace {


void put_padded(std::vector<std::uint8_t>& d, std::size_t at, std::string_view text, std::size_t width) {
    for (std::size_t i = 0; i < width; ++i) d[at + i] = i < text.size() ? static_cast<std::uint8_t>(text[i]) : ' ';
}

constexpr std::uint8_t kSupportedVpdPages[] = {0x00, 0x80, 0x83, 0xB0, 0xB1, 0xB2};

}  // namespace

std::vector<std::uint8_t> LogicalUnit::standard_inquiry() const {
    std::vector<std::uint8_t> d(66, 0);
    d[0] = 0x00;  // peripheral qualifier 0, direct access block device
    d[2] = 0x06;  // SPC-4
    d[3] = 0x12;  // HISUP, response data format 2
    d[4] = static_cast<std::uint8_t>(d.size() - 5);
    d[7] = 0x02;  // CMDQUE
    put_padded(d, 8, config_.vendor, 8);
    put_padded(d, 16, config_.product, 16);
    put_padded(d, 32, config_.revision, 4);
    // Version descriptors (SPC-4 table 141): SAM-5, SPC-4, SBC-3, SRP.
    store_be<std::uint16_t>(d, 58, 0x00A0);
    store_be<std::uint16_t>(d, 60, 0x0460);
    store_be<std::uint16_t>(d, 62, 0x04C0);
    store_be<std::uint16_t>(d, 64, 0x0940);
    return d;
}

std::optional<std::vector<std::uint8_t>> LogicalUnit::vpd_page(std::uint8_t page) const {
    std::vector<std::uint8_t> d;
    switch (page) {
        case 0x00:
            d.assign(4 + sizeof kSupportedVpdPages, 0);
            std::copy(std::begin(kSupportedVpdPages), std::end(kSupportedVpdPages), d.begin() + 4);
            break;
        case 0x80:
            d.assign(4 + config_.serial.size(), 0);
            std::copy(config_.serial.begin(), config_.serial.end(), d.begin() + 4);
            break;
        case 0x83: {
            // Device Identification (SPC-4 7.8.6), all with LU association:
            // NAA (binary), T10 vendor ID (ASCII: vendor then serial, as
            // SPC-4 7.8.6.4 suggests) and, with a UUID, the UUID designator
            // (SPC-5 UUID designator format: type Ah, binary, UUID TYPE 1h "locally
            // assigned", 18 bytes). Linux and multipathd key on the first.
            const std::string t10 = std::string(8, ' ').replace(0, std::min<std::size_t>(8, config_.vendor.size()),
                                                               config_.vendor.substr(0, 8)) + config_.serial;
            d.assign(4 + 12 + 4 + t10.size() + (config_.uuid ? 22 : 0), 0);
            d[4] = 0x01;  // protocol 0, code set binary
            d[5] = 0x03;  // LU association, NAA
            d[7] = 8;
            store_be<std::uint64_t>(d, 8, naa_id_);
            d[16] = 0x02;  // code set ASCII
            d[17] = 0x01;  // LU association, T10 vendor ID
            d[19] = static_cast<std::uint8_t>(t10.size());
            std::copy(t10.begin(), t10.end(), d.begin() + 20);
            if (config_.uuid) {
                const std::size_t at = 20 + t10.size();
                d[at] = 0x01;      // code set binary
                d[at + 1] = 0x0a;  // LU association, UUID
                d[at + 3] = 18;
                d[at + 4] = 0x10;  // UUID TYPE 1h: locally assigned
                std::copy(config_.uuid->begin(), config_.uuid->end(), d.begin() + static_cast<std::ptrdiff_t>(at + 6));
            }
            break;
        }
        case 0xB0: {  // Block Limits (SBC-3 6.6.4)
            d.assign(64, 0);
            d[4] = 0x01;  // WSNZ: WRITE SAME with zero blocks is rejected
            d[5] = static_cast<std::uint8_t>(kMaxCompareAndWriteBlocks);
            store_be<std::uint16_t>(d, 6, 1);  // optimal transfer length granularity
            store_be<std::uint32_t>(d, 8, kMaxTransferBytes / config_.block_size);
            store_be<std::uint32_t>(d, 12, kMaxTransferBytes / config_.block_size);
            if (thin_provisioned()) {
                store_be<std::uint32_t>(d, 20, 0xffffffffu);  // maximum UNMAP LBA count: unlimited
                store_be<std::uint32_t>(d, 24, kMaxUnmapDescriptors);
                store_be<std::uint32_t>(d, 28, std::max<std::uint32_t>(1, 4096 / config_.block_size));
            }
            store_be<std::uint64_t>(d, 36, max_write_same_blocks());
            break;
        }
        case 0xB1:  // Block Device Characteristics: non-rotating medium
            d.assign(64, 0);
            store_be<std::uint16_t>(d, 4, 1);
            break;
        case 0xB2:  // Logical Block Provisioning (SBC-3 6.6.6)
            d.assign(8, 0);
            if (thin_provisioned()) {
                d[5] = 0x80 | 0x40 | 0x20 | 0x04;  // LBPU, LBPWS, LBPWS10, LBPRZ
                d[6] = 0x02;                       // thin provisioned
            }
            break;
        default: return std::nullopt;
    }
    d[1] = page;
    store_be<std::uint16_t>(d, 2, static_cast<std::uint16_t>(d.size() - 4));
    return d;
}

void LogicalUnit::inquiry(ScsiTask& task, scsi::Cdb cdb) {
    if (cdb[1] & 0x02) return task.complete_check(illegal(Asc::invalid_field_in_cdb, 1, 1));  // CMDDT
    const bool evpd = cdb[1] & 0x01;
    if (!evpd) {
        if (cdb[2] != 0) return task.complete_check(illegal(Asc::invalid_field_in_cdb, 2));
        return set_data_in(task, standard_inquiry(), scsi::allocation_length(cdb));
    }
    auto page = vpd_page(cdb[2]);
    if (!page) return task.complete_check(illegal(Asc::invalid_field_in_cdb, 2));
    set_data_in(task, std::move(*page), scsi::allocation_length(cdb));
}

void LogicalUnit::read_capacity10(ScsiTask& task, scsi::Cdb cdb) {
    // PMI and a non-zero LBA are obsolete in SBC-3; reject the LBA without PMI.
    if (!(cdb[8] & 0x01) && wire::load_be<std::uint32_t>(cdb, 2) != 0)
        return task.complete_check(illegal(Asc::invalid_field_in_cdb, 2));
    std::vector<std::uint8_t> d(8, 0);
    const std::uint64_t last = block_count() - 1;
    store_be<std::uint32_t>(d, 0, last > 0xffffffffull ? 0xffffffffu : static_cast<std::uint32_t>(last));
    store_be<std::uint32_t>(d, 4, config_.block_size);
    set_data_in(task, std::move(d), 8);
}

void LogicalUnit::service_action_in16(ScsiTask& task, scsi::Cdb cdb) {
    switch (cdb[1] & 0x1f) {
        case op::kReadCapacity16ServiceAction: return read_capacity16(task, cdb);
        case op::kGetLbaStatusServiceAction: return get_lba_status(task, cdb);
        default: return task.complete_check(illegal(Asc::invalid_field_in_cdb, 1, 4));
    }
}

void LogicalUnit::read_capacity16(ScsiTask& task, scsi::Cdb cdb) {
    std::vector<std::uint8_t> d(32, 0);
    store_be<std::uint64_t>(d, 0, block_count() - 1);
    store_be<std::uint32_t>(d, 8, config_.block_size);
    // LOGICAL BLOCKS PER PHYSICAL BLOCK EXPONENT: 512-byte blocks on 4 KiB pages.
    d[13] = config_.block_size == 512 ? 3 : 0;
    if (thin_provisioned()) d[14] = 0x80 | 0x40;  // LBPME, LBPRZ
    set_data_in(task, std::move(d), scsi::allocation_length(cdb));
}

}  // namespace srp::target
