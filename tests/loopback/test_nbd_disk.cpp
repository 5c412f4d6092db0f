// The nbdkit plugin's logic (srp::nbd::Disk) against our target over the
// loopback fabric: byte-offset I/O split over lanes, flush, trim, zero,
// errno mapping, a retry on a fresh login after the channel was lost, and a
// target restarted (or not) within the reconnect timeout.
#include <catch2/catch.hpp>
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <mutex>
#include <thread>

#include "srp_initiator/nbd/disk.h"
#include "tests/loopback/loopback_server.h"

using namespace srp;
using srp::test::LoopbackServer;

namespace {

nbd::DiskOptions disk_options(std::uint32_t channels) {
    nbd::DiskOptions o;
    o.session.id_ext = o.session.ioc_guid = LoopbackServer::kTargetGuid;
    o.session.channels = channels;
    o.session.pool_bytes = 1u << 20;
    o.lane_buffer_bytes = 64u << 10;  // small, so requests are split
    return o;
}

std::vector<std::uint8_t> pattern(std::size_t bytes, std::uint8_t seed) {
    std::vector<std::uint8_t> v(bytes);
    for (std::size_t i = 0; i < bytes; ++i) v[i] = static_cast<std::uint8_t>(i * 7 + seed);
    return v;
}

initiator::CommandResult check_condition(std::uint8_t key, std::uint8_t asc, std::uint8_t ascq) {
    initiator::CommandResult r;
    r.status = scsi::Status::check_condition;
    r.sense.assign(18, 0);
    r.sense[0] = 0x70;
    r.sense[2] = key;
    r.sense[7] = 10;
    r.sense[12] = asc;
    r.sense[13] = ascq;
    return r;
}

}  // namespace

TEST_CASE("nbd disk: geometry, split reads and writes from two threads, flush, zero", "[loopback][nbd]") {
    LoopbackServer server(8u << 20);
    auto disk = nbd::Disk::open(server.connector(), disk_options(2));
    REQUIRE(disk);
    auto& d = **disk;
    CHECK(d.geometry().size_bytes == 8u << 20);
    CHECK(d.geometry().block_bytes == 512);
    CHECK(d.geometry().fua);  // our target sets DPOFUA
    auto worker = [&](int t, int& failures) {
        const std::uint64_t base = static_cast<std::uint64_t>(t) * (4u << 20);
        auto data = pattern(256u << 10, static_cast<std::uint8_t>(t + 1));  // four lane buffers
        if (d.pwrite(data, base + 4096, t == 1) != 0) ++failures;
        std::vector<std::uint8_t> back(data.size());
        if (d.pread(back, base + 4096) != 0 || back != data) ++failures;
    };
    int f0 = 0, f1 = 0;
    std::thread a(worker, 0, std::ref(f0)), b(worker, 1, std::ref(f1));
    a.join();
    b.join();
    CHECK(f0 == 0);
    CHECK(f1 == 0);
    CHECK(std::equal(server.medium().begin() + 4096, server.medium().begin() + 4096 + 1024,
                     pattern(1024, 1).begin()));
    CHECK(d.flush() == 0);
    CHECK(d.zero(8192, 4096, false, true) == 0);
    std::vector<std::uint8_t> zeros(8192);
    CHECK(d.pread(zeros, 4096) == 0);
    CHECK(std::all_of(zeros.begin(), zeros.end(), [](std::uint8_t v) { return v == 0; }));
    CHECK(server.medium()[4096 + 8192] == pattern(8193, 1)[8192]);  // the block after the range is untouched
}

TEST_CASE("nbd disk: unaligned or out-of-range requests are EINVAL", "[loopback][nbd]") {
    LoopbackServer server(1u << 20);
    auto disk = nbd::Disk::open(server.connector(), disk_options(1));
    REQUIRE(disk);
    std::vector<std::uint8_t> b(512);
    CHECK((*disk)->pread(b, 100) == EINVAL);
    CHECK((*disk)->pread(std::span(b).first(100), 0) == EINVAL);
    CHECK((*disk)->pwrite(b, 1u << 20, false) == EINVAL);
    CHECK((*disk)->zero(512, (1u << 20) - 256, false, false) == EINVAL);
}

