// INQUIRY, VPD pages, READ CAPACITY, REPORT LUNS, unknown LUNs.
#include "tests/unit/engine_fixture.h"

using namespace srp::test;
using srp::scsi::Status;

TEST_CASE("INQUIRY standard data", "[engine][inquiry]") {
    Engine e;
    auto r = e.run(hex("12 00 00 00 60 00"));
    REQUIRE(r.status == Status::good);
    REQUIRE(r.data.size() == 66);
    CHECK(to_hex(std::span(r.data).first(8)) == "00 00 06 12 3d 00 00 02");
    CHECK(std::string(r.data.begin() + 8, r.data.begin() + 36) == "SRPTGT  MMAP LUN        0001");
    CHECK(to_hex(std::span(r.data).subspan(58, 8)) == "00 a0 04 60 04 c0 09 40");
}

TEST_CASE("INQUIRY truncates to the allocation length", "[engine][inquiry]") {
    Engine e;
    auto r = e.run(hex("12 00 00 00 24 00"));
    CHECK(r.data.size() == 36);
    CHECK(r.data[4] == 61);  // additional length still describes the full data
}

TEST_CASE("INQUIRY with CMDDT is an invalid field", "[engine][inquiry]") {
    Engine e;
    auto r = e.run(hex("12 02 00 00 24 00"));
    CHECK_SENSE(r, illegal_request, invalid_field_in_cdb);
    CHECK(to_hex(std::span(r.sense).subspan(15, 3)) == "c9 00 01");
}

TEST_CASE("INQUIRY page code without EVPD is an invalid field", "[engine][inquiry]") {
    Engine e;
    auto r = e.run(hex("12 00 80 00 24 00"));
    CHECK_SENSE(r, illegal_request, invalid_field_in_cdb);
    CHECK(to_hex(std::span(r.sense).subspan(15, 3)) == "c0 00 02");
}

TEST_CASE("VPD 0x00 lists the supported pages", "[engine][vpd]") {
    Engine e;
    auto r = e.run(hex("12 01 00 00 ff 00"));
    CHECK(to_hex(r.data) == "00 00 00 06 00 80 83 b0 b1 b2");
}

TEST_CASE("VPD 0x80 unit serial number", "[engine][vpd]") {
    Engine e;
    auto r = e.run(hex("12 01 80 00 ff 00"));
    CHECK(to_hex(std::span(r.data).first(4)) == "00 80 00 0c");
    CHECK(std::string(r.data.begin() + 4, r.data.end()) == "TESTSERIAL01");
}

TEST_CASE("VPD 0x83 carries an NAA designator and a T10 vendor designator", "[engine][vpd]") {
    Engine e;
    auto r = e.run(hex("12 01 83 00 ff 00"));
    REQUIRE(r.status == Status::good);
    CHECK(to_hex(std::span(r.data).first(8)) == "00 83 00 24 01 03 00 08");
    CHECK((r.data[8] >> 4) == 3);  // NAA 3, locally assigned
    CHECK(srp::wire::load_be<std::uint64_t>(r.data, 8) == e.unit->naa_identifier());
    CHECK(to_hex(std::span(r.data).subspan(16, 4)) == "02 01 00 14");
    CHECK(std::string(r.data.begin() + 20, r.data.end()) == "SRPTGT  TESTSERIAL01");
}

TEST_CASE("VPD 0xB0 block limits", "[engine][vpd]") {
    Engine e;
    auto r = e.run(hex("12 01 b0 00 ff 00"));
    REQUIRE(r.data.size() == 64);
    CHECK(to_hex(std::span(r.data).first(8)) == "00 b0 00 3c 01 01 00 01");
    CHECK(srp::wire::load_be<std::uint32_t>(r.data, 8) == (8u << 20) / 512);
    CHECK(srp::wire::load_be<std::uint32_t>(r.data, 20) == 0xffffffffu);
    CHECK(srp::wire::load_be<std::uint32_t>(r.data, 24) == 256);
    CHECK(srp::wire::load_be<std::uint32_t>(r.data, 28) == 8);
    CHECK(srp::wire::load_be<std::uint64_t>(r.data, 36) == (64u << 20) / 512);
}

TEST_CASE("VPD 0xB1 reports a non-rotating medium", "[engine][vpd]") {
    Engine e;
    auto r = e.run(hex("12 01 b1 00 ff 00"));
    CHECK(to_hex(std::span(r.data).first(6)) == "00 b1 00 3c 00 01");
}

TEST_CASE("VPD 0xB2 reports thin provisioning with LBPU - LBPWS - LBPRZ", "[engine][vpd]") {
    Engine e;
    auto r = e.run(hex("12 01 b2 00 ff 00"));
    CHECK(to_hex(r.data) == "00 b2 00 04 00 e4 02 00");
}

TEST_CASE("VPD 0xB2 of a read-only LUN reports no provisioning", "[engine][vpd]") {
    Engine e(512, 64, true);
    auto r = e.run(hex("12 01 b2 00 ff 00"));
    CHECK(to_hex(r.data) == "00 b2 00 04 00 00 00 00");
}

