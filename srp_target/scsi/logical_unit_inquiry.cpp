// INQUIRY with its VPD pages, READ CAPACITY (10)/(16), REPORT SUPPORTED
// OPERATION CODES (SPC-4 6.6, 7.8; SBC-3 5.15, 5.16, 6.6).
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

// REPORT SUPPORTED OPERATION CODES table: opcode, service action (or -1),
// CDB usage data (SPC-4 6.35.3: a 1 bit marks a bit the server looks at).
struct OpcodeUsage {
    std::uint8_t opcode;
    int service_action;
    std::vector<std::uint8_t> usage;
};
const std::vector<OpcodeUsage>& supported_opcodes() {
    static const std::vector<OpcodeUsage> table = {
        {op::kTestUnitReady, -1, {0x00, 0x00, 0x00, 0x00, 0x00, 0x04}},
        {op::kRequestSense, -1, {0x03, 0x01, 0x00, 0x00, 0xff, 0x04}},
        {op::kRead6, -1, {0x08, 0x1f, 0xff, 0xff, 0xff, 0x04}},
        {op::kWrite6, -1, {0x0a, 0x1f, 0xff, 0xff, 0xff, 0x04}},
        {op::kInquiry, -1, {0x12, 0x01, 0xff, 0xff, 0xff, 0x04}},
        {op::kModeSelect6, -1, {0x15, 0x11, 0x00, 0x00, 0xff, 0x04}},
        {op::kReserve6, -1, {0x16, 0x00, 0x00, 0x00, 0x00, 0x04}},
        {op::kRelease6, -1, {0x17, 0x00, 0x00, 0x00, 0x00, 0x04}},
        {op::kModeSense6, -1, {0x1a, 0x08, 0xff, 0xff, 0xff, 0x04}},
        {op::kStartStopUnit, -1, {0x1b, 0x01, 0x00, 0x0f, 0xf7, 0x04}},
        {op::kPreventAllowMediumRemoval, -1, {0x1e, 0x00, 0x00, 0x00, 0x03, 0x04}},
        {op::kReadCapacity10, -1, {0x25, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04}},
        {op::kRead10, -1, {0x28, 0xf8, 0xff, 0xff, 0xff, 0xff, 0x00, 0xff, 0xff, 0x04}},
        {op::kWrite10, -1, {0x2a, 0xf8, 0xff, 0xff, 0xff, 0xff, 0x00, 0xff, 0xff, 0x04}},
        {op::kWriteAndVerify10, -1, {0x2e, 0xf2, 0xff, 0xff, 0xff, 0xff, 0x00, 0xff, 0xff, 0x04}},
        {op::kVerify10, -1, {0x2f, 0xf6, 0xff, 0xff, 0xff, 0xff, 0x00, 0xff, 0xff, 0x04}},
        {op::kSynchronizeCache10, -1, {0x35, 0x02, 0xff, 0xff, 0xff, 0xff, 0x00, 0xff, 0xff, 0x04}},
        {op::kWriteSame10, -1, {0x41, 0xf8, 0xff, 0xff, 0xff, 0xff, 0x00, 0xff, 0xff, 0x04}},
        {op::kUnmap, -1, {0x42, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0x04}},
        {op::kModeSelect10, -1, {0x55, 0x11, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0x04}},
        {op::kReserve10, -1, {0x56, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04}},
        {op::kRelease10, -1, {0x57, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04}},
        {op::kModeSense10, -1, {0x5a, 0x18, 0xff, 0xff, 0x00, 0x00, 0x00, 0xff, 0xff, 0x04}},
        {op::kPersistentReserveIn, 0x00, {0x5e, 0x1f, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0x04}},
        {op::kPersistentReserveIn, 0x01, {0x5e, 0x1f, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0x04}},
        {op::kPersistentReserveIn, 0x02, {0x5e, 0x1f, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0x04}},
        {op::kPersistentReserveOut, 0x00, {0x5f, 0x1f, 0xff, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0x04}},
        {op::kPersistentReserveOut, 0x01, {0x5f, 0x1f, 0xff, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0x04}},
        {op::kPersistentReserveOut, 0x02, {0x5f, 0x1f, 0xff, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0x04}},
        {op::kPersistentReserveOut, 0x03, {0x5f, 0x1f, 0xff, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0x04}},
        {op::kPersistentReserveOut, 0x04, {0x5f, 0x1f, 0xff, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0x04}},
        {op::kPersistentReserveOut, 0x05, {0x5f, 0x1f, 0xff, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0x04}},
        {op::kPersistentReserveOut, 0x06, {0x5f, 0x1f, 0xff, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0x04}},
        {op::kRead16, -1, {0x88, 0xf8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0x04}},
        {op::kCompareAndWrite, -1, {0x89, 0xf8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0xff, 0x00, 0x04}},
        {op::kWrite16, -1, {0x8a, 0xf8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0x04}},
        {op::kWriteAndVerify16, -1, {0x8e, 0xf2, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0x04}},
        {op::kVerify16, -1, {0x8f, 0xf6, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0x04}},
        {op::kSynchronizeCache16, -1, {0x91, 0x02, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0x04}},
        {op::kWriteSame16, -1, {0x93, 0xf9, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0x04}},
        {op::kServiceActionIn16, op::kReadCapacity16ServiceAction, {0x9e, 0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0x04}},
        {op::kReportLuns, -1, {0xa0, 0x00, 0xff, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0x00, 0x04}},
        {op::kMaintenanceIn, op::kReportSupportedOpcodesServiceAction, {0xa3, 0x0c, 0x87, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0x04}},
        {op::kRead12, -1, {0xa8, 0xf8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0x04}},
        {op::kWrite12, -1, {0xaa, 0xf8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0x04}},
    };
    return table;
}

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
            // NAA designator (binary, LU association) then a T10 vendor ID designator.
            const std::string t10 = std::string(8, ' ').replace(0, std::min<std::size_t>(8, config_.vendor.size()),
                                                               config_.vendor.substr(0, 8)) + config_.serial;
            d.assign(4 + 12 + 4 + t10.size(), 0);
            d[4] = 0x01;  // protocol 0, code set binary
            d[5] = 0x03;  // LU association, NAA
            d[7] = 8;
            store_be<std::uint64_t>(d, 8, naa_id_);
            d[16] = 0x02;  // code set ASCII
            d[17] = 0x01;  // LU association, T10 vendor ID
            d[19] = static_cast<std::uint8_t>(t10.size());
            std::copy(t10.begin(), t10.end(), d.begin() + 20);
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
            store_be<std::uint64_t>(d, 36, kMaxWriteSameBytes / config_.block_size);
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
    if ((cdb[1] & 0x1f) != op::kReadCapacity16ServiceAction)
        return task.complete_check(illegal(Asc::invalid_field_in_cdb, 1, 4));
    std::vector<std::uint8_t> d(32, 0);
    store_be<std::uint64_t>(d, 0, block_count() - 1);
    store_be<std::uint32_t>(d, 8, config_.block_size);
    // LOGICAL BLOCKS PER PHYSICAL BLOCK EXPONENT: 512-byte blocks on 4 KiB pages.
    d[13] = config_.block_size == 512 ? 3 : 0;
    if (thin_provisioned()) d[14] = 0x80 | 0x40;  // LBPME, LBPRZ
    set_data_in(task, std::move(d), scsi::allocation_length(cdb));
}

