// Medium operations run synchronously: the memory kind's inline steps, and
// the io kind's blocking fallback (tests, tools). The data path runs the io
// kind through UringQueue, which issues the same system calls' io_uring forms.
#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "srp_target/backstore/backstore.h"
#include "srp_target/backstore/sigbus_guard.h"

namespace srp::target {
namespace {

std::uint64_t page_size() {
    static const auto size = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
    return size;
}

std::unexpected<std::error_code> errno_error(int err) { return std::unexpected(std::error_code(err, std::generic_category())); }

}  // namespace

const char* to_string(MediumOpKind kind) noexcept {
    switch (kind) {
        case MediumOpKind::read: return "read";
        case MediumOpKind::write: return "write";
        case MediumOpKind::flush: return "flush";
        case MediumOpKind::discard: return "discard";
        case MediumOpKind::write_zeroes: return "write_zeroes";
    }
    return "?";
}

MediumResult Backstore::execute(const MediumOp& op) const noexcept {
    if (op.kind != MediumOpKind::flush && read_only_ && op.kind != MediumOpKind::read) return errno_error(EROFS);
    return is_memory() ? execute_mapped(op) : execute_io(op);
}

MediumResult Backstore::execute_mapped(const MediumOp& op) const noexcept {
    const std::uint64_t size = std::min<std::uint64_t>(size_bytes(), mapped_bytes_);
    if (op.kind != MediumOpKind::flush && (op.offset > size || op.length > size - op.offset)) {
        // Beyond what is left of a shrunken file: the bytes that exist, then EOF.
        if (op.kind == MediumOpKind::read && op.offset <= size) {
            const std::uint64_t n = size - op.offset;
            if (!guarded_copy(op.buffer.data(), base_ + op.offset, n)) return errno_error(EIO);
            return n;
        }
        return errno_error(EINVAL);
    }
    switch (op.kind) {
        case MediumOpKind::read:
            // A SIGBUS (truncated file, tmpfs out of pages) becomes EIO.
            if (!guarded_copy(op.buffer.data(), base_ + op.offset, op.length)) return errno_error(EIO);
            return op.length;
        case MediumOpKind::write:
            if (!guarded_copy(base_ + op.offset, op.buffer.data(), op.length)) return errno_error(ENOSPC);
            if (op.fua) {
                if (auto f = flush(op.offset, op.length); !f) return std::unexpected(f.error());
            }
            return op.length;
        case MediumOpKind::flush:
            if (auto f = flush(op.offset, op.length); !f) return std::unexpected(f.error());
            return 0;
        case MediumOpKind::discard:
            if (auto d = discard(op.offset, op.length); !d) return std::unexpected(d.error());
            return op.length;
        case MediumOpKind::write_zeroes:
            if (!guarded_fill(base_ + op.offset, 0, op.length)) return errno_error(ENOSPC);
            return op.length;
    }
    return errno_error(EINVAL);
}

MediumResult Backstore::execute_io(const MediumOp& op) const noexcept {
    const auto offset = static_cast<off_t>(op.offset);
    switch (op.kind) {
        case MediumOpKind::read:
        case MediumOpKind::write: {
            std::uint64_t done = 0;
            while (done < op.length) {
                iovec v{op.buffer.data() + done, op.length - done};
                const ssize_t n = op.kind == MediumOpKind::read
                                      ? ::preadv2(fd_, &v, 1, offset + static_cast<off_t>(done), 0)
                                      : ::pwritev2(fd_, &v, 1, offset + static_cast<off_t>(done), op.fua ? RWF_DSYNC : 0);
                if (n < 0 && errno == EINTR) continue;
                if (n < 0) return errno_error(errno);
                if (n == 0) break;  // end of file: a short read
                done += static_cast<std::uint64_t>(n);
            }
            return done;
        }
        case MediumOpKind::flush:
            if (::fdatasync(fd_) != 0) return errno_error(errno);
            return 0;
        case MediumOpKind::discard:
        case MediumOpKind::write_zeroes: {
            // On a block device both are blkdev_issue_zeroout (PUNCH_HOLE: may
            // unmap, no fallback; ZERO_RANGE: writes zeros if it must), so
            // the range reads zeros afterwards as LBPRZ=1 promises; BLKDISCARD
            // would not promise that.
            const int mode = (op.kind == MediumOpKind::discard ? FALLOC_FL_PUNCH_HOLE : FALLOC_FL_ZERO_RANGE) |
                             FALLOC_FL_KEEP_SIZE;
            if (::fallocate(fd_, mode, offset, static_cast<off_t>(op.length)) != 0) return errno_error(errno);
            return op.length;
        }
    }
    return errno_error(EINVAL);
}

std::expected<void, std::error_code> Backstore::flush(std::uint64_t offset, std::uint64_t length) const noexcept {
    if (kind_ == BackstoreKind::anonymous || read_only_) return {};
    if (!is_memory()) {
        if (::fdatasync(fd_) != 0) return errno_error(errno);
        return {};
    }
    if (offset > mapped_bytes_) return std::unexpected(std::make_error_code(std::errc::invalid_argument));
    if (length == 0 || offset + length > mapped_bytes_) length = mapped_bytes_ - offset;
    const std::uint64_t start = offset & ~(page_size() - 1);
    if (::msync(base_ + start, offset + length - start, MS_SYNC) != 0) return errno_error(errno);
    if (kind_ == BackstoreKind::block_device && ::fdatasync(fd_) != 0)  // flush the device's write cache
        return errno_error(errno);
    return {};
}

std::expected<void, std::error_code> Backstore::discard(std::uint64_t offset, std::uint64_t length) const noexcept {
    if (read_only_) return std::unexpected(std::make_error_code(std::errc::read_only_file_system));
    if (pinned()) return std::unexpected(std::make_error_code(std::errc::device_or_resource_busy));
    if (offset + length > size_bytes() || offset + length < offset)
        return std::unexpected(std::make_error_code(std::errc::invalid_argument));
    if (length == 0) return {};
    if (kind_ == BackstoreKind::anonymous) {
        // MADV_REMOVE works on whole pages; zero the partial edges by hand.
        const std::uint64_t first = (offset + page_size() - 1) & ~(page_size() - 1);
        const std::uint64_t last = (offset + length) & ~(page_size() - 1);
        if (first >= last) {
            std::memset(base_ + offset, 0, length);
            return {};
        }
        std::memset(base_ + offset, 0, first - offset);
        std::memset(base_ + last, 0, offset + length - last);
        if (::madvise(base_ + first, last - first, MADV_REMOVE) != 0)
            std::memset(base_ + first, 0, last - first);
        return {};
    }
    // Punching a hole drops the page cache pages too, so a mapping reads zeros.
    if (::fallocate(fd_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(offset),
                    static_cast<off_t>(length)) != 0) {
        if (errno != EOPNOTSUPP) return errno_error(errno);
        // No hole support: zeroing keeps the LBPRZ promise.
        if (is_memory()) {
            if (!guarded_fill(base_ + offset, 0, length)) return errno_error(ENOSPC);
        } else if (::fallocate(fd_, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(offset),
                               static_cast<off_t>(length)) != 0) {
            return errno_error(errno);
        }
    }
    return {};
}

void Backstore::mark_written(std::uint64_t offset, std::uint64_t length) const noexcept {
    if (read_only_ || kind_ == BackstoreKind::anonymous || !is_memory() || length == 0 || offset >= mapped_bytes_)
        return;
    const std::uint64_t end = std::min(offset + length, mapped_bytes_);
    for (std::uint64_t page = offset & ~(page_size() - 1); page < end; page += page_size())
        __atomic_fetch_or(base_ + page, std::uint8_t{0}, __ATOMIC_RELAXED);
}

}  // namespace srp::target

