// A SCSI direct-access logical unit (SBC-3) over a Backstore. Transport
// agnostic: SRP today, iSCSI later. Commands that touch the medium complete
// asynchronously through the phases of ScsiTask (see scsi_task.h): the
// engine describes each medium step, the transport runs it and calls
// complete_medium(). Medium errors become sense data (MEDIUM ERROR, SPACE
// ALLOCATION FAILED), a shrunken backstore a CAPACITY DATA HAS CHANGED unit
// attention. Thread safety: every entry point may run concurrently from
// several poller threads (each task on one thread at a time); READ and
// WRITE touch only immutable state, atomics and the range locks, other
// commands take state_mutex_.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "common/scsi/cdb.h"
#include "srp_target/backstore/backstore.h"
#include "srp_target/scsi/nexus_identity.h"
#include "srp_target/scsi/reservations.h"
#include "srp_target/scsi/scsi_task.h"

namespace srp::target {

using LuUuid = std::array<std::uint8_t, 16>;

struct LogicalUnitConfig {
    std::uint32_t block_size = 512;  // 512 or 4096
    std::string serial;              // VPD 0x80; derived from uuid (else from the path) when empty
    // The unit's persistent identity (RFC 4122 random UUID), chosen and kept
    // by the caller (the daemon's state directory): it yields the NAA
    // designator, the UUID designator and the default serial. Without it
    // (tests, tools) both derive from a hash of the path and serial, which
    // is NOT unique across anonymous units or hosts.
    std::optional<LuUuid> uuid;
    std::string vendor = "SRPTGT";   // INQUIRY, padded to 8
    std::string product = "MMAP LUN";
    std::string revision = "0001";
    // Where persistent reservations are kept while APTPL is active (see
    // pr_state_file.h), read back at construction. Empty: APTPL=1 is refused
    // and REPORT CAPABILITIES says PTPL_C=0. The directory must exist.
    std::filesystem::path aptpl_file;
};

// Limits reported in the Block Limits VPD page and enforced by the engine.
inline constexpr std::uint32_t kMaxTransferBytes = 8u << 20;      // per READ/WRITE command
inline constexpr std::uint32_t kMaxCompareAndWriteBlocks = 1;      // like LIO and SCST
inline constexpr std::uint32_t kMaxUnmapDescriptors = 256;
inline constexpr std::uint32_t kMaxWriteSameBytes = 64u << 20;     // bounds a single command's work
inline constexpr std::uint32_t kWriteSameChunkBytes = 1u << 20;    // one WRITE SAME write step

class LogicalUnit {
public:
    LogicalUnit(std::unique_ptr<Backstore> backstore, LogicalUnitConfig config);

    // A nexus becomes known at login: it gets the power-on unit attention
    // (SAM-5 6.2), or I_T NEXUS LOSS OCCURRED when it was attached before
    // and lost all its channels (SPC-4 6.29, table 43). identity is the
    // transport's lasting name for it (see nexus_identity.h): persistent
    // reservations made under that name, before a restart or under another
    // NexusId, apply to the nexus.
    void attach_nexus(NexusId nexus, NexusIdentity identity);
    void detach_nexus(NexusId nexus);
    bool holds_registration(NexusId nexus);
    // A unit attention the transport's task management raises (SPC-4 7.5.7,
    // COMMANDS CLEARED BY ANOTHER INITIATOR when another nexus cleared tasks).
    void raise_unit_attention(NexusId nexus, scsi::Asc asc);
    // The nexus id will not return: a later attach of it is a first arrival.
    void forget_nexus(NexusId nexus);

