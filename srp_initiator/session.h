// A user-space SRP initiator session: one I_T nexus with N RDMA channels
// (the first logs in SINGLE, the others MULTI), credit accounting, command
// submission with registered data buffers, SRP_RSP parsing, task management,
// per-command timeouts that abort, reconnect and logout.
//
// Thread: a Session is driven by one thread with poll() (execute() polls
// internally), or each of its channels by its own thread through a
// ChannelHandle. Buffers passed to submit() must come from
// allocate() and stay untouched until the command completes.
//
// Remote access to data buffers (issue 11, late RDMA into reused buffers):
//  - when the device has type-2 memory windows (probed at login,
//    LoginInfo::memory_windows), the pool is registered without remote
//    access and each command binds its slot's window over exactly its
//    buffer, with only the access its direction needs (remote write for
//    data-in, remote read for data-out), in the same post as the SRP_CMD.
//    When the command ends (SRP_RSP, TMF, timeout) the window is locally
//    invalidated, and the callback runs, and the buffer can be reused, only
//    once that invalidate completed (or the channel failed). A target RDMA
//    with a stale key then fails with a remote access error. Cost: two more
//    work requests per command (bind, invalidate), in the same doorbells,
//    and one more send completion.
//  - otherwise the pool is registered once per channel under one rkey
//    (a registration per I/O costs a system call and a page pin each time,
//    the cost DESIGN 6 says to cut) and the exposure is bounded instead:
//    a command's callback runs only once the target can no longer touch its
//    buffer: its SRP_RSP arrived, an ABORT TASK or LOGICAL UNIT RESET for it
//    completed (SAM-5 7.2, 7.6: no data transfer for an aborted task after
//    the TMF response), or its channel was disconnected (a queue pair in
//    error executes no RDMA) and its registration goes with it. A target
//    that breaks those rules can still reach any pool buffer.
// In both modes, release() of a buffer that a command still names is
// deferred until that command has ended (quarantine), so a buffer is never
// reused under a command the target may still serve.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <expected>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/scsi/scsi_constants.h"
#include "common/wire/iu_layouts.h"
#include "common/wire/srp_constants.h"
#include "srp_initiator/connector.h"

namespace srp::initiator {

enum class DescriptorMode {
    automatic,  // immediate data for small writes when granted, else one direct descriptor
    direct,     // always one direct descriptor
    indirect,   // an indirect table (pieces of indirect_piece_bytes) in the IU
    external,   // the same table, but only its first descriptor in the IU (ib_srp allow_ext_sg)
};

struct SessionOptions {
    std::uint64_t id_ext = 0;
    std::uint64_t ioc_guid = 0;
    // The SRP initiator port id. Default, as ib_srp builds it:
    // initiator_ext || the interface id (low 8 bytes) of the local port GID,
    // so two hosts (or clones of one image) are two I_T nexuses.
    std::optional<wire::PortId> initiator_port_id;
    std::uint64_t initiator_ext = 0;
    std::uint32_t channels = 1;
    // Commands (and task management) in flight per channel at most; the queue
    // pair is sized for it. A target granting more credits has them unused,
    // one granting fewer bounds it lower (1..4096).
    std::uint32_t queue_depth = 256;
    std::uint32_t it_iu_len = 8260;            // what ib_srp asks for
    bool immediate_data = true;                // ask for SRP-2 immediate data
    std::uint32_t imm_data_offset = 68;        // like ib_srp
    DescriptorMode descriptors = DescriptorMode::automatic;
    std::uint32_t indirect_piece_bytes = 4096;
    std::chrono::milliseconds command_timeout{30000};
    // How long one task management step of the recovery of a timed-out
    // command may take (ABORT TASK, then LOGICAL UNIT RESET, then reconnect),
    // like the SCSI error handler's 10 s. A command's callback therefore runs
    // at most command_timeout + 2 * tmf_timeout (+ a reconnect) after submit().
    std::chrono::milliseconds tmf_timeout{10000};
    std::size_t pool_bytes = 64u << 20;        // registered memory for data buffers
    // A type-2 memory window per command over exactly its buffer, invalidated
    // when the command ends (see the header comment), where the device has
    // them and can keep them working: not on soft-RoCE (rxe), whose send
    // queue retries replay window binds and fail the queue pair
    // (LoginInfo::memory_windows_note says so). Off by default: the pool's
    // rkey with the quarantine.
    bool memory_windows = false;
};

struct LoginInfo {
    std::uint32_t credits = 0;  // req_lim_delta of the login response
    std::uint32_t max_it_iu_len = 0;
    std::uint32_t max_ti_iu_len = 0;
    std::uint16_t buf_fmt = 0;
    std::uint8_t rsp_flags = 0;
    bool immediate_data = false;
    // Data buffers are exposed per command through type-2 memory windows;
    // false: through the pool's one rkey.
    bool memory_windows = false;
    // Why not, when SessionOptions::memory_windows asked for them; else empty.
    std::string memory_windows_note;
    std::string description;
};

enum class Direction { none, to_target, from_target };

struct CommandResult {
    scsi::Status status = scsi::Status::good;
    std::vector<std::uint8_t> sense;
    std::uint8_t flags = 0;  // SRP_RSP flags (residual bits)
    std::uint32_t data_in_residual = 0;
    std::uint32_t data_out_residual = 0;
    bool transport_error = false;  // connection lost before a response
    bool timed_out = false;        // aborted after command_timeout
    std::string error;
    std::chrono::nanoseconds latency{0};

