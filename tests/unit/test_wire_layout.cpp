// Golden bytes for every fixed SRP IU, built field by field and compared with
// the offsets of ../shared/reference/srp-wire-and-anchors.md section 1.2.
#include <catch2/catch.hpp>

#include "common/wire/iu_encode.h"
#include "tests/unit/hex.h"

using namespace srp::wire;
using srp::test::hex;
using srp::test::to_hex;

namespace {
const Tag kTag{0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88};
PortId port(std::uint8_t first) {
    PortId p{};
    for (std::size_t i = 0; i < p.size(); ++i) p[i] = static_cast<std::uint8_t>(first + i);
    return p;
}
template <class T>
std::string encoded(const T& iu) {
    std::vector<std::uint8_t> out(sizeof(T) + 8, 0xee);
    auto n = encode(std::span(out), iu);
    REQUIRE(n.has_value());
    REQUIRE(*n == sizeof(T));
    out.resize(*n);
    return to_hex(out);
}
}  // namespace

TEST_CASE("BigEndian stores the most significant byte first", "[wire]") {
    Be32 v = 0x01020304u;
    CHECK(to_hex(srp::test::bytes_of(v)) == "01 02 03 04");
    CHECK(v.value() == 0x01020304u);
    Be64 w = 0x0102030405060708ull;
    CHECK(to_hex(srp::test::bytes_of(w)) == "01 02 03 04 05 06 07 08");
}

TEST_CASE("SRP_LOGIN_REQ golden bytes (64)", "[wire]") {
    auto req = make_iu<LoginReq>(Opcode::login_req);
    req.tag = kTag;
    req.req_it_iu_len = 8260;
    req.req_buf_fmt = kBufFmtDirect | kBufFmtIndirect;
    req.req_flags = kMultiChannelMulti | kReqFlagImmediateRequested;
    req.imm_data_offset = 68;
    req.initiator_port_id = port(0xa0);
    req.target_port_id = port(0xb0);
    CHECK(encoded(req) ==
          "00 00 00 00 00 00 00 00 11 22 33 44 55 66 77 88 00 00 20 44 00 00 00 00 00 06 81 00 00 44 00 00 "
          "a0 a1 a2 a3 a4 a5 a6 a7 a8 a9 aa ab ac ad ae af b0 b1 b2 b3 b4 b5 b6 b7 b8 b9 ba bb bc bd be bf");
}

TEST_CASE("srp_login_req_rdma golden bytes (56 - opcode at 11)", "[wire]") {
    auto req = make_login_req_rdma();
    req.tag = kTag;
    req.req_buf_fmt = kBufFmtDirect | kBufFmtIndirect;
    req.req_flags = kReqFlagImmediateRequested;
    req.req_it_iu_len = 8260;
    req.initiator_port_id = port(0xa0);
    req.target_port_id = port(0xb0);
    req.imm_data_offset = 68;
    CHECK(encoded(req) ==
          "11 22 33 44 55 66 77 88 00 06 80 00 00 00 20 44 a0 a1 a2 a3 a4 a5 a6 a7 a8 a9 aa ab ac ad ae af "
          "b0 b1 b2 b3 b4 b5 b6 b7 b8 b9 ba bb bc bd be bf 00 44 00 00 00 00 00 00");
}

TEST_CASE("login request converts between IU and RDMA/CM private data", "[wire]") {
    auto req = make_iu<LoginReq>(Opcode::login_req);
    req.tag = kTag;
    req.req_it_iu_len = 4096;
    req.req_flags = 1;
    req.initiator_port_id = port(1);
    req.target_port_id = port(2);
    req.imm_data_offset = 80;
    const auto back = from_rdma_private_data(to_rdma_private_data(req));
    CHECK(to_hex(srp::test::bytes_of(back)) == to_hex(srp::test::bytes_of(req)));
}

TEST_CASE("SRP_LOGIN_RSP golden bytes (52)", "[wire]") {
    auto rsp = make_iu<LoginRsp>(Opcode::login_rsp);
    rsp.req_lim_delta = 128;
    rsp.tag = kTag;
    rsp.max_it_iu_len = 8276;
    rsp.max_ti_iu_len = 256;
    rsp.buf_fmt = kBufFmtDirect | kBufFmtIndirect;
    rsp.rsp_flags = kRspFlagImmediateSupported | kRspFlagChannelsMaintained;
    CHECK(encoded(rsp) ==
          "c0 00 00 00 00 00 00 80 11 22 33 44 55 66 77 88 00 00 20 54 00 00 01 00 00 06 82 00 00 00 00 00 "
          "00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00");
}

TEST_CASE("SRP_LOGIN_REJ golden bytes (32)", "[wire]") {
    auto rej = make_iu<LoginRej>(Opcode::login_rej);
    rej.reason = static_cast<std::uint32_t>(LoginRejectReason::it_iu_length_too_large);
    rej.tag = kTag;
    rej.buf_fmt = kBufFmtDirect | kBufFmtIndirect;
    CHECK(encoded(rej) ==
          "c2 00 00 00 00 01 00 02 11 22 33 44 55 66 77 88 00 00 00 00 00 00 00 00 00 06 00 00 00 00 00 00");
}

TEST_CASE("SRP_I_LOGOUT and SRP_T_LOGOUT golden bytes (16)", "[wire]") {
    auto i = make_iu<ILogout>(Opcode::i_logout);
    i.tag = kTag;
    CHECK(encoded(i) == "03 00 00 00 00 00 00 00 11 22 33 44 55 66 77 88");
    auto t = make_iu<TLogout>(Opcode::t_logout);
    t.sol_not = 1;
    t.reason = 0x00010000;
    t.tag = kTag;
    CHECK(encoded(t) == "80 01 00 00 00 01 00 00 11 22 33 44 55 66 77 88");
}

