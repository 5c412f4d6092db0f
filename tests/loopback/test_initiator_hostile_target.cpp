// The initiator against a malicious target: regressions found by fuzz_initiator
// (tests/fuzz/fuzz_initiator.cpp). Each input is the exact crash input; its
// file is also in tests/fuzz/corpus/fuzz_initiator/.
#include <catch2/catch.hpp>

#include "common/fabric/loopback.h"
#include "srp_initiator/session.h"

using namespace srp;
using namespace srp::initiator;

namespace {

// A connector whose "target" accepts with the given SRP_LOGIN_RSP bytes and never answers.
struct SilentTarget {
    std::shared_ptr<fabric::LoopbackDomain> domain = std::make_shared<fabric::LoopbackDomain>();
    std::unique_ptr<fabric::LoopbackConnection> connection;
    Connector connector(std::vector<std::uint8_t> accept) {
        return [this, accept](const ConnectRequest&) -> std::expected<ConnectedChannel, LoginFailure> {
            auto initiator_domain = std::make_shared<fabric::LoopbackDomain>();
            auto [t, i] = fabric::make_loopback_pair(domain, nullptr, initiator_domain, nullptr);
            connection = std::move(t);
            ConnectedChannel channel;
            channel.connection = i.get();
            channel.domain = initiator_domain.get();
            channel.accept_data = accept;
            channel.description = "hostile";
            struct Owner {
                std::unique_ptr<fabric::LoopbackConnection> connection;
                std::shared_ptr<fabric::LoopbackDomain> domain;
            };
            channel.owner = std::make_shared<Owner>(Owner{std::move(i), std::move(initiator_domain)});
            return channel;
        };
    }
};

}  // namespace

TEST_CASE("a login response with a huge max_ti_iu_len does not size the receive ring", "[loopback][initiator][fuzz]") {
    // fuzz_initiator crash input (tests/fuzz/corpus/fuzz_initiator/crash-login-rsp-huge-max-ti-iu-len):
    // SRP_LOGIN_RSP with 64 credits and max_ti_iu_len 0x7fffffff made the
    // Session allocate 68 x 2 GiB of receive buffers (ASan: out of memory).
    const std::vector<std::uint8_t> accept = {
        0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x40, 0xa1, 0x1f, 0xe0, 0x00, 0x00, 0x00, 0x00, 0x07, 0x00, 0x00,
        0x20, 0x44, 0x7f, 0xff, 0xff, 0xff, 0x00, 0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
    SilentTarget target;
    SessionOptions options;
    options.pool_bytes = 1u << 16;
    auto session = Session::login(target.connector(accept), options);
    REQUIRE(session);
    CHECK((*session)->login_info().credits == 64);
    CHECK((*session)->login_info().max_ti_iu_len == 16384);
    target.connection->disconnect();
}
