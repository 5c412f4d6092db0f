// One SRP RDMA channel on the target: receives IUs, runs SCSI commands on the
// engine, moves data with RDMA, answers with SRP_RSP, and handles task
// management and logout (SRP r16a 6). Thread: owned and driven by one poller
// thread; only control() is shared with other threads.
//
// Each request context moves through the states of request_state.h, only
// through advance(). drive() answers the engine task's phases: bounce
// memory for an io backstore's data (awaiting_buffer), RDMA READ of DATA-OUT,
// medium steps on the poller's MediumQueue (awaiting_medium, completions
// come back through on_medium_complete), busy range locks (retried each
// pass), then RDMA WRITE of DATA-IN with the SRP_RSP. Task management acts on the logical unit (SAM-5 7):
// a TMF fans out to every channel that may hold its victims (the nexus's
// channels, or every channel for CLEAR TASK SET and LOGICAL UNIT RESET) and
// is answered once every victim's posted RDMA has drained.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <vector>

#include "common/fabric/connection.h"
#include "common/wire/iu_parse.h"
#include "srp_target/backstore/aligned_buffer.h"
#include "srp_target/backstore/medium.h"
#include "srp_target/scsi/scsi_target.h"
#include "srp_target/srp/channel_control.h"
#include "srp_target/srp/channel_types.h"
#include "srp_target/srp/rdma_plan.h"
#include "srp_target/srp/request_state.h"
#include "srp_target/srp/session_registry.h"

namespace srp::target {

inline constexpr std::uint32_t kBounceChunkBytes = 128 * 1024;
inline constexpr std::uint32_t kMaxDescriptorsPerCommand = 256;
// Bounce memory must hold the largest transfer the engine accepts.
inline constexpr std::uint32_t kMinBounceChunks = kMaxTransferBytes / kBounceChunkBytes;
static_assert(kMaxTransferBytes % kBounceChunkBytes == 0);
inline constexpr std::uint32_t kTableBytes = kMaxDescriptorsPerCommand * sizeof(wire::DirectDescriptor);  // 4 KiB
// Two request contexts per credit: a context stays busy until its response's
// send completes, while the credit it returned may already bring a new IU.
inline constexpr std::uint32_t kContextsPerCredit = 2;

class Channel final : private MediumSink {
public:
    // Registers the channel's memory; throws std::system_error when a
    // registration fails. Nothing is posted until start(). medium_queue is
    // the owning poller's; it must outlive the channel.
    Channel(std::unique_ptr<fabric::Connection> connection, fabric::MemoryDomain& domain, ScsiTarget& target,
            SessionRegistry& registry, const RegisteredBackstores& backstores, MediumQueue& medium_queue,
            TargetStats& stats, std::shared_ptr<ChannelControl> control, NexusId nexus, ChannelParams params);
    ~Channel();
    Channel(const Channel&) = delete;
    Channel& operator=(const Channel&) = delete;

    // Posts every receive buffer; call before accepting the login. Throws
    // std::system_error when the connection refuses a receive.
    void start();
    // Processes available completions and pending work; returns how many completions it handled.
    std::size_t poll();
    // Requests the wake-up before the poller sleeps (Poller::sleep_until_work).
    void arm();
    // Disconnected, every posted work request and every medium step has
    // completed: safe to destroy.
    bool drained() const noexcept {
        return closing_ && outstanding_receives_ == 0 && outstanding_chains_ == 0 && outstanding_medium_ == 0;
    }
    std::uint32_t medium_in_flight() const noexcept { return outstanding_medium_; }
    bool closing() const noexcept { return closing_; }
    const std::shared_ptr<ChannelControl>& control() const noexcept { return control_; }
    NexusId nexus() const noexcept { return nexus_; }
    const std::string& name() const noexcept { return params_.name; }
    std::uint64_t token() const noexcept { return params_.token; }
    fabric::Connection& connection() noexcept { return *connection_; }

private:
    struct Request {
        RequestState state = RequestState::free;
        Resume resume = Resume::respond;  // what a waiting request does next
        bool in_deferred = false;         // queued in deferred_ (membership is explicit:
                                          // a request leaving blocked_ is waiting but not queued)
        std::uint32_t index = 0;
        wire::Tag tag{};
        bool is_tmf = false;
        std::optional<std::uint16_t> lun;
        std::uint32_t data_out_described = 0;
        std::uint32_t data_in_described = 0;
        // The IU named a DATA-OUT buffer (direct, indirect or immediate),
        // whatever its length: a command that returns data refuses it.
        bool names_data_out = false;
        std::uint64_t data_out_moved = 0;
        wire::DirectDescriptor table{};  // external descriptor table (partial in IU)
        std::uint32_t table_count = 0;
        bool table_for_data_out = false;
        std::vector<fabric::RemoteSegment> remote;
        std::vector<fabric::LocalSegment> local;
        std::uint32_t bounce_first = 0, bounce_count = 0;  // a contiguous run of bounce chunks
        std::span<const std::uint8_t> immediate;  // SRP-2 immediate data, only while handle_cmd runs
        // The receive buffer whose immediate data an io backstore writes in
        // place: reposted when the command ends (return_held_receive).
        std::optional<std::uint32_t> held_receive;
        RdmaPlan plan;
        ScsiTask task;
        // Task management: a TMF's response waits until its tracker completes.
        wire::TaskManagementResponse tmf_response = wire::TaskManagementResponse::complete;
        std::shared_ptr<TmfTracker> tmf_tracker;
        // An aborted command: every TMF that waits for its RDMA to drain.
        std::vector<std::shared_ptr<TmfTracker>> abort_waiters;
    };

