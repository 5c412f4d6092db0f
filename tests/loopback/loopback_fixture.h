// A target channel and a scripted initiator connected by the in-memory
// fabric. The test thread drives both sides, so every exchange is
// deterministic: send an IU, pump, read the response.
#pragma once

#include <catch2/catch.hpp>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "common/fabric/loopback.h"
#include "common/wire/iu_encode.h"
#include "srp_target/backstore/uring_queue.h"
#include "srp_target/srp/channel.h"
#include "tests/unit/hex.h"
#include "tests/unit/temp_dir.h"

namespace srp::test {

struct Response {
    wire::RspHeader header{};
    std::vector<std::uint8_t> response_data, sense;
    std::uint8_t status() const { return header.status; }
    std::uint32_t credits() const { return header.req_lim_delta.value(); }
    std::uint16_t asc() const { return sense.size() > 13 ? static_cast<std::uint16_t>(sense[12] << 8 | sense[13]) : 0; }
};

// The poller's io_uring queue, with an optional injector that answers a
// medium step instead of the kernel (delivered on the next reap, like a
// real completion).
class TestMediumQueue final : public target::MediumQueue {
public:
    std::function<std::optional<target::MediumResult>(const target::MediumOp&)> inject;
    bool hold = false;  // injected completions wait until cleared (I/O "in flight")
    std::size_t submitted = 0;

    bool submit(const target::MediumOp& op, target::MediumSink& sink, std::uint64_t tag) noexcept override;
    void flush_submissions() noexcept override { uring_.flush_submissions(); }
    std::size_t reap() noexcept override;
    int wait_fd() const noexcept override { return uring_.wait_fd(); }
    std::size_t in_flight() const noexcept override { return uring_.in_flight() + injected_.size(); }
    std::optional<unsigned> register_buffer(std::span<std::uint8_t> memory) noexcept override {
        return uring_.register_buffer(memory);
    }
    void unregister_buffer(unsigned slot) noexcept override { uring_.unregister_buffer(slot); }
    std::size_t fixed_buffers() const noexcept { return uring_.fixed_buffers(); }
    // Reaps until nothing is in flight (bounded wait on the ring's eventfd).
    void settle();

private:
    struct Injected {
        target::MediumSink* sink;
        std::uint64_t tag;
        target::MediumResult result;
    };
    target::UringQueue uring_;
    std::vector<Injected> injected_;
};

class LoopbackTarget {
public:
    static constexpr std::uint32_t kQueueDepth = 8;
    // it_iu_len: the receive buffer size of every channel this target opens.
    explicit LoopbackTarget(bool register_backstore = true, std::uint32_t imm_data_offset = 68,
                            std::uint32_t it_iu_len = 1024);
    ~LoopbackTarget();

    // Another channel: of the same nexus by default (for "other channels keep
    // being served"), or of another I_T nexus when initiator differs.
    struct Link;
    Link& link(std::size_t i = 0) { return *links_[i]; }
    Link& add_link(std::uint32_t imm_data_offset = 68, std::uint8_t initiator = 1);

    TempDir dir;
    std::uint32_t it_iu_len;
    target::ScsiTarget scsi;
    std::shared_ptr<target::LogicalUnit> unit;
    target::TargetStats stats;
    target::SessionRegistry registry{scsi};
    std::shared_ptr<fabric::LoopbackDomain> target_domain = std::make_shared<fabric::LoopbackDomain>();
    std::shared_ptr<fabric::LoopbackDomain> initiator_domain = std::make_shared<fabric::LoopbackDomain>();
    target::RegisteredBackstores backstores;
    TestMediumQueue medium_queue;
    std::span<std::uint8_t> medium() { return unit->backstore().bytes(); }
    // Adds a LUN on a file served through io_uring (io backstore kind).
    std::shared_ptr<target::LogicalUnit> add_io_lun(std::uint16_t number, std::uint64_t bytes);

private:
    std::vector<std::unique_ptr<Link>> links_;
    std::vector<std::uint8_t> initiators_;  // initiator port ids with a channel
};

struct LoopbackTarget::Link {
    std::unique_ptr<target::Channel> channel;
    std::unique_ptr<fabric::LoopbackConnection> initiator;
    fabric::LoopbackConnection* target_side = nullptr;  // owned by channel
    // What a sleeping poller would wait on for this channel's completions.
    std::shared_ptr<fabric::LoopbackNotifier> target_notifier = std::make_shared<fabric::LoopbackNotifier>();
    TestMediumQueue* queue = nullptr;                    // the target's
    std::shared_ptr<target::ChannelControl> control;
    std::vector<std::uint8_t> memory = std::vector<std::uint8_t>(4 << 20);   // initiator data buffers
    std::vector<std::uint8_t> receive = std::vector<std::uint8_t>(16 * 512); // initiator receive ring
    std::unique_ptr<fabric::Registration> memory_mr, receive_mr;
    std::uint64_t next_tag = 1;
    std::vector<std::uint32_t> target_logouts;  // reasons of the SRP_T_LOGOUTs responses() saw

    // Remote address of memory[offset] as a direct descriptor names it.
    wire::DirectDescriptor descriptor(std::size_t offset, std::uint32_t length) const;
    void send(std::span<const std::uint8_t> iu);
    void pump(int rounds = 8);
    std::optional<Response> response();  // pumps until one arrives (or none)
    std::vector<Response> responses();   // everything that arrived
    // SRP_CMD with a direct descriptor (out or in), returns the tag used.
    std::uint64_t command(std::span<const std::uint8_t> cdb, bool data_out, std::size_t offset, std::uint32_t length,
                          std::uint16_t lun = 0);
    std::uint64_t tmf(std::uint8_t function, std::uint64_t task_tag, std::uint16_t lun = 0);
};

wire::Tag tag_of(std::uint64_t value);

}  // namespace srp::test
