// The asynchronous medium interface on an io backstore: which steps the
// engine asks for, that buffers come from the transport, range locks, and
// durability (FUA and SYNCHRONIZE CACHE data is on the medium: read back
// with O_DIRECT through another descriptor).
#include <cstring>

#include "srp_target/backstore/aligned_buffer.h"
#include "tests/unit/engine_fixture.h"

using namespace srp::test;
using srp::scsi::Status;
using srp::target::MediumOpKind;
using Phase = srp::target::ScsiTask::Phase;
namespace scsi = srp::scsi;

namespace {
std::vector<std::uint8_t> cdb16(std::uint8_t opcode, std::uint64_t lba, std::uint32_t blocks, bool fua = false) {
    auto c = scsi::make_rw16(opcode, lba, blocks, fua);
    return {c.begin(), c.end()};
}
std::vector<MediumOpKind> kinds(const Engine& e) {
    std::vector<MediumOpKind> k;
    for (const auto& op : e.steps) k.push_back(op.kind);
    return k;
}
const auto kWceOff = hex("00 00 00 00 08 12 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00");
}  // namespace

TEST_CASE("io backstore: READ asks the transport for a buffer, then one read step into it", "[async]") {
    Engine e(512, 2048, false, Medium::io);
    REQUIRE(e.run(cdb16(0x8a, 8, 4), pattern(2048, 4)).status == Status::good);
    auto task = e.target.submit(Engine::kNexus, 0, cdb16(0x88, 8, 4), 0);
    REQUIRE(task.phase() == Phase::awaiting_buffer);
    CHECK(task.buffer_bytes() == 2048);
    srp::target::AlignedBuffer buffer(2048);
    e.target.provide_buffer(0, task, buffer.bytes());
    REQUIRE(task.phase() == Phase::awaiting_medium);
    CHECK(task.medium_op().kind == MediumOpKind::read);
    CHECK(task.medium_op().offset == 8 * 512);
    CHECK(task.medium_op().length == 2048);
    CHECK(task.medium_op().buffer.data() == buffer.data());
    e.target.complete_medium(0, task, task.medium_op().store->execute(task.medium_op()));
    REQUIRE(task.phase() == Phase::complete);
    CHECK(task.data_in().data() == buffer.data());
    CHECK(std::vector<std::uint8_t>(task.data_in().begin(), task.data_in().end()) == pattern(2048, 4));
    CHECK_FALSE(task.buffer_is_backstore());
}

TEST_CASE("io backstore: WRITE fills the transport's buffer, then one write step", "[async]") {
    Engine e(512, 2048, false, Medium::io);
    auto r = e.run(cdb16(0x8a, 3, 2), pattern(1024, 9));
    REQUIRE(r.status == Status::good);
    REQUIRE(e.steps.size() == 1);
    CHECK(e.steps[0].kind == MediumOpKind::write);
    CHECK_FALSE(e.steps[0].fua);
    CHECK(e.file_bytes(3 * 512, 1024) == pattern(1024, 9));
}

TEST_CASE("FUA write is a RWF_DSYNC write and is on the medium at GOOD", "[async][durability]") {
    Engine e(512, 2048, false, Medium::buffered);
    REQUIRE_FALSE(e.unit->backstore().direct_io());
    REQUIRE(e.run(cdb16(0x8a, 64, 8, true), pattern(4096, 21)).status == Status::good);
    REQUIRE(e.steps.size() == 1);
    CHECK(e.steps[0].fua);
    CHECK(e.file_bytes(64 * 512, 4096, true) == pattern(4096, 21));
}

TEST_CASE("SYNCHRONIZE CACHE is a flush step; the data it covers is on the medium", "[async][durability]") {
    Engine e(512, 2048, false, Medium::buffered);
    REQUIRE(e.run(cdb16(0x8a, 128, 8), pattern(4096, 33)).status == Status::good);
    e.steps.clear();
    REQUIRE(e.run(cdb16(0x91, 0, 0)).status == Status::good);
    CHECK(kinds(e) == std::vector{MediumOpKind::flush});
    CHECK(e.file_bytes(128 * 512, 4096, true) == pattern(4096, 33));
}

TEST_CASE("WCE=0: MODE SELECT flushes first, then every write is FUA", "[async][durability]") {
    Engine e(512, 2048, false, Medium::buffered);
    REQUIRE(e.run(hex("15 10 00 00 18 00"), kWceOff).status == Status::good);
    CHECK(kinds(e) == std::vector{MediumOpKind::flush});
    e.steps.clear();
    REQUIRE(e.run(cdb16(0x8a, 1, 1), pattern(512, 1)).status == Status::good);
    REQUIRE(e.steps.size() == 1);
    CHECK(e.steps[0].fua);
    CHECK(e.file_bytes(512, 512, true) == pattern(512, 1));
}

TEST_CASE("START STOP UNIT (stop) flushes before GOOD", "[async]") {
    Engine e(512, 2048, false, Medium::io);
    REQUIRE(e.run(hex("1b 00 00 00 00 00")).status == Status::good);
    CHECK(kinds(e) == std::vector{MediumOpKind::flush});
    CHECK_SENSE(e.run(hex("00 00 00 00 00 00")), not_ready, lun_not_ready_initializing_command_required);
}

