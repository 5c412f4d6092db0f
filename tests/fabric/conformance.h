// One conformance suite for every fabric::Connection implementation: the
// loopback fabric runs it as unit tests, the verbs fabric inside the VM.
// Each check returns an empty string on success, else what went wrong.
#pragma once

#include <chrono>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/fabric/connection.h"

namespace srp::test::conformance {

// Two connected endpoints and their domains.
struct Pair {
    fabric::Connection* a = nullptr;
    fabric::MemoryDomain* domain_a = nullptr;
    fabric::Connection* b = nullptr;
    fabric::MemoryDomain* domain_b = nullptr;
    std::shared_ptr<void> owner;
};
using PairFactory = std::function<Pair()>;

// Waits for the completion of wr_id. Completions of other work requests that
// arrive meanwhile are kept for later calls (a poll may return several).
inline std::optional<fabric::Completion> wait_for(fabric::Connection& c, std::uint64_t wr_id,
                                                  std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    static thread_local std::vector<std::pair<const fabric::Connection*, fabric::Completion>> backlog;
    auto take = [&]() -> std::optional<fabric::Completion> {
        for (auto it = backlog.begin(); it != backlog.end(); ++it)
            if (it->first == &c && it->second.wr_id == wr_id) {
                auto found = it->second;
                backlog.erase(it);
                return found;
            }
        return std::nullopt;
    };
    const auto until = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < until) {
        if (auto found = take()) return found;
        fabric::Completion done[8];
        const std::size_t n = c.poll(done);
        for (std::size_t i = 0; i < n; ++i) backlog.emplace_back(&c, done[i]);
        if (n == 0) std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
    return take();
}

struct Buffers {
    std::vector<std::uint8_t> a = std::vector<std::uint8_t>(64 * 1024), b = std::vector<std::uint8_t>(64 * 1024);
    std::unique_ptr<fabric::Registration> ra, rb;
    explicit Buffers(Pair& p) {
        ra = std::move(*p.domain_a->register_memory(a, true));
        rb = std::move(*p.domain_b->register_memory(b, true));
    }
};

inline std::string send_and_receive(const PairFactory& make) {
    Pair p = make();
    Buffers m(p);
    if (!p.b->post_receive(1, m.rb->segment(0, 1024))) return "post_receive failed";
    for (int i = 0; i < 100; ++i) m.a[i] = static_cast<std::uint8_t>(i * 3);
    if (!p.a->post_send(2, m.ra->segment(0, 100))) return "post_send failed";
    auto sent = wait_for(*p.a, 2);
    auto received = wait_for(*p.b, 1);
    if (!sent || sent->status != fabric::CompletionStatus::success) return "no successful send completion";
    if (!received || received->status != fabric::CompletionStatus::success) return "no successful receive completion";
    if (received->kind != fabric::WorkKind::receive) return "receive completion of the wrong kind";
    if (received->byte_len != 100) return "byte_len " + std::to_string(received->byte_len) + ", expected 100";
    if (std::memcmp(m.a.data(), m.b.data(), 100) != 0) return "received bytes differ";
    return {};
}

inline std::string rdma_write_then_send(const PairFactory& make) {
    Pair p = make();
    Buffers m(p);
    if (!p.b->post_receive(1, m.rb->segment(0, 64))) return "post_receive failed";
    for (std::size_t i = 0; i < 8192; ++i) m.a[1024 + i] = static_cast<std::uint8_t>(i ^ 0x5a);
    // Two local segments into one remote range, then the response-like SEND.
    const fabric::LocalSegment local[2] = {m.ra->segment(1024, 4096), m.ra->segment(1024 + 4096, 4096)};
    const fabric::RdmaOp op{fabric::RemoteSegment{reinterpret_cast<std::uintptr_t>(m.b.data() + 8192), m.rb->rkey(), 8192},
                            local};
    if (!p.a->post_rdma_write_then_send(7, {&op, 1}, m.ra->segment(0, 16))) return "post failed";
    auto received = wait_for(*p.b, 1);
    if (!received || received->status != fabric::CompletionStatus::success) return "no receive after the chain";
    // RC ordering: the data is there when the SEND has arrived.
    if (std::memcmp(m.a.data() + 1024, m.b.data() + 8192, 8192) != 0) return "RDMA WRITE data not visible before the SEND";
    auto done = wait_for(*p.a, 7);
    if (!done || done->status != fabric::CompletionStatus::success) return "no single successful completion for the chain";
    return {};
}

inline std::string rdma_read(const PairFactory& make) {
    Pair p = make();
    Buffers m(p);
    for (std::size_t i = 0; i < 12288; ++i) m.b[i] = static_cast<std::uint8_t>(i * 5 + 1);
    // Three remote pieces gathered into one local range.
    std::vector<fabric::LocalSegment> locals = {m.ra->segment(0, 4096), m.ra->segment(4096, 4096), m.ra->segment(8192, 4096)};
    std::vector<fabric::RdmaOp> ops;
    for (int i = 0; i < 3; ++i)
        ops.push_back(fabric::RdmaOp{fabric::RemoteSegment{reinterpret_cast<std::uintptr_t>(m.b.data() + 4096 * i),
                                                           m.rb->rkey(), 4096},
                                     {&locals[i], 1}});
    if (!p.a->post_rdma_read(3, ops)) return "post_rdma_read failed";
    auto done = wait_for(*p.a, 3);
    if (!done || done->status != fabric::CompletionStatus::success) return "no successful RDMA READ completion";
    if (std::memcmp(m.a.data(), m.b.data(), 12288) != 0) return "RDMA READ data differ";
    return {};
}

inline std::string bad_rkey_fails(const PairFactory& make) {
    Pair p = make();
    Buffers m(p);
    const fabric::LocalSegment local = m.ra->segment(0, 512);
    const fabric::RdmaOp op{fabric::RemoteSegment{reinterpret_cast<std::uintptr_t>(m.b.data()), m.rb->rkey() ^ 0x5a5a00, 512},
                            {&local, 1}};
    if (!p.a->post_rdma_read(4, {&op, 1})) return "post_rdma_read failed";
    auto done = wait_for(*p.a, 4);
    if (!done) return "no completion for an RDMA READ with a bad rkey";
    if (done->status == fabric::CompletionStatus::success) return "an RDMA READ with a bad rkey succeeded";
    if (done->status != fabric::CompletionStatus::remote_access_error &&
        done->status != fabric::CompletionStatus::remote_operation_error)
        return std::string("bad rkey reported as ") + std::string(fabric::to_string(done->status));
    return {};
}

inline std::string disconnect_flushes_receives(const PairFactory& make) {
    Pair p = make();
    Buffers m(p);
    for (std::uint64_t i = 0; i < 4; ++i)
        if (!p.b->post_receive(10 + i, m.rb->segment(i * 1024, 1024))) return "post_receive failed";
    p.b->disconnect();
    for (std::uint64_t i = 0; i < 4; ++i) {
        auto done = wait_for(*p.b, 10 + i);
        if (!done) return "posted receive " + std::to_string(i) + " never completed after disconnect";
        if (done->status != fabric::CompletionStatus::flushed)
            return "receive completed as " + std::string(fabric::to_string(done->status)) + ", expected flushed";
    }
    return {};
}

inline std::string empty_chain_refused(const PairFactory& make) {
    Pair p = make();
    Buffers m(p);
    // A chain of no work request would never complete: its owner would wait forever.
    auto posted = p.a->post_rdma_read(5, {});
    if (posted) return "an empty RDMA READ chain was accepted";
    if (posted.error() != fabric::PostError::empty_chain)
        return "empty chain refused as " + std::string(fabric::to_string(posted.error()));
    if (auto stray = wait_for(*p.a, 5, std::chrono::milliseconds(100))) return "a refused chain produced a completion";
    // The connection still works.
    if (!p.b->post_receive(1, m.rb->segment(0, 64))) return "post_receive failed";
    if (!p.a->post_send(6, m.ra->segment(0, 16))) return "post_send after the refusal failed";
    auto sent = wait_for(*p.a, 6);
    if (!sent || sent->status != fabric::CompletionStatus::success) return "no send completion after the refusal";
    return {};
}

inline std::string failed_chain_reports_once(const PairFactory& make) {
    Pair p = make();
    Buffers m(p);
    // Three RDMA READs in one chain; the middle one names a bad rkey. The
    // chain completes once, with the remote error, and nothing of it later.
    std::vector<fabric::LocalSegment> locals = {m.ra->segment(0, 512), m.ra->segment(512, 512), m.ra->segment(1024, 512)};
    std::vector<fabric::RdmaOp> ops;
    for (std::uint32_t i = 0; i < 3; ++i)
        ops.push_back(fabric::RdmaOp{fabric::RemoteSegment{reinterpret_cast<std::uintptr_t>(m.b.data() + 512 * i),
                                                           i == 1 ? m.rb->rkey() ^ 0x5a5a00 : m.rb->rkey(), 512},
                                     {&locals[i], 1}});
    if (!p.a->post_rdma_read(8, ops)) return "post_rdma_read failed";
    auto done = wait_for(*p.a, 8);
    if (!done) return "no completion for the failed chain";
    if (done->status == fabric::CompletionStatus::success) return "a chain with a bad rkey succeeded";
    if (done->status != fabric::CompletionStatus::remote_access_error &&
        done->status != fabric::CompletionStatus::remote_operation_error)
        return "the chain's failure reported as " + std::string(fabric::to_string(done->status));
    if (auto again = wait_for(*p.a, 8, std::chrono::milliseconds(300))) return "the failed chain completed twice";
    return {};
}

struct Check {
    const char* name;
    std::string (*run)(const PairFactory&);
};
inline const Check kChecks[] = {
    {"send and receive", send_and_receive},
    {"RDMA WRITE chained with a SEND", rdma_write_then_send},
    {"RDMA READ gathering three remote pieces", rdma_read},
    {"RDMA with a bad rkey fails with a remote error", bad_rkey_fails},
    {"disconnect flushes posted receives", disconnect_flushes_receives},
    {"an empty chain is refused", empty_chain_refused},
    {"a chain failing in its middle completes once", failed_chain_reports_once},
};

}  // namespace srp::test::conformance
