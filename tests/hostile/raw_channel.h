// A deliberately unchecked SRP initiator channel for the hostile initiator
// test: logs in over RDMA/CM with whatever SRP_LOGIN_REQ it is given (the
// initiator library's verbs_connector carries it), then sends IUs of any
// length and content, collects what the target sends back, and issues
// one-sided RDMA READ/WRITE against any (address, rkey) of the target.
// Built on the fabric seam: no verbs header here (DESIGN 7.1).
// Thread: one RawChannel is driven by one thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <expected>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/fabric/connection.h"
#include "common/wire/iu_layouts.h"
#include "common/wire/port_id.h"
#include "srp_initiator/connector.h"

namespace srp::hostile {

using namespace std::chrono_literals;

// Where the target listens and who it is.
struct Endpoint {
    std::string host;
    std::uint16_t port = 5555;
    std::uint64_t id_ext = 0;
    std::uint64_t ioc_guid = 0;
    std::chrono::milliseconds timeout{5000};
    wire::PortId target_port_id() const;
};

// The login as sent; every field may be out of range on purpose.
struct RawLogin {
    wire::PortId initiator_port_id{};
    std::optional<wire::PortId> target_port_id{};  // default: the endpoint's
    std::uint32_t it_iu_len = 8260;
    std::uint16_t buf_fmt = 0x0006;
    std::uint8_t req_flags = 0x80;  // SINGLE, immediate data requested
    std::uint16_t imm_data_offset = 68;
    // Sent instead of the 56-byte srp_login_req_rdma when set.
    std::optional<std::vector<std::uint8_t>> private_data{};
};

struct RawOptions {
    std::uint32_t send_slots = 32;      // SENDs in flight
    std::uint32_t receive_slots = 64;   // IUs the target may send before we repost
    std::size_t data_bytes = 1u << 20;  // registered, remotely accessible data buffer
};

// An IU the target sent.
using Iu = std::vector<std::uint8_t>;

class RawChannel {
  public:
    static std::expected<std::unique_ptr<RawChannel>, initiator::LoginFailure> open(const Endpoint& endpoint,
                                                                                    const RawLogin& login,
                                                                                    RawOptions options = {});
    ~RawChannel();
    RawChannel(const RawChannel&) = delete;
    RawChannel& operator=(const RawChannel&) = delete;

    const wire::LoginRsp& login_response() const noexcept { return login_rsp_; }
    std::uint32_t credits_granted() const noexcept { return login_rsp_.req_lim_delta.value(); }
    std::uint32_t it_iu_len() const noexcept { return login_rsp_.max_it_iu_len.value(); }
    // The granted immediate data offset, 0 when not granted.
    std::uint32_t imm_data_offset() const noexcept { return imm_data_offset_; }
    const std::string& description() const noexcept { return link_.description; }

    // The data buffer the target may RDMA to and from.
    std::span<std::uint8_t> data() noexcept { return data_; }
    std::uint32_t data_rkey() const noexcept { return data_mr_->rkey(); }
    std::uint32_t data_lkey() const noexcept { return data_mr_->lkey(); }
    wire::DirectDescriptor descriptor(std::size_t offset, std::uint32_t length) const;
    fabric::MemoryDomain& domain() noexcept { return *link_.domain; }

    std::uint64_t next_tag() noexcept { return next_tag_++; }

    // Posts one SEND of exactly these bytes (any length, even 0 or longer
    // than the login allowed). False when no send slot is free or the post fails.
    bool send(std::span<const std::uint8_t> iu);
    void begin_batch() { link_.connection->begin_batch(); }
    void end_batch() { link_.connection->end_batch(); }

    // The next IU from the target; nullopt on timeout or once the channel is closed.
    std::optional<Iu> receive(std::chrono::milliseconds timeout = 5s);
    // Everything that arrives within `quiet` of the last arrival (or `timeout` overall).
    std::vector<Iu> drain(std::chrono::milliseconds quiet, std::chrono::milliseconds timeout = 10s);
    // Waits until the connection is gone: a failed or flushed completion, or
    // the target's disconnect. True when closed within the timeout.
    bool wait_closed(std::chrono::milliseconds timeout = 10s);
    bool closed() const noexcept { return closed_; }
    // The first completion that failed other than by a flush (our SEND
    // refused, an RDMA op denied), if any.
    std::optional<fabric::CompletionStatus> first_error() const noexcept { return first_error_; }

    // One RDMA READ (into our scratch buffer) or RDMA WRITE (of bytes) to
    // the target's memory; the completion status, nullopt on timeout. The
    // WRITE is followed by an SRP_AER_RSP in the same chain (the fabric seam
    // posts RDMA WRITEs only with a SEND behind them); the target ignores it.
    std::optional<fabric::CompletionStatus> rdma_read(fabric::RemoteSegment remote,
                                                      std::chrono::milliseconds timeout = 10s);
    std::optional<fabric::CompletionStatus> rdma_write(fabric::RemoteSegment remote,
                                                       std::span<const std::uint8_t> bytes,
                                                       std::chrono::milliseconds timeout = 10s);

  private:
    RawChannel() = default;
    // One pass: completions, then (when idle) a wait on the notifier. Returns completions handled.
    std::size_t pump(std::chrono::milliseconds max_sleep);
    void on_completion(const fabric::Completion& c);
    bool repost(std::uint32_t index);

    initiator::ConnectedChannel link_;
    wire::LoginRsp login_rsp_{};
    std::uint32_t imm_data_offset_ = 0;
    RawOptions options_;
    std::uint32_t slot_bytes_ = 0;
    std::vector<std::uint8_t> send_memory_, receive_memory_, scratch_;
    std::vector<std::uint8_t> data_;
    std::unique_ptr<fabric::Registration> send_mr_, receive_mr_, scratch_mr_, data_mr_;
    std::vector<bool> send_busy_;
    std::uint32_t next_slot_ = 0;
    std::deque<Iu> arrived_;
    std::optional<fabric::CompletionStatus> rdma_status_;
    std::optional<fabric::CompletionStatus> first_error_;
    bool closed_ = false;
    std::uint64_t next_tag_ = 1;
};

}  // namespace srp::hostile
