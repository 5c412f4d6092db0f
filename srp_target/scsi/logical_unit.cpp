// Dispatch, unit attentions, reset, and the helpers every command uses.
#include "srp_target/scsi/logical_unit.h"
#include "srp_target/scsi/sense_helpers.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>
#include <functional>

namespace srp::target {

using scsi::Asc;
using scsi::FieldPointer;
using scsi::SenseBuilder;
using scsi::SenseKey;
namespace op = scsi::op;

namespace {


// A stable number from a string (FNV-1a): the NAA identifier and default
// serial of a unit configured without a UUID.
std::uint64_t stable_hash(const std::string& text) {
    std::uint64_t h = 0xcbf29ce484222325ull;
    for (unsigned char c : text) h = (h ^ c) * 0x100000001b3ull;
    return h;
}

}  // namespace

LogicalUnit::LogicalUnit(std::unique_ptr<Backstore> backstore, LogicalUnitConfig config)
    : backstore_(std::move(backstore)), config_(std::move(config)), reservations_(load_reservations(config_.aptpl_file)) {
    reservation_active_.store(reservations_.active(), std::memory_order_release);
    if (config_.block_size != 512 && config_.block_size != 4096)
        throw BackstoreError("block size " + std::to_string(config_.block_size) + " is not 512 or 4096");
    if (backstore_->size_bytes() % config_.block_size != 0 || backstore_->size_bytes() < config_.block_size)
        throw BackstoreError("backstore size " + std::to_string(backstore_->size_bytes()) +
                             " is not a positive multiple of the block size " +
                             std::to_string(config_.block_size));
    // NAA 3 "locally assigned" (SPC-4 7.8.6.6): NAA 3h then a 60-bit
    // LOCALLY ADMINISTERED VALUE. NAA 5/6 would need an IEEE company ID we
    // do not own; borrowing someone's OUI would make the "registered" claim
    // false. 60 random bits make a collision between two units negligible.
    if (config_.uuid) {
        const LuUuid& u = *config_.uuid;
        // The 60 random bits of a version 4 UUID that precede its variant
        // bits: bytes 0-5, the low nibble of byte 6 (its high nibble is the
        // version) and byte 7. The NAA follows the UUID, never the serial,
        // so a user-chosen serial cannot make two units look alike.
        std::uint64_t bits = 0;
        for (int i = 0; i < 6; ++i) bits = (bits << 8) | u[i];
        bits = (bits << 4) | (u[6] & 0x0f);
        bits = (bits << 8) | u[7];
        naa_id_ = (std::uint64_t{3} << 60) | bits;
        if (config_.serial.empty()) {
            char buf[33];
            for (std::size_t i = 0; i < u.size(); ++i) std::snprintf(buf + 2 * i, 3, "%02x", u[i]);
            config_.serial = buf;
        }
        return;
    }
    const std::string identity = backstore_->path().empty() ? config_.serial : backstore_->path();
    const std::uint64_t h = stable_hash(identity + "/" + config_.serial);
    if (config_.serial.empty()) {
        char buf[17];
        std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
        config_.serial = buf;
    }
    naa_id_ = (std::uint64_t{3} << 60) | (stable_hash(config_.serial) & 0x0fffffffffffffffull);
}

const LogicalUnit::CommandInfo* LogicalUnit::lookup(std::uint8_t opcode) noexcept {
    static const std::array<CommandInfo, 256> table = [] {
        std::array<CommandInfo, 256> t{};
        using A = AccessClass;
        auto add = [&](std::uint8_t code, Handler h, A access, bool ua = true, bool medium = false) {
            t[code] = CommandInfo{h, access, ua, medium, false};
        };
        add(op::kTestUnitReady, &LogicalUnit::test_unit_ready, A::always_allowed, true, true);
        add(op::kRequestSense, &LogicalUnit::request_sense, A::always_allowed, false);
        add(op::kInquiry, &LogicalUnit::inquiry, A::always_allowed, false);
        add(op::kReadCapacity10, &LogicalUnit::read_capacity10, A::always_allowed);
        add(op::kServiceActionIn16, &LogicalUnit::service_action_in16, A::always_allowed);
        for (auto code : {op::kRead6, op::kRead10, op::kRead12, op::kRead16})
            add(code, &LogicalUnit::read, A::read, true, true);
        for (auto code : {op::kWrite6, op::kWrite10, op::kWrite12, op::kWrite16, op::kWriteAndVerify10,
                          op::kWriteAndVerify12, op::kWriteAndVerify16})
            add(code, &LogicalUnit::write, A::write, true, true);
        add(op::kVerify10, &LogicalUnit::verify, A::read, true, true);
        add(op::kVerify12, &LogicalUnit::verify, A::read, true, true);
        add(op::kVerify16, &LogicalUnit::verify, A::read, true, true);
        add(op::kPreFetch10, &LogicalUnit::pre_fetch, A::read, true, true);
        add(op::kPreFetch16, &LogicalUnit::pre_fetch, A::read, true, true);
        add(op::kSynchronizeCache10, &LogicalUnit::synchronize_cache, A::write, true, true);
        add(op::kSynchronizeCache16, &LogicalUnit::synchronize_cache, A::write, true, true);
        add(op::kWriteSame10, &LogicalUnit::write_same, A::write, true, true);
        add(op::kWriteSame16, &LogicalUnit::write_same, A::write, true, true);
        add(op::kUnmap, &LogicalUnit::unmap, A::write, true, true);
        t[op::kUnmap].thin_only = true;
        add(op::kCompareAndWrite, &LogicalUnit::compare_and_write, A::write, true, true);
        add(op::kModeSense6, &LogicalUnit::mode_sense, A::read);
        add(op::kModeSense10, &LogicalUnit::mode_sense, A::read);
        add(op::kModeSelect6, &LogicalUnit::mode_select, A::write);
        add(op::kModeSelect10, &LogicalUnit::mode_select, A::write);
        add(op::kStartStopUnit, &LogicalUnit::start_stop_unit, A::write);
        add(op::kPreventAllowMediumRemoval, &LogicalUnit::prevent_allow, A::always_allowed);
        add(op::kMaintenanceIn, &LogicalUnit::maintenance_in, A::always_allowed);
        add(op::kPersistentReserveIn, &LogicalUnit::persistent_reserve_in, A::always_allowed);
        add(op::kPersistentReserveOut, &LogicalUnit::persistent_reserve_out, A::always_allowed);
        add(op::kReserve6, &LogicalUnit::reserve, A::always_allowed);
        add(op::kReserve10, &LogicalUnit::reserve, A::always_allowed);
        add(op::kRelease6, &LogicalUnit::release, A::always_allowed);
        add(op::kRelease10, &LogicalUnit::release, A::always_allowed);
        return t;
    }();
    const CommandInfo& info = table[opcode];
    return info.handler != nullptr ? &info : nullptr;
}

void LogicalUnit::attach_nexus(NexusId nexus, NexusIdentity identity) {
    std::lock_guard lock(state_mutex_);
    identities_[nexus] = identity.anonymous() ? anonymous_identity(nexus) : std::move(identity);
    const bool returning = !known_nexuses_.insert(nexus).second;
    establish_unit_attention(nexus, returning ? Asc::i_t_nexus_loss_occurred : Asc::power_on_reset);
}

void LogicalUnit::detach_nexus(NexusId nexus) {
    std::lock_guard lock(state_mutex_);
    if (auto it = unit_attentions_.find(nexus); it != unit_attentions_.end()) {
        if (!it->second.empty()) nexuses_with_unit_attention_.fetch_sub(1, std::memory_order_relaxed);
        unit_attentions_.erase(it);
    }
    reservations_.on_nexus_gone(identity_of(nexus));
}

void LogicalUnit::raise_unit_attention(NexusId nexus, Asc asc) {
    std::lock_guard lock(state_mutex_);
    establish_unit_attention(nexus, asc);
}

bool LogicalUnit::holds_registration(NexusId nexus) {
    std::lock_guard lock(state_mutex_);
    return reservations_.is_registered(identity_of(nexus));
}

void LogicalUnit::forget_nexus(NexusId nexus) {
    std::lock_guard lock(state_mutex_);
    known_nexuses_.erase(nexus);
    identities_.erase(nexus);
}

void LogicalUnit::establish_unit_attention(NexusId nexus, Asc asc) {
    auto& queue = unit_attentions_[nexus];
    if (std::find(queue.begin(), queue.end(), asc) != queue.end()) return;
    if (queue.empty()) nexuses_with_unit_attention_.fetch_add(1, std::memory_order_relaxed);
    queue.push_back(asc);
}

std::optional<Asc> LogicalUnit::take_unit_attention(NexusId nexus) {
    std::lock_guard lock(state_mutex_);
    auto it = unit_attentions_.find(nexus);
    if (it == unit_attentions_.end() || it->second.empty()) return std::nullopt;
    const Asc asc = it->second.front();
    it->second.pop_front();
    if (it->second.empty()) nexuses_with_unit_attention_.fetch_sub(1, std::memory_order_relaxed);
    return asc;
}

void LogicalUnit::reset(NexusId requester) {
    std::lock_guard lock(state_mutex_);
    reservations_.on_logical_unit_reset();
    write_cache_enabled_.store(true, std::memory_order_relaxed);  // mode pages back to defaults
    started_.store(true, std::memory_order_relaxed);
    for (auto& [nexus, queue] : unit_attentions_)
        if (nexus != requester) establish_unit_attention(nexus, Asc::bus_device_reset_function_occurred);
}

ScsiTask LogicalUnit::submit(NexusId nexus, std::span<const std::uint8_t> cdb,
                             std::uint64_t expected_data_out_bytes) {
    ScsiTask task;
    task.nexus_ = nexus;
    task.expected_data_out_ = expected_data_out_bytes;
    task.data_out_unused_ = expected_data_out_bytes;
    if (cdb.empty()) {
        task.complete_check(illegal(Asc::invalid_command_operation_code, 0));
        return task;
    }
    std::memcpy(task.cdb_bytes_, cdb.data(), std::min(cdb.size(), sizeof task.cdb_bytes_));
    const CommandInfo* info = lookup(cdb[0]);
    // LBPU=0 on a fully provisioned LUN: UNMAP is not a supported command
    // (SBC-3 5.28), whatever state the unit is in.
    if (info == nullptr || (info->thin_only && !thin_provisioned())) {
        task.complete_check(illegal(Asc::invalid_command_operation_code, 0));
        return task;
    }
    const std::size_t length = scsi::cdb_length_for_opcode(cdb[0]);
    if (length == 0 || cdb.size() < length) {
        task.complete_check(illegal(Asc::invalid_field_in_cdb, 0));
        return task;
    }
    // CONTROL byte NACA (SAM-5 5.2): we do not support ACA.
    if (cdb[length - 1] & 0x04) {
        task.complete_check(illegal(Asc::invalid_field_in_cdb, static_cast<std::uint16_t>(length - 1), 2));
        return task;
    }
    if (info->reports_unit_attention && nexuses_with_unit_attention_.load(std::memory_order_relaxed) > 0) {
        if (auto ua = take_unit_attention(nexus)) {
            task.complete_check(SenseBuilder{SenseKey::unit_attention, *ua, {}, {}});
            return task;
        }
    }
    if (info->access != AccessClass::always_allowed && reservation_active_.load(std::memory_order_acquire)) {
        std::lock_guard lock(state_mutex_);
        if (reservations_.conflicts(identity_of(nexus), info->access)) {
            task.complete_status(scsi::Status::reservation_conflict);
            return task;
        }
    }
    if (info->needs_medium && !started_.load(std::memory_order_relaxed)) {
        task.complete_check(SenseBuilder{SenseKey::not_ready, Asc::lun_not_ready_initializing_command_required, {}, {}});
        return task;
    }
    task.complete_good();
    (this->*(info->handler))(task, cdb.first(length));
    return task;
}

void LogicalUnit::complete_data_out(ScsiTask& task) {
    if (task.phase_ != ScsiTask::Phase::awaiting_data_out) return;
    task.phase_ = ScsiTask::Phase::complete;
    switch (task.continuation_) {
        case ScsiTask::Continuation::write:
        case ScsiTask::Continuation::write_and_verify: finish_write(task); break;
        case ScsiTask::Continuation::verify_bytes: start_verify_read(task); break;
        case ScsiTask::Continuation::compare_and_write: finish_compare_and_write(task); break;
        case ScsiTask::Continuation::write_same: finish_write_same(task); break;
        case ScsiTask::Continuation::unmap: finish_unmap(task); break;
        case ScsiTask::Continuation::mode_select: finish_mode_select(task); break;
        case ScsiTask::Continuation::persistent_reserve_out: finish_persistent_reserve_out(task); break;
        default: task.complete_good(); break;
    }
}

bool LogicalUnit::check_range(ScsiTask& task, std::uint64_t lba, std::uint64_t blocks) {
    const std::uint64_t count = block_count();
    if (lba > count || blocks > count - lba) {
        task.complete_check(illegal(Asc::lba_out_of_range, 2));
        return false;
    }
    return true;
}

bool LogicalUnit::check_writable(ScsiTask& task) {
    if (!backstore_->read_only()) return true;
    task.complete_check(SenseBuilder{SenseKey::data_protect, Asc::write_protected, {}, {}});
    return false;
}

std::span<std::uint8_t> LogicalUnit::blocks_span(std::uint64_t lba, std::uint64_t blocks) const noexcept {
    return backstore_->bytes().subspan(lba * config_.block_size, blocks * config_.block_size);
}

void LogicalUnit::expect_data_out(ScsiTask& task, std::span<std::uint8_t> buffer, bool backstore,
                                  ScsiTask::Continuation next) {
    // The initiator must describe at least what the CDB implies; a shorter
    // buffer would leave the command half done (SAM-5 5.4.2 overflow). More
    // is a residual underflow, reported through data_out_unused_bytes().
    if (task.expected_data_out_ < buffer.size()) {
        task.complete_check(data_out_length_mismatch());
        return;
    }
    task.data_out_unused_ = task.expected_data_out_ - buffer.size();
    task.data_out_ = buffer;
    task.buffer_is_backstore_ = backstore;
    task.continuation_ = next;
    task.phase_ = buffer.empty() ? ScsiTask::Phase::complete : ScsiTask::Phase::awaiting_data_out;
    if (buffer.empty()) complete_data_out(task);
}

void LogicalUnit::set_data_in(ScsiTask& task, std::vector<std::uint8_t> data, std::uint32_t allocation_length) {
    task.scratch_ = std::move(data);
    const std::size_t n = std::min<std::size_t>(task.scratch_.size(), allocation_length);
    task.data_in_ = std::span<const std::uint8_t>(task.scratch_).first(n);
    task.buffer_is_backstore_ = false;
}

}  // namespace srp::target