    bool good() const noexcept { return !transport_error && !timed_out && status == scsi::Status::good; }
    std::string describe() const;  // "GOOD", "CHECK CONDITION: ILLEGAL REQUEST: ...", "timed out", ...
};

using Completion = std::function<void(const CommandResult&)>;

enum class SubmitError { no_credits, no_slot, disconnected, buffer_not_from_pool, too_large };
std::string_view to_string(SubmitError error) noexcept;

class Session;

// One channel of a Session, driven by one thread: submit, poll and wait touch
// only this channel, take no lock and may run on N threads at once, one
// handle each. Recovery of its timed-out commands stays on the channel
// (ABORT TASK, LOGICAL UNIT RESET ending this channel's commands, then a new
// MULTI login of this channel only). While handles are in use, call nothing
// of the Session but allocate(), release() (both locked, off the I/O path)
// and channel_handle(). Valid as long as the Session.
class ChannelHandle {
public:
    std::expected<std::uint64_t, SubmitError> submit(std::uint16_t lun, std::span<const std::uint8_t> cdb,
                                                     Direction direction, std::span<std::uint8_t> buffer,
                                                     Completion done);
    void begin_batch();
    void end_batch();
    std::size_t poll();
    std::size_t wait(std::chrono::milliseconds timeout);
    std::size_t outstanding() const noexcept;
    bool can_submit() const noexcept;
    bool connected() const noexcept;
    // Logs this channel in again (MULTI) after it was lost; its outstanding
    // commands end first. True when it is connected afterwards.
    bool reconnect();
    std::size_t index() const noexcept { return index_; }

private:
    friend class Session;
    ChannelHandle(Session& session, std::size_t index) : session_(&session), index_(index) {}
    Session* session_;
    std::size_t index_;
};

class Session {
public:
    static std::expected<std::unique_ptr<Session>, LoginFailure> login(Connector connector, SessionOptions options);
    ~Session();
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

    const LoginInfo& login_info(std::size_t channel = 0) const;
    std::size_t channel_count() const noexcept { return channels_.size(); }
    const wire::PortId& initiator_port_id() const noexcept { return initiator_port_id_; }
    bool connected() const noexcept;

    // Registered data buffers (first fit; nullopt when the pool is exhausted).
    // Thread safe (a mutex): allocate up front, not per I/O.
    std::optional<std::span<std::uint8_t>> allocate(std::size_t bytes);
    void release(std::span<std::uint8_t> buffer);

    // Queues a command on the next channel (round robin); done() runs from
    // poll(). Returns the tag.
    std::expected<std::uint64_t, SubmitError> submit(std::uint16_t lun, std::span<const std::uint8_t> cdb,
                                                     Direction direction, std::span<std::uint8_t> buffer,
                                                     Completion done);
    // Submits between begin_batch() and end_batch() leave together (one
    // doorbell per channel where the fabric batches). Batches nest.
    void begin_batch();
    void end_batch();
    // Progress: completions, responses, timeouts. Returns how many commands completed.
    std::size_t poll();
    // Waits (spinning gently) until something completes or the timeout passes.
    std::size_t wait(std::chrono::milliseconds timeout);
    std::size_t outstanding() const noexcept;
    bool can_submit() const noexcept;

    // Channel i for one thread (see ChannelHandle). From the first call on,
    // recovery stays within each channel, even when driven through Session.
    ChannelHandle channel_handle(std::size_t channel);

