// REPORT SUPPORTED OPERATION CODES (SPC-4 6.35): the one-command formats
// with golden CDB usage data, the all-commands format, and that the report
// matches what the engine actually executes.
#include <set>
#include <utility>

#include "common/scsi/cdb.h"
#include "tests/unit/engine_fixture.h"

using namespace srp::test;
using srp::scsi::Status;

namespace {

// MAINTENANCE IN / REPORT SUPPORTED OPERATION CODES with allocation length 0x400.
std::vector<std::uint8_t> rsoc(std::uint8_t options, std::uint8_t opcode = 0, std::uint16_t sa = 0) {
    return {0xa3, 0x0c, options, opcode, static_cast<std::uint8_t>(sa >> 8), static_cast<std::uint8_t>(sa), 0, 0, 0x04, 0x00, 0, 0};
}

// Golden sense: ILLEGAL REQUEST, INVALID FIELD IN CDB, field pointer byte 2 bit 2 (REPORTING OPTIONS).
constexpr const char* kBadReportingOptions = "70 00 05 00 00 00 00 0a 00 00 00 00 24 00 00 ca 00 02";

// (opcode, service action or -1) of every descriptor in all_commands data.
std::set<std::pair<int, int>> listed(const std::vector<std::uint8_t>& data, std::size_t each) {
    std::set<std::pair<int, int>> out;
    for (std::size_t at = 4; at + each <= data.size(); at += each)
        out.insert({data[at], (data[at + 5] & 1) ? srp::wire::load_be<std::uint16_t>(data, at + 2) : -1});
    return out;
}

}  // namespace

TEST_CASE("RSOC one command: golden CDB usage data", "[engine][rsoc]") {
    Engine e;
    CHECK(to_hex(e.run(rsoc(1, 0x28)).data) == "00 03 00 0a 28 e0 ff ff ff ff 00 ff ff 04");
    CHECK(to_hex(e.run(rsoc(1, 0x2a)).data) == "00 03 00 0a 2a e8 ff ff ff ff 00 ff ff 04");
    CHECK(to_hex(e.run(rsoc(1, 0x12)).data) == "00 03 00 06 12 03 ff ff ff 04");
    CHECK(to_hex(e.run(rsoc(1, 0x1b)).data) == "00 03 00 06 1b 00 00 00 f3 04");
    CHECK(to_hex(e.run(rsoc(1, 0x2f)).data) == "00 03 00 0a 2f e6 ff ff ff ff 00 ff ff 04");
    CHECK(to_hex(e.run(rsoc(1, 0x34)).data) == "00 03 00 0a 34 00 ff ff ff ff 00 ff ff 04");
    CHECK(to_hex(e.run(rsoc(1, 0x89)).data) ==
          "00 03 00 10 89 e8 ff ff ff ff ff ff ff ff 00 00 00 ff 00 04");
    CHECK(to_hex(e.run(rsoc(1, 0x90)).data) ==
          "00 03 00 10 90 00 ff ff ff ff ff ff ff ff ff ff ff ff 00 04");
    CHECK(to_hex(e.run(rsoc(1, 0xaf)).data) == "00 03 00 0c af e6 ff ff ff ff ff ff ff ff 00 04");
    CHECK(to_hex(e.run(rsoc(1, 0xae)).data) == "00 03 00 0c ae e0 ff ff ff ff ff ff ff ff 00 04");
    CHECK(to_hex(e.run(rsoc(1, 0xa0)).data) == "00 03 00 0c a0 00 ff 00 00 00 ff ff ff ff 00 04");
}

TEST_CASE("RSOC one command: REQUESTED SERVICE ACTION is ignored for option 001b", "[engine][rsoc]") {
    Engine e;
    CHECK(to_hex(e.run(rsoc(1, 0x28, 0x0107)).data) == "00 03 00 0a 28 e0 ff ff ff ff 00 ff ff 04");
}

TEST_CASE("RSOC one command with a service action: byte 1 carries the service action", "[engine][rsoc]") {
    Engine e;
    CHECK(to_hex(e.run(rsoc(2, 0x9e, 0x12)).data) ==
          "00 03 00 10 9e 12 ff ff ff ff ff ff ff ff ff ff ff ff 00 04");
    CHECK(to_hex(e.run(rsoc(2, 0x9e, 0x10)).data) ==
          "00 03 00 10 9e 10 00 00 00 00 00 00 00 00 ff ff ff ff 00 04");
    CHECK(to_hex(e.run(rsoc(2, 0xa3, 0x0c)).data) == "00 03 00 0c a3 0c 87 ff ff ff ff ff ff ff 00 04");
    CHECK(to_hex(e.run(rsoc(2, 0x5f, 0x01)).data) == "00 03 00 0a 5f 01 ff 00 00 ff ff ff ff 04");  // RESERVE
    CHECK(to_hex(e.run(rsoc(2, 0x5f, 0x03)).data) == "00 03 00 0a 5f 03 00 00 00 ff ff ff ff 04");  // CLEAR
    CHECK(to_hex(e.run(rsoc(2, 0x5e, 0x02)).data) == "00 03 00 0a 5e 02 00 00 00 00 00 ff ff 04");
}