    // expected_data_out_bytes: what the initiator described for DATA-OUT.
    ScsiTask submit(NexusId nexus, std::span<const std::uint8_t> cdb, std::uint64_t expected_data_out_bytes);
    // awaiting_buffer -> the transport's buffer (at least buffer_bytes(), 4096-aligned).
    void provide_buffer(ScsiTask& task, std::span<std::uint8_t> buffer);
    // awaiting_data_out -> the data-out bytes are in data_out_buffer().
    void complete_data_out(ScsiTask& task);
    // awaiting_medium -> medium_op() finished with result.
    void complete_medium(ScsiTask& task, MediumResult result);
    // blocked -> try the busy range lock again.
    void resume(ScsiTask& task);

    // LOGICAL UNIT RESET (SAM-5 7.7): clears SPC-2 reservations and mode
    // changes, and raises a unit attention on every other nexus.
    void reset(NexusId requester);

    std::uint64_t block_count() const noexcept { return backstore_->size_bytes() / config_.block_size; }
    // Medium steps of this LU run inline (memory backstore) or through a transport's queue.
    bool inline_medium() const noexcept { return backstore_->is_memory(); }
    std::size_t range_locks_held() const { return range_locks_.held(); }
    std::uint32_t block_size() const noexcept { return config_.block_size; }
    const LogicalUnitConfig& config() const noexcept { return config_; }
    Backstore& backstore() const noexcept { return *backstore_; }
    std::uint64_t naa_identifier() const noexcept { return naa_id_; }
    bool write_cache_enabled() const noexcept { return write_cache_enabled_.load(std::memory_order_relaxed); }
    // MAXIMUM WRITE SAME LENGTH of the Block Limits VPD page, as enforced.
    std::uint64_t max_write_same_blocks() const noexcept { return kMaxWriteSameBytes / config_.block_size; }
    // Thin provisioned (UNMAP, LBPME) unless read-only or pinned for RDMA.
    bool thin_provisioned() const noexcept { return backstore_->can_deallocate(); }

private:
    using Handler = void (LogicalUnit::*)(ScsiTask&, scsi::Cdb);
    struct CommandInfo {
        Handler handler = nullptr;
        AccessClass access = AccessClass::always_allowed;
        bool reports_unit_attention = true;  // INQUIRY, REPORT LUNS, REQUEST SENSE do not
        bool needs_medium = false;           // fails with NOT READY while stopped
        bool thin_only = false;              // exists only with LBPME=1 (UNMAP, SBC-3 4.7)
    };
    static const CommandInfo* lookup(std::uint8_t opcode) noexcept;

    // Common checks.
    bool check_range(ScsiTask& task, std::uint64_t lba, std::uint64_t blocks);
    bool check_writable(ScsiTask& task);
    void expect_data_out(ScsiTask& task, std::span<std::uint8_t> buffer, bool backstore,
                         ScsiTask::Continuation next);
    std::span<std::uint8_t> blocks_span(std::uint64_t lba, std::uint64_t blocks) const noexcept;
    bool check_transfer_length(ScsiTask& task, scsi::Cdb cdb, std::uint64_t blocks);
    // Asks the transport for a buffer (io backstores) for the next phase.
    void request_buffer(ScsiTask& task, std::uint64_t bytes, ScsiTask::Continuation next);
    // Takes task's LBA range lock, or parks the task in the blocked phase.
    bool lock_or_block(ScsiTask& task, bool exclusive);

    // Medium steps (logical_unit_medium.cpp).
    void issue(ScsiTask& task, MediumOpKind kind, std::uint64_t offset, std::uint64_t length,
               std::span<std::uint8_t> buffer = {}, bool fua = false);
    void issue_flush(ScsiTask& task, ScsiTask::Continuation next);
    void after_medium(ScsiTask& task);
    void medium_failed(ScsiTask& task, std::error_code error);
    bool capacity_shrank();
    void set_data_in(ScsiTask& task, std::vector<std::uint8_t> data, std::uint32_t allocation_length);
    void establish_unit_attention(NexusId nexus, scsi::Asc asc);  // state_mutex_ held
    // The identity attached with nexus; a nexus never attached is named by
    // its id (anonymous, never persisted). state_mutex_ held.
    const NexusIdentity& identity_of(NexusId nexus);
    static NexusIdentity anonymous_identity(NexusId nexus);
    std::optional<scsi::Asc> take_unit_attention(NexusId nexus);

