#include "srp_target/service/lu_identity.h"

#include <fcntl.h>
#include <unistd.h>
#include <uuid/uuid.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "srp_target/service/target_config.h"

namespace srp::target {
namespace {

constexpr const char* kSubdirectory = "lu-identity";
constexpr std::size_t kMaxFileNameBytes = 200;  // below NAME_MAX (255) with room for the suffix

[[noreturn]] void fail(const std::filesystem::path& path, const std::string& what, int err) {
    throw ConfigError("--state-dir: " + what + " " + path.string() + ": " + std::strerror(err));
}

std::optional<LuUuid> parse(const std::string& text) {
    uuid_t u;
    if (text.size() != 36 || ::uuid_parse(text.c_str(), u) != 0) return std::nullopt;
    LuUuid out;
    std::memcpy(out.data(), u, out.size());
    return out;
}

// Makes the directory entry of a new file durable.
void sync_directory(const std::filesystem::path& dir) {
    const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) fail(dir, "cannot open", errno);
    const int rc = ::fsync(fd);
    const int err = errno;
    ::close(fd);
    if (rc != 0) fail(dir, "cannot sync", err);
}

}  // namespace

LuIdentityStore::LuIdentityStore(const std::filesystem::path& state_dir) : dir_(state_dir / kSubdirectory) {
    if (state_dir.empty()) throw ConfigError("--state-dir: empty path");
    std::error_code ec;
    std::filesystem::create_directories(dir_, ec);
    if (ec) fail(dir_, "cannot create", ec.value());
}

std::string LuIdentityStore::file_name(const std::string& key) {
    std::string name;
    for (unsigned char c : key) {
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-') {
            name += static_cast<char>(c);
        } else {
            char escaped[4];
            std::snprintf(escaped, sizeof escaped, "_%02x", c);
            name += escaped;
        }
    }
    if (name.size() > kMaxFileNameBytes) {  // long paths: a prefix plus a hash of the whole key
        std::uint64_t h = 0xcbf29ce484222325ull;
        for (unsigned char c : key) h = (h ^ c) * 0x100000001b3ull;
        char suffix[20];
        std::snprintf(suffix, sizeof suffix, "_%016llx", static_cast<unsigned long long>(h));
        name = name.substr(0, kMaxFileNameBytes - 17) + suffix;
    }
    return name + ".uuid";
}

LuUuid LuIdentityStore::identity(const std::string& key) {
    const auto path = dir_ / file_name(key);
    auto read_existing = [&]() -> std::optional<LuUuid> {
        const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            if (errno == ENOENT) return std::nullopt;
            fail(path, "cannot read", errno);
        }
        char buffer[64];
        const ssize_t n = ::read(fd, buffer, sizeof buffer);
        ::close(fd);
        std::string line(buffer, n > 0 ? static_cast<std::size_t>(n) : 0);
        line = line.substr(0, line.find('\n'));
        auto uuid = parse(line);
        // A damaged identity is not silently replaced: a new one would make
        // the unit a different disk to every initiator.
        if (!uuid)
            throw ConfigError("--state-dir: " + path.string() +
                              " does not hold a UUID (remove it to give the unit a new identity)");
        return uuid;
    };
    if (auto existing = read_existing()) return *existing;

    uuid_t u;
    ::uuid_generate_random(u);
    LuUuid uuid;
    std::memcpy(uuid.data(), u, uuid.size());
    const std::string text = format_uuid(uuid) + "\n" + key + "\n";
    // Write a temporary file, then link it into place: link() fails with
    // EEXIST instead of replacing an identity another process just made.
    std::string temp = (dir_ / ".new-XXXXXX").string();
    const int fd = ::mkstemp(temp.data());
    if (fd < 0) fail(dir_, "cannot write in", errno);
    const bool written = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) && ::fsync(fd) == 0;
    const int err = errno;
    ::close(fd);
    if (!written) {
        ::unlink(temp.c_str());
        fail(temp, "cannot write", err);
    }
    const int linked = ::link(temp.c_str(), path.c_str());
    const int link_err = errno;
    ::unlink(temp.c_str());
    if (linked != 0 && link_err != EEXIST) fail(path, "cannot create", link_err);
    sync_directory(dir_);
    if (linked != 0) return read_existing().value();
    return uuid;
}

std::string identity_key(const Backstore& backstore, std::uint16_t lun) {
    if (backstore.kind() == BackstoreKind::anonymous) return "anonymous-lun-" + std::to_string(lun);
    std::error_code ec;
    const auto canonical = std::filesystem::canonical(backstore.path(), ec);
    if (!ec) return canonical.string();
    return std::filesystem::absolute(backstore.path(), ec).lexically_normal().string();
}

std::filesystem::path aptpl_file(const std::filesystem::path& state_dir, const LuUuid& uuid) {
    const auto dir = state_dir / "aptpl";
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) fail(dir, "cannot create", ec.value());
    return dir / (format_uuid(uuid) + ".pr");
}

std::string format_uuid(const LuUuid& uuid) {
    char text[37];
    ::uuid_unparse_lower(uuid.data(), text);
    return text;
}

}  // namespace srp::target
