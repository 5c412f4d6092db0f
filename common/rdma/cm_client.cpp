#include "common/rdma/cm_client.h"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace srp::rdma {
namespace {

std::string errno_text(const std::string& verb, int err) { return verb + ": " + std::strerror(err); }

// Waits for the next CM event on a non-blocking channel. Copies what the
// caller needs and acknowledges the event at once.
struct EventCopy {
    rdma_cm_event_type type;
    int status;
    std::vector<std::uint8_t> private_data;
};
std::expected<EventCopy, ConnectFailure> next_event(rdma_event_channel* channel, std::chrono::milliseconds timeout) {
    pollfd fd{channel->fd, POLLIN, 0};
    if (::poll(&fd, 1, static_cast<int>(timeout.count())) <= 0)
        return std::unexpected(ConnectFailure{ConnectFailure::Kind::timeout, "no RDMA/CM answer within " +
                                              std::to_string(timeout.count()) + " ms", {}});
    rdma_cm_event* event = nullptr;
    if (rdma_get_cm_event(channel, &event) != 0)
        return std::unexpected(ConnectFailure{ConnectFailure::Kind::error, errno_text("rdma_get_cm_event", errno), {}});
    EventCopy copy{event->event, event->status, {}};
    if (event->param.conn.private_data != nullptr && event->param.conn.private_data_len > 0) {
        const auto* p = static_cast<const std::uint8_t*>(event->param.conn.private_data);
        copy.private_data.assign(p, p + event->param.conn.private_data_len);
    }
    rdma_ack_cm_event(event);
    return copy;
}

std::expected<void, ConnectFailure> expect_event(rdma_event_channel* channel, rdma_cm_event_type wanted,
                                                 std::chrono::milliseconds timeout, const std::string& what) {
    auto event = next_event(channel, timeout);
    if (!event) return std::unexpected(event.error());
    if (event->type == wanted) return {};
    const bool unreachable = event->type == RDMA_CM_EVENT_ADDR_ERROR || event->type == RDMA_CM_EVENT_ROUTE_ERROR ||
                             event->type == RDMA_CM_EVENT_UNREACHABLE;
    return std::unexpected(ConnectFailure{unreachable ? ConnectFailure::Kind::unreachable : ConnectFailure::Kind::error,
                                          what + ": " + rdma_event_str(event->type) + " (status " +
                                              std::to_string(event->status) + ")",
                                          {}});
}

}  // namespace

std::expected<std::unique_ptr<ClientConnection>, ConnectFailure> ClientConnection::connect(
    const std::string& host, std::uint16_t port, std::span<const std::uint8_t> private_data, QueueDepths depths,
    std::chrono::milliseconds timeout) {
    const std::vector<std::uint8_t> bytes(private_data.begin(), private_data.end());
    return connect(host, port, [&bytes](const std::array<std::uint8_t, 16>&) { return bytes; }, depths, timeout);
}

