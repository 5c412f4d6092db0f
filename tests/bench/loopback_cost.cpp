// The target's own cost per I/O without rxe (issue 13, part 3): our target
// (real Poller threads, the daemon's ChannelAcceptor, a memory LUN mapped and
// registered for zero copy) served over the in-memory loopback fabric to the
// initiator library in the same process, closed loop.
//
// Printed, one JSON object per run: IOPS, and the CPU time of the target's
// poller threads per I/O (/proc/self/task/<tid>/schedstat). What that time
// includes: the SRP/SCSI data path, the poller's idle spins and sleeps
// (poll(2)), and the loopback fabric's work done on the poller thread (its
// mutex, copying RDMA data and IUs between the two ends: the stand-in for
// what a NIC does). It excludes the initiator's threads entirely.
// Instruction counts come from running this under callgrind with
// --toggle-collect on the channel's poll (scripts/bench/loopback-cost.sh):
// the program marks the measured I/Os with callgrind dumps ("warmup",
// "measured") and is otherwise unaware of valgrind.
//
// usage: loopback_cost [--op read|write] [--bytes N] [--channels C] [--qd Q]
//                      [--pollers P] [--threads T] [--seconds S | --ios N]
#include <time.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#else
#define CALLGRIND_DUMP_STATS_AT(name) ((void)0)
#endif

#include <spdlog/spdlog.h>

#include "common/scsi/cdb.h"
#include "srp_initiator/session.h"
#include "tests/bench/bench_target.h"

