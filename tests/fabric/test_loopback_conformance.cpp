// The fabric conformance suite on the in-memory loopback implementation.
#include <catch2/catch.hpp>

#include <stdexcept>

#include "common/fabric/loopback.h"
#include "tests/fabric/conformance.h"

using namespace srp;
using namespace srp::test::conformance;

namespace {
Pair loopback_pair(const PairOptions& options) {
    struct Owner {
        std::shared_ptr<fabric::LoopbackDomain> da = std::make_shared<fabric::LoopbackDomain>();
        std::shared_ptr<fabric::LoopbackDomain> db = std::make_shared<fabric::LoopbackDomain>();
        std::unique_ptr<fabric::LoopbackConnection> a, b;
    };
    auto owner = std::make_shared<Owner>();
    auto [a, b] = fabric::make_loopback_pair(owner->da, nullptr, owner->db, nullptr);
    owner->a = std::move(a);
    owner->b = std::move(b);
    if (options.short_send_queue) owner->a->set_send_queue_depth(kShortSendQueue);
    // no send depth of its own, no inline room (the loopback copies every SEND)
    return Pair{owner->a.get(), owner->da.get(), owner->b.get(), owner->db.get(), owner, 0, std::nullopt};
}
}  // namespace

TEST_CASE("fabric conformance (loopback): send and receive", "[fabric]") { CHECK(send_and_receive(loopback_pair) == ""); }
TEST_CASE("fabric conformance (loopback): RDMA WRITE chained with a SEND", "[fabric]") {
    CHECK(rdma_write_then_send(loopback_pair) == "");
}
TEST_CASE("fabric conformance (loopback): RDMA READ", "[fabric]") { CHECK(rdma_read(loopback_pair) == ""); }
TEST_CASE("fabric conformance (loopback): bad rkey", "[fabric]") { CHECK(bad_rkey_fails(loopback_pair) == ""); }
TEST_CASE("fabric conformance (loopback): an empty chain is refused", "[fabric]") {
    CHECK(empty_chain_refused(loopback_pair) == "");
}
TEST_CASE("fabric conformance (loopback): a chain failing in its middle completes once", "[fabric]") {
    CHECK(failed_chain_reports_once(loopback_pair) == "");
}
TEST_CASE("fabric conformance (loopback): a post refused part-way reports each chain once", "[fabric]") {
    CHECK(partial_post_reports_each_chain_once(loopback_pair) == "");
}
TEST_CASE("fabric conformance (loopback): a failed chain is reported at its end", "[fabric]") {
    CHECK(failed_chain_reports_at_its_end(loopback_pair) == "");
}
TEST_CASE("fabric conformance (loopback): disconnect flushes receives", "[fabric]") {
    CHECK(disconnect_flushes_receives(loopback_pair) == "");
}
TEST_CASE("fabric conformance (loopback): SENDs of every size around the inline room", "[fabric]") {
    CHECK(sends_of_every_size(loopback_pair) == "");
}
TEST_CASE("loopback fault: held completions are delivered on release", "[fabric]") {
    Pair p = loopback_pair({});
    Buffers m(p);
    auto* a = static_cast<fabric::LoopbackConnection*>(p.a);
    a->hold_completions(true);
    REQUIRE(p.b->post_receive(1, m.rb->segment(0, 64)));
    REQUIRE(p.a->post_send(2, m.ra->segment(0, 8)));
    fabric::Completion c[4];
    CHECK(p.a->poll(c) == 0);
    a->hold_completions(false);
    CHECK(p.a->poll(c) == 1);
}
TEST_CASE("loopback fault: injected remote access error", "[fabric]") {
    Pair p = loopback_pair({});
    Buffers m(p);
    auto* a = static_cast<fabric::LoopbackConnection*>(p.a);
    a->fail_next_rdma(fabric::CompletionStatus::remote_access_error);
    const fabric::LocalSegment local = m.ra->segment(0, 64);
    const fabric::RdmaOp op{fabric::RemoteSegment{reinterpret_cast<std::uintptr_t>(m.b.data()), m.rb->rkey(), 64}, {&local, 1}};
    REQUIRE(p.a->post_rdma_read(5, {&op, 1}));
    auto done = wait_for(*p.a, 5);
    REQUIRE(done);
    CHECK(done->status == fabric::CompletionStatus::remote_access_error);
    CHECK_FALSE(a->connected());
}

TEST_CASE("loopback batches nest: one doorbell at the outermost end, and SendBatch ends its batch on an exception",
          "[fabric]") {
    auto da = std::make_shared<fabric::LoopbackDomain>(), db = std::make_shared<fabric::LoopbackDomain>();
    auto [a, b] = fabric::make_loopback_pair(da, nullptr, db, nullptr);
    std::vector<std::uint8_t> out(64, 0x5a), in(64 * 8);
    auto out_mr = *da->register_memory(out, false);
    auto in_mr = *db->register_memory(in, false);
    for (std::uint32_t i = 0; i < 8; ++i) REQUIRE(b->post_receive(i, in_mr->segment(std::size_t{i} * 64, 64)));
    const auto iu = out_mr->segment(0, 64);

    a->begin_batch();
    {
        fabric::SendBatch inner(*a);
        REQUIRE(a->post_send(1, iu));
        REQUIRE(a->post_send(2, iu));
    }
    CHECK(a->doorbells() == 0);  // the inner end posts nothing: the outer batch is open
    REQUIRE(a->post_send(3, iu));
    a->end_batch();
    CHECK(a->doorbells() == 1);  // three sends, one doorbell

    try {
        fabric::SendBatch batch(*a);
        REQUIRE(a->post_send(4, iu));
        throw std::runtime_error("a channel's pass fails half-way");
    } catch (const std::runtime_error&) {
    }
    CHECK(a->doorbells() == 2);  // the batch ended as the exception left its scope
    REQUIRE(a->post_send(5, iu));
    CHECK(a->doorbells() == 3);  // and nothing is left open: the next send rings at once
}
