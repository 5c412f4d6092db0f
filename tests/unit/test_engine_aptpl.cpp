// Persistent reservations across a restart (APTPL, SPC-4 5.12.5): the state
// file, restoring it bound to nexus identities, PTPL_C/PTPL_A, corrupt and
// left-over files, and a state directory that cannot be written.
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <fstream>
#include <sstream>

#include "srp_target/scsi/pr_state_file.h"
#include "srp_target/srp/session_registry.h"
#include "tests/unit/engine_fixture.h"

using namespace srp::test;
using srp::scsi::Status;
using srp::target::NexusId;

namespace {

constexpr auto A = Engine::kNexus;
constexpr auto B = Engine::kOtherNexus;
constexpr std::uint8_t kAptpl = 0x01;
constexpr std::uint8_t kRegister = 0, kReserve = 1, kRelease = 2, kRegisterAndIgnore = 6;

EngineResult pr_out(Engine& e, NexusId n, std::uint8_t action, std::uint64_t key, std::uint64_t sa_key,
                    std::uint8_t flags = 0, std::uint8_t type = 0) {
    std::vector<std::uint8_t> p(24, 0);
    srp::wire::store_be<std::uint64_t>(p, 0, key);
    srp::wire::store_be<std::uint64_t>(p, 8, sa_key);
    p[20] = flags;
    return e.run({0x5f, action, type, 0, 0, 0, 0, 0, 0x18, 0}, p, n);
}
std::string pr_in(Engine& e, std::uint8_t action, NexusId n = A) {
    return to_hex(e.run({0x5e, action, 0, 0, 0, 0, 0, 0x01, 0x00, 0}, {}, n).data);
}
const std::vector<std::uint8_t> kWrite = hex("2a 00 00 00 00 00 00 00 01 00");
const std::vector<std::uint8_t> kBlock(512);
const auto kTestUnitReady = hex("00 00 00 00 00 00");

std::string file_text(const std::filesystem::path& path) {
    std::ifstream in(path);
    return {std::istreambuf_iterator<char>(in), {}};
}
void write_file(const std::filesystem::path& path, const std::string& text) { std::ofstream(path) << text; }

// Collects what the engine logs while it lives.
class CapturedLog {
public:
    CapturedLog() : previous_(spdlog::default_logger()) {
        spdlog::set_default_logger(
            std::make_shared<spdlog::logger>("test", std::make_shared<spdlog::sinks::ostream_sink_mt>(stream_)));
    }
    ~CapturedLog() { spdlog::set_default_logger(previous_); }
    CapturedLog(const CapturedLog&) = delete;
    CapturedLog& operator=(const CapturedLog&) = delete;
    std::string text() const { return stream_.str(); }

private:
    std::shared_ptr<spdlog::logger> previous_;
    std::ostringstream stream_;
};

// Nexus 1's identity (engine_fixture.cpp) in the file: TransportID, target port.
const std::string kNexus1Fields = "040000000000000000000000000000000000000000000001 00000000000000000000000000000000";
constexpr NexusId kReturning = 20;  // the id nexus 0x77 gets at its login after the restart

}  // namespace