TEST_CASE("VERIFY (BYTCHK=0) reads the blocks; bounded by the maximum transfer length", "[async]") {
    Engine e(512, 32768, false, Medium::io);
    REQUIRE(e.run(hex("2f 00 00 00 00 00 00 00 10 00")).status == Status::good);
    CHECK(kinds(e) == std::vector{MediumOpKind::read});
    CHECK(e.steps[0].length == 16 * 512);
    // 16385 blocks of 512 bytes exceed kMaxTransferBytes (8 MiB).
    CHECK_SENSE(e.run(hex("8f 00 00 00 00 00 00 00 00 00 00 00 40 01 00 00")), illegal_request, invalid_field_in_cdb);
}

TEST_CASE("WRITE SAME of zeros is one zero-range step; unsupported falls back to writes", "[async]") {
    Engine e(512, 2048, false, Medium::io);
    REQUIRE(e.run(cdb16(0x8a, 0, 16), pattern(8192, 3)).status == Status::good);
    e.steps.clear();
    REQUIRE(e.run(cdb16(0x93, 0, 8), std::vector<std::uint8_t>(512, 0)).status == Status::good);
    CHECK(kinds(e) == std::vector{MediumOpKind::write_zeroes});
    CHECK(e.file_bytes(0, 4096) == std::vector<std::uint8_t>(4096, 0));
    e.steps.clear();
    e.inject = [](const srp::target::MediumOp& op) -> std::optional<srp::target::MediumResult> {
        if (op.kind == MediumOpKind::write_zeroes)
            return std::unexpected(std::make_error_code(std::errc::operation_not_supported));
        return std::nullopt;
    };
    REQUIRE(e.run(cdb16(0x93, 8, 8), std::vector<std::uint8_t>(512, 0)).status == Status::good);
    CHECK(kinds(e) == (std::vector{MediumOpKind::write_zeroes, MediumOpKind::write}));
    CHECK(e.file_bytes(8 * 512, 4096) == std::vector<std::uint8_t>(4096, 0));
}

TEST_CASE("WRITE SAME of a pattern writes in 1 MiB steps", "[async]") {
    Engine e(512, 8192, false, Medium::io);
    const auto block = pattern(512, 5);
    REQUIRE(e.run(cdb16(0x93, 0, 4096 + 8), block).status == Status::good);  // 2 MiB + 4 KiB
    CHECK(kinds(e) == (std::vector{MediumOpKind::write, MediumOpKind::write, MediumOpKind::write}));
    CHECK(e.steps[2].length == 4096);
    CHECK(e.file_bytes(4100 * 512, 512) == block);
}

TEST_CASE("UNMAP is one discard step per descriptor", "[async]") {
    Engine e(512, 2048, false, Medium::io);
    REQUIRE(e.run(cdb16(0x8a, 0, 64), pattern(64 * 512, 2)).status == Status::good);
    e.steps.clear();
    auto list = hex("00 26 00 20 00 00 00 00 | 00 00 00 00 00 00 00 00 00 00 00 08 00 00 00 00 | "
                    "00 00 00 00 00 00 00 20 00 00 00 10 00 00 00 00");
    REQUIRE(e.run(hex("42 00 00 00 00 00 00 00 28 00"), list).status == Status::good);
    CHECK(kinds(e) == (std::vector{MediumOpKind::discard, MediumOpKind::discard}));
    CHECK(e.steps[1].offset == 32 * 512);
    CHECK(e.file_bytes(32 * 512, 8192) == std::vector<std::uint8_t>(8192, 0));
}

TEST_CASE("COMPARE AND WRITE: read step, compare, write step", "[async]") {
    Engine e(512, 2048, false, Medium::io);
    REQUIRE(e.run(cdb16(0x8a, 7, 1), pattern(512, 1)).status == Status::good);
    e.steps.clear();
    auto data = pattern(512, 1);
    const auto next = pattern(512, 2);
    data.insert(data.end(), next.begin(), next.end());
    REQUIRE(e.run(hex("89 00 00 00 00 00 00 00 00 07 00 00 00 01 00 00"), data).status == Status::good);
    CHECK(kinds(e) == (std::vector{MediumOpKind::read, MediumOpKind::write}));
    CHECK(e.file_bytes(7 * 512, 512) == next);
    CHECK(e.unit->range_locks_held() == 0);
}

