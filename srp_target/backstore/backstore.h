// A logical unit's medium. Two kinds, chosen per LUN at start (and logged):
//
//  - memory: anonymous shared memory, or a file on tmpfs/hugetlbfs. Mapped
//    and registered for RDMA once; the transport moves data straight to and
//    from bytes() (zero copy) and the engine runs medium steps inline.
//    Long-term pinning is legal only for these pages (Linux >= 6.5 refuses
//    writable long-term pins of page-cache file mappings).
//  - io: a regular file or block device read and written through io_uring
//    into the transport's registered buffers. O_DIRECT by default (block
//    devices, and files whose filesystem accepts it), buffered on request.
//
// BackstoreAccess::mapped forces the memory kind on any file (the old
// behaviour; only for kernels and filesystems that still allow the pin).
//
// Thread safety: execute() and the accessors may run on any thread; size
// changes are published with atomics. Setup errors throw BackstoreError
// naming the path and the problem; data path errors are values.
#pragma once

#include <atomic>
#include <cstdint>
#include <expected>
#include <span>
#include <stdexcept>
#include <string>
#include <system_error>

#include "srp_target/backstore/medium.h"

namespace srp::target {

class BackstoreError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

enum class BackstoreKind { file, block_device, anonymous };
// How the medium is reached (from --lun ...,io=).
enum class BackstoreAccess { automatic, mapped, direct, buffered };
const char* to_string(BackstoreAccess access) noexcept;

struct BackstoreConfig {
    std::string path;             // empty: anonymous memory
    std::uint64_t size_bytes = 0; // 0: the size of an existing file or device
    bool read_only = false;
    BackstoreAccess access = BackstoreAccess::automatic;
    std::uint32_t block_size = 512;  // the LU's; O_DIRECT needs it aligned to the device's
};

class Backstore {
public:
    explicit Backstore(const BackstoreConfig& config);
    ~Backstore();
    Backstore(const Backstore&) = delete;
    Backstore& operator=(const Backstore&) = delete;

    // Memory kind: the mapping. io kind: empty.
    std::span<std::uint8_t> bytes() const noexcept { return {base_, mapped_bytes_}; }
    bool is_memory() const noexcept { return base_ != nullptr; }
    bool direct_io() const noexcept { return direct_io_; }
    // io=mapped on a regular file or block device: page-cache pages are mapped (and pinned when registered).
    bool maps_page_cache() const noexcept { return maps_page_cache_; }
    int fd() const noexcept { return fd_; }
    std::uint64_t size_bytes() const noexcept { return size_bytes_.load(std::memory_order_acquire); }
    bool read_only() const noexcept { return read_only_; }
    BackstoreKind kind() const noexcept { return kind_; }
    const std::string& path() const noexcept { return path_; }
    // "memory (tmpfs, mapped)", "io (block device, O_DIRECT)", ... for the start log.
    std::string describe() const;

    // Re-reads the size of the file or device (after a short read, EOF, or a
    // fault on the mapping). Only ever shrinks what size_bytes() reports (the
    // mapping cannot grow). Returns the new size.
    std::uint64_t refresh_size() noexcept;

    // Runs one medium operation synchronously. Memory kind: copies in and
    // out of the mapping under a SIGBUS guard, msync, MADV_REMOVE or hole
    // punch. io kind: pread/pwrite/fdatasync/fallocate/ioctl (blocking: for
    // tests and tools; the data path uses a MediumQueue).
    MediumResult execute(const MediumOp& op) const noexcept;

    // Makes [offset, offset+length) durable. No-op for anonymous memory.
    std::expected<void, std::error_code> flush(std::uint64_t offset, std::uint64_t length) const noexcept;
    // Deallocates the range; afterwards it reads as zeros. Refused while pinned.
    std::expected<void, std::error_code> discard(std::uint64_t offset, std::uint64_t length) const noexcept;

    // Provisioning state of the bytes from `offset` on (SBC-3 4.7.3, for GET
    // LBA STATUS): whether the extent starting there is backed by storage
    // (mapped) or a hole (deallocated), and how many bytes it spans before
    // the state changes. A file answers from SEEK_DATA/SEEK_HOLE; a block
    // device or anonymous memory cannot tell, and reports one mapped extent
    // to the end ("mapped or unknown" is a valid answer). An offset at or
    // past the end gives a zero-length extent.
    struct Extent {
        bool mapped = true;
        std::uint64_t length_bytes = 0;
    };
    Extent provisioning_status(std::uint64_t offset) const noexcept;

    // Starts reading [offset, offset+length) into the page cache without
    // waiting (madvise MADV_WILLNEED on a mapping, POSIX_FADV_WILLNEED on a
    // buffered io backstore); a hint, errors are ignored. No-op for
    // anonymous memory and O_DIRECT backstores.
    void prefetch(std::uint64_t offset, std::uint64_t length) const noexcept;

    // Pinned: registered for RDMA, so the pages must stay the file's pages.
    // A hole punch would detach them (the registration would keep the old
    // pages), so a pinned backstore cannot deallocate.
    void set_pinned(bool pinned) noexcept { pinned_.store(pinned, std::memory_order_release); }
    bool pinned() const noexcept { return pinned_.load(std::memory_order_acquire); }
    bool can_deallocate() const noexcept { return !read_only_ && !pinned() && !no_discard_; }

    // Marks [offset, offset+length) dirty after a device (RDMA) wrote it
    // behind the page tables' back, so msync/writeback persist it: one atomic
    // no-op write per page, which cannot clobber concurrent writes.
    void mark_written(std::uint64_t offset, std::uint64_t length) const noexcept;

private:
    void open_file(const BackstoreConfig& config);
    void choose_access(const BackstoreConfig& config);
    MediumResult execute_mapped(const MediumOp& op) const noexcept;
    MediumResult execute_io(const MediumOp& op) const noexcept;

    std::atomic<bool> pinned_{false};
    std::string path_;
    BackstoreKind kind_;
    bool read_only_;
    bool direct_io_ = false;
    bool maps_page_cache_ = false;
    bool no_discard_ = false;  // block device without discard support
    const char* fs_name_ = "";
    int fd_ = -1;
    std::atomic<std::uint64_t> size_bytes_{0};
    std::uint64_t mapped_bytes_ = 0;
    std::uint8_t* base_ = nullptr;
};

}  // namespace srp::target
