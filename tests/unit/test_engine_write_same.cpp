// WRITE SAME (10)/(16) corners: the Data-Out length must be one block, the
// UNMAP bit against the provisioning VPD bits, zero counts (WSNZ) and the
// MAXIMUM WRITE SAME LENGTH (SBC-3 5.44, 5.45, 6.6.4, 6.6.6).
#include <algorithm>
#include <cstring>

#include "tests/unit/engine_fixture.h"

using namespace srp::test;
using srp::scsi::Status;

namespace {

std::vector<std::uint8_t> write_same16(std::uint64_t lba, std::uint32_t blocks, std::uint8_t byte1 = 0) {
    auto c = srp::scsi::make_rw16(0x93, lba, blocks);
    c[1] = byte1;
    return {c.begin(), c.end()};
}
std::vector<std::uint8_t> write_same10(std::uint32_t lba, std::uint16_t blocks, std::uint8_t byte1 = 0) {
    auto c = srp::scsi::make_rw10(0x41, lba, blocks);
    c[1] = byte1;
    return {c.begin(), c.end()};
}
std::vector<std::uint8_t> write16(std::uint64_t lba, std::uint32_t blocks) {
    auto c = srp::scsi::make_rw16(0x8a, lba, blocks);
    return {c.begin(), c.end()};
}
std::vector<std::uint8_t> snapshot(const Engine& e) { return e.file_bytes(0, e.unit->backstore().size_bytes()); }
bool block_is(const Engine& e, std::uint64_t lba, const std::vector<std::uint8_t>& block) {
    return e.file_bytes(lba * block.size(), block.size()) == block;
}
// GET LBA STATUS of one LBA: its PROVISIONING STATUS (0 mapped, 1 deallocated).
int provisioning(Engine& e, std::uint64_t lba) {
    std::vector<std::uint8_t> c(16, 0);
    c[0] = 0x9e;
    c[1] = 0x12;
    srp::wire::store_be<std::uint64_t>(c, 2, lba);
    c[13] = 24;
    auto r = e.run(c);
    REQUIRE(r.data.size() == 24);
    return r.data[20];
}

constexpr const char* kDataOutMismatch = "70 00 05 00 00 00 00 0a 00 00 00 00 0e 03 00 00 00 00";

}  // namespace

TEST_CASE("WRITE SAME whose Data-Out is not exactly one block is refused, nothing written", "[engine][writesame]") {
    Engine e;
    REQUIRE(e.run(write16(0, 16), pattern(8192, 4)).status ==
            Status::good);
    const auto before = snapshot(e);
    for (const auto& cdb : {write_same10(0, 16), write_same16(0, 16), write_same16(0, 16, 0x08)}) {
        for (std::uint64_t described : {0ull, 1ull, 511ull, 513ull, 1024ull, 8192ull}) {
            INFO("opcode " << int(cdb[0]) << " byte 1 " << int(cdb[1]) << " described " << described);
            auto r = e.run(cdb, pattern(8192, 9), Engine::kNexus, described);
            CHECK(r.status == Status::check_condition);
            CHECK(to_hex(r.sense) == kDataOutMismatch);
        }
    }
    CHECK(snapshot(e) == before);
    CHECK(provisioning(e, 0) == 0);  // the UNMAP variants deallocated nothing either
}

TEST_CASE("WRITE SAME (16) with NDOB and a described Data-Out is refused", "[engine][writesame]") {
    Engine e;
    const auto before = snapshot(e);
    auto r = e.run(write_same16(0, 4, 0x01), pattern(512, 1));
    CHECK(to_hex(r.sense) == kDataOutMismatch);
    CHECK(snapshot(e) == before);
}

TEST_CASE("WRITE SAME with exactly one block described replicates it", "[engine][writesame]") {
    Engine e;
    const auto block = pattern(512, 77);
    auto r = e.run(write_same16(10, 3), block);
    CHECK(r.status == Status::good);
    CHECK(r.data_out_unused == 0);
    for (std::uint64_t lba : {10, 11, 12}) CHECK(block_is(e, lba, block));
    CHECK(!block_is(e, 13, block));
}

TEST_CASE("thin LUN: VPD B2h LBPU LBPWS LBPWS10 LBPRZ, no ANC_SUP; READ CAPACITY (16) LBPME LBPRZ", "[engine][writesame]") {
    Engine e;
    CHECK(to_hex(e.run(hex("12 01 b2 00 ff 00")).data) == "00 b2 00 04 00 e4 02 00");
    CHECK(e.run(hex("9e 10 00 00 00 00 00 00 00 00 00 00 00 20 00 00")).data[14] == 0xc0);
}

TEST_CASE("thin LUN: WRITE SAME (10) and (16) with UNMAP and a zero block deallocate", "[engine][writesame]") {
    Engine e;
    REQUIRE(e.run(write16(0, 64), pattern(64 * 512, 2)).status ==
            Status::good);
    REQUIRE(provisioning(e, 8) == 0);
    CHECK(e.run(write_same10(8, 8, 0x08), std::vector<std::uint8_t>(512, 0)).status == Status::good);
    CHECK(e.run(write_same16(32, 16, 0x08), std::vector<std::uint8_t>(512, 0)).status == Status::good);
    CHECK(provisioning(e, 8) == 1);
    CHECK(provisioning(e, 32) == 1);
    CHECK(provisioning(e, 16) == 0);
    CHECK(e.file_bytes(8 * 512, 8 * 512) == std::vector<std::uint8_t>(8 * 512, 0));
}

