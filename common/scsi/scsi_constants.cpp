#include "common/scsi/scsi_constants.h"

namespace srp::scsi {

std::string_view status_name(Status status) noexcept {
    switch (status) {
        case Status::good: return "GOOD";
        case Status::check_condition: return "CHECK CONDITION";
        case Status::condition_met: return "CONDITION MET";
        case Status::busy: return "BUSY";
        case Status::reservation_conflict: return "RESERVATION CONFLICT";
        case Status::task_set_full: return "TASK SET FULL";
        case Status::aca_active: return "ACA ACTIVE";
        case Status::task_aborted: return "TASK ABORTED";
    }
    return "unknown status";
}

std::string_view sense_key_name(SenseKey key) noexcept {
    switch (key) {
        case SenseKey::no_sense: return "NO SENSE";
        case SenseKey::recovered_error: return "RECOVERED ERROR";
        case SenseKey::not_ready: return "NOT READY";
        case SenseKey::medium_error: return "MEDIUM ERROR";
        case SenseKey::hardware_error: return "HARDWARE ERROR";
        case SenseKey::illegal_request: return "ILLEGAL REQUEST";
        case SenseKey::unit_attention: return "UNIT ATTENTION";
        case SenseKey::data_protect: return "DATA PROTECT";
        case SenseKey::aborted_command: return "ABORTED COMMAND";
        case SenseKey::miscompare: return "MISCOMPARE";
    }
    return "unknown sense key";
}

std::string_view asc_name(std::uint16_t asc_ascq) noexcept {
    switch (static_cast<Asc>(asc_ascq)) {
        case Asc::no_additional_sense: return "NO ADDITIONAL SENSE INFORMATION";
        case Asc::lun_not_ready_initializing_command_required:
            return "LOGICAL UNIT NOT READY, INITIALIZING COMMAND REQUIRED";
        case Asc::write_error: return "WRITE ERROR";
        case Asc::invalid_field_in_command_iu: return "INVALID FIELD IN COMMAND INFORMATION UNIT";
        case Asc::unrecovered_read_error: return "UNRECOVERED READ ERROR";
        case Asc::miscompare_during_verify: return "MISCOMPARE DURING VERIFY OPERATION";
        case Asc::parameter_list_length_error: return "PARAMETER LIST LENGTH ERROR";
        case Asc::invalid_command_operation_code: return "INVALID COMMAND OPERATION CODE";
        case Asc::lba_out_of_range: return "LOGICAL BLOCK ADDRESS OUT OF RANGE";
        case Asc::invalid_field_in_cdb: return "INVALID FIELD IN CDB";
        case Asc::logical_unit_not_supported: return "LOGICAL UNIT NOT SUPPORTED";
        case Asc::invalid_field_in_parameter_list: return "INVALID FIELD IN PARAMETER LIST";
        case Asc::write_protected: return "WRITE PROTECTED";
        case Asc::power_on_reset: return "POWER ON, RESET, OR BUS DEVICE RESET OCCURRED";
        case Asc::bus_device_reset_function_occurred: return "BUS DEVICE RESET FUNCTION OCCURRED";
        case Asc::i_t_nexus_loss_occurred: return "I_T NEXUS LOSS OCCURRED";
        case Asc::commands_cleared_by_another_initiator: return "COMMANDS CLEARED BY ANOTHER INITIATOR";
        case Asc::mode_parameters_changed: return "MODE PARAMETERS CHANGED";
        case Asc::reservations_preempted: return "RESERVATIONS PREEMPTED";
        case Asc::reservations_released: return "RESERVATIONS RELEASED";
        case Asc::registrations_preempted: return "REGISTRATIONS PREEMPTED";
        case Asc::saving_parameters_not_supported: return "SAVING PARAMETERS NOT SUPPORTED";
        case Asc::insufficient_registration_resources: return "INSUFFICIENT REGISTRATION RESOURCES";
        case Asc::internal_target_failure: return "INTERNAL TARGET FAILURE";
    }
    return "unknown additional sense";
}

}  // namespace srp::scsi
