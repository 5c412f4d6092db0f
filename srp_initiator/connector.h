// How a Session reaches a target: a Connector turns login private data into
// a connected channel (or the target's SRP_LOGIN_REJ). verbs_connector()
// uses RDMA/CM; tests plug in the loopback fabric.
#pragma once

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

using Connector =
    std::function<std::expected<ConnectedChannel, LoginFailure>(std::span<const std::uint8_t> login_private_data)>;

Connector verbs_connector(std::string host, std::uint16_t port, std::chrono::milliseconds timeout);

}  // namespace srp::initiator
