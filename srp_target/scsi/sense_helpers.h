// The two sense data shapes most engine errors take (SPC-4 4.5.2.4.2):
// ILLEGAL REQUEST with a field pointer into the CDB or the parameter list.
#pragma once

#include <optional>

#include "common/scsi/sense.h"

namespace srp::target {

inline scsi::SenseBuilder illegal(scsi::Asc asc, std::uint16_t byte, std::optional<std::uint8_t> bit = {}) {
    return scsi::SenseBuilder{scsi::SenseKey::illegal_request, asc, scsi::FieldPointer{true, byte, bit}, {}};
}

inline scsi::SenseBuilder bad_parameter(std::uint16_t byte, std::optional<std::uint8_t> bit = {}) {
    return scsi::SenseBuilder{scsi::SenseKey::illegal_request, scsi::Asc::invalid_field_in_parameter_list,
                              scsi::FieldPointer{false, byte, bit}, {}};
}

// The Data-Out length the initiator described does not match what the CDB
// implies. Every CDB field is valid, so INVALID FIELD IN CDB with a pointer
// into the CDB would blame the wrong thing: the mismatch lies in the command
// information unit's data length, which SPC-4 table D.2 names INVALID FIELD
// IN COMMAND INFORMATION UNIT (0Eh/03h, as FCP-4 and SAS use it). No field
// pointer: the field is outside the CDB and the parameter list.
inline scsi::SenseBuilder data_out_length_mismatch() {
    return scsi::SenseBuilder{scsi::SenseKey::illegal_request, scsi::Asc::invalid_field_in_command_iu, {}, {}};
}

}  // namespace srp::target
