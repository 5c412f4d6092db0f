#include "srp_target/backstore/backstore.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace srp::target {
namespace {

std::string errno_text(int err) { return std::strerror(err); }

std::uint64_t page_size() {
    static const auto size = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
    return size;
}

}  // namespace

Backstore::Backstore(const BackstoreConfig& config)
    : path_(config.path), kind_(BackstoreKind::file), read_only_(config.read_only) {
    const int prot = PROT_READ | (read_only_ ? 0 : PROT_WRITE);
    if (path_.empty()) {
        kind_ = BackstoreKind::anonymous;
        if (config.size_bytes == 0) throw BackstoreError("anonymous backstore needs a size");
        size_bytes_ = config.size_bytes;
        // MAP_SHARED anonymous memory is shmem: MADV_REMOVE can free ranges.
        void* p = ::mmap(nullptr, size_bytes_, prot, MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (p == MAP_FAILED)
            throw BackstoreError("cannot map " + std::to_string(size_bytes_) +
                                 " bytes of anonymous memory: " + errno_text(errno));
        base_ = static_cast<std::uint8_t*>(p);
        return;
    }

    struct stat st{};
    const bool exists = ::stat(path_.c_str(), &st) == 0;
    if (!exists && errno != ENOENT)
        throw BackstoreError("backstore " + path_ + ": " + errno_text(errno));
    if (exists && S_ISBLK(st.st_mode)) kind_ = BackstoreKind::block_device;
    else if (exists && !S_ISREG(st.st_mode))
        throw BackstoreError("backstore " + path_ + " is neither a regular file nor a block device");

    if (!exists) {
        if (read_only_) throw BackstoreError("backstore " + path_ + " does not exist (read-only LUNs are not created)");
        if (config.size_bytes == 0) throw BackstoreError("backstore " + path_ + " does not exist and no size was given");
    }
    const int flags = (read_only_ ? O_RDONLY : O_RDWR) | O_CLOEXEC | (exists ? 0 : O_CREAT | O_EXCL);
    fd_ = ::open(path_.c_str(), flags, 0600);
    if (fd_ < 0) throw BackstoreError("cannot open backstore " + path_ + ": " + errno_text(errno));

    try {
        std::uint64_t actual = 0;
        if (kind_ == BackstoreKind::block_device) {
            if (::ioctl(fd_, BLKGETSIZE64, &actual) != 0)
                throw BackstoreError("cannot read the size of block device " + path_ + ": " + errno_text(errno));
        } else if (!exists) {
            // Sparse: ftruncate allocates nothing, blocks appear as they are written.
            if (::ftruncate(fd_, static_cast<off_t>(config.size_bytes)) != 0)
                throw BackstoreError("cannot size backstore " + path_ + ": " + errno_text(errno));
            actual = config.size_bytes;
        } else {
            actual = static_cast<std::uint64_t>(st.st_size);
        }
        if (config.size_bytes != 0 && actual != config.size_bytes)
            throw BackstoreError("backstore " + path_ + " has " + std::to_string(actual) +
                                 " bytes but the configured size is " + std::to_string(config.size_bytes));
        if (actual == 0) throw BackstoreError("backstore " + path_ + " is empty (give a size)");
        size_bytes_ = actual;
        void* p = ::mmap(nullptr, size_bytes_, prot, MAP_SHARED, fd_, 0);
        if (p == MAP_FAILED)
            throw BackstoreError("cannot map backstore " + path_ + ": " + errno_text(errno));
        base_ = static_cast<std::uint8_t*>(p);
    } catch (...) {
        ::close(fd_);
        if (!exists) ::unlink(path_.c_str());
        throw;
    }
}

Backstore::~Backstore() {
    if (base_ != nullptr) ::munmap(base_, size_bytes_);
    if (fd_ >= 0) ::close(fd_);
}

std::expected<void, std::error_code> Backstore::flush(std::uint64_t offset, std::uint64_t length) const noexcept {
    if (kind_ == BackstoreKind::anonymous || read_only_) return {};
    if (offset > size_bytes_) return std::unexpected(std::make_error_code(std::errc::invalid_argument));
    if (length == 0 || offset + length > size_bytes_) length = size_bytes_ - offset;
    const std::uint64_t start = offset & ~(page_size() - 1);
    if (::msync(base_ + start, offset + length - start, MS_SYNC) != 0)
        return std::unexpected(std::error_code(errno, std::generic_category()));
    if (kind_ == BackstoreKind::block_device && ::fdatasync(fd_) != 0)  // flush the device's write cache
        return std::unexpected(std::error_code(errno, std::generic_category()));
    return {};
}

std::expected<void, std::error_code> Backstore::discard(std::uint64_t offset, std::uint64_t length) const noexcept {
    if (read_only_) return std::unexpected(std::make_error_code(std::errc::read_only_file_system));
    if (pinned()) return std::unexpected(std::make_error_code(std::errc::device_or_resource_busy));
    if (offset + length > size_bytes_ || offset + length < offset)
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
    // Punching a hole drops the page cache pages too, so the mapping reads zeros.
    if (::fallocate(fd_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(offset),
                    static_cast<off_t>(length)) != 0) {
        if (errno != EOPNOTSUPP) return std::unexpected(std::error_code(errno, std::generic_category()));
        std::memset(base_ + offset, 0, length);  // no hole support: zeroing keeps the LBPRZ promise
    }
    return {};
}

Backstore::Extent Backstore::provisioning_status(std::uint64_t offset) const noexcept {
    if (offset >= size_bytes_) return {true, 0};
    const std::uint64_t rest = size_bytes_ - offset;
    if (kind_ != BackstoreKind::file) return {true, rest};
    // SEEK_DATA from inside a hole lands on the next data (ENXIO: none
    // before EOF); from inside data it returns offset itself, and SEEK_HOLE
    // then finds where the data ends. Page-cache pages written through the
    // mapping count as data (delayed allocation is reported as data).
    const off_t data = ::lseek(fd_, static_cast<off_t>(offset), SEEK_DATA);
    if (data < 0) return {errno != ENXIO, rest};  // an unexpected error: "unknown" is reported as mapped
    if (static_cast<std::uint64_t>(data) > offset)
        return {false, std::min<std::uint64_t>(static_cast<std::uint64_t>(data), size_bytes_) - offset};
    const off_t hole = ::lseek(fd_, static_cast<off_t>(offset), SEEK_HOLE);
    if (hole < 0) return {true, rest};
    return {true, std::min<std::uint64_t>(static_cast<std::uint64_t>(hole), size_bytes_) - offset};
}

void Backstore::prefetch(std::uint64_t offset, std::uint64_t length) const noexcept {
    if (kind_ == BackstoreKind::anonymous || offset >= size_bytes_ || length == 0) return;
    const std::uint64_t end = offset + std::min(length, size_bytes_ - offset);
    const std::uint64_t start = offset & ~(page_size() - 1);
    (void)::madvise(base_ + start, end - start, MADV_WILLNEED);
}

void Backstore::mark_written(std::uint64_t offset, std::uint64_t length) const noexcept {
    if (read_only_ || kind_ == BackstoreKind::anonymous || length == 0 || offset >= size_bytes_) return;
    const std::uint64_t end = std::min(offset + length, size_bytes_);
    for (std::uint64_t page = offset & ~(page_size() - 1); page < end; page += page_size())
        __atomic_fetch_or(base_ + page, std::uint8_t{0}, __ATOMIC_RELAXED);
}

}  // namespace srp::target