TEST_CASE("nbd disk: trim follows the LU's provisioning (VPD B2h)", "[loopback][nbd]") {
    SECTION("a pinned (zero-copy) backstore is fully provisioned: trim is a no-op") {
        LoopbackServer server(1u << 20);
        auto disk = nbd::Disk::open(server.connector(), disk_options(1));
        REQUIRE(disk);
        CHECK_FALSE((*disk)->geometry().thin);
        auto data = pattern(4096, 9);
        REQUIRE((*disk)->pwrite(data, 0, false) == 0);
        CHECK((*disk)->trim(4096, 0) == 0);
        CHECK(std::equal(data.begin(), data.end(), server.medium().begin()));
    }
    SECTION("a thin backstore: UNMAP, and WRITE SAME with UNMAP for zero") {
        LoopbackServer server(1u << 20, false);
        auto disk = nbd::Disk::open(server.connector(), disk_options(1));
        REQUIRE(disk);
        auto& d = **disk;
        CHECK(d.geometry().thin);
        CHECK(d.geometry().write_same_unmap);
        auto data = pattern(8192, 9);
        REQUIRE(d.pwrite(data, 0, false) == 0);
        CHECK(d.trim(4096, 0) == 0);
        CHECK(d.zero(4096, 4096, true, true) == 0);
        std::vector<std::uint8_t> back(8192, 0xff);
        REQUIRE(d.pread(back, 0) == 0);  // LBPRZ: unmapped blocks read as zeros
        CHECK(std::all_of(back.begin(), back.end(), [](std::uint8_t v) { return v == 0; }));
    }
}

TEST_CASE("nbd disk: SCSI outcomes map to errno", "[nbd]") {
    initiator::CommandResult good;
    CHECK(nbd::to_errno(good) == 0);
    CHECK(nbd::to_errno(check_condition(0x3, 0x11, 0x00)) == EIO);     // MEDIUM ERROR: unrecovered read error
    CHECK(nbd::to_errno(check_condition(0x7, 0x27, 0x07)) == ENOSPC);  // SPACE ALLOCATION FAILED WRITE PROTECT
    CHECK(nbd::to_errno(check_condition(0x7, 0x27, 0x00)) == EROFS);   // WRITE PROTECTED
    CHECK(nbd::to_errno(check_condition(0x5, 0x21, 0x00)) == EINVAL);  // LBA OUT OF RANGE
    initiator::CommandResult conflict;
    conflict.status = scsi::Status::reservation_conflict;
    CHECK(nbd::to_errno(conflict) == EACCES);
    initiator::CommandResult lost;
    lost.transport_error = true;
    CHECK(nbd::to_errno(lost) == EIO);
    initiator::CommandResult timed_out;
    timed_out.timed_out = true;
    CHECK(nbd::to_errno(timed_out) == EIO);
}

