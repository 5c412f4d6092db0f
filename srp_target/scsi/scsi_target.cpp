#include "srp_target/scsi/scsi_target.h"

#include <algorithm>

#include "common/wire/big_endian.h"

namespace srp::target {

using scsi::Asc;
using scsi::FieldPointer;
using scsi::SenseBuilder;
using scsi::SenseKey;

void ScsiTarget::add_lun(std::uint16_t lun, std::shared_ptr<LogicalUnit> unit) {
    if (!luns_.emplace(lun, std::move(unit)).second)
        throw BackstoreError("LUN " + std::to_string(lun) + " is configured twice");
}

LogicalUnit* ScsiTarget::find(std::uint16_t lun) const noexcept {
    auto it = luns_.find(lun);
    return it == luns_.end() ? nullptr : it->second.get();
}

void ScsiTarget::attach_nexus(NexusId nexus, const NexusIdentity& identity) {
    for (auto& [number, unit] : luns_) unit->attach_nexus(nexus, identity);
}

void ScsiTarget::detach_nexus(NexusId nexus) {
    for (auto& [number, unit] : luns_) unit->detach_nexus(nexus);
}

bool ScsiTarget::holds_registration(NexusId nexus) const {
    return std::any_of(luns_.begin(), luns_.end(), [&](const auto& u) { return u.second->holds_registration(nexus); });
}

void ScsiTarget::forget_nexus(NexusId nexus) {
    for (auto& [number, unit] : luns_) unit->forget_nexus(nexus);
}

ScsiTask ScsiTarget::submit(NexusId nexus, std::optional<std::uint16_t> lun, std::span<const std::uint8_t> cdb,
                            std::uint64_t expected_data_out_bytes) {
    // REPORT LUNS is answered for any LUN, existing or not (SPC-4 6.33).
    if (!cdb.empty() && cdb[0] == scsi::op::kReportLuns) return report_luns(cdb);
    LogicalUnit* unit = lun ? find(*lun) : nullptr;
    if (unit == nullptr) return unknown_lun(cdb);
    return unit->submit(nexus, cdb, expected_data_out_bytes);
}

void ScsiTarget::provide_buffer(std::optional<std::uint16_t> lun, ScsiTask& task, std::span<std::uint8_t> buffer) {
    if (LogicalUnit* unit = lun ? find(*lun) : nullptr) unit->provide_buffer(task, buffer);
}

void ScsiTarget::complete_data_out(std::optional<std::uint16_t> lun, ScsiTask& task) {
    if (LogicalUnit* unit = lun ? find(*lun) : nullptr) unit->complete_data_out(task);
}

void ScsiTarget::complete_medium(std::optional<std::uint16_t> lun, ScsiTask& task, MediumResult result) {
    if (LogicalUnit* unit = lun ? find(*lun) : nullptr) unit->complete_medium(task, std::move(result));
}

void ScsiTarget::resume(std::optional<std::uint16_t> lun, ScsiTask& task) {
    if (LogicalUnit* unit = lun ? find(*lun) : nullptr) unit->resume(task);
}

ScsiTask ScsiTarget::report_luns(std::span<const std::uint8_t> cdb) const {
    ScsiTask task;
    if (cdb.size() < 12) {
        task.complete_check(SenseBuilder{SenseKey::illegal_request, Asc::invalid_field_in_cdb, FieldPointer{true, 0, {}}, {}});
        return task;
    }
    // CONTROL byte NACA (SAM-5 5.2): no ACA here either.
    if (cdb[11] & 0x04) {
        task.complete_check(SenseBuilder{SenseKey::illegal_request, Asc::invalid_field_in_cdb, FieldPointer{true, 11, 2}, {}});
        return task;
    }
    const std::uint8_t select_report = cdb[2];
    const std::uint32_t allocation = wire::load_be<std::uint32_t>(cdb, 6);
    // SPC-4 6.33: an allocation length below 16 is an error.
    if (allocation < 16) {
        task.complete_check(SenseBuilder{SenseKey::illegal_request, Asc::invalid_field_in_cdb, FieldPointer{true, 6, {}}, {}});
        return task;
    }
    if (select_report > 2) {
        task.complete_check(SenseBuilder{SenseKey::illegal_request, Asc::invalid_field_in_cdb, FieldPointer{true, 2, {}}, {}});
        return task;
    }
    // SELECT REPORT 1 asks for well-known LUNs only: we have none.
    const std::size_t count = select_report == 1 ? 0 : luns_.size();
    task.scratch_.assign(8 + 8 * count, 0);
    wire::store_be<std::uint32_t>(task.scratch_, 0, static_cast<std::uint32_t>(8 * count));
    if (count != 0) {
        std::size_t at = 8;
        for (const auto& [number, unit] : luns_) {
            const auto bytes = scsi::encode_lun(number);
            std::copy(bytes.begin(), bytes.end(), task.scratch_.begin() + static_cast<std::ptrdiff_t>(at));
            at += 8;
        }
    }
    task.data_in_ = std::span<const std::uint8_t>(task.scratch_).first(std::min<std::size_t>(task.scratch_.size(), allocation));
    return task;
}

ScsiTask ScsiTarget::unknown_lun(std::span<const std::uint8_t> cdb) {
    ScsiTask task;
    if (!cdb.empty() && cdb[0] == scsi::op::kInquiry && cdb.size() >= 6 && !(cdb[1] & 0x03) && cdb[2] == 0) {
        // Peripheral qualifier 3: no logical unit here (SPC-4 6.6.2).
        task.scratch_.assign(36, 0);
        task.scratch_[0] = 0x7f;
        task.scratch_[2] = 0x06;
        task.scratch_[3] = 0x12;
        task.scratch_[4] = 31;
        const std::uint32_t allocation = wire::load_be<std::uint16_t>(cdb, 3);
        task.data_in_ = std::span<const std::uint8_t>(task.scratch_).first(std::min<std::size_t>(36, allocation));
        return task;
    }
    if (!cdb.empty() && cdb[0] == scsi::op::kRequestSense && cdb.size() >= 6) {
        const auto sense = SenseBuilder{SenseKey::illegal_request, Asc::logical_unit_not_supported, {}, {}}.build();
        task.scratch_.assign(sense.begin(), sense.end());
        task.data_in_ = std::span<const std::uint8_t>(task.scratch_).first(std::min<std::size_t>(sense.size(), cdb[4]));
        return task;
    }
    task.complete_check(SenseBuilder{SenseKey::illegal_request, Asc::logical_unit_not_supported, {}, {}});
    return task;
}

}  // namespace srp::target
