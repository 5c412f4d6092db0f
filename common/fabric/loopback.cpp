#include "common/fabric/loopback.h"

#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <set>

namespace srp::fabric {

// ---- domain ------------------------------------------------------------------

class LoopbackRegistration : public Registration {
public:
    LoopbackRegistration(std::shared_ptr<LoopbackDomain> domain, std::uint32_t key, std::span<std::uint8_t> bytes)
        : domain_(std::move(domain)), key_(key), bytes_(bytes) {}
    ~LoopbackRegistration() override { domain_->unregister(key_); }
    std::uint32_t lkey() const noexcept override { return key_; }
    std::uint32_t rkey() const noexcept override { return key_; }
    std::span<std::uint8_t> bytes() const noexcept override { return bytes_; }

private:
    std::shared_ptr<LoopbackDomain> domain_;
    std::uint32_t key_;
    std::span<std::uint8_t> bytes_;
};

std::expected<std::unique_ptr<Registration>, std::error_code> LoopbackDomain::register_memory(
    std::span<std::uint8_t> memory, bool remote_access) {
    std::lock_guard lock(mutex_);
    if (fail_after_) {
        if (*fail_after_ == 0) return std::unexpected(std::make_error_code(std::errc::not_enough_memory));
        --*fail_after_;
    }
    const std::uint32_t key = next_key_++;
    regions_[key] = Region{memory, remote_access};
    return std::make_unique<LoopbackRegistration>(shared_from_this(), key, memory);
}

void LoopbackDomain::fail_registrations_after(std::optional<std::size_t> successes) {
    std::lock_guard lock(mutex_);
    fail_after_ = successes;
}

void LoopbackDomain::unregister(std::uint32_t key) {
    std::lock_guard lock(mutex_);
    regions_.erase(key);
}

std::size_t LoopbackDomain::registration_count() const {
    std::lock_guard lock(mutex_);
    return regions_.size();
}

// Window rkeys: the top bit set (region keys are small), the window's
// index, and a key byte that every bind changes.
constexpr std::uint32_t kWindowKeyBit = 0x80000000u;

class LoopbackWindow : public Window {
public:
    LoopbackWindow(std::shared_ptr<LoopbackDomain> domain, std::uint32_t index)
        : domain_(std::move(domain)), index_(index) {}
    ~LoopbackWindow() override { domain_->release_window(index_); }
    std::uint32_t next_rkey() const noexcept override {
        const std::uint32_t key = domain_->window_rkey(index_);
        return (key & ~0xffu) | ((key + 1) & 0xffu);
    }
    const std::shared_ptr<LoopbackDomain>& domain() const noexcept { return domain_; }
    std::uint32_t index() const noexcept { return index_; }

private:
    std::shared_ptr<LoopbackDomain> domain_;
    std::uint32_t index_;
};

bool LoopbackDomain::supports_windows() const noexcept {
    std::lock_guard lock(mutex_);
    return windows_supported_;
}

void LoopbackDomain::set_windows_supported(bool supported) {
    std::lock_guard lock(mutex_);
    windows_supported_ = supported;
}

std::expected<std::unique_ptr<Registration>, std::error_code> LoopbackDomain::register_for_windows(
    std::span<std::uint8_t> memory) {
    std::lock_guard lock(mutex_);
    if (!windows_supported_) return std::unexpected(std::make_error_code(std::errc::operation_not_supported));
    const std::uint32_t key = next_key_++;
    regions_[key] = Region{memory, false, true};
    return std::make_unique<LoopbackRegistration>(shared_from_this(), key, memory);
}

std::expected<std::unique_ptr<Window>, std::error_code> LoopbackDomain::allocate_window() {
    std::lock_guard lock(mutex_);
    if (!windows_supported_) return std::unexpected(std::make_error_code(std::errc::operation_not_supported));
    const std::uint32_t index = next_window_++;
    windows_[index] = WindowState{kWindowKeyBit | index << 8, false, {}, WindowAccess::remote_read};
    return std::make_unique<LoopbackWindow>(shared_from_this(), index);
}

std::uint32_t LoopbackDomain::window_rkey(std::uint32_t index) const {
    std::lock_guard lock(mutex_);
    auto it = windows_.find(index);
    return it == windows_.end() ? 0 : it->second.rkey;
}

bool LoopbackDomain::bind_window(std::uint32_t index, const WindowBind& bind) {
    std::lock_guard lock(mutex_);
    auto w = windows_.find(index);
    if (w == windows_.end() || w->second.bound || bind.registration == nullptr) return false;
    auto r = regions_.find(bind.registration->lkey());
    if (r == regions_.end() || !r->second.window_bind) return false;
    const auto* begin = r->second.bytes.data();
    if (bind.range.empty() || bind.range.data() < begin ||
        bind.range.data() + bind.range.size() > begin + r->second.bytes.size())
        return false;
    auto& state = w->second;
    state.rkey = (state.rkey & ~0xffu) | ((state.rkey + 1) & 0xffu);
    state.bound = true;
    state.range = r->second.bytes.subspan(static_cast<std::size_t>(bind.range.data() - begin), bind.range.size());
    state.access = bind.access;
    return true;
}

void LoopbackDomain::invalidate_window(std::uint32_t index) {
    std::lock_guard lock(mutex_);
    if (auto w = windows_.find(index); w != windows_.end()) {
        w->second.bound = false;
        w->second.range = {};
    }
}

void LoopbackDomain::release_window(std::uint32_t index) {
    std::lock_guard lock(mutex_);
    windows_.erase(index);
}

std::size_t LoopbackDomain::bound_windows() const {
    std::lock_guard lock(mutex_);
    return static_cast<std::size_t>(
        std::count_if(windows_.begin(), windows_.end(), [](const auto& w) { return w.second.bound; }));
}

// Called with mutex_ held.
std::optional<std::span<std::uint8_t>> LoopbackDomain::resolve_window(const RemoteSegment& remote, bool write) const {
    auto it = windows_.find((remote.rkey & ~kWindowKeyBit) >> 8);
    if (it == windows_.end()) return std::nullopt;
    const auto& w = it->second;
    // An older key byte is a key from before the last bind (IBTA 10.6.7.2.1).
    if (!w.bound || w.rkey != remote.rkey) return std::nullopt;
    if (w.access != (write ? WindowAccess::remote_write : WindowAccess::remote_read)) return std::nullopt;
    const auto base = reinterpret_cast<std::uintptr_t>(w.range.data());
    if (remote.address < base || remote.address + remote.length > base + w.range.size()) return std::nullopt;
    return w.range.subspan(remote.address - base, remote.length);
}

std::optional<std::span<std::uint8_t>> LoopbackDomain::resolve(const RemoteSegment& remote, bool write) const {
    std::lock_guard lock(mutex_);
    if (remote.rkey & kWindowKeyBit) return resolve_window(remote, write);
    auto it = regions_.find(remote.rkey);
    if (it == regions_.end() || !it->second.remote_access) return std::nullopt;
    const auto base = reinterpret_cast<std::uintptr_t>(it->second.bytes.data());
    if (remote.address < base || remote.address + remote.length > base + it->second.bytes.size())
        return std::nullopt;
    return it->second.bytes.subspan(remote.address - base, remote.length);
}

// ---- notifier ----------------------------------------------------------------

LoopbackNotifier::LoopbackNotifier() : fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {}
LoopbackNotifier::~LoopbackNotifier() { ::close(fd_); }
void LoopbackNotifier::consume() noexcept {
    std::uint64_t value;
    while (::read(fd_, &value, sizeof value) == sizeof value) {
    }
}
void LoopbackNotifier::wake() noexcept {
    const std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(fd_, &one, sizeof one);
}

// ---- pair state ----------------------------------------------------------------

struct LoopbackConnection::Shared {
    struct Side {
        std::shared_ptr<LoopbackDomain> domain;
        std::shared_ptr<LoopbackNotifier> notifier;
        std::deque<std::pair<std::uint64_t, LocalSegment>> receives;
        std::deque<std::vector<std::uint8_t>> unmatched;  // sends that arrived before a receive (RNR retry)
        std::deque<Completion> completions;
        std::deque<Completion> held;
        // wr_ids of SENDs posted whose completion was not polled yet: a verbs
        // provider tracks its send queue by them, so reusing one is a bug.
        std::multiset<std::uint64_t> sends_in_flight;
        std::size_t reused_send_wr_ids = 0;
        LoopbackFaults faults;
        bool alive = true;  // the LoopbackConnection object still exists
        // What may wake the owner (request_notification), as on verbs.
        WakeOn wake_on = WakeOn::everything;
        std::size_t silent_completions = 0;  // queued without waking the owner
        bool wakes(const Completion& c) const {
            return wake_on == WakeOn::everything || c.kind == WorkKind::receive || c.status != CompletionStatus::success;
        }
        void queue(const Completion& c) {  // caller holds the pair's mutex
            completions.push_back(c);
            if (!wakes(c)) ++silent_completions;
            else if (notifier) notifier->wake();
        }
    };
    std::mutex mutex;
    bool connected = true;
    Side sides[2];
};

std::pair<std::unique_ptr<LoopbackConnection>, std::unique_ptr<LoopbackConnection>> make_loopback_pair(
    std::shared_ptr<LoopbackDomain> domain_a, std::shared_ptr<LoopbackNotifier> notifier_a,
    std::shared_ptr<LoopbackDomain> domain_b, std::shared_ptr<LoopbackNotifier> notifier_b) {
    auto shared = std::make_shared<LoopbackConnection::Shared>();
    shared->sides[0].domain = std::move(domain_a);
    shared->sides[0].notifier = std::move(notifier_a);
    shared->sides[1].domain = std::move(domain_b);
    shared->sides[1].notifier = std::move(notifier_b);
    return {std::make_unique<LoopbackConnection>(shared, 0), std::make_unique<LoopbackConnection>(shared, 1)};
}

LoopbackConnection::LoopbackConnection(std::shared_ptr<Shared> shared, int side)
    : shared_(std::move(shared)), side_(side) {}

LoopbackConnection::~LoopbackConnection() {
    disconnect();
    std::lock_guard lock(shared_->mutex);
    shared_->sides[side_].alive = false;
}

void LoopbackConnection::complete_locked(int side, Completion c) {
    auto& s = shared_->sides[side];
    if (!s.alive) return;
    if (s.faults.hold_completions && c.kind != WorkKind::receive) {
        s.held.push_back(c);
        return;
    }
    s.queue(c);
}

PostResult LoopbackConnection::post_receive(std::uint64_t wr_id, LocalSegment buffer) {
    std::lock_guard lock(shared_->mutex);
    auto& me = shared_->sides[side_];
    if (me.faults.refuse_receives) return std::unexpected(PostError::disconnected);
    if (me.faults.receive_queue_depth && me.receives.size() >= *me.faults.receive_queue_depth)
        return std::unexpected(PostError::queue_full);
    if (!shared_->connected) {
        complete_locked(side_, Completion{wr_id, WorkKind::receive, CompletionStatus::flushed, 0});
        return {};
    }
    if (!me.unmatched.empty()) {  // a send waited for this receive
        auto data = std::move(me.unmatched.front());
        me.unmatched.pop_front();
        const auto n = static_cast<std::uint32_t>(std::min<std::size_t>(data.size(), buffer.length));
        if (n != 0) std::memcpy(buffer.address, data.data(), n);
        complete_locked(side_, Completion{wr_id, WorkKind::receive,
                                          data.size() > buffer.length ? CompletionStatus::local_error
                                                                      : CompletionStatus::success,
                                          n});
        return {};
    }
    me.receives.emplace_back(wr_id, buffer);
    return {};
}

PostResult LoopbackConnection::send_locked(std::uint64_t wr_id, LocalSegment iu) {
    auto& peer = shared_->sides[1 - side_];
    auto& me = shared_->sides[side_];
    if (me.sends_in_flight.count(wr_id) != 0) ++me.reused_send_wr_ids;
    me.sends_in_flight.insert(wr_id);
    if (!shared_->connected) {
        complete_locked(side_, Completion{wr_id, WorkKind::send, CompletionStatus::flushed, 0});
        return {};
    }
    if (peer.receives.empty()) {
        peer.unmatched.emplace_back(iu.address, iu.address + (iu.address ? iu.length : 0));
    } else {
        auto [peer_wr, buffer] = peer.receives.front();
        peer.receives.pop_front();
        if (iu.length > buffer.length) {  // the receiver's buffer is too small: both sides fail
            complete_locked(1 - side_, Completion{peer_wr, WorkKind::receive, CompletionStatus::local_error, 0});
            complete_locked(side_, Completion{wr_id, WorkKind::send, CompletionStatus::remote_operation_error, 0});
            return {};
        }
        if (iu.length != 0) std::memcpy(buffer.address, iu.address, iu.length);  // a zero-length SEND is legal
        complete_locked(1 - side_, Completion{peer_wr, WorkKind::receive, CompletionStatus::success, iu.length});
    }
    complete_locked(side_, Completion{wr_id, WorkKind::send, CompletionStatus::success, 0});
    return {};
}

void LoopbackConnection::begin_batch() {
    if (batch_depth_++ == 0) batched_sends_ = 0;
}

void LoopbackConnection::end_batch() noexcept {
    if (batch_depth_ > 0 && --batch_depth_ > 0) return;
    if (batched_sends_ != 0) count_doorbell();
    batched_sends_ = 0;
}

std::size_t LoopbackConnection::doorbells() const { return doorbells_; }

PostResult LoopbackConnection::post_send(std::uint64_t wr_id, LocalSegment iu) {
    ring_doorbell();
    std::lock_guard lock(shared_->mutex);
    return send_locked(wr_id, iu);
}

std::optional<CompletionStatus> LoopbackConnection::rdma_locked(std::span<const RdmaOp> ops, bool read) {
    auto& me = shared_->sides[side_];
    if (me.faults.next_rdma_status) {
        auto status = *me.faults.next_rdma_status;
        me.faults.next_rdma_status.reset();
        return status;
    }
    const auto& peer_domain = shared_->sides[1 - side_].domain;
    for (const auto& op : ops) {
        auto remote = peer_domain->resolve(op.remote, !read);
        if (!remote) return CompletionStatus::remote_access_error;
        std::size_t at = 0;
        for (const auto& local : op.local) {
            const std::size_t n = std::min<std::size_t>(local.length, remote->size() - at);
            if (n == 0) continue;
            if (read) std::memcpy(local.address, remote->data() + at, n);
            else std::memcpy(remote->data() + at, local.address, n);
            at += n;
        }
    }
    return std::nullopt;
}

bool LoopbackConnection::cut_locked(std::uint64_t wr_id, std::span<const RdmaOp> ops, std::size_t count, bool read) {
    const auto depth = shared_->sides[side_].faults.send_queue_depth;
    if (!depth || count <= *depth) return false;
    // The prefix reached the wire; whatever it did, only the flushed report
    // of the whole chain is seen (verbs: flush_pending).
    (void)rdma_locked(ops.first(std::min(*depth, ops.size())), read);
    complete_locked(side_, Completion{wr_id, read ? WorkKind::rdma_read : WorkKind::send, CompletionStatus::flushed, 0});
    shared_->connected = false;
    return true;
}

PostResult LoopbackConnection::post_rdma_read(std::uint64_t wr_id, std::span<const RdmaOp> ops) {
    ring_doorbell();
    std::lock_guard lock(shared_->mutex);
    // Nothing to post would never complete: refuse it, as the verbs fabric does.
    if (ops.empty()) return std::unexpected(PostError::empty_chain);
    for (const auto& op : ops)
        if (op.local.size() > max_rdma_read_sge()) return std::unexpected(PostError::too_many_segments);
    if (!shared_->connected) {
        complete_locked(side_, Completion{wr_id, WorkKind::rdma_read, CompletionStatus::flushed, 0});
        return {};
    }
    if (cut_locked(wr_id, ops, ops.size(), true)) return {};
    auto failure = rdma_locked(ops, true);
    complete_locked(side_, Completion{wr_id, WorkKind::rdma_read, failure.value_or(CompletionStatus::success), 0});
    if (failure) shared_->connected = false;  // an RC QP goes to error on a failed RDMA
    return {};
}

PostResult LoopbackConnection::post_rdma_write_then_send(std::uint64_t wr_id, std::span<const RdmaOp> ops,
                                                         LocalSegment iu) {
    ring_doorbell();
    std::lock_guard lock(shared_->mutex);
    for (const auto& op : ops)
        if (op.local.size() > max_send_sge()) return std::unexpected(PostError::too_many_segments);
    if (!shared_->connected) {
        complete_locked(side_, Completion{wr_id, WorkKind::send, CompletionStatus::flushed, 0});
        return {};
    }
    if (cut_locked(wr_id, ops, ops.size() + 1, false)) return {};
    if (auto failure = rdma_locked(ops, false)) {
        complete_locked(side_, Completion{wr_id, WorkKind::send, *failure, 0});
        shared_->connected = false;
        return {};
    }
    return send_locked(wr_id, iu);
}

PostResult LoopbackConnection::post_bind_then_send(std::uint64_t wr_id, const WindowBind& bind, LocalSegment iu) {
    ring_doorbell();
    std::lock_guard lock(shared_->mutex);
    if (!shared_->connected) {
        complete_locked(side_, Completion{wr_id, WorkKind::send, CompletionStatus::flushed, 0});
        return {};
    }
    auto& window = static_cast<LoopbackWindow&>(*bind.window);
    if (!window.domain()->bind_window(window.index(), bind)) {
        // A refused bind fails the chain and moves the queue pair to error.
        complete_locked(side_, Completion{wr_id, WorkKind::send, CompletionStatus::local_error, 0});
        shared_->connected = false;
        return {};
    }
    return send_locked(wr_id, iu);
}

PostResult LoopbackConnection::post_invalidate(std::uint64_t wr_id, Window& window) {
    ring_doorbell();
    std::lock_guard lock(shared_->mutex);
    // A queue pair in error flushes the invalidate; it executes no RDMA either.
    if (!shared_->connected) {
        complete_locked(side_, Completion{wr_id, WorkKind::invalidate, CompletionStatus::flushed, 0});
        return {};
    }
    auto& w = static_cast<LoopbackWindow&>(window);
    w.domain()->invalidate_window(w.index());
    complete_locked(side_, Completion{wr_id, WorkKind::invalidate, CompletionStatus::success, 0});
    return {};
}

std::size_t LoopbackConnection::poll(std::span<Completion> out) {
    std::lock_guard lock(shared_->mutex);
    auto& me = shared_->sides[side_];
    std::size_t n = 0;
    while (n < out.size() && !me.completions.empty()) {
        out[n++] = me.completions.front();
        me.completions.pop_front();
        if (out[n - 1].kind == WorkKind::send)
            if (auto it = me.sends_in_flight.find(out[n - 1].wr_id); it != me.sends_in_flight.end())
                me.sends_in_flight.erase(it);
    }
    return n;
}

void LoopbackConnection::request_notification(WakeOn wake_on) {
    std::lock_guard lock(shared_->mutex);
    auto& me = shared_->sides[side_];
    me.wake_on = wake_on;
    for (const Completion& c : me.completions)
        if (me.wakes(c)) {
            if (me.notifier) me.notifier->wake();
            break;
        }
}

void LoopbackConnection::disconnect() {
    std::lock_guard lock(shared_->mutex);
    if (!shared_->connected && shared_->sides[0].receives.empty() && shared_->sides[1].receives.empty()) return;
    shared_->connected = false;
    for (int side = 0; side < 2; ++side) {  // flush posted receives on both ends, like an RC QP in error
        auto& s = shared_->sides[side];
        while (!s.receives.empty()) {
            complete_locked(side, Completion{s.receives.front().first, WorkKind::receive, CompletionStatus::flushed, 0});
            s.receives.pop_front();
        }
        if (s.notifier && s.alive) s.notifier->wake();
    }
}

void LoopbackConnection::fail_next_rdma(CompletionStatus status) {
    std::lock_guard lock(shared_->mutex);
    shared_->sides[side_].faults.next_rdma_status = status;
}

void LoopbackConnection::refuse_receives(bool refuse) {
    std::lock_guard lock(shared_->mutex);
    shared_->sides[side_].faults.refuse_receives = refuse;
}

void LoopbackConnection::set_send_queue_depth(std::size_t depth) {
    std::lock_guard lock(shared_->mutex);
    shared_->sides[side_].faults.send_queue_depth = depth;
}

void LoopbackConnection::set_receive_queue_depth(std::size_t depth) {
    std::lock_guard lock(shared_->mutex);
    shared_->sides[side_].faults.receive_queue_depth = depth;
}

void LoopbackConnection::hold_completions(bool hold) {
    std::lock_guard lock(shared_->mutex);
    auto& me = shared_->sides[side_];
    me.faults.hold_completions = hold;
    if (!hold) {
        while (!me.held.empty()) {
            me.queue(me.held.front());
            me.held.pop_front();
        }
    }
}

bool LoopbackConnection::connected() const {
    std::lock_guard lock(shared_->mutex);
    return shared_->connected;
}

std::size_t LoopbackConnection::silent_completions() const {
    std::lock_guard lock(shared_->mutex);
    return shared_->sides[side_].silent_completions;
}

std::size_t LoopbackConnection::reused_send_wr_ids() const {
    std::lock_guard lock(shared_->mutex);
    return shared_->sides[side_].reused_send_wr_ids;
}

std::size_t LoopbackConnection::posted_receives() const {
    std::lock_guard lock(shared_->mutex);
    return shared_->sides[side_].receives.size();
}

}  // namespace srp::fabric