void LogicalUnit::maintenance_in(ScsiTask& task, scsi::Cdb cdb) {
    if ((cdb[1] & 0x1f) != op::kReportSupportedOpcodesServiceAction)
        return task.complete_check(illegal(Asc::invalid_field_in_cdb, 1, 4));
    const bool rctd = cdb[2] & 0x80;
    const std::uint8_t options = cdb[2] & 0x07;
    const std::uint8_t requested = cdb[3];
    const std::uint16_t requested_sa = wire::load_be<std::uint16_t>(cdb, 4);
    const auto& table = supported_opcodes();
    std::vector<std::uint8_t> d;
    if (options == 0) {  // all commands: 8-byte descriptors (+12 with timeouts)
        const std::size_t each = rctd ? 20 : 8;
        d.assign(4 + each * table.size(), 0);
        std::size_t at = 4;
        for (const auto& entry : table) {
            d[at] = entry.opcode;
            if (entry.service_action >= 0) {
                store_be<std::uint16_t>(d, at + 2, static_cast<std::uint16_t>(entry.service_action));
                d[at + 5] |= 0x01;  // SERVACTV
            }
            if (rctd) {
                d[at + 5] |= 0x02;  // CTDP
                store_be<std::uint16_t>(d, at + 8, 0x0a);  // command timeouts descriptor length
            }
            store_be<std::uint16_t>(d, at + 6, static_cast<std::uint16_t>(entry.usage.size()));
            at += each;
        }
        store_be<std::uint32_t>(d, 0, static_cast<std::uint32_t>(d.size() - 4));
        return set_data_in(task, std::move(d), scsi::allocation_length(cdb));
    }
    if (options > 3) return task.complete_check(illegal(Asc::invalid_field_in_cdb, 2, 2));
    // One command: SUPPORT field 3 (supported as in the standard) or 1 (not supported).
    const OpcodeUsage* found = nullptr;
    bool has_service_actions = false;
    for (const auto& entry : table) {
        if (entry.opcode != requested) continue;
        has_service_actions |= entry.service_action >= 0;
        if ((options == 1 && entry.service_action < 0) ||
            (options >= 2 && entry.service_action == requested_sa) ||
            (options == 3 && entry.service_action < 0 && requested_sa == 0))
            found = &entry;
    }
    // Options 1 asks for a command without service actions; 2 for one with them (SPC-4 6.35.2).
    if ((options == 1 && has_service_actions) || (options == 2 && !has_service_actions && lookup(requested)))
        return task.complete_check(illegal(Asc::invalid_field_in_cdb, 2, 2));
    const std::size_t usage = found ? found->usage.size() : 0;
    d.assign(4 + usage + (rctd ? 12 : 0), 0);
    d[1] = found ? 0x03 : 0x01;
    if (rctd && found) {
        d[1] |= 0x80;  // CTDP
        store_be<std::uint16_t>(d, 4 + usage, 0x0a);
    }
    store_be<std::uint16_t>(d, 2, static_cast<std::uint16_t>(usage));
    if (found) std::copy(found->usage.begin(), found->usage.end(), d.begin() + 4);
    set_data_in(task, std::move(d), scsi::allocation_length(cdb));
}

}  // namespace srp::target
