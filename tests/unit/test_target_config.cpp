// srp_target configuration: defaults, LUN syntax, and errors naming the option.
#include <catch2/catch.hpp>
#include <fstream>

#include "srp_target/service/target_config.h"
#include "tests/unit/temp_dir.h"

using namespace srp::target;

namespace {
TargetConfig parse(std::vector<const char*> args) {
    args.insert(args.begin(), "srp_target");
    return parse_target_config(static_cast<int>(args.size()), args.data());
}
}  // namespace

TEST_CASE("config: no arguments serve the default backstore on 0.0.0.0:5555", "[config]") {
    auto c = parse({});
    REQUIRE(c.luns.size() == 1);
    CHECK(c.luns[0].path == kDefaultBackstorePath);
    REQUIRE(c.listen.size() == 1);
    CHECK(c.listen[0].host == "0.0.0.0");
    CHECK(c.listen[0].port == 5555);
    CHECK(c.queue_depth == 128);
    CHECK(c.max_iu_size == 8276);
    CHECK(c.pollers >= 1);
    CHECK(c.state_dir == "/var/lib/srp_target");
}

TEST_CASE("config: --state-dir on the command line and in a config file", "[config]") {
    CHECK(parse({"--state-dir", "/tmp/s"}).state_dir == "/tmp/s");
    srp::test::TempDir dir;
    std::ofstream(dir.file("t.conf")) << "state-dir = /srv/srp-state\n";
    const std::string path = dir.file("t.conf");
    CHECK(parse({"--config", path.c_str()}).state_dir == "/srv/srp-state");
    CHECK_THROWS_WITH(parse({"--state-dir", ""}), Catch::Contains("--state-dir"));
}

TEST_CASE("config: LUN options", "[config]") {
    auto c = parse({"--lun", "path=/tmp/a.img,size=1G,block-size=4096,read-only,serial=S1", "--lun",
                    "path=anonymous,size=64M,lun=5"});
    REQUIRE(c.luns.size() == 2);
    CHECK(c.luns[0].size_bytes == (1ull << 30));
    CHECK(c.luns[0].block_size == 4096);
    CHECK(c.luns[0].read_only);
    CHECK(c.luns[0].serial == "S1");
    CHECK(c.luns[1].path.empty());
    CHECK(c.luns[1].number == 5);
}

TEST_CASE("config: identities, ACLs, listen addresses", "[config]") {
    auto c = parse({"--id-ext", "5054:00ff:fe12:3456", "--ioc-guid", "0x1", "--acl-initiator",
                    "fe80000000000000505400fffe123456", "--acl-address", "10.0.0.1", "--listen", "[::1]:7000"});
    CHECK(*c.id_ext == 0x505400fffe123456ull);
    CHECK(*c.ioc_guid == 1);
    CHECK(c.acl.initiator_port_ids.size() == 1);
    CHECK(c.acl.source_addresses == std::vector<std::string>{"10.0.0.1"});
    CHECK(c.listen[0].host == "::1");
    CHECK(c.listen[0].port == 7000);
}

TEST_CASE("config: a config file uses the same option names", "[config]") {
    srp::test::TempDir dir;
    std::ofstream(dir.file("t.conf")) << "queue-depth = 64\nlun = path=anonymous,size=16M\nlog-level = debug\n";
    const std::string path = dir.file("t.conf");
    auto c = parse({"--config", path.c_str()});
    CHECK(c.queue_depth == 64);
    CHECK(c.luns.at(0).size_bytes == (16u << 20));
    CHECK(c.log_level == "debug");
}

