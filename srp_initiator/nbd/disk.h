// One SCSI logical unit behind an SRP Session as a block device with byte
// offsets: what the nbdkit plugin serves, kept free of nbdkit so that the
// loopback tests drive it directly. Every operation returns 0 or an errno
// value (nbdkit's convention).
//
// Thread: every method may be called from any number of threads. A thread is
// bound to one channel (lane) on its first call; with at least as many
// channels as threads each lane's mutex is never contended, so the I/O path
// takes no contended lock. Lanes are shared (and then serialised) when
// threads outnumber channels.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "srp_initiator/session.h"

namespace srp::nbd {

struct DiskOptions {
    initiator::SessionOptions session;  // channels = lanes
    std::uint16_t lun = 0;
    std::uint32_t lane_buffer_bytes = 1u << 20;  // registered bounce buffer per lane; larger requests are split
    int attempts = 3;                            // tries per command when the connection is lost or a command timed out
    // A lost channel is logged in again until this long after the loss was
    // seen (pausing between tries), so a target that is restarted within it
    // is survived; after it the request fails with EIO. One login may overrun
    // it by the connector's own timeout.
    std::chrono::milliseconds reconnect_timeout{20000};
    // Told when a channel is lost, logged in again, or given up (may be empty).
    std::function<void(const std::string&)> log;
};

// The LU's properties, read once at open (SBC-3 READ CAPACITY (16); VPD B0h
// block limits and B2h logical block provisioning).
struct DiskGeometry {
    std::uint64_t size_bytes = 0;
    std::uint32_t block_bytes = 512;
    bool thin = false;             // LBPU: UNMAP supported (trim)
    bool write_same_unmap = false; // LBPWS: WRITE SAME (16) may unmap (zero with may_trim)
    std::uint32_t max_unmap_blocks = 0;
    std::uint64_t max_write_same_blocks = 0;
    bool fua = false;              // DPOFUA (MODE SENSE): WRITE (16) takes the FUA bit; else FUA = write + SYNCHRONIZE CACHE
};

// SCSI outcome -> errno: MEDIUM ERROR -> EIO, SPACE ALLOCATION FAILED ->
// ENOSPC, write protect -> EROFS, ILLEGAL REQUEST -> EINVAL, RESERVATION
// CONFLICT -> EACCES, anything else (transport, timeout) -> EIO.
int to_errno(const initiator::CommandResult& result);

class Disk {
public:
    static std::expected<std::unique_ptr<Disk>, std::string> open(initiator::Connector connector, DiskOptions options);
    ~Disk();

    const DiskGeometry& geometry() const noexcept { return geometry_; }
    // Every channel reaches the same logical unit and SYNCHRONIZE CACHE
    // covers the whole LU, so a flush on one NBD connection covers the
    // writes of all: multi-conn is safe.
    bool can_multi_conn() const noexcept { return true; }

    int pread(std::span<std::uint8_t> out, std::uint64_t offset);
    int pwrite(std::span<const std::uint8_t> in, std::uint64_t offset, bool fua);
    int flush();
    int trim(std::uint32_t count, std::uint64_t offset);
    int zero(std::uint32_t count, std::uint64_t offset, bool may_trim, bool fua);

    // For tests: how many channel reconnects the retries needed.
    std::size_t reconnects() const noexcept { return reconnects_.load(); }

private:
    struct Lane {
        std::mutex mutex;
        initiator::ChannelHandle handle;
        std::span<std::uint8_t> buffer;
        Lane(initiator::ChannelHandle h, std::span<std::uint8_t> b) : handle(h), buffer(b) {}
    };
    Disk(std::unique_ptr<initiator::Session> session, DiskOptions options);
    Lane& lane();
    // Runs one command on the lane, retrying (after a reconnect when the
    // channel was lost) up to options_.attempts times; unit attentions are
    // retried too, without counting as attempts (a restarted target reports one).
    initiator::CommandResult run(Lane& lane, std::span<const std::uint8_t> cdb, initiator::Direction direction,
                                 std::span<std::uint8_t> buffer);
    // Logs the lane's lost channel in again, retrying until options_.reconnect_timeout.
    bool relogin(Lane& lane);
    bool aligned(std::uint64_t offset, std::uint64_t count) const noexcept;
    int write_same(Lane& lane, std::uint64_t lba, std::uint64_t blocks, bool unmap, bool fua);

    std::unique_ptr<initiator::Session> session_;
    DiskOptions options_;
    DiskGeometry geometry_;
    std::vector<std::unique_ptr<Lane>> lanes_;
    std::atomic<std::size_t> next_lane_{0};
    std::atomic<std::size_t> reconnects_{0};
};

}  // namespace srp::nbd
