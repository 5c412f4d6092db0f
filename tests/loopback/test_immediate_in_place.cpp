// SRP-2 immediate data written to an io backstore straight from the receive
// buffer it arrived in: the buffer is page aligned, it is not reposted while
// the write is in flight (a later IU would overwrite the data), and it is
// reposted exactly once however the command ends: response, ABORT TASK,
// after a wait for a busy LBA range, or in a channel that closes.
#include <fcntl.h>
#include <unistd.h>

#include <cstdint>

#include "common/scsi/cdb.h"
#include "tests/loopback/loopback_fixture.h"

using namespace srp;
using namespace srp::test;

namespace {
constexpr std::uint16_t kFileLun = 1;
constexpr std::uint32_t kImmOffset = 68;  // what ib_srp asks for
constexpr std::uint8_t kGood = 0;

std::vector<std::uint8_t> rw16(std::uint8_t op, std::uint64_t lba, std::uint32_t blocks) {
    auto c = scsi::make_rw16(op, lba, blocks);
    return {c.begin(), c.end()};
}
std::vector<std::uint8_t> pattern(std::size_t n, std::uint8_t seed) {
    std::vector<std::uint8_t> v(n);
    for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<std::uint8_t>(seed + i * 7 + (i >> 5));
    return v;
}
// WRITE(16) of one 512-byte block whose data rides in the SRP_CMD.
std::uint64_t write_immediate(LoopbackTarget::Link& l, std::uint64_t lba, const std::vector<std::uint8_t>& data,
                              std::uint16_t lun = kFileLun) {
    const std::uint64_t tag = l.next_tag++;
    auto h = wire::make_iu<wire::CmdHeader>(wire::Opcode::cmd);
    h.tag = tag_of(tag);
    h.lun = scsi::encode_lun(lun);
    const auto cdb = rw16(0x8a, lba, static_cast<std::uint32_t>(data.size() / 512));
    std::copy(cdb.begin(), cdb.end(), h.cdb.begin());
    std::vector<std::uint8_t> iu(2048);
    iu.resize(*wire::encode_cmd_immediate(iu, h, kImmOffset, data));
    l.send(iu);
    return tag;
}
std::vector<std::uint8_t> file_bytes(const std::string& path, std::uint64_t offset, std::size_t length) {
    std::vector<std::uint8_t> out(length);
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    REQUIRE(fd >= 0);
    REQUIRE(::pread(fd, out.data(), length, static_cast<off_t>(offset)) == static_cast<ssize_t>(length));
    ::close(fd);
    return out;
}
// Every credit at once: each needs a posted receive, so a receive buffer
// that was never reposted leaves one command unanswered.
void every_credit_answers(LoopbackTarget::Link& l) {
    const std::uint8_t tur[16] = {};
    for (std::uint32_t i = 0; i < LoopbackTarget::kQueueDepth; ++i) l.command(tur, false, 0, 0, kFileLun);
    const auto all = l.responses();
    REQUIRE(all.size() == LoopbackTarget::kQueueDepth);
    for (const auto& r : all) CHECK(r.status() == kGood);
}
// Captures the write steps the channel submits; answers them in full.
struct WriteSpy {
    std::vector<std::span<std::uint8_t>> buffers;
    void attach(TestMediumQueue& queue) {
        queue.inject = [this](const target::MediumOp& op) -> std::optional<target::MediumResult> {
            if (op.kind == target::MediumOpKind::write) buffers.push_back(op.buffer);
            if (op.kind == target::MediumOpKind::read) std::fill(op.buffer.begin(), op.buffer.end(), 0);
            return target::MediumResult(op.length);
        };
    }
};
}  // namespace

