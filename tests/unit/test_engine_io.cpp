// READ/WRITE (6/10/12/16), FUA, WRITE AND VERIFY, VERIFY, SYNCHRONIZE CACHE,
// WRITE SAME, UNMAP, COMPARE AND WRITE, through a real backstore file.
#include <cstring>

#include "tests/unit/engine_fixture.h"

using namespace srp::test;
using srp::scsi::Status;
namespace scsi = srp::scsi;

namespace {
std::vector<std::uint8_t> cdb16(std::uint8_t opcode, std::uint64_t lba, std::uint32_t blocks, bool fua = false) {
    auto c = scsi::make_rw16(opcode, lba, blocks, fua);
    return {c.begin(), c.end()};
}
std::vector<std::uint8_t> cdb10(std::uint8_t opcode, std::uint32_t lba, std::uint16_t blocks, bool fua = false) {
    auto c = scsi::make_rw10(opcode, lba, blocks, fua);
    return {c.begin(), c.end()};
}
}  // namespace

TEST_CASE("WRITE(10) then READ(10) round-trips through the mapping", "[engine][io]") {
    Engine e;
    const auto data = pattern(4096, 3);
    auto w = e.run(cdb10(0x2a, 16, 8), data);
    REQUIRE(w.status == Status::good);
    CHECK(e.file_bytes(16 * 512, data.size()) == data);
    auto r = e.run(cdb10(0x28, 16, 8));
    REQUIRE(r.status == Status::good);
    CHECK(r.data == data);
    CHECK(r.zero_copy == !e.io());
}

TEST_CASE("READ data is a span of the backstore mapping (zero copy)", "[engine][io]") {
    Engine e(512, 2048, false, Medium::mapped);
    auto task = e.target.submit(Engine::kNexus, 0, cdb16(0x88, 4, 2), 0);
    CHECK(task.buffer_is_backstore());
    CHECK(task.data_in().data() == e.medium().data() + 4 * 512);
    CHECK(task.data_in().size() == 1024);
}

TEST_CASE("WRITE data-out buffer is the backstore mapping (zero copy)", "[engine][io]") {
    Engine e(512, 2048, false, Medium::mapped);
    auto task = e.target.submit(Engine::kNexus, 0, cdb16(0x8a, 10, 1), 512);
    REQUIRE(task.phase() == srp::target::ScsiTask::Phase::awaiting_data_out);
    CHECK(task.buffer_is_backstore());
    CHECK(task.data_out_buffer().data() == e.medium().data() + 10 * 512);
    e.target.complete_data_out(0, task);
    CHECK(task.status() == Status::good);
}

TEST_CASE("READ(6) and WRITE(6) with 21-bit LBAs", "[engine][io]") {
    Engine e;
    const auto data = pattern(1024, 9);
    REQUIRE(e.run(hex("0a 00 00 20 02 00"), data).status == Status::good);
    auto r = e.run(hex("08 00 00 20 02 00"));
    CHECK(r.data == data);
}

TEST_CASE("READ(6) with transfer length 0 means 256 blocks", "[engine][io]") {
    Engine e;
    auto r = e.run(hex("08 00 00 00 00 00"));
    CHECK(r.data.size() == 256 * 512);
}

TEST_CASE("READ(12) and WRITE(12)", "[engine][io]") {
    Engine e;
    const auto data = pattern(512, 1);
    REQUIRE(e.run(hex("aa 00 00 00 00 05 00 00 00 01 00 00"), data).status == Status::good);
    CHECK(e.run(hex("a8 00 00 00 00 05 00 00 00 01 00 00")).data == data);
}

TEST_CASE("READ(16) and WRITE(16) with 4096-byte blocks", "[engine][io]") {
    Engine e(4096, 256);
    const auto data = pattern(8192, 5);
    REQUIRE(e.run(cdb16(0x8a, 255 - 1, 2), data).status == Status::good);
    CHECK(e.run(cdb16(0x88, 254, 2)).data == data);
}

