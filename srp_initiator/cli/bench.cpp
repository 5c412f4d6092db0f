// bench: a load generator over one Session (read, write, randread, randwrite,
// randrw), with a live progress line on a terminal and latency percentiles.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iomanip>
#include <random>
#include <sstream>

#include "common/scsi/cdb.h"
#include "srp_initiator/cli/cli.h"
#include "srp_initiator/latency_histogram.h"

namespace srp::initiator::cli {
namespace {

using Clock = std::chrono::steady_clock;

struct Totals {
    std::uint64_t ops = 0, bytes = 0, reads = 0, writes = 0, errors = 0;
    LatencyHistogram latency;  // bounded memory however long the run
};

double percentile_us(const LatencyHistogram& h, double p) {
    return std::chrono::duration<double, std::micro>(h.percentile(p)).count();
}

std::string rate(double bytes_per_s) {
    std::ostringstream o;
    o << std::fixed << std::setprecision(1) << bytes_per_s / (1 << 20) << " MiB/s";
    return o.str();
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
    std::vector<std::span<std::uint8_t>> buffers;
    for (std::uint32_t i = 0; i < options.queue_depth; ++i) {
        auto b = session.allocate(bs);
        if (!b) {
            err << "srp_initiator: --qd x --bs does not fit the registered buffer pool\n";
            return kExitUsage;
        }
        for (std::size_t j = 0; j < b->size(); ++j) (*b)[j] = static_cast<std::uint8_t>(j * 31 + i);
        buffers.push_back(*b);
    }
    std::vector<std::uint32_t> free_buffers(options.queue_depth);
    for (std::uint32_t i = 0; i < options.queue_depth; ++i) free_buffers[i] = i;

    const bool random = options.mode.rfind("rand", 0) == 0;
    std::mt19937_64 rng(options.seed);
    std::uint64_t next_sequential = 0;
    Totals totals;
    const bool tty = options.progress && ::isatty(STDERR_FILENO);
    const auto start = Clock::now();
    const auto stop_at = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(options.runtime_s));
    auto next_progress = start + std::chrono::seconds(1);
    std::uint64_t submitted = 0, last_ops = 0, last_bytes = 0;
    bool stop = false;
    while (!stop || free_buffers.size() < options.queue_depth) {
        const auto now = Clock::now();
        if (!stop && (options.ops ? submitted >= options.ops : now >= stop_at)) stop = true;
        if (!session.connected()) {
            err << "srp_initiator: connection lost during the benchmark\n";
            rc = kExitTransport;
            break;
        }
        session.begin_batch();
        while (!stop && !free_buffers.empty() && session.can_submit() && (!options.ops || submitted < options.ops)) {
            const std::uint32_t index = free_buffers.back();
            const std::uint64_t slot = random ? rng() % slots : next_sequential++ % slots;
            const bool read = options.mode == "read" || options.mode == "randread" ||
                              (options.mode == "randrw" && static_cast<int>(rng() % 100) < options.read_percent);
            const auto cdb = scsi::make_rw16(read ? scsi::op::kRead16 : scsi::op::kWrite16,
                                             (options.offset + slot * bs) / capacity->block_size, bs / capacity->block_size);
            auto tag = session.submit(options.lun, cdb, read ? Direction::from_target : Direction::to_target, buffers[index],
                                      [&, index, read](const CommandResult& r) {
                                          free_buffers.push_back(index);
                                          if (!r.good()) {
                                              if (totals.errors++ == 0) err << "srp_initiator: " << r.describe() << "\n";
                                              return;
                                          }
                                          ++totals.ops;
                                          totals.bytes += bs;
                                          ++(read ? totals.reads : totals.writes);
                                          totals.latency.add(r.latency);
                                      });
            if (!tag) break;
            free_buffers.pop_back();
            ++submitted;
        }
        session.end_batch();
        session.wait(std::chrono::milliseconds(1));
        if (tty && Clock::now() >= next_progress) {
            const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
            std::fprintf(stderr, "\r%s %6.1fs  %10.0f IOPS  %s  errors %llu   ", options.mode.c_str(), seconds,
                         static_cast<double>(totals.ops - last_ops), rate(static_cast<double>(totals.bytes - last_bytes)).c_str(),
                         static_cast<unsigned long long>(totals.errors));
            last_ops = totals.ops;
            last_bytes = totals.bytes;
            next_progress += std::chrono::seconds(1);
        }
    }
    if (tty) std::fprintf(stderr, "\n");
    for (auto b : buffers) session.release(b);
    const double seconds = std::max(1e-9, std::chrono::duration<double>(Clock::now() - start).count());
    const double iops = static_cast<double>(totals.ops) / seconds;
    const double bandwidth = static_cast<double>(totals.bytes) / seconds;
    const double p50 = percentile_us(totals.latency, 50), p99 = percentile_us(totals.latency, 99),
                 p999 = percentile_us(totals.latency, 99.9);
    if (options.json) {
        out << std::fixed << std::setprecision(1) << "{\"mode\":\"" << options.mode << "\",\"block_size\":" << bs
            << ",\"queue_depth\":" << options.queue_depth << ",\"channels\":" << session.channel_count()
            << ",\"seconds\":" << seconds << ",\"ops\":" << totals.ops << ",\"reads\":" << totals.reads
            << ",\"writes\":" << totals.writes << ",\"errors\":" << totals.errors << ",\"iops\":" << iops
            << ",\"bandwidth_bytes_per_s\":" << bandwidth << ",\"latency_us\":{\"p50\":" << p50 << ",\"p99\":" << p99
            << ",\"p99_9\":" << p999 << "}}\n";
    } else {
        out << std::fixed << std::setprecision(1) << options.mode << " bs=" << bs << " qd=" << options.queue_depth
            << " channels=" << session.channel_count() << ": " << totals.ops << " ops in " << seconds << " s, "
            << iops << " IOPS, " << rate(bandwidth) << ", errors " << totals.errors << "\n"
            << "latency us: p50 " << p50 << "  p99 " << p99 << "  p99.9 " << p999 << "\n";
    }
    if (rc == kExitOk && totals.errors > 0) rc = kExitScsiError;
    return rc;
}

}  // namespace srp::initiator::cli