TEST_CASE("RSOC option 011b: with or without a service action", "[engine][rsoc]") {
    Engine e;
    CHECK(to_hex(e.run(rsoc(3, 0x28, 0x0055)).data) == "00 03 00 0a 28 e0 ff ff ff ff 00 ff ff 04");
    CHECK(to_hex(e.run(rsoc(3, 0x9e, 0x12)).data).substr(0, 17) == "00 03 00 10 9e 12");
    CHECK(to_hex(e.run(rsoc(3, 0x9e, 0x11)).data) == "00 01 00 00");  // READ LONG (16) is not supported
}

TEST_CASE("RSOC: unsupported commands report SUPPORT 001b and no usage data", "[engine][rsoc]") {
    Engine e;
    for (int opcode : {0x8b, 0x9c, 0xc5, 0x04})  // ORWRITE, WRITE ATOMIC (16), vendor, FORMAT UNIT
        for (int options : {1, 3}) CHECK(to_hex(e.run(rsoc(static_cast<std::uint8_t>(options), static_cast<std::uint8_t>(opcode))).data) == "00 01 00 00");
    CHECK(to_hex(e.run(rsoc(2, 0x9e, 0x13)).data) == "00 01 00 00");   // REPORT REFERRALS
    CHECK(to_hex(e.run(rsoc(2, 0xa3, 0x05)).data) == "00 01 00 00");   // REPORT IDENTIFYING INFORMATION
    CHECK(to_hex(e.run(rsoc(2, 0x5f, 0x07)).data) == "00 01 00 00");   // REGISTER AND MOVE
    CHECK(to_hex(e.run(rsoc(2, 0x9e, 0x0112)).data) == "00 01 00 00");  // service actions are 5 bits
    CHECK(to_hex(e.run(rsoc(2, 0x7f, 0x0001)).data) == "00 01 00 00");  // variable length: not implemented
}

TEST_CASE("RSOC: reporting option mismatches and reserved options are INVALID FIELD IN CDB", "[engine][rsoc]") {
    Engine e;
    auto sa_opcode_as_plain = e.run(rsoc(1, 0x9e, 0x10));
    CHECK(sa_opcode_as_plain.status == Status::check_condition);
    CHECK(to_hex(sa_opcode_as_plain.sense) == kBadReportingOptions);
    CHECK(to_hex(e.run(rsoc(1, 0x5e)).sense) == kBadReportingOptions);
    auto plain_opcode_with_sa = e.run(rsoc(2, 0x28, 0));
    CHECK(plain_opcode_with_sa.status == Status::check_condition);
    CHECK(to_hex(plain_opcode_with_sa.sense) == kBadReportingOptions);
    for (int options : {4, 5, 6, 7}) {
        auto r = e.run(rsoc(static_cast<std::uint8_t>(options), 0x28));
        CHECK(r.status == Status::check_condition);
        CHECK(to_hex(r.sense) == kBadReportingOptions);
        CHECK(r.data.empty());
    }
}

TEST_CASE("RSOC one command with RCTD appends a command timeouts descriptor", "[engine][rsoc]") {
    Engine e;
    CHECK(to_hex(e.run(rsoc(0x81, 0x28)).data) ==
          "00 83 00 0a 28 e0 ff ff ff ff 00 ff ff 04 00 0a 00 00 00 00 00 00 00 00 00 00");
    CHECK(to_hex(e.run(rsoc(0x81, 0x8b)).data) == "00 01 00 00");  // no descriptor for an unsupported command
}

