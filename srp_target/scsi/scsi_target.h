// The set of logical units one target exports, and the commands that are
// answered for the target as a whole: REPORT LUNS (SPC-4 6.33) and anything
// addressed to a LUN that does not exist (SPC-4 6.6.2, SAM-5 5.9.2).
// Thread safety: the LUN map is fixed after construction; LogicalUnit
// methods are thread safe.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <span>

#include "srp_target/scsi/logical_unit.h"

namespace srp::target {

class ScsiTarget {
public:
    void add_lun(std::uint16_t lun, std::shared_ptr<LogicalUnit> unit);
    LogicalUnit* find(std::uint16_t lun) const noexcept;
    const std::map<std::uint16_t, std::shared_ptr<LogicalUnit>>& luns() const noexcept { return luns_; }

    // identity: the transport's lasting name for the nexus (nexus_identity.h).
    void attach_nexus(NexusId nexus, const NexusIdentity& identity);
    void detach_nexus(NexusId nexus);
    // True when a persistent reservation registration names the nexus on any LU.
    bool holds_registration(NexusId nexus) const;
    // The transport will never present this nexus id again: drop what is kept for it.
    void forget_nexus(NexusId nexus);

    // lun is the decoded LUN number, or nullopt for an address we cannot decode.
    ScsiTask submit(NexusId nexus, std::optional<std::uint16_t> lun, std::span<const std::uint8_t> cdb,
                    std::uint64_t expected_data_out_bytes);
    // The other phase answers of ScsiTask (see scsi_task.h); no-ops for a LUN that does not exist.
    void provide_buffer(std::optional<std::uint16_t> lun, ScsiTask& task, std::span<std::uint8_t> buffer);
    void complete_data_out(std::optional<std::uint16_t> lun, ScsiTask& task);
    void complete_medium(std::optional<std::uint16_t> lun, ScsiTask& task, MediumResult result);
    void resume(std::optional<std::uint16_t> lun, ScsiTask& task);

private:
    ScsiTask report_luns(std::span<const std::uint8_t> cdb) const;
    static ScsiTask unknown_lun(std::span<const std::uint8_t> cdb);

    std::map<std::uint16_t, std::shared_ptr<LogicalUnit>> luns_;
};

}  // namespace srp::target
