// The session registry under concurrent logins and logouts (CM thread and
// pollers race in the daemon), and its bounded memory of departed nexuses.
#include <catch2/catch.hpp>
#include <thread>

#include "srp_target/srp/session_registry.h"
#include "tests/unit/engine_fixture.h"

using namespace srp;
using namespace srp::target;

namespace {
wire::PortId port(std::uint32_t n) {
    wire::PortId id{};
    for (int i = 0; i < 4; ++i) id[15 - i] = static_cast<std::uint8_t>(n >> (8 * i));
    return id;
}
std::uint16_t first_unit_attention(LogicalUnit& lu, NexusId nexus) {
    const std::uint8_t tur[6] = {};
    auto task = lu.submit(nexus, tur, 0);
    if (task.status() != scsi::Status::check_condition) return 0;
    const auto s = task.sense();
    return static_cast<std::uint16_t>(s[12] << 8 | s[13]);
}
}  // namespace

TEST_CASE("registry: logins and logouts from many threads leave a consistent registry and unit attentions",
          "[registry][stress]") {
    srp::test::Engine e;
    SessionRegistry registry(e.target);
    constexpr int kThreads = 8;
    constexpr int kRounds = 400;
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            for (int round = 0; round < kRounds; ++round) {
                // Half the threads share nexus 1 (MULTI channels of one
                // initiator racing last-detach against first-attach), the
                // others use a nexus of their own.
                const wire::PortId initiator = port(t % 2 == 0 ? 1 : 100 + t);
                auto control = std::make_shared<ChannelControl>(nullptr);
                const auto attached = registry.attach(initiator, wire::PortId{}, control, false);
                (void)first_unit_attention(*e.unit, attached.nexus);
                registry.detach(attached.nexus, control.get());
            }
        });
    }
    for (auto& thread : threads) thread.join();
    CHECK(registry.nexus_count() == 0);
    CHECK(registry.total_channels() == 0);
    CHECK(registry.remembered_nexuses() == 1 + kThreads / 2);
    // Every nexus is known and has lost all its channels: its next login
    // must see I_T NEXUS LOSS OCCURRED (SPC-4 6.29), never a lost or stale
    // unit attention.
    for (std::uint32_t n : {1u, 101u, 103u}) {
        auto control = std::make_shared<ChannelControl>(nullptr);
        const auto attached = registry.attach(port(n), wire::PortId{}, control, true);
        CHECK(first_unit_attention(*e.unit, attached.nexus) == 0x2907);
        CHECK(first_unit_attention(*e.unit, attached.nexus) == 0);
        registry.detach(attached.nexus, control.get());
    }
}

TEST_CASE("registry: a flood of one-time initiator port ids is forgotten beyond the bound", "[registry][limits]") {
    srp::test::Engine e;
    SessionRegistry registry(e.target);
    for (std::uint32_t n = 0; n < 3 * kRememberedDepartedNexuses; ++n) {
        auto control = std::make_shared<ChannelControl>(nullptr);
        const auto attached = registry.attach(port(n), wire::PortId{}, control, true);
        registry.detach(attached.nexus, control.get());
    }
    CHECK(registry.remembered_nexuses() == kRememberedDepartedNexuses);
    // The most recent ones are still known: I_T NEXUS LOSS, not POWER ON.
    auto control = std::make_shared<ChannelControl>(nullptr);
    auto recent = registry.attach(port(3 * kRememberedDepartedNexuses - 1), wire::PortId{}, control, true);
    CHECK(first_unit_attention(*e.unit, recent.nexus) == 0x2907);
    registry.detach(recent.nexus, control.get());
    // A forgotten one is new again.
    auto forgotten = registry.attach(port(0), wire::PortId{}, control, true);
    CHECK(first_unit_attention(*e.unit, forgotten.nexus) == 0x2900);
}

TEST_CASE("registry: a nexus holding a persistent reservation registration is never forgotten", "[registry][limits]") {
    srp::test::Engine e;
    SessionRegistry registry(e.target);
    auto control = std::make_shared<ChannelControl>(nullptr);
    const auto holder = registry.attach(port(7), wire::PortId{}, control, true);
    (void)first_unit_attention(*e.unit, holder.nexus);
    // PERSISTENT RESERVE OUT, REGISTER with service action key 0x1234.
    const std::uint8_t register_cdb[10] = {0x5F, 0x00, 0x00, 0, 0, 0, 0, 0, 24, 0};
    auto task = e.unit->submit(holder.nexus, register_cdb, 24);
    REQUIRE(task.phase() == ScsiTask::Phase::awaiting_data_out);
    std::uint8_t parameters[24] = {};
    parameters[14] = 0x12;
    parameters[15] = 0x34;
    std::copy(std::begin(parameters), std::end(parameters), task.data_out_buffer().begin());
    e.unit->complete_data_out(task);
    REQUIRE(task.status() == scsi::Status::good);
    registry.detach(holder.nexus, control.get());
    for (std::uint32_t n = 1000; n < 1000 + 2 * kRememberedDepartedNexuses; ++n) {
        auto other = std::make_shared<ChannelControl>(nullptr);
        const auto attached = registry.attach(port(n), wire::PortId{}, other, true);
        registry.detach(attached.nexus, other.get());
    }
    auto again = registry.attach(port(7), wire::PortId{}, control, true);
    CHECK(again.nexus == holder.nexus);  // same id: the registration still names it
}
