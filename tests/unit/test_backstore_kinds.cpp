// Backstore kinds (memory vs io) chosen from the file system, the io_uring
// medium queue, and the SIGBUS guard.
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <filesystem>

#include "srp_target/backstore/aligned_buffer.h"
#include "srp_target/backstore/backstore.h"
#include "srp_target/backstore/sigbus_guard.h"
#include "srp_target/backstore/uring_queue.h"
#include "tests/unit/temp_dir.h"

using namespace srp::target;
using srp::test::TempDir;

namespace {
struct Collect final : MediumSink {
    ~Collect() = default;
    std::vector<std::pair<std::uint64_t, MediumResult>> done;
    void on_medium_complete(std::uint64_t tag, MediumResult result) override { done.emplace_back(tag, result); }
};
// Waits (poll on the ring's descriptor, as the poller does) until n completions arrived.
void wait_for(UringQueue& q, Collect& c, std::size_t n) {
    for (int i = 0; i < 500 && c.done.size() < n; ++i) {
        q.flush_submissions();
        pollfd p{q.wait_fd(), POLLIN, 0};
        ::poll(&p, 1, 10);
        q.reap();
    }
    REQUIRE(c.done.size() == n);
}
}  // namespace

TEST_CASE("a regular file on a disk filesystem is an io backstore (O_DIRECT by default)", "[backstore][kinds]") {
    TempDir dir;
    Backstore b(BackstoreConfig{dir.file("lun0"), 1 << 20, false});
    CHECK_FALSE(b.is_memory());
    CHECK(b.bytes().empty());
    CHECK(b.direct_io());
    CHECK(b.describe() == "io_uring (file, O_DIRECT)");
    Backstore buffered(BackstoreConfig{dir.file("lun1"), 1 << 20, false, BackstoreAccess::buffered});
    CHECK_FALSE(buffered.direct_io());
    CHECK(buffered.describe() == "io_uring (file, buffered)");
}

TEST_CASE("a file on tmpfs and anonymous memory are memory backstores", "[backstore][kinds]") {
    if (!std::filesystem::is_directory("/dev/shm")) return;
    const std::string path = "/dev/shm/srp-test-kind-" + std::to_string(::getpid());
    {
        Backstore b(BackstoreConfig{path, 1 << 20, false});
        CHECK(b.is_memory());
        CHECK(b.bytes().size() == (1u << 20));
        CHECK(b.describe() == "memory (tmpfs, mapped)");
    }
    std::filesystem::remove(path);
    CHECK(Backstore(BackstoreConfig{"", 1 << 20, false}).describe() == "memory (anonymous)");
}

TEST_CASE("io backstore: synchronous medium operations", "[backstore][kinds]") {
    TempDir dir;
    Backstore b(BackstoreConfig{dir.file("lun0"), 1 << 20, false});
    AlignedBuffer out(8192), in(8192);
    std::memset(out.data(), 0x5a, 8192);
    CHECK(b.execute(MediumOp{&b, MediumOpKind::write, 4096, 8192, true, out.bytes()}) == MediumResult(8192));
    CHECK(b.execute(MediumOp{&b, MediumOpKind::read, 4096, 8192, false, in.bytes()}) == MediumResult(8192));
    CHECK(std::memcmp(in.data(), out.data(), 8192) == 0);
    CHECK(b.execute(MediumOp{&b, MediumOpKind::discard, 4096, 4096, false, {}}).has_value());
    CHECK(b.execute(MediumOp{&b, MediumOpKind::read, 4096, 4096, false, in.bytes().first(4096)}).has_value());
    CHECK(in.bytes()[0] == 0);
    // Past the end of the file: a short read (the engine's shrink signal).
    CHECK(b.execute(MediumOp{&b, MediumOpKind::read, (1 << 20) - 4096, 8192, false, in.bytes()}) == MediumResult(4096));
}

