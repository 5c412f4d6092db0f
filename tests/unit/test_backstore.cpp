// The backstore: creation, sizes, errors, flush and discard (mapped), kinds and medium operations.
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <fstream>

#include "srp_target/backstore/backstore.h"
#include "tests/unit/temp_dir.h"

using namespace srp::target;
using srp::test::TempDir;

TEST_CASE("a missing file is created sparse at the requested size", "[backstore]") {
    TempDir dir;
    Backstore b(BackstoreConfig{dir.file("lun0"), 64 << 20, false, BackstoreAccess::mapped});
    CHECK(b.size_bytes() == (64u << 20));
    CHECK(b.kind() == BackstoreKind::file);
    struct stat st{};
    REQUIRE(::stat(dir.file("lun0").c_str(), &st) == 0);
    CHECK(st.st_size == (64 << 20));
    CHECK(st.st_blocks * 512 < (1 << 20));  // sparse: nothing allocated yet
}

TEST_CASE("writes through the mapping reach the file after flush", "[backstore]") {
    TempDir dir;
    {
        Backstore b(BackstoreConfig{dir.file("lun0"), 1 << 20, false, BackstoreAccess::mapped});
        b.bytes()[4096] = 0x5a;
        REQUIRE(b.flush(4096, 512).has_value());
    }
    std::ifstream in(dir.file("lun0"), std::ios::binary);
    in.seekg(4096);
    CHECK(in.get() == 0x5a);
}

TEST_CASE("an existing file keeps its size when none is given", "[backstore]") {
    TempDir dir;
    { Backstore b(BackstoreConfig{dir.file("lun0"), 8192, false, BackstoreAccess::mapped}); }
    Backstore again(BackstoreConfig{dir.file("lun0"), 0, false, BackstoreAccess::mapped});
    CHECK(again.size_bytes() == 8192);
}

TEST_CASE("a size mismatch with an existing file is a clear error", "[backstore]") {
    TempDir dir;
    { Backstore b(BackstoreConfig{dir.file("lun0"), 8192, false, BackstoreAccess::mapped}); }
    CHECK_THROWS_WITH(Backstore(BackstoreConfig{dir.file("lun0"), 4096, false, BackstoreAccess::mapped}),
                      Catch::Contains("has 8192 bytes but the configured size is 4096"));
}

TEST_CASE("a missing file without a size is a clear error", "[backstore]") {
    TempDir dir;
    CHECK_THROWS_WITH(Backstore(BackstoreConfig{dir.file("nope"), 0, false}),
                      Catch::Contains("does not exist and no size was given"));
}

TEST_CASE("a missing read-only file is not created", "[backstore]") {
    TempDir dir;
    CHECK_THROWS_WITH(Backstore(BackstoreConfig{dir.file("nope"), 4096, true}), Catch::Contains("does not exist"));
}

TEST_CASE("a path in a missing directory names the path", "[backstore]") {
    CHECK_THROWS_WITH(Backstore(BackstoreConfig{"/nonexistent-dir/lun0", 4096, false}),
                      Catch::Contains("/nonexistent-dir/lun0"));
}

TEST_CASE("a character device is refused", "[backstore]") {
    CHECK_THROWS_WITH(Backstore(BackstoreConfig{"/dev/null", 0, false}),
                      Catch::Contains("neither a regular file nor a block device"));
}

TEST_CASE("an empty existing file is refused", "[backstore]") {
    TempDir dir;
    std::ofstream(dir.file("empty")).close();
    CHECK_THROWS_WITH(Backstore(BackstoreConfig{dir.file("empty"), 0, false}), Catch::Contains("is empty"));
}

TEST_CASE("read-only backstores map read-only and refuse discard", "[backstore]") {
    TempDir dir;
    { Backstore b(BackstoreConfig{dir.file("lun0"), 8192, false, BackstoreAccess::mapped}); }
    Backstore ro(BackstoreConfig{dir.file("lun0"), 0, true, BackstoreAccess::mapped});
    CHECK(ro.read_only());
    CHECK_FALSE(ro.discard(0, 4096).has_value());
    CHECK(ro.flush(0, 0).has_value());
}