TEST_CASE("transfer length 0 moves no data and is GOOD", "[engine][io]") {
    Engine e;
    auto r = e.run(cdb10(0x28, 0, 0));
    CHECK(r.status == Status::good);
    CHECK(r.data.empty());
    CHECK(e.run(cdb10(0x2a, 0, 0)).status == Status::good);
}

TEST_CASE("READ beyond the last block: LBA OUT OF RANGE", "[engine][io]") {
    Engine e;
    CHECK_SENSE(e.run(cdb16(0x88, 2047, 2)), illegal_request, lba_out_of_range);
    CHECK_SENSE(e.run(cdb16(0x88, 2048, 1)), illegal_request, lba_out_of_range);
    CHECK_SENSE(e.run(cdb16(0x88, ~0ull, 1)), illegal_request, lba_out_of_range);
    CHECK(e.run(cdb16(0x88, 2047, 1)).status == Status::good);
}

TEST_CASE("WRITE beyond the last block: LBA OUT OF RANGE - nothing written", "[engine][io]") {
    Engine e;
    auto r = e.run(cdb10(0x2a, 2047, 2), pattern(1024, 1));
    CHECK_SENSE(r, illegal_request, lba_out_of_range);
    CHECK(e.file_bytes(2047 * 512, 1)[0] == 0);
}

TEST_CASE("a transfer above the maximum transfer length is an invalid field", "[engine][io]") {
    Engine e(512, 32768);
    auto r = e.run(cdb16(0x88, 0, 16385));
    CHECK_SENSE(r, illegal_request, invalid_field_in_cdb);
    CHECK(srp::wire::load_be<std::uint16_t>(r.sense, 16) == 10);
}

TEST_CASE("RDPROTECT and WRPROTECT are refused: no protection information", "[engine][io]") {
    Engine e;
    auto c = cdb16(0x88, 0, 1);
    c[1] = 0x20;
    auto r = e.run(c);
    CHECK_SENSE(r, illegal_request, invalid_field_in_cdb);
    CHECK(to_hex(std::span(r.sense).subspan(15, 3)) == "cf 00 01");
}

TEST_CASE("WRITE to a read-only LUN: DATA PROTECT - WRITE PROTECTED", "[engine][io]") {
    Engine e(512, 64, true);
    CHECK_SENSE(e.run(cdb10(0x2a, 0, 1), pattern(512, 1)), data_protect, write_protected);
    CHECK(e.run(cdb10(0x28, 0, 1)).data[0] == 0x77);
}

TEST_CASE("WRITE with less data described than the CDB needs is refused", "[engine][io]") {
    Engine e;
    auto r = e.run(cdb10(0x2a, 0, 8), pattern(4096, 1), Engine::kNexus, 2048);
    CHECK_SENSE(r, illegal_request, invalid_field_in_command_iu);
    CHECK(to_hex(r.sense) == "70 00 05 00 00 00 00 0a 00 00 00 00 0e 03 00 00 00 00");
}

TEST_CASE("WRITE with more data described reports the unused bytes", "[engine][io]") {
    Engine e;
    auto r = e.run(cdb10(0x2a, 0, 1), pattern(1024, 1));
    CHECK(r.status == Status::good);
    CHECK(r.data_out_unused == 512);
}

TEST_CASE("WRITE with FUA reaches the file before GOOD", "[engine][io]") {
    Engine e;
    const auto data = pattern(512, 42);
    REQUIRE(e.run(cdb10(0x2a, 100, 1, true), data).status == Status::good);
    std::FILE* f = std::fopen(e.dir.file("lun0").c_str(), "rb");
    REQUIRE(f);
    std::fseek(f, 100 * 512, SEEK_SET);
    std::vector<std::uint8_t> back(512);
    CHECK(std::fread(back.data(), 1, 512, f) == 512);
    std::fclose(f);
    CHECK(back == data);
}

TEST_CASE("WRITE AND VERIFY (10) and (16) write the data", "[engine][io]") {
    Engine e;
    const auto data = pattern(1024, 8);
    CHECK(e.run(cdb10(0x2e, 8, 2), data).status == Status::good);
    CHECK(e.run(cdb10(0x28, 8, 2)).data == data);
    CHECK(e.run(cdb16(0x8e, 20, 2), data).status == Status::good);
    CHECK(e.run(cdb16(0x88, 20, 2)).data == data);
}