TEST_CASE("APTPL: registrations and the reservation survive a restart and bind to the returning nexus",
          "[engine][pr][aptpl]") {
    TempDir state;
    const auto file = state.path() / "lu.pr";
    const auto x = nexus_identity(0x77);
    {
        Engine before(512, 2048, false, Medium::from_environment, file);
        before.target.attach_nexus(10, x);
        (void)before.run(kTestUnitReady, {}, 10);  // POWER ON
        REQUIRE(pr_out(before, 10, kRegister, 0, 0xaa, kAptpl).status == Status::good);
        REQUIRE(pr_out(before, B, kRegister, 0, 0xbb, kAptpl).status == Status::good);
        REQUIRE(pr_out(before, 10, kReserve, 0xaa, 0, 0, 1).status == Status::good);  // WRITE EXCLUSIVE
        REQUIRE(std::filesystem::exists(file));
    }
    Engine after(512, 2048, false, Medium::from_environment, file);
    // Before nexus x logs in again, its registration and reservation count:
    // PRGENERATION restarts at zero (SPC-4 6.15.2), keys ordered by identity.
    CHECK(pr_in(after, 0) == "00 00 00 00 00 00 00 10 00 00 00 00 00 00 00 bb 00 00 00 00 00 00 00 aa");
    CHECK(pr_in(after, 1) == "00 00 00 00 00 00 00 10 00 00 00 00 00 00 00 aa 00 00 00 00 00 01 00 00");
    CHECK(after.run(kWrite, kBlock, A).status == Status::reservation_conflict);  // not registered
    CHECK(after.run(kWrite, kBlock, B).status == Status::reservation_conflict);  // registered, not the holder
    CHECK(pr_in(after, 2) == "00 08 11 81 ea 01 00 00");                        // PTPL_C, PTPL_A

    after.target.attach_nexus(kReturning, x);  // a new NexusId under the old name
    CHECK_SENSE(after.run(kTestUnitReady, {}, kReturning), unit_attention, power_on_reset);
    CHECK(after.run(kWrite, kBlock, kReturning).status == Status::good);  // the holder
    CHECK(pr_out(after, kReturning, kRelease, 0xaa, 0, 0, 1).status == Status::good);
    CHECK(after.run(kWrite, kBlock, A).status == Status::good);
}

TEST_CASE("APTPL: the state file format", "[engine][pr][aptpl]") {
    TempDir state;
    const auto file = state.path() / "lu.pr";
    Engine e(512, 2048, false, Medium::from_environment, file);
    REQUIRE(pr_out(e, A, kRegister, 0, 0xaa, kAptpl).status == Status::good);
    CHECK(file_text(file) == "srp_target persistent-reservations 1\nregistration " + kNexus1Fields +
                                 " 00000000000000aa\nend\n");
    // Every later change is stored, whatever the APTPL bit of a RESERVE says
    // (it counts only for the REGISTER actions, SPC-4 6.16.3).
    REQUIRE(pr_out(e, A, kReserve, 0xaa, 0, 0, 3).status == Status::good);
    CHECK(file_text(file) == "srp_target persistent-reservations 1\nregistration " + kNexus1Fields +
                                 " 00000000000000aa\nreservation 3 " + kNexus1Fields + "\nend\n");
    CHECK(pr_in(e, 2) == "00 08 11 81 ea 01 00 00");
}

TEST_CASE("APTPL: an all-registrants reservation survives a restart", "[engine][pr][aptpl]") {
    TempDir state;
    const auto file = state.path() / "lu.pr";
    {
        Engine before(512, 2048, false, Medium::from_environment, file);
        REQUIRE(pr_out(before, A, kRegister, 0, 0xaa, kAptpl).status == Status::good);
        REQUIRE(pr_out(before, A, kReserve, 0xaa, 0, 0, 8).status == Status::good);  // EXCLUSIVE ACCESS, ALL REGISTRANTS
    }
    Engine after(512, 2048, false, Medium::from_environment, file);
    CHECK(pr_in(after, 1, A) == "00 00 00 00 00 00 00 10 00 00 00 00 00 00 00 00 00 00 00 00 00 08 00 00");
    CHECK(after.run(kWrite, kBlock, A).status == Status::good);
    CHECK(after.run(kWrite, kBlock, B).status == Status::reservation_conflict);
}

