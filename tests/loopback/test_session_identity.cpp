// The initiator's identity and queue sizing as a target sees them: the
// default initiator port id (ib_srp's initiator_ext || port GID interface
// id) and a queue pair sized for the depth the session uses, whatever the
// target grants.
#include <catch2/catch.hpp>

#include "common/scsi/cdb.h"
#include "common/wire/iu_parse.h"
#include "srp_initiator/session.h"
#include "tests/loopback/scripted_target.h"

using namespace srp;
using namespace srp::initiator;
using srp::test::ScriptedTarget;

namespace {
wire::PortId port_id_of_login(const std::vector<std::uint8_t>& private_data) {
    auto req = wire::parse_login_req_rdma(private_data);
    REQUIRE(req);
    return req->initiator_port_id;
}
}  // namespace

TEST_CASE("identity: the default initiator port id is initiator_ext || the port GID's interface id",
          "[loopback][session]") {
    // Before: a hash of the host name, so clones of one image were one I_T nexus.
    ScriptedTarget target;
    SessionOptions o;
    o.initiator_ext = 0x0102030405060708ull;
    o.channels = 2;
    auto s = Session::login(target.connector(), o);
    REQUIRE(s);
    wire::PortId expected{1, 2, 3, 4, 5, 6, 7, 8};
    std::copy(target.gid.begin() + 8, target.gid.end(), expected.begin() + 8);
    REQUIRE(target.login_requests.size() == 2);
    CHECK(port_id_of_login(target.login_requests[0]) == expected);
    CHECK(port_id_of_login(target.login_requests[1]) == expected);  // every channel names the same nexus
    CHECK((*s)->initiator_port_id() == expected);

    // A clone: same host name, same options, another port.
    ScriptedTarget clone_target;
    clone_target.gid[15] ^= 0xff;
    auto clone = Session::login(clone_target.connector(), o);
    REQUIRE(clone);
    CHECK((*clone)->initiator_port_id() != (*s)->initiator_port_id());

    // An explicit port id wins.
    ScriptedTarget explicit_target;
    o.initiator_port_id = wire::PortId{0xaa};
    o.channels = 1;
    auto e = Session::login(explicit_target.connector(), o);
    REQUIRE(e);
    CHECK(port_id_of_login(explicit_target.login_requests[0]) == *o.initiator_port_id);
}

TEST_CASE("queue depth: a target granting 4096 credits; the queue pair holds what the session uses",
          "[loopback][session]") {
    // Before: slots = credits (4096) while the queue pair held 256 receives,
    // so the login failed posting its receive ring.
    ScriptedTarget target(4096);
    auto s = Session::login(target.connector(), SessionOptions{});
    REQUIRE(s);
    CHECK(target.receive_queue_depth == 256 + 4);
    auto& session = **s;
    auto b = *session.allocate(4096);
    const auto cdb = scsi::make_rw16(scsi::op::kRead16, 0, 8);
    int accepted = 0;
    for (int i = 0; i < 300; ++i) accepted += session.submit(0, cdb, Direction::from_target, b, {}).has_value();
    CHECK(accepted == 255);  // one slot stays for task management

    ScriptedTarget deep(4096);
    SessionOptions o;
    o.queue_depth = 1024;
    auto d = Session::login(deep.connector(), o);
    REQUIRE(d);
    CHECK(deep.receive_queue_depth == 1024 + 4);

    ScriptedTarget shallow(16);  // fewer credits than the depth: the credits bound it
    auto sh = Session::login(shallow.connector(), SessionOptions{});
    REQUIRE(sh);
    auto b2 = *(*sh)->allocate(4096);
    accepted = 0;
    for (int i = 0; i < 32; ++i) accepted += (*sh)->submit(0, cdb, Direction::from_target, b2, {}).has_value();
    CHECK(accepted == 15);
}
