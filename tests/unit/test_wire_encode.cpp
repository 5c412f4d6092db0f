// Encoders for the variable IUs, checked against golden bytes and parsed back.
#include <catch2/catch.hpp>

#include "common/wire/iu_encode.h"
#include "tests/unit/hex.h"

using namespace srp::wire;
using srp::test::hex;
using srp::test::to_hex;

namespace {
const Tag kTag{0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88};
}

TEST_CASE("encode SRP_RSP with sense sets SNSVALID and the length", "[wire][encode]") {
    RspHeader h{};
    h.tag = kTag;
    h.req_lim_delta = 1;
    h.status = 0x02;
    const auto sense = hex("70 00 05 00 00 00 00 0a 00 00 00 00 20 00 00 00 00 00");
    std::vector<std::uint8_t> out(256);
    auto n = encode_rsp(out, h, {}, sense);
    REQUIRE(n.has_value());
    CHECK(*n == 36 + 18);
    out.resize(*n);
    CHECK(to_hex(out) ==
          "c1 00 00 00 00 00 00 01 11 22 33 44 55 66 77 88 00 00 02 02 00 00 00 00 00 00 00 00 00 00 00 12 "
          "00 00 00 00 70 00 05 00 00 00 00 0a 00 00 00 00 20 00 00 00 00 00");
    auto back = parse_rsp(out);
    REQUIRE(back.has_value());
    CHECK(back->sense_data.size() == 18);
}

TEST_CASE("encode SRP_RSP for task management carries 4 bytes of response data", "[wire][encode]") {
    RspHeader h{};
    h.tag = kTag;
    h.req_lim_delta = 1;
    const auto response = hex("00 00 00 05");
    std::vector<std::uint8_t> out(64);
    auto n = encode_rsp(out, h, response, {});
    REQUIRE(n.has_value());
    out.resize(*n);
    CHECK(to_hex(out) ==
          "c1 00 00 00 00 00 00 01 11 22 33 44 55 66 77 88 00 00 01 00 00 00 00 00 00 00 00 00 00 00 00 00 "
          "00 00 00 04 00 00 00 05");
}

TEST_CASE("encode SRP_RSP keeps residual flags and clears stale valid bits", "[wire][encode]") {
    RspHeader h{};
    h.flags = kRspFlagDiUnder | kRspFlagSnsValid;
    h.data_in_res_cnt = 100;
    std::vector<std::uint8_t> out(64);
    auto n = encode_rsp(out, h, {}, {});
    REQUIRE(n.has_value());
    CHECK(out[18] == kRspFlagDiUnder);
    CHECK(out[27] == 100);
}

TEST_CASE("encode SRP_RSP refuses a small buffer", "[wire][encode]") {
    std::vector<std::uint8_t> out(40);
    const auto sense = hex("70 00 05 00 00 00 00 0a 00 00 00 00 20 00 00 00 00 00");
    CHECK(encode_rsp(out, RspHeader{}, {}, sense).error() == WireError::buffer_too_small);
}

TEST_CASE("encode SRP_CMD with an indirect table - then parse it back", "[wire][encode]") {
    CmdHeader h{};
    h.tag = kTag;
    h.buf_fmt = 0x02;
    h.data_in_desc_cnt = 2;
    h.cdb[0] = 0x88;
    DirectDescriptor d[2]{};
    d[0].va = 0x1000;
    d[0].key = 5;
    d[0].len = 512;
    d[1].va = 0x3000;
    d[1].key = 6;
    d[1].len = 1024;
    IndirectHeader ih{};
    ih.table_desc.va = 0x8000;
    ih.table_desc.key = 9;
    ih.table_desc.len = 32;
    ih.len = 1536;
    std::vector<std::uint8_t> desc(64);
    auto dn = encode_indirect(desc, ih, d);
    REQUIRE(dn.has_value());
    CHECK(*dn == 52);
    desc.resize(*dn);
    std::vector<std::uint8_t> out(128);
    auto n = encode_cmd(out, h, {}, desc);
    REQUIRE(n.has_value());
    CHECK(*n == 100);
    out.resize(*n);
    CHECK(to_hex(std::span(out).subspan(48, 20)) ==
          "00 00 00 00 00 00 80 00 00 00 00 09 00 00 00 20 00 00 06 00");
    auto c = parse_cmd(out, 0);
    REQUIRE(c.has_value());
    CHECK(c->data_in.total_length == 1536);
    CHECK(c->data_in.descriptor(1).va.value() == 0x3000);
}

TEST_CASE("encode SRP_CMD with an additional CDB sets add_cdb_len", "[wire][encode]") {
    CmdHeader h{};
    const auto extra = hex("01 02 03 04 05 06 07 08");
    std::vector<std::uint8_t> out(64);
    auto n = encode_cmd(out, h, extra, {});
    REQUIRE(n.has_value());
    CHECK(*n == 56);
    CHECK(out[31] == 8);
    CHECK(out[48] == 1);
    const auto odd = hex("01 02 03");
    CHECK(encode_cmd(out, h, odd, {}).error() == WireError::add_cdb_len_not_multiple_of_4);
}

TEST_CASE("encode SRP_CMD with immediate data at offset 68 like ib_srp", "[wire][encode]") {
    CmdHeader h{};
    h.tag = kTag;
    h.cdb[0] = 0x2a;
    const auto data = hex("aa bb cc dd");
    std::vector<std::uint8_t> out(128, 0xee);
    auto n = encode_cmd_immediate(out, h, 68, data);
    REQUIRE(n.has_value());
    CHECK(*n == 72);
    CHECK(out[5] == 0x30);
    CHECK(to_hex(std::span(out).subspan(48, 4)) == "00 00 00 04");
    CHECK(out[52] == 0);  // padding is zeroed
    CHECK(to_hex(std::span(out).subspan(68, 4)) == "aa bb cc dd");
    out.resize(*n);
    auto c = parse_cmd(out, 68);
    REQUIRE(c.has_value());
    CHECK(to_hex(c->data_out.immediate_data) == "aa bb cc dd");
}

TEST_CASE("encode_cmd_immediate refuses an offset inside the descriptor", "[wire][encode]") {
    std::vector<std::uint8_t> out(128);
    CHECK(encode_cmd_immediate(out, CmdHeader{}, 50, {}).error() == WireError::immediate_data_beyond_iu);
}

TEST_CASE("opcode and reject reason names", "[wire]") {
    CHECK(opcode_name(0xc1) == "SRP_RSP");
    CHECK(opcode_name(0x02) == "SRP_CMD");
    CHECK(opcode_name(0x77) == "unknown");
    CHECK(login_reject_reason_name(0x00010002) ==
          "requested maximum initiator to target IU length too large");
    CHECK(login_reject_reason_name(0x12345678) == "unknown reason");
}