TEST_CASE("APTPL=0 in a later REGISTER removes the file - a restart then starts empty", "[engine][pr][aptpl]") {
    TempDir state;
    const auto file = state.path() / "lu.pr";
    {
        Engine before(512, 2048, false, Medium::from_environment, file);
        CHECK(pr_in(before, 2) == "00 08 11 80 ea 01 00 00");  // PTPL_C without PTPL_A
        REQUIRE(pr_out(before, A, kRegister, 0, 0xaa, kAptpl).status == Status::good);
        REQUIRE(std::filesystem::exists(file));
        REQUIRE(pr_out(before, A, kRegisterAndIgnore, 0, 0xab).status == Status::good);
        CHECK_FALSE(std::filesystem::exists(file));
        CHECK(pr_in(before, 2) == "00 08 11 80 ea 01 00 00");
        CHECK(pr_in(before, 0) == "00 00 00 02 00 00 00 08 00 00 00 00 00 00 00 ab");  // still registered
    }
    Engine after(512, 2048, false, Medium::from_environment, file);
    CHECK(pr_in(after, 0) == "00 00 00 00 00 00 00 00");
}

TEST_CASE("APTPL: a corrupt file is reported and the unit starts without it", "[engine][pr][aptpl]") {
    TempDir state;
    const auto file = state.path() / "lu.pr";
    write_file(file, "srp_target persistent-reservations 1\nregistration 04 00 zz\nend\n");
    CapturedLog log;
    Engine e(512, 2048, false, Medium::from_environment, file);
    CHECK(log.text().find(file.string()) != std::string::npos);
    CHECK(log.text().find("line 2: malformed registration") != std::string::npos);
    CHECK(pr_in(e, 0) == "00 00 00 00 00 00 00 00");
    CHECK(pr_in(e, 2) == "00 08 11 80 ea 01 00 00");
    CHECK(std::filesystem::exists(file));  // left for the operator
    // Turning APTPL on replaces it.
    REQUIRE(pr_out(e, A, kRegister, 0, 0xaa, kAptpl).status == Status::good);
    CHECK(file_text(file).find("00000000000000aa") != std::string::npos);
}

TEST_CASE("APTPL: a temporary file a crash left behind is ignored", "[engine][pr][aptpl]") {
    TempDir state;
    const auto file = state.path() / "lu.pr";
    {
        Engine before(512, 2048, false, Medium::from_environment, file);
        REQUIRE(pr_out(before, A, kRegister, 0, 0xaa, kAptpl).status == Status::good);
        REQUIRE(pr_out(before, A, kRegister, 0xaa, 0xcc, kAptpl).status == Status::good);
        // Each store renamed its temporary file: only the state file is left.
        std::size_t entries = 0;
        for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator(state.path())) ++entries;
        CHECK(entries == 1);
    }
    // A crash between writing and renaming leaves a half-written temporary file.
    write_file(state.path() / "lu.pr.tmp-Xq81zB", "srp_target persistent-reservations 1\nregistration 04");
    Engine after(512, 2048, false, Medium::from_environment, file);
    CHECK(pr_in(after, 0) == "00 00 00 00 00 00 00 08 00 00 00 00 00 00 00 cc");
}

TEST_CASE("APTPL: when the state cannot be stored, PR OUT fails and nothing changes", "[engine][pr][aptpl]") {
    TempDir state;
    const auto dir = state.path() / "aptpl";
    std::filesystem::create_directory(dir);
    Engine e(512, 2048, false, Medium::from_environment, dir / "lu.pr");
    REQUIRE(pr_out(e, A, kRegister, 0, 0xaa, kAptpl).status == Status::good);
    // The directory is replaced by a file: no temporary file can be made
    // there (a mode change would not stop root).
    std::filesystem::remove_all(dir);
    write_file(dir, "not a directory");
    CapturedLog log;

    CHECK_SENSE(pr_out(e, A, kReserve, 0xaa, 0, 0, 1), hardware_error, internal_target_failure);
    CHECK(pr_in(e, 1) == "00 00 00 01 00 00 00 00");  // no reservation
    CHECK(e.run(kWrite, kBlock, B).status == Status::good);
    CHECK_SENSE(pr_out(e, A, kRegisterAndIgnore, 0, 0xcc, kAptpl), illegal_request,
                insufficient_registration_resources);
    CHECK_SENSE(pr_out(e, B, kRegister, 0, 0xbb, kAptpl), illegal_request, insufficient_registration_resources);
    // Turning APTPL off must remove the file: that fails too, and APTPL stays on.
    CHECK_SENSE(pr_out(e, A, kRegister, 0xaa, 0xaa), illegal_request, insufficient_registration_resources);
    CHECK(pr_in(e, 0) == "00 00 00 01 00 00 00 08 00 00 00 00 00 00 00 aa");  // generation and key as before
    CHECK(pr_in(e, 2) == "00 08 11 81 ea 01 00 00");
    CHECK(log.text().find((dir / "lu.pr").string()) != std::string::npos);

    std::filesystem::remove(dir);
    std::filesystem::create_directory(dir);
    CHECK(pr_out(e, A, kReserve, 0xaa, 0, 0, 1).status == Status::good);
    CHECK(e.run(kWrite, kBlock, B).status == Status::reservation_conflict);
    CHECK(std::filesystem::exists(dir / "lu.pr"));
}

