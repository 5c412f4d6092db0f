#include "srp_target/scsi/reservations.h"

#include "common/wire/big_endian.h"

namespace srp::target {
namespace {

using scsi::Asc;
using scsi::SenseBuilder;
using scsi::SenseKey;
using scsi::Status;

namespace sa {
inline constexpr std::uint8_t kRegister = 0x00;
inline constexpr std::uint8_t kReserve = 0x01;
inline constexpr std::uint8_t kRelease = 0x02;
inline constexpr std::uint8_t kClear = 0x03;
inline constexpr std::uint8_t kPreempt = 0x04;
inline constexpr std::uint8_t kPreemptAndAbort = 0x05;
inline constexpr std::uint8_t kRegisterAndIgnore = 0x06;
}  // namespace sa

constexpr std::size_t kParameterListBytes = 24;  // SPC-4 6.16.3, without SPEC_I_PT

PrOutcome conflict() { return PrOutcome{Status::reservation_conflict, std::nullopt, {}}; }
PrOutcome check(Asc asc, bool in_cdb, std::uint16_t byte, std::optional<std::uint8_t> bit = {}) {
    return PrOutcome{Status::check_condition,
                     SenseBuilder{SenseKey::illegal_request, asc, scsi::FieldPointer{in_cdb, byte, bit}, {}},
                     {}};
}
bool valid_type(std::uint8_t t) { return t == 1 || t == 3 || (t >= 5 && t <= 8); }

}  // namespace

bool Reservations::all_registrants_type() const noexcept {
    return type_ == PrType::write_exclusive_all_registrants || type_ == PrType::exclusive_access_all_registrants;
}

bool Reservations::is_holder(const NexusIdentity& nexus) const noexcept {
    if (!type_) return false;
    if (all_registrants_type()) return is_registered(nexus);
    return holder_ == nexus;
}

bool Reservations::conflicts(const NexusIdentity& nexus, AccessClass access) const noexcept {
    if (access == AccessClass::always_allowed) return false;
    if (spc2_holder_ && *spc2_holder_ != nexus) return true;
    if (!type_ || is_holder(nexus)) return false;
    const bool registered = is_registered(nexus);
    switch (*type_) {
        case PrType::write_exclusive: return access == AccessClass::write;
        case PrType::exclusive_access: return true;
        case PrType::write_exclusive_registrants_only:
        case PrType::write_exclusive_all_registrants: return !registered && access == AccessClass::write;
        case PrType::exclusive_access_registrants_only:
        case PrType::exclusive_access_all_registrants: return !registered;
    }
    return true;
}

void Reservations::remove_registration(const NexusIdentity& nexus, PrOutcome& out, Asc ua,
                                       const NexusIdentity& requester) {
    registrations_.erase(nexus);
    if (nexus != requester) out.unit_attentions.emplace_back(nexus, ua);
    if (holder_ == nexus) {
        holder_.reset();
        type_.reset();
    }
    if (all_registrants_type() && registrations_.empty()) type_.reset();
}

PrOutcome Reservations::persistent_reserve_out(const NexusIdentity& nexus, std::uint8_t service_action,
                                               std::uint8_t scope_type, std::span<const std::uint8_t> params) {
    if (service_action > sa::kRegisterAndIgnore) return check(Asc::invalid_field_in_cdb, true, 1, 4);
    if (params.size() != kParameterListBytes) return check(Asc::parameter_list_length_error, true, 5);
    const auto key = wire::load_be<std::uint64_t>(params, 0);
    const auto sa_key = wire::load_be<std::uint64_t>(params, 8);
    const std::uint8_t flags = params[20];
    if (flags & 0x08) return check(Asc::invalid_field_in_parameter_list, false, 20, 3);  // SPEC_I_PT
    if (flags & 0x04) return check(Asc::invalid_field_in_parameter_list, false, 20, 2);  // ALL_TG_PT
    // SPC-4 6.16.3: APTPL counts only for the REGISTER actions (others ignore
    // it); without a place to keep the state, APTPL=1 is refused.
    const bool register_action = service_action == sa::kRegister || service_action == sa::kRegisterAndIgnore;
    const bool aptpl = flags & 0x01;
    if (register_action && aptpl && !ptpl_capable_)
        return check(Asc::invalid_field_in_parameter_list, false, 20, 0);
    if (spc2_holder_ && *spc2_holder_ != nexus) return conflict();

    const auto reg = registrations_.find(nexus);
    const bool registered = reg != registrations_.end();
    PrOutcome out;

    if (register_action) {
        const bool ignore = service_action == sa::kRegisterAndIgnore;
        if (!registered) {
            if (!ignore && key != 0) return conflict();
            if (sa_key != 0) registrations_[nexus] = sa_key;
        } else {
            if (!ignore && key != reg->second) return conflict();
            if (sa_key == 0) {
                const bool was_holder = holder_ == nexus;
                const auto old_type = type_;
                remove_registration(nexus, out, Asc::reservations_released, nexus);
                // SPC-4 5.12.11.2.2: releasing a registrants-only reservation by unregistering
                // tells the other registrants.
                if (was_holder && old_type && (*old_type == PrType::write_exclusive_registrants_only ||
                                               *old_type == PrType::exclusive_access_registrants_only))
                    for (const auto& [other, ignored] : registrations_)
                        out.unit_attentions.emplace_back(other, Asc::reservations_released);
            } else {
                reg->second = sa_key;
            }
        }
        // SPC-4 5.12.5: the APTPL of the most recent successful REGISTER or
        // REGISTER AND IGNORE EXISTING KEY decides what survives power loss.
        aptpl_ = aptpl;
        ++generation_;
        return out;
    }

    // Every other action needs a registration whose key matches.
    if (!registered || reg->second != key) return conflict();
    const std::uint8_t type = scope_type & 0x0f;
    const std::uint8_t scope = scope_type >> 4;

    switch (service_action) {
        case sa::kReserve: {
            if (scope != 0) return check(Asc::invalid_field_in_cdb, true, 2, 7);
            if (!valid_type(type)) return check(Asc::invalid_field_in_cdb, true, 2, 3);
            if (type_) {
                if (is_holder(nexus) && static_cast<std::uint8_t>(*type_) == type) return out;
                return conflict();
            }
            type_ = static_cast<PrType>(type);
            if (!all_registrants_type()) holder_ = nexus;
            return out;
        }
        case sa::kRelease: {
            if (!type_ || !is_holder(nexus)) return out;
            if (scope != 0 || static_cast<std::uint8_t>(*type_) != type)
                return PrOutcome{Status::check_condition,
                                 SenseBuilder{SenseKey::illegal_request,
                                              static_cast<Asc>(0x2604),  // INVALID RELEASE OF PERSISTENT RESERVATION
                                              std::nullopt, std::nullopt},
                                 {}};
            const PrType old = *type_;
            type_.reset();
            holder_.reset();
            if (old != PrType::write_exclusive && old != PrType::exclusive_access)
                for (const auto& [other, ignored] : registrations_)
                    if (other != nexus) out.unit_attentions.emplace_back(other, Asc::reservations_released);
            return out;
        }
        case sa::kClear: {
            for (const auto& [other, ignored] : registrations_)
                if (other != nexus) out.unit_attentions.emplace_back(other, Asc::reservations_preempted);
            registrations_.clear();
            type_.reset();
            holder_.reset();
            ++generation_;
            return out;
        }
        case sa::kPreempt:
        case sa::kPreemptAndAbort: {
            // Scope and type only matter when a reservation can change hands.
            if (type_ && scope != 0) return check(Asc::invalid_field_in_cdb, true, 2, 7);
            if (type_ && !valid_type(type)) return check(Asc::invalid_field_in_cdb, true, 2, 3);
            if (type_ && all_registrants_type() && sa_key == 0) {
                // SPC-4 5.12.11.2.4: preempting an all-registrants reservation with key 0
                // removes every other registrant and takes the reservation.
                std::vector<NexusIdentity> others;
                for (const auto& [other, ignored] : registrations_)
                    if (other != nexus) others.push_back(other);
                for (const NexusIdentity& other : others) {
                    registrations_.erase(other);
                    out.unit_attentions.emplace_back(other, Asc::registrations_preempted);
                }
                type_ = static_cast<PrType>(type);
                holder_ = all_registrants_type() ? std::nullopt : std::optional<NexusIdentity>(nexus);
                ++generation_;
                return out;
            }
            if (sa_key == 0) return check(Asc::invalid_field_in_parameter_list, false, 8);
            const bool preempts_holder = type_ && !all_registrants_type() && holder_ &&
                                         registrations_.at(*holder_) == sa_key;
            std::vector<NexusIdentity> victims;
            for (const auto& [other, other_key] : registrations_)
                if (other_key == sa_key) victims.push_back(other);
            if (victims.empty()) return conflict();
            for (const NexusIdentity& victim : victims) {
                // SPC-4 5.12.11.2.4.3: remove the registrations the key names "except the
                // I_T nexus that is being used for the PERSISTENT RESERVE OUT command"
                // (erasing it left holder_ naming an unregistered nexus).
                if (victim == nexus) continue;
                registrations_.erase(victim);
                out.unit_attentions.emplace_back(victim, Asc::registrations_preempted);
            }
            if (preempts_holder) {
                type_ = static_cast<PrType>(type);
                holder_ = all_registrants_type() ? std::nullopt : std::optional<NexusIdentity>(nexus);
            } else if (holder_ && !registrations_.contains(*holder_)) {
                holder_.reset();
                type_.reset();
            }
            ++generation_;
            return out;
        }
        default: return check(Asc::invalid_field_in_cdb, true, 1, 4);
    }
}

std::optional<std::vector<std::uint8_t>> Reservations::persistent_reserve_in(std::uint8_t service_action) const {
    std::vector<std::uint8_t> d;
    switch (service_action) {
        case 0: {  // READ KEYS
            d.resize(8 + 8 * registrations_.size());
            wire::store_be<std::uint32_t>(d, 0, generation_);
            wire::store_be<std::uint32_t>(d, 4, static_cast<std::uint32_t>(8 * registrations_.size()));
            std::size_t at = 8;
            for (const auto& [nexus, key] : registrations_) {
                wire::store_be<std::uint64_t>(d, at, key);
                at += 8;
            }
            return d;
        }
        case 1: {  // READ RESERVATION
            d.resize(type_ ? 24 : 8);
            wire::store_be<std::uint32_t>(d, 0, generation_);
            if (type_) {
                wire::store_be<std::uint32_t>(d, 4, 16);
                // All-registrants reservations report key 0 (SPC-4 6.15.3.2).
                const std::uint64_t key = (holder_ && !all_registrants_type()) ? registrations_.at(*holder_) : 0;
                wire::store_be<std::uint64_t>(d, 8, key);
                d[21] = static_cast<std::uint8_t>(*type_);  // scope 0 (LU) in the high nibble
            }
            return d;
        }
        case 2: {  // REPORT CAPABILITIES
            d.resize(8);
            wire::store_be<std::uint16_t>(d, 0, 8);
            // CRH: RESERVE/RELEASE(6/10) are handled as SPC-4 5.12.3 says. PTPL_C:
            // APTPL=1 is supported (SPC-4 6.15.4).
            d[2] = static_cast<std::uint8_t>(0x10 | (ptpl_capable_ ? 0x01 : 0x00));
            // TMV: the type mask below is valid. PTPL_A: persist through power loss is active.
            d[3] = static_cast<std::uint8_t>(0x80 | (aptpl_ ? 0x01 : 0x00));
            d[4] = 0x80 | 0x40 | 0x20 | 0x08 | 0x02;  // WR_EX_AR, EX_AC_RO, WR_EX_RO, EX_AC, WR_EX
            d[5] = 0x01;                              // EX_AC_AR
            return d;
        }
        default: return std::nullopt;
    }
}

bool Reservations::reserve_spc2(const NexusIdentity& nexus) {
    // SPC-2 reservations conflict with any persistent reservation state (SPC-4 5.12.3).
    if (type_ || (spc2_holder_ && *spc2_holder_ != nexus)) return false;
    if (!registrations_.empty() && !is_registered(nexus)) return false;
    spc2_holder_ = nexus;
    return true;
}

void Reservations::release_spc2(const NexusIdentity& nexus) noexcept {
    if (spc2_holder_ == nexus) spc2_holder_.reset();
}

void Reservations::on_nexus_gone(const NexusIdentity& nexus) noexcept { release_spc2(nexus); }

PersistentReservationState Reservations::persistent_state() const {
    PersistentReservationState state;
    state.registrations.assign(registrations_.begin(), registrations_.end());
    state.type = type_;
    state.holder = holder_;
    return state;
}

void Reservations::restore(const PersistentReservationState& state) {
    registrations_ = {state.registrations.begin(), state.registrations.end()};
    type_ = state.type;
    holder_ = state.holder;
    aptpl_ = true;  // only a state with APTPL active is ever kept
}

}  // namespace srp::target
