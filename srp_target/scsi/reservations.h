// Reservation state of one logical unit: SPC-4 persistent reservations
// (5.12, PERSISTENT RESERVE IN/OUT) and SPC-2 RESERVE/RELEASE. Pure logic,
// no locking and no I/O: LogicalUnit serializes access under its state
// mutex and stores persistent_state() when aptpl() says so (SPC-4 5.12.5).
// Registrations and reservations name the I_T nexus by its NexusIdentity,
// so they apply to the nexus again when it logs in anew, and can be
// restored after a restart before it has.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <vector>

#include "common/scsi/sense.h"
#include "srp_target/scsi/nexus_identity.h"
#include "srp_target/scsi/scsi_task.h"

namespace srp::target {

enum class PrType : std::uint8_t {
    write_exclusive = 1,
    exclusive_access = 3,
    write_exclusive_registrants_only = 5,
    exclusive_access_registrants_only = 6,
    write_exclusive_all_registrants = 7,
    exclusive_access_all_registrants = 8,
};

// How a command interacts with reservations (SPC-4 table 49 in spirit).
enum class AccessClass { always_allowed, read, write };

// Outcome of a PR OUT service action: GOOD, RESERVATION CONFLICT, or CHECK CONDITION.
struct PrOutcome {
    scsi::Status status = scsi::Status::good;
    std::optional<scsi::SenseBuilder> sense;
    // Unit attentions to establish for other nexuses.
    std::vector<std::pair<NexusIdentity, scsi::Asc>> unit_attentions;
};

// What APTPL preserves across a restart (SPC-4 5.12.5): every registration
// and the persistent reservation. Not PRGENERATION, which a power on sets to
// zero whatever APTPL says (SPC-4 6.15.2), and not SPC-2 reservations.
struct PersistentReservationState {
    std::vector<std::pair<NexusIdentity, std::uint64_t>> registrations;  // nexus, reservation key
    std::optional<PrType> type;
    std::optional<NexusIdentity> holder;  // set for every type but the all-registrants ones
};

class Reservations {
public:
    // ptpl_capable: the logical unit has somewhere to keep its state across a
    // restart, so APTPL=1 is accepted and REPORT CAPABILITIES says PTPL_C=1.
    explicit Reservations(bool ptpl_capable = false) noexcept : ptpl_capable_(ptpl_capable) {}

    // True when the command must end with RESERVATION CONFLICT.
    bool conflicts(const NexusIdentity& nexus, AccessClass access) const noexcept;

    // PERSISTENT RESERVE OUT: service action (CDB byte 1), scope/type byte (CDB byte 2), parameter list.
    PrOutcome persistent_reserve_out(const NexusIdentity& nexus, std::uint8_t service_action,
                                     std::uint8_t scope_type, std::span<const std::uint8_t> parameters);
    // PERSISTENT RESERVE IN data for service action 0/1/2; nullopt for unsupported actions.
    std::optional<std::vector<std::uint8_t>> persistent_reserve_in(std::uint8_t service_action) const;

    // SPC-2 RESERVE/RELEASE. reserve() returns false on conflict.
    bool reserve_spc2(const NexusIdentity& nexus);  // copies the identity: may throw bad_alloc
    void release_spc2(const NexusIdentity& nexus) noexcept;
    // LOGICAL UNIT RESET clears the SPC-2 reservation (SPC-2 5.5.1); persistent ones stay.
    void on_logical_unit_reset() noexcept { spc2_holder_.reset(); }
    // A nexus that goes away loses its SPC-2 reservation; its registration stays (SPC-4 5.12.1).
    void on_nexus_gone(const NexusIdentity& nexus) noexcept;

    std::uint32_t generation() const noexcept { return generation_; }
    // True while any reservation could make a command conflict.
    bool active() const noexcept { return type_.has_value() || spc2_holder_.has_value(); }
    bool is_registered(const NexusIdentity& nexus) const noexcept { return registrations_.contains(nexus); }

    // Persist through power loss is active: the last successful REGISTER or
    // REGISTER AND IGNORE EXISTING KEY had APTPL=1 (SPC-4 5.12.5).
    bool aptpl() const noexcept { return aptpl_; }
    PersistentReservationState persistent_state() const;
    // The state kept by an earlier run, with APTPL active; the caller checked
    // that the holder is registered and the type valid. Generation stays 0.
    void restore(const PersistentReservationState& state);

private:
    bool all_registrants_type() const noexcept;
    bool is_holder(const NexusIdentity& nexus) const noexcept;
    void remove_registration(const NexusIdentity& nexus, PrOutcome& out, scsi::Asc ua,
                             const NexusIdentity& requester);

    std::map<NexusIdentity, std::uint64_t> registrations_;  // ordered: READ KEYS output is stable
    std::optional<NexusIdentity> holder_;                   // unset for all-registrants types
    std::optional<PrType> type_;
    std::uint32_t generation_ = 0;
    std::optional<NexusIdentity> spc2_holder_;
    bool ptpl_capable_ = false;
    bool aptpl_ = false;
};

}  // namespace srp::target