TEST_CASE("config errors name the option", "[config]") {
    CHECK_THROWS_WITH(parse({"--lun", "size=1G"}), Catch::Contains("--lun") && Catch::Contains("no path="));
    CHECK_THROWS_WITH(parse({"--lun", "path=/x,size=12Q"}), Catch::Contains("--lun size"));
    CHECK_THROWS_WITH(parse({"--lun", "path=/x,block-size=1024"}), Catch::Contains("--lun block-size"));
    CHECK_THROWS_WITH(parse({"--lun", "path=/x,colour=red"}), Catch::Contains("unknown key 'colour'"));
    CHECK_THROWS_WITH(parse({"--lun", "path=anonymous"}), Catch::Contains("needs size="));
    CHECK_THROWS_WITH(parse({"--id-ext", "xyz"}), Catch::Contains("--id-ext"));
    CHECK_THROWS_WITH(parse({"--acl-initiator", "1234"}), Catch::Contains("--acl-initiator"));
    CHECK_THROWS_WITH(parse({"--listen", "10.0.0.1"}), Catch::Contains("--listen"));
    CHECK_THROWS_WITH(parse({"--listen", "10.0.0.1:0"}), Catch::Contains("--listen"));
    CHECK_THROWS_WITH(parse({"--queue-depth", "1"}), Catch::Contains("--queue-depth"));
    // 63 x 128 KiB cannot hold the 8 MiB the Block Limits page advertises.
    CHECK_THROWS_WITH(parse({"--bounce-chunks", "63"}), Catch::Contains("--bounce-chunks") && Catch::Contains("64"));
    CHECK_THROWS_WITH(parse({"--immediate-data", "maybe"}), Catch::Contains("--immediate-data"));
    CHECK_THROWS_WITH(parse({"--log-level", "loud"}), Catch::Contains("--log-level"));
    for (const char* bad : {"20", "-21", "low", "5x", ""})
        CHECK_THROWS_WITH(parse({"--poller-nice", bad}), Catch::Contains("--poller-nice") && Catch::Contains("-20..19"));
    CHECK_THROWS_WITH(parse({"--no-such-option"}), Catch::Contains("no-such-option"));
    CHECK_THROWS_WITH(parse({"--config", "/nonexistent.conf"}), Catch::Contains("--config"));
}

TEST_CASE("config: sizes", "[config]") {
    CHECK(parse_size("4096", "x") == 4096);
    CHECK(parse_size("64k", "x") == 65536);
    CHECK(parse_size("2M", "x") == (2u << 20));
    CHECK(parse_size("1T", "x") == (1ull << 40));
}

TEST_CASE("config: io= chooses how a file or block device is reached", "[config]") {
    auto c = parse({"--lun", "path=/tmp/a.img,io=buffered", "--lun", "path=/tmp/b.img,io=direct,lun=1", "--lun",
                    "path=/tmp/c.img,io=mapped,lun=2", "--lun", "path=/tmp/d.img,lun=3"});
    REQUIRE(c.luns.size() == 4);
    CHECK(c.luns[0].access == BackstoreAccess::buffered);
    CHECK(c.luns[1].access == BackstoreAccess::direct);
    CHECK(c.luns[2].access == BackstoreAccess::mapped);
    CHECK(c.luns[3].access == BackstoreAccess::automatic);
    CHECK_THROWS_WITH(parse({"--lun", "path=/tmp/a.img,io=fast"}), Catch::Contains("--lun io"));
}

TEST_CASE("config: --poller-nice takes auto or -20..19; auto is at least 5 on one usable CPU, inherited on more", "[config]") {
    CHECK_FALSE(parse({}).poller_nice.has_value());
    CHECK_FALSE(parse({"--poller-nice", "auto"}).poller_nice.has_value());
    CHECK(parse({"--poller-nice", "7"}).poller_nice == 7);
    CHECK(parse({"--poller-nice", "-20"}).poller_nice == -20);
    CHECK(parse({"--poller-nice", "19"}).poller_nice == 19);
    CHECK(kSharedCpuPollerNice == 5);
    CHECK(auto_poller_nice(1, 0) == 5);
    CHECK(auto_poller_nice(1, -5) == 5);
    CHECK(auto_poller_nice(1, 10) == 10);  // never raises the priority it was started with
    CHECK_FALSE(auto_poller_nice(2, 0).has_value());
    CHECK_FALSE(auto_poller_nice(64, 10).has_value());
}
