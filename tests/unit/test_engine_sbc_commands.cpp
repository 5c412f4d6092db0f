// VERIFY (12), WRITE AND VERIFY (12), PRE-FETCH (10)/(16), GET LBA STATUS,
// and the refused ORWRITE and WRITE ATOMIC (16) (SBC-3 5.x).
#include <cstring>

#include "tests/unit/engine_fixture.h"

using namespace srp::test;
using srp::scsi::Status;
namespace scsi = srp::scsi;

namespace {

std::vector<std::uint8_t> cdb16(std::uint8_t opcode, std::uint64_t lba, std::uint32_t blocks) {
    auto c = scsi::make_rw16(opcode, lba, blocks);
    return {c.begin(), c.end()};
}
std::vector<std::uint8_t> cdb12(std::uint8_t opcode, std::uint32_t lba, std::uint32_t blocks, std::uint8_t byte1 = 0) {
    std::vector<std::uint8_t> c(12, 0);
    c[0] = opcode;
    c[1] = byte1;
    srp::wire::store_be<std::uint32_t>(c, 2, lba);
    srp::wire::store_be<std::uint32_t>(c, 6, blocks);
    return c;
}
std::vector<std::uint8_t> get_lba_status(std::uint64_t lba, std::uint32_t allocation) {
    std::vector<std::uint8_t> c(16, 0);
    c[0] = 0x9e;
    c[1] = 0x12;
    srp::wire::store_be<std::uint64_t>(c, 2, lba);
    srp::wire::store_be<std::uint32_t>(c, 10, allocation);
    return c;
}

constexpr const char* kLbaOutOfRange = "70 00 05 00 00 00 00 0a 00 00 00 00 21 00 00 c0 00 02";
constexpr const char* kInvalidOpcode = "70 00 05 00 00 00 00 0a 00 00 00 00 20 00 00 c0 00 00";

}  // namespace

TEST_CASE("VERIFY (12) with BYTCHK=1: match is GOOD, a miscompare reports its offset", "[engine][sbc]") {
    Engine e;
    const auto data = pattern(1024, 9);
    REQUIRE(e.run(cdb16(0x8a, 20, 2), data).status == Status::good);
    CHECK(e.run(cdb12(0xaf, 20, 2, 0x02), data).status == Status::good);
    auto wrong = data;
    wrong[600] ^= 1;
    auto r = e.run(cdb12(0xaf, 20, 2, 0x02), wrong);
    CHECK(to_hex(r.sense) == "f0 00 0e 00 00 02 58 0a 00 00 00 00 1d 00 00 00 00 00");
}

TEST_CASE("VERIFY (12) range and field checks", "[engine][sbc]") {
    Engine e;
    CHECK(e.run(cdb12(0xaf, 0, 2048)).status == Status::good);  // BYTCHK=0: medium verification
    CHECK(to_hex(e.run(cdb12(0xaf, 2047, 2)).sense) == kLbaOutOfRange);
    CHECK(to_hex(e.run(cdb12(0xaf, 0, 1, 0x04)).sense) == "70 00 05 00 00 00 00 0a 00 00 00 00 24 00 00 ca 00 01");
    CHECK(to_hex(e.run(cdb12(0xaf, 0, 1, 0x20)).sense) == "70 00 05 00 00 00 00 0a 00 00 00 00 24 00 00 cf 00 01");
}

TEST_CASE("WRITE AND VERIFY (12) writes the data", "[engine][sbc]") {
    Engine e;
    const auto data = pattern(2048, 3);
    CHECK(e.run(cdb12(0xae, 100, 4), data).status == Status::good);
    CHECK(e.file_bytes(100 * 512, data.size()) == data);
    CHECK(to_hex(e.run(cdb12(0xae, 2046, 4), pattern(2048, 3)).sense) == kLbaOutOfRange);
}

TEST_CASE("PRE-FETCH (10) and (16): CONDITION MET without sense, IMMED or not", "[engine][sbc]") {
    Engine e;
    // An O_DIRECT io backstore has no cache to fetch into: GOOD (SBC-3 5.10).
    const auto expected = e.unit->backstore().direct_io() ? Status::good : Status::condition_met;
    for (auto cdb : {hex("34 00 00 00 00 10 00 00 20 00"), hex("34 02 00 00 00 10 00 00 20 00"),
                     hex("90 00 00 00 00 00 00 00 00 00 00 00 00 40 00 00"),
                     hex("90 02 00 00 00 00 00 00 07 00 00 00 00 00 00 00")}) {  // length 0: to the end
        auto r = e.run(cdb);
        CHECK(r.status == expected);
        CHECK(r.sense.empty());
        CHECK(r.data.empty());
    }
}

TEST_CASE("PRE-FETCH beyond the last block: LBA OUT OF RANGE", "[engine][sbc]") {
    Engine e;
    CHECK(to_hex(e.run(hex("34 00 00 00 07 ff 00 00 02 00")).sense) == kLbaOutOfRange);
    CHECK(to_hex(e.run(hex("90 00 00 00 00 00 00 00 08 00 00 00 00 00 00 00")).sense) == kLbaOutOfRange);
}

