// A MediumQueue on io_uring, one per poller thread. The ring's descriptor
// sits in the poller's poll set (it polls readable while completions are
// queued), so the poller sleeps on RDMA completions and storage completions
// together and never blocks in a system call that waits for storage. (An
// eventfd registered with the ring would cost a read per wake-up.)
//
// Operations map to IORING_OP_READ / IORING_OP_WRITE (RWF_DSYNC for FUA),
// IORING_OP_FSYNC with IORING_FSYNC_DATASYNC, IORING_OP_FALLOCATE (hole
// punch / zero range, run by io_uring's workers). Memory registered with
// register_buffer() (each channel's bounce memory, also registered with the
// RDMA device) is an io_uring fixed buffer: reads and writes into it use
// IORING_OP_READ_FIXED / WRITE_FIXED and skip per-I/O page pinning; other
// memory (the engine's own small buffers) uses plain addresses.
// Thread: every method on the owning thread only. Setup throws
// std::system_error naming the call.
#pragma once

#include <liburing.h>

#include <cstdint>
#include <vector>

#include "srp_target/backstore/medium.h"

namespace srp::target {

// SQ entries per poller; the CQ is twice that (the kernel's default), and
// at most kUringCqEntries operations are in flight so the CQ cannot overflow.
inline constexpr unsigned kUringSqEntries = 256;
inline constexpr unsigned kUringCqEntries = 2 * kUringSqEntries;
// Fixed buffer slots: two per channel of the poller (bounce memory, and the
// receive ring when immediate data is granted); channels beyond them run
// unregistered. The sparse table costs a pointer per slot until filled.
inline constexpr unsigned kUringFixedBuffers = 1024;

class UringQueue final : public MediumQueue {
public:
    UringQueue();
    ~UringQueue() override;
    UringQueue(const UringQueue&) = delete;
    UringQueue& operator=(const UringQueue&) = delete;

    bool submit(const MediumOp& op, MediumSink& sink, std::uint64_t tag) noexcept override;
    void flush_submissions() noexcept override;
    std::size_t reap() noexcept override;
    // The ring's own descriptor: it polls readable while the CQ holds entries.
    int wait_fd() const noexcept override { return ring_.ring_fd; }
    std::size_t in_flight() const noexcept override { return in_flight_; }
    std::optional<unsigned> register_buffer(std::span<std::uint8_t> memory) noexcept override;
    void unregister_buffer(unsigned slot) noexcept override;
    std::size_t fixed_buffers() const noexcept { return registered_.size(); }
    // The fixed buffer slot whose memory holds all of bytes, or nullopt
    // (then the I/O runs unregistered). A binary search: a poller may hold
    // two registrations per channel.
    std::optional<unsigned> fixed_slot(std::span<const std::uint8_t> bytes) const noexcept;

private:
    struct Slot {
        MediumSink* sink = nullptr;
        std::uint64_t tag = 0;
        MediumOp op;
        std::uint64_t done = 0;  // bytes moved so far (short reads and writes continue)
    };
    bool prepare(std::uint32_t slot) noexcept;

    io_uring ring_{};
    std::vector<Slot> slots_;
    std::vector<std::uint32_t> free_slots_;
    std::size_t in_flight_ = 0;
    unsigned unsubmitted_ = 0;
    struct Fixed {
        unsigned slot;
        std::span<std::uint8_t> memory;
    };
    std::vector<Fixed> registered_;     // the fixed buffer slots in use, by address (binary search per I/O)
    // The first registration that starts above at (registered_ is sorted by start).
    std::vector<Fixed>::const_iterator first_starting_after(const std::uint8_t* at) const noexcept;
    std::vector<unsigned> free_fixed_;  // empty when the kernel has no sparse buffer table
};

}  // namespace srp::target
