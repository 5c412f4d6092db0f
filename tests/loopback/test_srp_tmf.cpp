// Task management over the loopback fabric: all five functions, their
// response codes, aborts of commands whose RDMA is still in flight.
#include "common/scsi/cdb.h"
#include "srp_target/srp/srp_nexus_identity.h"
#include "tests/loopback/loopback_fixture.h"

using namespace srp;
using namespace srp::test;

namespace {
std::vector<std::uint8_t> rw16(std::uint8_t op, std::uint64_t lba, std::uint32_t blocks) {
    auto c = scsi::make_rw16(op, lba, blocks);
    return {c.begin(), c.end()};
}
std::uint8_t tmf_code(const Response& r) { return r.response_data.size() == 4 ? r.response_data[3] : 0xff; }
}  // namespace

TEST_CASE("ABORT TASK of a WRITE whose RDMA READ is in flight", "[loopback][tmf]") {
    LoopbackTarget t;
    auto& l = t.link();
    l.target_side->hold_completions(true);  // the RDMA READ completes late
    const auto victim = l.command(rw16(0x8a, 0, 1), true, 0, 512);
    l.pump();
    const auto tmf = l.tmf(0x01, victim);
    auto none = l.responses();
    CHECK(none.empty());  // the TMF waits for the aborted command's RDMA
    l.target_side->hold_completions(false);
    auto all = l.responses();
    REQUIRE(all.size() == 1);  // only the TMF response; the aborted command gets none
    CHECK(all[0].header.tag == tag_of(tmf));
    CHECK(tmf_code(all[0]) == 0x00);
    CHECK(all[0].credits() == 2);  // its own credit plus the aborted command's
}

TEST_CASE("ABORT TASK of an unknown tag is FUNCTION COMPLETE", "[loopback][tmf]") {
    LoopbackTarget t;
    auto& l = t.link();
    l.tmf(0x01, 0x12345);
    auto r = l.response();
    REQUIRE(r);
    CHECK(tmf_code(*r) == 0x00);
    CHECK((r->header.flags & wire::kRspFlagRspValid) != 0);
}

TEST_CASE("ABORT TASK SET aborts every command of the LUN", "[loopback][tmf]") {
    LoopbackTarget t;
    auto& l = t.link();
    l.target_side->hold_completions(true);
    l.command(rw16(0x8a, 0, 1), true, 0, 512);
    l.command(rw16(0x8a, 1, 1), true, 512, 512);
    l.pump();
    l.tmf(0x02, 0);
    l.pump();
    l.target_side->hold_completions(false);
    auto all = l.responses();
    REQUIRE(all.size() == 1);
    CHECK(tmf_code(all[0]) == 0x00);
    CHECK(all[0].credits() == 3);
}

TEST_CASE("CLEAR TASK SET completes", "[loopback][tmf]") {
    LoopbackTarget t;
    auto& l = t.link();
    l.tmf(0x04, 0);
    CHECK(tmf_code(*l.response()) == 0x00);
}

TEST_CASE("LOGICAL UNIT RESET completes and raises a unit attention on the other nexus", "[loopback][tmf]") {
    LoopbackTarget t;
    t.scsi.attach_nexus(99, target::srp_nexus_identity(wire::PortId{0x99}, wire::PortId{}));
    auto& l = t.link();
    l.tmf(0x08, 0);
    CHECK(tmf_code(*l.response()) == 0x00);
    auto task = t.scsi.submit(99, 0, hex("00 00 00 00 00 00"), 0);
    CHECK(task.status() == scsi::Status::check_condition);
}

TEST_CASE("CLEAR ACA completes: no ACA is ever established", "[loopback][tmf]") {
    LoopbackTarget t;
    auto& l = t.link();
    l.tmf(0x40, 0);
    CHECK(tmf_code(*l.response()) == 0x00);
}

TEST_CASE("an unknown task management function is NOT SUPPORTED", "[loopback][tmf]") {
    LoopbackTarget t;
    auto& l = t.link();
    l.tmf(0x80, 0);
    CHECK(tmf_code(*l.response()) == 0x04);
}

TEST_CASE("task management for a LUN that does not exist answers response code 0x05", "[loopback][tmf]") {
    LoopbackTarget t;
    auto& l = t.link();
    l.tmf(0x08, 0, 7);
    CHECK(tmf_code(*l.response()) == 0x05);
}

TEST_CASE("a truncated TSK_MGMT is answered FIELDS INVALID", "[loopback][tmf]") {
    LoopbackTarget t;
    auto& l = t.link();
    auto bytes = hex("01 00 00 00 00 00 00 00 11 22 33 44 55 66 77 88 00 00 00 00");
    l.send(bytes);
    auto r = l.response();
    REQUIRE(r);
    CHECK(tmf_code(*r) == 0x02);
    CHECK(t.stats.protocol_errors == 1);
}

TEST_CASE("disconnect with a command in flight drains without leaking registrations", "[loopback][fault]") {
    LoopbackTarget t;
    const auto baseline = t.target_domain->registration_count();
    auto& other = t.add_link();
    auto& l = t.link();
    l.target_side->hold_completions(true);
    l.command(rw16(0x8a, 0, 1), true, 0, 512);
    l.pump();
    l.control->request_disconnect("test");
    l.pump();
    l.target_side->hold_completions(false);
    l.pump();
    CHECK(l.channel->drained());
    l.channel.reset();
    CHECK(t.target_domain->registration_count() == baseline);
    other.command(rw16(0x88, 0, 1), false, 0, 512);
    CHECK(other.response()->status() == 0);
}

TEST_CASE("a remote access error injected mid-command closes the channel cleanly", "[loopback][fault]") {
    LoopbackTarget t;
    auto& l = t.link();
    l.target_side->fail_next_rdma(fabric::CompletionStatus::remote_access_error);
    l.command(rw16(0x8a, 0, 1), true, 0, 512);
    l.pump();
    CHECK(l.channel->closing());
    CHECK(l.channel->drained());
    CHECK(t.stats.transport_errors == 1);
}

TEST_CASE("a SINGLE login terminates the nexus's other channels, MULTI keeps them", "[loopback][multichannel]") {
    target::ScsiTarget scsi;
    target::SessionRegistry registry(scsi);
    wire::PortId initiator{}, target_port{};
    initiator[0] = 1;
    auto a = std::make_shared<target::ChannelControl>(nullptr);
    auto b = std::make_shared<target::ChannelControl>(nullptr);
    auto c = std::make_shared<target::ChannelControl>(nullptr);
    const auto first = registry.attach(initiator, target_port, a, true);
    CHECK(first.terminated == 0);
    const auto multi = registry.attach(initiator, target_port, b, false);
    CHECK(multi.nexus == first.nexus);
    CHECK_FALSE(a->disconnect_requested());
    CHECK(registry.channel_count(initiator, target_port) == 2);
    const auto single = registry.attach(initiator, target_port, c, true);
    CHECK(single.terminated == 2);
    CHECK(a->disconnect_requested());
    CHECK(b->disconnect_requested());
    CHECK_FALSE(c->disconnect_requested());
    CHECK(single.nexus == first.nexus);  // same I_T nexus, same id: reservations survive
    registry.detach(first.nexus, a.get());
    registry.detach(first.nexus, b.get());
    CHECK(registry.channel_count(initiator, target_port) == 1);
}
