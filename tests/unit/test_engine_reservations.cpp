// PERSISTENT RESERVE IN/OUT and RESERVE/RELEASE (6/10).
#include "tests/unit/engine_fixture.h"

using namespace srp::test;
using srp::scsi::Status;

namespace {

constexpr auto A = Engine::kNexus;
constexpr auto B = Engine::kOtherNexus;

std::vector<std::uint8_t> pr_out_cdb(std::uint8_t action, std::uint8_t type = 0) {
    return {0x5f, action, type, 0, 0, 0, 0, 0, 0x18, 0};
}
std::vector<std::uint8_t> params(std::uint64_t key, std::uint64_t sa_key, std::uint8_t flags = 0) {
    std::vector<std::uint8_t> p(24, 0);
    srp::wire::store_be<std::uint64_t>(p, 0, key);
    srp::wire::store_be<std::uint64_t>(p, 8, sa_key);
    p[20] = flags;
    return p;
}
EngineResult pr_out(Engine& e, srp::target::NexusId n, std::uint8_t action, std::uint64_t key, std::uint64_t sa_key,
                    std::uint8_t type = 0) {
    return e.run(pr_out_cdb(action, type), params(key, sa_key), n);
}
EngineResult pr_in(Engine& e, std::uint8_t action, srp::target::NexusId n = A) {
    return e.run({0x5e, action, 0, 0, 0, 0, 0, 0x01, 0x00, 0}, {}, n);
}
const std::vector<std::uint8_t> kWrite = hex("2a 00 00 00 00 00 00 00 01 00");
const std::vector<std::uint8_t> kRead = hex("28 00 00 00 00 00 00 00 01 00");

}  // namespace

TEST_CASE("PR: register and read keys", "[engine][pr]") {
    Engine e;
    REQUIRE(pr_out(e, A, 0, 0, 0xaa).status == Status::good);
    REQUIRE(pr_out(e, B, 0, 0, 0xbb).status == Status::good);
    CHECK(to_hex(pr_in(e, 0).data) ==
          "00 00 00 02 00 00 00 10 00 00 00 00 00 00 00 aa 00 00 00 00 00 00 00 bb");
}

TEST_CASE("PR: register with a wrong key conflicts", "[engine][pr]") {
    Engine e;
    CHECK(pr_out(e, A, 0, 0x1, 0xaa).status == Status::reservation_conflict);
    REQUIRE(pr_out(e, A, 0, 0, 0xaa).status == Status::good);
    CHECK(pr_out(e, A, 0, 0xab, 0xcc).status == Status::reservation_conflict);
    CHECK(pr_out(e, A, 0, 0xaa, 0xcc).status == Status::good);
}

TEST_CASE("PR: register and ignore existing key", "[engine][pr]") {
    Engine e;
    REQUIRE(pr_out(e, A, 0, 0, 0xaa).status == Status::good);
    CHECK(pr_out(e, A, 6, 0x999, 0xdd).status == Status::good);
    CHECK(srp::wire::load_be<std::uint64_t>(pr_in(e, 0).data, 8) == 0xdd);
}

TEST_CASE("PR: unregister with service action key 0", "[engine][pr]") {
    Engine e;
    REQUIRE(pr_out(e, A, 0, 0, 0xaa).status == Status::good);
    REQUIRE(pr_out(e, A, 0, 0xaa, 0).status == Status::good);
    CHECK(to_hex(pr_in(e, 0).data) == "00 00 00 02 00 00 00 00");
}

TEST_CASE("PR: reserve write exclusive blocks writes of others - allows reads", "[engine][pr]") {
    Engine e;
    REQUIRE(pr_out(e, A, 0, 0, 0xaa).status == Status::good);
    REQUIRE(pr_out(e, A, 1, 0xaa, 0, 1).status == Status::good);
    CHECK(to_hex(pr_in(e, 1).data) ==
          "00 00 00 01 00 00 00 10 00 00 00 00 00 00 00 aa 00 00 00 00 00 01 00 00");
    CHECK(e.run(kWrite, std::vector<std::uint8_t>(512), A).status == Status::good);
    CHECK(e.run(kWrite, std::vector<std::uint8_t>(512), B).status == Status::reservation_conflict);
    CHECK(e.run(kRead, {}, B).status == Status::good);
}

TEST_CASE("PR: exclusive access blocks reads of others too", "[engine][pr]") {
    Engine e;
    REQUIRE(pr_out(e, A, 0, 0, 0xaa).status == Status::good);
    REQUIRE(pr_out(e, A, 1, 0xaa, 0, 3).status == Status::good);
    CHECK(e.run(kRead, {}, B).status == Status::reservation_conflict);
    CHECK(e.run(hex("12 00 00 00 24 00"), {}, B).status == Status::good);
    CHECK(e.run(hex("00 00 00 00 00 00"), {}, B).status == Status::good);
}

