// One SRP RDMA channel on the target: receives IUs, runs SCSI commands on the
// engine, moves data with RDMA, answers with SRP_RSP, and handles task
// management and logout (SRP r16a 6). Thread: owned and driven by one poller
// thread; only control() is shared with other threads.
//
// Request life (advanced only in channel.cpp, names appear in the log):
//   free -> [fetching_table] -> [reading_data] -> responding -> free
//   any state -> aborted (response suppressed, credit returned later)
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <vector>

#include "common/fabric/connection.h"
#include "common/wire/iu_parse.h"
#include "srp_target/scsi/scsi_target.h"
#include "srp_target/srp/channel_types.h"
#include "srp_target/srp/rdma_plan.h"
#include "srp_target/srp/session_registry.h"

namespace srp::target {

inline constexpr std::uint32_t kBounceChunkBytes = 128 * 1024;
inline constexpr std::uint32_t kMaxDescriptorsPerCommand = 256;
inline constexpr std::uint32_t kTableBytes = kMaxDescriptorsPerCommand * sizeof(wire::DirectDescriptor);  // 4 KiB
// Two request contexts per credit: a context stays busy until its response's
// send completes, while the credit it returned may already bring a new IU.
inline constexpr std::uint32_t kContextsPerCredit = 2;

enum class RequestState : std::uint8_t { free, fetching_table, reading_data, responding, aborted };
const char* to_string(RequestState state) noexcept;

class Channel {
public:
    Channel(std::unique_ptr<fabric::Connection> connection, fabric::MemoryDomain& domain, ScsiTarget& target,
            const RegisteredBackstores& backstores, TargetStats& stats, std::shared_ptr<ChannelControl> control,
            NexusId nexus, ChannelParams params);
    ~Channel();
    Channel(const Channel&) = delete;
    Channel& operator=(const Channel&) = delete;

    // Posts every receive buffer; call before accepting the login.
    void start();
    // Processes available completions and pending work; returns how many completions it handled.
    std::size_t poll();
    void arm() { connection_->request_notification(); }
    // Disconnected and every posted work request has completed: safe to destroy.
    bool drained() const noexcept { return closing_ && outstanding_receives_ == 0 && outstanding_chains_ == 0; }
    bool closing() const noexcept { return closing_; }
    const std::shared_ptr<ChannelControl>& control() const noexcept { return control_; }
    NexusId nexus() const noexcept { return nexus_; }
    const std::string& name() const noexcept { return params_.name; }
    fabric::Connection& connection() noexcept { return *connection_; }

private:
    struct Request {
        RequestState state = RequestState::free;
        std::uint32_t index = 0;
        wire::Tag tag{};
        bool is_tmf = false;
        std::optional<std::uint16_t> lun;
        std::uint32_t data_out_described = 0;
        std::uint32_t data_in_described = 0;
        std::uint64_t data_out_moved = 0;
        wire::DirectDescriptor table{};  // external descriptor table (partial in IU)
        std::uint32_t table_count = 0;
        bool table_for_data_out = false;
        std::vector<fabric::RemoteSegment> remote;
        std::vector<fabric::LocalSegment> local;
        std::vector<std::uint32_t> bounce;  // chunk indices held
        RdmaPlan plan;
        ScsiTask task;
        // Task management: the response waits for aborted commands to drain.
        wire::TaskManagementResponse tmf_response = wire::TaskManagementResponse::complete;
        std::uint32_t tmf_waiting_for = 0;
        std::optional<std::uint32_t> aborted_by;  // TMF request index
        bool deferred = false;                    // waiting in deferred_, nothing posted
    };
    enum class Deferred : std::uint8_t { fetch_table, read_data, respond, respond_tmf };

    void on_receive(std::uint32_t buffer, const fabric::Completion& c);
    void on_chain_done(Request& r, const fabric::Completion& c);
    void repost_receive(std::uint32_t buffer);
    Request* allocate_request();
    void release(Request& r);

    void handle_cmd(Request& r, std::span<const std::uint8_t> iu);
    void handle_tmf(Request& r, std::span<const std::uint8_t> iu);
    void after_table_fetch_start(Request& r);
    void after_table(Request& r);
    void start_data_out(Request& r);
    void respond(Request& r);
    void respond_tmf(Request& r);
    void reject_command(Request& r, scsi::Asc asc);
    bool take_bounce(Request& r, std::uint64_t bytes);
    bool map_local(Request& r, std::span<std::uint8_t> bytes, bool data_in);
    void defer(Request& r, Deferred what);
    void run_deferred();
    void abort_matching(Request& tmf, std::uint8_t function, const wire::Tag& task_tag, std::optional<std::uint16_t> lun);
    void on_aborted_done(Request& r);
    void begin_close(const char* reason);
    fabric::LocalSegment response_buffer(const Request& r) const;
    std::span<std::uint8_t> table_buffer(const Request& r) const;

    std::unique_ptr<fabric::Connection> connection_;
    ScsiTarget& target_;
    const RegisteredBackstores& backstores_;
    TargetStats& stats_;
    std::shared_ptr<ChannelControl> control_;
    NexusId nexus_;
    ChannelParams params_;

    // Registered memory: receive ring, response buffers, descriptor tables, bounce chunks.
    std::vector<std::uint8_t> receive_memory_, response_memory_, table_memory_, bounce_memory_;
    std::unique_ptr<fabric::Registration> receive_mr_, response_mr_, table_mr_, bounce_mr_;

    std::vector<Request> requests_;
    std::vector<std::uint32_t> free_requests_;
    std::vector<std::uint32_t> free_bounce_;
    std::deque<std::pair<std::uint32_t, std::uint32_t>> receives_waiting_for_context_;  // buffer, bytes
    std::deque<std::pair<std::uint32_t, Deferred>> deferred_;
    std::uint32_t pending_credits_ = 0;  // credits of IUs that ended without a response
    std::uint32_t outstanding_receives_ = 0;
    std::uint32_t outstanding_chains_ = 0;
    bool closing_ = false;
};

}  // namespace srp::target