TEST_CASE("APTPL: the bit of a non-REGISTER action is ignored, even without a state file", "[engine][pr][aptpl]") {
    Engine e;  // no state file: APTPL=1 on REGISTER is refused (see test_engine_reservations.cpp)
    REQUIRE(pr_out(e, A, kRegister, 0, 0xaa).status == Status::good);
    CHECK(pr_out(e, A, kReserve, 0xaa, 0, kAptpl, 1).status == Status::good);
    CHECK(pr_in(e, 2) == "00 08 10 80 ea 01 00 00");
}

TEST_CASE("PR state file: cut short, inconsistent or foreign text is refused", "[aptpl]") {
    const std::string head = "srp_target persistent-reservations 1\n";
    const std::string reg = "registration 0401 0000 00000000000000aa\n";
    CHECK(srp::target::parse_pr_state(head + reg + "end\n").has_value());
    for (const std::string& bad : {
             std::string(""),
             head + reg,                                                  // no "end": cut short
             head + reg + "end",                                          // no final newline
             "srp_target persistent-reservations 2\n" + reg + "end\n",    // another version
             head + reg + reg + "end\n",                                  // one nexus twice
             head + "registration 0401 0000 aa\nend\n",                   // short key
             head + "registration 0401 0000 00000000000000AA\nend\n",     // upper case
             head + reg + "reservation 1 0402 0000\nend\n",               // holder not registered
             head + reg + "reservation 2 0401 0000\nend\n",               // invalid type
             head + reg + "reservation 7 0401 0000\nend\n",               // all-registrants with a holder
             head + "reservation 8 all-registrants\nend\n",               // ... without registrants
             head + reg + "reservation 1 all-registrants\nend\n",         // a holder type without one
             head + reg + "end\nregistration 0402 0000 00000000000000bb\n",  // text after end
             head + "registration  0401 0000 00000000000000aa\nend\n",    // empty field
         }) {
        CAPTURE(bad);
        CHECK_FALSE(srp::target::parse_pr_state(bad).has_value());
    }
}

TEST_CASE("registry: the SRP front end names a nexus by its TransportID and target port", "[registry][aptpl]") {
    TempDir state;
    const auto file = state.path() / "lu.pr";
    Engine e(512, 2048, false, Medium::from_environment, file);
    srp::target::SessionRegistry registry(e.target);
    srp::wire::PortId initiator{}, target_port{};
    initiator[0] = 0xfe;
    initiator[15] = 0x07;
    target_port[15] = 0x42;
    auto control = std::make_shared<srp::target::ChannelControl>(nullptr);
    const auto attached = registry.attach(initiator, target_port, control, true);
    (void)e.run(kTestUnitReady, {}, attached.nexus);
    REQUIRE(pr_out(e, attached.nexus, kRegister, 0, 0x1234, kAptpl).status == Status::good);
    // SPC-4 7.6.4: PROTOCOL IDENTIFIER 4h (SRP), reserved bytes 1-7, then the initiator port identifier.
    CHECK(file_text(file).find("registration 0400000000000000fe000000000000000000000000000007 "
                               "00000000000000000000000000000042 0000000000001234\n") != std::string::npos);
}
