// bench: a load generator (read, write, randread, randwrite, randrw) with a
// live progress line on a terminal and latency percentiles. With --threads N
// each thread drives its own channel through a ChannelHandle (no lock on
// the I/O path); otherwise one thread drives the whole Session.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <iomanip>
#include <random>
#include <sstream>
#include <thread>

#include "common/scsi/cdb.h"
#include "srp_initiator/cli/cli.h"
#include "srp_initiator/latency_histogram.h"

namespace srp::initiator::cli {
namespace {

using Clock = std::chrono::steady_clock;

// One worker's counts. ops and bytes are read by the progress line on the
// main thread while the worker runs; the rest only after it joined.
struct Totals {
    std::atomic<std::uint64_t> ops{0}, bytes{0};
    std::uint64_t reads = 0, writes = 0, errors = 0;
    LatencyHistogram latency;  // bounded memory however long the run
    std::string first_error;
    bool lost_connection = false;
};

double percentile_us(const LatencyHistogram& h, double p) {
    return std::chrono::duration<double, std::micro>(h.percentile(p)).count();
}

std::string rate(double bytes_per_s) {
    std::ostringstream o;
    o << std::fixed << std::setprecision(1) << bytes_per_s / (1 << 20) << " MiB/s";
    return o.str();
}

struct Plan {
    const Options* options;
    std::uint32_t block_size;
    std::uint32_t lun_block_size;
    std::uint64_t slots;  // block_size units in the range
    Clock::time_point stop_at;
    std::uint64_t ops_per_worker;  // 0: by runtime
};

// Keeps queue_depth commands in flight on driver (a Session or a ChannelHandle) until the plan ends.
template <typename Driver>
void run_worker(Driver& driver, const Plan& plan, std::span<const std::span<std::uint8_t>> buffers, std::uint64_t seed,
                std::uint64_t first_slot, Totals& totals, const std::function<void()>& tick) {
    const Options& options = *plan.options;
    const auto depth = static_cast<std::uint32_t>(buffers.size());
    std::vector<std::uint32_t> free_buffers(depth);
    for (std::uint32_t i = 0; i < depth; ++i) free_buffers[i] = i;
    const bool random = options.mode.rfind("rand", 0) == 0;
    std::mt19937_64 rng(seed);
    std::uint64_t next_sequential = first_slot, submitted = 0;
    const std::uint32_t bs = plan.block_size;
    bool stop = false;
    while (!stop || free_buffers.size() < depth) {
        if (!stop && (plan.ops_per_worker ? submitted >= plan.ops_per_worker : Clock::now() >= plan.stop_at)) stop = true;
        if (!driver.connected()) {
            // A failed channel ended its own commands, but those on channels
            // still up run on, and their callbacks write into this frame
            // (free_buffers, totals): submit no more and wait for them all.
            totals.lost_connection = true;
            stop = true;
        }
        driver.begin_batch();
        while (!stop && !free_buffers.empty() && driver.can_submit() &&
               (!plan.ops_per_worker || submitted < plan.ops_per_worker)) {
            const std::uint32_t index = free_buffers.back();
            const std::uint64_t slot = random ? rng() % plan.slots : next_sequential++ % plan.slots;
            const bool read = options.mode == "read" || options.mode == "randread" ||
                              (options.mode == "randrw" && static_cast<int>(rng() % 100) < options.read_percent);
            const auto cdb = scsi::make_rw16(read ? scsi::op::kRead16 : scsi::op::kWrite16,
                                             (options.offset + slot * bs) / plan.lun_block_size, bs / plan.lun_block_size);
            auto tag = driver.submit(options.lun, cdb, read ? Direction::from_target : Direction::to_target,
                                     buffers[index], [&, index, read](const CommandResult& r) {
                                         free_buffers.push_back(index);
                                         if (!r.good()) {
                                             if (totals.errors++ == 0) totals.first_error = r.describe();
                                             return;
                                         }
                                         totals.ops.fetch_add(1, std::memory_order_relaxed);
                                         totals.bytes.fetch_add(bs, std::memory_order_relaxed);
                                         ++(read ? totals.reads : totals.writes);
                                         totals.latency.add(r.latency);
                                     });
            if (!tag) break;
            free_buffers.pop_back();
            ++submitted;
        }
        driver.end_batch();
        driver.wait(std::chrono::milliseconds(1));
        if (tick) tick();
    }
}

}  // namespace

int run_bench(Session& session, const Options& options, std::ostream& out, std::ostream& err) {
    int rc = kExitOk;
    auto capacity = read_capacity(session, options.lun, err, rc);
    if (!capacity) return rc;
    const std::uint32_t bs = options.block_size;
    if (bs % capacity->block_size != 0) {
        err << "srp_initiator: --bs " << bs << " is not a multiple of the block size " << capacity->block_size << "\n";
        return kExitUsage;
    }
    const std::uint64_t lun_bytes = capacity->blocks * capacity->block_size;
    const std::uint64_t span_bytes = std::min<std::uint64_t>(options.length.value_or(lun_bytes), lun_bytes - options.offset);
    const std::uint64_t slots = span_bytes / bs;
    if (slots == 0) {
        err << "srp_initiator: the range is smaller than one block of " << bs << " bytes\n";
        return kExitUsage;
    }
    const std::uint32_t threads = std::min<std::uint32_t>(options.threads, static_cast<std::uint32_t>(session.channel_count()));
    std::vector<std::vector<std::span<std::uint8_t>>> buffers(threads);
    auto release_all = [&] {
        for (auto& per_thread : buffers)
            for (auto b : per_thread) session.release(b);
    };
    for (std::uint32_t t = 0; t < threads; ++t)
        for (std::uint32_t i = 0; i < options.queue_depth; ++i) {
            auto b = session.allocate(bs);
            if (!b) {
                release_all();
                err << "srp_initiator: --threads x --qd x --bs does not fit the registered buffer pool\n";
                return kExitUsage;
            }
            for (std::size_t j = 0; j < b->size(); ++j) (*b)[j] = static_cast<std::uint8_t>(j * 31 + i);
            buffers[t].push_back(*b);
        }

    const auto start = Clock::now();
    Plan plan{&options, bs, capacity->block_size, slots,
              start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(options.runtime_s)),
              options.ops == 0 ? 0 : (options.ops + threads - 1) / threads};
    std::vector<Totals> totals(threads);
    const bool tty = options.progress && ::isatty(STDERR_FILENO);
    auto next_progress = start + std::chrono::seconds(1);
    std::uint64_t last_ops = 0, last_bytes = 0;
    auto progress = [&] {
        if (!tty || Clock::now() < next_progress) return;
        std::uint64_t ops = 0, bytes = 0, errors = 0;
        for (auto& t : totals) {
            ops += t.ops.load(std::memory_order_relaxed);
            bytes += t.bytes.load(std::memory_order_relaxed);
        }
        if (threads == 1) errors = totals[0].errors;
        const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
        std::fprintf(stderr, "\r%s %6.1fs  %10.0f IOPS  %s  errors %llu   ", options.mode.c_str(), seconds,
                     static_cast<double>(ops - last_ops), rate(static_cast<double>(bytes - last_bytes)).c_str(),
                     static_cast<unsigned long long>(errors));
        last_ops = ops;
        last_bytes = bytes;
        next_progress += std::chrono::seconds(1);
    };
    if (threads <= 1) {
        run_worker(session, plan, buffers[0], options.seed, 0, totals[0], progress);
    } else {
        std::vector<ChannelHandle> handles;
        for (std::uint32_t t = 0; t < threads; ++t) handles.push_back(session.channel_handle(t));
        std::vector<std::thread> workers;
        std::atomic<std::uint32_t> finished{0};
        for (std::uint32_t t = 0; t < threads; ++t)
            workers.emplace_back([&, t] {
                run_worker(handles[t], plan, buffers[t], options.seed + t, t * (slots / threads), totals[t], {});
                finished.fetch_add(1, std::memory_order_release);
            });
        // The workers end by themselves (runtime or op count); the main thread only reports.
        while (finished.load(std::memory_order_acquire) < threads) {
            progress();
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        for (auto& w : workers) w.join();
    }
    if (tty) std::fprintf(stderr, "\n");
    release_all();

    LatencyHistogram latency;
    std::uint64_t ops = 0, bytes = 0, reads = 0, writes = 0, errors = 0;
    for (auto& t : totals) {
        ops += t.ops;
        bytes += t.bytes;
        reads += t.reads;
        writes += t.writes;
        errors += t.errors;
        latency.merge(t.latency);
        if (!t.first_error.empty() && errors == t.errors) err << "srp_initiator: " << t.first_error << "\n";
        if (t.lost_connection && rc == kExitOk) {
            err << "srp_initiator: connection lost during the benchmark\n";
            rc = kExitTransport;
        }
    }
    const double seconds = std::max(1e-9, std::chrono::duration<double>(Clock::now() - start).count());
    const double iops = static_cast<double>(ops) / seconds;
    const double bandwidth = static_cast<double>(bytes) / seconds;
    const double p50 = percentile_us(latency, 50), p99 = percentile_us(latency, 99), p999 = percentile_us(latency, 99.9);
    if (options.json) {
        out << std::fixed << std::setprecision(1) << "{\"mode\":" << json_string(options.mode) << ",\"block_size\":" << bs
            << ",\"queue_depth\":" << options.queue_depth << ",\"threads\":" << threads
            << ",\"channels\":" << session.channel_count() << ",\"seconds\":" << seconds << ",\"ops\":" << ops
            << ",\"reads\":" << reads << ",\"writes\":" << writes << ",\"errors\":" << errors << ",\"iops\":" << iops
            << ",\"bandwidth_bytes_per_s\":" << bandwidth << ",\"latency_us\":{\"p50\":" << p50 << ",\"p99\":" << p99
            << ",\"p99_9\":" << p999 << "}}\n";
    } else {
        out << std::fixed << std::setprecision(1) << options.mode << " bs=" << bs << " qd=" << options.queue_depth
            << " threads=" << threads << " channels=" << session.channel_count() << ": " << ops << " ops in "
            << seconds << " s, " << iops << " IOPS, " << rate(bandwidth) << ", errors " << errors << "\n"
            << "latency us: p50 " << p50 << "  p99 " << p99 << "  p99.9 " << p999 << "\n";
    }
    if (rc == kExitOk && errors > 0) rc = kExitScsiError;
    return rc;
}

}  // namespace srp::initiator::cli
