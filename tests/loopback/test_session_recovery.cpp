// The initiator Session's bad-day paths against a target the test drives by
// hand: lost responses, unanswered task management, late answers, late RDMA,
// send completions that lag behind responses.
#include <catch2/catch.hpp>

#include "common/scsi/cdb.h"
#include "srp_initiator/session.h"
#include "tests/loopback/scripted_target.h"

using namespace srp;
using namespace srp::initiator;
using srp::test::ScriptedTarget;
using Tmf = wire::TaskManagementFunction;

namespace {

SessionOptions fast_options() {
    SessionOptions o;
    o.command_timeout = std::chrono::milliseconds(30);
    o.tmf_timeout = std::chrono::milliseconds(30);
    o.pool_bytes = 1u << 20;
    return o;
}

std::vector<ScriptedTarget::Iu> of_kind(const std::vector<ScriptedTarget::Iu>& ius, wire::Opcode op) {
    std::vector<ScriptedTarget::Iu> out;
    for (const auto& iu : ius)
        if (iu.opcode == op) out.push_back(iu);
    return out;
}

std::uint8_t tmf_function(const ScriptedTarget::Iu& iu) { return iu.bytes.at(offsetof(wire::TskMgmt, tsk_mgmt_func)); }

// Polls until pred() or about two seconds passed.
template <typename Pred>
bool poll_until(Session& s, Pred pred) {
    for (int i = 0; i < 400 && !pred(); ++i) s.wait(std::chrono::milliseconds(5));
    return pred();
}

const auto kRead = scsi::make_rw16(scsi::op::kRead16, 0, 8);

}  // namespace

TEST_CASE("recovery: a silent target escalates ABORT TASK, LUN RESET, reconnect; execute returns only then",
          "[loopback][session][recovery]") {
    // Before: execute() returned on its own deadline with the command still
    // outstanding and its callback holding a reference into execute's frame.
    ScriptedTarget target;
    auto s = Session::login(target.connector(), fast_options());
    REQUIRE(s);
    auto& session = **s;
    const std::uint8_t tur[6] = {};
    const auto r = session.execute(0, tur, Direction::none, {});
    CHECK(r.timed_out);
    CHECK(session.outstanding() == 0);  // nothing left that could write into a dead frame
    const auto ius = target.receive();
    const auto tmfs = of_kind(ius, wire::Opcode::tsk_mgmt);
    REQUIRE(tmfs.size() == 2);
    CHECK(tmf_function(tmfs[0]) == static_cast<std::uint8_t>(Tmf::abort_task));
    CHECK(tmf_function(tmfs[1]) == static_cast<std::uint8_t>(Tmf::logical_unit_reset));
    CHECK(target.logins() == 2);  // the last step: a new login
    CHECK(session.connected());
}

TEST_CASE("recovery: task_management gives up after tmf_timeout and a late answer is harmless",
          "[loopback][session][recovery]") {
    // Before: TMF slots never timed out and the slot kept a pointer to the
    // caller's local answer.
    ScriptedTarget target(4);
    auto s = Session::login(target.connector(), fast_options());
    REQUIRE(s);
    auto& session = **s;
    CHECK_FALSE(session.task_management(0, Tmf::abort_task, 777).has_value());
    CHECK(session.outstanding() == 0);
    auto tmfs = of_kind(target.receive(), wire::Opcode::tsk_mgmt);
    REQUIRE(tmfs.size() == 1);
    target.respond_tmf(tmfs[0], 0);  // late
    session.poll();
    // Its credit came back with the late answer: three commands fit (one stays reserved).
    int accepted = 0;
    auto b = *session.allocate(4096);
    for (int i = 0; i < 4; ++i) accepted += session.submit(0, kRead, Direction::from_target, b, {}).has_value();
    CHECK(accepted == 3);
}

TEST_CASE("recovery: two timed-out commands are both aborted, one credit at a time",
          "[loopback][session][recovery]") {
    // Before: abort_sent was set although post_tmf failed for lack of a
    // credit, so the second command was never aborted.
    ScriptedTarget target(3);  // two commands + the task management reserve
    auto o = fast_options();
    o.tmf_timeout = std::chrono::seconds(5);
    auto s = Session::login(target.connector(), o);
    REQUIRE(s);
    auto& session = **s;
    auto b1 = *session.allocate(4096), b2 = *session.allocate(4096);
    int timed_out = 0;
    auto done = [&](const CommandResult& r) { timed_out += r.timed_out; };
    REQUIRE(session.submit(0, kRead, Direction::from_target, b1, done));
    REQUIRE(session.submit(0, kRead, Direction::from_target, b2, done));
    std::vector<ScriptedTarget::Iu> aborts;
    for (int round = 0; round < 2; ++round) {
        REQUIRE(poll_until(session, [&] {
            for (auto& iu : of_kind(target.receive(), wire::Opcode::tsk_mgmt)) aborts.push_back(iu);
            return aborts.size() > static_cast<std::size_t>(round);
        }));
        // FUNCTION COMPLETE; the credit of the aborted command comes back with it.
        target.respond_tmf(aborts.back(), 0, 2);
    }
    REQUIRE(poll_until(session, [&] { return timed_out == 2; }));
    CHECK(aborts.size() == 2);
    CHECK(tmf_function(aborts[0]) == static_cast<std::uint8_t>(Tmf::abort_task));
    CHECK(tmf_function(aborts[1]) == static_cast<std::uint8_t>(Tmf::abort_task));
    CHECK(session.outstanding() == 0);
    CHECK(target.logins() == 1);
}

