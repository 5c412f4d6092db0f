// SCSI operation codes, status codes, sense keys and the additional sense
// codes the engine reports (SPC-4, SBC-3, SAM-5). Shared by target and initiator.
#pragma once

#include <cstdint>
#include <string_view>

namespace srp::scsi {

namespace op {
inline constexpr std::uint8_t kTestUnitReady = 0x00;
inline constexpr std::uint8_t kRequestSense = 0x03;
inline constexpr std::uint8_t kRead6 = 0x08;
inline constexpr std::uint8_t kWrite6 = 0x0A;
inline constexpr std::uint8_t kInquiry = 0x12;
inline constexpr std::uint8_t kModeSelect6 = 0x15;
inline constexpr std::uint8_t kReserve6 = 0x16;
inline constexpr std::uint8_t kRelease6 = 0x17;
inline constexpr std::uint8_t kModeSense6 = 0x1A;
inline constexpr std::uint8_t kStartStopUnit = 0x1B;
inline constexpr std::uint8_t kPreventAllowMediumRemoval = 0x1E;
inline constexpr std::uint8_t kReadCapacity10 = 0x25;
inline constexpr std::uint8_t kRead10 = 0x28;
inline constexpr std::uint8_t kWrite10 = 0x2A;
inline constexpr std::uint8_t kWriteAndVerify10 = 0x2E;
inline constexpr std::uint8_t kVerify10 = 0x2F;
inline constexpr std::uint8_t kPreFetch10 = 0x34;
inline constexpr std::uint8_t kSynchronizeCache10 = 0x35;
inline constexpr std::uint8_t kWriteSame10 = 0x41;
inline constexpr std::uint8_t kUnmap = 0x42;
inline constexpr std::uint8_t kModeSelect10 = 0x55;
inline constexpr std::uint8_t kReserve10 = 0x56;
inline constexpr std::uint8_t kRelease10 = 0x57;
inline constexpr std::uint8_t kModeSense10 = 0x5A;
inline constexpr std::uint8_t kPersistentReserveIn = 0x5E;
inline constexpr std::uint8_t kPersistentReserveOut = 0x5F;
inline constexpr std::uint8_t kRead16 = 0x88;
inline constexpr std::uint8_t kCompareAndWrite = 0x89;
inline constexpr std::uint8_t kWrite16 = 0x8A;
inline constexpr std::uint8_t kOrWrite16 = 0x8B;  // not supported
inline constexpr std::uint8_t kWriteAndVerify16 = 0x8E;
inline constexpr std::uint8_t kVerify16 = 0x8F;
inline constexpr std::uint8_t kPreFetch16 = 0x90;
inline constexpr std::uint8_t kSynchronizeCache16 = 0x91;
inline constexpr std::uint8_t kWriteSame16 = 0x93;
inline constexpr std::uint8_t kWriteAtomic16 = 0x9C;  // not supported
inline constexpr std::uint8_t kServiceActionIn16 = 0x9E;  // READ CAPACITY(16) is SA 0x10, GET LBA STATUS 0x12
inline constexpr std::uint8_t kReportLuns = 0xA0;
inline constexpr std::uint8_t kMaintenanceIn = 0xA3;  // REPORT SUPPORTED OPERATION CODES is SA 0x0C
inline constexpr std::uint8_t kRead12 = 0xA8;
inline constexpr std::uint8_t kWrite12 = 0xAA;
inline constexpr std::uint8_t kWriteAndVerify12 = 0xAE;
inline constexpr std::uint8_t kVerify12 = 0xAF;
inline constexpr std::uint8_t kReadCapacity16ServiceAction = 0x10;
inline constexpr std::uint8_t kGetLbaStatusServiceAction = 0x12;
inline constexpr std::uint8_t kReportSupportedOpcodesServiceAction = 0x0C;
}  // namespace op

enum class Status : std::uint8_t {
    good = 0x00,
    check_condition = 0x02,
    condition_met = 0x04,
    busy = 0x08,
    reservation_conflict = 0x18,
    task_set_full = 0x28,
    aca_active = 0x30,
    task_aborted = 0x40,
};

enum class SenseKey : std::uint8_t {
    no_sense = 0x0,
    recovered_error = 0x1,
    not_ready = 0x2,
    medium_error = 0x3,
    hardware_error = 0x4,
    illegal_request = 0x5,
    unit_attention = 0x6,
    data_protect = 0x7,
    aborted_command = 0xB,
    miscompare = 0xE,
};

// Additional sense code and qualifier (SPC-4 table D.2), high byte ASC.
enum class Asc : std::uint16_t {
    no_additional_sense = 0x0000,
    lun_not_ready_initializing_command_required = 0x0402,
    write_error = 0x0C00,
    invalid_field_in_command_iu = 0x0E03,
    unrecovered_read_error = 0x1100,
    miscompare_during_verify = 0x1D00,
    parameter_list_length_error = 0x1A00,
    invalid_command_operation_code = 0x2000,
    lba_out_of_range = 0x2100,
    invalid_field_in_cdb = 0x2400,
    logical_unit_not_supported = 0x2500,
    invalid_field_in_parameter_list = 0x2600,
    write_protected = 0x2700,
    power_on_reset = 0x2900,
    bus_device_reset_function_occurred = 0x2903,
    i_t_nexus_loss_occurred = 0x2907,
    commands_cleared_by_another_initiator = 0x2F00,
    mode_parameters_changed = 0x2A01,
    reservations_preempted = 0x2A03,
    reservations_released = 0x2A04,
    registrations_preempted = 0x2A05,
    saving_parameters_not_supported = 0x3900,
    insufficient_registration_resources = 0x5504,
    internal_target_failure = 0x4400,
};

std::string_view status_name(Status status) noexcept;
std::string_view sense_key_name(SenseKey key) noexcept;
std::string_view asc_name(std::uint16_t asc_ascq) noexcept;

}  // namespace srp::scsi
