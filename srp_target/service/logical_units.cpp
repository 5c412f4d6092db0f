#include "srp_target/service/logical_units.h"

#include <sys/stat.h>

#include <cstdio>
#include <filesystem>
#include <optional>
#include <utility>

#include "srp_target/service/lu_identity.h"

namespace srp::target {
namespace {

// What makes two backstores the same storage: the device number of a block
// device, the device and inode of a file. Anonymous memory is always unique.
std::optional<std::pair<std::uint64_t, std::uint64_t>> storage_id(const Backstore& backstore) {
    if (backstore.kind() == BackstoreKind::anonymous) return std::nullopt;
    struct stat st{};
    if (::stat(backstore.path().c_str(), &st) != 0) return std::nullopt;
    if (S_ISBLK(st.st_mode)) return std::pair<std::uint64_t, std::uint64_t>{0, st.st_rdev};
    return std::pair<std::uint64_t, std::uint64_t>{st.st_dev + 1, st.st_ino};
}

std::string pair_text(const ConfiguredLun& a, const ConfiguredLun& b) {
    return "LUN " + std::to_string(a.number) + " and LUN " + std::to_string(b.number);
}

}  // namespace

std::vector<ConfiguredLun> build_logical_units(const TargetConfig& config) {
    LuIdentityStore identities(config.state_dir);
    std::vector<ConfiguredLun> luns;
    for (const auto& lun : config.luns) {
        BackstoreConfig store{lun.path, lun.size_bytes, lun.read_only, lun.access, lun.block_size};
        if (lun.path == kDefaultBackstorePath) {
            std::filesystem::create_directories(std::filesystem::path(lun.path).parent_path());
            if (!std::filesystem::exists(lun.path)) store.size_bytes = kDefaultBackstoreBytes;
        }
        auto backstore = std::make_unique<Backstore>(store);
        LogicalUnitConfig unit;
        unit.block_size = lun.block_size;
        unit.serial = lun.serial;  // an explicit serial= wins for VPD 0x80; the NAA follows the UUID
        unit.uuid = identities.identity(identity_key(*backstore, lun.number));
        unit.aptpl_file = aptpl_file(config.state_dir, *unit.uuid);
        luns.push_back({lun.number, std::make_shared<LogicalUnit>(std::move(backstore), unit)});
    }
    refuse_duplicate_identities(luns);
    return luns;
}

void refuse_duplicate_identities(const std::vector<ConfiguredLun>& luns) {
    for (std::size_t i = 0; i < luns.size(); ++i) {
        const LogicalUnit& a = *luns[i].unit;
        const auto a_storage = storage_id(a.backstore());
        for (std::size_t j = 0; j < i; ++j) {
            const LogicalUnit& b = *luns[j].unit;
            const std::string both = pair_text(luns[j], luns[i]);
            if (a_storage && a_storage == storage_id(b.backstore()))
                throw ConfigError("--lun path=: " + both + " export the same backstore (" + b.backstore().path() +
                                  (a.backstore().path() == b.backstore().path() ? "" : " and " + a.backstore().path()) +
                                  "): one medium would appear as two disks");
            if (a.config().serial == b.config().serial)
                throw ConfigError("--lun serial=: " + both + " have the same serial '" + a.config().serial + "'");
            if (a.naa_identifier() == b.naa_identifier()) {
                char naa[20];
                std::snprintf(naa, sizeof naa, "%016llx", static_cast<unsigned long long>(a.naa_identifier()));
                throw ConfigError("--lun: " + both + " have the same NAA identifier 0x" + naa +
                                  " (were identity files under --state-dir copied?)");
            }
        }
    }
}

}  // namespace srp::target
