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

}  // namespace srp::target
