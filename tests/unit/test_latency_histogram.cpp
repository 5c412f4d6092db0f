// The bench's bounded latency histogram: percentiles within a bucket's width.
#include <catch2/catch.hpp>
#include <random>

#include "srp_initiator/latency_histogram.h"

using srp::initiator::LatencyHistogram;
using namespace std::chrono_literals;

TEST_CASE("latency histogram: empty, exact small values, relative error bound", "[unit][histogram]") {
    LatencyHistogram h;
    CHECK(h.percentile(50) == 0ns);
    for (int v = 0; v < 10; ++v) h.add(std::chrono::nanoseconds(v));
    CHECK(h.count() == 10);
    CHECK(h.percentile(0) == 0ns);
    CHECK(h.percentile(100) == 9ns);

    LatencyHistogram u;
    std::mt19937_64 rng(1);
    std::vector<std::int64_t> values;
    for (int i = 0; i < 100000; ++i) values.push_back(static_cast<std::int64_t>(1000 + rng() % 10'000'000));
    for (auto v : values) u.add(std::chrono::nanoseconds(v));
    std::sort(values.begin(), values.end());
    for (double p : {1.0, 50.0, 99.0, 99.9}) {
        const auto exact = static_cast<double>(values[static_cast<std::size_t>(p / 100 * static_cast<double>(values.size() - 1))]);
        const auto got = static_cast<double>(u.percentile(p).count());
        CHECK(std::abs(got - exact) / exact < 1.0 / LatencyHistogram::kSubBuckets);
    }
    CHECK(u.percentile(100).count() > 0);
    u.add(std::chrono::nanoseconds(-5));  // clock oddities count as zero, never out of range
    u.add(std::chrono::nanoseconds(std::numeric_limits<std::int64_t>::max()));
    CHECK(u.count() == 100002);
}

TEST_CASE("latency histogram: merge adds counts", "[unit][histogram]") {
    LatencyHistogram a, b;
    for (int i = 0; i < 100; ++i) a.add(10us);
    for (int i = 0; i < 300; ++i) b.add(1ms);
    a.merge(b);
    CHECK(a.count() == 400);
    CHECK(std::abs(a.percentile(90).count() - 1'000'000) < 1'000'000 / 16);
    CHECK(std::abs(a.percentile(10).count() - 10'000) < 10'000 / 16);
}