    void on_receive(std::uint32_t buffer, const fabric::Completion& c);
    void on_chain_done(Request& r, const fabric::Completion& c);
    void repost_receive(std::uint32_t buffer);
    // Byte offset of receive buffer i in receive_memory_ (see the constructor).
    std::size_t receive_offset(std::uint32_t buffer) const noexcept {
        return receive_lead_ + std::size_t{buffer} * receive_stride_;
    }
    // The immediate data of the IU in hand as the engine's buffer, when an
    // io backstore can write it from where it lies; nullopt: use bounce memory.
    std::optional<std::span<std::uint8_t>> immediate_in_place(Request& r);
    void return_held_receive(Request& r);
    Request* allocate_request();
    void release(Request& r);
    // The single place a request changes state (request_state.h).
    void advance(Request& r, RequestState next);
    // Whether a send-side completion must wake the poller (arm()).
    bool send_completions_awaited() const noexcept;

    void handle_cmd(Request& r, std::span<const std::uint8_t> iu);
    // Answers the engine task's current phase (see the class comment).
    void drive(Request& r);
    void on_medium_complete(std::uint64_t tag, MediumResult result) override;
    void retry_blocked();
    void respond_busy(Request& r);
    void handle_tmf(Request& r, std::span<const std::uint8_t> iu);
    void after_table_fetch_start(Request& r);
    void after_table(Request& r);
    void start_data_out(Request& r);
    void respond(Request& r);
    void respond_tmf(Request& r);
    void reject_command(Request& r, scsi::Asc asc);
    bool take_bounce(Request& r, std::uint64_t bytes);
    void free_bounce(Request& r);
    std::span<std::uint8_t> bounce_bytes(const Request& r) const;
    bool in_bounce(std::span<const std::uint8_t> bytes) const;
    bool map_local(Request& r, std::span<std::uint8_t> bytes, bool data_in);
    void wait_for_resources(Request& r, Resume what);
    void run_deferred();
    void fan_out_tmf(Request& tmf, const AbortScope& scope);
    void apply_abort(const AbortOrder& order);
    void finish_abort(Request& r);
    void poll_task_management();
    void begin_close(const char* reason);
    // Graceful target logout (ChannelControl::request_logout): once nothing
    // but posted responses is left, sends SRP_T_LOGOUT; its completion closes.
    void continue_logout();
    fabric::LocalSegment response_buffer(const Request& r) const;
    std::span<std::uint8_t> table_buffer(const Request& r) const;

    ScsiTarget& target_;
    SessionRegistry& registry_;
    const RegisteredBackstores& backstores_;
    MediumQueue& medium_queue_;
    TargetStats& stats_;
    std::shared_ptr<ChannelControl> control_;
    NexusId nexus_;
    ChannelParams params_;

    // Registered memory: receive ring, response buffers, descriptor tables, bounce chunks.
    // Bounce memory is page aligned: io backstores read and write it with O_DIRECT.
    // The receive ring is page aligned too: with immediate data granted,
    // every buffer's immediate data starts on a page (receive_offset()).
    AlignedBuffer receive_memory_;
    std::size_t receive_lead_ = 0, receive_stride_ = 0;
    std::vector<std::uint8_t> response_memory_, table_memory_;
    AlignedBuffer bounce_memory_;
    std::unique_ptr<fabric::Registration> receive_mr_, response_mr_, table_mr_, bounce_mr_;

    std::vector<Request> requests_;
    std::vector<std::uint32_t> free_requests_;
    std::vector<bool> bounce_used_;          // per chunk; runs are taken first fit
    std::uint32_t bounce_free_chunks_ = 0;
    std::deque<std::pair<std::uint32_t, std::uint32_t>> receives_waiting_for_context_;  // buffer, bytes
    // The receive buffer whose IU handle_cmd is processing; kept: a request
    // holds it (held_receive), so on_receive must not repost it.
    struct ReceiveInHand {
        std::uint32_t buffer = 0;
        bool kept = false;
    };
    std::optional<ReceiveInHand> receive_in_hand_;
    std::uint32_t held_receives_ = 0;  // requests with held_receive set
    std::deque<std::uint32_t> deferred_;  // requests in state waiting, in arrival order
    std::vector<std::uint32_t> parked_tmfs_;  // requests in state tmf_waiting
    std::vector<std::uint32_t> blocked_;      // waiting for a busy LBA range lock (retried every pass)
    std::uint32_t pending_credits_ = 0;  // credits of IUs that ended without a response
    std::uint32_t outstanding_receives_ = 0;
    std::uint32_t outstanding_chains_ = 0;
    // Requests in state responding: each has exactly one chain posted (its
    // response), whose completion only frees the context and its memory.
    std::uint32_t responding_ = 0;
    std::uint32_t waited_responses_ = 0;  // of those, the ones a TMF waits for
    std::uint32_t outstanding_medium_ = 0;  // medium steps in flight on medium_queue_
    // The bounce memory as the queue's fixed buffer: registered on the poller
    // thread at the first medium step (the queue belongs to that thread).
    std::optional<unsigned> fixed_buffer_;
    std::optional<unsigned> fixed_receive_;  // the receive ring, for immediate data written in place
    bool fixed_buffer_tried_ = false;
    bool closing_ = false;
    bool logging_out_ = false;                    // new commands end with BUSY
    std::optional<std::uint32_t> logout_request_;  // the context whose send carries SRP_T_LOGOUT
    // Declared last so it is destroyed first: the QP goes away before the
    // memory registered for it (house rule 2).
    std::unique_ptr<fabric::Connection> connection_;
};

}  // namespace srp::target