TEST_CASE("io_uring queue: read, write with FUA, fsync, fallocate, completions through the ring descriptor",
          "[backstore][uring]") {
    TempDir dir;
    Backstore b(BackstoreConfig{dir.file("lun0"), 1 << 20, false});
    UringQueue q;
    Collect c;
    AlignedBuffer out(65536), in(65536);
    for (std::size_t i = 0; i < out.size(); ++i) out.data()[i] = static_cast<std::uint8_t>(i * 13);
    REQUIRE(q.submit(MediumOp{&b, MediumOpKind::write, 65536, 65536, true, out.bytes()}, c, 7));
    CHECK(q.in_flight() == 1);
    wait_for(q, c, 1);
    CHECK(c.done[0].first == 7);
    CHECK(c.done[0].second == MediumResult(65536));
    REQUIRE(q.submit(MediumOp{&b, MediumOpKind::read, 65536, 65536, false, in.bytes()}, c, 8));
    REQUIRE(q.submit(MediumOp{&b, MediumOpKind::flush, 0, 0, false, {}}, c, 9));
    REQUIRE(q.submit(MediumOp{&b, MediumOpKind::write_zeroes, 0, 4096, false, {}}, c, 10));
    wait_for(q, c, 4);
    CHECK(q.in_flight() == 0);
    for (std::size_t i = 1; i < 4; ++i) CHECK(c.done[i].second.has_value());
    CHECK(std::memcmp(in.data(), out.data(), 65536) == 0);
}

TEST_CASE("io_uring queue: the wait descriptor polls readable exactly while completions wait", "[backstore][uring]") {
    // The poller sleeps in poll() on it and reads nothing from it.
    TempDir dir;
    Backstore b(BackstoreConfig{dir.file("lun0"), 1 << 20, false});
    UringQueue q;
    Collect c;
    AlignedBuffer in(4096);
    pollfd p{q.wait_fd(), POLLIN, 0};
    CHECK(::poll(&p, 1, 0) == 0);  // nothing queued: a sleeper would stay asleep
    REQUIRE(q.submit(MediumOp{&b, MediumOpKind::read, 0, 4096, false, in.bytes()}, c, 1));
    q.flush_submissions();
    p.revents = 0;
    CHECK(::poll(&p, 1, 5000) == 1);  // the completion wakes it, long before the timeout
    CHECK((p.revents & POLLIN) != 0);
    CHECK(c.done.empty());
    CHECK(q.reap() == 1);
    p.revents = 0;
    CHECK(::poll(&p, 1, 0) == 0);  // reaped: not readable any more
    CHECK(c.done.size() == 1);
}

TEST_CASE("io_uring queue: an error comes back as the errno", "[backstore][uring]") {
    TempDir dir;
    {
        Backstore create(BackstoreConfig{dir.file("lun0"), 1 << 20, false});
    }
    Backstore ro(BackstoreConfig{dir.file("lun0"), 0, true});
    UringQueue q;
    Collect c;
    AlignedBuffer out(4096);
    REQUIRE(q.submit(MediumOp{&ro, MediumOpKind::write, 0, 4096, false, out.bytes()}, c, 1));
    wait_for(q, c, 1);
    REQUIRE_FALSE(c.done[0].second.has_value());
    CHECK(c.done[0].second.error().value() == EBADF);
}

namespace {
struct sigaction g_guard_action{};
// Stands for an interposer such as ThreadSanitizer's: it runs with every
// signal blocked and passes the fault on to the guard's handler.
void chaining_handler(int signal, siginfo_t* info, void* context) { g_guard_action.sa_sigaction(signal, info, context); }
}  // namespace

TEST_CASE("SIGBUS guard: a handler that chains to the guard's with all signals blocked leaves the mask as it was",
          "[backstore][sigbus]") {
    TempDir dir;
    Backstore b(BackstoreConfig{dir.file("lun0"), 1 << 20, false, BackstoreAccess::mapped});
    REQUIRE(::truncate(dir.file("lun0").c_str(), 4096) == 0);
    std::vector<std::uint8_t> out(8192);
    REQUIRE(guarded_copy(out.data(), b.bytes().data(), 16));  // installs the guard's handler
    struct sigaction chain{};
    chain.sa_sigaction = chaining_handler;
    chain.sa_flags = SA_SIGINFO;
    sigfillset(&chain.sa_mask);
    REQUIRE(::sigaction(SIGBUS, &chain, &g_guard_action) == 0);
    REQUIRE((g_guard_action.sa_flags & SA_SIGINFO) != 0);
    const bool first = guarded_copy(out.data(), b.bytes().data() + 65536, 4096);
    sigset_t mask;
    REQUIRE(::pthread_sigmask(SIG_SETMASK, nullptr, &mask) == 0);
    const bool bus_blocked = sigismember(&mask, SIGBUS) == 1;
    const bool term_blocked = sigismember(&mask, SIGTERM) == 1;
    // A second fault is caught only if SIGBUS is unblocked again (else the kernel ends the process).
    const bool second = bus_blocked ? true : guarded_fill(b.bytes().data() + 65536, 0, 4096);
    REQUIRE(::sigaction(SIGBUS, &g_guard_action, nullptr) == 0);
    CHECK_FALSE(first);
    CHECK_FALSE(bus_blocked);
    CHECK_FALSE(term_blocked);
    CHECK_FALSE(second);
}

