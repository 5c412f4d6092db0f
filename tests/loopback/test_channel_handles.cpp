// ChannelHandle: one thread per channel of one Session, no lock on the I/O
// path; recovery of a timed-out command stays on its channel.
#include <catch2/catch.hpp>
#include <thread>

#include "common/scsi/cdb.h"
#include "srp_initiator/session.h"
#include "tests/loopback/loopback_server.h"
#include "tests/loopback/scripted_target.h"

using namespace srp;
using namespace srp::initiator;

TEST_CASE("channel handles: two threads write and read back their own regions concurrently",
          "[loopback][session][threads]") {
    test::LoopbackServer server(4u << 20);
    SessionOptions o;
    o.id_ext = o.ioc_guid = test::LoopbackServer::kTargetGuid;
    o.channels = 2;
    o.pool_bytes = 4u << 20;
    auto s = Session::login(server.connector(), o);
    REQUIRE(s);
    auto& session = **s;
    const std::uint8_t tur[6] = {};
    REQUIRE(session.execute(0, tur, Direction::none, {}).good());  // clears the power-on unit attention
    constexpr int kDepth = 8, kRounds = 50;
    std::vector<std::vector<std::span<std::uint8_t>>> buffers(2);
    for (auto& per_thread : buffers)
        for (int i = 0; i < kDepth; ++i) per_thread.push_back(*session.allocate(4096));
    std::vector<ChannelHandle> handles{session.channel_handle(0), session.channel_handle(1)};
    std::atomic<int> failures{0};
    auto worker = [&](int t) {
        auto& h = handles[static_cast<std::size_t>(t)];
        for (int round = 0; round < kRounds; ++round) {
            for (int write = 1; write >= 0; --write) {
                int done = 0;
                h.begin_batch();
                for (int i = 0; i < kDepth; ++i) {
                    auto& b = buffers[static_cast<std::size_t>(t)][static_cast<std::size_t>(i)];
                    const std::uint64_t lba = static_cast<std::uint64_t>(t * 512 + i * 8);
                    if (write) std::fill(b.begin(), b.end(), static_cast<std::uint8_t>(t * 100 + round + i));
                    else std::fill(b.begin(), b.end(), 0);
                    const auto cdb = scsi::make_rw16(write ? scsi::op::kWrite16 : scsi::op::kRead16, lba, 8);
                    auto tag = h.submit(0, cdb, write ? Direction::to_target : Direction::from_target, b,
                                        [&](const CommandResult& r) {
                                            ++done;
                                            if (!r.good()) ++failures;
                                        });
                    if (!tag) ++failures, ++done;
                }
                h.end_batch();
                for (int spin = 0; done < kDepth && spin < 2000; ++spin) h.wait(std::chrono::milliseconds(5));
                if (done < kDepth) ++failures;
            }
            for (int i = 0; i < kDepth; ++i) {
                const auto& b = buffers[static_cast<std::size_t>(t)][static_cast<std::size_t>(i)];
                const auto expected = static_cast<std::uint8_t>(t * 100 + round + i);
                if (!std::all_of(b.begin(), b.end(), [&](std::uint8_t v) { return v == expected; })) ++failures;
            }
        }
    };
    std::thread a(worker, 0), b(worker, 1);
    a.join();
    b.join();
    CHECK(failures == 0);
    CHECK(handles[0].outstanding() == 0);
    CHECK(handles[1].outstanding() == 0);
    for (auto& per_thread : buffers)
        for (auto buffer : per_thread) session.release(buffer);
}

TEST_CASE("channel handles: a silent channel escalates to a new login of that channel only",
          "[loopback][session][threads]") {
    test::ScriptedTarget target;
    SessionOptions o;
    o.channels = 2;
    o.command_timeout = std::chrono::milliseconds(30);
    o.tmf_timeout = std::chrono::milliseconds(30);
    o.pool_bytes = 1u << 20;
    auto s = Session::login(target.connector(), o);
    REQUIRE(s);
    auto& session = **s;
    auto h0 = session.channel_handle(0), h1 = session.channel_handle(1);
    auto b = *session.allocate(4096);
    std::optional<CommandResult> result;
    const auto cdb = scsi::make_rw16(scsi::op::kRead16, 0, 8);
    REQUIRE(h1.submit(0, cdb, Direction::from_target, b, [&](const CommandResult& r) { result = r; }));
    for (int i = 0; i < 400 && !result; ++i) h1.wait(std::chrono::milliseconds(5));
    REQUIRE(result);
    CHECK(result->timed_out);
    CHECK(target.logins() == 3);  // two channels, then channel 1 again
    auto relogin = wire::parse_login_req_rdma(target.login_requests.back());
    REQUIRE(relogin);
    CHECK((relogin->req_flags & 0x03) == wire::kMultiChannelMulti);  // joins the nexus channel 0 keeps
    CHECK(h0.connected());
    CHECK(h1.connected());
    // Channel 0 still works: a command answered by hand.
    std::optional<CommandResult> ok;
    REQUIRE(h0.submit(0, cdb, Direction::from_target, b, [&](const CommandResult& r) { ok = r; }));
    for (auto& iu : target.receive())
        if (iu.opcode == wire::Opcode::cmd && iu.channel == 0) target.respond(iu);
    for (int i = 0; i < 100 && !ok; ++i) h0.wait(std::chrono::milliseconds(5));
    REQUIRE(ok);
    CHECK(ok->good());
}
