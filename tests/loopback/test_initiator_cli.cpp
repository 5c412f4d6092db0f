// The srp_initiator library and every CLI subcommand against our target,
// served by a real poller thread over the loopback fabric.
#include <atomic>
#include <catch2/catch.hpp>
#include <fstream>
#include <sstream>
#include <thread>

#include "common/scsi/cdb.h"
#include "common/wire/port_id.h"
#include "srp_initiator/cli/cli.h"
#include "tests/loopback/loopback_server.h"

using namespace srp;
using namespace srp::initiator;
using srp::test::LoopbackServer;

namespace {

struct Cli {
    std::ostringstream out, err;
    int rc = -1;
};

// The CLI's own option parsing of a full argument vector (argv[0] included).
auto parse(const std::vector<std::string>& args, std::ostream& out, std::ostream& err, bool& help) {
    std::vector<const char*> argv;
    for (const auto& a : args) argv.push_back(a.c_str());
    return cli::parse_options(static_cast<int>(argv.size()), argv.data(), out, err, help);
}

// Parses the arguments as the CLI does, logs in over the loopback server, runs the command.
Cli run(LoopbackServer& server, std::vector<std::string> args) {
    args.insert(args.begin(), "srp_initiator");
    args.insert(args.end(), {"--address", "127.0.0.1", "--id-ext", "1122334455667788", "--no-progress"});
    Cli c;
    bool help = false;
    auto options = parse(args, c.out, c.err, help);
    if (!options) {
        c.rc = help ? cli::kExitOk : cli::kExitUsage;
        return c;
    }
    options->session.pool_bytes = 8u << 20;
    auto session = Session::login(server.connector(), options->session);
    if (!session) {
        c.rc = cli::report_login_failure(session.error(), c.err);
        return c;
    }
    c.rc = cli::run_command(**session, *options, c.out, c.err);
    return c;
}

}  // namespace

TEST_CASE("cli login prints the negotiated parameters of every channel", "[loopback][cli]") {
    LoopbackServer server;
    auto c = run(server, {"login", "--channels", "2"});
    REQUIRE(c.rc == 0);
    CHECK(c.out.str().find("channel 1: loopback") != std::string::npos);
    CHECK(c.out.str().find("credits            32") != std::string::npos);
    CHECK(c.out.str().find("immediate data     granted") != std::string::npos);
    CHECK(c.out.str().find("existing channels maintained") != std::string::npos);
}

TEST_CASE("cli login --json", "[loopback][cli]") {
    LoopbackServer server;
    auto c = run(server, {"login", "--json", "--no-immediate"});
    REQUIRE(c.rc == 0);
    CHECK(c.out.str().find("\"credits\":32") != std::string::npos);
    CHECK(c.out.str().find("\"immediate_data\":false") != std::string::npos);
}

TEST_CASE("cli JSON strings: quote, backslash and control characters escaped", "[cli]") {
    CHECK(srp::initiator::cli::json_string("rxe0 10.0.2.15:5555") == "\"rxe0 10.0.2.15:5555\"");
    CHECK(srp::initiator::cli::json_string("a \"quoted\" C:\\path\n\t\x01" "end") == "\"a \\\"quoted\\\" C:\\\\path\\n\\t\\u0001end\"");
    CHECK(srp::initiator::cli::json_string("") == "\"\"");
}

TEST_CASE("cli login rejected: the reason in words and exit code 4", "[loopback][cli]") {
    LoopbackServer server;
    std::vector<std::string> args = {"srp_initiator", "login", "--address", "x", "--id-ext", "0000000000000001"};
    std::ostringstream out, err;
    bool help = false;
    auto options = parse(args, out, err, help);
    REQUIRE(options);
    auto session = Session::login(server.connector(), options->session);
    REQUIRE_FALSE(session);
    CHECK(cli::report_login_failure(session.error(), err) == cli::kExitRejected);
    CHECK(err.str() == "srp_initiator: login rejected with reason 0x00010003: unable to associate RDMA channel with "
                       "specified I_T nexus\n");
}