TEST_CASE("VERIFY without BYTCHK checks the range only", "[engine][io]") {
    Engine e;
    CHECK(e.run(cdb10(0x2f, 0, 8)).status == Status::good);
    CHECK_SENSE(e.run(cdb10(0x2f, 2046, 8)), illegal_request, lba_out_of_range);
}

TEST_CASE("VERIFY (16) with BYTCHK=1 compares data: match", "[engine][io]") {
    Engine e;
    const auto data = pattern(1024, 4);
    REQUIRE(e.run(cdb16(0x8a, 30, 2), data).status == Status::good);
    auto c = cdb16(0x8f, 30, 2);
    c[1] = 0x02;
    CHECK(e.run(c, data).status == Status::good);
}

TEST_CASE("VERIFY (10) with BYTCHK=1 miscompare reports the offset", "[engine][io]") {
    Engine e;
    auto data = pattern(1024, 4);
    REQUIRE(e.run(cdb10(0x2a, 30, 2), data).status == Status::good);
    data[700] ^= 0xff;
    auto c = cdb10(0x2f, 30, 2);
    c[1] = 0x02;
    auto r = e.run(c, data);
    CHECK_SENSE(r, miscompare, miscompare_during_verify);
    CHECK(r.sense[0] == 0xf0);
    CHECK(srp::wire::load_be<std::uint32_t>(r.sense, 3) == 700);
}

TEST_CASE("VERIFY with BYTCHK=3 compares one block against every block", "[engine][io]") {
    Engine e;
    const auto block = pattern(512, 6);
    std::vector<std::uint8_t> three;
    for (int i = 0; i < 3; ++i) three.insert(three.end(), block.begin(), block.end());
    REQUIRE(e.run(cdb10(0x2a, 40, 3), three).status == Status::good);
    auto c = cdb10(0x2f, 40, 3);
    c[1] = 0x06;
    CHECK(e.run(c, block).status == Status::good);
    e.flip_byte(41 * 512 + 3);
    auto r = e.run(c, block);
    CHECK_SENSE(r, miscompare, miscompare_during_verify);
    CHECK(srp::wire::load_be<std::uint32_t>(r.sense, 3) == 515);
}

TEST_CASE("VERIFY with the reserved BYTCHK value 2 is invalid", "[engine][io]") {
    Engine e;
    auto c = cdb10(0x2f, 0, 1);
    c[1] = 0x04;
    CHECK_SENSE(e.run(c), illegal_request, invalid_field_in_cdb);
}

TEST_CASE("SYNCHRONIZE CACHE (10) and (16)", "[engine][io]") {
    Engine e;
    CHECK(e.run(hex("35 00 00 00 00 00 00 00 00 00")).status == Status::good);
    CHECK(e.run(cdb16(0x91, 10, 100)).status == Status::good);
    CHECK_SENSE(e.run(cdb16(0x91, 2040, 100)), illegal_request, lba_out_of_range);
}

TEST_CASE("WRITE SAME (10) replicates one block", "[engine][io]") {
    Engine e;
    const auto block = pattern(512, 77);
    REQUIRE(e.run(hex("41 00 00 00 00 64 00 00 04 00"), block).status == Status::good);
    for (int i = 0; i < 4; ++i) CHECK(e.file_bytes((100 + i) * 512, 512) == block);
    CHECK(e.file_bytes(104 * 512, 1)[0] == 0);
}

TEST_CASE("WRITE SAME (16) with UNMAP and a zero block deallocates", "[engine][io]") {
    Engine e;
    REQUIRE(e.run(cdb16(0x8a, 0, 16), pattern(8192, 1)).status == Status::good);
    auto c = cdb16(0x93, 0, 16);
    c[1] = 0x08;
    CHECK(e.run(c, std::vector<std::uint8_t>(512, 0)).status == Status::good);
    CHECK(e.run(cdb16(0x88, 0, 16)).data == std::vector<std::uint8_t>(8192, 0));
}

