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
// WRITE(16) of data (whole 512-byte blocks) that rides in the SRP_CMD at offset.
std::uint64_t write_immediate(LoopbackTarget::Link& l, std::uint64_t lba, const std::vector<std::uint8_t>& data,
                              std::uint16_t lun = kFileLun, std::uint32_t offset = kImmOffset) {
    const std::uint64_t tag = l.next_tag++;
    auto h = wire::make_iu<wire::CmdHeader>(wire::Opcode::cmd);
    h.tag = tag_of(tag);
    h.lun = scsi::encode_lun(lun);
    const auto cdb = rw16(0x8a, lba, static_cast<std::uint32_t>(data.size() / 512));
    std::copy(cdb.begin(), cdb.end(), h.cdb.begin());
    std::vector<std::uint8_t> iu(offset + data.size());
    iu.resize(*wire::encode_cmd_immediate(iu, h, offset, data));
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
// The whole ring is posted again (none leaked, none posted twice), and
// every credit at once is answered.
void every_credit_answers(LoopbackTarget::Link& l) {
    CHECK(l.target_side->posted_receives() == LoopbackTarget::kQueueDepth);
    const std::uint8_t tur[16] = {};
    for (std::uint32_t i = 0; i < LoopbackTarget::kQueueDepth; ++i) l.command(tur, false, 0, 0, kFileLun);
    const auto all = l.responses();
    REQUIRE(all.size() == LoopbackTarget::kQueueDepth);
    for (const auto& r : all) CHECK(r.status() == kGood);
    CHECK(l.target_side->posted_receives() == LoopbackTarget::kQueueDepth);
}
// COMPARE AND WRITE of one block at lba, which holds its LBA range
// exclusively while its medium read is in flight (hold the medium queue);
// its data-out (verify: zeros, as WriteSpy reads, then the new block) comes
// by RDMA READ from the link's memory.
std::uint64_t compare_and_write(LoopbackTarget::Link& l, std::uint8_t lba, const std::vector<std::uint8_t>& block) {
    std::fill(l.memory.begin(), l.memory.begin() + 512, 0);
    std::copy(block.begin(), block.end(), l.memory.begin() + 512);
    std::uint8_t caw[16] = {0x89};
    caw[9] = lba;
    caw[13] = 1;  // blocks
    return l.command(caw, true, 0, 1024, kFileLun);
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
// An io LUN whose medium steps a WriteSpy answers, held (in flight) until
// t.medium_queue.hold is cleared.
struct HeldMedium {
    LoopbackTarget t;
    LoopbackTarget::Link& l;
    WriteSpy spy;
    HeldMedium() : l(t.link()) {
        t.add_io_lun(kFileLun, 1 << 20);
        spy.attach(t.medium_queue);
        t.medium_queue.hold = true;
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
    HeldMedium m;
    auto& [t, l, spy] = m;
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
    HeldMedium m;
    auto& [t, l, spy] = m;
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
    HeldMedium m;
    auto& [t, l, spy] = m;
    const auto caw_tag = compare_and_write(l, 4, pattern(512, 17));
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
    HeldMedium m;
    auto& [t, l, spy] = m;
    write_immediate(l, 2, pattern(512, 8));
    l.pump();
    l.control->request_disconnect("test");
    l.pump();
    CHECK(l.channel->closing());
    CHECK_FALSE(l.channel->drained());
    t.medium_queue.hold = false;
    l.pump();
    CHECK(l.channel->drained());
    CHECK(l.target_side->posted_receives() == 0);  // a closing channel posts nothing again
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
            write_immediate(l, i, data, kFileLun, offset);
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

TEST_CASE("a write in place gives its receive buffer back before its response returns the credit",
          "[loopback][medium][immediate]") {
    HeldMedium m;
    auto& [t, l, spy] = m;
    l.target_side->hold_completions(true);  // responses arrive, their send completions do not (no release())
    write_immediate(l, 1, pattern(512, 4));
    l.pump();
    CHECK(l.target_side->posted_receives() == LoopbackTarget::kQueueDepth - 1);  // held by the write
    t.medium_queue.hold = false;
    auto r = l.response();
    REQUIRE(r);
    CHECK(r->status() == kGood);
    CHECK(r->credits() == 1);
    CHECK(l.target_side->posted_receives() == LoopbackTarget::kQueueDepth);  // before the credit was usable
    l.target_side->hold_completions(false);
    every_credit_answers(l);
}

TEST_CASE("a write in place that fails with EIO answers WRITE ERROR and gives its buffer back",
          "[loopback][medium][immediate]") {
    LoopbackTarget t;
    t.add_io_lun(kFileLun, 1 << 20);
    auto& l = t.link();
    t.medium_queue.inject = [](const target::MediumOp& op) -> std::optional<target::MediumResult> {
        if (op.kind == target::MediumOpKind::write) return std::unexpected(std::error_code(EIO, std::generic_category()));
        return std::nullopt;
    };
    write_immediate(l, 0x20, pattern(512, 6));
    auto r = l.response();
    REQUIRE(r);
    CHECK(r->status() == 2);
    CHECK(to_hex(r->sense) == "f0 00 03 00 00 00 20 0a 00 00 00 00 0c 00 00 00 00 00");  // MEDIUM ERROR, WRITE ERROR, LBA 0x20
    CHECK(t.stats.immediate_in_place.load() == 1);
    t.medium_queue.inject = nullptr;
    every_credit_answers(l);
}

TEST_CASE("ABORT TASK of a write in place that waits for a busy LBA range gives its buffer back at once",
          "[loopback][medium][immediate][tmf]") {
    HeldMedium m;
    auto& [t, l, spy] = m;
    const auto caw_tag = compare_and_write(l, 6, pattern(512, 18));
    l.pump();
    REQUIRE(l.channel->medium_in_flight() == 1);
    const auto victim = write_immediate(l, 6, pattern(512, 9));
    CHECK(l.responses().empty());
    CHECK(l.target_side->posted_receives() == LoopbackTarget::kQueueDepth - 1);  // the CAW's IU was reposted, the write's is held
    const auto tmf = l.tmf(0x01, victim, kFileLun);
    auto answered = l.responses();
    REQUIRE(answered.size() == 1);  // the TMF: the victim had nothing posted
    CHECK(answered[0].header.tag == tag_of(tmf));
    CHECK(answered[0].credits() == 2);
    CHECK(l.target_side->posted_receives() == LoopbackTarget::kQueueDepth);  // before the CAW is even done
    t.medium_queue.hold = false;
    auto rest = l.responses();
    REQUIRE(rest.size() == 1);
    CHECK(rest[0].header.tag == tag_of(caw_tag));
    CHECK(spy.buffers.size() == 1);  // the CAW's write only: the aborted one never reached the medium
    every_credit_answers(l);
}

TEST_CASE("a write in place that waited for a free request context is written in place too",
          "[loopback][medium][immediate]") {
    LoopbackTarget t;
    t.add_io_lun(kFileLun, 1 << 20);
    auto& l = t.link();
    // Responses whose send completion never comes keep their contexts
    // busy: 2 per credit, so the third round of writes waits for contexts.
    l.target_side->hold_completions(true);
    std::vector<std::vector<std::uint8_t>> data;
    std::size_t answered = 0;
    for (std::uint32_t i = 0; i < 3 * LoopbackTarget::kQueueDepth; ++i) {
        data.push_back(pattern(512, static_cast<std::uint8_t>(30 + i)));
        write_immediate(l, 100 + i, data.back());
        if (i % LoopbackTarget::kQueueDepth == LoopbackTarget::kQueueDepth - 1) answered += l.responses().size();
    }
    CHECK(answered == 2 * LoopbackTarget::kQueueDepth);  // every context is busy
    l.target_side->hold_completions(false);                 // contexts free up: the waiting IUs run from release()
    answered += l.responses().size();
    CHECK(answered == 3 * LoopbackTarget::kQueueDepth);
    for (std::uint32_t i = 0; i < data.size(); ++i)
        CHECK(file_bytes(t.dir.file("lun1"), (100 + i) * 512, 512) == data[i]);
    // Each round's eight writes are in flight together: the eighth finds
    // seven receives held and is copied (one receive always stays posted).
    CHECK(t.stats.immediate_in_place.load() == 3 * (LoopbackTarget::kQueueDepth - 1));
    every_credit_answers(l);
}

TEST_CASE("a target logout waits for a write in place, answers it, then logs out", "[loopback][medium][immediate]") {
    HeldMedium m;
    auto& [t, l, spy] = m;
    const auto writer = write_immediate(l, 3, pattern(512, 12));
    l.pump();
    l.control->request_logout(static_cast<std::uint32_t>(wire::TargetLogoutReason::no_reason));
    CHECK(l.responses().empty());
    CHECK(l.target_logouts.empty());
    t.medium_queue.hold = false;
    auto r = l.responses();
    REQUIRE(r.size() == 1);
    CHECK(r[0].header.tag == tag_of(writer));
    CHECK(r[0].status() == kGood);
    CHECK(l.target_logouts.size() == 1);
}

TEST_CASE("one receive stays posted however many writes in place are in flight; the rest are copied",
          "[loopback][medium][immediate]") {
    HeldMedium m;
    auto& [t, l, spy] = m;
    std::vector<std::vector<std::uint8_t>> data;
    for (std::uint32_t i = 0; i < LoopbackTarget::kQueueDepth; ++i) {  // every credit
        data.push_back(pattern(512, static_cast<std::uint8_t>(70 + i)));
        write_immediate(l, 40 + i, data.back());
    }
    l.pump();
    CHECK(l.channel->medium_in_flight() == LoopbackTarget::kQueueDepth);
    CHECK(t.stats.immediate_in_place.load() == LoopbackTarget::kQueueDepth - 1);  // the last one was copied
    CHECK(l.target_side->posted_receives() == 1);  // an SRP_I_LOGOUT (no credit) still finds a receive
    REQUIRE(spy.buffers.size() == LoopbackTarget::kQueueDepth);
    for (std::uint32_t i = 0; i < data.size(); ++i)
        CHECK(std::vector<std::uint8_t>(spy.buffers[i].begin(), spy.buffers[i].end()) == data[i]);
    t.medium_queue.hold = false;
    const auto all = l.responses();
    REQUIRE(all.size() == LoopbackTarget::kQueueDepth);
    for (const auto& r : all) CHECK(r.status() == kGood);
    every_credit_answers(l);
}

TEST_CASE("ib_srp-sized IUs: multi-block writes in place at offsets below and above a page", "[loopback][medium][immediate]") {
    for (std::uint32_t offset : {68u, 4100u}) {
        INFO("imm_data_offset " << offset);
        LoopbackTarget t(true, offset, 8260);  // ib_srp's it_iu_len
        t.add_io_lun(kFileLun, 1 << 20);
        auto& l = t.link();
        const std::uint32_t room = 8260 - offset;
        for (std::uint32_t bytes : {512u, 4096u, room / 512 * 512}) {
            INFO("bytes " << bytes);
            const auto data = pattern(bytes, static_cast<std::uint8_t>(bytes >> 9));
            write_immediate(l, 64, data, kFileLun, offset);
            auto r = l.response();
            REQUIRE(r);
            CHECK(r->status() == kGood);
            CHECK(file_bytes(t.dir.file("lun1"), 64 * 512, bytes) == data);
        }
        CHECK(t.stats.immediate_in_place.load() == 3);
        every_credit_answers(l);
    }
}