TEST_CASE("cli inquiry decodes standard data and every VPD page", "[loopback][cli]") {
    LoopbackServer server;
    auto c = run(server, {"inquiry"});
    REQUIRE(c.rc == 0);
    CHECK(c.out.str().find("vendor             SRPTGT") != std::string::npos);
    auto all = run(server, {"inquiry", "--vpd", "all"});
    REQUIRE(all.rc == 0);
    CHECK(all.out.str().find("VPD 0x80 unit serial number: LOOPBACK0001") != std::string::npos);
    CHECK(all.out.str().find("T10 vendor id: SRPTGT  LOOPBACK0001") != std::string::npos);
    CHECK(all.out.str().find("maximum transfer length           16384 blocks") != std::string::npos);
    CHECK(all.out.str().find("rotation rate non-rotating medium") != std::string::npos);
    CHECK(all.out.str().find("provisioning type full") != std::string::npos);
}

TEST_CASE("cli inquiry of an unsupported VPD page: CHECK CONDITION decoded, exit 5", "[loopback][cli]") {
    LoopbackServer server;
    auto c = run(server, {"inquiry", "--vpd", "0x86"});
    CHECK(c.rc == cli::kExitScsiError);
    CHECK(c.err.str().find("ILLEGAL REQUEST: INVALID FIELD IN CDB (0x24/0x00)") != std::string::npos);
}

TEST_CASE("cli readcap, luns, tur, sync", "[loopback][cli]") {
    LoopbackServer server;
    auto cap = run(server, {"readcap", "--json"});
    REQUIRE(cap.rc == 0);
    CHECK(cap.out.str() == "{\"blocks\":16384,\"block_size\":512,\"bytes\":8388608,\"thin_provisioned\":false}\n");
    auto luns = run(server, {"luns"});
    CHECK(luns.rc == 0);
    CHECK(luns.out.str() == "1 LUN(s)\n  0\n");
    CHECK(run(server, {"tur"}).rc == 0);
    CHECK(run(server, {"sync"}).out.str() == "LUN 0 synchronized\n");
}

TEST_CASE("cli on a LUN that does not exist: LOGICAL UNIT NOT SUPPORTED", "[loopback][cli]") {
    LoopbackServer server;
    auto c = run(server, {"tur", "--lun", "3"});
    CHECK(c.rc == cli::kExitScsiError);
    CHECK(c.err.str().find("LOGICAL UNIT NOT SUPPORTED") != std::string::npos);
}

TEST_CASE("cli write then read a file through the target", "[loopback][cli]") {
    LoopbackServer server;
    srp::test::TempDir dir;
    std::vector<char> data(40960);
    for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 7);
    std::ofstream(dir.file("in"), std::ios::binary).write(data.data(), static_cast<std::streamsize>(data.size()));
    auto w = run(server, {"write", "--offset", "8192", "-f", dir.file("in"), "--transfer", "4k"});
    REQUIRE(w.rc == 0);
    CHECK(std::equal(data.begin(), data.end(), server.medium().begin() + 8192,
                     [](char a, std::uint8_t b) { return static_cast<std::uint8_t>(a) == b; }));
    auto r = run(server, {"read", "--offset", "8192", "--length", "40960", "-f", dir.file("out")});
    REQUIRE(r.rc == 0);
    std::ifstream back(dir.file("out"), std::ios::binary);
    std::vector<char> got((std::istreambuf_iterator<char>(back)), std::istreambuf_iterator<char>());
    CHECK(got == data);
}

TEST_CASE("cli read to stdout", "[loopback][cli]") {
    LoopbackServer server;
    std::fill_n(server.medium().begin(), 512, std::uint8_t{'A'});
    auto r = run(server, {"read", "--length", "512"});
    REQUIRE(r.rc == 0);
    CHECK(r.out.str() == std::string(512, 'A'));
}

TEST_CASE("cli read and write refuse unaligned or out-of-range requests", "[loopback][cli]") {
    LoopbackServer server;
    CHECK(run(server, {"read", "--offset", "100", "--length", "512"}).rc == cli::kExitUsage);
    CHECK(run(server, {"read", "--offset", "8M", "--length", "512"}).rc == cli::kExitUsage);
    CHECK(run(server, {"write", "-f", "/nonexistent/file"}).rc == cli::kExitLocalIo);
}

