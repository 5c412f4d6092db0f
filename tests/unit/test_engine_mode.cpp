// MODE SENSE (6)/(10) and MODE SELECT (6)/(10).
#include "tests/unit/engine_fixture.h"

using namespace srp::test;
using srp::scsi::Status;

namespace {
const char* kCachingWce = "08 12 04 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00";
}

TEST_CASE("MODE SENSE (6) caching page with block descriptor", "[engine][mode]") {
    Engine e;
    auto r = e.run(hex("1a 00 08 00 ff 00"));
    REQUIRE(r.status == Status::good);
    CHECK(to_hex(r.data) == "1f 00 10 08 00 00 08 00 00 00 02 00 " + std::string(kCachingWce));
}

TEST_CASE("MODE SENSE (6) with DBD omits the block descriptor", "[engine][mode]") {
    Engine e;
    auto r = e.run(hex("1a 08 08 00 ff 00"));
    CHECK(to_hex(r.data) == "17 00 10 00 " + std::string(kCachingWce));
}

TEST_CASE("MODE SENSE (10) with LLBAA returns a long block descriptor", "[engine][mode]") {
    Engine e;
    auto r = e.run(hex("5a 10 08 00 00 00 00 00 ff 00"));
    CHECK(to_hex(std::span(r.data).first(24)) ==
          "00 2a 00 10 01 00 00 10 00 00 00 00 00 00 08 00 00 00 00 00 00 00 02 00");
}

TEST_CASE("MODE SENSE (10) all pages in order 01 08 0a 1c", "[engine][mode]") {
    Engine e;
    auto r = e.run(hex("5a 08 3f 00 00 00 00 00 ff 00"));
    REQUIRE(r.status == Status::good);
    CHECK(srp::wire::load_be<std::uint16_t>(r.data, 0) == r.data.size() - 2);
    CHECK(to_hex(std::span(r.data).subspan(8, 4)) == "01 0a c0 00");
    CHECK(r.data[20] == 0x08);
    CHECK(to_hex(std::span(r.data).subspan(40, 12)) == "0a 0a 00 10 00 00 00 00 ff ff 00 00");
    CHECK(to_hex(std::span(r.data).subspan(52, 2)) == "1c 0a");
    CHECK(r.data.size() == 64);
}

TEST_CASE("MODE SENSE changeable values: only WCE", "[engine][mode]") {
    Engine e;
    auto r = e.run(hex("1a 08 48 00 ff 00"));
    CHECK(to_hex(std::span(r.data).subspan(4)) == kCachingWce);
    auto control = e.run(hex("1a 08 4a 00 ff 00"));
    CHECK(to_hex(std::span(control.data).subspan(4)) == "0a 0a 00 00 00 00 00 00 00 00 00 00");
}

TEST_CASE("MODE SENSE default values", "[engine][mode]") {
    Engine e;
    auto r = e.run(hex("1a 08 88 00 ff 00"));
    CHECK(to_hex(std::span(r.data).subspan(4)) == kCachingWce);
}

TEST_CASE("MODE SENSE saved values are not supported", "[engine][mode]") {
    Engine e;
    auto r = e.run(hex("1a 00 c8 00 ff 00"));
    CHECK_SENSE(r, illegal_request, saving_parameters_not_supported);
}

TEST_CASE("MODE SENSE of an unknown page", "[engine][mode]") {
    Engine e;
    auto r = e.run(hex("1a 00 19 00 ff 00"));
    CHECK_SENSE(r, illegal_request, invalid_field_in_cdb);
    CHECK(to_hex(std::span(r.sense).subspan(15, 3)) == "cd 00 02");
}

TEST_CASE("MODE SENSE of an unknown subpage", "[engine][mode]") {
    Engine e;
    CHECK_SENSE(e.run(hex("1a 00 08 01 ff 00")), illegal_request, invalid_field_in_cdb);
    CHECK(e.run(hex("1a 00 3f ff ff 00")).status == Status::good);
}

