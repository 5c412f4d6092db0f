// Task management acts on the logical unit (SAM-5 7), not on the channel
// that carried it: ib_srp sends LOGICAL UNIT RESET on one channel while the
// commands it must stop may run on another, or belong to another I_T nexus.
// Each case holds the victim's RDMA completions to stall it mid-flight.
#include "common/scsi/cdb.h"
#include "tests/loopback/loopback_fixture.h"

using namespace srp;
using namespace srp::test;

namespace {
std::vector<std::uint8_t> write16(std::uint64_t lba) {
    auto c = scsi::make_rw16(0x8a, lba, 1);
    return {c.begin(), c.end()};
}
std::uint8_t tmf_code(const Response& r) { return r.response_data.size() == 4 ? r.response_data[3] : 0xff; }
constexpr std::uint8_t kTestUnitReady[16] = {};
void pump_all(LoopbackTarget& t, std::size_t links) {
    for (int round = 0; round < 3; ++round)
        for (std::size_t i = 0; i < links; ++i) t.link(i).pump();
}
}  // namespace

TEST_CASE("LOGICAL UNIT RESET on one channel aborts a stalled command on another and waits for its RDMA",
          "[loopback][tmf][multichannel]") {
    LoopbackTarget t;
    auto& a = t.link();
    auto& b = t.add_link();
    b.next_tag = 100;  // tags are unique per nexus, as ib_srp makes them
    b.target_side->hold_completions(true);
    b.command(write16(0), true, 0, 512);
    b.pump();
    const auto reset = a.tmf(0x08, 0);
    pump_all(t, 2);
    CHECK(a.responses().empty());  // the victim's RDMA READ may still land in the medium
    b.target_side->hold_completions(false);
    pump_all(t, 2);
    auto answered = a.responses();
    REQUIRE(answered.size() == 1);
    CHECK(answered[0].header.tag == tag_of(reset));
    CHECK(tmf_code(answered[0]) == 0x00);
    CHECK(b.responses().empty());  // an aborted command gets no response
    // Its credit rides on the channel's next response.
    b.command(kTestUnitReady, false, 0, 0);
    auto next = b.response();
    REQUIRE(next);
    CHECK(next->status() == 0);
    CHECK(next->credits() == 2);
}

TEST_CASE("a LUN RESET waits for an answered READ whose RDMA WRITE is still in flight on another channel",
          "[loopback][tmf][multichannel]") {
    LoopbackTarget t;
    auto& a = t.link();
    auto& b = t.add_link();
    b.next_tag = 100;
    b.target_side->hold_completions(true);  // the READ's RDMA WRITE + SRP_RSP chain completes late
    auto read = scsi::make_rw16(0x88, 0, 1);
    b.command(std::vector<std::uint8_t>(read.begin(), read.end()), false, 0, 512);
    b.pump();
    a.tmf(0x08, 0);
    pump_all(t, 2);
    CHECK(a.responses().empty());  // no ordering between the two QPs: wait for b's chain
    b.target_side->hold_completions(false);
    pump_all(t, 2);
    auto answered = a.responses();
    REQUIRE(answered.size() == 1);
    CHECK(tmf_code(answered[0]) == 0x00);
}

TEST_CASE("ABORT TASK finds its task on another channel of the nexus", "[loopback][tmf][multichannel]") {
    LoopbackTarget t;
    auto& a = t.link();
    auto& b = t.add_link();
    b.next_tag = 100;
    b.target_side->hold_completions(true);
    const auto victim = b.command(write16(1), true, 0, 512);
    b.pump();
    a.tmf(0x01, victim);
    pump_all(t, 2);
    CHECK(a.responses().empty());
    b.target_side->hold_completions(false);
    pump_all(t, 2);
    auto answered = a.responses();
    REQUIRE(answered.size() == 1);
    CHECK(tmf_code(answered[0]) == 0x00);
    CHECK(b.responses().empty());
}

TEST_CASE("ABORT TASK SET and CLEAR TASK SET on one channel abort the nexus's stalled task on another",
          "[loopback][tmf][multichannel]") {
    // SAM-5 7.2 and 7.4: the task set is the logical unit's, so the victim
    // is found on any channel of the I_T nexus; the answer waits until its
    // RDMA READ drained (the initiator then reuses the buffer).
    const std::uint8_t function = GENERATE(std::uint8_t{0x02}, std::uint8_t{0x04});
    CAPTURE(function);
    LoopbackTarget t;
    auto& a = t.link();
    auto& b = t.add_link();
    b.next_tag = 100;
    b.target_side->hold_completions(true);
    b.command(write16(7), true, 0, 512);
    b.command(write16(8), true, 4096, 512);
    b.pump();
    const auto tmf = a.tmf(function, 0);
    pump_all(t, 2);
    CHECK(a.responses().empty());  // both victims' RDMA READs are still in flight
    b.target_side->hold_completions(false);
    pump_all(t, 2);
    auto answered = a.responses();
    REQUIRE(answered.size() == 1);
    CHECK(answered[0].header.tag == tag_of(tmf));
    CHECK(tmf_code(answered[0]) == 0x00);
    CHECK(b.responses().empty());  // aborted commands get no response
    // Their two credits ride on the channel's next response; no unit
    // attention for the issuing nexus (SPC-4 7.5.7 names only other nexuses).
    b.command(kTestUnitReady, false, 0, 0);
    auto next = b.response();
    REQUIRE(next);
    CHECK(next->status() == 0);
    CHECK(next->credits() == 3);
}