TEST_CASE("cli verify over the whole LUN with transfers from 512 bytes to 1 MiB", "[loopback][cli]") {
    LoopbackServer server(2u << 20);
    for (std::string t : {"512", "4k", "64k", "1M"}) {
        auto c = run(server, {"verify", "--transfer", t, "--channels", "2"});
        CHECK(c.rc == 0);
        CHECK(c.out.str().find("verified 2097152 bytes") != std::string::npos);
    }
}

TEST_CASE("cli verify with indirect, external and direct descriptors", "[loopback][cli]") {
    LoopbackServer server(1u << 20);
    for (std::string mode : {"indirect", "external", "direct"}) {
        auto c = run(server, {"verify", "--transfer", "64k", "--descriptors", mode});
        CHECK(c.rc == 0);
    }
    CHECK(server.stats.external_tables > 0);
    CHECK(server.stats.immediate_commands == 0);
}

TEST_CASE("cli verify uses immediate data for small writes when granted", "[loopback][cli]") {
    LoopbackServer server(1u << 20);
    CHECK(run(server, {"verify", "--transfer", "4k", "--length", "64k"}).rc == 0);
    CHECK(server.stats.immediate_commands == 16);
}

TEST_CASE("cli verify and bench on an io_uring LUN served by a real poller (it sleeps on the ring's eventfd)",
          "[loopback][cli][medium]") {
    LoopbackServer server(2u << 20, true, {}, target::BackstoreAccess::automatic);
    for (std::string t : {"512", "4k", "64k", "1M"}) {
        auto c = run(server, {"verify", "--transfer", t, "--channels", "2"});
        CHECK(c.rc == 0);
        CHECK(c.out.str().find("verified 2097152 bytes") != std::string::npos);
    }
    for (std::string mode : {"indirect", "external"})
        CHECK(run(server, {"verify", "--transfer", "64k", "--descriptors", mode}).rc == 0);
    for (std::string mode : {"randread", "randwrite", "randrw"})
        CHECK(run(server, {"bench", "--mode", mode, "--ops", "400", "--qd", "16", "--json"}).rc == 0);
    CHECK(server.stats.immediate_commands > 0);
}

TEST_CASE("cli verify through the target's bounce buffers", "[loopback][cli]") {
    LoopbackServer server(1u << 20, false);
    CHECK(run(server, {"verify", "--transfer", "256k"}).rc == 0);
    CHECK(server.stats.bounce_commands > 0);
}

TEST_CASE("cli bench: every mode, JSON with IOPS and percentiles", "[loopback][cli]") {
    LoopbackServer server(4u << 20);
    for (std::string mode : {"read", "write", "randread", "randwrite", "randrw"}) {
        auto c = run(server, {"bench", "--mode", mode, "--ops", "400", "--qd", "8", "--json", "--channels", "2"});
        REQUIRE(c.rc == 0);
        CHECK(c.out.str().find("\"ops\":400") != std::string::npos);
        CHECK(c.out.str().find("\"errors\":0") != std::string::npos);
        CHECK(c.out.str().find("\"p99_9\":") != std::string::npos);
    }
}

TEST_CASE("cli bench --threads: one channel per thread, counts merged", "[loopback][cli]") {
    LoopbackServer server(4u << 20);
    for (std::string mode : {"randread", "randrw"}) {
        auto c = run(server, {"bench", "--mode", mode, "--ops", "400", "--qd", "8", "--json", "--threads", "2"});
        REQUIRE(c.rc == 0);
        CHECK(c.out.str().find("\"ops\":400") != std::string::npos);
        CHECK(c.out.str().find("\"errors\":0") != std::string::npos);
        CHECK(c.out.str().find("\"threads\":2,\"channels\":2") != std::string::npos);
    }
    auto timed = run(server, {"bench", "--runtime", "0.3", "--threads", "3", "--qd", "4"});
    REQUIRE(timed.rc == 0);
    CHECK(timed.out.str().find("threads=3 channels=3: ") != std::string::npos);
    CHECK(run(server, {"bench", "--threads", "0"}).rc == cli::kExitUsage);
}

