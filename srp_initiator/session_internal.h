// Session internals shared by session.cpp and session_io.cpp.
#pragma once

#include <chrono>

#include "srp_initiator/session.h"

namespace srp::initiator {

// wr_id spaces on one connection.
inline constexpr std::uint64_t kReceiveTag = 1ull << 62;
// CRED_RSP, AER_RSP (+0) and I_LOGOUT (+1): above every slot index, and small
// (send chain wr_ids index a table in the verbs connection).
inline constexpr std::uint64_t kControlTag = 0xF0000;
inline constexpr std::uint32_t kExtraReceives = 4;       // target-initiated IUs beyond the credits
inline constexpr std::uint32_t kControlBytes = 64;

struct Session::Slot {
    bool busy = false;
    bool is_tmf = false;
    std::uint64_t tag = 0;
    std::uint16_t lun = 0;         // an abort must name the command's LUN
    std::uint64_t victim_tag = 0;  // TMF sent because this command timed out
    bool abort_sent = false;
    Completion done;
    std::chrono::steady_clock::time_point start{}, deadline{};
    std::optional<std::uint8_t>* tmf_code = nullptr;  // where a synchronous TMF wants its answer
};

struct Session::Channel {
    ConnectedChannel link;
    LoginInfo info;
    std::vector<std::uint8_t> send_memory, receive_memory, control_memory;
    std::unique_ptr<fabric::Registration> pool_mr, send_mr, receive_mr, control_mr;
    std::vector<Slot> slots;
    std::vector<std::uint32_t> free_slots;
    std::int64_t credits = 0;
    std::uint32_t receive_count = 0;
    std::uint32_t imm_data_offset = 0;  // 0: not granted
    bool dead = false;
    bool logging_out = false;
};

}  // namespace srp::initiator
