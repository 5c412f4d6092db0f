// One login arriving at the target, as the channel acceptor sees it: the
// RDMA/CM connect request in the daemon, an in-memory peer in tests.
//
// Ownership contract (house rule 13: ownership moves only once nothing else
// can throw): the request owns its connection handle (the rdma_cm_id) until
// accept() succeeds. A connection made by create_connection() only borrows
// it, so a failure anywhere before the accept (queue creation, the
// channel's registrations, posting its receives) unwinds without touching
// the handle, and reject() still runs on a live one.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "common/fabric/connection.h"

namespace srp::target {

struct ChannelQueueDepths {
    std::uint32_t send = 0;     // work requests in the send queue
    std::uint32_t receive = 0;  // posted receives (the credit limit)
    std::uint32_t max_sge = 0;  // scatter/gather entries per work request
};

enum class ConnectionEvent { established, disconnected, device_removal, error };

class IncomingLogin {
public:
    virtual ~IncomingLogin() = default;
    virtual std::span<const std::uint8_t> private_data() const = 0;
    virtual std::string source_address() const = 0;
    virtual std::string device_name() const = 0;
    // Where the channel registers its memory.
    virtual fabric::MemoryDomain& domain() = 0;
    // Creates the queue pair and completion queue bound to the poller's
    // notifier; token names the connection in later events. Throws.
    virtual std::unique_ptr<fabric::Connection> create_connection(std::size_t poller, ChannelQueueDepths depths,
                                                                  std::uint64_t token) = 0;
    // Accepts with the SRP_LOGIN_RSP; on success the connection (which must
    // come from create_connection) owns the handle. errno-style result.
    virtual int accept(fabric::Connection& connection, std::span<const std::uint8_t> login_response) = 0;
    virtual void reject(std::span<const std::uint8_t> login_reject) noexcept = 0;
};

}  // namespace srp::target