TEST_CASE("recovery: a rejected abort escalates to LOGICAL UNIT RESET, which ends the command",
          "[loopback][session][recovery]") {
    ScriptedTarget target;
    auto o = fast_options();
    o.tmf_timeout = std::chrono::seconds(5);
    auto s = Session::login(target.connector(), o);
    REQUIRE(s);
    auto& session = **s;
    auto b = *session.allocate(4096);
    std::optional<CommandResult> result;
    REQUIRE(session.submit(0, kRead, Direction::from_target, b, [&](const CommandResult& r) { result = r; }));
    std::vector<ScriptedTarget::Iu> tmfs;
    auto next_tmf = [&] {
        return poll_until(session, [&] {
            for (auto& iu : of_kind(target.receive(), wire::Opcode::tsk_mgmt)) tmfs.push_back(iu);
            return !tmfs.empty();
        });
    };
    REQUIRE(next_tmf());
    CHECK(tmf_function(tmfs[0]) == static_cast<std::uint8_t>(Tmf::abort_task));
    target.respond_tmf(tmfs[0], 5);  // TASK MANAGEMENT FUNCTION FAILED
    tmfs.clear();
    REQUIRE(next_tmf());
    CHECK(tmf_function(tmfs[0]) == static_cast<std::uint8_t>(Tmf::logical_unit_reset));
    CHECK_FALSE(result.has_value());
    target.respond_tmf(tmfs[0], 0, 2);
    REQUIRE(poll_until(session, [&] { return result.has_value(); }));
    CHECK(result->timed_out);
    CHECK(target.logins() == 1);
}

TEST_CASE("recovery: a late RDMA WRITE cannot reach a buffer reused after a timeout",
          "[loopback][session][recovery]") {
    // Before: execute() returned with the command still live on its channel;
    // the buffer was reused and the target's late data landed in it.
    ScriptedTarget target;
    auto s = Session::login(target.connector(), fast_options());
    REQUIRE(s);
    auto& session = **s;
    auto buffer = *session.allocate(4096);
    const auto r = session.execute(0, kRead, Direction::from_target, buffer);
    CHECK_FALSE(r.good());
    session.release(buffer);
    auto reused = *session.allocate(4096);
    std::fill(reused.begin(), reused.end(), 0xAA);
    const auto commands = of_kind(target.receive(), wire::Opcode::cmd);
    REQUIRE_FALSE(commands.empty());
    const std::vector<std::uint8_t> late(4096, 0x55);
    CHECK(target.write_data_in(commands.front(), late) != fabric::CompletionStatus::success);
    CHECK(std::all_of(reused.begin(), reused.end(), [](std::uint8_t v) { return v == 0xAA; }));
}

TEST_CASE("recovery: a buffer released while a command names it is quarantined until the command ends",
          "[loopback][session][recovery]") {
    ScriptedTarget target;
    auto o = fast_options();
    o.command_timeout = std::chrono::seconds(30);
    auto s = Session::login(target.connector(), o);
    REQUIRE(s);
    auto& session = **s;
    auto buffer = *session.allocate(4096);
    bool done = false;
    REQUIRE(session.submit(0, kRead, Direction::from_target, buffer, [&](const CommandResult&) { done = true; }));
    session.release(buffer);  // too early: the target may still write into it
    auto other = *session.allocate(4096);
    CHECK(other.data() != buffer.data());
    session.release(other);
    auto commands = of_kind(target.receive(), wire::Opcode::cmd);
    REQUIRE(commands.size() == 1);
    target.respond(commands[0]);
    REQUIRE(poll_until(session, [&] { return done; }));
    auto again = *session.allocate(8192);  // the quarantined range is free again and merged
    CHECK(again.data() == buffer.data());
}