TEST_CASE("a LUN RESET waits for a victim an earlier ABORT TASK already aborted", "[loopback][tmf][multichannel]") {
    LoopbackTarget t;
    auto& a = t.link();
    a.target_side->hold_completions(true);
    const auto victim = a.command(write16(2), true, 0, 512);
    a.pump();
    a.tmf(0x01, victim);
    a.pump();
    auto& b = t.add_link();
    b.next_tag = 100;
    const auto reset = b.tmf(0x08, 0);
    pump_all(t, 2);
    CHECK(b.responses().empty());  // the victim of the ABORT TASK has not drained yet
    a.target_side->hold_completions(false);
    pump_all(t, 2);
    auto abort_answer = a.responses();
    REQUIRE(abort_answer.size() == 1);
    CHECK(tmf_code(abort_answer[0]) == 0x00);
    auto reset_answer = b.responses();
    REQUIRE(reset_answer.size() == 1);
    CHECK(reset_answer[0].header.tag == tag_of(reset));
}

TEST_CASE("LOGICAL UNIT RESET aborts the tasks of another I_T nexus and gives it a unit attention",
          "[loopback][tmf][multichannel]") {
    LoopbackTarget t;
    auto& a = t.link();
    auto& other = t.add_link(68, 2);  // another initiator port: another I_T nexus
    other.target_side->hold_completions(true);
    other.command(write16(3), true, 0, 512);
    other.pump();
    a.tmf(0x08, 0);
    pump_all(t, 2);
    CHECK(a.responses().empty());
    other.target_side->hold_completions(false);
    pump_all(t, 2);
    REQUIRE(a.responses().size() == 1);
    CHECK(other.responses().empty());
    other.command(kTestUnitReady, false, 0, 0);
    auto ua = other.response();
    REQUIRE(ua);
    CHECK(ua->status() == 2);
    CHECK(ua->asc() == 0x2903);  // BUS DEVICE RESET FUNCTION OCCURRED (SAM-5 7.7)
}

TEST_CASE("CLEAR TASK SET aborts another nexus's task and tells it COMMANDS CLEARED BY ANOTHER INITIATOR",
          "[loopback][tmf][multichannel]") {
    LoopbackTarget t;
    auto& a = t.link();
    auto& other = t.add_link(68, 2);
    other.target_side->hold_completions(true);
    other.command(write16(6), true, 0, 512);
    other.pump();
    a.tmf(0x04, 0);
    pump_all(t, 2);
    CHECK(a.responses().empty());
    other.target_side->hold_completions(false);
    pump_all(t, 2);
    auto answered = a.responses();
    REQUIRE(answered.size() == 1);
    CHECK(tmf_code(answered[0]) == 0x00);
    CHECK(other.responses().empty());
    other.command(kTestUnitReady, false, 0, 0);
    auto ua = other.response();
    REQUIRE(ua);
    CHECK(ua->status() == 2);
    CHECK(ua->asc() == 0x2F00);  // SPC-4 7.5.7 with TAS=0 in the control mode page
    // The issuing nexus gets none.
    a.command(kTestUnitReady, false, 0, 0);
    CHECK(a.response()->status() == 0);
}

TEST_CASE("ABORT TASK SET leaves the tasks of another I_T nexus alone", "[loopback][tmf][multichannel]") {
    LoopbackTarget t;
    auto& a = t.link();
    auto& other = t.add_link(68, 2);
    other.target_side->hold_completions(true);
    other.command(write16(4), true, 0, 512);
    other.pump();
    a.tmf(0x02, 0);
    pump_all(t, 2);
    auto answered = a.responses();  // nothing of this nexus to wait for
    REQUIRE(answered.size() == 1);
    CHECK(tmf_code(answered[0]) == 0x00);
    other.target_side->hold_completions(false);
    pump_all(t, 2);
    auto done = other.responses();
    REQUIRE(done.size() == 1);  // the other nexus's WRITE completed normally
    CHECK(done[0].status() == 0);
}

TEST_CASE("a channel that closes with a TMF's victims in flight still lets the TMF finish",
          "[loopback][tmf][multichannel][fault]") {
    LoopbackTarget t;
    auto& a = t.link();
    auto& b = t.add_link();
    b.next_tag = 100;
    b.target_side->hold_completions(true);
    b.command(write16(5), true, 0, 512);
    b.pump();
    a.tmf(0x08, 0);
    pump_all(t, 2);
    CHECK(a.responses().empty());
    b.control->request_disconnect("test");
    b.target_side->hold_completions(false);
    pump_all(t, 2);
    CHECK(b.channel->drained());
    auto answered = a.responses();
    REQUIRE(answered.size() == 1);
    CHECK(tmf_code(answered[0]) == 0x00);
}