TEST_CASE("thin LUN: WRITE SAME (16) with UNMAP and NDOB deallocates", "[engine][writesame]") {
    Engine e;
    REQUIRE(e.run(write16(0, 8), pattern(4096, 2)).status ==
            Status::good);
    CHECK(e.run(write_same16(0, 8, 0x09)).status == Status::good);
    CHECK(provisioning(e, 0) == 1);
}

TEST_CASE("thin LUN: WRITE SAME with UNMAP and a non-zero block writes it (LBPRZ=1)", "[engine][writesame]") {
    Engine e;
    const auto block = pattern(512, 5);
    CHECK(e.run(write_same16(16, 8, 0x08), block).status == Status::good);
    for (std::uint64_t lba = 16; lba < 24; ++lba) CHECK(block_is(e, lba, block));
    CHECK(provisioning(e, 16) == 0);
}

TEST_CASE("fully provisioned LUN: VPD B2h all zero and WRITE SAME's UNMAP bit is not evaluated", "[engine][writesame]") {
    Engine e;
    REQUIRE(e.run(write16(0, 8), pattern(4096, 2)).status ==
            Status::good);
    e.unit->backstore().set_pinned(true);
    CHECK(to_hex(e.run(hex("12 01 b2 00 ff 00")).data) == "00 b2 00 04 00 00 00 00");
    CHECK(e.run(hex("9e 10 00 00 00 00 00 00 00 00 00 00 00 20 00 00")).data[14] == 0x00);
    // LBPWS=0 and LBPWS10=0 with LBPME=0: the command is a write of the block.
    const auto block = pattern(512, 6);
    CHECK(e.run(write_same16(0, 4, 0x08), block).status == Status::good);
    CHECK(e.run(write_same10(4, 4, 0x08), std::vector<std::uint8_t>(512, 0)).status == Status::good);
    for (std::uint64_t lba = 0; lba < 4; ++lba) CHECK(block_is(e, lba, block));
    CHECK(block_is(e, 4, std::vector<std::uint8_t>(512, 0)));
    CHECK(provisioning(e, 0) == 0);
}

TEST_CASE("WRITE SAME with ANCHOR is refused: ANC_SUP=0", "[engine][writesame]") {
    Engine e;
    const auto before = snapshot(e);
    for (std::uint8_t flags : {std::uint8_t{0x10}, std::uint8_t{0x18}}) {
        CHECK(to_hex(e.run(write_same16(0, 1, flags), pattern(512, 1)).sense) ==
              "70 00 05 00 00 00 00 0a 00 00 00 00 24 00 00 cc 00 01");
        CHECK(to_hex(e.run(write_same10(0, 1, flags), pattern(512, 1)).sense) ==
              "70 00 05 00 00 00 00 0a 00 00 00 00 24 00 00 cc 00 01");
    }
    CHECK(snapshot(e) == before);
}

TEST_CASE("WRITE SAME with NUMBER OF LOGICAL BLOCKS 0 is refused as WSNZ=1 announces", "[engine][writesame]") {
    Engine e;
    CHECK((e.run(hex("12 01 b0 00 ff 00")).data[4] & 0x01) == 1);  // WSNZ
    const auto before = snapshot(e);
    CHECK(to_hex(e.run(write_same10(0, 0), pattern(512, 1)).sense) ==
          "70 00 05 00 00 00 00 0a 00 00 00 00 24 00 00 c0 00 07");
    CHECK(to_hex(e.run(write_same16(0, 0), pattern(512, 1)).sense) ==
          "70 00 05 00 00 00 00 0a 00 00 00 00 24 00 00 c0 00 0a");
    CHECK(to_hex(e.run(write_same16(0, 0, 0x08), std::vector<std::uint8_t>(512, 0)).sense) ==
          "70 00 05 00 00 00 00 0a 00 00 00 00 24 00 00 c0 00 0a");
    CHECK(snapshot(e) == before);
}

TEST_CASE("WRITE SAME up to MAXIMUM WRITE SAME LENGTH is accepted, one more block refused", "[engine][writesame]") {
    // 4 KiB blocks: the limit is 16384 blocks (64 MiB); the sparse LUN is a little larger.
    Engine e(4096, 16400);
    const std::uint64_t max = srp::wire::load_be<std::uint64_t>(e.run(hex("12 01 b0 00 ff 00")).data, 36);
    REQUIRE(max == 16384);
    REQUIRE(max == e.unit->max_write_same_blocks());
    const auto block = pattern(4096, 8);
    auto over = e.run(write_same16(0, static_cast<std::uint32_t>(max + 1)), block);
    CHECK(to_hex(over.sense) == "70 00 05 00 00 00 00 0a 00 00 00 00 24 00 00 c0 00 0a");
    CHECK(provisioning(e, 0) == 1);  // nothing was written
    CHECK(block_is(e, 0, std::vector<std::uint8_t>(4096, 0)));
    // At the limit: UNMAP with a zero block deallocates 64 MiB without touching memory.
    CHECK(e.run(write_same16(0, static_cast<std::uint32_t>(max), 0x08), std::vector<std::uint8_t>(4096, 0)).status ==
          Status::good);
    CHECK(e.run(write_same16(16380, 16), block).status == Status::good);
    CHECK(block_is(e, 16395, block));
}

TEST_CASE("WRITE SAME beyond the last block: LBA OUT OF RANGE, nothing written", "[engine][writesame]") {
    Engine e;
    const auto before = snapshot(e);
    CHECK(to_hex(e.run(write_same16(2047, 2), pattern(512, 1)).sense) ==
          "70 00 05 00 00 00 00 0a 00 00 00 00 21 00 00 c0 00 02");
    CHECK(snapshot(e) == before);
}
