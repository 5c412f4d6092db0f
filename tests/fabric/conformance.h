// One conformance suite for every fabric::Connection implementation: the
// loopback fabric runs it as unit tests, the verbs fabric inside the VM.
// Each check returns an empty string on success, else what went wrong.
#pragma once

#include <chrono>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
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
    // Work requests a's own accounting lets into its send queue (0: unbounded).
    std::uint32_t send_depth_a = 0;
    // SENDs up to this many bytes go inline on a (verbs only; empty: no such notion).
    std::optional<std::uint32_t> inline_room_a;
};
struct PairOptions {
    // a's real send queue holds only a few work requests (kShortSendQueue or
    // the provider's rounding of it) while its accounting allows send_depth_a:
    // a long post is refused part-way by the provider itself.
    bool short_send_queue = false;
    // a asks for more inline room than any device grants: its queue pair is
    // created again without inline sends (verbs; the loopback ignores it).
    bool no_inline_room = false;
};
inline constexpr std::uint32_t kShortSendQueue = 4;
using PairFactory = std::function<Pair(const PairOptions&)>;

// Every completion of c within window, polled one at a time (as an owner
// that acts on each completion before it polls the next).
inline std::vector<fabric::Completion> collect(fabric::Connection& c, std::chrono::milliseconds window) {
    std::vector<fabric::Completion> all;
    const auto until = std::chrono::steady_clock::now() + window;
    while (std::chrono::steady_clock::now() < until) {
        fabric::Completion one[1];
        if (c.poll(one) == 1) all.push_back(one[0]);
        else std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
    return all;
}
inline std::size_t count_of(const std::vector<fabric::Completion>& all, std::uint64_t wr_id) {
    std::size_t n = 0;
    for (const auto& c : all) n += c.wr_id == wr_id;
    return n;
}

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
    Pair p = make({});
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
    Pair p = make({});
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
    Pair p = make({});
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
    Pair p = make({});
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
    Pair p = make({});
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
    Pair p = make({});
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
    Pair p = make({});
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

inline std::string partial_post_reports_each_chain_once(const PairFactory& make) {
    Pair p = make(PairOptions{true});
    Buffers m(p);
    // Three chains in one post: A fits, B is far longer than the real send
    // queue (its first READ names a bad rkey), C follows. The provider takes
    // A and a prefix of B and refuses the rest. Each chain must be reported
    // exactly once: B as flushed although its posted prefix later fails
    // (that error belongs to a chain already reported), C as flushed.
    constexpr std::uint32_t kLong = 4 * kShortSendQueue;
    std::vector<fabric::LocalSegment> locals;
    for (std::uint32_t i = 0; i < kLong + 2; ++i) locals.push_back(m.ra->segment(std::size_t{i} * 512, 512));
    auto read_op = [&](std::uint32_t i, bool bad) {
        return fabric::RdmaOp{fabric::RemoteSegment{reinterpret_cast<std::uintptr_t>(m.b.data() + std::size_t{i} * 512),
                                                    bad ? m.rb->rkey() ^ 0x5a5a00 : m.rb->rkey(), 512},
                              {&locals[i], 1}};
    };
    std::vector<fabric::RdmaOp> a_ops = {read_op(0, false)}, b_ops, c_ops = {read_op(kLong + 1, false)};
    for (std::uint32_t i = 0; i < kLong; ++i) b_ops.push_back(read_op(1 + i, i == 0));
    p.a->begin_batch();
    const bool a_posted = p.a->post_rdma_read(20, a_ops).has_value();
    const bool b_posted = p.a->post_rdma_read(21, b_ops).has_value();
    const bool c_posted = p.a->post_rdma_read(22, c_ops).has_value();
    p.a->end_batch();
    if (!a_posted || !b_posted) return "the chains were refused before reaching the send queue";
    const auto all = collect(*p.a, std::chrono::milliseconds(1500));
    if (count_of(all, 20) != 1) return "chain A reported " + std::to_string(count_of(all, 20)) + " times";
    if (count_of(all, 21) != 1) return "chain B (cut by the provider) reported " + std::to_string(count_of(all, 21)) + " times";
    if (count_of(all, 22) != (c_posted ? 1u : 0u))
        return "chain C (after the cut) reported " + std::to_string(count_of(all, 22)) + " times";
    for (const auto& c : all)
        if (c.wr_id == 21 && c.status != fabric::CompletionStatus::flushed)
            return "the cut chain reported as " + std::string(fabric::to_string(c.status)) + ", expected flushed";
    return {};
}

inline std::string failed_chain_reports_at_its_end(const PairFactory& make) {
    Pair p = make({});
    Buffers m(p);
    // A chain whose first READ fails: its owner learns it once, and only when
    // every work request of the chain has left the send queue. It may then
    // reuse the wr_id at once; the new chain is reported on its own, and the
    // connection's accounting is back to empty: a chain of its whole depth
    // is accepted (it flushes: the QP is in error).
    constexpr std::uint32_t kLength = 8;
    std::vector<fabric::LocalSegment> locals;
    for (std::uint32_t i = 0; i < kLength; ++i) locals.push_back(m.ra->segment(std::size_t{i} * 512, 512));
    std::vector<fabric::RdmaOp> ops;
    for (std::uint32_t i = 0; i < kLength; ++i)
        ops.push_back(fabric::RdmaOp{fabric::RemoteSegment{reinterpret_cast<std::uintptr_t>(m.b.data() + std::size_t{i} * 512),
                                                           i == 0 ? m.rb->rkey() ^ 0x5a5a00 : m.rb->rkey(), 512},
                                     {&locals[i], 1}});
    if (!p.a->post_rdma_read(9, ops)) return "post_rdma_read failed";
    std::optional<fabric::Completion> first;
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!first && std::chrono::steady_clock::now() < until) {
        fabric::Completion one[1];
        if (p.a->poll(one) == 1 && one[0].wr_id == 9) first = one[0];
    }
    if (!first) return "no completion for the failed chain";
    if (first->status == fabric::CompletionStatus::success) return "a chain with a bad rkey succeeded";
    // Reuse the wr_id at once, as the target does with a request slot.
    if (!p.a->post_rdma_read(9, {&ops[1], 1})) return "reposting under the reported wr_id failed";
    const auto later = collect(*p.a, std::chrono::milliseconds(1000));
    if (count_of(later, 9) != 1)
        return "after the failed chain's report, its wr_id completed " + std::to_string(count_of(later, 9)) +
               " times (expected once, for the new chain)";
    if (p.send_depth_a != 0) {
        std::vector<fabric::LocalSegment> one(p.send_depth_a, m.ra->segment(0, 64));
        std::vector<fabric::RdmaOp> full;
        for (const auto& local : one)
            full.push_back(fabric::RdmaOp{fabric::RemoteSegment{reinterpret_cast<std::uintptr_t>(m.b.data()), m.rb->rkey(), 64},
                                          {&local, 1}});
        auto posted = p.a->post_rdma_read(10, full);
        if (!posted && posted.error() == fabric::PostError::queue_full)
            return "work requests of the failed chain were never retired (send queue accounting leaked)";
        if (posted && !wait_for(*p.a, 10)) return "the full-depth chain never completed";
    }
    return {};
}

