// Parsing golden bytes into IUs, and every malformed input the parser must refuse.
#include <catch2/catch.hpp>

#include "common/wire/iu_encode.h"
#include "common/wire/iu_parse.h"
#include "tests/unit/hex.h"

using namespace srp::wire;
using srp::test::hex;
using srp::test::to_hex;

namespace {

// An SRP_CMD: READ(10) of 8 blocks, tag 0x01..0x08, LUN 1, with the given
// buf_fmt, counts, additional CDB bytes and descriptor bytes.
std::vector<std::uint8_t> cmd(std::uint8_t buf_fmt, std::uint8_t out_cnt, std::uint8_t in_cnt,
                              std::string_view add_cdb_and_descriptors, std::uint8_t add_cdb_len = 0) {
    auto bytes = hex("02 00 00 00 00 00 00 00 01 02 03 04 05 06 07 08 00 00 00 00 00 01 00 00 00 00 00 00 00 00 00 00 "
                     "28 00 00 00 00 10 00 00 08 00 00 00 00 00 00 00");
    bytes[5] = buf_fmt;
    bytes[6] = out_cnt;
    bytes[7] = in_cnt;
    bytes[31] = add_cdb_len;
    const auto tail = hex(add_cdb_and_descriptors);
    bytes.insert(bytes.end(), tail.begin(), tail.end());
    return bytes;
}

constexpr std::string_view kDirect = "00 00 00 00 aa bb cc 00 00 00 12 34 00 00 10 00";  // va, rkey 0x1234, 4096

}  // namespace

TEST_CASE("parse srp_login_req_rdma from ib_srp private data", "[wire][parse]") {
    const auto pd = hex("11 22 33 44 55 66 77 88 00 06 81 00 00 00 20 44 a0 a1 a2 a3 a4 a5 a6 a7 a8 a9 aa ab ac ad ae af "
                        "b0 b1 b2 b3 b4 b5 b6 b7 b8 b9 ba bb bc bd be bf 00 44 00 00 00 00 00 00");
    auto req = parse_login_req_rdma(pd);
    REQUIRE(req.has_value());
    CHECK(req->req_it_iu_len.value() == 8260);
    CHECK(req->req_buf_fmt.value() == 6);
    CHECK(req->req_flags == 0x81);
    CHECK(req->imm_data_offset.value() == 68);
    CHECK(req->initiator_port_id[0] == 0xa0);
    CHECK(req->target_port_id[15] == 0xbf);
    CHECK(req->tag[0] == 0x11);
}

TEST_CASE("login private data shorter than 56 bytes is truncated", "[wire][parse]") {
    std::vector<std::uint8_t> pd(55, 0);
    CHECK(parse_login_req_rdma(pd).error() == WireError::truncated);
}

TEST_CASE("login private data with an opcode other than 0 at byte 11 is refused", "[wire][parse]") {
    std::vector<std::uint8_t> pd(56, 0);
    pd[11] = 0x02;
    CHECK(parse_login_req_rdma(pd).error() == WireError::wrong_opcode);
}

TEST_CASE("parse SRP_LOGIN_REQ (64-byte IU)", "[wire][parse]") {
    auto bytes = hex("00 00 00 00 00 00 00 00 11 22 33 44 55 66 77 88 00 00 10 00 00 00 00 00 00 02 00 00 00 00 00 00");
    bytes.resize(64, 0x5a);
    auto req = parse_login_req(bytes);
    REQUIRE(req.has_value());
    CHECK(req->req_it_iu_len.value() == 4096);
    CHECK(req->req_buf_fmt.value() == kBufFmtDirect);
    CHECK(req->target_port_id[0] == 0x5a);
    bytes.resize(63);
    CHECK(parse_login_req(bytes).error() == WireError::truncated);
}

TEST_CASE("parse SRP_LOGIN_RSP", "[wire][parse]") {
    auto bytes = hex("c0 00 00 00 00 00 00 80 11 22 33 44 55 66 77 88 00 00 20 54 00 00 01 00 00 06 80");
    bytes.resize(52, 0);
    auto rsp = parse_login_rsp(bytes);
    REQUIRE(rsp.has_value());
    CHECK(rsp->req_lim_delta.value() == 128);
    CHECK(rsp->max_it_iu_len.value() == 8276);
    CHECK(rsp->max_ti_iu_len.value() == 256);
    CHECK(rsp->rsp_flags == kRspFlagImmediateSupported);
    bytes.resize(51);
    CHECK(parse_login_rsp(bytes).error() == WireError::truncated);
}

