// Opening a backstore and choosing its kind. The medium operations are in
// backstore_ops.cpp.
#include "srp_target/backstore/backstore.h"
#include "srp_target/backstore/aligned_buffer.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace srp::target {
namespace {

std::string errno_text(int err) { return std::strerror(err); }

}  // namespace

const char* to_string(BackstoreAccess access) noexcept {
    switch (access) {
        case BackstoreAccess::automatic: return "auto";
        case BackstoreAccess::mapped: return "mapped";
        case BackstoreAccess::direct: return "direct";
        case BackstoreAccess::buffered: return "buffered";
    }
    return "?";
}

Backstore::Backstore(const BackstoreConfig& config)
    : path_(config.path), kind_(BackstoreKind::file), read_only_(config.read_only) {
    const int prot = PROT_READ | (read_only_ ? 0 : PROT_WRITE);
    if (path_.empty()) {
        kind_ = BackstoreKind::anonymous;
        fs_name_ = "anonymous";
        if (config.size_bytes == 0) throw BackstoreError("anonymous backstore needs a size");
        size_bytes_ = config.size_bytes;
        mapped_bytes_ = config.size_bytes;
        // MAP_SHARED anonymous memory is shmem: MADV_REMOVE can free ranges.
        void* p = ::mmap(nullptr, mapped_bytes_, prot, MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (p == MAP_FAILED)
            throw BackstoreError("cannot map " + std::to_string(mapped_bytes_) +
                                 " bytes of anonymous memory: " + errno_text(errno));
        base_ = static_cast<std::uint8_t*>(p);
        return;
    }
    open_file(config);
}

void Backstore::open_file(const BackstoreConfig& config) {
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
        choose_access(config);
    } catch (...) {
        ::close(fd_);
        fd_ = -1;
        if (!exists) ::unlink(path_.c_str());
        throw;
    }
}

void Backstore::choose_access(const BackstoreConfig& config) {
    struct statfs fs{};
    bool memory_fs = false;
    if (kind_ == BackstoreKind::file && ::fstatfs(fd_, &fs) == 0) {
        if (fs.f_type == TMPFS_MAGIC) fs_name_ = "tmpfs", memory_fs = true;
        else if (fs.f_type == HUGETLBFS_MAGIC) fs_name_ = "hugetlbfs", memory_fs = true;
        else fs_name_ = "file";
    } else {
        fs_name_ = kind_ == BackstoreKind::block_device ? "block device" : "file";
    }
    // tmpfs and hugetlbfs pages are memory: map them (zero copy) whatever
    // io= says; they support neither O_DIRECT nor writeback.
    if (memory_fs || config.access == BackstoreAccess::mapped) {
        maps_page_cache_ = !memory_fs;
        mapped_bytes_ = size_bytes_;
        const int prot = PROT_READ | (read_only_ ? 0 : PROT_WRITE);
        void* p = ::mmap(nullptr, mapped_bytes_, prot, MAP_SHARED, fd_, 0);
        if (p == MAP_FAILED) throw BackstoreError("cannot map backstore " + path_ + ": " + errno_text(errno));
        base_ = static_cast<std::uint8_t*>(p);
        return;
    }
    if (kind_ == BackstoreKind::block_device) {
        int sector = 512;
        if (::ioctl(fd_, BLKSSZGET, &sector) == 0 && config.block_size % static_cast<std::uint32_t>(sector) != 0) {
            if (config.access == BackstoreAccess::direct)
                throw BackstoreError("backstore " + path_ + ": block size " + std::to_string(config.block_size) +
                                     " is not a multiple of the device's logical block size " +
                                     std::to_string(sector) + " (O_DIRECT)");
            return;  // automatic: buffered
        }
    }
    if (config.access == BackstoreAccess::buffered) return;
    // O_DIRECT by default; some filesystems refuse it (EINVAL), then buffered.
    const int flags = ::fcntl(fd_, F_GETFL);
    if (flags >= 0 && ::fcntl(fd_, F_SETFL, flags | O_DIRECT) == 0 && (::fcntl(fd_, F_GETFL) & O_DIRECT)) {
        // The filesystem may still want a larger alignment than our block
        // size (a 4096-byte-sector device under a 512-byte LU): probe it.
        AlignedBuffer probe(config.block_size);
        if (::pread(fd_, probe.data(), config.block_size, 0) >= 0 || errno != EINVAL) {
            direct_io_ = true;
            return;
        }
        (void)::fcntl(fd_, F_SETFL, flags);
        if (config.access == BackstoreAccess::direct)
            throw BackstoreError("backstore " + path_ + ": O_DIRECT refuses " + std::to_string(config.block_size) +
                                 "-byte blocks");
        return;
    }
    if (config.access == BackstoreAccess::direct)
        throw BackstoreError("backstore " + path_ + ": the filesystem refuses O_DIRECT: " + errno_text(errno));
}

Backstore::~Backstore() {
    if (base_ != nullptr) ::munmap(base_, mapped_bytes_);
    if (fd_ >= 0) ::close(fd_);
}

std::string Backstore::describe() const {
    if (is_memory())
        return std::string("memory (") + fs_name_ + (kind_ == BackstoreKind::anonymous ? ")" : ", mapped)");
    return std::string("io_uring (") + fs_name_ + (direct_io_ ? ", O_DIRECT)" : ", buffered)");
}

std::uint64_t Backstore::refresh_size() noexcept {
    std::uint64_t actual = size_bytes();
    if (kind_ == BackstoreKind::block_device) {
        (void)::ioctl(fd_, BLKGETSIZE64, &actual);
    } else if (kind_ == BackstoreKind::file) {
        struct stat st{};
        if (::fstat(fd_, &st) == 0) actual = static_cast<std::uint64_t>(st.st_size);
    }
    if (actual < size_bytes()) size_bytes_.store(actual, std::memory_order_release);
    return size_bytes();
}

}  // namespace srp::target
