// The direction an SRP_CMD's descriptors name against the direction its
// command moves data (SRP r16a 6.8: a DATA-OUT and a DATA-IN buffer
// descriptor, each with its own format). A command that moves data one way
// while the IU names only a buffer of the other way is refused with CHECK
// CONDITION, ILLEGAL REQUEST, INVALID FIELD IN COMMAND INFORMATION UNIT
// (0E/03), nothing fetched, nothing written; a command that moves no data
// is answered, with residuals for what it did not use. ib_srp never sends a
// mismatch: it fills exactly one descriptor, by the SCSI data direction.
#include "common/scsi/cdb.h"
#include "tests/loopback/loopback_fixture.h"

using namespace srp;
using namespace srp::test;

namespace {
std::vector<std::uint8_t> rw16(std::uint8_t op, std::uint64_t lba, std::uint32_t blocks) {
    auto c = scsi::make_rw16(op, lba, blocks);
    return {c.begin(), c.end()};
}
constexpr std::uint16_t kInvalidFieldInIu = 0x0e03;
constexpr std::uint8_t kIllegalRequest = 0x05;
constexpr std::uint8_t kTestUnitReady[16] = {};
const std::vector<std::uint8_t> kInquiry = {0x12, 0, 0, 0, 96, 0};

std::uint8_t sense_key(const Response& r) { return r.sense.size() > 2 ? r.sense[2] & 0x0f : 0xff; }

// An SRP_CMD whose buffer format byte and descriptor the test chooses
// (Link::command leaves a zero-length buffer out altogether).
std::uint64_t command_with(LoopbackTarget::Link& l, std::span<const std::uint8_t> cdb, std::uint8_t buf_fmt,
                           std::size_t offset, std::uint32_t length, std::uint16_t lun = 0) {
    const std::uint64_t tag = l.next_tag++;
    auto h = wire::make_iu<wire::CmdHeader>(wire::Opcode::cmd);
    h.tag = tag_of(tag);
    h.lun = scsi::encode_lun(lun);
    std::copy(cdb.begin(), cdb.end(), h.cdb.begin());
    h.buf_fmt = buf_fmt;
    const auto descriptor = l.descriptor(offset, length);
    const auto* bytes = reinterpret_cast<const std::uint8_t*>(&descriptor);
    std::vector<std::uint8_t> iu(256);
    auto n = wire::encode_cmd(iu, h, {}, std::span(bytes, sizeof descriptor));
    REQUIRE(n);
    iu.resize(*n);
    l.send(iu);
    return tag;
}

void require_refused(const std::optional<Response>& r) {
    REQUIRE(r);
    CHECK(r->status() == 2);
    CHECK(sense_key(*r) == kIllegalRequest);
    CHECK(r->asc() == kInvalidFieldInIu);
}

// The channel serves the next command normally, and the refused one's credit came back.
void next_command_is_served(LoopbackTarget::Link& l) {
    l.command(kTestUnitReady, false, 0, 0);
    auto next = l.response();
    REQUIRE(next);
    CHECK(next->status() == 0);
    CHECK(next->credits() == 1);
}
}  // namespace

TEST_CASE("a READ with a direct DATA-OUT descriptor is refused and moves no data", "[loopback][direction]") {
    LoopbackTarget t;
    auto& l = t.link();
    std::fill_n(t.medium().begin(), 4096, std::uint8_t{0x5a});
    std::fill_n(l.memory.begin(), 4096, std::uint8_t{0xee});
    l.command(rw16(0x88, 0, 8), true, 0, 4096);
    auto r = l.response();
    require_refused(r);
    CHECK(std::all_of(l.memory.begin(), l.memory.begin() + 4096, [](std::uint8_t b) { return b == 0xee; }));
    CHECK(t.stats.bytes_read == 0);
    CHECK(t.stats.bytes_written == 0);
    // Residuals stay honest: the described DATA-OUT bytes were not used.
    CHECK((r->header.flags & wire::kRspFlagDoUnder) != 0);
    CHECK(r->header.data_out_res_cnt.value() == 4096);
    next_command_is_served(l);
}

TEST_CASE("INQUIRY with a DATA-OUT descriptor is refused", "[loopback][direction]") {
    LoopbackTarget t;
    auto& l = t.link();
    std::fill_n(l.memory.begin(), 96, std::uint8_t{0xee});
    l.command(kInquiry, true, 0, 96);
    require_refused(l.response());
    CHECK(l.memory[0] == 0xee);
    next_command_is_served(l);
}

TEST_CASE("a READ whose DATA-OUT descriptor has length 0 is refused all the same", "[loopback][direction]") {
    // The format field names the direction; the length only says how much.
    LoopbackTarget t;
    auto& l = t.link();
    command_with(l, rw16(0x88, 0, 1), 0x10, 0, 0);
    require_refused(l.response());
    next_command_is_served(l);
}

