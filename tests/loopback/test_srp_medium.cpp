// SRP exchanges with a file LUN served through io_uring (io backstore kind):
// data verified byte for byte in both directions, injected medium errors
// reach the initiator as exact sense data while another LUN keeps serving,
// and medium I/O in flight holds back aborts and channel teardown.
#include <fcntl.h>
#include <unistd.h>

#include "common/scsi/cdb.h"
#include "tests/loopback/loopback_fixture.h"

using namespace srp;
using namespace srp::test;

namespace {
std::vector<std::uint8_t> rw16(std::uint8_t op, std::uint64_t lba, std::uint32_t blocks) {
    auto c = scsi::make_rw16(op, lba, blocks);
    return {c.begin(), c.end()};
}
// The medium answers every step itself, moving its whole length (with
// hold set, the answers wait: the I/O stays "in flight").
void complete_every_step_in_full(TestMediumQueue& queue) {
    queue.inject = [](const target::MediumOp& op) -> std::optional<target::MediumResult> {
        return target::MediumResult(op.length);
    };
}
void fill(std::span<std::uint8_t> s, std::uint8_t seed) {
    for (std::size_t i = 0; i < s.size(); ++i) s[i] = static_cast<std::uint8_t>(seed + i * 13 + (i >> 8));
}
std::vector<std::uint8_t> file_bytes(const std::string& path, std::uint64_t offset, std::size_t length) {
    std::vector<std::uint8_t> out(length);
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    REQUIRE(fd >= 0);
    REQUIRE(::pread(fd, out.data(), length, static_cast<off_t>(offset)) == static_cast<ssize_t>(length));
    ::close(fd);
    return out;
}
std::string to_hex_string(const std::vector<std::uint8_t>& v) { return to_hex(v); }
auto fail_reads(int err) {
    return [err](const target::MediumOp& op) -> std::optional<target::MediumResult> {
        if (op.kind == target::MediumOpKind::read) return std::unexpected(std::error_code(err, std::generic_category()));
        return std::nullopt;
    };
}
constexpr std::uint16_t kFileLun = 1;
}  // namespace

TEST_CASE("file LUN through io_uring: WRITE then READ, byte for byte, through bounce memory", "[loopback][medium]") {
    LoopbackTarget t;
    t.add_io_lun(kFileLun, 16 << 20);
    auto& l = t.link();
    for (std::uint32_t bytes : {512u, 4096u, 128u * 1024, 1024u * 1024}) {
        fill(std::span(l.memory).first(bytes), static_cast<std::uint8_t>(bytes >> 9));
        l.command(rw16(0x8a, 2048, bytes / 512), true, 0, bytes, kFileLun);
        auto w = l.response();
        REQUIRE(w);
        CHECK(w->status() == 0);
        CHECK(file_bytes(t.dir.file("lun1"), 2048 * 512, bytes) ==
              std::vector<std::uint8_t>(l.memory.begin(), l.memory.begin() + bytes));
        l.command(rw16(0x88, 2048, bytes / 512), false, 2 << 20, bytes, kFileLun);
        auto r = l.response();
        REQUIRE(r);
        CHECK(r->status() == 0);
        CHECK(std::equal(l.memory.begin(), l.memory.begin() + bytes, l.memory.begin() + (2 << 20)));
    }
    CHECK(t.medium_queue.submitted == 8);
    CHECK(l.channel->medium_in_flight() == 0);
    // The channel's bounce memory and (immediate data granted) its receive ring are io_uring fixed buffers.
    CHECK(t.medium_queue.fixed_buffers() == 2);
}

TEST_CASE("file LUN: SRP-2 immediate data is written through io_uring", "[loopback][medium]") {
    LoopbackTarget t;
    t.add_io_lun(kFileLun, 1 << 20);
    auto& l = t.link();
    std::vector<std::uint8_t> data(512);  // fits the fixture's 1024-byte IU
    fill(data, 42);
    auto h = wire::make_iu<wire::CmdHeader>(wire::Opcode::cmd);
    h.tag = tag_of(9);
    h.lun = scsi::encode_lun(kFileLun);
    const auto cdb = rw16(0x8a, 3, 1);
    std::copy(cdb.begin(), cdb.end(), h.cdb.begin());
    std::vector<std::uint8_t> iu(2048);
    iu.resize(*wire::encode_cmd_immediate(iu, h, 68, data));
    l.send(iu);
    REQUIRE(l.response()->status() == 0);
    CHECK(file_bytes(t.dir.file("lun1"), 3 * 512, 512) == data);
}

TEST_CASE("an injected EIO gives the initiator MEDIUM ERROR with the LBA; the other LUN keeps serving",
          "[loopback][medium]") {
    LoopbackTarget t;
    t.add_io_lun(kFileLun, 1 << 20);
    auto& l = t.link();
    t.medium_queue.inject = fail_reads(EIO);
    l.command(rw16(0x88, 0x10, 8), false, 0, 4096, kFileLun);
    auto bad = l.response();
    REQUIRE(bad);
    CHECK(bad->status() == 0x02);
    CHECK(to_hex_string(bad->sense) == "f0 00 03 00 00 00 10 0a 00 00 00 00 11 00 00 00 00 00");
    // The residual: nothing moved.
    CHECK((bad->header.flags & wire::kRspFlagDiUnder) != 0);
    // LUN 0 (memory) in the same session is unaffected.
    fill(t.medium().subspan(0, 4096), 3);
    l.command(rw16(0x88, 0, 8), false, 8192, 4096);
    auto good = l.response();
    REQUIRE(good);
    CHECK(good->status() == 0);
    CHECK(std::equal(l.memory.begin() + 8192, l.memory.begin() + 8192 + 4096, t.medium().begin()));
    // And the file LUN serves again once the medium recovers.
    t.medium_queue.inject = nullptr;
    l.command(rw16(0x88, 0x10, 8), false, 0, 4096, kFileLun);
    CHECK(l.response()->status() == 0);
}