TEST_CASE("an unsupported VPD page is an invalid field at byte 2", "[engine][vpd]") {
    Engine e;
    auto r = e.run(hex("12 01 86 00 ff 00"));
    CHECK_SENSE(r, illegal_request, invalid_field_in_cdb);
    CHECK(srp::wire::load_be<std::uint16_t>(r.sense, 16) == 2);
}

TEST_CASE("READ CAPACITY (10)", "[engine][capacity]") {
    Engine e;
    auto r = e.run(hex("25 00 00 00 00 00 00 00 00 00"));
    CHECK(to_hex(r.data) == "00 00 07 ff 00 00 02 00");
}

TEST_CASE("READ CAPACITY (10) with an LBA but no PMI is invalid", "[engine][capacity]") {
    Engine e;
    auto r = e.run(hex("25 00 00 00 00 01 00 00 00 00"));
    CHECK_SENSE(r, illegal_request, invalid_field_in_cdb);
}

TEST_CASE("READ CAPACITY (16) with 512-byte blocks", "[engine][capacity]") {
    Engine e;
    auto r = e.run(hex("9e 10 00 00 00 00 00 00 00 00 00 00 00 20 00 00"));
    CHECK(to_hex(r.data) ==
          "00 00 00 00 00 00 07 ff 00 00 02 00 00 03 c0 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00");
}

TEST_CASE("READ CAPACITY (16) with 4096-byte blocks", "[engine][capacity]") {
    Engine e(4096, 256);
    auto r = e.run(hex("9e 10 00 00 00 00 00 00 00 00 00 00 00 0c 00 00"));
    CHECK(to_hex(r.data) == "00 00 00 00 00 00 00 ff 00 00 10 00");
}

TEST_CASE("SERVICE ACTION IN (16) with an unknown action", "[engine][capacity]") {
    Engine e;
    auto r = e.run(hex("9e 13 00 00 00 00 00 00 00 00 00 00 00 20 00 00"));  // REPORT REFERRALS
    CHECK_SENSE(r, illegal_request, invalid_field_in_cdb);
    CHECK(to_hex(std::span(r.sense).subspan(15, 3)) == "cc 00 01");
}

TEST_CASE("REPORT LUNS lists LUN 0", "[engine][luns]") {
    Engine e;
    auto r = e.run(hex("a0 00 00 00 00 00 00 00 01 00 00 00"));
    CHECK(to_hex(r.data) == "00 00 00 08 00 00 00 00 00 00 00 00 00 00 00 00");
}

TEST_CASE("REPORT LUNS with several LUNs - flat addressing above 255", "[engine][luns]") {
    Engine e;
    srp::test::TempDir d;
    auto extra = std::make_shared<srp::target::LogicalUnit>(
        std::make_unique<srp::target::Backstore>(srp::target::BackstoreConfig{d.file("x"), 4096, false}),
        srp::target::LogicalUnitConfig{});
    e.target.add_lun(300, extra);
    auto r = e.run(hex("a0 00 00 00 00 00 00 00 01 00 00 00"));
    CHECK(to_hex(r.data) == "00 00 00 10 00 00 00 00 00 00 00 00 00 00 00 00 41 2c 00 00 00 00 00 00");
}

TEST_CASE("REPORT LUNS with an allocation length below 16", "[engine][luns]") {
    Engine e;
    auto r = e.run(hex("a0 00 00 00 00 00 00 00 00 08 00 00"));
    CHECK_SENSE(r, illegal_request, invalid_field_in_cdb);
}

TEST_CASE("REPORT LUNS is answered through a LUN that does not exist", "[engine][luns]") {
    Engine e;
    auto r = e.run(hex("a0 00 00 00 00 00 00 00 01 00 00 00"), {}, Engine::kNexus, {}, 7);
    CHECK(r.status == Status::good);
    CHECK(r.data.size() == 16);
}

TEST_CASE("INQUIRY to a missing LUN returns peripheral qualifier 3", "[engine][luns]") {
    Engine e;
    auto r = e.run(hex("12 00 00 00 24 00"), {}, Engine::kNexus, {}, 9);
    CHECK(r.status == Status::good);
    CHECK(r.data[0] == 0x7f);
}

TEST_CASE("other commands to a missing LUN: LOGICAL UNIT NOT SUPPORTED", "[engine][luns]") {
    Engine e;
    auto r = e.run(hex("00 00 00 00 00 00"), {}, Engine::kNexus, {}, 9);
    CHECK_SENSE(r, illegal_request, logical_unit_not_supported);
    auto undecodable = e.run(hex("00 00 00 00 00 00"), {}, Engine::kNexus, {}, std::nullopt);
    CHECK_SENSE(undecodable, illegal_request, logical_unit_not_supported);
}

TEST_CASE("REQUEST SENSE to a missing LUN reports LOGICAL UNIT NOT SUPPORTED in the data", "[engine][luns]") {
    Engine e;
    auto r = e.run(hex("03 00 00 00 12 00"), {}, Engine::kNexus, {}, 9);
    CHECK(r.status == Status::good);
    CHECK(r.data[2] == 0x05);
    CHECK(r.data[12] == 0x25);
}