TEST_CASE("SIGBUS guard: a copy from a truncated mapping fails instead of killing the process", "[backstore][sigbus]") {
    TempDir dir;
    Backstore b(BackstoreConfig{dir.file("lun0"), 1 << 20, false, BackstoreAccess::mapped});
    REQUIRE(::truncate(dir.file("lun0").c_str(), 4096) == 0);
    std::vector<std::uint8_t> out(8192);
    CHECK(guarded_copy(out.data(), b.bytes().data(), 4096));
    CHECK_FALSE(guarded_copy(out.data(), b.bytes().data() + 65536, 8192));
    CHECK_FALSE(guarded_fill(b.bytes().data() + 65536, 0, 8192));
    // The guard does not save the signal mask (a system call per copy): the
    // jump out of the handler must leave SIGBUS unblocked, or the next fault
    // would kill the process.
    sigset_t mask;
    REQUIRE(::pthread_sigmask(SIG_SETMASK, nullptr, &mask) == 0);
    CHECK_FALSE(sigismember(&mask, SIGBUS));
    AlignedBuffer in(4096);
    const auto r = b.execute(MediumOp{&b, MediumOpKind::read, 65536, 4096, false, in.bytes()});
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().value() == EIO);
    CHECK(b.refresh_size() == 4096);
}

TEST_CASE("io_uring queue: registered (fixed) buffers are read and written in place", "[backstore][uring]") {
    TempDir dir;
    Backstore b(BackstoreConfig{dir.file("lun0"), 1 << 20, false});
    UringQueue q;
    Collect c;
    AlignedBuffer memory(2 * 65536);
    const auto slot = q.register_buffer(memory.bytes());
    REQUIRE(slot.has_value());
    CHECK(q.fixed_buffers() == 1);
    auto out = memory.bytes().first(65536), in = memory.bytes().subspan(65536);
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = static_cast<std::uint8_t>(i * 7);
    REQUIRE(q.submit(MediumOp{&b, MediumOpKind::write, 0, 65536, false, out}, c, 1));
    wait_for(q, c, 1);
    REQUIRE(q.submit(MediumOp{&b, MediumOpKind::read, 0, 65536, false, in}, c, 2));
    wait_for(q, c, 2);
    CHECK(c.done[1].second == MediumResult(65536));
    CHECK(std::memcmp(in.data(), out.data(), 65536) == 0);
    q.unregister_buffer(*slot);
    CHECK(q.fixed_buffers() == 0);
}

TEST_CASE("io_uring queue: a transfer finds the fixed buffer that holds it among many, and only that one",
          "[backstore][uring]") {
    UringQueue q;
    std::vector<AlignedBuffer> memory;
    for (int i = 0; i < 9; ++i) memory.emplace_back(std::size_t{4096} * static_cast<std::size_t>(1 + i % 3));
    std::vector<unsigned> slots;
    for (auto& m : memory) {
        const auto slot = q.register_buffer(m.bytes());
        REQUIRE(slot.has_value());
        slots.push_back(*slot);
    }
    AlignedBuffer elsewhere(4096);
    const auto check_all = [&](std::size_t gone) {
        for (std::size_t i = 0; i < memory.size(); ++i) {
            INFO("buffer " << i);
            const auto all = memory[i].bytes();
            const auto expected = i == gone ? std::nullopt : std::optional<unsigned>(slots[i]);
            CHECK(q.fixed_slot(all) == expected);
            CHECK(q.fixed_slot(all.first(512)) == expected);
            CHECK(q.fixed_slot(all.last(512)) == expected);
            // One byte past its end is not inside it (nor inside a neighbour as a whole).
            CHECK_FALSE(q.fixed_slot(std::span<const std::uint8_t>(all.data() + all.size() - 512, 513)).has_value());
        }
        CHECK_FALSE(q.fixed_slot(elsewhere.bytes()).has_value());
    };
    check_all(memory.size());
    q.unregister_buffer(slots[4]);
    check_all(4);
    CHECK(q.fixed_buffers() == memory.size() - 1);
}
