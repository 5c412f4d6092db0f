// Per-logical-unit LBA range locks that never block: COMPARE AND WRITE
// (SBC-3 5.2) must be atomic against overlapping writes, and a poller must
// never sleep waiting for another poller's command. try_lock() either takes
// the range now or says no; the caller's task then waits in the blocked
// phase and the transport retries it on a later pass.
//
// Shared holders (WRITE, WRITE SAME, UNMAP) do not exclude each other: SCSI does
// not order overlapping writes. An exclusive holder (COMPARE AND WRITE)
// excludes every overlapping holder. No fairness: a stream of overlapping
// writes can delay a COMPARE AND WRITE (it is retried every poll pass).
// Thread safety: any thread; a short mutex guards the holder list.
#pragma once

#include <cstdint>
#include <mutex>
#include <vector>

namespace srp::target {

class RangeLocks;

// A held range; releases it when destroyed or released. Movable.
class RangeLock {
public:
    RangeLock() = default;
    RangeLock(RangeLock&& other) noexcept : owner_(other.owner_), id_(other.id_) { other.owner_ = nullptr; }
    RangeLock& operator=(RangeLock&& other) noexcept {
        if (this != &other) {
            release();
            owner_ = other.owner_;
            id_ = other.id_;
            other.owner_ = nullptr;
        }
        return *this;
    }
    ~RangeLock() { release(); }
    void release() noexcept;
    bool held() const noexcept { return owner_ != nullptr; }

private:
    friend class RangeLocks;
    RangeLock(RangeLocks* owner, std::uint64_t id) : owner_(owner), id_(id) {}
    RangeLocks* owner_ = nullptr;
    std::uint64_t id_ = 0;
};

class RangeLocks {
public:
    // [first_lba, first_lba + blocks); an empty RangeLock when it conflicts.
    RangeLock try_lock(std::uint64_t first_lba, std::uint64_t blocks, bool exclusive);
    std::size_t held() const;

private:
    friend class RangeLock;
    struct Holder {
        std::uint64_t id, begin, end;
        bool exclusive;
    };
    void unlock(std::uint64_t id) noexcept;

    mutable std::mutex mutex_;
    std::vector<Holder> holders_;
    std::uint64_t next_id_ = 1;
};

inline void RangeLock::release() noexcept {
    if (owner_ != nullptr) owner_->unlock(id_);
    owner_ = nullptr;
}

inline RangeLock RangeLocks::try_lock(std::uint64_t first_lba, std::uint64_t blocks, bool exclusive) {
    std::lock_guard lock(mutex_);
    const std::uint64_t end = first_lba + blocks;
    for (const Holder& h : holders_)
        if ((exclusive || h.exclusive) && h.begin < end && first_lba < h.end) return {};
    holders_.push_back(Holder{next_id_, first_lba, end, exclusive});
    return RangeLock(this, next_id_++);
}

inline std::size_t RangeLocks::held() const {
    std::lock_guard lock(mutex_);
    return holders_.size();
}

inline void RangeLocks::unlock(std::uint64_t id) noexcept {
    std::lock_guard lock(mutex_);
    for (auto it = holders_.begin(); it != holders_.end(); ++it)
        if (it->id == id) {
            *it = holders_.back();
            holders_.pop_back();
            return;
        }
}

}  // namespace srp::target