TEST_CASE("cli bench text output", "[loopback][cli]") {
    LoopbackServer server(4u << 20);
    auto c = run(server, {"bench", "--mode", "randread", "--runtime", "0.3", "--bs", "8k"});
    REQUIRE(c.rc == 0);
    CHECK(c.out.str().find("randread bs=8192 qd=32 threads=1 channels=1: ") == 0);
    CHECK(c.out.str().find("latency us: p50 ") != std::string::npos);
}

TEST_CASE("cli argument errors exit 2 with a message", "[loopback][cli]") {
    LoopbackServer server;
    CHECK(run(server, {"frobnicate"}).err.str().find("unknown command 'frobnicate'") != std::string::npos);
    CHECK(run(server, {"bench", "--mode", "sideways"}).rc == cli::kExitUsage);
    CHECK(run(server, {"bench", "--bs", "1000"}).rc == cli::kExitUsage);  // not a multiple of 512
    CHECK(run(server, {"read", "--descriptors", "magic"}).rc == cli::kExitUsage);
    CHECK(run(server, {"login", "--initiator-id", "12"}).rc == cli::kExitUsage);
    CHECK(run(server, {"login", "--initiator-ext", "xyz"}).rc == cli::kExitUsage);
    CHECK(run(server, {"login", "--initiator-ext", "1", "--initiator-id", "0123456789abcdef0123456789abcdef"}).rc ==
          cli::kExitUsage);
    CHECK(run(server, {"login", "--queue-depth", "8192"}).rc == cli::kExitUsage);
}

TEST_CASE("cli login --initiator-ext: port id = initiator_ext || the port GID's interface id", "[loopback][cli]") {
    LoopbackServer server;
    auto c = run(server, {"login", "--initiator-ext", "0123456789abcdef"});
    REQUIRE(c.rc == 0);
    wire::PortId expected{0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef};
    std::copy(server.initiator_gid.begin() + 8, server.initiator_gid.end(), expected.begin() + 8);
    CHECK(c.out.str().find("initiator port id  " + wire::format_port_id(expected)) != std::string::npos);
}

TEST_CASE("session: task management functions answered by our target", "[loopback][session]") {
    LoopbackServer server;
    SessionOptions o;
    o.id_ext = o.ioc_guid = LoopbackServer::kTargetGuid;
    auto s = Session::login(server.connector(), o);
    REQUIRE(s);
    CHECK((*s)->task_management(0, wire::TaskManagementFunction::abort_task, 12345) == std::uint8_t{0});
    CHECK((*s)->task_management(0, wire::TaskManagementFunction::logical_unit_reset) == std::uint8_t{0});
    CHECK((*s)->task_management(0, static_cast<wire::TaskManagementFunction>(0x80)) == std::uint8_t{4});
    CHECK((*s)->task_management(9, wire::TaskManagementFunction::abort_task_set) == std::uint8_t{5});
}

TEST_CASE("session: credits are never exceeded under a deep queue", "[loopback][session]") {
    LoopbackServer server(4u << 20);
    SessionOptions o;
    o.id_ext = o.ioc_guid = LoopbackServer::kTargetGuid;
    o.pool_bytes = 4u << 20;
    auto s = Session::login(server.connector(), o);
    REQUIRE(s);
    auto& session = **s;
    const std::uint8_t tur[6] = {};
    REQUIRE(session.execute(0, tur, Direction::none, {}).good());  // clears the power-on unit attention
    std::vector<std::span<std::uint8_t>> buffers;
    for (int i = 0; i < 64; ++i) buffers.push_back(*session.allocate(4096));
    int completed = 0, good = 0, accepted = 0;
    for (auto& b : buffers) {
        const auto cdb = scsi::make_rw16(scsi::op::kRead16, 0, 8);
        if (session.submit(0, cdb, Direction::from_target, b, [&](const CommandResult& r) {
                ++completed;
                good += r.good();
            }))
            ++accepted;
    }
    CHECK(accepted == 31);  // 32 credits, one kept for task management
    for (int i = 0; i < 100 && completed < accepted; ++i) session.wait(std::chrono::milliseconds(100));
    CHECK(good == accepted);
    CHECK(session.outstanding() == 0);
    CHECK(session.can_submit());  // every credit came back
}

