// Whole SRP exchanges against a target channel over the loopback fabric:
// descriptor formats, immediate data, residuals, credits, task management,
// logout and injected faults.
#include "common/scsi/cdb.h"
#include "tests/loopback/loopback_fixture.h"

using namespace srp;
using namespace srp::test;

namespace {
std::vector<std::uint8_t> rw16(std::uint8_t op, std::uint64_t lba, std::uint32_t blocks) {
    auto c = scsi::make_rw16(op, lba, blocks);
    return {c.begin(), c.end()};
}
void fill(std::span<std::uint8_t> s, std::uint8_t seed) {
    for (std::size_t i = 0; i < s.size(); ++i) s[i] = static_cast<std::uint8_t>(seed + i * 13 + (i >> 8));
}
}  // namespace

TEST_CASE("READ with a direct descriptor: RDMA WRITE from the mapping, then SRP_RSP", "[loopback]") {
    LoopbackTarget t;
    auto& l = t.link();
    fill(t.medium().subspan(8 * 512, 4096), 7);
    const auto tag = l.command(rw16(0x88, 8, 8), false, 0, 4096);
    auto r = l.response();
    REQUIRE(r);
    CHECK(r->status() == 0);
    CHECK(r->header.tag == tag_of(tag));
    CHECK(r->credits() == 1);
    CHECK(r->header.flags == 0);
    CHECK(std::equal(l.memory.begin(), l.memory.begin() + 4096, t.medium().begin() + 8 * 512));
}

TEST_CASE("WRITE with a direct descriptor: RDMA READ into the mapping", "[loopback]") {
    LoopbackTarget t;
    auto& l = t.link();
    fill(std::span(l.memory).first(2048), 3);
    l.command(rw16(0x8a, 100, 4), true, 0, 2048);
    auto r = l.response();
    REQUIRE(r);
    CHECK(r->status() == 0);
    CHECK(std::equal(l.memory.begin(), l.memory.begin() + 2048, t.medium().begin() + 100 * 512));
}

TEST_CASE("the bounce path moves the same bytes when the backstore is not registered", "[loopback]") {
    LoopbackTarget t(false);
    auto& l = t.link();
    fill(std::span(l.memory).first(300 * 1024), 5);
    l.command(rw16(0x8a, 0, 600), true, 0, 600 * 512);
    REQUIRE(l.response()->status() == 0);
    CHECK(std::equal(l.memory.begin(), l.memory.begin() + 600 * 512, t.medium().begin()));
    l.command(rw16(0x88, 0, 600), false, 1 << 20, 600 * 512);
    REQUIRE(l.response()->status() == 0);
    CHECK(std::equal(l.memory.begin() + (1 << 20), l.memory.begin() + (1 << 20) + 600 * 512, t.medium().begin()));
    CHECK(t.stats.bounce_commands >= 2);
}

TEST_CASE("indirect descriptors in the IU scatter a WRITE", "[loopback]") {
    LoopbackTarget t;
    auto& l = t.link();
    fill(std::span(l.memory).first(8192), 9);
    // Three pieces of initiator memory: 512 at 0, 1024 at 4096, 512 at 6144.
    wire::DirectDescriptor d[3] = {l.descriptor(0, 512), l.descriptor(4096, 1024), l.descriptor(6144, 512)};
    wire::IndirectHeader ih{};
    ih.table_desc = l.descriptor(0, 0);
    ih.table_desc.len = 48;
    ih.len = 2048;
    std::vector<std::uint8_t> desc(128);
    desc.resize(*wire::encode_indirect(desc, ih, d));
    auto h = wire::make_iu<wire::CmdHeader>(wire::Opcode::cmd);
    h.tag = tag_of(77);
    h.buf_fmt = 0x20;
    h.data_out_desc_cnt = 3;
    const auto cdb = rw16(0x8a, 10, 4);
    std::copy(cdb.begin(), cdb.end(), h.cdb.begin());
    std::vector<std::uint8_t> iu(256);
    iu.resize(*wire::encode_cmd(iu, h, {}, desc));
    l.send(iu);
    REQUIRE(l.response()->status() == 0);
    const auto m = t.medium().subspan(10 * 512, 2048);
    CHECK(std::equal(m.begin(), m.begin() + 512, l.memory.begin()));
    CHECK(std::equal(m.begin() + 512, m.begin() + 1536, l.memory.begin() + 4096));
    CHECK(std::equal(m.begin() + 1536, m.end(), l.memory.begin() + 6144));
}

