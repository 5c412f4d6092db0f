#include "srp_target/backstore/uring_queue.h"

#include <linux/falloc.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <system_error>

#include <spdlog/spdlog.h>

#include "srp_target/backstore/backstore.h"

namespace srp::target {

UringQueue::UringQueue() {
    io_uring_params params{};
    params.flags = IORING_SETUP_CQSIZE;
    params.cq_entries = kUringCqEntries;
    if (int err = io_uring_queue_init_params(kUringSqEntries, &ring_, &params); err < 0)
        throw std::system_error(-err, std::generic_category(), "io_uring_queue_init");
    slots_.resize(kUringCqEntries);
    for (std::uint32_t i = kUringCqEntries; i-- > 0;) free_slots_.push_back(i);
    // A sparse fixed buffer table (Linux >= 5.19) filled as channels arrive;
    // without it every transfer simply runs unregistered.
    if (io_uring_register_buffers_sparse(&ring_, kUringFixedBuffers) == 0) {
        for (unsigned i = kUringFixedBuffers; i-- > 0;) free_fixed_.push_back(i);
    }
}

std::optional<unsigned> UringQueue::register_buffer(std::span<std::uint8_t> memory) noexcept {
    if (free_fixed_.empty() || memory.empty()) return std::nullopt;
    const unsigned slot = free_fixed_.back();
    iovec v{memory.data(), memory.size()};
    __u64 tag = 0;
    if (io_uring_register_buffers_update_tag(&ring_, slot, &v, &tag, 1) != 1) return std::nullopt;
    free_fixed_.pop_back();
    registered_.insert(first_starting_after(memory.data()), Fixed{slot, memory});
    return slot;
}

void UringQueue::unregister_buffer(unsigned slot) noexcept {
    const auto it = std::find_if(registered_.begin(), registered_.end(), [&](const Fixed& f) { return f.slot == slot; });
    if (it == registered_.end()) return;
    iovec v{nullptr, 0};  // an empty slot
    __u64 tag = 0;
    (void)io_uring_register_buffers_update_tag(&ring_, slot, &v, &tag, 1);
    registered_.erase(it);
    free_fixed_.push_back(slot);
}

UringQueue::~UringQueue() {
    // Owners drain before destroying (channels count their medium I/O); a
    // leftover operation would still write into memory we no longer own,
    // so wait for it here rather than free under it.
    while (in_flight_ > 0) {
        flush_submissions();
        io_uring_cqe* cqe = nullptr;
        if (io_uring_wait_cqe(&ring_, &cqe) < 0) break;
        io_uring_cqe_seen(&ring_, cqe);
        --in_flight_;
    }
    io_uring_queue_exit(&ring_);
}

std::vector<UringQueue::Fixed>::const_iterator UringQueue::first_starting_after(const std::uint8_t* at) const noexcept {
    return std::upper_bound(registered_.begin(), registered_.end(), at,
                            [](const std::uint8_t* a, const Fixed& f) { return a < f.memory.data(); });
}

std::optional<unsigned> UringQueue::fixed_slot(std::span<const std::uint8_t> bytes) const noexcept {
    // The registration starting at or below bytes is the only candidate
    // (registrations do not overlap: each is one channel's own memory).
    auto it = first_starting_after(bytes.data());
    if (it == registered_.begin()) return std::nullopt;
    const Fixed& f = *--it;
    if (bytes.data() + bytes.size() <= f.memory.data() + f.memory.size()) return f.slot;
    return std::nullopt;
}

bool UringQueue::prepare(std::uint32_t index) noexcept {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    if (sqe == nullptr) {
        flush_submissions();
        sqe = io_uring_get_sqe(&ring_);
        if (sqe == nullptr) return false;
    }
    const Slot& s = slots_[index];
    const MediumOp& op = s.op;
    const int fd = op.store->fd();
    const auto offset = op.offset + s.done;
    switch (op.kind) {
        case MediumOpKind::read:
        case MediumOpKind::write: {
            std::uint8_t* at = op.buffer.data() + s.done;
            const auto n = static_cast<unsigned>(op.length - s.done);
            const bool read = op.kind == MediumOpKind::read;
            if (const auto slot = fixed_slot(op.buffer)) {
                if (read) io_uring_prep_read_fixed(sqe, fd, at, n, offset, static_cast<int>(*slot));
                else io_uring_prep_write_fixed(sqe, fd, at, n, offset, static_cast<int>(*slot));
            } else if (read) {
                io_uring_prep_read(sqe, fd, at, n, offset);
            } else {
                io_uring_prep_write(sqe, fd, at, n, offset);
            }
            if (!read && op.fua) sqe->rw_flags = RWF_DSYNC;  // SBC-3 FUA: on the medium before completion
            break;
        }
        case MediumOpKind::flush: io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC); break;
        case MediumOpKind::discard:
        case MediumOpKind::write_zeroes:
            // See Backstore::execute_io: both zero the range on block devices too.
            io_uring_prep_fallocate(sqe, fd,
                                    (op.kind == MediumOpKind::discard ? FALLOC_FL_PUNCH_HOLE : FALLOC_FL_ZERO_RANGE) |
                                        FALLOC_FL_KEEP_SIZE,
                                    offset, op.length);
            break;
    }
    io_uring_sqe_set_data64(sqe, index);
    ++unsubmitted_;
    return true;
}