TEST_CASE("WRITE SAME (16) with NDOB writes zeros without data-out", "[engine][io]") {
    Engine e;
    REQUIRE(e.run(cdb16(0x8a, 8, 2), pattern(1024, 1)).status == Status::good);
    auto c = cdb16(0x93, 8, 2);
    c[1] = 0x09;
    CHECK(e.run(c).status == Status::good);
    CHECK(e.run(cdb16(0x88, 8, 2)).data == std::vector<std::uint8_t>(1024, 0));
}

TEST_CASE("WRITE SAME with zero blocks is refused (WSNZ)", "[engine][io]") {
    Engine e;
    auto r = e.run(hex("41 00 00 00 00 00 00 00 00 00"), pattern(512, 1));
    CHECK_SENSE(r, illegal_request, invalid_field_in_cdb);
    CHECK(srp::wire::load_be<std::uint16_t>(r.sense, 16) == 7);
}

TEST_CASE("WRITE SAME with ANCHOR is refused", "[engine][io]") {
    Engine e;
    auto c = cdb16(0x93, 0, 1);
    c[1] = 0x10;
    CHECK_SENSE(e.run(c, pattern(512, 1)), illegal_request, invalid_field_in_cdb);
}

TEST_CASE("WRITE SAME out of range", "[engine][io]") {
    Engine e;
    CHECK_SENSE(e.run(cdb16(0x93, 2047, 2), pattern(512, 1)), illegal_request, lba_out_of_range);
}

TEST_CASE("UNMAP deallocates every descriptor's range", "[engine][io]") {
    Engine e;
    REQUIRE(e.run(cdb16(0x8a, 0, 64), pattern(64 * 512, 2)).status == Status::good);
    auto list = hex("00 26 00 20 00 00 00 00 | 00 00 00 00 00 00 00 00 00 00 00 08 00 00 00 00 | "
                    "00 00 00 00 00 00 00 20 00 00 00 10 00 00 00 00");
    CHECK(e.run(hex("42 00 00 00 00 00 00 00 28 00"), list).status == Status::good);
    CHECK(e.run(cdb16(0x88, 0, 8)).data == std::vector<std::uint8_t>(4096, 0));
    CHECK(e.run(cdb16(0x88, 8, 1)).data != std::vector<std::uint8_t>(512, 0));
    CHECK(e.run(cdb16(0x88, 32, 16)).data == std::vector<std::uint8_t>(8192, 0));
}

TEST_CASE("UNMAP with a range beyond the end changes nothing", "[engine][io]") {
    Engine e;
    REQUIRE(e.run(cdb16(0x8a, 0, 8), pattern(4096, 2)).status == Status::good);
    auto list = hex("00 26 00 20 00 00 00 00 | 00 00 00 00 00 00 00 00 00 00 00 08 00 00 00 00 | "
                    "00 00 00 00 00 00 07 ff 00 00 00 02 00 00 00 00");
    auto r = e.run(hex("42 00 00 00 00 00 00 00 28 00"), list);
    CHECK_SENSE(r, illegal_request, lba_out_of_range);
    CHECK(e.run(cdb16(0x88, 0, 8)).data == pattern(4096, 2));
}

TEST_CASE("UNMAP with a parameter list length of 1..7 is a length error", "[engine][io]") {
    Engine e;
    CHECK_SENSE(e.run(hex("42 00 00 00 00 00 00 00 04 00"), hex("00 00 00 00")), illegal_request,
                parameter_list_length_error);
}

TEST_CASE("UNMAP whose descriptor length exceeds the list", "[engine][io]") {
    Engine e;
    auto r = e.run(hex("42 00 00 00 00 00 00 00 08 00"), hex("00 16 00 10 00 00 00 00"));
    CHECK_SENSE(r, illegal_request, invalid_field_in_parameter_list);
    CHECK(to_hex(std::span(r.sense).subspan(15, 3)) == "80 00 02");
}

TEST_CASE("UNMAP with parameter list length 0 does nothing", "[engine][io]") {
    Engine e;
    CHECK(e.run(hex("42 00 00 00 00 00 00 00 00 00")).status == Status::good);
}