// SENDs below, at and above the inline room (SRP_RSP 36 bytes, with fixed
// sense 54, an SRP_CMD with one descriptor 64, longer IUs), on a connection
// that got its inline room and on one whose device refused it: every byte
// arrives, a connection that got its room has at least the 64 bytes asked
// for, and SENDs within the room really go inline (their lkey is not used).
inline std::string sends_of_every_size(const PairFactory& make) {
    for (const bool refused : {false, true}) {
        PairOptions options;
        options.no_inline_room = refused;
        Pair p = make(options);
        const std::string which = refused ? " (inline room refused)" : "";
        // After a refusal the queue pair was created asking for none; the
        // provider may still grant some (rxe: the room of its SGE slots).
        if (p.inline_room_a && !refused && *p.inline_room_a < 64)
            return "inline room " + std::to_string(*p.inline_room_a) + ", expected at least 64";
        Buffers m(p);
        const std::uint32_t sizes[] = {1, 36, 54, 64, 65, 100, 1000, 4096};
        std::uint64_t id = 100;
        for (const std::uint32_t size : sizes) {
            const std::size_t at = std::size_t{id - 100} * 8192;  // each size its own receive range
            for (std::uint32_t i = 0; i < size; ++i) m.a[8192 + i] = static_cast<std::uint8_t>(size + i * 7);
            std::memset(m.b.data() + at, 0xee, 4096 + 16);
            if (!p.b->post_receive(id, m.rb->segment(at, 4096 + 16))) return "post_receive failed" + which;
            // The provider copies an inline SEND's bytes itself and never
            // checks its lkey; a SEND by reference with a wrong lkey fails
            // (local protection error). So within the room the lkey is
            // spoiled on purpose: the SEND arrives only if it went inline.
            const bool inline_send = p.inline_room_a && size <= *p.inline_room_a;
            fabric::LocalSegment source = m.ra->segment(8192, size);
            if (inline_send) source.lkey ^= 0x5a5a00;
            if (!p.a->post_send(id + 1000, source)) return "post_send failed" + which;
            auto sent = wait_for(*p.a, id + 1000);
            auto received = wait_for(*p.b, id);
            if (!sent || sent->status != fabric::CompletionStatus::success)
                return "no successful send completion for " + std::to_string(size) + " bytes" + which +
                       (inline_send ? " (within the inline room, sent with a wrong lkey: it did not go inline)" : "");
            if (!received || received->status != fabric::CompletionStatus::success || received->byte_len != size)
                return "receive of " + std::to_string(size) + " bytes failed or has the wrong length" + which;
            if (std::memcmp(m.a.data() + 8192, m.b.data() + at, size) != 0 || m.b[at + size] != 0xee)
                return "the " + std::to_string(size) + "-byte SEND arrived altered" + which;
            ++id;
        }
    }
    return {};
}

