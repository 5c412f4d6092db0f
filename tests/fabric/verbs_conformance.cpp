// The fabric conformance suite on rdma-core verbs over a real RDMA device:
// a listener and a client in one process, connected through RDMA/CM.
// usage: verbs_conformance <local IP of an RDMA device> [port]
#include <atomic>
#include <cstdio>
#include <thread>

#include "common/rdma/cm.h"
#include "common/rdma/cm_client.h"
#include "tests/fabric/conformance.h"

using namespace srp;
using namespace srp::test::conformance;

namespace {

std::string g_address;
std::uint16_t g_port = 5600;

Pair verbs_pair(const PairOptions& options) {
    struct Owner {
        std::unique_ptr<rdma::DeviceList> devices;
        std::unique_ptr<rdma::CmListener> listener;
        std::unique_ptr<rdma::VerbsConnection> server;
        std::unique_ptr<rdma::ClientConnection> client;
    };
    auto owner = std::make_shared<Owner>();
    owner->devices = std::make_unique<rdma::DeviceList>(1);
    owner->listener = std::make_unique<rdma::CmListener>(
        *owner->devices,
        rdma::CmListener::Handlers{[&](rdma::ConnectRequest& request) {
                                       // The server's CQs are laid out as the target's, the
                                       // client's as the initiator's (one shared CQ).
                                       rdma::QueueDepths server_depths{64, 64, 4};
                                       server_depths.separate_send_cq = true;
                                       owner->server = request.create_connection(0, server_depths, 1);
                                       const std::uint8_t accept[4] = {1, 2, 3, 4};
                                       request.accept(*owner->server, accept);
                                   },
                                   [](std::uint64_t, rdma::CmEvent) {}});
    const std::uint16_t port = g_port++;
    owner->listener->listen(g_address, port);
    std::atomic<bool> done{false};
    std::thread serve([&] {
        while (!done) {
            owner->listener->process_events();
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
    });
    const std::uint8_t hello[8] = {'c', 'o', 'n', 'f', 'o', 'r', 'm', 0};
    rdma::QueueDepths client_depths{64, 64, 4};
    if (options.short_send_queue) client_depths.test_only_qp_send_wr = kShortSendQueue;
    if (options.no_inline_room) client_depths.test_only_inline_bytes = 1u << 30;
    auto client = rdma::ClientConnection::connect(g_address, port, hello, client_depths,
                                                  std::chrono::milliseconds(5000));
    for (int i = 0; i < 500 && !owner->server; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    done = true;
    serve.join();
    if (!client || !owner->server) {
        std::fprintf(stderr, "verbs pair: %s\n", client ? "server side missing" : client.error().message.c_str());
        std::exit(2);
    }
    owner->client = std::move(*client);
    return Pair{&owner->client->connection(), &owner->client->domain(), owner->server.get(),
                &owner->devices->devices().front()->domain(), owner, client_depths.send,
                owner->client->connection().max_inline_send()};
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: verbs_conformance <local IP of an RDMA device> [first port]\n");
        return 2;
    }
    g_address = argv[1];
    if (argc > 2) g_port = static_cast<std::uint16_t>(std::stoi(argv[2]));
    int failures = 0;
    for (const auto& check : kChecks) {
        const std::string problem = check.run(verbs_pair);
        std::printf("%s: %s%s\n", problem.empty() ? "ok" : "FAIL", check.name, problem.empty() ? "" : (" -- " + problem).c_str());
        failures += !problem.empty();
    }
    std::printf("%d of %zu conformance checks passed on verbs\n", static_cast<int>(std::size(kChecks)) - failures,
                std::size(kChecks));
    return failures == 0 ? 0 : 1;
}