bool UringQueue::submit(const MediumOp& op, MediumSink& sink, std::uint64_t tag) noexcept {
    if (free_slots_.empty()) return false;
    const std::uint32_t index = free_slots_.back();
    slots_[index] = Slot{&sink, tag, op, 0};
    if (!prepare(index)) return false;
    free_slots_.pop_back();
    ++in_flight_;
    return true;
}

void UringQueue::flush_submissions() noexcept {
    if (unsubmitted_ == 0) return;
    // The kernel may stop at an entry it cannot set up: keep the rest counted
    // so the next flush submits them.
    const int submitted = io_uring_submit(&ring_);
    if (submitted > 0) unsubmitted_ -= std::min<std::uint32_t>(unsubmitted_, static_cast<std::uint32_t>(submitted));
}

std::size_t UringQueue::reap() noexcept {
    std::size_t delivered = 0;
    for (;;) {
        io_uring_cqe* cqe = nullptr;
        if (io_uring_peek_cqe(&ring_, &cqe) != 0 || cqe == nullptr) break;
        const auto index = static_cast<std::uint32_t>(io_uring_cqe_get_data64(cqe));
        const int res = cqe->res;
        io_uring_cqe_seen(&ring_, cqe);
        Slot& s = slots_[index];
        const bool transfer = s.op.kind == MediumOpKind::read || s.op.kind == MediumOpKind::write;
        if (transfer && res > 0 && s.done + static_cast<std::uint64_t>(res) < s.op.length) {
            s.done += static_cast<std::uint64_t>(res);  // short transfer: continue where it stopped
            if (prepare(index)) continue;
        }
        MediumResult result = res < 0 ? MediumResult(std::unexpected(std::error_code(-res, std::generic_category())))
                                      : MediumResult(transfer ? s.done + static_cast<std::uint64_t>(res) : s.op.length);
        MediumSink* sink = s.sink;
        const std::uint64_t tag = s.tag;
        free_slots_.push_back(index);
        --in_flight_;
        ++delivered;
        try {
            sink->on_medium_complete(tag, std::move(result));
        } catch (const std::exception& e) {
            // Out of memory deep in a completion: lose this command, not the
            // process (this function is noexcept; the poller closes channels
            // whose own poll throws).
            spdlog::error("medium completion failed: {}", e.what());
        }
    }
    if (delivered > 0) flush_submissions();  // steps the sinks started while we delivered
    return delivered;
}

}  // namespace srp::target
