// Task management and the recovery of timed-out commands, escalating as the
// kernel's SCSI error handler does: ABORT TASK, then LOGICAL UNIT RESET, then
// a new login (SAM-5 7.2 and 7.6; SRP r16a 6.7 SRP_TSK_MGMT).
#include <algorithm>

#include "common/scsi/cdb.h"
#include "common/scsi/sense.h"
#include "common/wire/iu_encode.h"
#include "srp_initiator/session_internal.h"

namespace srp::initiator {

namespace {
using Clock = std::chrono::steady_clock;
constexpr std::uint8_t kTmfComplete = 0;  // SRP r16a table 24: TASK MANAGEMENT FUNCTION COMPLETE
}  // namespace

std::string_view to_string(Recovery r) noexcept {
    switch (r) {
        case Recovery::none: return "none";
        case Recovery::abort_wanted: return "abort wanted";
        case Recovery::abort_sent: return "abort sent";
        case Recovery::reset_wanted: return "LUN reset wanted";
        case Recovery::reset_sent: return "LUN reset sent";
    }
    return "?";
}

Session::Slot* Session::post_tmf(Channel& ch, std::uint16_t lun, wire::TaskManagementFunction function,
                                 std::uint64_t task_tag) {
    // Task management may use the last credit: submit() never takes it.
    if (ch.dead || ch.credits < 1 || ch.free_slots.empty()) return nullptr;
    const std::uint32_t index = ch.free_slots.back();
    const std::uint64_t tag = make_tag(ch.next_sequence++, ch.index, index);
    auto iu = wire::make_iu<wire::TskMgmt>(wire::Opcode::tsk_mgmt);
    iu.tag = to_tag(tag);
    iu.lun = scsi::encode_lun(lun);
    iu.tsk_mgmt_func = static_cast<std::uint8_t>(function);
    iu.task_tag = to_tag(task_tag);
    const std::size_t at = std::size_t{index} * ch.info.max_it_iu_len;
    std::memcpy(ch.send_memory.data() + at, &iu, sizeof iu);
    if (!ch.link.connection->post_send(index, ch.send_mr->segment(at, sizeof iu))) return nullptr;
    ch.free_slots.pop_back();
    --ch.credits;
    Slot& slot = ch.slots[index];
    slot.reset();
    slot.busy = true;
    slot.send_pending = true;
    slot.is_tmf = true;
    slot.function = function;
    slot.tag = tag;
    slot.lun = lun;
    slot.start = Clock::now();
    slot.deadline = slot.start + options_.tmf_timeout;
    return &slot;
}

std::vector<Session::Channel*> Session::reset_scope(Channel& ch) {
    // SAM-5 7.6: a LOGICAL UNIT RESET aborts the LU's tasks on every channel
    // of the nexus. With independent channels (ChannelHandle) another thread
    // owns the other channels: their commands recover on their own channel
    // (an ABORT TASK for a task the reset removed completes at once).
    if (independent_channels_) return {&ch};
    std::vector<Channel*> all;
    for (auto& c : channels_) all.push_back(c.get());
    return all;
}

void Session::check_timeouts(Channel& ch) {
    const auto now = Clock::now();
    for (auto& slot : ch.slots) {
        if (ch.dead) break;
        if (!slot.busy || slot.ending) continue;  // ending: only its invalidate is outstanding
        if (slot.is_tmf) {
            if (now < slot.deadline) continue;
            // No answer: give the TMF up (its tag is ignored from now on)
            // and let its victim escalate.
            end_recovery(ch, slot, false);
            finish(ch, slot, CommandResult{});
            continue;
        }
        if (slot.recovery == Recovery::none && now >= slot.deadline) {
            slot.recovery = Recovery::abort_wanted;
            slot.recovery_since = now;
        }
        if (slot.recovery == Recovery::abort_wanted || slot.recovery == Recovery::reset_wanted) recover(ch, slot, now);
    }
}

void Session::recover(Channel& ch, Slot& victim, Clock::time_point now) {
    // A step that cannot even be sent (no credit, no slot) for tmf_timeout
    // escalates like one that was sent and not answered.
    if (victim.recovery == Recovery::abort_wanted) {
        if (now - victim.recovery_since < options_.tmf_timeout) {
            if (Slot* tmf = post_tmf(ch, victim.lun, wire::TaskManagementFunction::abort_task, victim.tag)) {
                tmf->victim_tag = victim.tag;
                victim.recovery = Recovery::abort_sent;
                victim.recovery_since = now;
            }
            return;
        }
        victim.recovery = Recovery::reset_wanted;
        victim.recovery_since = now;
    }
    if (victim.recovery != Recovery::reset_wanted) return;
    if (now - victim.recovery_since >= options_.tmf_timeout) {
        ch.reconnect_wanted = true;
        return;
    }
    // One LOGICAL UNIT RESET per LUN at a time covers every victim on it.
    for (Channel* other : reset_scope(ch))
        for (const auto& s : other->slots)
            if (s.busy && !s.is_tmf && s.lun == victim.lun && s.recovery == Recovery::reset_sent) {
                victim.recovery_since = now;
                return;
            }
    if (Slot* tmf = post_tmf(ch, victim.lun, wire::TaskManagementFunction::logical_unit_reset, 0)) {
        tmf->victim_tag = victim.tag;
        victim.recovery = Recovery::reset_sent;
        victim.recovery_since = now;
    }
}

void Session::handle_tmf_response(Channel& ch, Slot& tmf, std::uint8_t code) {
    if (tmf.tmf_code) *tmf.tmf_code = code;
    end_recovery(ch, tmf, code == kTmfComplete);
    finish(ch, tmf, CommandResult{});
}

void Session::end_recovery(Channel& ch, Slot& tmf, bool succeeded) {
    if (tmf.victim_tag == 0) return;
    const auto now = Clock::now();
    if (tmf.function == wire::TaskManagementFunction::abort_task) {
        Slot& victim = ch.slots[static_cast<std::size_t>(tmf.victim_tag & kSlotMask)];
        if (!victim.busy || victim.tag != tmf.victim_tag) return;  // its SRP_RSP won the race
        if (succeeded) {
            // SAM-5 7.2: the task is gone and transfers no more data.
            CommandResult r;
            r.timed_out = true;
            return finish(ch, victim, r);
        }
        victim.recovery = Recovery::reset_wanted;
        victim.recovery_since = now;
        return;
    }
    if (!succeeded) {
        ch.reconnect_wanted = true;
        return;
    }
    // SAM-5 7.6: a LOGICAL UNIT RESET aborts every task of the LU, on every
    // channel of the nexus; none of them will be answered.
    for (Channel* other : reset_scope(ch))
        for (auto& s : other->slots) {
            if (!s.busy || s.is_tmf || s.lun != tmf.lun) continue;
            CommandResult r;
            r.timed_out = s.recovery != Recovery::none;
            r.transport_error = !r.timed_out;
            if (r.transport_error) r.error = "aborted by a LOGICAL UNIT RESET";
            finish(*other, s, r);
        }
}

CommandResult Session::execute(std::uint16_t lun, std::span<const std::uint8_t> cdb, Direction direction,
                               std::span<std::uint8_t> buffer) {
    // A unit attention (power on, reset, mode change) reports an event, not a
    // failure of this command: retry a few times, as the SCSI midlayer does.
    CommandResult result = execute_once(lun, cdb, direction, buffer);
    for (int retry = 0; retry < 3 && result.status == scsi::Status::check_condition; ++retry) {
        auto sense = scsi::decode_sense(result.sense);
        if (!sense || sense->key != scsi::SenseKey::unit_attention) break;
        result = execute_once(lun, cdb, direction, buffer);
    }
    return result;
}

CommandResult Session::execute_once(std::uint16_t lun, std::span<const std::uint8_t> cdb, Direction direction,
                                    std::span<std::uint8_t> buffer) {
    // The result lives with the callback, not in this frame: if we ever stop
    // waiting, a late completion writes into memory the callback owns.
    auto result = std::make_shared<std::optional<CommandResult>>();
    const auto submit_deadline = Clock::now() + options_.command_timeout;
    for (;;) {
        auto submitted = submit(lun, cdb, direction, buffer, [result](const CommandResult& r) { *result = r; });
        if (submitted) break;
        if (submitted.error() != SubmitError::no_credits || Clock::now() > submit_deadline) {
            CommandResult failed;
            failed.transport_error = true;
            failed.error = std::string(to_string(submitted.error()));
            return failed;
        }
        wait(std::chrono::milliseconds(10));
    }
    // Recovery ends every command within command_timeout + 2 * tmf_timeout
    // and a reconnect; the margin only guards against a bug there.
    const auto deadline = Clock::now() + options_.command_timeout + options_.tmf_timeout * 3 + std::chrono::seconds(60);
    while (!*result && Clock::now() < deadline) wait(std::chrono::milliseconds(100));
    if (!*result) {
        CommandResult failed;
        failed.transport_error = true;
        failed.error = "no response, not even to task management";
        return failed;
    }
    return **result;
}

std::optional<std::uint8_t> Session::task_management(std::uint16_t lun, wire::TaskManagementFunction function,
                                                     std::uint64_t task_tag, std::size_t channel) {
    if (channel >= channels_.size()) return std::nullopt;
    Slot* slot = post_tmf(*channels_[channel], lun, function, task_tag);
    if (slot == nullptr) return std::nullopt;
    auto code = std::make_shared<std::optional<std::uint8_t>>();
    slot->tmf_code = code;
    const std::uint64_t tag = slot->tag;
    const std::uint64_t generation = generation_.load();
    // check_timeouts() ends the slot after tmf_timeout; a reconnect ends it too.
    const auto until = slot->deadline + std::chrono::seconds(1);
    auto pending = [&] {
        return generation == generation_ && slot->busy && slot->tag == tag;
    };
    while (pending() && Clock::now() < until) wait(std::chrono::milliseconds(100));
    return *code;
}

}  // namespace srp::initiator