TEST_CASE("discard punches a hole that reads back as zeros", "[backstore]") {
    TempDir dir;
    Backstore b(BackstoreConfig{dir.file("lun0"), 1 << 20, false, BackstoreAccess::mapped});
    std::fill_n(b.bytes().begin(), 1 << 20, std::uint8_t{0xab});
    REQUIRE(b.flush(0, 0).has_value());
    REQUIRE(b.discard(4096, 8192).has_value());
    CHECK(b.bytes()[4095] == 0xab);
    CHECK(b.bytes()[4096] == 0);
    CHECK(b.bytes()[12287] == 0);
    CHECK(b.bytes()[12288] == 0xab);
    CHECK_FALSE(b.discard(1 << 20, 1).has_value());  // beyond the end
}

TEST_CASE("anonymous memory backstore - discard of partial pages", "[backstore]") {
    Backstore b(BackstoreConfig{"", 1 << 20, false});
    CHECK(b.kind() == BackstoreKind::anonymous);
    std::fill_n(b.bytes().begin(), 1 << 20, std::uint8_t{1});
    REQUIRE(b.discard(100, 10000).has_value());
    CHECK(b.bytes()[99] == 1);
    CHECK(b.bytes()[100] == 0);
    CHECK(b.bytes()[10099] == 0);
    CHECK(b.bytes()[10100] == 1);
    CHECK(b.flush(0, 0).has_value());
}

TEST_CASE("anonymous memory needs a size", "[backstore]") {
    CHECK_THROWS_WITH(Backstore(BackstoreConfig{"", 0, false}), Catch::Contains("needs a size"));
}

TEST_CASE("a pinned backstore refuses to deallocate", "[backstore]") {
    TempDir dir;
    Backstore b(BackstoreConfig{dir.file("lun0"), 1 << 20, false, BackstoreAccess::mapped});
    b.set_pinned(true);
    CHECK_FALSE(b.can_deallocate());
    CHECK_FALSE(b.discard(0, 4096).has_value());
}

TEST_CASE("mark_written keeps the data and makes it reach the file on flush", "[backstore]") {
    TempDir dir;
    Backstore b(BackstoreConfig{dir.file("lun0"), 1 << 20, false, BackstoreAccess::mapped});
    for (std::size_t i = 0; i < 3 * 4096; ++i) b.bytes()[8192 + i] = static_cast<std::uint8_t>(i);
    b.mark_written(8192, 3 * 4096);
    CHECK(b.bytes()[8192 + 5] == 5);
    REQUIRE(b.flush(8192, 3 * 4096).has_value());
    std::ifstream in(dir.file("lun0"), std::ios::binary);
    in.seekg(8192 + 4096 + 7);
    CHECK(in.get() == static_cast<int>(static_cast<std::uint8_t>(4096 + 7)));
}

TEST_CASE("provisioning_status follows the file's holes and data", "[backstore]") {
    TempDir dir;
    Backstore b(BackstoreConfig{dir.file("lun0"), 1 << 20, false, BackstoreAccess::mapped});
    auto all = b.provisioning_status(0);
    CHECK(!all.mapped);
    CHECK(all.length_bytes == (1u << 20));
    b.bytes()[8192] = 1;  // page 2 becomes data
    auto hole = b.provisioning_status(0);
    CHECK(!hole.mapped);
    CHECK(hole.length_bytes == 8192);
    auto data = b.provisioning_status(8192 + 100);
    CHECK(data.mapped);
    CHECK(data.length_bytes == 4096 - 100);
    auto tail = b.provisioning_status(12288);
    CHECK(!tail.mapped);
    CHECK(tail.length_bytes == (1u << 20) - 12288);
    CHECK(b.provisioning_status(1 << 20).length_bytes == 0);
    REQUIRE(b.discard(8192, 4096).has_value());
    CHECK(b.provisioning_status(0).length_bytes == (1u << 20));
}

TEST_CASE("provisioning_status of anonymous memory is one mapped-or-unknown extent", "[backstore]") {
    Backstore b(BackstoreConfig{"", 1 << 20, false});
    auto e = b.provisioning_status(4096);
    CHECK(e.mapped);
    CHECK(e.length_bytes == (1u << 20) - 4096);
    b.prefetch(0, 1 << 20);  // a no-op hint, must not fault
}

TEST_CASE("prefetch of a file range is a hint that tolerates any range", "[backstore]") {
    TempDir dir;
    Backstore b(BackstoreConfig{dir.file("lun0"), 1 << 20, false, BackstoreAccess::mapped});
    b.prefetch(0, 1 << 20);
    b.prefetch(4095, ~std::uint64_t{0});  // clamped to the end
    b.prefetch(2 << 20, 4096);            // past the end: ignored
    CHECK(b.bytes()[0] == 0);
}
