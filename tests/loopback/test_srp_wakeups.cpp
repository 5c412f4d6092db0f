// Which completions wake a sleeping poller (Channel::arm). A response's
// send completion only frees its context, so it must not cost a wake-up of
// its own; every completion that moves a command forward, or that a TMF,
// a waiting command or a logout depends on, must still wake it.
#include <poll.h>

#include "common/scsi/cdb.h"
#include "tests/loopback/loopback_fixture.h"

using namespace srp;
using namespace srp::test;

namespace {
std::vector<std::uint8_t> rw16(std::uint8_t op, std::uint64_t lba, std::uint32_t blocks) {
    auto c = scsi::make_rw16(op, lba, blocks);
    return {c.begin(), c.end()};
}

// True when the notifier's fd is readable (a sleeping poller would wake); consumes it.
bool woke(fabric::LoopbackNotifier& notifier) {
    pollfd p{notifier.fd(), POLLIN, 0};
    const bool readable = ::poll(&p, 1, 0) == 1;
    notifier.consume();
    return readable;
}

// What the poller does before it sleeps: arm, then poll once more (closing the race).
void go_to_sleep(LoopbackTarget::Link& l) {
    l.channel->arm();
    l.channel->poll();
    l.target_notifier->consume();
}
}  // namespace

TEST_CASE("a READ's response completion does not wake an idle poller; the next command does", "[loopback][wakeups]") {
    LoopbackTarget t;
    auto& l = t.link();
    go_to_sleep(l);
    const auto tag = l.command(rw16(0x88, 0, 8), false, 0, 4096);
    CHECK(woke(*l.target_notifier));  // the command's receive
    l.channel->poll();  // RDMA WRITE + SRP_RSP posted; on this fabric the chain completes at once
    CHECK_FALSE(woke(*l.target_notifier));
    CHECK(l.target_side->silent_completions() == 1);
    go_to_sleep(l);
    auto r = l.response();
    REQUIRE(r);
    CHECK(r->header.tag == tag_of(tag));
    CHECK(r->status() == 0);

    // The silent completion is collected at the next wake: 2 x queue depth
    // commands in a row never run out of contexts.
    for (std::uint32_t i = 0; i < 2 * LoopbackTarget::kQueueDepth + 2; ++i) {
        l.command(rw16(0x88, i, 1), false, 0, 512);
        REQUIRE(woke(*l.target_notifier));
        l.channel->poll();
        CHECK_FALSE(woke(*l.target_notifier));
        go_to_sleep(l);
        auto each = l.response();
        REQUIRE(each);
        CHECK(each->status() == 0);
    }
    CHECK(l.target_side->silent_completions() == 2 * LoopbackTarget::kQueueDepth + 3);
}

TEST_CASE("a WRITE's RDMA READ completion wakes the poller", "[loopback][wakeups]") {
    LoopbackTarget t;
    auto& l = t.link();
    l.target_side->hold_completions(true);  // the RDMA READ is in flight
    std::memset(l.memory.data(), 0x5a, 512);
    l.command(rw16(0x8a, 3, 1), true, 0, 512);
    l.channel->poll();
    go_to_sleep(l);
    CHECK_FALSE(woke(*l.target_notifier));
    l.target_side->hold_completions(false);  // the data arrives
    CHECK(woke(*l.target_notifier));
    auto r = l.response();
    REQUIRE(r);
    CHECK(r->status() == 0);
    CHECK(t.medium()[3 * 512] == 0x5a);
}

TEST_CASE("a response a TMF waits for wakes the poller when its send completes", "[loopback][wakeups]") {
    LoopbackTarget t;
    auto& l = t.link();
    l.target_side->hold_completions(true);  // the READ's RDMA WRITE + SRP_RSP stay in flight
    const auto victim = l.command(rw16(0x88, 0, 8), false, 0, 4096);
    l.channel->poll();
    auto first = l.responses();  // the SRP_RSP reached the initiator; its send completion has not
    REQUIRE(first.size() == 1);
    CHECK(first[0].header.tag == tag_of(victim));
    const auto tmf = l.tmf(0x01, victim);  // ABORT TASK: its answer waits for the victim's RDMA
    l.channel->poll();
    go_to_sleep(l);
    CHECK(l.responses().empty());
    l.target_side->hold_completions(false);
    CHECK(woke(*l.target_notifier));  // without it a sleeping poller would leave the TMF unanswered
    auto answer = l.responses();
    REQUIRE(answer.size() == 1);
    CHECK(answer[0].header.tag == tag_of(tmf));
}

TEST_CASE("while a command waits for a context, response completions wake the poller", "[loopback][wakeups]") {
    LoopbackTarget t;
    auto& l = t.link();
    l.target_side->hold_completions(true);  // responses never complete: their contexts stay busy
    // Credits allow queue depth commands at once; answered ones return theirs,
    // so the initiator can keep more contexts busy than credits.
    const std::uint32_t contexts = LoopbackTarget::kQueueDepth * target::kContextsPerCredit;
    for (std::uint32_t i = 0; i < contexts + 1; ++i) {
        l.command(rw16(0x88, i, 1), false, 0, 512);
        l.channel->poll();
    }
    CHECK(l.responses().size() == contexts);  // the last one waits for a context
    go_to_sleep(l);
    l.target_side->hold_completions(false);
    CHECK(woke(*l.target_notifier));
    l.channel->poll();
    CHECK(l.responses().size() == 1);
}