TEST_CASE("parse SRP_LOGIN_REJ and name its reason", "[wire][parse]") {
    auto bytes = hex("c2 00 00 00 00 01 00 06 11 22 33 44 55 66 77 88 00 00 00 00 00 00 00 00 00 06 00 00 00 00 00 00");
    auto rej = parse_login_rej(bytes);
    REQUIRE(rej.has_value());
    CHECK(rej->reason.value() == 0x00010006);
    CHECK(login_reject_reason_name(rej->reason.value()) == "RDMA channel limit reached for this initiator");
}

TEST_CASE("parse logouts - credit and AER responses", "[wire][parse]") {
    CHECK(parse_i_logout(hex("03 00 00 00 00 00 00 00 01 02 03 04 05 06 07 08"))->tag[7] == 8);
    CHECK(parse_t_logout(hex("80 01 00 00 00 01 00 00 01 02 03 04 05 06 07 08"))->reason.value() == 0x10000);
    CHECK(parse_cred_req(hex("81 00 00 00 00 00 00 05 01 02 03 04 05 06 07 08"))->req_lim_delta.value() == 5);
    CHECK(parse_cred_rsp(hex("41 00 00 00 00 00 00 00 01 02 03 04 05 06 07 08")).has_value());
    CHECK(parse_aer_rsp(hex("42 00 00 00 00 00 00 00 01 02 03 04 05 06 07 08")).has_value());
    CHECK(parse_i_logout(hex("03 00 00 00 00 00 00 00 01 02 03 04 05 06 07")).error() == WireError::truncated);
    CHECK(parse_cred_rsp(hex("42 00 00 00 00 00 00 00 01 02 03 04 05 06 07 08")).error() == WireError::wrong_opcode);
}

TEST_CASE("parse SRP_TSK_MGMT", "[wire][parse]") {
    auto bytes = hex("01 00 00 00 00 00 00 00 11 22 33 44 55 66 77 88 00 00 00 00 00 05 00 00 00 00 00 00 00 00 08 00 "
                     "01 02 03 04 05 06 07 08 00 00 00 00 00 00 00 00");
    auto t = parse_tsk_mgmt(bytes);
    REQUIRE(t.has_value());
    CHECK(t->tsk_mgmt_func == 0x08);
    CHECK(t->lun[1] == 5);
    CHECK(t->task_tag[0] == 1);
    bytes.resize(47);
    CHECK(parse_tsk_mgmt(bytes).error() == WireError::truncated);
}

TEST_CASE("parse SRP_RSP with response data and sense", "[wire][parse]") {
    auto bytes = hex("c1 00 00 00 00 00 00 01 11 22 33 44 55 66 77 88 00 00 03 02 00 00 00 00 00 00 00 00 "
                     "00 00 00 12 00 00 00 04 | 00 00 00 05 | 70 00 05 00 00 00 00 0a 00 00 00 00 24 00 00 c0 00 02");
    auto r = parse_rsp(bytes);
    REQUIRE(r.has_value());
    CHECK(r->header.status == 2);
    CHECK(to_hex(r->response_data) == "00 00 00 05");
    CHECK(r->sense_data.size() == 18);
    CHECK(r->sense_data[12] == 0x24);
}

TEST_CASE("SRP_RSP whose sense length runs past the IU is refused", "[wire][parse]") {
    auto bytes = hex("c1 00 00 00 00 00 00 01 11 22 33 44 55 66 77 88 00 00 02 02 00 00 00 00 00 00 00 00 "
                     "00 00 00 12 00 00 00 00 | 70 00 05 00");
    CHECK(parse_rsp(bytes).error() == WireError::sense_beyond_iu);
}

TEST_CASE("SRP_RSP whose response data runs past the IU is refused", "[wire][parse]") {
    auto bytes = hex("c1 00 00 00 00 00 00 01 11 22 33 44 55 66 77 88 00 00 01 00 00 00 00 00 00 00 00 00 "
                     "00 00 00 00 00 00 00 08 | 00 00 00 00");
    CHECK(parse_rsp(bytes).error() == WireError::response_data_beyond_iu);
}

TEST_CASE("parse SRP_AER_REQ and refuse a sense length past the IU", "[wire][parse]") {
    auto bytes = hex("82 00 00 00 00 00 00 02 11 22 33 44 55 66 77 88 00 00 00 00 00 01 00 00 00 00 00 00 00 00 00 04 "
                     "00 00 00 00 70 00 06 00");
    auto a = parse_aer_req(bytes);
    REQUIRE(a.has_value());
    CHECK(a->sense_data.size() == 4);
    bytes.pop_back();
    CHECK(parse_aer_req(bytes).error() == WireError::sense_beyond_iu);
}

TEST_CASE("parse SRP_CMD without data", "[wire][parse]") {
    const auto bytes = cmd(0x00, 0, 0, "");
    auto c = parse_cmd(bytes, 0);
    REQUIRE(c.has_value());
    CHECK(c->cdb.size() == 16);
    CHECK(c->cdb[0] == 0x28);
    CHECK(c->data_out.format == DataFormat::none);
    CHECK(c->data_in.format == DataFormat::none);
    CHECK(c->header.lun[1] == 1);
}

