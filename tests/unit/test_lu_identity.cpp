// Logical unit identity: persistent UUIDs in the state directory, the
// serial/NAA/UUID designators derived from them, and refused duplicates.
#include <catch2/catch.hpp>
#include <sys/resource.h>
#include <unistd.h>

#include <csignal>

#include <filesystem>
#include <fstream>

#include "common/wire/big_endian.h"
#include "srp_target/service/logical_units.h"
#include "srp_target/service/lu_identity.h"
#include "tests/unit/hex.h"
#include "tests/unit/temp_dir.h"

using namespace srp::target;
using srp::test::hex;
using srp::test::TempDir;
using srp::test::to_hex;

namespace {

TargetConfig config_with(const TempDir& dir, std::vector<std::string> luns, std::string state = "state") {
    TargetConfig c;
    c.state_dir = dir.file(state);
    std::uint16_t next = 0;
    for (const auto& text : luns) {
        c.luns.push_back(parse_lun(text, next));
        next = static_cast<std::uint16_t>(c.luns.back().number + 1);
    }
    return c;
}

std::vector<std::uint8_t> inquiry(LogicalUnit& unit, std::uint8_t page) {
    const std::vector<std::uint8_t> cdb{0x12, 0x01, page, 0x00, 0xff, 0x00};
    auto task = unit.submit(1, cdb, 0);
    REQUIRE(task.status() == srp::scsi::Status::good);
    return {task.data_in().begin(), task.data_in().end()};
}

std::string file_text(const std::filesystem::path& path) {
    std::ifstream in(path);
    return {std::istreambuf_iterator<char>(in), {}};
}

const LuUuid kUuid{0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x46, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff};

}  // namespace

TEST_CASE("identity: two anonymous LUNs get different serials, NAAs and UUIDs", "[identity]") {
    TempDir dir;
    auto luns = build_logical_units(config_with(dir, {"path=anonymous,size=1M", "path=anonymous,size=1M"}));
    REQUIRE(luns.size() == 2);
    const auto& a = *luns[0].unit;
    const auto& b = *luns[1].unit;
    CHECK(a.config().serial.size() == 32);
    CHECK(a.config().serial != b.config().serial);
    CHECK(a.naa_identifier() != b.naa_identifier());
    CHECK((a.naa_identifier() >> 60) == 3);
    CHECK(*a.config().uuid != *b.config().uuid);
    CHECK(inquiry(*luns[0].unit, 0x83) != inquiry(*luns[1].unit, 0x83));
}

TEST_CASE("identity: a restart on the same state directory keeps every identity", "[identity]") {
    TempDir dir;
    const auto config = config_with(dir, {"path=anonymous,size=1M", "path=" + dir.file("a.img") + ",size=1M"});
    auto first = build_logical_units(config);
    auto second = build_logical_units(config);  // a new store object reading the same files
    for (std::size_t i = 0; i < 2; ++i) {
        CHECK(first[i].unit->config().serial == second[i].unit->config().serial);
        CHECK(first[i].unit->naa_identifier() == second[i].unit->naa_identifier());
        CHECK(*first[i].unit->config().uuid == *second[i].unit->config().uuid);
    }
    // One small file per LU, named after its key, holding the UUID then the key.
    const auto canonical = std::filesystem::canonical(dir.file("a.img")).string();
    const auto file = dir.path() / "state" / "lu-identity" / LuIdentityStore::file_name(canonical);
    CHECK(file_text(file) == format_uuid(*first[1].unit->config().uuid) + "\n" + canonical + "\n");
    CHECK(file_text(dir.path() / "state" / "lu-identity" / "anonymous-lun-0.uuid").substr(37) == "anonymous-lun-0\n");
}

TEST_CASE("identity: another state directory (another host) gives the same path another identity", "[identity]") {
    TempDir dir;
    const std::string lun = "path=" + dir.file("a.img") + ",size=1M";
    auto host1 = build_logical_units(config_with(dir, {lun}, "host1"));
    auto host2 = build_logical_units(config_with(dir, {lun}, "host2"));
    CHECK(host1[0].unit->naa_identifier() != host2[0].unit->naa_identifier());
    CHECK(host1[0].unit->config().serial != host2[0].unit->config().serial);
}