TEST_CASE("ORWRITE and WRITE ATOMIC (16) are refused as unsupported operation codes", "[engine][sbc]") {
    Engine e;
    const auto before = e.file_bytes(0, 512);
    for (std::uint8_t opcode : {std::uint8_t{0x8b}, std::uint8_t{0x9c}}) {
        auto r = e.run(cdb16(opcode, 0, 1), pattern(512, 1));
        CHECK(r.status == Status::check_condition);
        CHECK(to_hex(r.sense) == kInvalidOpcode);
    }
    CHECK(e.file_bytes(0, 512) == before);
}

TEST_CASE("GET LBA STATUS of a new sparse LUN: one deallocated extent", "[engine][lbastatus]") {
    Engine e;
    CHECK(to_hex(e.run(get_lba_status(0, 0x100)).data) ==
          "00 00 00 14 00 00 00 00 00 00 00 00 00 00 00 00 00 00 08 00 01 00 00 00");
}

TEST_CASE("GET LBA STATUS reports written blocks mapped and holes deallocated", "[engine][lbastatus]") {
    Engine e;
    REQUIRE(e.run(cdb16(0x8a, 8, 8), pattern(4096, 5)).status == Status::good);  // one 4 KiB file block
    CHECK(to_hex(e.run(get_lba_status(0, 0x100)).data) ==
          "00 00 00 34 00 00 00 00 "
          "00 00 00 00 00 00 00 00 00 00 00 08 01 00 00 00 "
          "00 00 00 00 00 00 00 08 00 00 00 08 00 00 00 00 "
          "00 00 00 00 00 00 00 10 00 00 07 f0 01 00 00 00");
    // From inside the mapped extent, and truncated to one descriptor by the allocation length.
    CHECK(to_hex(e.run(get_lba_status(10, 24)).data) ==
          "00 00 00 14 00 00 00 00 00 00 00 00 00 00 00 0a 00 00 00 06 00 00 00 00");
    // An UNMAP deallocates the extent again.
    REQUIRE(e.run(hex("42 00 00 00 00 00 00 00 18 00"),
                  hex("00 16 00 10 00 00 00 00 00 00 00 00 00 00 00 08 00 00 00 08 00 00 00 00")).status ==
            Status::good);
    CHECK(to_hex(e.run(get_lba_status(0, 0x100)).data) ==
          "00 00 00 14 00 00 00 00 00 00 00 00 00 00 00 00 00 00 08 00 01 00 00 00");
}

TEST_CASE("GET LBA STATUS: a block partly in a hole is mapped", "[engine][lbastatus]") {
    Engine e(4096, 64);
    REQUIRE(e.run(cdb16(0x8a, 3, 1), pattern(4096, 5)).status == Status::good);
    CHECK(to_hex(e.run(get_lba_status(2, 0x100)).data) ==
          "00 00 00 34 00 00 00 00 "
          "00 00 00 00 00 00 00 02 00 00 00 01 01 00 00 00 "
          "00 00 00 00 00 00 00 03 00 00 00 01 00 00 00 00 "
          "00 00 00 00 00 00 00 04 00 00 00 3c 01 00 00 00");
}

TEST_CASE("GET LBA STATUS on a fully provisioned LUN: everything mapped", "[engine][lbastatus]") {
    Engine e;
    e.unit->backstore().set_pinned(true);  // registered for RDMA: LBPME=0
    CHECK(to_hex(e.run(get_lba_status(16, 0x100)).data) ==
          "00 00 00 14 00 00 00 00 00 00 00 00 00 00 00 10 00 00 07 f0 00 00 00 00");
}

TEST_CASE("GET LBA STATUS beyond the last LBA: LBA OUT OF RANGE", "[engine][lbastatus]") {
    Engine e;
    auto r = e.run(get_lba_status(2048, 0x100));
    CHECK(r.status == Status::check_condition);
    CHECK(to_hex(r.sense) == kLbaOutOfRange);
    CHECK(e.run(get_lba_status(2047, 0x100)).status == Status::good);
}

TEST_CASE("GET LBA STATUS with allocation length 0 returns no data", "[engine][lbastatus]") {
    Engine e;
    auto r = e.run(get_lba_status(0, 0));
    CHECK(r.status == Status::good);
    CHECK(r.data.empty());
}

TEST_CASE("GET LBA STATUS on anonymous memory reports mapped-or-unknown", "[engine][lbastatus]") {
    srp::target::ScsiTarget target;
    target.add_lun(0, std::make_shared<srp::target::LogicalUnit>(
                          std::make_unique<srp::target::Backstore>(srp::target::BackstoreConfig{"", 1 << 20, false}),
                          srp::target::LogicalUnitConfig{}));
    auto cdb = get_lba_status(0, 0x100);
    auto task = target.submit(1, 0, cdb, 0);  // no unit attention yet: the nexus never attached
    REQUIRE(task.status() == Status::good);
    CHECK(to_hex(task.data_in()) == "00 00 00 14 00 00 00 00 00 00 00 00 00 00 00 00 00 00 08 00 00 00 00 00");
}