TEST_CASE("immediate data reaches an io backstore from its page-aligned receive buffer, with no bounce copy",
          "[loopback][medium][immediate]") {
    LoopbackTarget t;
    t.add_io_lun(kFileLun, 1 << 20);
    auto& l = t.link();
    const auto bounce_before = t.stats.bounce_commands.load();
    for (std::uint64_t i = 0; i < 3 * LoopbackTarget::kQueueDepth; ++i) {  // every receive buffer, more than once
        const auto data = pattern(512, static_cast<std::uint8_t>(i));
        write_immediate(l, 7 + i, data);
        auto r = l.response();
        REQUIRE(r);
        CHECK(r->status() == kGood);
        CHECK(file_bytes(t.dir.file("lun1"), (7 + i) * 512, 512) == data);
    }
    CHECK(t.stats.immediate_in_place.load() == 3 * LoopbackTarget::kQueueDepth);
    CHECK(t.stats.bounce_commands.load() == bounce_before);
    CHECK(t.medium_queue.fixed_buffers() == 2);  // bounce memory and the receive ring
    every_credit_answers(l);
}

TEST_CASE("a receive buffer whose data is being written is not reposted until the write completes",
          "[loopback][medium][immediate]") {
    LoopbackTarget t;
    t.add_io_lun(kFileLun, 1 << 20);
    auto& l = t.link();
    WriteSpy spy;
    spy.attach(t.medium_queue);
    t.medium_queue.hold = true;
    const auto data = pattern(512, 99);
    const auto writer = write_immediate(l, 5, data);
    l.pump();
    REQUIRE(spy.buffers.size() == 1);
    const auto in_flight = spy.buffers[0];
    CHECK(reinterpret_cast<std::uintptr_t>(in_flight.data()) % 4096 == 0);
    // Many more IUs as long as it cycle through the ring while the write is
    // in flight (immediate WRITEs to the memory LUN, copied at once): were
    // its buffer reposted, one of them would land on the data.
    for (int round = 0; round < 3; ++round) {
        for (std::uint32_t i = 0; i + 1 < LoopbackTarget::kQueueDepth; ++i)
            write_immediate(l, i, pattern(512, static_cast<std::uint8_t>(200 + i)), 0);
        const auto answered = l.responses();
        CHECK(answered.size() == LoopbackTarget::kQueueDepth - 1);
    }
    CHECK(std::vector<std::uint8_t>(in_flight.begin(), in_flight.end()) == data);
    t.medium_queue.hold = false;
    auto done = l.response();
    REQUIRE(done);
    CHECK(done->header.tag == tag_of(writer));
    CHECK(done->status() == kGood);
    every_credit_answers(l);
}

TEST_CASE("ABORT TASK of a write in place: the buffer is reposted once the write drains, and the credit returns",
          "[loopback][medium][immediate][tmf]") {
    LoopbackTarget t;
    t.add_io_lun(kFileLun, 1 << 20);
    auto& l = t.link();
    WriteSpy spy;
    spy.attach(t.medium_queue);
    t.medium_queue.hold = true;
    const auto victim = write_immediate(l, 9, pattern(512, 3));
    l.pump();
    REQUIRE(l.channel->medium_in_flight() == 1);
    const auto tmf = l.tmf(0x01, victim, kFileLun);
    CHECK(l.responses().empty());  // the TMF waits for the victim's write
    t.medium_queue.hold = false;
    const auto all = l.responses();
    REQUIRE(all.size() == 1);
    CHECK(all[0].header.tag == tag_of(tmf));
    CHECK(all[0].credits() == 2);  // the TMF's and the aborted write's
    every_credit_answers(l);
}