TEST_CASE("MODE SENSE of a read-only LUN sets WP", "[engine][mode]") {
    Engine e(512, 64, true);
    CHECK(e.run(hex("1a 08 08 00 ff 00")).data[2] == 0x90);
}

TEST_CASE("MODE SELECT (6) clears WCE - writes become write-through", "[engine][mode]") {
    Engine e;
    auto list = hex("00 00 00 00 08 12 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00");
    CHECK(e.run(hex("15 10 00 00 18 00"), list).status == Status::good);
    CHECK_FALSE(e.unit->write_cache_enabled());
    auto r = e.run(hex("1a 08 08 00 ff 00"));
    CHECK(r.data[6] == 0x00);
    auto other = e.run(hex("00 00 00 00 00 00"), {}, Engine::kOtherNexus);
    CHECK_SENSE(other, unit_attention, mode_parameters_changed);
}

TEST_CASE("MODE SELECT (10) sets WCE back", "[engine][mode]") {
    Engine e;
    auto off = hex("00 00 00 00 00 00 00 00 08 12 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00");
    REQUIRE(e.run(hex("55 10 00 00 00 00 00 00 1c 00"), off).status == Status::good);
    auto on = off;
    on[10] = 0x04;
    CHECK(e.run(hex("55 10 00 00 00 00 00 00 1c 00"), on).status == Status::good);
    CHECK(e.unit->write_cache_enabled());
}

TEST_CASE("MODE SELECT changing a non-changeable bit is refused with the byte", "[engine][mode]") {
    Engine e;
    auto list = hex("00 00 00 00 08 12 05 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00");
    auto r = e.run(hex("15 10 00 00 18 00"), list);
    CHECK_SENSE(r, illegal_request, invalid_field_in_parameter_list);
    CHECK(to_hex(std::span(r.sense).subspan(15, 3)) == "80 00 06");
    CHECK(e.unit->write_cache_enabled());
}

TEST_CASE("MODE SELECT with a wrong page length", "[engine][mode]") {
    Engine e;
    auto list = hex("00 00 00 00 08 0a 00 00 00 00 00 00 00 00 00 00");
    auto r = e.run(hex("15 10 00 00 10 00"), list);
    CHECK_SENSE(r, illegal_request, invalid_field_in_parameter_list);
    CHECK(srp::wire::load_be<std::uint16_t>(r.sense, 16) == 5);
}

TEST_CASE("MODE SELECT with a block descriptor that changes the block size", "[engine][mode]") {
    Engine e;
    auto list = hex("00 00 00 08 00 00 00 00 00 00 10 00");
    CHECK_SENSE(e.run(hex("15 10 00 00 0c 00"), list), illegal_request, invalid_field_in_parameter_list);
    auto same = hex("00 00 00 08 00 00 00 00 00 00 02 00");
    CHECK(e.run(hex("15 10 00 00 0c 00"), same).status == Status::good);
}

TEST_CASE("MODE SELECT without PF - or with SP - is invalid", "[engine][mode]") {
    Engine e;
    CHECK_SENSE(e.run(hex("15 00 00 00 18 00")), illegal_request, invalid_field_in_cdb);
    CHECK_SENSE(e.run(hex("15 11 00 00 18 00")), illegal_request, invalid_field_in_cdb);
}

TEST_CASE("MODE SELECT of an unknown page", "[engine][mode]") {
    Engine e;
    auto list = hex("00 00 00 00 19 02 00 00");
    CHECK_SENSE(e.run(hex("15 10 00 00 08 00"), list), illegal_request, invalid_field_in_parameter_list);
}

TEST_CASE("MODE SELECT with a list shorter than the header", "[engine][mode]") {
    Engine e;
    CHECK_SENSE(e.run(hex("55 10 00 00 00 00 00 00 04 00"), hex("00 00 00 00")), illegal_request,
                parameter_list_length_error);
}
