// The seam both SRP engines are written against: one reliable connection
// (an RC QP on verbs, or an in-memory peer in tests) with receives, sends,
// RDMA READ/WRITE to (remote address, rkey), and polled completions.
// Thread: a Connection is driven by one poller thread at a time; only
// disconnect() may be called from another thread.
#pragma once

#include <cstdint>
#include <expected>
#include <memory>
#include <span>
#include <string_view>
#include <system_error>

namespace srp::fabric {

// Registered local memory: what a scatter/gather element points at.
struct LocalSegment {
    std::uint8_t* address = nullptr;
    std::uint32_t length = 0;
    std::uint32_t lkey = 0;
};

// Memory of the peer, as an SRP direct descriptor names it.
struct RemoteSegment {
    std::uint64_t address = 0;
    std::uint32_t rkey = 0;
    std::uint32_t length = 0;
};

// One RDMA work request: one remote segment, filled from or into local segments.
struct RdmaOp {
    RemoteSegment remote;
    std::span<const LocalSegment> local;
};

enum class WorkKind : std::uint8_t { receive, send, rdma_read, rdma_write };

enum class CompletionStatus : std::uint8_t {
    success,
    flushed,               // the connection went to error; outstanding work is returned
    remote_access_error,   // bad rkey or range at the peer
    remote_operation_error,
    transport_error,       // retries exceeded, peer gone
    local_error,
};
std::string_view to_string(CompletionStatus status) noexcept;

struct Completion {
    std::uint64_t wr_id = 0;
    WorkKind kind = WorkKind::receive;
    CompletionStatus status = CompletionStatus::success;
    std::uint32_t byte_len = 0;  // receives: bytes that arrived
};

// What wakes a sleeping owner (request_notification). A target waits for
// its responses' send completions only when something depends on them (a
// TMF, a shutdown, memory to reuse): otherwise each response would cost a
// wake-up, a system call or two on every provider.
enum class WakeOn : std::uint8_t { everything, receives };

enum class PostError { queue_full, disconnected, too_many_segments, empty_chain };
std::string_view to_string(PostError error) noexcept;

using PostResult = std::expected<void, PostError>;

class Connection {
public:
    virtual ~Connection() = default;

    virtual PostResult post_receive(std::uint64_t wr_id, LocalSegment buffer) = 0;
    // A signaled SEND of one IU.
    virtual PostResult post_send(std::uint64_t wr_id, LocalSegment iu) = 0;
    // RDMA READs into local memory; one completion (rdma_read) when all are done.
    virtual PostResult post_rdma_read(std::uint64_t wr_id, std::span<const RdmaOp> ops) = 0;
    // RDMA WRITEs then a SEND in one post: RC ordering makes the data visible
    // before the response; one completion (send) for the whole chain.
    virtual PostResult post_rdma_write_then_send(std::uint64_t wr_id, std::span<const RdmaOp> ops,
                                                 LocalSegment iu) = 0;
    virtual std::size_t poll(std::span<Completion> out) = 0;
    // Arms the completion notification; poll once more afterwards to close the race.
    // WakeOn::receives leaves completions of send-side work (sends, RDMA)
    // silent: poll() still returns them, they just do not wake the owner.
    // A failed send-side completion still wakes it: an RC connection in
    // error flushes its posted receives.
    virtual void request_notification(WakeOn wake_on) = 0;
    // Moves the connection to error: outstanding work completes as flushed.
    virtual void disconnect() = 0;

    // Batching: between begin_batch() and end_batch() sends may be held and
    // posted together (one doorbell). Completions are unchanged. Default: none.
    virtual void begin_batch() {}
    virtual void end_batch() {}

    virtual std::uint32_t max_send_sge() const noexcept = 0;
    virtual std::uint32_t max_rdma_read_sge() const noexcept = 0;
};

// A registration of local memory; deregisters on destruction.
class Registration {
public:
    virtual ~Registration() = default;
    virtual std::uint32_t lkey() const noexcept = 0;
    virtual std::uint32_t rkey() const noexcept = 0;
    virtual std::span<std::uint8_t> bytes() const noexcept = 0;
    LocalSegment segment(std::size_t offset, std::uint32_t length) const noexcept {
        return LocalSegment{bytes().data() + offset, length, lkey()};
    }
};

// A protection domain. remote_access: peers may RDMA READ/WRITE the memory
// (initiator data buffers only; the target registers for local access only).
class MemoryDomain {
public:
    virtual ~MemoryDomain() = default;
    virtual std::expected<std::unique_ptr<Registration>, std::error_code> register_memory(
        std::span<std::uint8_t> memory, bool remote_access) = 0;
};

// Wakes a sleeping poller: completion channel fd on verbs, eventfd in loopback.
class Notifier {
public:
    virtual ~Notifier() = default;
    virtual int fd() const noexcept = 0;
    // Consumes pending events (at least one) after fd() became readable; any
    // it leaves keep fd() readable, so a poll() returns at once for them.
    virtual void consume() noexcept = 0;
};

}  // namespace srp::fabric
