// REPORT SUPPORTED OPERATION CODES (MAINTENANCE IN, service action 0Ch;
// SPC-4 6.35) over the table in command_usage.cpp.
#include "common/wire/big_endian.h"
#include "srp_target/scsi/command_usage.h"
#include "srp_target/scsi/logical_unit.h"
#include "srp_target/scsi/sense_helpers.h"

namespace srp::target {

using scsi::Asc;
using wire::store_be;
namespace op = scsi::op;

namespace {

// Command timeouts descriptor (SPC-4 6.35): DESCRIPTOR LENGTH 0Ah; the
// nominal and recommended timeouts stay 0 ("not specified"): every command
// completes as soon as the backstore answers.
constexpr std::size_t kTimeoutsDescriptorBytes = 12;
void put_timeouts_descriptor(std::vector<std::uint8_t>& d, std::size_t at) {
    store_be<std::uint16_t>(d, at, kTimeoutsDescriptorBytes - 2);
}

// All_commands parameter data (SPC-4 6.35): 8-byte command descriptors,
// each followed by a timeouts descriptor when RCTD is set.
std::vector<std::uint8_t> all_commands(bool thin, bool rctd) {
    const auto commands = supported_commands(thin);
    const std::size_t each = 8 + (rctd ? kTimeoutsDescriptorBytes : 0);
    std::vector<std::uint8_t> d(4 + each * commands.size(), 0);
    std::size_t at = 4;
    for (const auto& c : commands) {
        d[at] = c.opcode;
        if (c.service_action) {
            store_be<std::uint16_t>(d, at + 2, *c.service_action);
            d[at + 5] |= 0x01;  // SERVACTV
        }
        if (rctd) {
            d[at + 5] |= 0x02;  // CTDP
            put_timeouts_descriptor(d, at + 8);
        }
        store_be<std::uint16_t>(d, at + 6, c.cdb_bytes);
        at += each;
    }
    store_be<std::uint32_t>(d, 0, static_cast<std::uint32_t>(d.size() - 4));
    return d;
}

// One_command parameter data (SPC-4 6.35): SUPPORT 011b "supported as the
// standard defines it" with CDB SIZE and CDB USAGE DATA, or 001b "not
// supported" with no usage data.
std::vector<std::uint8_t> one_command(const std::optional<CommandUsage>& command, bool rctd) {
    if (!command) return {0x00, 0x01, 0x00, 0x00};
    const auto usage = command->usage_data();
    std::vector<std::uint8_t> d(4 + usage.size() + (rctd ? kTimeoutsDescriptorBytes : 0), 0);
    d[1] = 0x03;
    store_be<std::uint16_t>(d, 2, static_cast<std::uint16_t>(usage.size()));
    std::copy(usage.begin(), usage.end(), d.begin() + 4);
    if (rctd) {
        d[1] |= 0x80;  // CTDP
        put_timeouts_descriptor(d, 4 + usage.size());
    }
    return d;
}

}  // namespace

void LogicalUnit::maintenance_in(ScsiTask& task, scsi::Cdb cdb) {
    if ((cdb[1] & 0x1f) != op::kReportSupportedOpcodesServiceAction)
        return task.complete_check(illegal(Asc::invalid_field_in_cdb, 1, 4));
    const bool rctd = cdb[2] & 0x80;
    const std::uint8_t options = cdb[2] & 0x07;
    const bool thin = thin_provisioned();
    // REPORTING OPTIONS (SPC-4 6.35, REPORTING OPTIONS table): 000b all commands;
    // 001b one command without service actions (REQUESTED SERVICE ACTION
    // ignored); 010b one command with a service action; 011b either;
    // 100b..111b reserved.
    if (options == 0) return set_data_in(task, all_commands(thin, rctd), scsi::allocation_length(cdb));
    if (options > 3) return task.complete_check(illegal(Asc::invalid_field_in_cdb, 2, 2));
    const std::uint8_t requested = cdb[3];
    const std::uint16_t requested_sa = wire::load_be<std::uint16_t>(cdb, 4);
    const bool with_service_actions = has_service_actions(requested);
    // 001b for an operation code that has service actions, and 010b for an
    // implemented one that has none, are INVALID FIELD IN CDB (SPC-4 6.35).
    // An operation code we do not implement is simply "not supported".
    const bool implemented = find_command(requested, 0, thin) || with_service_actions;
    if ((options == 1 && with_service_actions) || (options == 2 && implemented && !with_service_actions))
        return task.complete_check(illegal(Asc::invalid_field_in_cdb, 2, 2));
    std::optional<CommandUsage> command;
    if (!with_service_actions) command = find_command(requested, 0, thin);
    else if (requested_sa <= 0xff) command = find_command(requested, static_cast<std::uint8_t>(requested_sa), thin);
    set_data_in(task, one_command(command, rctd), scsi::allocation_length(cdb));
}

}  // namespace srp::target