TEST_CASE("parse SRP_CMD with a direct DATA-IN descriptor", "[wire][parse]") {
    const auto bytes = cmd(0x01, 0, 0, kDirect);
    auto c = parse_cmd(bytes, 0);
    REQUIRE(c.has_value());
    CHECK(c->data_in.format == DataFormat::direct);
    CHECK(c->data_in.total_length == 4096);
    REQUIRE(c->data_in.count_in_iu() == 1);
    CHECK(c->data_in.descriptor(0).key.value() == 0x1234);
    CHECK(c->data_in.descriptor(0).va.value() == 0xaabbcc00ull);
    CHECK_FALSE(c->data_in.table_is_partial());
}

TEST_CASE("parse SRP_CMD with direct DATA-OUT and DATA-IN: out comes first", "[wire][parse]") {
    const std::string both = std::string(kDirect) + " 00 00 00 00 00 00 00 01 00 00 00 02 00 00 02 00";
    const auto bytes = cmd(0x11, 0, 0, both);
    auto c = parse_cmd(bytes, 0);
    REQUIRE(c.has_value());
    CHECK(c->data_out.total_length == 4096);
    CHECK(c->data_in.total_length == 512);
    CHECK(c->data_in.descriptor(0).key.value() == 2);
}

TEST_CASE("parse SRP_CMD with an indirect table that fits in the IU", "[wire][parse]") {
    const std::string indirect = "00 00 00 00 00 00 90 00 00 00 00 77 00 00 00 20 00 00 20 00 " + std::string(kDirect) +
                                 " 00 00 00 00 00 00 a0 00 00 00 00 99 00 00 10 00";
    const auto bytes = cmd(0x20, 2, 0, indirect);
    auto c = parse_cmd(bytes, 0);
    REQUIRE(c.has_value());
    CHECK(c->data_out.format == DataFormat::indirect);
    CHECK(c->data_out.total_length == 8192);
    CHECK(c->data_out.table_count == 2);
    CHECK(c->data_out.count_in_iu() == 2);
    CHECK_FALSE(c->data_out.table_is_partial());
    CHECK(c->data_out.descriptor(1).key.value() == 0x99);
}

TEST_CASE("parse SRP_CMD with a partial indirect table (allow_ext_sg)", "[wire][parse]") {
    // Table of 4 descriptors (64 bytes) in initiator memory, only 1 in the IU.
    const std::string indirect = "00 00 00 00 00 00 90 00 00 00 00 77 00 00 00 40 00 00 40 00 " + std::string(kDirect);
    const auto bytes = cmd(0x02, 0, 1, indirect);
    auto c = parse_cmd(bytes, 0);
    REQUIRE(c.has_value());
    CHECK(c->data_in.table_count == 4);
    CHECK(c->data_in.count_in_iu() == 1);
    CHECK(c->data_in.table_is_partial());
    CHECK(c->data_in.table.key.value() == 0x77);
    CHECK(c->data_in.table.va.value() == 0x9000);
}

TEST_CASE("parse SRP_CMD with SRP-2 immediate data at the negotiated offset", "[wire][parse]") {
    // Descriptor at 48 (len 8), 12 bytes of padding, data at offset 64.
    auto bytes = cmd(0x30, 0, 0, "00 00 00 08 00 00 00 00 00 00 00 00 00 00 00 00 | de ad be ef 01 02 03 04");
    auto c = parse_cmd(bytes, 64);
    REQUIRE(c.has_value());
    CHECK(c->data_out.format == DataFormat::immediate);
    CHECK(to_hex(c->data_out.immediate_data) == "de ad be ef 01 02 03 04");
}

TEST_CASE("SRP_CMD with additional CDB bytes: CDB is contiguous - descriptors follow", "[wire][parse]") {
    const std::string tail = "a1 a2 a3 a4 " + std::string(kDirect);
    const auto bytes = cmd(0x01, 0, 0, tail, 4);
    auto c = parse_cmd(bytes, 0);
    REQUIRE(c.has_value());
    CHECK(c->cdb.size() == 20);
    CHECK(c->cdb[16] == 0xa1);
    CHECK(c->data_in.descriptor(0).key.value() == 0x1234);
}

TEST_CASE("malformed SRP_CMD: truncated header", "[wire][parse][malformed]") {
    auto bytes = cmd(0x00, 0, 0, "");
    bytes.resize(47);
    CHECK(parse_cmd(bytes, 0).error() == WireError::truncated);
}

TEST_CASE("malformed SRP_CMD: wrong opcode", "[wire][parse][malformed]") {
    auto bytes = cmd(0x00, 0, 0, "");
    bytes[0] = 0x01;
    CHECK(parse_cmd(bytes, 0).error() == WireError::wrong_opcode);
}

