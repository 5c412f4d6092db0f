// Where a logical unit keeps its persistent reservations while APTPL is
// active (SPC-4 5.12.5), so they survive a restart of the target.
//
// Format: text, one record per line, fields separated by one space, hex in
// lower case:
//   srp_target persistent-reservations 1
//   registration <initiator TransportID hex> <target port hex> <key, 16 hex digits>
//   ...
//   reservation <type 1|3|5|6|7|8> <holder TransportID hex> <holder target port hex>
//     (or, for the all-registrants types 7 and 8: reservation <type> all-registrants)
//   end
// The reservation line is there only while a reservation exists. The "end"
// line makes a cut-short file fail to parse instead of losing registrations
// silently. PRGENERATION is not kept (a power on zeroes it, SPC-4 6.15.2).
//
// Errors are returned as text naming the file and the system call; nothing
// throws for a bad or missing file. Blocking I/O (fsync): a PERSISTENT
// RESERVE OUT with APTPL active waits for the disk, as in LIO and SCST.
// Not thread safe: the logical unit calls it under its state mutex.
#pragma once

#include <expected>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "srp_target/scsi/reservations.h"

namespace srp::target {

// Bounds what a load reads and what a store writes (about 10,000 registrations).
inline constexpr std::size_t kMaxPrStateFileBytes = 1u << 20;
// Longest TransportID or target port name kept: an iSCSI name is at most 223
// bytes (RFC 7143 6.1) and its TransportID adds a header and the ISID.
inline constexpr std::size_t kMaxNexusNameBytes = 512;

std::string encode_pr_state(const PersistentReservationState& state);
// Accepts only a complete, consistent state: the holder registered, the type
// valid, no nexus twice.
std::expected<PersistentReservationState, std::string> parse_pr_state(std::string_view text);

class PrStateFile {
public:
    explicit PrStateFile(std::filesystem::path path) : path_(std::move(path)) {}

    const std::filesystem::path& path() const noexcept { return path_; }
    // nullopt when there is no file (APTPL was never active, or was turned off).
    std::expected<std::optional<PersistentReservationState>, std::string> load() const;
    // Replaces the file atomically: a temporary file in the same directory,
    // written and fsynced, renamed over the file, then the directory fsynced.
    // On error the previous file is intact and the temporary file removed;
    // a temporary file a crash left behind is never read.
    std::expected<void, std::string> store(const PersistentReservationState& state) const;
    // Removes the file (a missing file is fine) and makes the removal durable.
    std::expected<void, std::string> remove() const;

private:
    std::filesystem::path path_;
};

}  // namespace srp::target