TEST_CASE("identity: an explicit serial wins for VPD 0x80; the NAA still follows the UUID", "[identity]") {
    TempDir dir;
    auto luns = build_logical_units(config_with(dir, {"path=anonymous,size=1M,serial=SAME1", "path=anonymous,size=1M,serial=SAME2"}));
    CHECK(luns[0].unit->config().serial == "SAME1");
    CHECK(to_hex(inquiry(*luns[0].unit, 0x80)) == "00 80 00 05 53 41 4d 45 31");
    CHECK(luns[0].unit->naa_identifier() != luns[1].unit->naa_identifier());
}

TEST_CASE("identity: VPD 0x83 golden layout - NAA 3 from the UUID, T10 vendor ID, UUID designator", "[identity][vpd]") {
    TempDir dir;
    LogicalUnitConfig config;
    config.serial = "S1";
    config.uuid = kUuid;
    LogicalUnit unit(std::make_unique<Backstore>(BackstoreConfig{"", 1 << 20, false}), config);
    CHECK(unit.naa_identifier() == 0x3001122334455677ull);
    CHECK(to_hex(inquiry(unit, 0x83)) ==
          "00 83 00 30 "
          "01 03 00 08 30 01 12 23 34 45 56 77 "
          "02 01 00 0a 53 52 50 54 47 54 20 20 53 31 "
          "01 0a 00 12 10 00 00 11 22 33 44 55 46 77 88 99 aa bb cc dd ee ff");
    LogicalUnitConfig no_serial;
    no_serial.uuid = kUuid;
    LogicalUnit derived(std::make_unique<Backstore>(BackstoreConfig{"", 1 << 20, false}), no_serial);
    CHECK(derived.config().serial == "00112233445546778899aabbccddeeff");
    CHECK(to_hex(inquiry(derived, 0x80)).substr(0, 11) == "00 80 00 20");
}

TEST_CASE("identity: the same backstore exported twice is refused", "[identity]") {
    TempDir dir;
    const std::string a = dir.file("a.img");
    CHECK_THROWS_WITH(build_logical_units(config_with(dir, {"path=" + a + ",size=1M", "path=" + a})),
                      Catch::Contains("--lun path=") && Catch::Contains("LUN 0 and LUN 1") &&
                          Catch::Contains("same backstore"));
    // Through another spelling and through a hard link.
    const std::string other_spelling = dir.path().string() + "/./a.img";
    CHECK_THROWS_WITH(build_logical_units(config_with(dir, {"path=" + a, "path=" + other_spelling})),
                      Catch::Contains("same backstore"));
    REQUIRE(::link(a.c_str(), dir.file("b.img").c_str()) == 0);
    CHECK_THROWS_WITH(build_logical_units(config_with(dir, {"path=" + a, "path=" + dir.file("b.img")})),
                      Catch::Contains("same backstore"));
}

TEST_CASE("identity: two LUNs with the same serial are refused", "[identity]") {
    TempDir dir;
    CHECK_THROWS_WITH(
        build_logical_units(config_with(dir, {"path=anonymous,size=1M,serial=X", "path=anonymous,size=1M,serial=X"})),
        Catch::Contains("--lun serial=") && Catch::Contains("'X'"));
}

TEST_CASE("identity: two LUNs with the same NAA (a copied identity file) are refused", "[identity]") {
    TempDir dir;
    const auto config = config_with(dir, {"path=anonymous,size=1M,serial=A", "path=anonymous,size=1M,serial=B"});
    build_logical_units(config);
    const auto ids = dir.path() / "state" / "lu-identity";
    std::filesystem::copy_file(ids / "anonymous-lun-0.uuid", ids / "anonymous-lun-1.uuid",
                               std::filesystem::copy_options::overwrite_existing);
    CHECK_THROWS_WITH(build_logical_units(config), Catch::Contains("same NAA") && Catch::Contains("--state-dir"));
}