namespace {

using namespace srp;
using Clock = std::chrono::steady_clock;

struct Options {
    bool write = false;
    std::uint32_t bytes = 4096;
    std::uint32_t channels = 1;
    std::uint32_t queue_depth = 8;  // per channel
    std::uint32_t pollers = 1;
    std::uint32_t threads = 1;      // initiator threads; channel i belongs to thread i % threads
    double seconds = 1.0;
    std::int64_t ios = 0;           // > 0: a fixed number of I/Os instead of seconds
    std::int64_t warmup_ios = 2000;
};

constexpr std::uint64_t kLunBytes = 64u << 20;
constexpr std::uint32_t kBlockBytes = 512;

struct Slot {
    std::span<std::uint8_t> buffer;
    bool busy = false;
};

struct Phase {
    std::atomic<std::int64_t> budget{0};  // I/Os still to start (count mode)
    Clock::time_point deadline = Clock::time_point::max();
    std::atomic<std::int64_t> completed{0};
    std::atomic<std::int64_t> failed{0};
    std::atomic<std::uint64_t> initiator_cpu_ns{0};
};

std::uint64_t thread_cpu_ns() {
    timespec ts{};
    ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<std::uint64_t>(ts.tv_nsec);
}

// Keeps every slot of its channels busy until the phase's budget or deadline
// runs out, then waits for the commands in flight.
void drive(const Options& o, std::vector<initiator::ChannelHandle>& handles, std::vector<std::vector<Slot>>& slots,
           Phase& phase, std::uint64_t seed) {
    const std::uint64_t cpu0 = thread_cpu_ns();
    const std::uint64_t blocks_per_io = o.bytes / kBlockBytes;
    const std::uint64_t positions = kLunBytes / o.bytes;
    std::uint64_t x = seed | 1;
    bool starting = true;
    std::size_t waiting_on = 0;
    for (;;) {
        std::size_t busy = 0;
        for (std::size_t c = 0; c < handles.size(); ++c) {
            handles[c].begin_batch();
            for (auto& slot : slots[c]) {
                if (slot.busy) {
                    ++busy;
                    continue;
                }
                if (!starting) continue;
                if (o.ios > 0 ? phase.budget.fetch_sub(1, std::memory_order_relaxed) <= 0
                              : Clock::now() >= phase.deadline) {
                    starting = false;
                    continue;
                }
                x ^= x << 13, x ^= x >> 7, x ^= x << 17;  // xorshift: random aligned offsets
                const std::uint64_t lba = (x % positions) * blocks_per_io;
                const auto cdb = scsi::make_rw16(o.write ? scsi::op::kWrite16 : scsi::op::kRead16, lba,
                                                 static_cast<std::uint32_t>(blocks_per_io));
                auto tag = handles[c].submit(0, cdb, o.write ? initiator::Direction::to_target
                                                             : initiator::Direction::from_target,
                                             slot.buffer, [&phase, &slot](const initiator::CommandResult& r) {
                                                 slot.busy = false;
                                                 phase.completed.fetch_add(1, std::memory_order_relaxed);
                                                 if (!r.good()) phase.failed.fetch_add(1, std::memory_order_relaxed);
                                             });
                if (!tag) {  // no credit yet: that budget unit is given back
                    if (o.ios > 0) phase.budget.fetch_add(1, std::memory_order_relaxed);
                    break;
                }
                slot.busy = true;
                ++busy;
            }
            handles[c].end_batch();
        }
        if (!starting && busy == 0) break;
        std::size_t progress = 0;
        for (auto& h : handles) progress += h.poll();
        if (progress == 0) {
            waiting_on = (waiting_on + 1) % handles.size();
            handles[waiting_on].wait(std::chrono::milliseconds(1));
        }
    }
    phase.initiator_cpu_ns.fetch_add(thread_cpu_ns() - cpu0, std::memory_order_relaxed);
}

Options parse(int argc, char** argv) {
    Options o;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) throw std::invalid_argument(a + " needs a value");
            return argv[++i];
        };
        if (a == "--op") {
            const auto v = value();
            if (v != "read" && v != "write") throw std::invalid_argument("--op read|write");
            o.write = v == "write";
        } else if (a == "--bytes") o.bytes = static_cast<std::uint32_t>(std::stoul(value()));
        else if (a == "--channels") o.channels = static_cast<std::uint32_t>(std::stoul(value()));
        else if (a == "--qd") o.queue_depth = static_cast<std::uint32_t>(std::stoul(value()));
        else if (a == "--pollers") o.pollers = static_cast<std::uint32_t>(std::stoul(value()));
        else if (a == "--threads") o.threads = static_cast<std::uint32_t>(std::stoul(value()));
        else if (a == "--seconds") o.seconds = std::stod(value());
        else if (a == "--ios") o.ios = std::stoll(value());
        else if (a == "--warmup-ios") o.warmup_ios = std::stoll(value());
        else throw std::invalid_argument("unknown option " + a);
    }
    if (o.bytes == 0 || o.bytes % kBlockBytes || o.bytes > (1u << 20)) throw std::invalid_argument("--bytes");
    if (o.channels == 0 || o.channels > 64 || o.queue_depth == 0 || o.queue_depth > 1024 || o.pollers == 0 ||
        o.threads == 0)
        throw std::invalid_argument("--channels 1..64, --qd 1..1024, --pollers and --threads >= 1");
    o.threads = std::min(o.threads, o.channels);
    return o;
}