namespace {
// READ (16) of 8 blocks whose indirect table of 4 x 1 KiB descriptors lies in
// initiator memory at 1 MiB; the IU carries only the first descriptor. The
// table describes DATA-IN, or (data_out) the wrong direction, DATA-OUT.
std::vector<std::uint8_t> read16_with_partial_table(LoopbackTarget::Link& l, std::uint64_t tag, bool data_out) {
    wire::DirectDescriptor table[4];
    for (int i = 0; i < 4; ++i) table[i] = l.descriptor(std::size_t(i) * 8192, 1024);
    std::memcpy(l.memory.data() + (1 << 20), table, sizeof table);
    wire::IndirectHeader ih{};
    ih.table_desc = l.descriptor(1 << 20, sizeof table);
    ih.len = 4096;
    std::vector<std::uint8_t> desc(128);
    desc.resize(*wire::encode_indirect(desc, ih, std::span(table, 1)));
    auto h = wire::make_iu<wire::CmdHeader>(wire::Opcode::cmd);
    h.tag = tag_of(tag);
    h.buf_fmt = data_out ? 0x20 : 0x02;  // indirect DATA-OUT, or indirect DATA-IN
    if (data_out) h.data_out_desc_cnt = 1;
    else h.data_in_desc_cnt = 1;
    const auto cdb = rw16(0x88, 0, 8);
    std::copy(cdb.begin(), cdb.end(), h.cdb.begin());
    std::vector<std::uint8_t> iu(256);
    iu.resize(*wire::encode_cmd(iu, h, {}, desc));
    return iu;
}
}  // namespace

TEST_CASE("an indirect table outside the IU is fetched with an RDMA READ", "[loopback]") {
    LoopbackTarget t;
    auto& l = t.link();
    fill(t.medium().subspan(0, 4096), 11);
    // The full table (4 descriptors) lives in initiator memory at offset 1 MiB; the IU carries one.
    const auto iu = read16_with_partial_table(l, 5, false);
    l.send(iu);
    REQUIRE(l.response()->status() == 0);
    for (int i = 0; i < 4; ++i)
        CHECK(std::equal(l.memory.begin() + i * 8192, l.memory.begin() + i * 8192 + 1024, t.medium().begin() + i * 1024));
    CHECK(t.stats.external_tables == 1);
}

TEST_CASE("a READ carrying a partial DATA-OUT table is refused without fetching it and never wedges", "[loopback]") {
    LoopbackTarget t;
    auto& l = t.link();
    // The table of the wrong direction is never fetched (fetching it would
    // leave nothing to post for the DATA-IN and the request would hang), and
    // the READ's data has no DATA-IN buffer: INVALID FIELD IN COMMAND IU
    // (test_srp_direction.cpp has the other direction mismatches).
    const auto iu = read16_with_partial_table(l, 6, true);
    l.send(iu);
    auto r = l.response();
    REQUIRE(r);
    CHECK(r->status() == 2);
    CHECK(r->asc() == 0x0e03);
    CHECK((r->header.flags & wire::kRspFlagDoUnder) != 0);  // the described DATA-OUT was not used
    CHECK(r->header.data_out_res_cnt.value() == 4096);
    CHECK(t.stats.external_tables == 0);
    const std::uint8_t tur[16] = {};
    l.command(tur, false, 0, 0);
    auto next = l.response();
    REQUIRE(next);
    CHECK(next->status() == 0);
    CHECK(next->credits() == 1);
}

TEST_CASE("SRP-2 immediate data lands in the backstore without RDMA", "[loopback]") {
    LoopbackTarget t;
    auto& l = t.link();
    std::vector<std::uint8_t> data(512);
    fill(data, 42);
    auto h = wire::make_iu<wire::CmdHeader>(wire::Opcode::cmd);
    h.tag = tag_of(9);
    const auto cdb = rw16(0x8a, 3, 1);
    std::copy(cdb.begin(), cdb.end(), h.cdb.begin());
    std::vector<std::uint8_t> iu(1024);
    iu.resize(*wire::encode_cmd_immediate(iu, h, 68, data));
    l.send(iu);
    REQUIRE(l.response()->status() == 0);
    CHECK(std::equal(data.begin(), data.end(), t.medium().begin() + 3 * 512));
    CHECK(t.stats.immediate_commands == 1);
}

TEST_CASE("immediate data is refused when it was not granted at login", "[loopback]") {
    LoopbackTarget t(true, 0);
    auto& l = t.link();
    auto h = wire::make_iu<wire::CmdHeader>(wire::Opcode::cmd);
    const auto cdb = rw16(0x8a, 3, 1);
    std::copy(cdb.begin(), cdb.end(), h.cdb.begin());
    std::vector<std::uint8_t> iu(1024), data(512);
    iu.resize(*wire::encode_cmd_immediate(iu, h, 68, data));
    l.send(iu);
    auto r = l.response();
    REQUIRE(r);
    CHECK(r->status() == 2);
    CHECK(r->asc() == 0x0e03);  // INVALID FIELD IN COMMAND INFORMATION UNIT
}

TEST_CASE("residual: READ with a larger buffer reports DIUNDER", "[loopback]") {
    LoopbackTarget t;
    auto& l = t.link();
    l.command(rw16(0x88, 0, 1), false, 0, 4096);
    auto r = l.response();
    CHECK(r->header.flags == wire::kRspFlagDiUnder);
    CHECK(r->header.data_in_res_cnt.value() == 3584);
}