TEST_CASE("a write in place that waits for a busy LBA range keeps its buffer until it is written",
          "[loopback][medium][immediate]") {
    LoopbackTarget t;
    t.add_io_lun(kFileLun, 1 << 20);
    auto& l = t.link();
    WriteSpy spy;
    spy.attach(t.medium_queue);
    t.medium_queue.hold = true;
    // COMPARE AND WRITE of LBA 4 holds the range while its read is in
    // flight; its data-out (verify: zeros as the medium reads, then the
    // new block) comes by RDMA READ.
    std::fill(l.memory.begin(), l.memory.begin() + 512, 0);
    const auto caw_data = pattern(512, 17);
    std::copy(caw_data.begin(), caw_data.end(), l.memory.begin() + 512);
    std::uint8_t caw[16] = {0x89};
    caw[9] = 4;   // LBA
    caw[13] = 1;  // blocks
    const auto caw_tag = l.command(caw, true, 0, 1024, kFileLun);
    l.pump();
    REQUIRE(l.channel->medium_in_flight() == 1);
    const auto data = pattern(512, 55);
    const auto writer = write_immediate(l, 4, data);
    CHECK(l.responses().empty());  // neither BUSY nor done: it waits for the range
    for (std::uint32_t i = 0; i < 2 * LoopbackTarget::kQueueDepth; ++i) {  // the ring turns meanwhile
        write_immediate(l, i, pattern(512, static_cast<std::uint8_t>(100 + i)), 0);
        auto other = l.response();
        REQUIRE(other);
        CHECK(other->status() == kGood);
    }
    t.medium_queue.hold = false;
    const auto all = l.responses();
    REQUIRE(all.size() == 2);
    CHECK(all[0].header.tag == tag_of(caw_tag));
    CHECK(all[0].status() == kGood);
    CHECK(all[1].header.tag == tag_of(writer));
    CHECK(all[1].status() == kGood);
    REQUIRE(spy.buffers.size() == 2);  // the CAW's write, then ours, in that order
    CHECK(std::vector<std::uint8_t>(spy.buffers[1].begin(), spy.buffers[1].end()) == data);
    every_credit_answers(l);
}

TEST_CASE("a channel closing with a write in place in flight drains once the write completes",
          "[loopback][medium][immediate]") {
    LoopbackTarget t;
    t.add_io_lun(kFileLun, 1 << 20);
    auto& l = t.link();
    WriteSpy spy;
    spy.attach(t.medium_queue);
    t.medium_queue.hold = true;
    write_immediate(l, 2, pattern(512, 8));
    l.pump();
    l.control->request_disconnect("test");
    l.pump();
    CHECK(l.channel->closing());
    CHECK_FALSE(l.channel->drained());
    t.medium_queue.hold = false;
    l.pump();
    CHECK(l.channel->drained());
}

TEST_CASE("the receive ring puts immediate data on a page boundary whatever offset login granted",
          "[loopback][medium][immediate]") {
    for (std::uint32_t offset : {68u, 80u, 200u, 511u}) {
        INFO("imm_data_offset " << offset);
        LoopbackTarget t(true, offset);
        t.add_io_lun(kFileLun, 1 << 20);
        auto& l = t.link();
        WriteSpy spy;
        spy.attach(t.medium_queue);
        for (std::uint64_t i = 0; i < 2 * LoopbackTarget::kQueueDepth; ++i) {
            const auto data = pattern(512, static_cast<std::uint8_t>(offset + i));
            auto h = wire::make_iu<wire::CmdHeader>(wire::Opcode::cmd);
            h.tag = tag_of(l.next_tag++);
            h.lun = scsi::encode_lun(kFileLun);
            const auto cdb = rw16(0x8a, i, 1);
            std::copy(cdb.begin(), cdb.end(), h.cdb.begin());
            std::vector<std::uint8_t> iu(2048);
            iu.resize(*wire::encode_cmd_immediate(iu, h, offset, data));
            l.send(iu);
            auto r = l.response();
            REQUIRE(r);
            CHECK(r->status() == kGood);
            REQUIRE(spy.buffers.size() == i + 1);
            CHECK(reinterpret_cast<std::uintptr_t>(spy.buffers[i].data()) % 4096 == 0);
            CHECK(std::vector<std::uint8_t>(spy.buffers[i].begin(), spy.buffers[i].end()) == data);
        }
        CHECK(t.stats.immediate_in_place.load() == 2 * LoopbackTarget::kQueueDepth);
    }
}