TEST_CASE("nbd disk: a lost channel is logged in again and the request retried", "[loopback][nbd]") {
    LoopbackServer server(1u << 20);
    auto o = disk_options(1);
    auto disk = nbd::Disk::open(server.connector(), o);
    REQUIRE(disk);
    auto& d = **disk;
    auto data = pattern(4096, 3);
    REQUIRE(d.pwrite(data, 8192, false) == 0);
    // A second SINGLE login of the same nexus terminates our channel (SRP r16a 6.2.2).
    auto intruder = initiator::Session::login(server.connector(), o.session);
    REQUIRE(intruder);
    std::vector<std::uint8_t> back(4096);
    for (int i = 0; i < 50 && d.reconnects() == 0; ++i) {
        REQUIRE(d.pread(back, 8192) == 0);
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    CHECK(d.reconnects() >= 1);
    CHECK(back == data);
}

namespace {

// The target's process killed and started again: its channels go (the
// daemon's steps when its device goes away) and logins are refused until
// up() (a connection request to an address nobody listens on is rejected).
struct RestartedTarget {
    LoopbackServer server{1u << 20};
    std::shared_ptr<std::atomic<bool>> down = std::make_shared<std::atomic<bool>>(false);
    std::vector<std::string> log;
    std::mutex log_mutex;

    nbd::DiskOptions options(std::chrono::milliseconds reconnect_timeout) {
        auto o = disk_options(1);
        o.reconnect_timeout = reconnect_timeout;
        o.log = [this](const std::string& line) {
            std::lock_guard lock(log_mutex);
            log.push_back(line);
        };
        return o;
    }
    initiator::Connector connector() {
        return [inner = server.connector(), down = down](const initiator::ConnectRequest& request)
                   -> std::expected<initiator::ConnectedChannel, initiator::LoginFailure> {
            if (down->load())
                return std::unexpected(initiator::LoginFailure{initiator::LoginFailure::Kind::unreachable, "test: target down", {}});
            return inner(request);
        };
    }
    void kill() {
        down->store(true);
        server.disconnect_device("loopback");
        for (int i = 0; i < 400 && server.channels() != 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
        REQUIRE(server.channels() == 0);
    }
    bool logged(const std::string& text) {
        std::lock_guard lock(log_mutex);
        for (const auto& line : log)
            if (line.find(text) != std::string::npos) return true;
        return false;
    }
};

}  // namespace

TEST_CASE("nbd disk: a target away for longer than three logins take is waited for, within the reconnect timeout",
          "[loopback][nbd]") {
    RestartedTarget target;
    auto disk = nbd::Disk::open(target.connector(), target.options(std::chrono::milliseconds(5000)));
    REQUIRE(disk);
    auto& d = **disk;
    auto before = pattern(8192, 5);
    REQUIRE(d.pwrite(before, 0, false) == 0);
    target.kill();
    std::thread restart([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(600));
        target.down->store(false);
    });
    // The write in flight when the target went away: it waits for the
    // restart instead of failing with the first refused login.
    const auto start = std::chrono::steady_clock::now();
    auto during = pattern(8192, 9);
    const int written = d.pwrite(during, 8192, false);
    const auto took = std::chrono::steady_clock::now() - start;
    restart.join();
    CHECK(written == 0);
    CHECK(took >= std::chrono::milliseconds(500));
    CHECK(took < std::chrono::milliseconds(5000));
    CHECK(d.reconnects() == 1);
    CHECK(target.logged("channel 0 lost; logging in again"));
    CHECK(target.logged("channel 0 logged in again after"));
    std::vector<std::uint8_t> back(16384);
    REQUIRE(d.pread(back, 0) == 0);
    CHECK(std::equal(before.begin(), before.end(), back.begin()));
    CHECK(std::equal(during.begin(), during.end(), back.begin() + 8192));
}

TEST_CASE("nbd disk: a target that stays away is EIO after the reconnect timeout, not a hang; then it serves again",
          "[loopback][nbd]") {
    RestartedTarget target;
    auto disk = nbd::Disk::open(target.connector(), target.options(std::chrono::milliseconds(800)));
    REQUIRE(disk);
    auto& d = **disk;
    auto data = pattern(4096, 11);
    REQUIRE(d.pwrite(data, 4096, false) == 0);
    target.kill();
    std::vector<std::uint8_t> back(4096);
    const auto start = std::chrono::steady_clock::now();
    CHECK(d.pread(back, 4096) == EIO);
    const auto took = std::chrono::steady_clock::now() - start;
    CHECK(took >= std::chrono::milliseconds(750));  // logins until the timeout, not three at once
    CHECK(took < std::chrono::milliseconds(2000));
    CHECK(target.logged("not logged in again within"));
    // Every request meets the same bound while the target is away.
    CHECK(d.pread(back, 4096) == EIO);
    target.down->store(false);
    std::fill(back.begin(), back.end(), 0);
    CHECK(d.pread(back, 4096) == 0);
    CHECK(back == data);
}