TEST_CASE("RSOC all commands: descriptors agree with the one-command data", "[engine][rsoc]") {
    Engine e;
    for (bool rctd : {false, true}) {
        auto r = e.run(rsoc(rctd ? 0x80 : 0x00));
        REQUIRE(r.status == Status::good);
        const std::size_t each = rctd ? 20 : 8;
        REQUIRE(srp::wire::load_be<std::uint32_t>(r.data, 0) == r.data.size() - 4);
        REQUIRE((r.data.size() - 4) % each == 0);
        for (std::size_t at = 4; at < r.data.size(); at += each) {
            const std::uint8_t opcode = r.data[at];
            const bool servactv = r.data[at + 5] & 1;
            const std::uint16_t sa = srp::wire::load_be<std::uint16_t>(r.data, at + 2);
            const std::uint16_t length = srp::wire::load_be<std::uint16_t>(r.data, at + 6);
            INFO("opcode " << int(opcode) << " sa " << sa);
            CHECK(length == srp::scsi::cdb_length_for_opcode(opcode));
            CHECK((r.data[at + 5] & 2) == (rctd ? 2 : 0));  // CTDP
            if (rctd) CHECK(to_hex(std::span(r.data).subspan(at + 8, 12)) == "00 0a 00 00 00 00 00 00 00 00 00 00");
            if (!servactv) CHECK(sa == 0);
            auto one = e.run(rsoc(servactv ? 2 : 1, opcode, sa));
            REQUIRE(one.data.size() == 4u + length);
            CHECK(one.data[1] == 0x03);
            CHECK(srp::wire::load_be<std::uint16_t>(one.data, 2) == length);
            CHECK(one.data[4] == opcode);
            if (servactv) CHECK(one.data[5] == sa);
            CHECK(one.data[4 + length - 1] == 0x04);  // CONTROL: NACA evaluated
        }
    }
}

TEST_CASE("RSOC lists exactly the commands the engine executes", "[engine][rsoc]") {
    // An operation code is refused with INVALID COMMAND OPERATION CODE exactly
    // when the all-commands report does not list it; on a thin LUN and on a
    // fully provisioned (pinned) one, where UNMAP does not exist.
    for (bool pinned : {false, true}) {
        Engine e;
        if (pinned) e.unit->backstore().set_pinned(true);
        const auto all = listed(e.run(rsoc(0)).data, 8);
        CHECK(all.count({0x42, -1}) == (pinned ? 0u : 1u));
        std::set<int> opcodes;
        for (const auto& [opcode, sa] : all) opcodes.insert(opcode);
        for (int opcode = 0; opcode < 256; ++opcode) {
            const std::size_t length = srp::scsi::cdb_length_for_opcode(static_cast<std::uint8_t>(opcode));
            std::vector<std::uint8_t> cdb(length ? length : 16, 0);
            cdb[0] = static_cast<std::uint8_t>(opcode);
            auto r = e.run(cdb);
            const bool refused = r.status == Status::check_condition && r.asc() == 0x2000;
            INFO("opcode " << opcode << " pinned " << pinned);
            CHECK(refused == (opcodes.count(opcode) == 0));
            if (refused) CHECK(to_hex(r.sense) == "70 00 05 00 00 00 00 0a 00 00 00 00 20 00 00 c0 00 00");
        }
    }
}

TEST_CASE("RSOC: WRITE SAME evaluates UNMAP only on a thin LUN", "[engine][rsoc]") {
    Engine e;
    CHECK(to_hex(e.run(rsoc(1, 0x41)).data) == "00 03 00 0a 41 f8 ff ff ff ff 00 ff ff 04");
    CHECK(to_hex(e.run(rsoc(1, 0x93)).data) ==
          "00 03 00 10 93 f9 ff ff ff ff ff ff ff ff ff ff ff ff 00 04");
    CHECK(to_hex(e.run(rsoc(1, 0x42)).data) == "00 03 00 0a 42 01 00 00 00 00 00 ff ff 04");
    e.unit->backstore().set_pinned(true);
    CHECK(to_hex(e.run(rsoc(1, 0x41)).data) == "00 03 00 0a 41 f0 ff ff ff ff 00 ff ff 04");
    CHECK(to_hex(e.run(rsoc(1, 0x93)).data) ==
          "00 03 00 10 93 f1 ff ff ff ff ff ff ff ff ff ff ff ff 00 04");
    CHECK(to_hex(e.run(rsoc(1, 0x42)).data) == "00 01 00 00");
    CHECK(to_hex(e.run(rsoc(2, 0x42)).data) == "00 01 00 00");  // not implemented here: no mismatch error
}

TEST_CASE("RSOC data is truncated to the allocation length", "[engine][rsoc]") {
    Engine e;
    auto c = rsoc(1, 0x28);
    c[8] = 0;
    c[9] = 6;
    CHECK(to_hex(e.run(c).data) == "00 03 00 0a 28 e0");
}