std::expected<std::unique_ptr<ClientConnection>, ConnectFailure> ClientConnection::connect(
    const std::string& host, std::uint16_t port, const PrivateDataBuilder& build_private_data, QueueDepths depths,
    std::chrono::milliseconds timeout) {
    std::unique_ptr<ClientConnection> c(new ClientConnection());
    try {
        c->channel_ = create_event_channel();
        const int flags = ::fcntl(c->channel_->fd, F_GETFL);
        ::fcntl(c->channel_->fd, F_SETFL, flags | O_NONBLOCK);
        CmId id = create_cm_id(c->channel_.get(), nullptr);
        addrinfo hints{};
        hints.ai_flags = AI_NUMERICSERV;
        hints.ai_socktype = SOCK_STREAM;
        addrinfo* info = nullptr;
        const std::string port_text = std::to_string(port);
        if (int rc = ::getaddrinfo(host.c_str(), port_text.c_str(), &hints, &info); rc != 0)
            return std::unexpected(ConnectFailure{ConnectFailure::Kind::unreachable,
                                                  "cannot resolve " + host + ": " + gai_strerror(rc), {}});
        // The kernel gets a part of the time at a time: when it misses the
        // ARP reply's update it looks at the neighbour table again only at
        // its own timeout, so that late answer must still find us waiting,
        // and an ADDR_ERROR with time left is tried again.
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        auto left = [&] {
            return std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        };
        const int kernel_ms = static_cast<int>(std::max<std::int64_t>(100, timeout.count() / 4));
        std::expected<void, ConnectFailure> addressed;
        do {
            if (rdma_resolve_addr(id.get(), nullptr, info->ai_addr, kernel_ms) != 0) {
                const int resolve_errno = errno;
                ::freeaddrinfo(info);
                return std::unexpected(ConnectFailure{ConnectFailure::Kind::unreachable,
                                                      errno_text("rdma_resolve_addr " + host, resolve_errno), {}});
            }
            addressed = expect_event(c->channel_.get(), RDMA_CM_EVENT_ADDR_RESOLVED,
                                     std::max(left(), std::chrono::milliseconds(kernel_ms + 100)), "resolving " + host);
        } while (!addressed && addressed.error().kind == ConnectFailure::Kind::unreachable &&
                 left() > std::chrono::milliseconds(kernel_ms));
        ::freeaddrinfo(info);
        if (!addressed) return std::unexpected(addressed.error());
        if (rdma_resolve_route(id.get(), kernel_ms) != 0)
            return std::unexpected(ConnectFailure{ConnectFailure::Kind::unreachable, errno_text("rdma_resolve_route", errno), {}});
        if (auto e = expect_event(c->channel_.get(), RDMA_CM_EVENT_ROUTE_RESOLVED, timeout, "route to " + host); !e)
            return std::unexpected(e.error());
        c->domain_ = std::make_unique<VerbsDomain>(id->verbs);
        c->notifier_ = std::make_unique<VerbsNotifier>(id->verbs);
        c->connection_ = std::make_unique<VerbsConnection>(std::move(id), *c->domain_, *c->notifier_, depths);
    } catch (const std::system_error& e) {
        return std::unexpected(ConnectFailure{ConnectFailure::Kind::error, e.what(), {}});
    }
    const std::vector<std::uint8_t> private_data = build_private_data(c->local_gid());
    rdma_conn_param param = connection_parameters(c->domain_->context(), private_data);
    if (rdma_connect(c->connection_->cm_id(), &param) != 0)
        return std::unexpected(ConnectFailure{ConnectFailure::Kind::error, errno_text("rdma_connect", errno), {}});
    auto event = next_event(c->channel_.get(), timeout);
    if (!event) return std::unexpected(event.error());
    switch (event->type) {
        case RDMA_CM_EVENT_ESTABLISHED:
            c->accept_data_ = std::move(event->private_data);
            return c;
        case RDMA_CM_EVENT_REJECTED:
            return std::unexpected(ConnectFailure{ConnectFailure::Kind::rejected,
                                                  "connection rejected (status " + std::to_string(event->status) + ")",
                                                  std::move(event->private_data)});
        case RDMA_CM_EVENT_UNREACHABLE:
            return std::unexpected(ConnectFailure{ConnectFailure::Kind::unreachable,
                                                  host + ":" + std::to_string(port) + " is unreachable", {}});
        default:
            return std::unexpected(ConnectFailure{ConnectFailure::Kind::error,
                                                  std::string("connect: ") + rdma_event_str(event->type) + " (status " +
                                                      std::to_string(event->status) + ")",
                                                  {}});
    }
}

ClientConnection::~ClientConnection() {
    if (connection_) connection_->disconnect();
}

std::string ClientConnection::device_name() const { return rdma::device_name(domain_->context()); }

std::array<std::uint8_t, 16> ClientConnection::local_gid() const {
    std::array<std::uint8_t, 16> gid{};
    ibv_gid g{};
    if (ibv_query_gid(domain_->context(), connection_->cm_id()->port_num, 0, &g) == 0) std::memcpy(gid.data(), g.raw, 16);
    return gid;
}

bool ClientConnection::peer_disconnected() {
    if (disconnected_) return true;
    rdma_cm_event* event = nullptr;
    while (rdma_get_cm_event(channel_.get(), &event) == 0) {
        const auto type = event->event;
        rdma_ack_cm_event(event);
        if (type == RDMA_CM_EVENT_DISCONNECTED || type == RDMA_CM_EVENT_DEVICE_REMOVAL) disconnected_ = true;
    }
    return disconnected_;
}

}  // namespace srp::rdma