TEST_CASE("UNMAP on a read-only LUN does not exist: LBPU=0 there", "[engine][io]") {
    // A read-only LUN is fully provisioned (VPD B2h all zero), so UNMAP is
    // an unsupported command, as RSOC reports, rather than a write.
    Engine e(512, 64, true);
    auto r = e.run(hex("42 00 00 00 00 00 00 00 18 00"), std::vector<std::uint8_t>(24, 0));
    CHECK(to_hex(r.sense) == "70 00 05 00 00 00 00 0a 00 00 00 00 20 00 00 c0 00 00");
}

TEST_CASE("COMPARE AND WRITE: match writes the new data", "[engine][io]") {
    Engine e;
    const auto old_block = pattern(512, 10), new_block = pattern(512, 20);
    REQUIRE(e.run(cdb10(0x2a, 5, 1), old_block).status == Status::good);
    std::vector<std::uint8_t> both(old_block);
    both.insert(both.end(), new_block.begin(), new_block.end());
    CHECK(e.run(hex("89 00 00 00 00 00 00 00 00 05 00 00 00 01 00 00"), both).status == Status::good);
    CHECK(e.run(cdb10(0x28, 5, 1)).data == new_block);
}

TEST_CASE("COMPARE AND WRITE: miscompare leaves the medium and reports the offset", "[engine][io]") {
    Engine e;
    const auto old_block = pattern(512, 10), new_block = pattern(512, 20);
    REQUIRE(e.run(cdb10(0x2a, 5, 1), old_block).status == Status::good);
    std::vector<std::uint8_t> both(old_block);
    both[33] ^= 0x80;
    both.insert(both.end(), new_block.begin(), new_block.end());
    auto r = e.run(hex("89 00 00 00 00 00 00 00 00 05 00 00 00 01 00 00"), both);
    CHECK_SENSE(r, miscompare, miscompare_during_verify);
    CHECK(srp::wire::load_be<std::uint32_t>(r.sense, 3) == 33);
    CHECK(e.run(cdb10(0x28, 5, 1)).data == old_block);
}

TEST_CASE("COMPARE AND WRITE above the maximum block count", "[engine][io]") {
    Engine e;
    auto r = e.run(hex("89 00 00 00 00 00 00 00 00 05 00 00 00 02 00 00"), pattern(2048, 1));
    CHECK_SENSE(r, illegal_request, invalid_field_in_cdb);
    CHECK(srp::wire::load_be<std::uint16_t>(r.sense, 16) == 13);
}

TEST_CASE("COMPARE AND WRITE of zero blocks is GOOD", "[engine][io]") {
    Engine e;
    CHECK(e.run(hex("89 00 00 00 00 00 00 00 00 05 00 00 00 00 00 00")).status == Status::good);
}

TEST_CASE("a pinned backstore is thick: no UNMAP and no LBPME", "[engine][io]") {
    Engine e;
    e.unit->backstore().set_pinned(true);
    CHECK_SENSE(e.run(hex("42 00 00 00 00 00 00 00 18 00"), std::vector<std::uint8_t>(24, 0)), illegal_request,
                invalid_command_operation_code);
    CHECK(to_hex(e.run(hex("12 01 b2 00 ff 00")).data) == "00 b2 00 04 00 00 00 00");
    CHECK(e.run(hex("9e 10 00 00 00 00 00 00 00 00 00 00 00 20 00 00")).data[14] == 0);
}

TEST_CASE("WRITE SAME with UNMAP on a pinned backstore writes zeros instead", "[engine][io]") {
    Engine e;
    REQUIRE(e.run(cdb16(0x8a, 0, 4), pattern(2048, 1)).status == Status::good);
    e.unit->backstore().set_pinned(true);
    auto c = cdb16(0x93, 0, 4);
    c[1] = 0x08;
    CHECK(e.run(c, std::vector<std::uint8_t>(512, 0)).status == Status::good);
    CHECK(e.run(cdb16(0x88, 0, 4)).data == std::vector<std::uint8_t>(2048, 0));
}
