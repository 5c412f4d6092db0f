// A bounded latency histogram: logarithmic buckets (a power of two split in
// kSubBuckets linear steps), so percentiles are within 1/kSubBuckets (6.25 %)
// of the true value whatever the run length, in constant memory (~5 KiB)
// instead of one sample per command.
// Thread: not synchronized; merge() per-thread histograms at the end.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <chrono>
#include <cstdint>

namespace srp::initiator {

class LatencyHistogram {
public:
    static constexpr unsigned kSubBits = 4;
    static constexpr std::uint64_t kSubBuckets = 1u << kSubBits;
    static constexpr unsigned kPowers = 64 - kSubBits;  // covers every uint64 nanosecond count

    void add(std::chrono::nanoseconds latency) noexcept {
        const auto ns = static_cast<std::uint64_t>(std::max<std::int64_t>(latency.count(), 0));
        ++counts_[index(ns)];
        ++total_;
    }
    void merge(const LatencyHistogram& other) noexcept {
        for (std::size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
        total_ += other.total_;
    }
    std::uint64_t count() const noexcept { return total_; }
    // The p-th percentile (0..100), as the midpoint of its bucket; 0 when empty.
    std::chrono::nanoseconds percentile(double p) const noexcept {
        if (total_ == 0) return std::chrono::nanoseconds(0);
        auto rank = static_cast<std::uint64_t>(p / 100.0 * static_cast<double>(total_ - 1)) + 1;
        for (std::size_t i = 0; i < counts_.size(); ++i) {
            if (counts_[i] >= rank) return std::chrono::nanoseconds(midpoint(i));
            rank -= counts_[i];
        }
        return std::chrono::nanoseconds(midpoint(counts_.size() - 1));
    }

private:
    // Values below kSubBuckets have a bucket each; above, bucket = (power, top kSubBits below the leading one).
    static std::size_t index(std::uint64_t v) noexcept {
        if (v < kSubBuckets) return static_cast<std::size_t>(v);
        const unsigned power = 63 - static_cast<unsigned>(std::countl_zero(v));  // >= kSubBits
        const std::uint64_t sub = (v >> (power - kSubBits)) & (kSubBuckets - 1);
        return static_cast<std::size_t>((power - kSubBits + 1) * kSubBuckets + sub);
    }
    static std::int64_t midpoint(std::size_t i) noexcept {
        if (i < kSubBuckets) return static_cast<std::int64_t>(i);
        const unsigned power = static_cast<unsigned>(i / kSubBuckets) - 1 + kSubBits;
        const std::uint64_t sub = i % kSubBuckets;
        const std::uint64_t width = std::uint64_t{1} << (power - kSubBits);
        const std::uint64_t low = (std::uint64_t{1} << power) + sub * width;
        return static_cast<std::int64_t>(low + width / 2);
    }

    std::array<std::uint64_t, (kPowers + 1) * kSubBuckets> counts_{};
    std::uint64_t total_ = 0;
};

}  // namespace srp::initiator
