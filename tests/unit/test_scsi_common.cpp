// Sense data builder/decoder, CDB field decoding, LUN encoding.
#include <catch2/catch.hpp>

#include "common/scsi/cdb.h"
#include "common/scsi/sense.h"
#include "tests/unit/hex.h"

using namespace srp::scsi;
using srp::test::hex;
using srp::test::to_hex;

TEST_CASE("fixed sense: key and ASC/ASCQ only", "[scsi][sense]") {
    auto s = SenseBuilder{SenseKey::illegal_request, Asc::invalid_command_operation_code, {}, {}}.build();
    CHECK(to_hex(s) == "70 00 05 00 00 00 00 0a 00 00 00 00 20 00 00 00 00 00");
}

TEST_CASE("fixed sense: field pointer into the CDB with a bit pointer", "[scsi][sense]") {
    auto s = SenseBuilder{SenseKey::illegal_request, Asc::invalid_field_in_cdb, FieldPointer{true, 2, 5}, {}}.build();
    CHECK(to_hex(s) == "70 00 05 00 00 00 00 0a 00 00 00 00 24 00 00 cd 00 02");
}

TEST_CASE("fixed sense: field pointer into the parameter list without a bit", "[scsi][sense]") {
    auto s = SenseBuilder{SenseKey::illegal_request, Asc::invalid_field_in_parameter_list, FieldPointer{false, 0x123, {}}, {}}.build();
    CHECK(to_hex(s) == "70 00 05 00 00 00 00 0a 00 00 00 00 26 00 00 80 01 23");
}

TEST_CASE("fixed sense: information field sets VALID", "[scsi][sense]") {
    auto s = SenseBuilder{SenseKey::miscompare, Asc::miscompare_during_verify, {}, 0x01020304u}.build();
    CHECK(to_hex(s) == "f0 00 0e 01 02 03 04 0a 00 00 00 00 1d 00 00 00 00 00");
}

TEST_CASE("decode fixed and descriptor sense", "[scsi][sense]") {
    auto fixed = decode_sense(hex("f0 00 0e 00 00 00 10 0a 00 00 00 00 1d 00 00 00 00 00"));
    REQUIRE(fixed.has_value());
    CHECK(fixed->key == SenseKey::miscompare);
    CHECK(fixed->asc_ascq() == 0x1d00);
    CHECK(fixed->information == 16u);
    CHECK(fixed->describe() == "MISCOMPARE: MISCOMPARE DURING VERIFY OPERATION (0x1d/0x00)");
    auto desc = decode_sense(hex("72 06 29 00 00 00 00 00"));
    REQUIRE(desc.has_value());
    CHECK(desc->key == SenseKey::unit_attention);
    CHECK(desc->asc == 0x29);
    CHECK_FALSE(decode_sense(hex("70 00 05")).has_value());
    CHECK_FALSE(decode_sense(hex("00 00 00 00")).has_value());
}

TEST_CASE("CDB length from the group code", "[scsi][cdb]") {
    CHECK(cdb_length_for_opcode(0x08) == 6);
    CHECK(cdb_length_for_opcode(0x28) == 10);
    CHECK(cdb_length_for_opcode(0x5a) == 10);
    CHECK(cdb_length_for_opcode(0x88) == 16);
    CHECK(cdb_length_for_opcode(0xa8) == 12);
    CHECK(cdb_length_for_opcode(0x7f) == 0);
    CHECK(cdb_length_for_opcode(0xc0) == 0);
}

TEST_CASE("decode LBA ranges of 6 - 10 - 12 and 16 byte CDBs", "[scsi][cdb]") {
    auto r6 = decode_lba_range(hex("08 1f ff ff 00 00"));
    CHECK(r6->lba == 0x1fffff);
    CHECK(r6->blocks == 256);  // 0 means 256 for READ(6)
    auto r10 = decode_lba_range(hex("28 00 01 02 03 04 00 00 08 00"));
    CHECK(r10->lba == 0x01020304);
    CHECK(r10->blocks == 8);
    auto r12 = decode_lba_range(hex("a8 00 00 00 00 10 00 01 00 00 00 00"));
    CHECK(r12->lba == 16);
    CHECK(r12->blocks == 0x10000);
    auto r16 = decode_lba_range(hex("88 08 00 00 00 01 00 00 00 00 00 00 00 20 00 00"));
    CHECK(r16->lba == 0x100000000ull);
    CHECK(r16->blocks == 32);
    CHECK(fua_bit(hex("88 08 00 00 00 01 00 00 00 00 00 00 00 20 00 00")));
    auto caw = decode_lba_range(hex("89 00 00 00 00 00 00 00 00 07 00 00 00 01 00 00"));
    CHECK(caw->lba == 7);
    CHECK(caw->blocks == 1);
    CHECK_FALSE(decode_lba_range(hex("28 00 00")).has_value());
}

TEST_CASE("allocation lengths by command", "[scsi][cdb]") {
    CHECK(allocation_length(hex("12 00 00 01 02 00")) == 0x0102);
    CHECK(allocation_length(hex("1a 00 3f 00 fc 00")) == 0xfc);
    CHECK(allocation_length(hex("a0 00 00 00 00 00 00 00 10 00 00 00")) == 0x1000);
    CHECK(allocation_length(hex("9e 10 00 00 00 00 00 00 00 00 00 00 00 20 00 00")) == 32);
}

TEST_CASE("LUN encoding: peripheral below 256 - flat above", "[scsi][lun]") {
    CHECK(to_hex(encode_lun(0)) == "00 00 00 00 00 00 00 00");
    CHECK(to_hex(encode_lun(5)) == "00 05 00 00 00 00 00 00");
    CHECK(to_hex(encode_lun(300)) == "41 2c 00 00 00 00 00 00");
    CHECK(decode_lun(encode_lun(300)) == 300);
    CHECK(decode_lun(encode_lun(255)) == 255);
    CHECK_FALSE(decode_lun(LunBytes{0x00, 0x01, 0x00, 0x01, 0, 0, 0, 0}).has_value());  // second level
    CHECK_FALSE(decode_lun(LunBytes{0x81, 0x00, 0, 0, 0, 0, 0, 0}).has_value());        // logical unit addressing
    CHECK_FALSE(decode_lun(LunBytes{0x05, 0x00, 0, 0, 0, 0, 0, 0}).has_value());        // bus 5
}

TEST_CASE("CDB builders", "[scsi][cdb]") {
    CHECK(to_hex(make_rw16(0x8a, 0x10, 8, true)) == "8a 08 00 00 00 00 00 00 00 10 00 00 00 08 00 00");
    CHECK(to_hex(make_rw10(0x28, 0x10, 8)) == "28 00 00 00 00 10 00 00 08 00");
}

TEST_CASE("status - sense key and ASC names", "[scsi]") {
    CHECK(status_name(Status::reservation_conflict) == "RESERVATION CONFLICT");
    CHECK(sense_key_name(SenseKey::data_protect) == "DATA PROTECT");
    CHECK(asc_name(0x2100) == "LOGICAL BLOCK ADDRESS OUT OF RANGE");
    CHECK(asc_name(0x7777) == "unknown additional sense");
}
