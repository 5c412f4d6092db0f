// The commands the engine implements, as REPORT SUPPORTED OPERATION CODES
// (SPC-4 6.35) describes them: operation code, service action, and the CDB
// USAGE DATA mask. A bit is set exactly where the engine evaluates the
// corresponding CDB bit (SPC-4 6.35, CDB USAGE DATA: a bit the device server ignores or
// treats as reserved is zero); the first byte is the operation code and, for
// service-action commands, byte 1 carries the service action itself.
// The table is static and immutable: safe from any thread.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace srp::target {

// Some commands exist, or evaluate the UNMAP bit, only on a thin provisioned
// logical unit (LBPME=1): UNMAP, and WRITE SAME's UNMAP bit (SBC-3 4.7).
enum class Provisioning : std::uint8_t { any, thin, thick };

struct CommandUsage {
    std::uint8_t opcode = 0;
    std::optional<std::uint8_t> service_action;
    Provisioning applies_to = Provisioning::any;
    std::uint8_t cdb_bytes = 0;
    std::array<std::uint8_t, 16> usage{};

    std::span<const std::uint8_t> usage_data() const noexcept { return std::span(usage).first(cdb_bytes); }
};

// Every command a logical unit with this provisioning answers, in opcode then
// service action order (REPORT LUNS included: the target answers it for every LUN).
std::vector<CommandUsage> supported_commands(bool thin_provisioned);

// The entry for (opcode, service action), or nullopt when unsupported. For an
// operation code without service actions, service_action is not looked at.
std::optional<CommandUsage> find_command(std::uint8_t opcode, std::uint8_t service_action, bool thin_provisioned);

// True for operation codes that the engine knows as service-action commands.
bool has_service_actions(std::uint8_t opcode) noexcept;

}  // namespace srp::target
