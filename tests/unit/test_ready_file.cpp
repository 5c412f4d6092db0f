// ReadyFile: created with the process id, touched, removed; a path that
// cannot be created fails at construction with the path in the message.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>

#include "srp_target/service/ready_file.h"
#include "tests/unit/temp_dir.h"

using srp::target::ReadyFile;
using srp::test::TempDir;

namespace {
timespec mtime(const std::string& path) {
    struct stat st {};
    REQUIRE(::stat(path.c_str(), &st) == 0);
    return st.st_mtim;
}
}  // namespace

TEST_CASE("ReadyFile holds the pid, is touched, and is removed with its owner") {
    TempDir dir;
    const auto path = dir.file("ready");
    {
        ReadyFile ready(path);
        std::ifstream in(path);
        std::string pid;
        in >> pid;
        CHECK(pid == std::to_string(::getpid()));
        CHECK_FALSE(std::filesystem::exists(path + ".tmp"));
        // Set an old time, then touch() must bring it back to now.
        const timespec old[2] = {{1000, 0}, {1000, 0}};
        REQUIRE(::utimensat(AT_FDCWD, path.c_str(), old, 0) == 0);
        REQUIRE(mtime(path).tv_sec == 1000);
        CHECK(ready.touch());
        CHECK(mtime(path).tv_sec > 1000);
        // Deleted behind its back: touch() reports it instead of recreating it.
        std::filesystem::remove(path);
        CHECK_FALSE(ready.touch());
    }
    CHECK_FALSE(std::filesystem::exists(path));
    {
        ReadyFile ready(path);
        CHECK(std::filesystem::exists(path));
    }
    CHECK_FALSE(std::filesystem::exists(path));
}

TEST_CASE("ReadyFile in a missing directory throws naming the path") {
    TempDir dir;
    const auto path = dir.file("no-such-dir/ready");
    try {
        ReadyFile ready(path);
        FAIL("no exception");
    } catch (const std::system_error& e) {
        CHECK(std::string(e.what()).find(path) != std::string::npos);
        CHECK(e.code().value() == ENOENT);
    }
}