namespace srp::target {

Backstore::Extent Backstore::provisioning_status(std::uint64_t offset) const noexcept {
    const std::uint64_t size = size_bytes();
    if (offset >= size) return {true, 0};
    const std::uint64_t rest = size - offset;
    if (kind_ != BackstoreKind::file) return {true, rest};
    // SEEK_DATA from inside a hole lands on the next data (ENXIO: none
    // before EOF); from inside data it returns offset itself, and SEEK_HOLE
    // then finds where the data ends. Page-cache pages written through the
    // mapping count as data (delayed allocation is reported as data).
    const off_t data = ::lseek(fd_, static_cast<off_t>(offset), SEEK_DATA);
    if (data < 0) return {errno != ENXIO, rest};  // an unexpected error: "unknown" is reported as mapped
    if (static_cast<std::uint64_t>(data) > offset)
        return {false, std::min<std::uint64_t>(static_cast<std::uint64_t>(data), size) - offset};
    const off_t hole = ::lseek(fd_, static_cast<off_t>(offset), SEEK_HOLE);
    if (hole < 0) return {true, rest};
    return {true, std::min<std::uint64_t>(static_cast<std::uint64_t>(hole), size) - offset};
}

void Backstore::prefetch(std::uint64_t offset, std::uint64_t length) const noexcept {
    const std::uint64_t size = size_bytes();
    if (kind_ == BackstoreKind::anonymous || offset >= size || length == 0) return;
    const std::uint64_t end = offset + std::min(length, size - offset);
    if (is_memory()) {
        const std::uint64_t start = offset & ~(page_size() - 1);
        (void)::madvise(base_ + start, std::min(end, mapped_bytes_) - start, MADV_WILLNEED);
        return;
    }
    // O_DIRECT reads bypass the page cache: filling it would not help them.
    if (!direct_io_)
        (void)::posix_fadvise(fd_, static_cast<off_t>(offset), static_cast<off_t>(end - offset), POSIX_FADV_WILLNEED);
}

}  // namespace srp::target
