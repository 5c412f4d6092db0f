// Session setup: login of every channel, buffers, reconnect and logout.
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <thread>
#include <utility>

#include "common/scsi/sense.h"
#include "common/wire/iu_encode.h"
#include "srp_initiator/session_internal.h"

namespace srp::initiator {

namespace {

constexpr std::size_t kPoolAlignment = 4096;
// Receive buffers are sized by the target's max_ti_iu_len: a malicious or
// broken SRP_LOGIN_RSP (0x7fffffff) would make the initiator allocate
// (credits + kExtraReceives) x 2 GiB. The IUs we accept from a target are
// small (SRP_RSP: 36 bytes + response data + at most 252 bytes of sense,
// SPC-4 4.5.2; AER_REQ, CRED_REQ, T_LOGOUT smaller); kernel targets grant
// max_ti_iu_len = our it_iu_len (8260). Beyond this bound, use the bound:
// a target that then sends a longer IU fails the channel, not the process.
constexpr std::uint32_t kMaxTiIuLen = 16384;

// ib_srp: initiator_ext in the first 8 bytes, the port GID's interface id
// in the last 8 (SRP r16a 5.6.2 leaves the format to the initiator; it must
// be unique per initiator port).
wire::PortId default_initiator_port_id(std::uint64_t initiator_ext, const PortGid& gid) {
    wire::PortId id{};
    for (int i = 0; i < 8; ++i) id[i] = static_cast<std::uint8_t>(initiator_ext >> (56 - 8 * i));
    std::copy(gid.begin() + 8, gid.end(), id.begin() + 8);
    return id;
}

}  // namespace

std::string_view to_string(SubmitError error) noexcept {
    switch (error) {
        case SubmitError::no_credits: return "no credits";
        case SubmitError::no_slot: return "no free request slot";
        case SubmitError::disconnected: return "disconnected";
        case SubmitError::buffer_not_from_pool: return "buffer not from the session's registered pool";
        case SubmitError::too_large: return "command does not fit in an IU";
    }
    return "unknown";
}

std::string CommandResult::describe() const {
    if (transport_error) return "transport error: " + error;
    if (timed_out) return "timed out (aborted)";
    if (status == scsi::Status::check_condition) {
        if (auto d = scsi::decode_sense(sense)) return "CHECK CONDITION: " + d->describe();
        return "CHECK CONDITION (no sense data)";
    }
    return std::string(scsi::status_name(status));
}

Session::Session(Connector connector, SessionOptions options)
    : connector_(std::move(connector)), options_(std::move(options)) {
    options_.queue_depth = std::clamp<std::uint32_t>(options_.queue_depth, 2, kMaxSlots);
    pool_.resize(options_.pool_bytes);
    free_ranges_.emplace_back(0, pool_.size());
}

Session::~Session() { logout(); }

std::expected<std::unique_ptr<Session>, LoginFailure> Session::login(Connector connector, SessionOptions options) {
    if (options.channels == 0) options.channels = 1;
    std::unique_ptr<Session> session(new Session(std::move(connector), std::move(options)));
    if (auto opened = session->open_all(); !opened) return std::unexpected(opened.error());
    return session;
}

std::expected<void, LoginFailure> Session::open_all() {
    channels_.clear();
    ++generation_;
    for (std::uint32_t i = 0; i < options_.channels; ++i) {
        // SRP r16a 6.2: the first channel of a nexus logs in SINGLE, the others MULTI.
        auto channel = open_channel(i, i == 0);
        if (!channel) {
            channels_.clear();
            return std::unexpected(channel.error());
        }
        channels_.push_back(std::move(*channel));
    }
    return {};
}

std::expected<std::unique_ptr<Session::Channel>, LoginFailure> Session::open_channel(std::size_t index, bool single) {
    auto req = wire::make_login_req_rdma();
    const std::uint64_t login_tag = next_login_tag_++;
    std::memcpy(req.tag.data(), &login_tag, sizeof login_tag);
    req.req_it_iu_len = options_.it_iu_len;
    req.req_buf_fmt = wire::kBufFmtDirect | wire::kBufFmtIndirect;
    req.req_flags = single ? wire::kMultiChannelSingle : wire::kMultiChannelMulti;
    if (options_.immediate_data) {
        req.req_flags |= wire::kReqFlagImmediateRequested;
        req.imm_data_offset = static_cast<std::uint16_t>(options_.imm_data_offset);
    }
    for (int i = 0; i < 8; ++i) {
        req.target_port_id[i] = static_cast<std::uint8_t>(options_.id_ext >> (56 - 8 * i));
        req.target_port_id[8 + i] = static_cast<std::uint8_t>(options_.ioc_guid >> (56 - 8 * i));
    }
    ConnectRequest request;
    // Every channel of the nexus carries the port id of the first (SRP r16a
    // 6.2: MULTI logins name the same I_T nexus).
    const bool first = !port_id_known_;
    request.login = [&](const PortGid& gid) {
        if (first)
            initiator_port_id_ = options_.initiator_port_id.value_or(default_initiator_port_id(options_.initiator_ext, gid));
        req.initiator_port_id = initiator_port_id_;
        const auto bytes = wire::iu_bytes(req);
        return std::vector<std::uint8_t>(bytes.begin(), bytes.end());
    };
    request.send_queue_depth = options_.queue_depth * kSendsPerSlot + kControlSends;
    request.receive_queue_depth = options_.queue_depth + kExtraReceives;
    auto link = connector_(request);
    if (!link) return std::unexpected(link.error());
    auto rsp = wire::parse_login_rsp(link->accept_data);
    if (!rsp)
        return std::unexpected(LoginFailure{LoginFailure::Kind::protocol,
                                            "the target accepted the connection without a valid SRP_LOGIN_RSP (" +
                                                std::string(wire::to_string(rsp.error())) + ")",
                                            {}});
    auto ch = std::make_unique<Channel>();
    ch->index = index;
    ch->link = std::move(*link);
    ch->info.credits = rsp->req_lim_delta.value();
    ch->info.max_it_iu_len = std::min(rsp->max_it_iu_len.value(), options_.it_iu_len);
    ch->info.max_ti_iu_len = std::min(rsp->max_ti_iu_len.value(), kMaxTiIuLen);
    ch->info.buf_fmt = rsp->buf_fmt.value();
    ch->info.rsp_flags = rsp->rsp_flags;
    ch->info.immediate_data = options_.immediate_data && (rsp->rsp_flags & wire::kRspFlagImmediateSupported);
    ch->info.description = ch->link.description;
    ch->imm_data_offset = ch->info.immediate_data ? options_.imm_data_offset : 0;
    if (ch->info.credits < 2 || ch->info.max_ti_iu_len < sizeof(wire::RspHeader))
        return std::unexpected(LoginFailure{LoginFailure::Kind::protocol, "unusable login response: " +
                                            std::to_string(ch->info.credits) + " credits, max_ti_iu_len " +
                                            std::to_string(ch->info.max_ti_iu_len), {}});
    if (!port_id_known_) port_id_known_ = true;  // written once, before any ChannelHandle thread exists
    ch->credits = ch->info.credits;
    // Credits beyond the queue pair's depth stay unused (ib_srp: queue_size).
    const std::uint32_t slots = std::min<std::uint32_t>(ch->info.credits, options_.queue_depth);
    ch->receive_count = slots + kExtraReceives;
    ch->send_memory.resize(std::size_t{slots} * ch->info.max_it_iu_len);
    ch->receive_memory.resize(std::size_t{ch->receive_count} * ch->info.max_ti_iu_len);
    ch->control_memory.resize(std::size_t{kControlBytes} * kControlSends);
    auto reg = [&](std::span<std::uint8_t> m, bool remote) -> std::expected<std::unique_ptr<fabric::Registration>, LoginFailure> {
        auto r = ch->link.domain->register_memory(m, remote);
        if (!r) return std::unexpected(LoginFailure{LoginFailure::Kind::error, "memory registration: " + r.error().message(), {}});
        return std::move(*r);
    };
    // Send buffers (which hold external descriptor tables) are remotely
    // readable under their rkey. Data buffers are exposed per command through
    // memory windows when the device has them (see session.h), else under
    // the pool's rkey.
    std::expected<std::unique_ptr<fabric::Registration>, LoginFailure> pool =
        std::unexpected(LoginFailure{LoginFailure::Kind::error, "memory registration: not tried", {}});
    if (options_.memory_windows && ch->link.domain->supports_windows()) {
        if (auto r = ch->link.domain->register_for_windows(pool_)) {
            for (std::uint32_t i = 0; i < slots; ++i) {
                auto w = ch->link.domain->allocate_window();
                if (!w) break;  // too few windows: the pool's rkey instead
                ch->windows.push_back(std::move(*w));
            }
            if (ch->windows.size() == slots) pool = std::move(*r);
            else ch->windows.clear();
        }
    }
    if (ch->windows.empty()) pool = reg(pool_, true);
    ch->info.memory_windows = !ch->windows.empty();
    if (options_.memory_windows && !ch->info.memory_windows) {
        const auto withheld = ch->link.domain->windows_withheld();
        ch->info.memory_windows_note = !withheld.empty()                       ? std::string(withheld)
                                       : !ch->link.domain->supports_windows() ? "the device has none"
                                                                               : "the device could not provide one per command";
    }
    auto send = reg(ch->send_memory, true);
    auto receive = reg(ch->receive_memory, false);
    auto control = reg(ch->control_memory, false);
    for (auto* r : {&pool, &send, &receive, &control})
        if (!*r) return std::unexpected(r->error());
    ch->pool_mr = std::move(*pool);
    ch->send_mr = std::move(*send);
    ch->receive_mr = std::move(*receive);
    ch->control_mr = std::move(*control);
    ch->slots = std::vector<Slot>(slots);  // Slot holds atomics: built in place, never moved
    for (std::uint32_t i = slots; i-- > 0;) ch->free_slots.push_back(i);
    for (std::uint32_t i = 0; i < ch->receive_count; ++i) {
        auto segment = ch->receive_mr->segment(std::size_t{i} * ch->info.max_ti_iu_len, ch->info.max_ti_iu_len);
        if (!ch->link.connection->post_receive(kReceiveTag | i, segment))
            return std::unexpected(LoginFailure{LoginFailure::Kind::error, "cannot post receives", {}});
    }
    return ch;
}

const LoginInfo& Session::login_info(std::size_t channel) const { return channels_.at(channel)->info; }

bool Session::connected() const noexcept {
    return !channels_.empty() && std::all_of(channels_.begin(), channels_.end(), [](const auto& c) { return !c->dead; });
}

std::optional<std::span<std::uint8_t>> Session::allocate(std::size_t bytes) {
    std::lock_guard lock(pool_mutex_);
    bytes = (std::max<std::size_t>(bytes, 1) + kPoolAlignment - 1) & ~(kPoolAlignment - 1);
    for (auto it = free_ranges_.begin(); it != free_ranges_.end(); ++it) {
        if (it->second < bytes) continue;
        const std::size_t offset = it->first;
        it->first += bytes;
        it->second -= bytes;
        if (it->second == 0) free_ranges_.erase(it);
        return std::span<std::uint8_t>(pool_.data() + offset, bytes);
    }
    return std::nullopt;
}

void Session::release(std::span<std::uint8_t> buffer) {
    if (buffer.empty()) return;
    std::lock_guard lock(pool_mutex_);
    // A command that still names the buffer may yet be served by the target:
    // hold the memory back until it ended (see the header).
    if (buffer_in_use(buffer)) {
        quarantine_.push_back(buffer);
        quarantined_.store(quarantine_.size(), std::memory_order_release);
        return;
    }
    free_range(buffer);
}

// Called with pool_mutex_ held; reads other threads' slots through their atomics.
bool Session::buffer_in_use(std::span<const std::uint8_t> buffer) const {
    for (const auto& ch : channels_)
        for (const auto& s : ch->slots) {
            const auto* begin = s.buffer_begin.load(std::memory_order_acquire);
            const std::size_t bytes = s.buffer_bytes.load(std::memory_order_acquire);
            if (begin != nullptr && bytes != 0 && begin < buffer.data() + buffer.size() && buffer.data() < begin + bytes)
                return true;
        }
    return false;
}

void Session::drain_quarantine() {
    std::lock_guard lock(pool_mutex_);
    for (std::size_t i = 0; i < quarantine_.size();) {
        if (buffer_in_use(quarantine_[i])) {
            ++i;
            continue;
        }
        free_range(quarantine_[i]);
        quarantine_.erase(quarantine_.begin() + static_cast<std::ptrdiff_t>(i));
    }
    quarantined_.store(quarantine_.size(), std::memory_order_release);
}

void Session::free_range(std::span<std::uint8_t> buffer) {
    const auto offset = static_cast<std::size_t>(buffer.data() - pool_.data());
    const std::size_t bytes = (buffer.size() + kPoolAlignment - 1) & ~(kPoolAlignment - 1);
    auto it = std::lower_bound(free_ranges_.begin(), free_ranges_.end(), std::make_pair(offset, std::size_t{0}));
    it = free_ranges_.insert(it, {offset, bytes});
    // Merge with the neighbours.
    if (auto next = it + 1; next != free_ranges_.end() && it->first + it->second == next->first) {
        it->second += next->second;
        free_ranges_.erase(next);
    }
    if (it != free_ranges_.begin()) {
        auto prev = it - 1;
        if (prev->first + prev->second == it->first) {
            prev->second += it->second;
            free_ranges_.erase(it);
        }
    }
}

std::optional<std::uint32_t> Session::registration_key(Channel& ch, std::span<const std::uint8_t> buffer) const {
    if (buffer.data() < pool_.data() || buffer.data() + buffer.size() > pool_.data() + pool_.size()) return std::nullopt;
    return ch.pool_mr->rkey();
}

void Session::fail_channel(Channel& ch, const std::string& why) {
    if (ch.dead) return;
    ch.dead = true;
    // A queue pair in error executes no more RDMA: from here on no buffer of
    // this channel can be touched by the target, so every command may end.
    ch.link.connection->disconnect();
    for (auto& slot : ch.slots) {
        slot.send_pending = false;  // the channel is never posted to again
        if (!slot.busy) continue;
        if (slot.ending) {  // ended, its invalidate pending: the error revokes its window as well
            CommandResult r = std::move(*slot.ending);
            slot.ending.reset();
            complete(ch, slot, std::move(r));
            continue;
        }
        CommandResult r;
        r.timed_out = !slot.is_tmf && slot.recovery != Recovery::none;
        r.transport_error = !r.timed_out;
        r.error = why;
        finish(ch, slot, r);
    }
}

std::expected<void, LoginFailure> Session::reconnect() {
    for (auto& ch : channels_) fail_channel(*ch, "reconnecting");
    // Drain flushed completions before the old channels go away.
    for (auto& ch : channels_) {
        fabric::Completion c[32];
        for (int i = 0; i < 100 && ch->link.connection->poll(c) > 0; ++i) {
        }
    }
    return open_all();
}

void Session::reopen_channel(std::size_t index) {
    Channel& old = *channels_[index];
    fail_channel(old, "reconnecting");
    fabric::Completion c[32];
    for (int i = 0; i < 100 && old.link.connection->poll(c) > 0; ++i) {
    }
    // SRP r16a 6.2: MULTI joins the nexus the other channels keep alive.
    auto fresh = open_channel(index, false);
    if (!fresh) return;  // stays dead; the caller sees connected() == false
    std::unique_ptr<Channel> retired;
    {
        // buffer_in_use() walks every channel under this lock.
        std::lock_guard lock(pool_mutex_);
        retired = std::exchange(channels_[index], std::move(*fresh));
    }
    ++generation_;  // slots of the retired channel are gone (task_management() watches this)
}

void Session::logout() {
    for (auto& ch : channels_) {
        if (ch->dead) continue;
        auto logout = wire::make_iu<wire::ILogout>(wire::Opcode::i_logout);
        const std::uint64_t tag = next_login_tag_++;
        std::memcpy(logout.tag.data(), &tag, sizeof tag);
        std::memcpy(ch->control_memory.data(), &logout, sizeof logout);
        ch->logging_out = true;
        if (ch->link.connection->post_send(kLogoutWrId, ch->control_mr->segment(0, sizeof logout))) {
            // Give the SRP_I_LOGOUT a moment to leave before disconnecting.
            const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(500);
            bool sent = false;
            while (!sent && std::chrono::steady_clock::now() < until) {
                fabric::Completion c[16];
                const std::size_t n = ch->link.connection->poll(c);
                for (std::size_t i = 0; i < n; ++i)
                    if (c[i].wr_id == kLogoutWrId) sent = true;
                    else handle_completion(*ch, c[i]);
                if (n == 0) std::this_thread::sleep_for(std::chrono::microseconds(100));
            }
        }
        fail_channel(*ch, "logged out");
    }
}

}  // namespace srp::initiator
