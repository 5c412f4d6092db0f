// The active side of RDMA/CM: resolve an address, create the QP, connect
// with private data (an SRP login), and report the peer's accept or reject
// private data. Also watches the connection's CM events afterwards.
// Thread: one ClientConnection is used by one thread.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/rdma/verbs_fabric.h"

namespace srp::rdma {

struct ConnectFailure {
    enum class Kind { unreachable, rejected, timeout, error } kind = Kind::error;
    std::string message;                     // what happened, with the verb and errno
    std::vector<std::uint8_t> private_data;  // the peer's reject private data (SRP_LOGIN_REJ)
};

class ClientConnection {
public:
    // Resolves host:port, connects with private_data; on success the peer's
    // accept private data is in accept_data().
    static std::expected<std::unique_ptr<ClientConnection>, ConnectFailure> connect(
        const std::string& host, std::uint16_t port, std::span<const std::uint8_t> private_data, QueueDepths depths,
        std::chrono::milliseconds timeout);
    // The same, with the private data built once the route is resolved, from
    // the local port's GID (index 0): ib_srp derives the SRP initiator port
    // id from it, so the login can only be written after address resolution.
    using PrivateDataBuilder = std::function<std::vector<std::uint8_t>(const std::array<std::uint8_t, 16>& local_gid)>;
    static std::expected<std::unique_ptr<ClientConnection>, ConnectFailure> connect(
        const std::string& host, std::uint16_t port, const PrivateDataBuilder& private_data, QueueDepths depths,
        std::chrono::milliseconds timeout);
    ~ClientConnection();

    VerbsConnection& connection() noexcept { return *connection_; }
    VerbsDomain& domain() noexcept { return *domain_; }
    VerbsNotifier& notifier() noexcept { return *notifier_; }
    const std::vector<std::uint8_t>& accept_data() const noexcept { return accept_data_; }
    std::string device_name() const;
    // Local port GID (16 bytes): ib_srp builds its initiator port id from it.
    std::array<std::uint8_t, 16> local_gid() const;
    // Non-blocking: true once the peer disconnected (or the device went away).
    bool peer_disconnected();

private:
    ClientConnection() = default;
    // Member order = creation order; destruction runs backwards (connection
    // owns the cm_id and must go before the channel and the PD).
    EventChannel channel_;
    std::unique_ptr<VerbsDomain> domain_;
    std::unique_ptr<VerbsNotifier> notifier_;
    std::unique_ptr<VerbsConnection> connection_;
    std::vector<std::uint8_t> accept_data_;
    bool disconnected_ = false;
};

}  // namespace srp::rdma
