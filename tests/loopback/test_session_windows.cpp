// Issue 11, late RDMA into reused buffers: with memory windows, a target's
// RDMA under a key from a command that has ended fails with a remote access
// error, and a window reaches only its command's buffer, in the one
// direction the command needs. The loopback domain models type-2 windows as
// a verbs device checks them (IBTA 10.6.7.2).
#include <algorithm>
#include <catch2/catch.hpp>

#include "common/scsi/cdb.h"
#include "srp_initiator/session.h"
#include "tests/loopback/scripted_target.h"

using namespace srp;
using namespace srp::initiator;
using srp::test::ScriptedTarget;
using fabric::CompletionStatus;

namespace {

SessionOptions window_options() {
    SessionOptions o;
    o.memory_windows = true;
    o.command_timeout = std::chrono::milliseconds(2000);
    o.pool_bytes = 1u << 20;
    o.descriptors = DescriptorMode::direct;  // writes name their buffer too (no immediate data)
    return o;
}

std::vector<ScriptedTarget::Iu> commands(ScriptedTarget& target) {
    std::vector<ScriptedTarget::Iu> out;
    for (auto& iu : target.receive())
        if (iu.opcode == wire::Opcode::cmd) out.push_back(std::move(iu));
    return out;
}

template <typename Pred>
bool poll_until(Session& s, Pred pred) {
    for (int i = 0; i < 400 && !pred(); ++i) s.wait(std::chrono::milliseconds(5));
    return pred();
}

const auto kRead = scsi::make_rw16(scsi::op::kRead16, 0, 8);    // 4096 bytes
const auto kWrite = scsi::make_rw16(scsi::op::kWrite16, 0, 8);  // 4096 bytes

bool all_equal(std::span<const std::uint8_t> bytes, std::uint8_t value) {
    return std::all_of(bytes.begin(), bytes.end(), [&](std::uint8_t b) { return b == value; });
}

}  // namespace

TEST_CASE("windows: a late RDMA WRITE with an ended READ's key fails and leaves the reused buffer alone",
          "[loopback][session][windows]") {
    // Before: the pool had one rkey for its whole life, so the write landed
    // in the buffer the next command (a WRITE) was sending from.
    ScriptedTarget target;
    auto s = Session::login(target.connector(), window_options());
    REQUIRE(s);
    auto& session = **s;
    auto buffer = *session.allocate(4096);

    bool read_done = false;
    REQUIRE(session.submit(0, kRead, Direction::from_target, buffer, [&](const CommandResult& r) {
        CHECK(r.good());
        read_done = true;
    }));
    auto reads = commands(target);
    REQUIRE(reads.size() == 1);
    const std::vector<std::uint8_t> data(4096, 0x11);
    CHECK(target.write_data_in(reads[0], data) == CompletionStatus::success);
    target.respond(reads[0]);
    REQUIRE(poll_until(session, [&] { return read_done; }));
    CHECK(all_equal(buffer, 0x11));

    // The buffer is reused: new data for a WRITE, whose command is in flight.
    std::fill(buffer.begin(), buffer.end(), 0x22);
    REQUIRE(session.submit(0, kWrite, Direction::to_target, buffer, [](const CommandResult&) {}));
    auto writes = commands(target);
    REQUIRE(writes.size() == 1);

    // The target keeps the READ's key and writes after the READ's response.
    const std::vector<std::uint8_t> late(4096, 0xee);
    CHECK(target.write_data_in(reads[0], late) == CompletionStatus::remote_access_error);
    CHECK(all_equal(buffer, 0x22));
}