// One phase: the initiator threads drive their channels; returns wall seconds.
double run_phase(const Options& o, initiator::Session& session, std::vector<std::vector<Slot>>& slots, Phase& phase) {
    std::vector<std::thread> threads;
    const auto t0 = Clock::now();
    for (std::uint32_t t = 0; t < o.threads; ++t)
        threads.emplace_back([&, t] {
            std::vector<initiator::ChannelHandle> handles;
            std::vector<std::vector<Slot>> mine;
            std::vector<std::size_t> index;
            for (std::uint32_t c = t; c < o.channels; c += o.threads) {
                handles.push_back(session.channel_handle(c));
                mine.push_back(std::move(slots[c]));
                index.push_back(c);
            }
            drive(o, handles, mine, phase, 0x9E3779B97F4A7C15ull * (t + 1));
            for (std::size_t i = 0; i < index.size(); ++i) slots[index[i]] = std::move(mine[i]);
        });
    for (auto& th : threads) th.join();
    return std::chrono::duration<double>(Clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) try {
    const Options o = parse(argc, argv);
    spdlog::set_level(spdlog::level::warn);  // logins and logouts of every run are not news
    bench::BenchTarget target(kLunBytes, o.pollers, std::max<std::uint32_t>(o.queue_depth, 32));
    initiator::SessionOptions so;
    so.id_ext = so.ioc_guid = bench::BenchTarget::kTargetGuid;
    so.channels = o.channels;
    so.queue_depth = o.queue_depth + 1;  // one spare for the occasional control IU
    so.pool_bytes = static_cast<std::size_t>(o.channels) * o.queue_depth * o.bytes + (1u << 20);
    auto login = initiator::Session::login(target.connector(), so);
    if (!login) throw std::runtime_error("login failed: " + login.error().message);
    auto& session = **login;
    const std::uint8_t tur[6] = {};
    (void)session.execute(0, tur, initiator::Direction::none, {});  // clears the power-on unit attention
    std::vector<std::vector<Slot>> slots(o.channels);
    for (auto& per_channel : slots)
        for (std::uint32_t i = 0; i < o.queue_depth; ++i) {
            auto b = session.allocate(o.bytes);
            if (!b) throw std::runtime_error("buffer pool exhausted");
            per_channel.push_back(Slot{*b});
        }
    for (std::size_t c = 0; c < o.channels; ++c) (void)session.channel_handle(c);  // recovery per channel from now on

    Phase warmup;
    warmup.budget = o.ios > 0 ? o.warmup_ios : std::int64_t{1} << 60;
    if (o.ios == 0) warmup.deadline = Clock::now() + std::chrono::milliseconds(200);
    Options warm = o;
    warm.ios = o.ios > 0 ? o.warmup_ios : 0;
    run_phase(warm, session, slots, warmup);
    CALLGRIND_DUMP_STATS_AT("warmup");

    Phase measured;
    measured.budget = o.ios > 0 ? o.ios : std::int64_t{1} << 60;
    if (o.ios == 0)
        measured.deadline = Clock::now() + std::chrono::microseconds(static_cast<std::int64_t>(o.seconds * 1e6));
    const std::uint64_t target_cpu0 = target.poller_cpu_ns();
    const double wall = run_phase(o, session, slots, measured);
    const std::uint64_t target_cpu = target.poller_cpu_ns() - target_cpu0;
    CALLGRIND_DUMP_STATS_AT("measured");
    session.logout();

    const auto n = measured.completed.load();
    if (n == 0 || measured.failed.load() != 0) {
        std::fprintf(stderr, "loopback_cost: %lld I/Os, %lld failed\n", static_cast<long long>(n),
                     static_cast<long long>(measured.failed.load()));
        return 1;
    }
    std::printf("{\"op\": \"%s\", \"bytes\": %u, \"channels\": %u, \"qd\": %u, \"pollers\": %u, \"threads\": %u, "
                "\"ios\": %lld, \"seconds\": %.4f, \"iops\": %.0f, \"target_cpu_ns_per_io\": %.1f, "
                "\"target_cpu_busy\": %.3f, \"initiator_cpu_ns_per_io\": %.1f}\n",
                o.write ? "write" : "read", o.bytes, o.channels, o.queue_depth, o.pollers, o.threads,
                static_cast<long long>(n), wall, static_cast<double>(n) / wall,
                static_cast<double>(target_cpu) / static_cast<double>(n),
                static_cast<double>(target_cpu) / 1e9 / wall / o.pollers,
                static_cast<double>(measured.initiator_cpu_ns.load()) / static_cast<double>(n));
    return 0;
} catch (const std::exception& e) {
    std::fprintf(stderr, "loopback_cost: %s\n", e.what());
    return 2;
}