// Batches nest: only the outermost end posts (one doorbell), and a
// SendBatch left by an exception still posts what it held. A batch left
// open would hold every later post of the connection. Verbs only: the
// loopback delivers sends at once and counts doorbells instead
// (test_loopback_conformance.cpp checks those).
inline std::string nested_batches_post_at_the_outermost_end(const PairFactory& make) {
    Pair p = make({});
    Buffers m(p);
    for (std::uint64_t i = 0; i < 3; ++i)
        if (!p.b->post_receive(10 + i, m.rb->segment(i * 1024, 1024))) return "post_receive failed";
    for (int i = 0; i < 64; ++i) m.a[i] = static_cast<std::uint8_t>(0xa0 + i);
    const auto iu = m.ra->segment(0, 64);
    p.a->begin_batch();
    {
        fabric::SendBatch inner(*p.a);
        if (!p.a->post_send(20, iu)) return "post_send in the inner batch failed";
    }
    if (wait_for(*p.b, 10, std::chrono::milliseconds(300)))
        return "the inner batch's end posted its SEND while the outer batch was open";
    if (!p.a->post_send(21, iu)) return "post_send in the outer batch failed";
    p.a->end_batch();
    for (std::uint64_t id : {20u, 21u})
        if (auto sent = wait_for(*p.a, id); !sent || sent->status != fabric::CompletionStatus::success)
            return "SEND " + std::to_string(id) + " did not complete after the outer batch ended";
    for (std::uint64_t id : {10u, 11u})
        if (auto got = wait_for(*p.b, id); !got || got->status != fabric::CompletionStatus::success || got->byte_len != 64)
            return "receive " + std::to_string(id) + " missing after the outer batch ended";
    try {
        fabric::SendBatch batch(*p.a);
        if (!p.a->post_send(22, iu)) return "post_send in the throwing scope failed";
        throw std::runtime_error("a pass fails half-way");
    } catch (const std::runtime_error&) {
    }
    if (auto got = wait_for(*p.b, 12); !got || got->status != fabric::CompletionStatus::success)
        return "the SEND of a batch left by an exception never arrived";
    if (std::memcmp(m.a.data(), m.b.data() + 2048, 64) != 0) return "the last SEND arrived altered";
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
    {"a post refused part-way reports each chain exactly once", partial_post_reports_each_chain_once},
    {"a failed chain is reported at its end: its wr_id may be reused at once", failed_chain_reports_at_its_end},
    {"SENDs below, at and above the inline room arrive intact, with and without it", sends_of_every_size},
    {"nested batches post at the outermost end, and on an exception", nested_batches_post_at_the_outermost_end},
};

}  // namespace srp::test::conformance