TEST_CASE("session: a slot is reused only after its SEND completed (no wr_id in flight twice)",
          "[loopback][session]") {
    // Before: the slot was freed on its SRP_RSP; a callback resubmitting at
    // once reused the wr_id of a SEND whose completion was still pending.
    // Without memory windows: with them the callback waits for the window's
    // invalidate, which completes after the SEND (send queue order), so a
    // callback cannot run while its SEND is pending (test_session_windows.cpp).
    ScriptedTarget target;
    target.initiator_windows = false;
    auto s = Session::login(target.connector(), fast_options());
    REQUIRE(s);
    auto& session = **s;
    auto b = *session.allocate(4096);
    target.initiator_end(0).hold_completions(true);
    int completed = 0;
    std::function<void(const CommandResult&)> again = [&](const CommandResult& r) {
        CHECK(r.good());
        if (++completed < 3) REQUIRE(session.submit(0, kRead, Direction::from_target, b, again));
    };
    REQUIRE(session.submit(0, kRead, Direction::from_target, b, again));
    for (int i = 0; i < 3; ++i) {
        auto commands = of_kind(target.receive(), wire::Opcode::cmd);
        REQUIRE(commands.size() == 1);
        target.respond(commands[0]);
        session.poll();
    }
    CHECK(completed == 3);
    CHECK(target.initiator_end(0).reused_send_wr_ids() == 0);
    target.initiator_end(0).hold_completions(false);
    session.poll();
    CHECK(session.outstanding() == 0);
    CHECK(session.can_submit());
}

TEST_CASE("session: CRED_RSPs in flight together each have a wr_id and a buffer of their own",
          "[loopback][session]") {
    // Before: every CRED_RSP/AER_RSP went out under one wr_id from one
    // buffer; two in flight retired each other (on verbs the outstanding
    // send count never came back down) and the second could overwrite the first.
    ScriptedTarget target;
    auto s = Session::login(target.connector(), fast_options());
    REQUIRE(s);
    auto& session = **s;
    auto& wire_end = target.initiator_end(0);
    wire_end.hold_completions(true);  // the CRED_RSP SENDs stay in flight
    target.request_credit(0, 0x1111, 1);
    target.request_credit(0, 0x2222, 1);
    session.poll();
    auto answers = of_kind(target.receive(), wire::Opcode::cred_rsp);
    REQUIRE(answers.size() == 2);
    CHECK(answers[0].tag == 0x1111);
    CHECK(answers[1].tag == 0x2222);
    CHECK(wire_end.reused_send_wr_ids() == 0);
    // More requests than response buffers while none has completed: the
    // surplus goes unanswered rather than reuse a buffer in flight.
    for (std::uint64_t tag = 0x3000; tag < 0x3008; ++tag) target.request_credit(0, tag, 0);
    session.poll();
    CHECK(of_kind(target.receive(), wire::Opcode::cred_rsp).size() == 2);  // 4 buffers, 2 were busy
    CHECK(wire_end.reused_send_wr_ids() == 0);
    // Once the SENDs complete, every buffer is free again.
    wire_end.hold_completions(false);
    session.poll();
    for (std::uint64_t tag = 0x4000; tag < 0x4004; ++tag) target.request_credit(0, tag, 0);
    session.poll();
    CHECK(of_kind(target.receive(), wire::Opcode::cred_rsp).size() == 4);
    CHECK(wire_end.reused_send_wr_ids() == 0);
}

TEST_CASE("session: sends triggered in one poll pass leave in one post", "[loopback][session]") {
    // Before: a callback resubmitting rang one doorbell per command.
    // With memory windows the ended commands' invalidates leave together in
    // the pass that handles their responses, and the callbacks run (and
    // resubmit, together) in the pass that sees the invalidates complete.
    ScriptedTarget target;
    const bool windows = GENERATE(false, true);
    target.initiator_windows = windows;
    auto o = fast_options();
    o.memory_windows = windows;
    o.command_timeout = std::chrono::seconds(30);
    auto s = Session::login(target.connector(), o);
    REQUIRE(s);
    auto& session = **s;
    auto b = *session.allocate(4096);
    int resubmitted = 0;
    auto once = [&](const CommandResult&) {
        if (session.submit(0, kRead, Direction::from_target, b, {})) ++resubmitted;
    };
    session.begin_batch();
    for (int i = 0; i < 16; ++i) REQUIRE(session.submit(0, kRead, Direction::from_target, b, once));
    session.end_batch();
    CHECK(target.initiator_end(0).doorbells() == 1);
    for (auto& c : of_kind(target.receive(), wire::Opcode::cmd)) target.respond(c);
    session.poll();
    if (windows) {
        CHECK(resubmitted == 0);
        CHECK(target.initiator_end(0).doorbells() == 2);  // the 16 invalidates
        session.poll();
    }
    CHECK(resubmitted == 16);
    CHECK(target.initiator_end(0).doorbells() == (windows ? 3u : 2u));
}

TEST_CASE("session: CM events are checked only when a channel is idle", "[loopback][session]") {
    // Before: every poll() made one rdma_get_cm_event system call per channel.
    ScriptedTarget target;
    auto o = fast_options();
    o.command_timeout = std::chrono::seconds(30);
    auto s = Session::login(target.connector(), o);
    REQUIRE(s);
    auto& session = **s;
    auto b = *session.allocate(4096);
    for (int i = 0; i < 200; ++i) {
        REQUIRE(session.submit(0, kRead, Direction::from_target, b, {}));
        for (auto& c : of_kind(target.receive(), wire::Opcode::cmd)) target.respond(c);
        session.poll();
    }
    CHECK(target.cm_checks < 10);
}