    // Synchronous helpers. execute() retries a command that met a unit attention.
    CommandResult execute(std::uint16_t lun, std::span<const std::uint8_t> cdb, Direction direction,
                          std::span<std::uint8_t> buffer);
    // Task management: returns the SRP RSP_CODE (0 complete, 4 not supported,
    // 5 failed) or nullopt on a transport error or when no answer came within
    // tmf_timeout (the slot is then given up; a late answer is ignored).
    std::optional<std::uint8_t> task_management(std::uint16_t lun, wire::TaskManagementFunction function,
                                                std::uint64_t task_tag = 0, std::size_t channel = 0);
    // Logs in again after a lost connection; outstanding commands were failed.
    std::expected<void, LoginFailure> reconnect();
    void logout();

private:
    friend class ChannelHandle;
    struct Channel;
    struct Slot;
    explicit Session(Connector connector, SessionOptions options);
    std::expected<std::unique_ptr<Channel>, LoginFailure> open_channel(std::size_t index, bool single);
    std::expected<void, LoginFailure> open_all();
    // The last step of recovery on one channel when channels are independent.
    void reopen_channel(std::size_t index);
    std::expected<std::uint64_t, SubmitError> submit_on(Channel& ch, std::uint16_t lun, std::span<const std::uint8_t> cdb,
                                                        Direction direction, std::span<std::uint8_t> buffer,
                                                        Completion done);
    void begin_batch(Channel& ch);
    void end_batch(Channel& ch);
    // One pass over ch: completions, CM events when idle, timeouts, with its
    // sends batched. Returns the commands it finished.
    std::size_t poll_pass(Channel& ch);
    // ChannelHandle::poll(): poll_pass, then this channel's reconnect.
    std::size_t poll_one(std::size_t index);
    // Polls (the whole session, or channels[0] alone) until progress or the
    // timeout, sleeping on the completion notifiers when idle.
    std::size_t wait_on(std::span<Channel* const> channels, std::chrono::milliseconds timeout, bool whole_session);
    void handle_completion(Channel& ch, const fabric::Completion& c);
    void handle_response(Channel& ch, std::span<const std::uint8_t> iu);
    // A command ended: invalidates its window first when it has one (the
    // callback then runs from the invalidate's completion), else complete().
    void finish(Channel& ch, Slot& slot, CommandResult result);
    void complete(Channel& ch, Slot& slot, CommandResult result);
    void fail_channel(Channel& ch, const std::string& why);
    void check_timeouts(Channel& ch);
    void recover(Channel& ch, Slot& victim, std::chrono::steady_clock::time_point now);
    void handle_tmf_response(Channel& ch, Slot& tmf, std::uint8_t code);
    void end_recovery(Channel& ch, Slot& tmf, bool succeeded);
    // The channels a LOGICAL UNIT RESET on ch covers: all, or ch alone once handles exist.
    std::vector<Channel*> reset_scope(Channel& ch);
    void release_slot(Channel& ch, Slot& slot);
    void drain_quarantine();
    bool buffer_in_use(std::span<const std::uint8_t> buffer) const;
    void free_range(std::span<std::uint8_t> buffer);
    // Posts a TSK_MGMT IU on ch; the slot tracking it, or null (no credit, slot or connection).
    Slot* post_tmf(Channel& ch, std::uint16_t lun, wire::TaskManagementFunction function, std::uint64_t task_tag);
    CommandResult execute_once(std::uint16_t lun, std::span<const std::uint8_t> cdb, Direction direction,
                               std::span<std::uint8_t> buffer);
    std::optional<std::uint32_t> registration_key(Channel& ch, std::span<const std::uint8_t> buffer) const;

    Connector connector_;
    SessionOptions options_;
    wire::PortId initiator_port_id_{};
    std::vector<std::uint8_t> pool_;
    mutable std::mutex pool_mutex_;  // free_ranges_ and quarantine_
    std::vector<std::pair<std::size_t, std::size_t>> free_ranges_;  // offset, length
    std::vector<std::span<std::uint8_t>> quarantine_;  // released while a command still names them
    std::atomic<std::size_t> quarantined_{0};          // quarantine_.size(), read without the lock
    std::vector<std::unique_ptr<Channel>> channels_;   // element i replaced only by channel i's thread
    std::size_t next_channel_ = 0;
    std::atomic<std::uint64_t> next_login_tag_{1};
    bool independent_channels_ = false;  // a ChannelHandle exists
    bool port_id_known_ = false;      // initiator_port_id_ is set (by the first login)
    std::atomic<std::uint64_t> generation_{0};  // bumped whenever a channel object is replaced
};

}  // namespace srp::initiator