TEST_CASE("a READ carrying SRP-2 immediate data is refused", "[loopback][direction]") {
    LoopbackTarget t;
    auto& l = t.link();
    auto h = wire::make_iu<wire::CmdHeader>(wire::Opcode::cmd);
    h.tag = tag_of(l.next_tag++);
    const auto cdb = rw16(0x88, 0, 1);
    std::copy(cdb.begin(), cdb.end(), h.cdb.begin());
    std::vector<std::uint8_t> iu(1024), data(512, 0x33);
    iu.resize(*wire::encode_cmd_immediate(iu, h, 68, data));
    l.send(iu);
    require_refused(l.response());
    next_command_is_served(l);
}

TEST_CASE("a READ of a file LUN with a DATA-OUT descriptor is refused and frees its bounce memory",
          "[loopback][direction][medium]") {
    LoopbackTarget t;
    constexpr std::uint16_t kFileLun = 1;
    t.add_io_lun(kFileLun, 1 << 20);
    auto& l = t.link();
    std::fill_n(l.memory.begin(), 8192, std::uint8_t{0xee});
    l.command(rw16(0x88, 0, 16), true, 0, 8192, kFileLun);
    require_refused(l.response());
    CHECK(l.memory[0] == 0xee);
    // The same READ the right way round still gets bounce memory and data.
    l.command(rw16(0x88, 0, 16), false, 0, 8192, kFileLun);
    auto r = l.response();
    REQUIRE(r);
    CHECK(r->status() == 0);
    CHECK(l.memory[0] == 0);  // the file is sparse: zeros
}

TEST_CASE("a WRITE with only a DATA-IN descriptor is refused and writes nothing", "[loopback][direction]") {
    // The engine sees no DATA-OUT bytes described for a command that needs
    // 512 (SAM-5 5.4.2): the same sense, before any data moves.
    LoopbackTarget t;
    auto& l = t.link();
    std::fill_n(t.medium().begin(), 512, std::uint8_t{0x5a});
    std::fill_n(l.memory.begin(), 512, std::uint8_t{0x11});
    l.command(rw16(0x8a, 0, 1), false, 0, 512);
    require_refused(l.response());
    CHECK(t.medium()[0] == 0x5a);
    CHECK(t.stats.bytes_written == 0);
    next_command_is_served(l);
}

TEST_CASE("commands that move no data accept a descriptor of either direction", "[loopback][direction]") {
    LoopbackTarget t;
    auto& l = t.link();
    SECTION("TEST UNIT READY with a DATA-OUT descriptor") {
        l.command(kTestUnitReady, true, 0, 512);
        auto r = l.response();
        REQUIRE(r);
        CHECK(r->status() == 0);
        CHECK(r->header.flags == wire::kRspFlagDoUnder);
        CHECK(r->header.data_out_res_cnt.value() == 512);
    }
    SECTION("TEST UNIT READY with a DATA-IN descriptor") {
        l.command(kTestUnitReady, false, 0, 512);
        auto r = l.response();
        REQUIRE(r);
        CHECK(r->status() == 0);
        CHECK(r->header.flags == wire::kRspFlagDiUnder);
        CHECK(r->header.data_in_res_cnt.value() == 512);
    }
    SECTION("READ of zero blocks with a DATA-OUT descriptor") {
        l.command(rw16(0x88, 0, 0), true, 0, 512);
        auto r = l.response();
        REQUIRE(r);
        CHECK(r->status() == 0);
        CHECK(r->header.flags == wire::kRspFlagDoUnder);
    }
}

TEST_CASE("descriptors for both directions are refused", "[loopback][direction]") {
    // SRP r16a allows bidirectional commands; no command of ours is one, and
    // ib_srp never sends one (srp_map_data refuses DMA_BIDIRECTIONAL).
    LoopbackTarget t;
    auto& l = t.link();
    const std::uint64_t tag = l.next_tag++;
    auto h = wire::make_iu<wire::CmdHeader>(wire::Opcode::cmd);
    h.tag = tag_of(tag);
    const auto cdb = rw16(0x88, 0, 1);
    std::copy(cdb.begin(), cdb.end(), h.cdb.begin());
    h.buf_fmt = 0x11;
    const wire::DirectDescriptor both[2] = {l.descriptor(0, 512), l.descriptor(4096, 512)};
    std::vector<std::uint8_t> iu(256);
    auto n = wire::encode_cmd(iu, h, {}, std::span(reinterpret_cast<const std::uint8_t*>(both), sizeof both));
    REQUIRE(n);
    iu.resize(*n);
    l.send(iu);
    require_refused(l.response());
    next_command_is_served(l);
}
