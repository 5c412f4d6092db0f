// SRP login evaluation: accept parameters and every SRP_LOGIN_REJ reason.
#include <catch2/catch.hpp>

#include "common/wire/iu_encode.h"
#include "srp_target/srp/login.h"
#include "tests/unit/hex.h"

using namespace srp;
using namespace srp::target;
using srp::test::to_hex;

namespace {
const wire::PortId kTarget = make_target_port_id(0x505400fffe123456ull, 0x505400fffe123456ull);

wire::LoginReqRdma request() {
    auto r = wire::make_login_req_rdma();
    r.tag = {1, 2, 3, 4, 5, 6, 7, 8};
    r.req_it_iu_len = 8260;
    r.req_buf_fmt = wire::kBufFmtDirect | wire::kBufFmtIndirect;
    r.req_flags = wire::kReqFlagImmediateRequested;
    r.imm_data_offset = 68;
    r.initiator_port_id[15] = 0x42;
    r.target_port_id = kTarget;
    return r;
}
LoginPolicy policy() {
    LoginPolicy p;
    p.target_port_id = kTarget;
    return p;
}
LoginDecision decide(const wire::LoginReqRdma& r, const LoginPolicy& p = policy(), std::uint32_t existing = 0,
                     std::string source = "10.0.2.15") {
    const auto bytes = srp::test::bytes_of(r);
    return evaluate_login(LoginRequest{bytes, std::move(source), existing}, p);
}
}  // namespace

TEST_CASE("login: ib_srp's default request is accepted with immediate data", "[login]") {
    auto d = decide(request());
    REQUIRE(d.accepted);
    CHECK(d.it_iu_len == 8260);
    CHECK(d.imm_data_offset == 68);
    CHECK(d.single_channel);
    const auto rsp = d.response(policy(), false);
    CHECK(to_hex(srp::test::bytes_of(rsp)).substr(0, 83) ==
          "c0 00 00 00 00 00 00 80 01 02 03 04 05 06 07 08 00 00 20 44 00 00 01 00 00 06 80 00");
}

TEST_CASE("login: MULTI keeps existing channels, SINGLE reports termination", "[login]") {
    auto r = request();
    r.req_flags = wire::kMultiChannelMulti;
    auto multi = decide(r, policy(), 1);
    REQUIRE(multi.accepted);
    CHECK(multi.response(policy(), false).rsp_flags == wire::kRspFlagChannelsMaintained);
    auto single = decide(request(), policy(), 1);
    CHECK(single.response(policy(), true).rsp_flags ==
          (wire::kRspFlagChannelsTerminated | wire::kRspFlagImmediateSupported));
}

TEST_CASE("login: immediate data is not granted without the flag or with a bad offset", "[login]") {
    auto r = request();
    r.req_flags = 0;
    CHECK(decide(r).imm_data_offset == 0);
    r = request();
    r.imm_data_offset = 50;  // inside the 4-byte immediate descriptor
    CHECK(decide(r).imm_data_offset == 0);
    r.imm_data_offset = 9000;  // beyond the IU
    CHECK(decide(r).imm_data_offset == 0);
    auto p = policy();
    p.immediate_data = false;
    CHECK(decide(request(), p).imm_data_offset == 0);
}

TEST_CASE("login reject: private data too short", "[login]") {
    std::vector<std::uint8_t> short_data(40, 0);
    auto d = evaluate_login(LoginRequest{short_data, "x", 0}, policy());
    CHECK_FALSE(d.accepted);
    CHECK(d.reason == wire::LoginRejectReason::unable_to_establish_channel);
    CHECK(d.explanation.find("40 bytes") != std::string::npos);
}

TEST_CASE("login reject: wrong opcode at byte 11", "[login]") {
    auto r = request();
    r.opcode = 0x02;
    CHECK(decide(r).reason == wire::LoginRejectReason::unable_to_establish_channel);
}

TEST_CASE("login reject: it_iu_len too large or too small", "[login]") {
    auto r = request();
    r.req_it_iu_len = 8277;
    auto d = decide(r);
    CHECK_FALSE(d.accepted);
    CHECK(d.reason == wire::LoginRejectReason::it_iu_length_too_large);
    CHECK(to_hex(srp::test::bytes_of(d.rejection())) ==
          "c2 00 00 00 00 01 00 02 01 02 03 04 05 06 07 08 00 00 00 00 00 00 00 00 00 06 00 00 00 00 00 00");
    r.req_it_iu_len = 63;  // below the SRP minimum of 64: not "too large"
    CHECK(decide(r).reason == wire::LoginRejectReason::unable_to_establish_channel);
    r.req_it_iu_len = 64;
    CHECK(decide(r).accepted);
}

TEST_CASE("login reject: no supported buffer format", "[login]") {
    auto r = request();
    r.req_buf_fmt = 0x0008;
    CHECK(decide(r).reason == wire::LoginRejectReason::unsupported_descriptor_format);
}

TEST_CASE("login reject: target port id is not ours", "[login]") {
    auto r = request();
    r.target_port_id[15] ^= 1;
    auto d = decide(r);
    CHECK(d.reason == wire::LoginRejectReason::unable_to_associate_channel);
    CHECK(d.explanation.find("is not ours") != std::string::npos);
}

TEST_CASE("login reject: reserved multichannel action", "[login]") {
    auto r = request();
    r.req_flags = 0x02;
    CHECK(decide(r).reason == wire::LoginRejectReason::unable_to_establish_channel);
}

TEST_CASE("login reject: initiator not in the ACL, accepted by port id or address", "[login]") {
    auto p = policy();
    wire::PortId allowed{};
    allowed[15] = 0x99;
    p.acl.initiator_port_ids.push_back(allowed);
    auto d = decide(request(), p);
    CHECK(d.reason == wire::LoginRejectReason::unable_to_establish_channel);
    CHECK(d.explanation.find("not in the ACL") != std::string::npos);
    auto r = request();
    r.initiator_port_id = allowed;
    CHECK(decide(r, p).accepted);
    p.acl.source_addresses.push_back("10.0.2.15");
    CHECK(decide(request(), p).accepted);
}

TEST_CASE("login reject: channel limit of the nexus", "[login]") {
    auto r = request();
    r.req_flags = wire::kMultiChannelMulti;
    auto p = policy();
    p.max_channels_per_nexus = 2;
    CHECK(decide(r, p, 1).accepted);
    CHECK(decide(r, p, 2).reason == wire::LoginRejectReason::channel_limit_reached);
}

TEST_CASE("port ids parse and format", "[login]") {
    auto id = parse_port_id("fe80:0000:0000:0000:5054:00ff:fe12:3456");
    REQUIRE(id.has_value());
    CHECK(format_port_id(*id) == "fe80000000000000505400fffe123456");
    CHECK(parse_port_id("0xfe80000000000000505400fffe123456").has_value());
    CHECK_FALSE(parse_port_id("fe80").has_value());
    CHECK_FALSE(parse_port_id("zz80000000000000505400fffe123456").has_value());
    CHECK(format_port_id(make_target_port_id(1, 2)) == "00000000000000010000000000000002");
}
