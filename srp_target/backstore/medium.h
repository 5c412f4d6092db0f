// The asynchronous medium interface between the SCSI engine and a transport.
//
// The engine describes one step of a command as a MediumOp; the transport
// runs it (on its poller's io_uring for io backstores) and hands the result
// back with complete_medium(). Memory backstores never reach a transport:
// the engine runs their steps inline (Backstore::execute).
// No SRP here: an iSCSI front end uses the same interface.
#pragma once

#include <cstdint>
#include <expected>
#include <optional>
#include <span>
#include <system_error>

namespace srp::target {

class Backstore;

enum class MediumOpKind : std::uint8_t {
    read,          // length bytes at offset into buffer
    write,         // length bytes from buffer at offset; fua: RWF_DSYNC
    flush,         // make everything written so far durable (fdatasync)
    discard,       // deallocate [offset, offset+length): hole punch or BLKDISCARD
    write_zeroes,  // zero [offset, offset+length): FALLOC_FL_ZERO_RANGE or BLKZEROOUT
};
const char* to_string(MediumOpKind kind) noexcept;

struct MediumOp {
    const Backstore* store = nullptr;
    MediumOpKind kind = MediumOpKind::flush;
    std::uint64_t offset = 0;  // bytes
    std::uint64_t length = 0;  // bytes
    bool fua = false;
    std::span<std::uint8_t> buffer;  // read and write only; 4096-byte aligned
};

// Bytes transferred (read/write: may be short at end of file) or the errno.
using MediumResult = std::expected<std::uint64_t, std::error_code>;

// Receives finished operations; implemented by the transport's channel.
class MediumSink {
public:
    virtual void on_medium_complete(std::uint64_t tag, MediumResult result) = 0;

protected:
    ~MediumSink() = default;
};

// A queue of medium operations owned by one thread (a poller). submit() and
// reap() run on that thread only; completions are delivered from reap().
class MediumQueue {
public:
    virtual ~MediumQueue() = default;
    // false: no room now (retry after a reap); the op was not started.
    virtual bool submit(const MediumOp& op, MediumSink& sink, std::uint64_t tag) noexcept = 0;
    // Pushes the submissions of this pass to the kernel in one system call.
    virtual void flush_submissions() noexcept {}
    // Delivers finished operations; returns how many.
    virtual std::size_t reap() noexcept = 0;
    // Polls readable (POLLIN) while completions wait to be reaped; the
    // poller sleeps on it. Nothing is read from it: reap() clears it. -1: none.
    virtual int wait_fd() const noexcept { return -1; }
    virtual std::size_t in_flight() const noexcept = 0;
    // Pre-registers long-lived transfer memory (a channel's bounce buffers)
    // so reads and writes into it skip per-I/O page pinning; nullopt when
    // the queue cannot (then such I/O still works, unregistered).
    virtual std::optional<unsigned> register_buffer(std::span<std::uint8_t> memory) noexcept {
        (void)memory;
        return std::nullopt;
    }
    // No operation on the memory may be in flight.
    virtual void unregister_buffer(unsigned slot) noexcept { (void)slot; }
};

}  // namespace srp::target
