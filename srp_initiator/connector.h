// How a Session reaches a target: a Connector turns a ConnectRequest (the
// login private data, built once the local port is known, and the queue
// depths the session will use) into a connected channel, or the target's
// SRP_LOGIN_REJ. verbs_connector() uses RDMA/CM; tests plug in the loopback
// fabric.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/fabric/connection.h"

namespace srp::initiator {

struct LoginFailure {
    enum class Kind { unreachable, rejected, timeout, protocol, error } kind = Kind::error;
    std::string message;
    std::optional<std::uint32_t> reject_reason;  // SRP_LOGIN_REJ reason when rejected
};

struct ConnectedChannel {
    fabric::Connection* connection = nullptr;  // owned by owner
    fabric::MemoryDomain* domain = nullptr;    // owned by owner
    fabric::Notifier* notifier = nullptr;      // may be null: then the session polls without sleeping
    std::vector<std::uint8_t> accept_data;     // SRP_LOGIN_RSP
    std::shared_ptr<void> owner;
    std::function<bool()> peer_disconnected;   // may be empty
    std::string description;                   // "rxe0 -> 10.0.2.15:5555"
};

using PortGid = std::array<std::uint8_t, 16>;

struct ConnectRequest {
    // The SRP_LOGIN_REQ private data for the local port's GID (ib_srp builds
    // the initiator port id from the GID's interface id).
    std::function<std::vector<std::uint8_t>(const PortGid& local_gid)> login;
    // Work requests the session keeps in flight on the channel, so the queue
    // pair can hold them: sends (SRP_CMD, TSK_MGMT, control IUs) and receives
    // (SRP_RSP and target-initiated IUs).
    std::uint32_t send_queue_depth = 0;
    std::uint32_t receive_queue_depth = 0;
};

using Connector = std::function<std::expected<ConnectedChannel, LoginFailure>(const ConnectRequest& request)>;

Connector verbs_connector(std::string host, std::uint16_t port, std::chrono::milliseconds timeout);

}  // namespace srp::initiator