TEST_CASE("windows: a command's key reaches only its buffer and only in its direction",
          "[loopback][session][windows]") {
    ScriptedTarget target;
    auto s = Session::login(target.connector(), window_options());
    REQUIRE(s);
    auto& session = **s;
    CHECK(session.login_info().memory_windows);
    auto both = *session.allocate(8192);
    auto buffer = both.first(4096);
    std::fill(both.begin(), both.end(), 0x33);
    const auto direction = GENERATE(Direction::from_target, Direction::to_target);
    REQUIRE(session.submit(0, direction == Direction::from_target ? kRead : kWrite, direction, buffer,
                           [](const CommandResult&) {}));
    auto cmds = commands(target);
    REQUIRE(cmds.size() == 1);
    std::vector<std::uint8_t> into(4096);
    if (direction == Direction::from_target) {
        SECTION("a READ's key cannot be read through") {
            CHECK(target.read_with_key(cmds[0], into) == CompletionStatus::remote_access_error);
        }
        SECTION("a READ's key cannot write past its buffer") {
            const std::vector<std::uint8_t> longer(4097, 0x44);
            CHECK(target.write_data_in(cmds[0], longer) == CompletionStatus::remote_access_error);
            CHECK(all_equal(both, 0x33));
        }
        SECTION("a READ's key writes its buffer") {
            const std::vector<std::uint8_t> data(4096, 0x55);
            CHECK(target.write_data_in(cmds[0], data) == CompletionStatus::success);
            CHECK(all_equal(buffer, 0x55));
            CHECK(all_equal(both.subspan(4096), 0x33));
        }
    } else {
        SECTION("a WRITE's key reads its buffer") {
            CHECK(target.read_with_key(cmds[0], into) == CompletionStatus::success);
            CHECK(all_equal(into, 0x33));
        }
        SECTION("a WRITE's key cannot be written through") {
            const std::vector<std::uint8_t> data(4096, 0x66);
            CHECK(target.write_data_in(cmds[0], data) == CompletionStatus::remote_access_error);
            CHECK(all_equal(both, 0x33));
        }
    }
}

TEST_CASE("windows: the callback runs, and the buffer returns, only once the invalidate completed",
          "[loopback][session][windows]") {
    ScriptedTarget target;
    auto s = Session::login(target.connector(), window_options());
    REQUIRE(s);
    auto& session = **s;
    auto buffer = *session.allocate(4096);
    bool done = false;
    REQUIRE(session.submit(0, kRead, Direction::from_target, buffer, [&](const CommandResult& r) {
        CHECK(r.good());
        done = true;
    }));
    auto cmds = commands(target);
    REQUIRE(cmds.size() == 1);
    auto& link = target.initiator_end(0);
    link.hold_completions(true);  // the invalidate's completion (and the SEND's) stay queued
    target.respond(cmds[0]);
    for (int i = 0; i < 5; ++i) session.poll();
    CHECK_FALSE(done);
    CHECK(session.outstanding() == 1);
    session.release(buffer);  // quarantined: the command still holds it
    CHECK_FALSE(session.allocate(1u << 20));
    link.hold_completions(false);
    REQUIRE(poll_until(session, [&] { return done; }));
    CHECK(session.outstanding() == 0);
    session.poll();
    CHECK(session.allocate(1u << 20));  // the whole pool is free again
}

TEST_CASE("windows: without them (device lacks type-2 windows) the pool's rkey serves, as before",
          "[loopback][session][windows]") {
    ScriptedTarget target;
    target.initiator_windows = false;
    auto s = Session::login(target.connector(), window_options());
    REQUIRE(s);
    auto& session = **s;
    CHECK_FALSE(session.login_info().memory_windows);
    CHECK(session.login_info().memory_windows_note == "the device has none");  // asked for, not used: says why
    auto buffer = *session.allocate(4096);
    bool done = false;
    REQUIRE(session.submit(0, kRead, Direction::from_target, buffer, [&](const CommandResult& r) {
        CHECK(r.good());
        done = true;
    }));
    auto cmds = commands(target);
    REQUIRE(cmds.size() == 1);
    const std::vector<std::uint8_t> data(4096, 0x77);
    CHECK(target.write_data_in(cmds[0], data) == CompletionStatus::success);
    target.respond(cmds[0]);
    REQUIRE(poll_until(session, [&] { return done; }));
    CHECK(all_equal(buffer, 0x77));
}
