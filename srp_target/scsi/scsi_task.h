// One SCSI command's life in the engine, independent of the transport.
//
//   ScsiTask t = target.submit(nexus, lun, cdb, expected_data_out_bytes);
//   if (t.phase() == ScsiTask::Phase::awaiting_data_out) {
//       <move t.data_out_buffer().size() bytes from the initiator into data_out_buffer()>
//       target.complete_data_out(t);           // or t.fail_transfer() on a transport error
//   }
//   <move t.data_in() to the initiator>, then send t.status() and t.sense().
//
// For READ and WRITE the buffers are spans of the backstore mapping itself,
// so the transport moves data zero-copy (plan/complete split). Other
// commands use a small buffer owned by the task. A task is owned by the
// transport's request slot and used by one thread at a time.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "common/scsi/scsi_constants.h"
#include "common/scsi/sense.h"

namespace srp::target {

using NexusId = std::uint64_t;

class ScsiTask {
public:
    enum class Phase { awaiting_data_out, complete };

    Phase phase() const noexcept { return phase_; }
    std::span<std::uint8_t> data_out_buffer() const noexcept { return data_out_; }
    std::span<const std::uint8_t> data_in() const noexcept { return data_in_; }
    scsi::Status status() const noexcept { return status_; }
    std::span<const std::uint8_t> sense() const noexcept {
        return has_sense_ ? std::span<const std::uint8_t>(sense_) : std::span<const std::uint8_t>();
    }
    // True when data_out_buffer()/data_in() lie inside the backstore mapping.
    bool buffer_is_backstore() const noexcept { return buffer_is_backstore_; }
    // Bytes the initiator described but the command did not use (residual underflow).
    std::uint64_t data_out_unused_bytes() const noexcept { return data_out_unused_; }

    // Completion helpers used by the engine (and by transports for transport errors).
    void complete_good() noexcept;
    void complete_check(const scsi::SenseBuilder& sense) noexcept;
    void complete_status(scsi::Status status) noexcept;

private:
    friend class LogicalUnit;
    friend class ScsiTarget;

    // What complete_data_out() must do once the data-out bytes have arrived.
    enum class Continuation : std::uint8_t {
        none, write, write_and_verify, verify_bytes, compare_and_write, write_same, unmap,
        mode_select, persistent_reserve_out,
    };

    Phase phase_ = Phase::complete;
    scsi::Status status_ = scsi::Status::good;
    bool has_sense_ = false;
    bool buffer_is_backstore_ = false;
    Continuation continuation_ = Continuation::none;
    scsi::FixedSense sense_{};
    std::span<std::uint8_t> data_out_;
    std::span<const std::uint8_t> data_in_;
    std::uint64_t data_out_unused_ = 0;
    std::uint64_t expected_data_out_ = 0;  // what the initiator described
    NexusId nexus_ = 0;
    // Decoded CDB fields kept between plan and completion.
    std::uint8_t cdb_bytes_[16] = {};
    std::uint64_t lba_ = 0;
    std::uint32_t blocks_ = 0;
    bool fua_ = false;
    std::vector<std::uint8_t> scratch_;  // non-zero-copy data (INQUIRY data, parameter lists, ...)
};

}  // namespace srp::target
