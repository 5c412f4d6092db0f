// TEST UNIT READY, REQUEST SENSE, unit attentions, reset, START STOP UNIT,
// PREVENT ALLOW MEDIUM REMOVAL, unsupported opcodes and CDB-level errors.
#include "tests/unit/engine_fixture.h"

using namespace srp::test;
using srp::scsi::Status;

TEST_CASE("TEST UNIT READY is GOOD", "[engine][control]") {
    Engine e;
    CHECK(e.run(hex("00 00 00 00 00 00")).status == Status::good);
}

TEST_CASE("a new nexus gets POWER ON - RESET once", "[engine][ua]") {
    Engine e;
    e.target.attach_nexus(3, nexus_identity(3));
    CHECK_SENSE(e.run(hex("00 00 00 00 00 00"), {}, 3), unit_attention, power_on_reset);
    CHECK(e.run(hex("00 00 00 00 00 00"), {}, 3).status == Status::good);
}

TEST_CASE("INQUIRY and REPORT LUNS do not report or clear a unit attention", "[engine][ua]") {
    Engine e;
    e.target.attach_nexus(3, nexus_identity(3));
    CHECK(e.run(hex("12 00 00 00 24 00"), {}, 3).status == Status::good);
    CHECK(e.run(hex("a0 00 00 00 00 00 00 00 01 00 00 00"), {}, 3).status == Status::good);
    CHECK_SENSE(e.run(hex("00 00 00 00 00 00"), {}, 3), unit_attention, power_on_reset);
}

TEST_CASE("REQUEST SENSE returns and clears a pending unit attention", "[engine][ua]") {
    Engine e;
    e.target.attach_nexus(3, nexus_identity(3));
    auto r = e.run(hex("03 00 00 00 12 00"), {}, 3);
    CHECK(r.status == Status::good);
    CHECK(to_hex(r.data) == "70 00 06 00 00 00 00 0a 00 00 00 00 29 00 00 00 00 00");
    CHECK(e.run(hex("00 00 00 00 00 00"), {}, 3).status == Status::good);
}

TEST_CASE("REQUEST SENSE without a pending condition: NO SENSE", "[engine][control]") {
    Engine e;
    auto r = e.run(hex("03 00 00 00 fc 00"));
    CHECK(to_hex(r.data) == "70 00 00 00 00 00 00 0a 00 00 00 00 00 00 00 00 00 00");
}

TEST_CASE("REQUEST SENSE with DESC is refused: fixed format only", "[engine][control]") {
    Engine e;
    CHECK_SENSE(e.run(hex("03 01 00 00 fc 00")), illegal_request, invalid_field_in_cdb);
}

TEST_CASE("logical unit reset raises a unit attention on the other nexus only", "[engine][ua]") {
    Engine e;
    e.unit->reset(Engine::kNexus);
    CHECK(e.run(hex("00 00 00 00 00 00")).status == Status::good);
    CHECK_SENSE(e.run(hex("00 00 00 00 00 00"), {}, Engine::kOtherNexus), unit_attention,
                bus_device_reset_function_occurred);
}

TEST_CASE("a detached nexus forgets its unit attentions", "[engine][ua]") {
    Engine e;
    e.target.attach_nexus(3, nexus_identity(3));
    e.target.detach_nexus(3);
    CHECK(e.run(hex("00 00 00 00 00 00"), {}, 3).status == Status::good);
}

TEST_CASE("a nexus that logs in again gets I_T NEXUS LOSS OCCURRED", "[engine][ua]") {
    Engine e;
    e.target.detach_nexus(Engine::kOtherNexus);
    e.target.attach_nexus(Engine::kOtherNexus, nexus_identity(Engine::kOtherNexus));
    CHECK_SENSE(e.run(hex("00 00 00 00 00 00"), {}, Engine::kOtherNexus), unit_attention, i_t_nexus_loss_occurred);
    CHECK(e.run(hex("00 00 00 00 00 00"), {}, Engine::kOtherNexus).status == Status::good);
}

TEST_CASE("an unknown opcode: INVALID COMMAND OPERATION CODE at byte 0", "[engine][control]") {
    Engine e;
    auto r = e.run(hex("c5 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00"));
    CHECK_SENSE(r, illegal_request, invalid_command_operation_code);
    CHECK(to_hex(std::span(r.sense).subspan(15, 3)) == "c0 00 00");
}

TEST_CASE("unsupported well-known opcodes are refused too", "[engine][control]") {
    Engine e;
    for (auto cdb : {"04 00 00 00 00 00", "1d 00 00 00 00 00", "4d 00 00 00 00 00 00 00 00 00",
                     "7f 00 00 00 00 00 00 00 00 00"})
        CHECK_SENSE(e.run(hex(cdb)), illegal_request, invalid_command_operation_code);
}