TEST_CASE("PR: registrants-only types let registered nexuses write", "[engine][pr]") {
    Engine e;
    REQUIRE(pr_out(e, A, 0, 0, 0xaa).status == Status::good);
    REQUIRE(pr_out(e, A, 1, 0xaa, 0, 5).status == Status::good);
    CHECK(e.run(kWrite, std::vector<std::uint8_t>(512), B).status == Status::reservation_conflict);
    REQUIRE(pr_out(e, B, 0, 0, 0xbb).status == Status::good);
    CHECK(e.run(kWrite, std::vector<std::uint8_t>(512), B).status == Status::good);
}

TEST_CASE("PR: all-registrants reservation reports key 0", "[engine][pr]") {
    Engine e;
    REQUIRE(pr_out(e, A, 0, 0, 0xaa).status == Status::good);
    REQUIRE(pr_out(e, A, 1, 0xaa, 0, 7).status == Status::good);
    auto r = pr_in(e, 1);
    CHECK(srp::wire::load_be<std::uint64_t>(r.data, 8) == 0);
    CHECK(r.data[21] == 7);
}

TEST_CASE("PR: reserve while another holds it conflicts - same holder same type is GOOD", "[engine][pr]") {
    Engine e;
    REQUIRE(pr_out(e, A, 0, 0, 0xaa).status == Status::good);
    REQUIRE(pr_out(e, B, 0, 0, 0xbb).status == Status::good);
    REQUIRE(pr_out(e, A, 1, 0xaa, 0, 1).status == Status::good);
    CHECK(pr_out(e, A, 1, 0xaa, 0, 1).status == Status::good);
    CHECK(pr_out(e, B, 1, 0xbb, 0, 1).status == Status::reservation_conflict);
}

TEST_CASE("PR: reserve with an invalid type or scope", "[engine][pr]") {
    Engine e;
    REQUIRE(pr_out(e, A, 0, 0, 0xaa).status == Status::good);
    CHECK_SENSE(pr_out(e, A, 1, 0xaa, 0, 2), illegal_request, invalid_field_in_cdb);
    CHECK_SENSE(pr_out(e, A, 1, 0xaa, 0, 0x11), illegal_request, invalid_field_in_cdb);
}

TEST_CASE("PR: release by the holder - and with the wrong type", "[engine][pr]") {
    Engine e;
    REQUIRE(pr_out(e, A, 0, 0, 0xaa).status == Status::good);
    REQUIRE(pr_out(e, A, 1, 0xaa, 0, 1).status == Status::good);
    auto wrong = pr_out(e, A, 2, 0xaa, 0, 3);
    CHECK(wrong.status == Status::check_condition);
    CHECK(wrong.asc() == 0x2604);
    CHECK(pr_out(e, A, 2, 0xaa, 0, 1).status == Status::good);
    CHECK(to_hex(pr_in(e, 1).data) == "00 00 00 01 00 00 00 00");
}

TEST_CASE("PR: release of a registrants-only reservation tells the others", "[engine][pr]") {
    Engine e;
    REQUIRE(pr_out(e, A, 0, 0, 0xaa).status == Status::good);
    REQUIRE(pr_out(e, B, 0, 0, 0xbb).status == Status::good);
    REQUIRE(pr_out(e, A, 1, 0xaa, 0, 5).status == Status::good);
    REQUIRE(pr_out(e, A, 2, 0xaa, 0, 5).status == Status::good);
    CHECK_SENSE(e.run(hex("00 00 00 00 00 00"), {}, B), unit_attention, reservations_released);
}

TEST_CASE("PR: clear removes everything and tells the others", "[engine][pr]") {
    Engine e;
    REQUIRE(pr_out(e, A, 0, 0, 0xaa).status == Status::good);
    REQUIRE(pr_out(e, B, 0, 0, 0xbb).status == Status::good);
    REQUIRE(pr_out(e, A, 1, 0xaa, 0, 3).status == Status::good);
    CHECK(pr_out(e, A, 3, 0xaa, 0).status == Status::good);
    CHECK(to_hex(pr_in(e, 0).data) == "00 00 00 03 00 00 00 00");  // 2 registers + clear
    CHECK_SENSE(e.run(hex("00 00 00 00 00 00"), {}, B), unit_attention, reservations_preempted);
    CHECK(e.run(kRead, {}, B).status == Status::good);
}

