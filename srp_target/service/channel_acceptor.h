// Turns logins into channels: the SRP login decision (login.h), the
// target's resource limits, the channel's construction, the accept or the
// SRP_LOGIN_REJ, and the hand-over to a poller. Shared by the daemon and
// the loopback tests, so both run the same unwinding paths.
//
// Order of a login, each step only after the one before succeeded:
//   1. decide (spec checks, ACL, per-nexus channel limit); reject if refused
//   2. admit against the global and per-source channel limits, before
//      anything is allocated (a peer opening channels until memory runs out
//      gets INSUFFICIENT RESOURCES instead)
//   3. build the connection and the channel, post its receives
//   4. accept; only now does the connection own its handle
//   5. attach to the I_T nexus: a SINGLE login terminates the nexus's other
//      channels only here, so a login that failed earlier costs the working
//      session nothing
//   6. hand the channel to the least loaded poller
// Any failure in 3 or 4 answers LOGIN_REJ with INSUFFICIENT RESOURCES (SRP
// r16a 6.4, table 13) and releases everything it took.
// Thread safety: on_connect_request runs on one thread (the CM thread);
// on_event may run on it too; on_channel_closed runs on poller threads.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "srp_target/service/incoming_login.h"
#include "srp_target/service/poller.h"
#include "srp_target/srp/login.h"

namespace srp::target {

struct AcceptorLimits {
    std::uint32_t max_channels = 128;            // every channel pins ~11 MiB and a QP
    std::uint32_t max_channels_per_address = 64;  // per initiator source address
    std::uint32_t bounce_chunks = kMinBounceChunks;
};

class ChannelAcceptor {
public:
    ChannelAcceptor(ScsiTarget& target, SessionRegistry& registry, TargetStats& stats, std::vector<Poller*> pollers,
                    AcceptorLimits limits);

    // Never throws: every failure becomes a logged LOGIN_REJ.
    void on_connect_request(IncomingLogin& request, const LoginPolicy& policy, const RegisteredBackstores& backstores);
    void on_event(std::uint64_t token, ConnectionEvent event);
    // From the poller, after the channel drained and before it is destroyed.
    void on_channel_closed(Channel& channel);
    void disconnect_all(const char* reason);
    // The channels on one RDMA device (device_name() of their logins):
    // disconnected when the device goes away, counted until they are freed.
    void disconnect_device(const std::string& device, const char* reason);
    std::size_t channels_on(const std::string& device) const;
    // Shutdown: refuses new logins from now on and asks every channel to
    // log out gracefully (SRP_T_LOGOUT after its commands in flight).
    void logout_all(wire::TargetLogoutReason reason);
    std::size_t open_channels() const;

private:
    struct Open {
        std::weak_ptr<ChannelControl> control;
        std::string source;
        std::string device;
    };
    bool admit(const std::string& source, std::string& why);  // reserves a slot
    void release_slot(const std::string& source);
    void reject(IncomingLogin& request, const LoginDecision& decision, wire::LoginRejectReason reason,
                const std::string& initiator, const std::string& why);

    ScsiTarget& target_;
    SessionRegistry& registry_;
    TargetStats& stats_;
    std::vector<Poller*> pollers_;
    AcceptorLimits limits_;
    mutable std::mutex mutex_;  // guards everything below
    std::uint32_t open_ = 0;    // admitted channels, including logins in progress
    std::map<std::string, std::uint32_t> per_source_;
    std::unordered_map<std::uint64_t, Open> tokens_;
    std::uint64_t next_token_ = 1;
    bool shutting_down_ = false;
};

}  // namespace srp::target
