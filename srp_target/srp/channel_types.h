// Shared pieces of the target's data path: statistics, the registered
// backstore lookup, and channel parameters.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/fabric/connection.h"
#include "srp_target/backstore/backstore.h"

namespace srp::target {

// Counters for the periodic statistics line, bumped from any thread with
// plain atomic increments (sequentially consistent, not relaxed). Read one
// by one, so a statistics line is not a consistent snapshot of them all.
struct TargetStats {
    std::atomic<std::uint64_t> logins{0}, login_rejects{0}, channels_closed{0};
    std::atomic<std::uint64_t> commands{0}, check_conditions{0}, task_management{0};
    std::atomic<std::uint64_t> bytes_read{0}, bytes_written{0};  // by the initiator: READ and WRITE data
    std::atomic<std::uint64_t> immediate_commands{0}, immediate_in_place{0}, external_tables{0}, bounce_commands{0};
    std::atomic<std::uint64_t> protocol_errors{0}, transport_errors{0};
};

// Backstore mappings registered with a device's PD (local access only).
class RegisteredBackstores {
public:
    void add(std::unique_ptr<fabric::Registration> registration, const Backstore& backstore) {
        registrations_.push_back(std::move(registration));
        backstores_.push_back(&backstore);
    }
    // The registered segment covering bytes, or nullopt (then use bounce buffers).
    std::optional<fabric::LocalSegment> find(std::span<const std::uint8_t> bytes) const noexcept {
        const auto i = index_of(bytes);
        if (!i) return std::nullopt;
        return fabric::LocalSegment{const_cast<std::uint8_t*>(bytes.data()), static_cast<std::uint32_t>(bytes.size()),
                                    registrations_[*i]->lkey()};
    }
    std::size_t size() const noexcept { return registrations_.size(); }
    // After an RDMA READ landed in a registered backstore: let writeback see it.
    void mark_written(std::span<const std::uint8_t> bytes) const noexcept {
        if (const auto i = index_of(bytes))
            backstores_[*i]->mark_written(static_cast<std::uint64_t>(bytes.data() - registrations_[*i]->bytes().data()),
                                          bytes.size());
    }

private:
    std::optional<std::size_t> index_of(std::span<const std::uint8_t> bytes) const noexcept {
        for (std::size_t i = 0; i < registrations_.size(); ++i) {
            const auto all = registrations_[i]->bytes();
            if (bytes.data() >= all.data() && bytes.data() + bytes.size() <= all.data() + all.size()) return i;
        }
        return std::nullopt;
    }

    std::vector<std::unique_ptr<fabric::Registration>> registrations_;
    std::vector<const Backstore*> backstores_;
};

struct ChannelParams {
    std::uint32_t queue_depth = 128;       // receive ring = credits granted at login
    std::uint32_t it_iu_len = 8260;        // receive buffer size
    std::uint32_t ti_iu_len = 256;         // response buffer size
    std::uint32_t imm_data_offset = 0;     // 0: no immediate data
    std::uint32_t bounce_chunks = 64;      // x kBounceChunkBytes, for unregistered memory
    std::string name;                      // for the log: "n3.c1 10.0.2.15"
    std::uint64_t token = 0;               // the service's handle of this channel
};

}  // namespace srp::target
