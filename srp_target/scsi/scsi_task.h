// One SCSI command's life in the engine, independent of the transport.
// The engine advances the phase; the transport answers each phase:
//
//   ScsiTask t = target.submit(nexus, lun, cdb, expected_data_out_bytes);
//   loop on t.phase():
//     awaiting_buffer   -> give t.buffer_bytes() of registered, 4096-aligned
//                          memory: target.provide_buffer(lun, t, bytes)
//     awaiting_data_out -> move data_out_buffer().size() bytes from the
//                          initiator into data_out_buffer(), then
//                          target.complete_data_out(lun, t)
//     awaiting_medium   -> run t.medium_op() (io_uring), then
//                          target.complete_medium(lun, t, result)
//     blocked           -> a range lock is busy: target.resume(lun, t) on a
//                          later pass (never sleep on it)
//     complete          -> move t.data_in() to the initiator, then send
//                          t.status() and t.sense()
//
// Memory backstores: READ/WRITE buffers are spans of the mapping itself
// (zero copy, buffer_is_backstore()) and medium steps run inline, so those
// tasks never show awaiting_buffer or awaiting_medium. io backstores: READ
// and WRITE data lives in the transport's buffer; every medium step is an
// awaiting_medium phase. Other commands use buffers owned by the task.
// A task is owned by the transport's request slot, used by one thread at a
// time, and must stay at one address while in awaiting_medium (the medium
// operation may point into its buffers).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "common/scsi/scsi_constants.h"
#include "common/scsi/sense.h"
#include "srp_target/backstore/aligned_buffer.h"
#include "srp_target/backstore/medium.h"
#include "srp_target/scsi/range_lock.h"

namespace srp::target {

using NexusId = std::uint64_t;

class ScsiTask {
public:
    enum class Phase { awaiting_buffer, awaiting_data_out, awaiting_medium, blocked, complete };
    // What the engine does next when the current phase ends (engine-internal; public for logs).
    enum class Continuation : std::uint8_t {
        none, read, write, write_and_verify, verify, verify_bytes, compare_and_write, write_same, unmap,
        synchronize_cache, mode_select, start_stop, persistent_reserve_out,
    };

    Phase phase() const noexcept { return phase_; }
    std::uint64_t buffer_bytes() const noexcept { return buffer_bytes_; }
    // awaiting_buffer: the buffer only carries DATA-OUT to the medium (WRITE,
    // WRITE AND VERIFY), so the transport may hand over memory that already
    // holds that data.
    bool buffer_only_for_data_out() const noexcept {
        return continuation_ == Continuation::write || continuation_ == Continuation::write_and_verify;
    }
    std::span<std::uint8_t> data_out_buffer() const noexcept { return data_out_; }
    const MediumOp& medium_op() const noexcept { return medium_op_; }
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

    Phase phase_ = Phase::complete;
    scsi::Status status_ = scsi::Status::good;
    bool has_sense_ = false;
    bool buffer_is_backstore_ = false;
    Continuation continuation_ = Continuation::none;
    std::uint8_t step_ = 0;  // which step of a multi-step continuation ran last
    scsi::FixedSense sense_{};
    std::span<std::uint8_t> data_out_;
    std::span<const std::uint8_t> data_in_;
    std::uint64_t data_out_unused_ = 0;
    std::uint64_t expected_data_out_ = 0;  // what the initiator described
    std::uint64_t buffer_bytes_ = 0;       // awaiting_buffer: what the transport must provide
    std::span<std::uint8_t> transport_buffer_;
    NexusId nexus_ = 0;
    // Decoded CDB fields kept between plan and completion.
    std::uint8_t cdb_bytes_[16] = {};
    std::uint64_t lba_ = 0;
    std::uint32_t blocks_ = 0;
    bool fua_ = false;
    std::uint64_t cursor_ = 0;  // progress of a multi-step command (bytes, descriptors)
    std::uint32_t items_ = 0;   // UNMAP: block descriptors in the parameter list
    MediumOp medium_op_;
    RangeLock range_lock_;
    std::vector<std::uint8_t> scratch_;  // non-zero-copy data (INQUIRY data, parameter lists, ...)
    AlignedBuffer medium_buffer_;        // engine-owned medium data (VERIFY, COMPARE AND WRITE, WRITE SAME)
};

}  // namespace srp::target
