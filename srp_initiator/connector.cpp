#include "srp_initiator/connector.h"

#include "common/rdma/cm_client.h"
#include "common/wire/iu_parse.h"

namespace srp::initiator {

Connector verbs_connector(std::string host, std::uint16_t port, std::chrono::milliseconds timeout) {
    return [host = std::move(host), port, timeout](const ConnectRequest& request)
               -> std::expected<ConnectedChannel, LoginFailure> {
        // Both queues as deep as the session asks: a fixed depth would refuse
        // the receive ring of a target granting more credits (up to 4096).
        const rdma::QueueDepths depths{request.receive_queue_depth, request.send_queue_depth, 4};
        auto client = rdma::ClientConnection::connect(host, port, request.login, depths, timeout);
        if (!client) {
            const auto& f = client.error();
            LoginFailure failure;
            failure.message = f.message;
            switch (f.kind) {
                case rdma::ConnectFailure::Kind::unreachable: failure.kind = LoginFailure::Kind::unreachable; break;
                case rdma::ConnectFailure::Kind::timeout: failure.kind = LoginFailure::Kind::timeout; break;
                case rdma::ConnectFailure::Kind::rejected: {
                    failure.kind = LoginFailure::Kind::rejected;
                    if (auto rej = wire::parse_login_rej(f.private_data)) failure.reject_reason = rej->reason.value();
                    break;
                }
                case rdma::ConnectFailure::Kind::error: failure.kind = LoginFailure::Kind::error; break;
            }
            return std::unexpected(failure);
        }
        std::shared_ptr<rdma::ClientConnection> owner = std::move(*client);
        ConnectedChannel c;
        c.connection = &owner->connection();
        c.domain = &owner->domain();
        c.notifier = &owner->notifier();
        c.accept_data = owner->accept_data();
        c.peer_disconnected = [raw = owner.get()] { return raw->peer_disconnected(); };
        c.description = owner->device_name() + " -> " + host + ":" + std::to_string(port);
        c.owner = std::move(owner);
        return c;
    };
}

}  // namespace srp::initiator
