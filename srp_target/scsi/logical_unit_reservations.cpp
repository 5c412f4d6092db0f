// Persistent reservations across restarts (APTPL, SPC-4 5.12.5): loading the
// kept state, keeping it on every change, and telling the nexuses a
// PERSISTENT RESERVE OUT affected.
#include <spdlog/spdlog.h>

#include "srp_target/scsi/logical_unit.h"
#include "srp_target/scsi/pr_state_file.h"

namespace srp::target {

using scsi::Asc;
using scsi::SenseBuilder;
using scsi::SenseKey;

Reservations LogicalUnit::load_reservations(const std::filesystem::path& aptpl_file) {
    Reservations reservations(!aptpl_file.empty());
    if (aptpl_file.empty()) return reservations;
    auto kept = PrStateFile(aptpl_file).load();
    // Like LIO (rtslib's _config_pr_aptpl skips an APTPL file it cannot read
    // or does not recognise), the unit starts without the state rather than
    // not at all: every other LUN and initiator keeps working, and the file
    // stays for the operator. Registered initiators see no registration and
    // can register again.
    if (!kept) {
        spdlog::error("persistent reservations not restored, the unit starts without them: {}", kept.error());
        return reservations;
    }
    if (!*kept) return reservations;
    reservations.restore(**kept);
    spdlog::info("persistent reservations restored from {}: {} registration(s){}", aptpl_file.string(),
                 (*kept)->registrations.size(), (*kept)->type ? ", a reservation" : "");
    return reservations;
}

std::optional<SenseBuilder> LogicalUnit::keep_persistent_state(const Reservations& next, std::uint8_t service_action) {
    // Nothing is kept while APTPL is off, and there is nothing to remove
    // unless it was on: the file exists exactly while APTPL is active.
    if (config_.aptpl_file.empty() || (!next.aptpl() && !reservations_.aptpl())) return std::nullopt;
    const PrStateFile file(config_.aptpl_file);
    const auto kept = next.aptpl() ? file.store(next.persistent_state()) : file.remove();
    if (kept) return std::nullopt;
    spdlog::error("LU {}: PERSISTENT RESERVE OUT failed, reservations unchanged: {}", config_.serial, kept.error());
    // The command fails and the state in memory stays as it was, so what an
    // initiator was told and what a restart restores cannot differ. (LIO
    // changes the state first and then fails the command; SCST answers GOOD
    // and only logs.) A REGISTER that cannot complete for want of device
    // server resources ends in INSUFFICIENT REGISTRATION RESOURCES (SPC-4
    // 5.12.7); the other service actions have no such code and report the
    // failure of the target itself (HARDWARE ERROR, SPC-4 4.5.6).
    constexpr std::uint8_t kRegister = 0x00;
    constexpr std::uint8_t kRegisterAndIgnoreExistingKey = 0x06;
    if (service_action == kRegister || service_action == kRegisterAndIgnoreExistingKey)
        return SenseBuilder{SenseKey::illegal_request, Asc::insufficient_registration_resources, {}, {}};
    return SenseBuilder{SenseKey::hardware_error, Asc::internal_target_failure, {}, {}};
}

void LogicalUnit::establish_reservation_attentions(const PrOutcome& outcome) {
    // Reservations name nexuses by identity; the unit attention goes to the
    // nexus attached under it, if it is here. One that has not logged in
    // since a restart gets POWER ON, RESET, OR BUS DEVICE RESET OCCURRED at
    // login instead.
    for (const auto& [identity, asc] : outcome.unit_attentions)
        for (const auto& [nexus, attached] : identities_)
            if (attached == identity) establish_unit_attention(nexus, asc);
}

const NexusIdentity& LogicalUnit::identity_of(NexusId nexus) {
    auto [it, added] = identities_.try_emplace(nexus);
    if (added) it->second = anonymous_identity(nexus);
    return it->second;
}

NexusIdentity LogicalUnit::anonymous_identity(NexusId nexus) {
    // No TransportID: PrStateFile refuses to keep it, since after a restart
    // the same id may belong to another initiator.
    NexusIdentity identity;
    for (int shift = 56; shift >= 0; shift -= 8) identity.target_port.push_back(static_cast<std::uint8_t>(nexus >> shift));
    return identity;
}

}  // namespace srp::target