TEST_CASE("session: a command whose timeout expires completes exactly once", "[loopback][session]") {
    // With a 0 ms timeout the ABORT TASK races the response; either way the
    // command must complete exactly once and every slot must come back.
    LoopbackServer server;
    SessionOptions o;
    o.id_ext = o.ioc_guid = LoopbackServer::kTargetGuid;
    o.command_timeout = std::chrono::milliseconds(0);
    auto s = Session::login(server.connector(), o);
    REQUIRE(s);
    int calls = 0;
    auto buffer = *(*s)->allocate(512);
    const auto cdb = scsi::make_rw16(scsi::op::kRead16, 0, 1);
    REQUIRE((*s)->submit(0, cdb, Direction::from_target, buffer, [&](const CommandResult&) { ++calls; }));
    for (int i = 0; i < 100 && (*s)->outstanding() > 0; ++i) (*s)->wait(std::chrono::milliseconds(10));
    CHECK(calls == 1);
    CHECK((*s)->outstanding() == 0);
}

TEST_CASE("session: reconnect after the target dropped the channel", "[loopback][session]") {
    LoopbackServer server;
    SessionOptions o;
    o.id_ext = o.ioc_guid = LoopbackServer::kTargetGuid;
    auto s = Session::login(server.connector(), o);
    REQUIRE(s);
    auto& session = **s;
    // A second SINGLE login of the same nexus terminates our channel (SRP r16a 6.2.2).
    auto intruder = Session::login(server.connector(), o);
    REQUIRE(intruder);
    for (int i = 0; i < 100 && session.connected(); ++i) session.wait(std::chrono::milliseconds(10));
    const std::uint8_t tur[6] = {};
    CHECK(session.execute(0, tur, Direction::none, {}).transport_error);
    REQUIRE(session.reconnect().has_value());
    CHECK(session.execute(0, tur, Direction::none, {}).good());
}

TEST_CASE("cli bench: a channel lost mid-run; the other channel's commands end before bench returns",
          "[loopback][cli]") {
    // Before: bench returned as soon as the session was no longer connected,
    // while the surviving channel still had commands in flight; their
    // callbacks ran at logout and wrote into bench's finished stack frame.
    LoopbackServer server;
    auto lost = std::make_shared<std::atomic<bool>>(false);
    int logins = 0;
    Connector connector = [inner = server.connector(), lost, &logins](const ConnectRequest& request)
        -> std::expected<ConnectedChannel, LoginFailure> {
        auto channel = inner(request);
        if (channel && logins++ == 1) {  // the second channel: the target "disconnects" it
            channel->peer_disconnected = [lost, original = std::move(channel->peer_disconnected)] {
                return lost->load() || (original && original());
            };
        }
        return channel;
    };
    std::vector<std::string> args{"srp_initiator", "bench",     "--mode",      "randrw", "--runtime",
                                  "5",             "--qd",      "32",          "-c",     "2",
                                  "--address",     "127.0.0.1", "--id-ext",    "1122334455667788",
                                  "--no-progress"};
    std::ostringstream out, err;
    bool help = false;
    auto options = parse(args, out, err, help);
    REQUIRE(options);
    options->session.pool_bytes = 8u << 20;
    auto session = Session::login(connector, options->session);
    REQUIRE(session);
    std::thread drop([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
        lost->store(true);
    });
    const int rc = cli::run_command(**session, *options, out, err);
    drop.join();
    CHECK(rc == cli::kExitTransport);
    CHECK(err.str().find("connection lost during the benchmark") != std::string::npos);
    CHECK((*session)->outstanding() == 0);  // nothing left to call back into bench
}