TEST_CASE("SRP_TSK_MGMT golden bytes (48)", "[wire]") {
    auto t = make_iu<TskMgmt>(Opcode::tsk_mgmt);
    t.tag = kTag;
    t.lun = {0x00, 0x05, 0, 0, 0, 0, 0, 0};
    t.tsk_mgmt_func = static_cast<std::uint8_t>(TaskManagementFunction::abort_task);
    t.task_tag = {1, 2, 3, 4, 5, 6, 7, 8};
    CHECK(encoded(t) ==
          "01 00 00 00 00 00 00 00 11 22 33 44 55 66 77 88 00 00 00 00 00 05 00 00 00 00 00 00 00 00 01 00 "
          "01 02 03 04 05 06 07 08 00 00 00 00 00 00 00 00");
}

TEST_CASE("SRP_CMD header golden bytes (48)", "[wire]") {
    auto c = make_iu<CmdHeader>(Opcode::cmd);
    c.buf_fmt = 0x12;
    c.data_out_desc_cnt = 0;
    c.data_in_desc_cnt = 3;
    c.tag = kTag;
    c.lun = {0x40, 0x10, 0, 0, 0, 0, 0, 0};
    c.task_attr = static_cast<std::uint8_t>(TaskAttribute::ordered);
    c.cdb = {0x28, 0, 0, 0, 0, 0x10, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0};
    CHECK(encoded(c) ==
          "02 00 00 00 00 12 00 03 11 22 33 44 55 66 77 88 00 00 00 00 40 10 00 00 00 00 00 00 00 02 00 00 "
          "28 00 00 00 00 10 00 00 08 00 00 00 00 00 00 00");
}

TEST_CASE("SRP_RSP header golden bytes (36)", "[wire]") {
    auto r = make_iu<RspHeader>(Opcode::rsp);
    r.req_lim_delta = 1;
    r.tag = kTag;
    r.flags = kRspFlagDiUnder;
    r.status = 0;
    r.data_in_res_cnt = 512;
    CHECK(encoded(r) ==
          "c1 00 00 00 00 00 00 01 11 22 33 44 55 66 77 88 00 00 20 00 00 00 00 00 00 00 02 00 00 00 00 00 "
          "00 00 00 00");
}

TEST_CASE("SRP_CRED_REQ and SRP_CRED_RSP golden bytes (16)", "[wire]") {
    auto req = make_iu<CredReq>(Opcode::cred_req);
    req.sol_not = 1;
    req.req_lim_delta = 7;
    req.tag = kTag;
    CHECK(encoded(req) == "81 01 00 00 00 00 00 07 11 22 33 44 55 66 77 88");
    auto rsp = make_iu<CredRsp>(Opcode::cred_rsp);
    rsp.tag = kTag;
    CHECK(encoded(rsp) == "41 00 00 00 00 00 00 00 11 22 33 44 55 66 77 88");
}

TEST_CASE("SRP_AER_REQ and SRP_AER_RSP golden bytes", "[wire]") {
    auto req = make_iu<AerReqHeader>(Opcode::aer_req);
    req.req_lim_delta = 2;
    req.tag = kTag;
    req.lun = {0, 1, 0, 0, 0, 0, 0, 0};
    const auto sense = hex("70 00 06 00 00 00 00 0a 00 00 00 00 29 00 00 00 00 00");
    std::vector<std::uint8_t> out(64, 0xee);
    auto n = encode_aer_req(out, req, sense);
    REQUIRE(n.has_value());
    out.resize(*n);
    CHECK(to_hex(out) ==
          "82 00 00 00 00 00 00 02 11 22 33 44 55 66 77 88 00 00 00 00 00 01 00 00 00 00 00 00 00 00 00 12 "
          "00 00 00 00 70 00 06 00 00 00 00 0a 00 00 00 00 29 00 00 00 00 00");
    auto rsp = make_iu<AerRsp>(Opcode::aer_rsp);
    rsp.tag = kTag;
    CHECK(encoded(rsp) == "42 00 00 00 00 00 00 00 11 22 33 44 55 66 77 88");
}

TEST_CASE("direct - indirect and immediate descriptors golden bytes", "[wire]") {
    DirectDescriptor d{};
    d.va = 0x0000'7f00'1234'5000ull;
    d.key = 0xabcd;
    d.len = 4096;
    CHECK(encoded(d) == "00 00 7f 00 12 34 50 00 00 00 ab cd 00 00 10 00");
    IndirectHeader ih{};
    ih.table_desc.va = 0x1000;
    ih.table_desc.key = 0x42;
    ih.table_desc.len = 32;
    ih.len = 8192;
    CHECK(encoded(ih) == "00 00 00 00 00 00 10 00 00 00 00 42 00 00 00 20 00 00 20 00");
    ImmediateHeader imm{};
    imm.len = 512;
    CHECK(encoded(imm) == "00 00 02 00");
}

TEST_CASE("encode refuses a buffer that is too small", "[wire]") {
    std::vector<std::uint8_t> out(51);
    auto n = encode(std::span(out), make_iu<LoginRsp>(Opcode::login_rsp));
    REQUIRE_FALSE(n.has_value());
    CHECK(n.error() == WireError::buffer_too_small);
}