TEST_CASE("an empty CDB is an invalid operation code", "[engine][control]") {
    Engine e;
    CHECK_SENSE(e.run({}), illegal_request, invalid_command_operation_code);
}

TEST_CASE("NACA in the control byte is refused: no ACA", "[engine][control]") {
    Engine e;
    auto r = e.run(hex("00 00 00 00 00 04"));
    CHECK_SENSE(r, illegal_request, invalid_field_in_cdb);
    CHECK(to_hex(std::span(r.sense).subspan(15, 3)) == "ca 00 05");
}

TEST_CASE("a CDB shorter than its group code implies", "[engine][control]") {
    Engine e;
    CHECK_SENSE(e.run(hex("28 00 00 00")), illegal_request, invalid_field_in_cdb);
}

TEST_CASE("START STOP UNIT stop makes media commands NOT READY until start", "[engine][control]") {
    Engine e;
    CHECK(e.run(hex("1b 00 00 00 00 00")).status == Status::good);
    CHECK_SENSE(e.run(hex("00 00 00 00 00 00")), not_ready, lun_not_ready_initializing_command_required);
    CHECK_SENSE(e.run(hex("28 00 00 00 00 00 00 00 01 00")), not_ready, lun_not_ready_initializing_command_required);
    CHECK(e.run(hex("12 00 00 00 24 00")).status == Status::good);
    auto sense = e.run(hex("03 00 00 00 12 00"));
    CHECK(sense.data[2] == 0x02);
    CHECK(e.run(hex("1b 00 00 00 01 00")).status == Status::good);
    CHECK(e.run(hex("00 00 00 00 00 00")).status == Status::good);
}

TEST_CASE("START STOP UNIT with LOEJ is refused: medium not removable", "[engine][control]") {
    Engine e;
    auto r = e.run(hex("1b 00 00 00 02 00"));
    CHECK_SENSE(r, illegal_request, invalid_field_in_cdb);
    CHECK(to_hex(std::span(r.sense).subspan(15, 3)) == "c9 00 04");
}

TEST_CASE("START STOP UNIT with a power condition is accepted", "[engine][control]") {
    Engine e;
    CHECK(e.run(hex("1b 00 00 00 30 00")).status == Status::good);
    CHECK(e.run(hex("00 00 00 00 00 00")).status == Status::good);
}

TEST_CASE("PREVENT ALLOW MEDIUM REMOVAL", "[engine][control]") {
    Engine e;
    CHECK(e.run(hex("1e 00 00 00 01 00")).status == Status::good);
    CHECK(e.run(hex("1e 00 00 00 00 00")).status == Status::good);
    CHECK_SENSE(e.run(hex("1e 00 00 00 02 00")), illegal_request, invalid_field_in_cdb);
}

TEST_CASE("LUN reset restores the default caching mode and start state", "[engine][ua]") {
    Engine e;
    REQUIRE(e.run(hex("15 10 00 00 18 00"),
                  hex("00 00 00 00 08 12 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00"))
                .status == Status::good);
    REQUIRE(e.run(hex("1b 00 00 00 00 00")).status == Status::good);
    e.unit->reset(Engine::kNexus);
    CHECK(e.unit->write_cache_enabled());
    CHECK(e.run(hex("00 00 00 00 00 00")).status == Status::good);
}

TEST_CASE("a LUN with a bad block size or size is refused with a clear error", "[engine][control]") {
    TempDir d;
    using srp::target::Backstore;
    using srp::target::BackstoreConfig;
    srp::target::LogicalUnitConfig c;
    c.block_size = 1024;
    CHECK_THROWS_WITH(srp::target::LogicalUnit(std::make_unique<Backstore>(BackstoreConfig{d.file("a"), 8192, false}), c),
                      Catch::Contains("not 512 or 4096"));
    c.block_size = 4096;
    CHECK_THROWS_WITH(srp::target::LogicalUnit(std::make_unique<Backstore>(BackstoreConfig{d.file("b"), 6144, false}), c),
                      Catch::Contains("not a positive multiple"));
}

TEST_CASE("the default serial is derived and stable", "[engine][control]") {
    TempDir d;
    using srp::target::Backstore;
    using srp::target::BackstoreConfig;
    srp::target::LogicalUnit a(std::make_unique<Backstore>(BackstoreConfig{d.file("a"), 8192, false}), {});
    srp::target::LogicalUnit b(std::make_unique<Backstore>(BackstoreConfig{d.file("a"), 8192, false}), {});
    CHECK(a.config().serial.size() == 16);
    CHECK(a.config().serial == b.config().serial);
    CHECK(a.naa_identifier() == b.naa_identifier());
}

TEST_CASE("a LUN configured twice is refused", "[engine][control]") {
    Engine e;
    CHECK_THROWS_WITH(e.target.add_lun(0, e.unit), Catch::Contains("configured twice"));
}
