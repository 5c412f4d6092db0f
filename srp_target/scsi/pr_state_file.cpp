#include "srp_target/scsi/pr_state_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <set>
#include <span>

namespace srp::target {
namespace {

constexpr std::string_view kHeader = "srp_target persistent-reservations 1";
constexpr std::string_view kAllRegistrants = "all-registrants";

// Closes the descriptor it owns.
class FileHandle {
public:
    explicit FileHandle(int fd) noexcept : fd_(fd) {}
    ~FileHandle() {
        if (fd_ >= 0) ::close(fd_);
    }
    FileHandle(const FileHandle&) = delete;
    FileHandle& operator=(const FileHandle&) = delete;
    int get() const noexcept { return fd_; }
    // close(2) with its result: a failed close can be a failed write (NFS).
    int close() noexcept {
        const int rc = ::close(fd_);
        fd_ = -1;
        return rc;
    }

private:
    int fd_;
};

std::string failure(std::string_view call, const std::filesystem::path& path, int err) {
    return std::string(call) + " " + path.string() + ": " + std::strerror(err);
}

// A rename or unlink is durable only once its directory is (fsync(2), "Notes").
std::expected<void, std::string> sync_directory(const std::filesystem::path& dir) {
    FileHandle fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (fd.get() < 0) return std::unexpected(failure("open", dir, errno));
    if (::fsync(fd.get()) != 0) return std::unexpected(failure("fsync", dir, errno));
    return {};
}

std::filesystem::path directory_of(const std::filesystem::path& file) {
    return file.has_parent_path() ? file.parent_path() : std::filesystem::path(".");
}

std::string to_hex(std::span<const std::uint8_t> bytes) {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string text;
    text.reserve(2 * bytes.size());
    for (std::uint8_t b : bytes) {
        text += kDigits[b >> 4];
        text += kDigits[b & 0x0f];
    }
    return text;
}

int hex_digit(char c) noexcept {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

std::optional<std::vector<std::uint8_t>> from_hex(std::string_view text, std::size_t max_bytes) {
    if (text.empty() || text.size() % 2 != 0 || text.size() > 2 * max_bytes) return std::nullopt;
    std::vector<std::uint8_t> bytes;
    bytes.reserve(text.size() / 2);
    for (std::size_t i = 0; i < text.size(); i += 2) {
        const int high = hex_digit(text[i]);
        const int low = hex_digit(text[i + 1]);
        if (high < 0 || low < 0) return std::nullopt;
        bytes.push_back(static_cast<std::uint8_t>(high << 4 | low));
    }
    return bytes;
}

std::string identity_fields(const NexusIdentity& nexus) {
    return to_hex(nexus.initiator) + " " + to_hex(nexus.target_port);
}

std::optional<NexusIdentity> parse_identity(std::string_view initiator, std::string_view target_port) {
    auto i = from_hex(initiator, kMaxNexusNameBytes);
    auto t = from_hex(target_port, kMaxNexusNameBytes);
    if (!i || !t) return std::nullopt;
    return NexusIdentity{std::move(*i), std::move(*t)};
}

std::vector<std::string_view> fields_of(std::string_view line) {
    std::vector<std::string_view> fields;
    std::size_t start = 0;
    while (true) {
        const std::size_t space = line.find(' ', start);
        fields.push_back(line.substr(start, space - start));
        if (space == std::string_view::npos) return fields;
        start = space + 1;
    }
}

bool all_registrants(PrType type) noexcept {
    return type == PrType::write_exclusive_all_registrants || type == PrType::exclusive_access_all_registrants;
}

std::optional<PrType> parse_type(std::string_view text) noexcept {
    if (text.size() != 1) return std::nullopt;
    switch (text[0]) {
        case '1': return PrType::write_exclusive;
        case '3': return PrType::exclusive_access;
        case '5': return PrType::write_exclusive_registrants_only;
        case '6': return PrType::exclusive_access_registrants_only;
        case '7': return PrType::write_exclusive_all_registrants;
        case '8': return PrType::exclusive_access_all_registrants;
        default: return std::nullopt;
    }
}

// Only a nexus the transport named can be found again after a restart.
bool nameable(const NexusIdentity& nexus) noexcept { return !nexus.initiator.empty() && !nexus.target_port.empty(); }

}  // namespace

std::string encode_pr_state(const PersistentReservationState& state) {
    std::string text(kHeader);
    text += '\n';
    for (const auto& [nexus, key] : state.registrations) {
        const std::uint8_t key_bytes[8] = {
            static_cast<std::uint8_t>(key >> 56), static_cast<std::uint8_t>(key >> 48),
            static_cast<std::uint8_t>(key >> 40), static_cast<std::uint8_t>(key >> 32),
            static_cast<std::uint8_t>(key >> 24), static_cast<std::uint8_t>(key >> 16),
            static_cast<std::uint8_t>(key >> 8),  static_cast<std::uint8_t>(key)};
        text += "registration " + identity_fields(nexus) + " " + to_hex(key_bytes) + "\n";
    }
    if (state.type) {
        text += "reservation " + std::to_string(static_cast<int>(*state.type)) + " ";
        text += state.holder ? identity_fields(*state.holder) : std::string(kAllRegistrants);
        text += '\n';
    }
    text += "end\n";
    return text;
}

std::expected<PersistentReservationState, std::string> parse_pr_state(std::string_view text) {
    auto bad = [](std::size_t line, const std::string& what) {
        return std::unexpected("line " + std::to_string(line) + ": " + what);
    };
    if (text.empty() || text.back() != '\n') return std::unexpected(std::string("cut short (no final newline)"));
    PersistentReservationState state;
    std::set<NexusIdentity> registered;
    bool ended = false;
    std::size_t line_number = 0;
    for (std::size_t at = 0; at < text.size();) {
        const std::size_t newline = text.find('\n', at);
        const std::string_view line = text.substr(at, newline - at);
        at = newline + 1;
        ++line_number;
        if (ended) return bad(line_number, "text after \"end\"");
        if (line_number == 1) {
            if (line != kHeader) return bad(1, "not \"" + std::string(kHeader) + "\"");
            continue;
        }
        const auto fields = fields_of(line);
        if (fields[0] == "end" && fields.size() == 1) {
            ended = true;
        } else if (fields[0] == "registration" && fields.size() == 4) {
            if (state.type) return bad(line_number, "registration after the reservation");
            auto nexus = parse_identity(fields[1], fields[2]);
            auto key = from_hex(fields[3], 8);
            if (!nexus || !key || key->size() != 8) return bad(line_number, "malformed registration");
            if (!registered.insert(*nexus).second) return bad(line_number, "the nexus is registered twice");
            std::uint64_t value = 0;
            for (std::uint8_t b : *key) value = value << 8 | b;
            state.registrations.emplace_back(std::move(*nexus), value);
        } else if (fields[0] == "reservation" && (fields.size() == 3 || fields.size() == 4)) {
            if (state.type) return bad(line_number, "a second reservation");
            const auto type = parse_type(fields[1]);
            if (!type) return bad(line_number, "invalid reservation type");
            // SPC-4 5.12.10: all-registrants types have no single holder; every other type has one.
            if (all_registrants(*type)) {
                if (fields.size() != 3 || fields[2] != kAllRegistrants || registered.empty())
                    return bad(line_number, "an all-registrants reservation without registrants");
            } else {
                if (fields.size() != 4) return bad(line_number, "reservation without a holder");
                state.holder = parse_identity(fields[2], fields[3]);
                if (!state.holder || !registered.contains(*state.holder))
                    return bad(line_number, "the reservation holder is not registered");
            }
            state.type = type;
        } else {
            return bad(line_number, "unknown record \"" + std::string(line.substr(0, 40)) + "\"");
        }
    }
    if (!ended) return std::unexpected(std::string("cut short (no \"end\" line)"));
    return state;
}

std::expected<std::optional<PersistentReservationState>, std::string> PrStateFile::load() const {
    FileHandle fd(::open(path_.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0) {
        if (errno == ENOENT) return std::optional<PersistentReservationState>{};
        return std::unexpected(failure("open", path_, errno));
    }
    struct stat st{};
    if (::fstat(fd.get(), &st) != 0) return std::unexpected(failure("fstat", path_, errno));
    if (!S_ISREG(st.st_mode)) return std::unexpected(path_.string() + ": not a regular file");
    if (static_cast<std::uint64_t>(st.st_size) > kMaxPrStateFileBytes)
        return std::unexpected(path_.string() + ": larger than " + std::to_string(kMaxPrStateFileBytes) + " bytes");
    std::string text(static_cast<std::size_t>(st.st_size), '\0');
    std::size_t done = 0;
    while (done < text.size()) {
        const ssize_t n = ::read(fd.get(), text.data() + done, text.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return std::unexpected(failure("read", path_, errno));
        if (n == 0) break;
        done += static_cast<std::size_t>(n);
    }
    text.resize(done);
    auto state = parse_pr_state(text);
    if (!state) return std::unexpected(path_.string() + ": " + state.error());
    return std::optional<PersistentReservationState>(std::move(*state));
}

std::expected<void, std::string> PrStateFile::store(const PersistentReservationState& state) const {
    for (const auto& [nexus, key] : state.registrations)
        if (!nameable(nexus))
            return std::unexpected(path_.string() + ": a nexus the transport did not name cannot be kept");
    const std::string text = encode_pr_state(state);
    if (text.size() > kMaxPrStateFileBytes)
        return std::unexpected(path_.string() + ": the state exceeds " + std::to_string(kMaxPrStateFileBytes) + " bytes");
    // The temporary file lives beside the real one: rename(2) is atomic only
    // within one file system, and a reader sees the old file or the new one.
    std::string temp = path_.string() + ".tmp-XXXXXX";
    FileHandle fd(::mkostemp(temp.data(), O_CLOEXEC));
    if (fd.get() < 0) return std::unexpected(failure("mkostemp", temp, errno));
    auto discard = [&](std::string why) -> std::expected<void, std::string> {
        ::unlink(temp.c_str());
        return std::unexpected(std::move(why));
    };
    for (std::size_t done = 0; done < text.size();) {
        const ssize_t n = ::write(fd.get(), text.data() + done, text.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return discard(failure("write", temp, errno));
        done += static_cast<std::size_t>(n);
    }
    if (::fsync(fd.get()) != 0) return discard(failure("fsync", temp, errno));
    if (fd.close() != 0) return discard(failure("close", temp, errno));
    if (::rename(temp.c_str(), path_.c_str()) != 0) return discard(failure("rename to " + path_.string(), temp, errno));
    // A failure from here on leaves the new file in place but perhaps not
    // durable; the caller reports the command failed and keeps the old state
    // in memory, so nothing it acknowledged can be lost.
    return sync_directory(directory_of(path_));
}

std::expected<void, std::string> PrStateFile::remove() const {
    if (::unlink(path_.c_str()) != 0) {
        if (errno == ENOENT) return {};
        return std::unexpected(failure("unlink", path_, errno));
    }
    return sync_directory(directory_of(path_));
}

}  // namespace srp::target
