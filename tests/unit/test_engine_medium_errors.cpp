// Medium errors become sense data (exact bytes), never a dead process:
// injected EIO/ENOSPC/EDQUOT through the test executor, a backstore that
// shrank under the engine (io kind: short read; memory kind: SIGBUS on the
// mapping), and the CAPACITY DATA HAS CHANGED unit attention.
#include <unistd.h>

#include <cerrno>

#include "tests/unit/engine_fixture.h"

using namespace srp::test;
using srp::scsi::Status;
using srp::target::MediumOpKind;
namespace scsi = srp::scsi;

namespace {
std::vector<std::uint8_t> cdb16(std::uint8_t opcode, std::uint64_t lba, std::uint32_t blocks, bool fua = false) {
    auto c = scsi::make_rw16(opcode, lba, blocks, fua);
    return {c.begin(), c.end()};
}
// Fails every step of kind with errno err.
auto fail(MediumOpKind kind, int err) {
    return [kind, err](const srp::target::MediumOp& op) -> std::optional<srp::target::MediumResult> {
        if (op.kind == kind) return std::unexpected(std::error_code(err, std::generic_category()));
        return std::nullopt;
    };
}
}  // namespace

// The injector answers the steps a transport runs: io backstores. (Memory
// backstores run their steps inline; their failure is the SIGBUS case below.)
TEST_CASE("EIO on read: MEDIUM ERROR, UNRECOVERED READ ERROR, INFORMATION = first LBA", "[engine][errors]") {
    Engine e(512, 2048, false, Medium::io);
    e.inject = fail(MediumOpKind::read, EIO);
    auto read = e.run(cdb16(0x88, 0x456, 2));
    CHECK(to_hex(read.sense) == "f0 00 03 00 00 04 56 0a 00 00 00 00 11 00 00 00 00 00");
    auto verify = e.run(hex("2f 00 00 00 01 23 00 00 08 00"));  // VERIFY(10) LBA 0x123, 8 blocks
    CHECK(to_hex(verify.sense) == "f0 00 03 00 00 01 23 0a 00 00 00 00 11 00 00 00 00 00");
}

TEST_CASE("EIO on write: MEDIUM ERROR, WRITE ERROR with the LBA", "[engine][errors]") {
    Engine e(512, 2048, false, Medium::io);
    e.inject = fail(MediumOpKind::write, EIO);
    auto r = e.run(cdb16(0x8a, 0x10, 1), pattern(512, 1));
    CHECK(r.status == Status::check_condition);
    CHECK(to_hex(r.sense) == "f0 00 03 00 00 00 10 0a 00 00 00 00 0c 00 00 00 00 00");
}

TEST_CASE("EIO on a flush (SYNCHRONIZE CACHE): WRITE ERROR", "[engine][errors]") {
    Engine e(512, 2048, false, Medium::io);
    e.inject = fail(MediumOpKind::flush, EIO);
    auto r = e.run(hex("35 00 00 00 00 00 00 00 00 00"));
    CHECK(to_hex(r.sense) == "70 00 03 00 00 00 00 0a 00 00 00 00 0c 00 00 00 00 00");
}

TEST_CASE("ENOSPC and EDQUOT: DATA PROTECT, SPACE ALLOCATION FAILED WRITE PROTECT", "[engine][errors]") {
    Engine e(512, 2048, false, Medium::io);
    REQUIRE(e.unit->thin_provisioned());
    for (int err : {ENOSPC, EDQUOT}) {
        e.inject = fail(MediumOpKind::write, err);
        auto r = e.run(cdb16(0x8a, 5, 1), pattern(512, 1));
        CHECK(to_hex(r.sense) == "70 00 07 00 00 00 00 0a 00 00 00 00 27 07 00 00 00 00");
    }
    e.inject = fail(MediumOpKind::flush, ENOSPC);  // delayed allocation fails at fsync time
    CHECK(to_hex(e.run(hex("35 00 00 00 00 00 00 00 00 00")).sense) ==
          "70 00 07 00 00 00 00 0a 00 00 00 00 27 07 00 00 00 00");
}

TEST_CASE("an error on one LU's step leaves the next command on it working", "[engine][errors]") {
    Engine e(512, 2048, false, Medium::io);
    e.inject = fail(MediumOpKind::write, EIO);
    CHECK(e.run(cdb16(0x8a, 5, 1), pattern(512, 1)).status == Status::check_condition);
    e.inject = nullptr;
    CHECK(e.run(cdb16(0x8a, 5, 1), pattern(512, 1)).status == Status::good);
    CHECK(e.run(cdb16(0x88, 5, 1)).data == pattern(512, 1));
}

TEST_CASE("io backstore that shrank: capacity updated, unit attention for every nexus, LBA OUT OF RANGE",
          "[engine][errors]") {
    Engine e(512, 2048, false, Medium::io);
    REQUIRE(::truncate(e.path.c_str(), 1024 * 512) == 0);
    auto r = e.run(cdb16(0x88, 1500, 8));  // short read at end of file
    CHECK(to_hex(r.sense) == "70 00 05 00 00 00 00 0a 00 00 00 00 21 00 00 c0 00 02");
    CHECK(e.unit->block_count() == 1024);
    for (auto nexus : {Engine::kNexus, Engine::kOtherNexus}) {
        auto ua = e.run(hex("25 00 00 00 00 00 00 00 00 00"), {}, nexus);
        CHECK(to_hex(ua.sense) == "70 00 06 00 00 00 00 0a 00 00 00 00 2a 09 00 00 00 00");
        auto capacity = e.run(hex("25 00 00 00 00 00 00 00 00 00"), {}, nexus);
        CHECK(to_hex(capacity.data) == "00 00 03 ff 00 00 02 00");
    }
    CHECK_SENSE(e.run(cdb16(0x88, 1500, 8)), illegal_request, lba_out_of_range);
    CHECK(e.run(cdb16(0x88, 1000, 8)).status == Status::good);
}

TEST_CASE("memory backstore truncated behind the mapping: a SIGBUS becomes sense data, not a crash",
          "[engine][errors]") {
    Engine e(512, 2048, false, Medium::mapped);
    REQUIRE(e.run(cdb16(0x8a, 0, 8), pattern(4096, 1)).status == Status::good);
    REQUIRE(::truncate(e.path.c_str(), 4096) == 0);
    // VERIFY copies the blocks out of the mapping; pages past EOF raise SIGBUS.
    auto r = e.run(hex("2f 00 00 00 04 00 00 00 08 00"));  // LBA 1024
    CHECK(to_hex(r.sense) == "70 00 05 00 00 00 00 0a 00 00 00 00 21 00 00 c0 00 02");
    CHECK(e.unit->block_count() == 8);
    for (auto nexus : {Engine::kNexus, Engine::kOtherNexus}) {
        auto ua = e.run(hex("00 00 00 00 00 00"), {}, nexus);
        CHECK(to_hex(ua.sense) == "70 00 06 00 00 00 00 0a 00 00 00 00 2a 09 00 00 00 00");
    }
    // COMPARE AND WRITE on the remaining blocks still works.
    auto data = pattern(4096, 1);
    data.resize(512);
    auto next = pattern(512, 9);
    data.insert(data.end(), next.begin(), next.end());
    CHECK(e.run(hex("89 00 00 00 00 00 00 00 00 00 00 00 00 01 00 00"), data).status == Status::good);
}
