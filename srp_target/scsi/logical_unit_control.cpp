// TEST UNIT READY, REQUEST SENSE, START STOP UNIT, PREVENT ALLOW MEDIUM
// REMOVAL, PERSISTENT RESERVE IN/OUT, RESERVE/RELEASE (6/10).
#include "common/wire/big_endian.h"
#include "srp_target/scsi/logical_unit.h"
#include "srp_target/scsi/sense_helpers.h"

namespace srp::target {

using scsi::Asc;
using scsi::FieldPointer;
using scsi::SenseBuilder;
using scsi::SenseKey;
namespace op = scsi::op;

namespace {
constexpr std::size_t kPrOutParameterBytes = 24;
}  // namespace

void LogicalUnit::test_unit_ready(ScsiTask&, scsi::Cdb) {}

void LogicalUnit::request_sense(ScsiTask& task, scsi::Cdb cdb) {
    if (cdb[1] & 0x01) return task.complete_check(illegal(Asc::invalid_field_in_cdb, 1, 0));  // DESC
    // SPC-4 6.29: a pending unit attention is reported (and cleared) as sense data.
    SenseBuilder sense;
    if (auto ua = take_unit_attention(task.nexus_)) {
        sense = SenseBuilder{SenseKey::unit_attention, *ua, {}, {}};
    } else if (!started_.load(std::memory_order_relaxed)) {
        sense = SenseBuilder{SenseKey::not_ready, Asc::lun_not_ready_initializing_command_required, {}, {}};
    }
    const auto fixed = sense.build();
    set_data_in(task, std::vector<std::uint8_t>(fixed.begin(), fixed.end()), scsi::allocation_length(cdb));
}

void LogicalUnit::start_stop_unit(ScsiTask& task, scsi::Cdb cdb) {
    const std::uint8_t power_condition = cdb[4] >> 4;
    if (power_condition != 0) return;  // power conditions have no effect on a memory-backed unit
    if (cdb[4] & 0x02) return task.complete_check(illegal(Asc::invalid_field_in_cdb, 4, 1));  // LOEJ: not removable
    const bool start = cdb[4] & 0x01;
    if (!start) return issue_flush(task, ScsiTask::Continuation::start_stop);  // stopping makes the cache durable
    started_.store(true, std::memory_order_relaxed);
}

void LogicalUnit::prevent_allow(ScsiTask& task, scsi::Cdb cdb) {
    // Non-removable medium: PREVENT is accepted and has nothing to lock (SBC-3 5.13).
    if ((cdb[4] & 0x03) > 1) return task.complete_check(illegal(Asc::invalid_field_in_cdb, 4, 1));
}

void LogicalUnit::persistent_reserve_in(ScsiTask& task, scsi::Cdb cdb) {
    std::optional<std::vector<std::uint8_t>> data;
    {
        std::lock_guard lock(state_mutex_);
        data = reservations_.persistent_reserve_in(cdb[1] & 0x1f);
    }
    if (!data) return task.complete_check(illegal(Asc::invalid_field_in_cdb, 1, 4));
    set_data_in(task, std::move(*data), scsi::allocation_length(cdb));
}

void LogicalUnit::persistent_reserve_out(ScsiTask& task, scsi::Cdb cdb) {
    const std::uint32_t length = wire::load_be<std::uint32_t>(cdb, 5);
    if (length != kPrOutParameterBytes) return task.complete_check(illegal(Asc::parameter_list_length_error, 5));
    task.cdb_bytes_[1] = cdb[1];
    task.cdb_bytes_[2] = cdb[2];
    task.scratch_.assign(length, 0);
    expect_data_out(task, task.scratch_, false, ScsiTask::Continuation::persistent_reserve_out);
}

void LogicalUnit::finish_persistent_reserve_out(ScsiTask& task) {
    std::lock_guard lock(state_mutex_);
    const std::uint8_t service_action = task.cdb_bytes_[1] & 0x1f;
    // Worked out on a copy: when APTPL is active and the new state cannot be
    // kept, the command fails and the unit's reservations stay as they were.
    Reservations next = reservations_;
    PrOutcome outcome =
        next.persistent_reserve_out(identity_of(task.nexus_), service_action, task.cdb_bytes_[2], task.scratch_);
    if (outcome.sense) return task.complete_check(*outcome.sense);
    if (outcome.status != scsi::Status::good) return task.complete_status(outcome.status);
    if (auto failed = keep_persistent_state(next, service_action)) return task.complete_check(*failed);
    reservations_ = std::move(next);
    reservation_active_.store(reservations_.active(), std::memory_order_release);
    establish_reservation_attentions(outcome);
    task.complete_good();
}

void LogicalUnit::reserve(ScsiTask& task, scsi::Cdb cdb) {
    // Third-party and extent reservations are obsolete (SPC-2 7.21).
    if (cdb[0] == op::kReserve10 && (cdb[1] & 0x12))
        return task.complete_check(illegal(Asc::invalid_field_in_cdb, 1, (cdb[1] & 0x10) ? 4 : 1));
    std::lock_guard lock(state_mutex_);
    const bool reserved = reservations_.reserve_spc2(identity_of(task.nexus_));
    reservation_active_.store(reservations_.active(), std::memory_order_release);
    if (!reserved) task.complete_status(scsi::Status::reservation_conflict);
}

void LogicalUnit::release(ScsiTask& task, scsi::Cdb cdb) {
    if (cdb[0] == op::kRelease10 && (cdb[1] & 0x12))
        return task.complete_check(illegal(Asc::invalid_field_in_cdb, 1, (cdb[1] & 0x10) ? 4 : 1));
    std::lock_guard lock(state_mutex_);
    reservations_.release_spc2(identity_of(task.nexus_));
    reservation_active_.store(reservations_.active(), std::memory_order_release);
}

}  // namespace srp::target