TEST_CASE("PR: preempt the holder takes the reservation", "[engine][pr]") {
    Engine e;
    REQUIRE(pr_out(e, A, 0, 0, 0xaa).status == Status::good);
    REQUIRE(pr_out(e, B, 0, 0, 0xbb).status == Status::good);
    REQUIRE(pr_out(e, A, 1, 0xaa, 0, 3).status == Status::good);
    CHECK(pr_out(e, B, 4, 0xbb, 0xaa, 1).status == Status::good);
    auto r = pr_in(e, 1, B);
    CHECK(srp::wire::load_be<std::uint64_t>(r.data, 8) == 0xbb);
    CHECK(r.data[21] == 1);
    CHECK_SENSE(e.run(hex("00 00 00 00 00 00"), {}, A), unit_attention, registrations_preempted);
    CHECK(e.run(kWrite, std::vector<std::uint8_t>(512), A).status == Status::reservation_conflict);
}

TEST_CASE("PR: preempt without a reservation removes the registration", "[engine][pr]") {
    Engine e;
    REQUIRE(pr_out(e, A, 0, 0, 0xaa).status == Status::good);
    REQUIRE(pr_out(e, B, 0, 0, 0xbb).status == Status::good);
    CHECK(pr_out(e, B, 5, 0xbb, 0xaa).status == Status::good);
    CHECK(to_hex(pr_in(e, 0, B).data) == "00 00 00 03 00 00 00 08 00 00 00 00 00 00 00 bb");
}

TEST_CASE("PR: preempt of an unknown key conflicts", "[engine][pr]") {
    Engine e;
    REQUIRE(pr_out(e, B, 0, 0, 0xbb).status == Status::good);
    CHECK(pr_out(e, B, 4, 0xbb, 0x1234, 1).status == Status::reservation_conflict);
}

TEST_CASE("PR: preempt an all-registrants reservation with key 0", "[engine][pr]") {
    Engine e;
    REQUIRE(pr_out(e, A, 0, 0, 0xaa).status == Status::good);
    REQUIRE(pr_out(e, B, 0, 0, 0xbb).status == Status::good);
    REQUIRE(pr_out(e, A, 1, 0xaa, 0, 8).status == Status::good);
    CHECK(pr_out(e, B, 4, 0xbb, 0, 3).status == Status::good);
    CHECK(to_hex(pr_in(e, 0, B).data).substr(12) == "00 00 00 08 00 00 00 00 00 00 00 bb");
}

TEST_CASE("PR: unregistered nexus cannot reserve", "[engine][pr]") {
    Engine e;
    CHECK(pr_out(e, A, 1, 0, 0, 1).status == Status::reservation_conflict);
}

TEST_CASE("PR OUT: APTPL - ALL_TG_PT and SPEC_I_PT are refused with the bit", "[engine][pr]") {
    Engine e;
    auto aptpl = e.run(pr_out_cdb(0), params(0, 0xaa, 0x01));
    CHECK_SENSE(aptpl, illegal_request, invalid_field_in_parameter_list);
    CHECK(to_hex(std::span(aptpl.sense).subspan(15, 3)) == "88 00 14");
    CHECK_SENSE(e.run(pr_out_cdb(0), params(0, 0xaa, 0x04)), illegal_request, invalid_field_in_parameter_list);
    CHECK_SENSE(e.run(pr_out_cdb(0), params(0, 0xaa, 0x08)), illegal_request, invalid_field_in_parameter_list);
}

TEST_CASE("PR OUT: a parameter list length other than 24", "[engine][pr]") {
    Engine e;
    CHECK_SENSE(e.run(hex("5f 00 00 00 00 00 00 00 10 00"), std::vector<std::uint8_t>(16)), illegal_request,
                parameter_list_length_error);
}

TEST_CASE("PR OUT: REGISTER AND MOVE is not supported", "[engine][pr]") {
    Engine e;
    CHECK_SENSE(e.run(pr_out_cdb(7), params(0, 0)), illegal_request, invalid_field_in_cdb);
}

TEST_CASE("PR IN: report capabilities", "[engine][pr]") {
    Engine e;
    CHECK(to_hex(pr_in(e, 2).data) == "00 08 10 80 ea 01 00 00");
}

TEST_CASE("PR IN: an unsupported service action", "[engine][pr]") {
    Engine e;
    CHECK_SENSE(pr_in(e, 3), illegal_request, invalid_field_in_cdb);
}

TEST_CASE("PR: the generation counts register - clear and preempt", "[engine][pr]") {
    Engine e;
    REQUIRE(pr_out(e, A, 0, 0, 0xaa).status == Status::good);
    REQUIRE(pr_out(e, A, 1, 0xaa, 0, 1).status == Status::good);  // reserve: no change
    CHECK(srp::wire::load_be<std::uint32_t>(pr_in(e, 0).data, 0) == 1);
    REQUIRE(pr_out(e, A, 3, 0xaa, 0).status == Status::good);
    CHECK(srp::wire::load_be<std::uint32_t>(pr_in(e, 0).data, 0) == 2);
}