TEST_CASE("malformed SRP_CMD: additional CDB length not a multiple of 4", "[wire][parse][malformed]") {
    CHECK(parse_cmd(cmd(0x00, 0, 0, "00 00 00 00 00 00", 6), 0).error() == WireError::add_cdb_len_not_multiple_of_4);
}

TEST_CASE("malformed SRP_CMD: additional CDB beyond the IU", "[wire][parse][malformed]") {
    CHECK(parse_cmd(cmd(0x00, 0, 0, "00 00 00 00", 8), 0).error() == WireError::cdb_beyond_iu);
}

TEST_CASE("malformed SRP_CMD: direct descriptor cut short", "[wire][parse][malformed]") {
    CHECK(parse_cmd(cmd(0x01, 0, 0, "00 00 00 00 aa bb cc 00 00 00 12 34 00 00 10"), 0).error() ==
          WireError::descriptor_beyond_iu);
}

TEST_CASE("malformed SRP_CMD: indirect header cut short", "[wire][parse][malformed]") {
    CHECK(parse_cmd(cmd(0x02, 0, 1, "00 00 00 00 00 00 90 00 00 00 00 77 00 00 00 10 00 00"), 0).error() ==
          WireError::descriptor_beyond_iu);
}

TEST_CASE("malformed SRP_CMD: descriptor count larger than the IU", "[wire][parse][malformed]") {
    const std::string indirect = "00 00 00 00 00 00 90 00 00 00 00 77 00 00 00 30 00 00 30 00 " + std::string(kDirect);
    CHECK(parse_cmd(cmd(0x02, 0, 3, indirect), 0).error() == WireError::descriptor_count_exceeds_iu);
}

TEST_CASE("malformed SRP_CMD: descriptor table length not a multiple of 16", "[wire][parse][malformed]") {
    const std::string indirect = "00 00 00 00 00 00 90 00 00 00 00 77 00 00 00 18 00 00 30 00 " + std::string(kDirect);
    CHECK(parse_cmd(cmd(0x02, 0, 1, indirect), 0).error() == WireError::descriptor_table_bad_length);
}

TEST_CASE("malformed SRP_CMD: table shorter than the descriptors in the IU", "[wire][parse][malformed]") {
    const std::string indirect = "00 00 00 00 00 00 90 00 00 00 00 77 00 00 00 10 00 00 30 00 " +
                                 std::string(kDirect) + " " + std::string(kDirect);
    CHECK(parse_cmd(cmd(0x02, 0, 2, indirect), 0).error() == WireError::descriptor_table_bad_length);
}

TEST_CASE("malformed SRP_CMD: reserved buffer format nibble", "[wire][parse][malformed]") {
    CHECK(parse_cmd(cmd(0x04, 0, 0, kDirect), 0).error() == WireError::unsupported_data_format);
    CHECK(parse_cmd(cmd(0x50, 0, 0, kDirect), 0).error() == WireError::unsupported_data_format);
}

TEST_CASE("malformed SRP_CMD: immediate data for DATA-IN", "[wire][parse][malformed]") {
    CHECK(parse_cmd(cmd(0x03, 0, 0, "00 00 00 00"), 68).error() == WireError::unsupported_data_format);
}

TEST_CASE("malformed SRP_CMD: immediate data not granted at login", "[wire][parse][malformed]") {
    CHECK(parse_cmd(cmd(0x30, 0, 0, "00 00 00 04 00 00 00 00"), 0).error() == WireError::immediate_data_not_negotiated);
}

TEST_CASE("malformed SRP_CMD: immediate data length beyond the IU", "[wire][parse][malformed]") {
    auto bytes = cmd(0x30, 0, 0, "00 00 01 00 00 00 00 00 00 00 00 00 00 00 00 00 de ad be ef");
    CHECK(parse_cmd(bytes, 64).error() == WireError::immediate_data_beyond_iu);
}

TEST_CASE("malformed SRP_CMD: immediate data offset overlapping the descriptor", "[wire][parse][malformed]") {
    auto bytes = cmd(0x30, 0, 0, "00 00 00 04 00 00 00 00");
    CHECK(parse_cmd(bytes, 50).error() == WireError::immediate_data_beyond_iu);
}

TEST_CASE("peek_opcode refuses an empty IU", "[wire][parse][malformed]") {
    CHECK(peek_opcode({}).error() == WireError::truncated);
    const auto one = hex("02");
    CHECK(*peek_opcode(one) == Opcode::cmd);
}

TEST_CASE("every wire error has a description", "[wire]") {
    for (int e = 0; e <= static_cast<int>(WireError::buffer_too_small); ++e)
        CHECK(to_string(static_cast<WireError>(e)) != "unknown wire error");
}