TEST_CASE("identity: a state directory that cannot be created names --state-dir", "[identity]") {
    TempDir dir;
    std::ofstream(dir.file("plain-file")) << "x";
    CHECK_THROWS_WITH(LuIdentityStore(dir.path() / "plain-file" / "state"),
                      Catch::Contains("--state-dir") && Catch::Contains("cannot create"));
    auto config = config_with(dir, {"path=anonymous,size=1M"});
    config.state_dir = dir.file("plain-file");  // exists, but is not a directory
    CHECK_THROWS_WITH(build_logical_units(config), Catch::Contains("--state-dir"));
}

TEST_CASE("identity: a state directory that cannot be written names --state-dir", "[identity]") {
    TempDir dir;
    LuIdentityStore store(dir.path() / "state");
    // Permissions do not stop root (the tests may run as root); a file size
    // limit of 0 makes every write fail with EFBIG for anyone.
    rlimit saved{};
    REQUIRE(::getrlimit(RLIMIT_FSIZE, &saved) == 0);
    auto* previous = std::signal(SIGXFSZ, SIG_IGN);
    rlimit none = saved;
    none.rlim_cur = 0;
    REQUIRE(::setrlimit(RLIMIT_FSIZE, &none) == 0);
    std::string message;
    try {
        store.identity("k");
    } catch (const ConfigError& e) {
        message = e.what();
    }
    ::setrlimit(RLIMIT_FSIZE, &saved);
    std::signal(SIGXFSZ, previous);
    CHECK_THAT(message, Catch::Contains("--state-dir") && Catch::Contains("cannot write"));
    CHECK(std::distance(std::filesystem::directory_iterator(store.directory()), {}) == 0);  // no debris
    CHECK(store.identity("k") != LuUuid{});  // works again once writable
}

TEST_CASE("identity: a damaged identity file is not silently replaced", "[identity]") {
    TempDir dir;
    LuIdentityStore store(dir.path() / "state");
    std::ofstream(store.directory() / LuIdentityStore::file_name("k")) << "not a uuid\n";
    CHECK_THROWS_WITH(store.identity("k"), Catch::Contains("--state-dir") && Catch::Contains("does not hold a UUID"));
}

TEST_CASE("identity: file names escape the key and stay short", "[identity]") {
    CHECK(LuIdentityStore::file_name("/var/lib/a b_c.img") == "_2fvar_2flib_2fa_20b_5fc.img.uuid");
    CHECK(LuIdentityStore::file_name("anonymous-lun-7") == "anonymous-lun-7.uuid");
    const std::string long_a = "/" + std::string(300, 'a'), long_b = "/" + std::string(299, 'a') + "b";
    CHECK(LuIdentityStore::file_name(long_a).size() <= 205);
    CHECK(LuIdentityStore::file_name(long_a) != LuIdentityStore::file_name(long_b));
}

TEST_CASE("identity: the store hands out the same UUID for a key, a new one per key", "[identity]") {
    TempDir dir;
    LuIdentityStore store(dir.path() / "s");
    const auto a = store.identity("one");
    CHECK(store.identity("one") == a);
    CHECK(LuIdentityStore(dir.path() / "s").identity("one") == a);
    CHECK(store.identity("two") != a);
    CHECK((a[6] >> 4) == 4);      // version 4: random
    CHECK((a[8] & 0xc0) == 0x80);  // RFC 4122 variant
}

TEST_CASE("identity: a state directory that disappears, or an empty one, names --state-dir", "[identity]") {
    TempDir dir;
    LuIdentityStore store(dir.path() / "state");
    std::filesystem::remove_all(dir.path() / "state");
    CHECK_THROWS_WITH(store.identity("k"), Catch::Contains("--state-dir") && Catch::Contains("cannot write in"));
    CHECK_THROWS_WITH(LuIdentityStore(""), Catch::Contains("--state-dir: empty path"));
}