TEST_CASE("ENOSPC on a file LUN write: DATA PROTECT, SPACE ALLOCATION FAILED", "[loopback][medium]") {
    LoopbackTarget t;
    t.add_io_lun(kFileLun, 1 << 20);
    auto& l = t.link();
    t.medium_queue.inject = [](const target::MediumOp& op) -> std::optional<target::MediumResult> {
        if (op.kind == target::MediumOpKind::write) return std::unexpected(std::make_error_code(std::errc::no_space_on_device));
        return std::nullopt;
    };
    l.command(rw16(0x8a, 0, 1), true, 0, 512, kFileLun);
    auto r = l.response();
    REQUIRE(r);
    CHECK(to_hex_string(r->sense) == "70 00 07 00 00 00 00 0a 00 00 00 00 27 07 00 00 00 00");
}

TEST_CASE("ABORT TASK of a READ whose medium read is in flight waits for that read", "[loopback][medium][tmf]") {
    LoopbackTarget t;
    t.add_io_lun(kFileLun, 1 << 20);
    auto& l = t.link();
    complete_every_step_in_full(t.medium_queue);
    t.medium_queue.hold = true;
    const auto victim = l.command(rw16(0x88, 0, 8), false, 0, 4096, kFileLun);
    l.pump();
    CHECK(l.channel->medium_in_flight() == 1);
    const auto tmf = l.tmf(0x01, victim, kFileLun);
    CHECK(l.responses().empty());  // the TMF waits for the aborted command's I/O
    t.medium_queue.hold = false;
    auto all = l.responses();
    REQUIRE(all.size() == 1);  // only the TMF's
    CHECK(all[0].header.tag == tag_of(tmf));
    CHECK(all[0].credits() == 2);
    CHECK(l.channel->medium_in_flight() == 0);
}

TEST_CASE("a closing channel with medium I/O in flight is not drained until the I/O completes", "[loopback][medium]") {
    LoopbackTarget t;
    t.add_io_lun(kFileLun, 1 << 20);
    auto& l = t.link();
    complete_every_step_in_full(t.medium_queue);
    t.medium_queue.hold = true;
    l.command(rw16(0x88, 0, 8), false, 0, 4096, kFileLun);
    l.pump();
    l.control->request_disconnect("test");
    l.pump();
    CHECK(l.channel->closing());
    CHECK_FALSE(l.channel->drained());
    t.medium_queue.hold = false;
    l.pump();
    CHECK(l.channel->drained());
}

TEST_CASE("a target logout lets commands in flight finish, answers new ones BUSY, then sends SRP_T_LOGOUT and closes",
          "[loopback][medium][shutdown]") {
    LoopbackTarget t;
    t.add_io_lun(kFileLun, 1 << 20);
    auto& l = t.link();
    complete_every_step_in_full(t.medium_queue);
    t.medium_queue.hold = true;
    const auto in_flight = l.command(rw16(0x88, 0, 8), false, 0, 4096, kFileLun);
    l.pump();
    REQUIRE(l.channel->medium_in_flight() == 1);
    l.control->request_logout(static_cast<std::uint32_t>(wire::TargetLogoutReason::no_reason));
    const auto refused = l.command(rw16(0x88, 8, 8), false, 4096, 4096, kFileLun);
    auto first = l.responses();
    REQUIRE(first.size() == 1);  // only the new command's BUSY: the READ still waits for its medium
    CHECK(first[0].header.tag == tag_of(refused));
    CHECK(first[0].status() == static_cast<std::uint8_t>(scsi::Status::busy));
    CHECK(l.target_logouts.empty());
    CHECK_FALSE(l.channel->closing());
    t.medium_queue.hold = false;
    auto rest = l.responses();
    REQUIRE(rest.size() == 1);
    CHECK(rest[0].header.tag == tag_of(in_flight));
    CHECK(rest[0].status() == 0);
    REQUIRE(l.target_logouts.size() == 1);  // after the last response, never before it
    CHECK(l.target_logouts[0] == 0);
    l.pump();
    CHECK(l.channel->closing());
    CHECK(l.channel->drained());
}

TEST_CASE("a target logout of an idle channel sends SRP_T_LOGOUT at once", "[loopback][shutdown]") {
    LoopbackTarget t;
    auto& l = t.link();
    l.control->request_logout(static_cast<std::uint32_t>(wire::TargetLogoutReason::multichannel_action));
    CHECK(l.responses().empty());
    REQUIRE(l.target_logouts.size() == 1);
    CHECK(l.target_logouts[0] == 4);
    l.pump();
    CHECK(l.channel->drained());
}