TEST_CASE("COMPARE AND WRITE holds its range: an overlapping WRITE waits (blocked), others proceed",
          "[async][range-lock]") {
    Engine e(512, 2048, false, Medium::io);
    auto caw_data = std::vector<std::uint8_t>(1024, 0);
    auto caw = e.target.submit(Engine::kNexus, 0, hex("89 00 00 00 00 00 00 00 00 07 00 00 00 01 00 00"), 1024);
    REQUIRE(caw.phase() == Phase::awaiting_data_out);
    std::memset(caw.data_out_buffer().data(), 0, 1024);
    e.target.complete_data_out(0, caw);
    REQUIRE(caw.phase() == Phase::awaiting_medium);  // the read, with the range held
    CHECK(e.unit->range_locks_held() == 1);

    srp::target::AlignedBuffer buffer(4096);
    auto write = e.target.submit(Engine::kOtherNexus, 0, cdb16(0x8a, 4, 8), 4096);
    REQUIRE(write.phase() == Phase::awaiting_buffer);
    e.target.provide_buffer(0, write, buffer.bytes());
    REQUIRE(write.phase() == Phase::awaiting_data_out);
    e.target.complete_data_out(0, write);
    CHECK(write.phase() == Phase::blocked);
    e.target.resume(0, write);
    CHECK(write.phase() == Phase::blocked);  // still held

    srp::target::AlignedBuffer elsewhere_buffer(512);
    auto elsewhere = e.target.submit(Engine::kOtherNexus, 0, cdb16(0x8a, 100, 1), 512);
    e.target.provide_buffer(0, elsewhere, elsewhere_buffer.bytes());
    e.target.complete_data_out(0, elsewhere);
    CHECK(elsewhere.phase() == Phase::awaiting_medium);

    for (int step = 0; step < 2; ++step) {  // read, then write
        REQUIRE(caw.phase() == Phase::awaiting_medium);
        e.target.complete_medium(0, caw, caw.medium_op().store->execute(caw.medium_op()));
    }
    REQUIRE(caw.phase() == Phase::complete);
    CHECK(caw.status() == Status::good);
    e.target.resume(0, write);
    CHECK(write.phase() == Phase::awaiting_medium);
}

TEST_CASE("memory backstore: a WRITE holds its range from submit, so COMPARE AND WRITE waits", "[async][range-lock]") {
    Engine e(512, 2048, false, Medium::mapped);
    auto write = e.target.submit(Engine::kNexus, 0, cdb16(0x8a, 6, 2), 1024);
    REQUIRE(write.phase() == Phase::awaiting_data_out);
    CHECK(write.buffer_is_backstore());
    auto caw = e.target.submit(Engine::kOtherNexus, 0, hex("89 00 00 00 00 00 00 00 00 07 00 00 00 01 00 00"), 1024);
    REQUIRE(caw.phase() == Phase::awaiting_data_out);
    e.target.complete_data_out(0, caw);
    CHECK(caw.phase() == Phase::blocked);
    e.target.complete_data_out(0, write);
    CHECK(write.phase() == Phase::complete);
    e.target.resume(0, caw);
    CHECK(caw.phase() == Phase::complete);
    CHECK(caw.status() == Status::good);  // zeros compared equal to zeros
}

TEST_CASE("a task destroyed while holding a range releases it", "[async][range-lock]") {
    Engine e(512, 2048, false, Medium::mapped);
    {
        auto write = e.target.submit(Engine::kNexus, 0, cdb16(0x8a, 6, 2), 1024);
        CHECK(e.unit->range_locks_held() == 1);
    }
    CHECK(e.unit->range_locks_held() == 0);
}

TEST_CASE("UNMAP waits for a COMPARE AND WRITE holding one of its ranges", "[async][range-lock]") {
    Engine e(512, 2048, false, Medium::io);
    auto caw = e.target.submit(Engine::kNexus, 0, hex("89 00 00 00 00 00 00 00 00 20 00 00 00 01 00 00"), 1024);
    REQUIRE(caw.phase() == Phase::awaiting_data_out);
    e.target.complete_data_out(0, caw);
    REQUIRE(caw.phase() == Phase::awaiting_medium);  // holds LBA 32
    auto list = hex("00 26 00 20 00 00 00 00 | 00 00 00 00 00 00 00 00 00 00 00 08 00 00 00 00 | "
                    "00 00 00 00 00 00 00 20 00 00 00 10 00 00 00 00");
    auto unmap = e.target.submit(Engine::kOtherNexus, 0, hex("42 00 00 00 00 00 00 00 28 00"), list.size());
    REQUIRE(unmap.phase() == Phase::awaiting_data_out);
    std::memcpy(unmap.data_out_buffer().data(), list.data(), list.size());
    e.target.complete_data_out(0, unmap);
    REQUIRE(unmap.phase() == Phase::awaiting_medium);  // the first descriptor (LBA 0..7) is free
    e.target.complete_medium(0, unmap, unmap.medium_op().store->execute(unmap.medium_op()));
    CHECK(unmap.phase() == Phase::blocked);  // the second (LBA 32..47) overlaps the COMPARE AND WRITE
    while (caw.phase() == Phase::awaiting_medium)
        e.target.complete_medium(0, caw, caw.medium_op().store->execute(caw.medium_op()));
    e.target.resume(0, unmap);
    REQUIRE(unmap.phase() == Phase::awaiting_medium);
    CHECK(unmap.medium_op().offset == 32 * 512);
    e.target.complete_medium(0, unmap, unmap.medium_op().store->execute(unmap.medium_op()));
    CHECK(unmap.phase() == Phase::complete);
    CHECK(unmap.status() == Status::good);
    CHECK(e.unit->range_locks_held() == 0);
}
