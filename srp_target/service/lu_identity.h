// Persistent logical unit identities: one random UUID per logical unit,
// generated once with libuuid and kept in the target's state directory
// (--state-dir) as one small file per unit, so the unit keeps its serial,
// NAA and UUID designators across restarts (multipath and udev key on them)
// and no two units, on this host or another, share them.
//
// Files: <state-dir>/lu-identity/<escaped key>.uuid holding the UUID on its
// first line and the key on the second (for people). Keys: the backstore's
// canonical path, or "anonymous-lun-<N>" for anonymous memory.
// Errors (directory not creatable, file not writable or corrupt) throw
// ConfigError naming --state-dir. Not thread safe: used during setup.
// The same directory holds each unit's APTPL state (aptpl_file below).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "srp_target/backstore/backstore.h"
#include "srp_target/scsi/logical_unit.h"

namespace srp::target {

class LuIdentityStore {
public:
    explicit LuIdentityStore(const std::filesystem::path& state_dir);

    // The UUID recorded for key; generated (version 4, random) and made
    // durable (fsync of the file and the directory) on first use. When two
    // processes race, both end up with the one that reached the disk first.
    LuUuid identity(const std::string& key);

    const std::filesystem::path& directory() const noexcept { return dir_; }
    // The file name for a key: [A-Za-z0-9.-] kept, every other byte as _xx.
    static std::string file_name(const std::string& key);

private:
    std::filesystem::path dir_;
};

// The identity key of a LUN's backstore (see above).
std::string identity_key(const Backstore& backstore, std::uint16_t lun);

// Where the unit with this identity keeps its persistent reservations while
// APTPL is active: <state-dir>/aptpl/<uuid>.pr (format in
// srp_target/scsi/pr_state_file.h). Keyed by the UUID, so the state follows
// the identity: a unit given a new identity is a new disk to initiators and
// starts without reservations. Creates the directory; ConfigError if it cannot.
std::filesystem::path aptpl_file(const std::filesystem::path& state_dir, const LuUuid& uuid);

std::string format_uuid(const LuUuid& uuid);

}  // namespace srp::target