TEST_CASE("RESERVE(6) blocks other nexuses until RELEASE(6)", "[engine][reserve]") {
    Engine e;
    CHECK(e.run(hex("16 00 00 00 00 00"), {}, A).status == Status::good);
    CHECK(e.run(kRead, {}, B).status == Status::reservation_conflict);
    CHECK(e.run(hex("16 00 00 00 00 00"), {}, B).status == Status::reservation_conflict);
    CHECK(e.run(hex("12 00 00 00 24 00"), {}, B).status == Status::good);
    CHECK(e.run(hex("17 00 00 00 00 00"), {}, B).status == Status::good);  // not the holder: no effect
    CHECK(e.run(kRead, {}, B).status == Status::reservation_conflict);
    CHECK(e.run(hex("17 00 00 00 00 00"), {}, A).status == Status::good);
    CHECK(e.run(kRead, {}, B).status == Status::good);
}

TEST_CASE("RESERVE(10) with third party is refused - LUN reset clears RESERVE", "[engine][reserve]") {
    Engine e;
    CHECK_SENSE(e.run(hex("56 10 00 00 00 00 00 00 00 00")), illegal_request, invalid_field_in_cdb);
    REQUIRE(e.run(hex("56 00 00 00 00 00 00 00 00 00"), {}, A).status == Status::good);
    e.unit->reset(A);
    (void)e.run(hex("00 00 00 00 00 00"), {}, B);  // consume the reset unit attention
    CHECK(e.run(kRead, {}, B).status == Status::good);
}

TEST_CASE("RESERVE conflicts with a persistent reservation", "[engine][reserve]") {
    Engine e;
    REQUIRE(pr_out(e, A, 0, 0, 0xaa).status == Status::good);
    REQUIRE(pr_out(e, A, 1, 0xaa, 0, 1).status == Status::good);
    CHECK(e.run(hex("16 00 00 00 00 00"), {}, B).status == Status::reservation_conflict);
}

TEST_CASE("a nexus that goes away loses its RESERVE", "[engine][reserve]") {
    Engine e;
    REQUIRE(e.run(hex("16 00 00 00 00 00"), {}, A).status == Status::good);
    e.target.detach_nexus(A);
    CHECK(e.run(kRead, {}, B).status == Status::good);
}

TEST_CASE("PR: preempt with one's own key keeps the registration (fuzz_engine crash)", "[engine][pr][fuzz]") {
    // fuzz_engine found this (tests/fuzz/corpus/fuzz_engine/crash-pr-in-after-self-preempt
    // is the last input, READ RESERVATION): the holder preempted its own key,
    // its registration was erased while it stayed holder, and READ RESERVATION
    // threw std::out_of_range from map::at: a peer's commands aborted the target.
    Engine e;
    REQUIRE(pr_out(e, A, 0, 0, 0xaa).status == Status::good);
    REQUIRE(pr_out(e, A, 1, 0xaa, 0, 3).status == Status::good);
    CHECK(pr_out(e, A, 4, 0xaa, 0xaa, 1).status == Status::good);
    auto r = e.run(hex("5e 01 00 00 e7 fb a0 2b 80 00"), {}, A);  // the crash input's CDB
    REQUIRE(r.status == Status::good);
    CHECK(srp::wire::load_be<std::uint64_t>(r.data, 8) == 0xaa);
    CHECK(r.data[21] == 1);
    CHECK(to_hex(pr_in(e, 0).data) == "00 00 00 02 00 00 00 08 00 00 00 00 00 00 00 aa");  // register, preempt
}

TEST_CASE("PR: a nexus that returns under a new NexusId keeps its registration", "[engine][pr]") {
    // Registrations are bound to the nexus's identity, not to the id a login got.
    Engine e;
    const auto x = nexus_identity(0x55);
    e.target.attach_nexus(30, x);
    (void)e.run(hex("00 00 00 00 00 00"), {}, 30);  // POWER ON
    REQUIRE(pr_out(e, 30, 0, 0, 0xaa).status == Status::good);
    e.target.detach_nexus(30);
    e.target.forget_nexus(30);
    e.target.attach_nexus(31, x);
    (void)e.run(hex("00 00 00 00 00 00"), {}, 31);  // POWER ON: id 31 is new to the unit
    CHECK(pr_out(e, 31, 1, 0xaa, 0, 1).status == Status::good);
    CHECK(e.run(kWrite, std::vector<std::uint8_t>(512), A).status == Status::reservation_conflict);
}
