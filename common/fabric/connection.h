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

enum class WorkKind : std::uint8_t { receive, send, rdma_read, rdma_write, invalidate };

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

enum class PostError { queue_full, disconnected, too_many_segments, empty_chain, unsupported };
std::string_view to_string(PostError error) noexcept;

using PostResult = std::expected<void, PostError>;

class Registration;

// A type-2 memory window (IBTA 1.4 vol. 1 10.6.7.2): remote access to one
// range of a registration, granted by a bind posted on the send queue and
// revoked by a local invalidate, so an initiator can expose each command's
// buffer alone and only while the command runs (ib_srp does the same with
// fast-registration MRs, which user space does not have). A window belongs
// to one connection at a time (type 2B: to the QP it was bound on).
class Window {
public:
    virtual ~Window() = default;
    // The rkey the next bind gives the window: a type-2 bind replaces the
    // key's low byte, so a peer holding an older key is refused.
    virtual std::uint32_t next_rkey() const noexcept = 0;
};

enum class WindowAccess : std::uint8_t { remote_read, remote_write };

struct WindowBind {
    Window* window = nullptr;
    const Registration* registration = nullptr;  // from MemoryDomain::register_for_windows
    std::span<const std::uint8_t> range;         // inside the registration
    WindowAccess access = WindowAccess::remote_read;
};

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
    // Binds bind.window (rkey: its next_rkey()) over bind.range, then SENDs
    // iu, in one chain: send queue order makes the window valid before the
    // peer can see the IU that names it. One completion (send) for both.
    virtual PostResult post_bind_then_send(std::uint64_t /*wr_id*/, const WindowBind& /*bind*/, LocalSegment /*iu*/) {
        return std::unexpected(PostError::unsupported);
    }
    // A signaled local invalidate of the window's current rkey. Its
    // completion (invalidate) means the peer can no longer reach the range
    // through it; an RDMA to that rkey afterwards fails remote_access_error.
    virtual PostResult post_invalidate(std::uint64_t /*wr_id*/, Window& /*window*/) {
        return std::unexpected(PostError::unsupported);
    }
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
    // posted together (one doorbell). Completions are unchanged. Batches
    // nest: only the outermost end_batch() posts, so a batch left open holds
    // the connection's sends for good (SendBatch closes it on every path).
    // end_batch() does not throw: a post that fails is reported as flushed
    // completions. Default: none.
    virtual void begin_batch() {}
    virtual void end_batch() noexcept {}

    virtual std::uint32_t max_send_sge() const noexcept = 0;
    virtual std::uint32_t max_rdma_read_sge() const noexcept = 0;
};

// One batch of a connection's sends (Connection::begin_batch) for a scope:
// ends it however the scope is left, an exception included.
class SendBatch {
public:
    explicit SendBatch(Connection& connection) : connection_(connection) { connection_.begin_batch(); }
    ~SendBatch() { connection_.end_batch(); }
    SendBatch(const SendBatch&) = delete;
    SendBatch& operator=(const SendBatch&) = delete;

private:
    Connection& connection_;
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
    // Type-2 memory windows (see Window): whether the device has them, memory
    // that only windows expose remotely (no rkey of its own grants remote
    // access), and the windows themselves. Default: none.
    virtual bool supports_windows() const noexcept { return false; }
    // Why a device that has windows does not offer them (supports_windows()
    // is false); empty when it offers them or has none.
    virtual std::string_view windows_withheld() const noexcept { return {}; }
    virtual std::expected<std::unique_ptr<Registration>, std::error_code> register_for_windows(
        std::span<std::uint8_t> /*memory*/) {
        return std::unexpected(std::make_error_code(std::errc::operation_not_supported));
    }
    virtual std::expected<std::unique_ptr<Window>, std::error_code> allocate_window() {
        return std::unexpected(std::make_error_code(std::errc::operation_not_supported));
    }
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
