// Session internals shared by session.cpp, session_io.cpp and session_tmf.cpp.
#pragma once

#include <atomic>
#include <chrono>
#include <cstring>
#include <memory>
#include <optional>

#include "srp_initiator/session.h"

namespace srp::initiator {

// wr_id spaces on one connection.
inline constexpr std::uint64_t kReceiveTag = 1ull << 62;
// Control sends: I_LOGOUT (kControlTag) and the CRED_RSP/AER_RSP buffers
// (kControlTag + 1 + i). Above every slot index, and small (send chain
// wr_ids index a table in the verbs connection). Each SEND in flight needs a
// wr_id and a buffer of its own until it completes: a shared wr_id would
// retire two SENDs with one completion (the verbs connection's count of
// outstanding work requests would never return to zero), and a shared
// buffer could be rewritten before the first SEND read it.
inline constexpr std::uint64_t kControlTag = 0xF0000;
inline constexpr std::uint64_t kLogoutWrId = kControlTag;
inline constexpr std::uint32_t kExtraReceives = 4;       // target-initiated IUs beyond the credits
// CRED_RSP/AER_RSP in flight at once: one per receive kept for target-initiated
// IUs. A target that asks faster than the SENDs complete finds them all busy
// and its request goes unanswered (ib_srp likewise drops the response when no
// send IU is free, srp_response_common); the credits it granted still count.
inline constexpr std::uint32_t kControlResponses = kExtraReceives;
inline constexpr std::uint32_t kControlSends = 1 + kControlResponses;  // beside the slots, in the send queue
inline constexpr std::uint32_t kControlBytes = 64;
static_assert(kControlResponses <= 32, "Channel::control_busy is a 32-bit mask");
// Slots per channel: the slot index is the SEND's wr_id and the low 16 bits of
// the tag, and must stay below kControlTag.
inline constexpr std::uint32_t kMaxSlots = 4096;
static_assert(kMaxSlots <= 0x10000 && kMaxSlots < kControlTag);

// Local invalidates of memory windows: kInvalidateTag + the slot index, a
// wr_id of their own (below the control tags, small for the verbs tables).
inline constexpr std::uint64_t kInvalidateTag = 0x10000;
static_assert(kInvalidateTag >= kMaxSlots && kInvalidateTag + kMaxSlots <= kControlTag);
// Send queue entries per slot: a window bind and the SRP_CMD in one chain,
// and the local invalidate once the command ended (posted while the SEND's
// completion may still be unpolled).
inline constexpr std::uint32_t kSendsPerSlot = 3;

// Tags: a per-channel sequence number, the channel index, the slot index
// (SRP tags are opaque to the target; SAM wants them unique per I_T nexus,
// which spans every channel).
inline constexpr std::uint64_t kSlotMask = 0xffff;
inline constexpr unsigned kChannelShift = 16;
inline constexpr unsigned kSequenceShift = 24;  // up to 256 channels
inline std::uint64_t make_tag(std::uint64_t sequence, std::size_t channel, std::uint32_t slot) {
    return sequence << kSequenceShift | std::uint64_t{channel} << kChannelShift | slot;
}
inline wire::Tag to_tag(std::uint64_t value) {
    wire::Tag t;
    std::memcpy(t.data(), &value, sizeof value);
    return t;
}
inline std::uint64_t from_tag(const wire::Tag& t) {
    std::uint64_t value;
    std::memcpy(&value, t.data(), sizeof value);
    return value;
}

// What a timed-out command is waiting for: the kernel's SCSI error handler
// order (scsi_eh: abort, then LUN reset, then host reset = reconnect).
enum class Recovery : std::uint8_t {
    none,          // running within its timeout
    abort_wanted,  // timed out; an ABORT TASK waits for a credit
    abort_sent,    // ABORT TASK in flight
    reset_wanted,  // the abort failed or timed out; a LOGICAL UNIT RESET waits for a credit
    reset_sent,    // LOGICAL UNIT RESET in flight
};
std::string_view to_string(Recovery r) noexcept;

struct Session::Slot {
    // A slot is free only when neither holds: its tag may still be answered
    // (busy) and its wr_id may still complete (send_pending). Reusing the
    // index earlier would let the old SEND completion retire the new one.
    bool busy = false;
    bool send_pending = false;
    bool is_tmf = false;
    std::uint64_t tag = 0;
    std::uint16_t lun = 0;         // an abort must name the command's LUN
    Recovery recovery = Recovery::none;
    std::chrono::steady_clock::time_point recovery_since{};  // when the current recovery step began
    // TMF slots: the function and, when sent for a timed-out command, its tag.
    wire::TaskManagementFunction function = wire::TaskManagementFunction::abort_task;
    std::uint64_t victim_tag = 0;
    // Where a synchronous TMF wants its answer; shared so that an answer
    // arriving after the caller gave up writes into live memory.
    std::shared_ptr<std::optional<std::uint8_t>> tmf_code;
    // The data buffer the target may access, for release()'s quarantine.
    // Atomic: release() may run on another channel's thread.
    std::atomic<const std::uint8_t*> buffer_begin{nullptr};
    std::atomic<std::size_t> buffer_bytes{0};
    Completion done;
    std::chrono::steady_clock::time_point start{}, deadline{};
    // Memory windows: the slot's window is bound over the command's buffer
    // (until its invalidate completed, or the channel failed). A command
    // that ended waits in `ending` with its result until the invalidate
    // completes; only then do its callback and the buffer's reuse come.
    bool window_bound = false;
    std::optional<CommandResult> ending;

    void reset() noexcept {
        busy = send_pending = is_tmf = window_bound = false;
        ending.reset();
        tag = 0;
        lun = 0;
        recovery = Recovery::none;
        function = wire::TaskManagementFunction::abort_task;
        victim_tag = 0;
        tmf_code.reset();
        set_buffer({});
        done = nullptr;
    }
    void set_buffer(std::span<const std::uint8_t> b) noexcept {
        buffer_bytes.store(0, std::memory_order_release);
        buffer_begin.store(b.data(), std::memory_order_release);
        buffer_bytes.store(b.size(), std::memory_order_release);
    }
};

// Thread: driven by one thread at a time (the Session's, or the one that
// holds its ChannelHandle); only `dead` is read by others.
struct Session::Channel {
    std::size_t index = 0;  // in channels_, and in every tag
    std::uint64_t next_sequence = 1;
    std::size_t finished = 0;        // commands whose callback ran
    std::uint32_t batch_depth = 0;   // nesting of begin_batch()
    bool reconnect_wanted = false;   // recovery escalated past LOGICAL UNIT RESET
    ConnectedChannel link;
    LoginInfo info;
    std::vector<std::uint8_t> send_memory, receive_memory, control_memory;
    std::unique_ptr<fabric::Registration> pool_mr, send_mr, receive_mr, control_mr;
    // One type-2 window per slot when the device has them (else empty: the
    // pool's own rkey). After pool_mr: windows go before the MR they bind to.
    std::vector<std::unique_ptr<fabric::Window>> windows;
    std::vector<Slot> slots;
    std::vector<std::uint32_t> free_slots;
    std::int64_t credits = 0;
    std::uint32_t receive_count = 0;
    std::uint32_t imm_data_offset = 0;  // 0: not granted
    std::uint32_t idle_polls = 0;       // polls that found nothing since the last CM event check
    std::uint32_t control_busy = 0;     // bit i: CRED_RSP/AER_RSP buffer i is in a SEND in flight
    std::atomic<bool> dead{false};
    bool logging_out = false;
};

}  // namespace srp::initiator
