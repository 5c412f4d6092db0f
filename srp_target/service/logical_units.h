// The logical units a TargetConfig describes: backstores opened (the
// default one created), identities taken from the state directory, and
// configurations that would give two units one identity refused.
// Errors: ConfigError naming the option (--lun, --state-dir), BackstoreError
// naming the path. Used during setup, on one thread.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "srp_target/scsi/logical_unit.h"
#include "srp_target/service/target_config.h"

namespace srp::target {

struct ConfiguredLun {
    std::uint16_t number = 0;
    std::shared_ptr<LogicalUnit> unit;
};

std::vector<ConfiguredLun> build_logical_units(const TargetConfig& config);

// Two LUNs on the same storage (same file, through any path or hard link, or
// same block device), with the same serial, or with the same NAA identifier
// would look like one disk reached twice to multipath: refused.
void refuse_duplicate_identities(const std::vector<ConfiguredLun>& luns);

}  // namespace srp::target