TEST_CASE("residual: READ with a smaller buffer reports DIOVER and moves only that much", "[loopback]") {
    LoopbackTarget t;
    auto& l = t.link();
    fill(t.medium().first(1024), 1);
    std::fill_n(l.memory.begin(), 1024, std::uint8_t{0xee});
    l.command(rw16(0x88, 0, 2), false, 0, 512);
    auto r = l.response();
    CHECK(r->header.flags == wire::kRspFlagDiOver);
    CHECK(r->header.data_in_res_cnt.value() == 512);
    CHECK(l.memory[511] == t.medium()[511]);
    CHECK(l.memory[512] == 0xee);
}

TEST_CASE("residual: WRITE with a larger buffer reports DOUNDER", "[loopback]") {
    LoopbackTarget t;
    auto& l = t.link();
    l.command(rw16(0x8a, 0, 1), true, 0, 1536);
    auto r = l.response();
    CHECK(r->header.flags == wire::kRspFlagDoUnder);
    CHECK(r->header.data_out_res_cnt.value() == 1024);
}

TEST_CASE("sense data travels in the SRP_RSP", "[loopback]") {
    LoopbackTarget t;
    auto& l = t.link();
    l.command(rw16(0x88, 1 << 20, 1), false, 0, 512);
    auto r = l.response();
    CHECK(r->status() == 2);
    CHECK((r->header.flags & wire::kRspFlagSnsValid) != 0);
    CHECK(r->sense.size() == 18);
    CHECK(r->asc() == 0x2100);
    CHECK(r->header.flags & wire::kRspFlagDiUnder);
}

TEST_CASE("a malformed SRP_CMD gets CHECK CONDITION, not a crash", "[loopback]") {
    LoopbackTarget t;
    auto& l = t.link();
    auto h = wire::make_iu<wire::CmdHeader>(wire::Opcode::cmd);
    h.tag = tag_of(3);
    h.add_cdb_len = 6;  // not a multiple of 4
    auto bytes = bytes_of(h);
    bytes.resize(64);
    l.send(bytes);
    auto r = l.response();
    REQUIRE(r);
    CHECK(r->header.tag == tag_of(3));
    CHECK(r->asc() == 0x0e03);
    CHECK(t.stats.protocol_errors == 1);
    l.command(rw16(0x88, 0, 1), false, 0, 512);  // the channel keeps serving
    CHECK(l.response()->status() == 0);
}

TEST_CASE("a bad rkey in a descriptor closes only that channel", "[loopback][fault]") {
    LoopbackTarget t;
    auto& other = t.add_link();
    auto& l = t.link();
    auto h = wire::make_iu<wire::CmdHeader>(wire::Opcode::cmd);
    h.buf_fmt = 0x01;
    const auto cdb = rw16(0x88, 0, 1);
    std::copy(cdb.begin(), cdb.end(), h.cdb.begin());
    auto d = l.descriptor(0, 512);
    d.key = 0xdead;
    std::vector<std::uint8_t> iu(256);
    iu.resize(*wire::encode_cmd(iu, h, {}, bytes_of(d)));
    l.send(iu);
    l.pump();
    CHECK(l.channel->closing());
    CHECK(l.channel->drained());
    CHECK(t.stats.transport_errors == 1);
    other.command(rw16(0x88, 0, 1), false, 0, 512);
    CHECK(other.response()->status() == 0);
}

TEST_CASE("credits: every response returns one, the receive ring stays full", "[loopback]") {
    LoopbackTarget t;
    auto& l = t.link();
    for (int i = 0; i < 3 * static_cast<int>(LoopbackTarget::kQueueDepth); ++i) {
        l.command(rw16(0x88, 0, 1), false, 0, 512);
        auto r = l.response();
        REQUIRE(r);
        CHECK(r->credits() == 1);
    }
    CHECK(t.stats.commands == 3 * LoopbackTarget::kQueueDepth + 1);
}

TEST_CASE("commands up to the credit limit are all answered", "[loopback]") {
    LoopbackTarget t;
    auto& l = t.link();
    for (std::uint32_t i = 0; i < LoopbackTarget::kQueueDepth; ++i) l.command(rw16(0x88, i, 1), false, i * 512, 512);
    auto all = l.responses();
    CHECK(all.size() == LoopbackTarget::kQueueDepth);
}

TEST_CASE("SRP_I_LOGOUT closes and drains the channel", "[loopback]") {
    LoopbackTarget t;
    auto& l = t.link();
    auto logout = wire::make_iu<wire::ILogout>(wire::Opcode::i_logout);
    l.send(bytes_of(logout));
    l.pump();
    CHECK(l.channel->closing());
    CHECK(l.channel->drained());
}

TEST_CASE("an unknown IU is ignored and its credit returned later", "[loopback]") {
    LoopbackTarget t;
    auto& l = t.link();
    const auto junk = hex("77 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00");
    l.send(junk);
    l.command(rw16(0x88, 0, 1), false, 0, 512);
    auto r = l.response();
    REQUIRE(r);
    CHECK(r->credits() == 2);
}