    // Handlers (logical_unit_*.cpp).
    void test_unit_ready(ScsiTask&, scsi::Cdb);
    void request_sense(ScsiTask&, scsi::Cdb);
    void inquiry(ScsiTask&, scsi::Cdb);
    void read_capacity10(ScsiTask&, scsi::Cdb);
    void service_action_in16(ScsiTask&, scsi::Cdb);
    void read_capacity16(ScsiTask&, scsi::Cdb);
    void get_lba_status(ScsiTask&, scsi::Cdb);
    void read(ScsiTask&, scsi::Cdb);
    void write(ScsiTask&, scsi::Cdb);
    void verify(ScsiTask&, scsi::Cdb);
    void synchronize_cache(ScsiTask&, scsi::Cdb);
    void pre_fetch(ScsiTask&, scsi::Cdb);
    void write_same(ScsiTask&, scsi::Cdb);
    void unmap(ScsiTask&, scsi::Cdb);
    void compare_and_write(ScsiTask&, scsi::Cdb);
    void mode_sense(ScsiTask&, scsi::Cdb);
    void mode_select(ScsiTask&, scsi::Cdb);
    void start_stop_unit(ScsiTask&, scsi::Cdb);
    void prevent_allow(ScsiTask&, scsi::Cdb);
    void maintenance_in(ScsiTask&, scsi::Cdb);
    void persistent_reserve_in(ScsiTask&, scsi::Cdb);
    void persistent_reserve_out(ScsiTask&, scsi::Cdb);
    void reserve(ScsiTask&, scsi::Cdb);
    void release(ScsiTask&, scsi::Cdb);

    // Continuations after data-out.
    void finish_write(ScsiTask&);
    void start_verify_read(ScsiTask&);
    void after_verify_read(ScsiTask&);
    void finish_compare_and_write(ScsiTask&);
    void after_compare_and_write_step(ScsiTask&);
    void finish_write_same(ScsiTask&);
    void write_same_next(ScsiTask&);
    void finish_unmap(ScsiTask&);
    void unmap_next(ScsiTask&);
    void finish_mode_select(ScsiTask&);
    void apply_mode_select(ScsiTask&);
    void finish_persistent_reserve_out(ScsiTask&);
    // Persistent reservations (logical_unit_reservations.cpp).
    static Reservations load_reservations(const std::filesystem::path& aptpl_file);
    std::optional<scsi::SenseBuilder> keep_persistent_state(const Reservations& next, std::uint8_t service_action);
    void establish_reservation_attentions(const PrOutcome& outcome);  // state_mutex_ held

    // Page builders.
    std::vector<std::uint8_t> standard_inquiry() const;
    std::optional<std::vector<std::uint8_t>> vpd_page(std::uint8_t page) const;
    std::vector<std::uint8_t> mode_page(std::uint8_t page, std::uint8_t control) const;

    std::unique_ptr<Backstore> backstore_;
    LogicalUnitConfig config_;
    std::uint64_t naa_id_;
    std::atomic<bool> write_cache_enabled_{true};
    std::atomic<bool> started_{true};
    std::atomic<int> nexuses_with_unit_attention_{0};
    std::atomic<bool> reservation_active_{false};

    std::mutex state_mutex_;  // guards everything below
    std::unordered_map<NexusId, std::deque<scsi::Asc>> unit_attentions_;
    std::unordered_set<NexusId> known_nexuses_;
    std::unordered_map<NexusId, NexusIdentity> identities_;  // attached nexuses, until forgotten
    Reservations reservations_;
    RangeLocks range_locks_;           // COMPARE AND WRITE is atomic against overlapping writes
};

}  // namespace srp::target
