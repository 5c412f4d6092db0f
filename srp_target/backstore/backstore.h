// A memory-mapped backstore: a regular file (created sparse when missing), a
// block device, or anonymous shared memory. The transport moves data straight
// to and from bytes() with RDMA; durability is explicit through flush().
// Thread safety: bytes() may be used from any thread; flush/discard are
// thread-safe system calls. Setup errors throw BackstoreError with a message
// that names the path and the problem.
#pragma once

#include <atomic>
#include <cstdint>
#include <expected>
#include <span>
#include <stdexcept>
#include <string>
#include <system_error>

namespace srp::target {

class BackstoreError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

enum class BackstoreKind { file, block_device, anonymous };

struct BackstoreConfig {
    std::string path;             // empty: anonymous memory
    std::uint64_t size_bytes = 0; // 0: the size of an existing file or device
    bool read_only = false;
};

class Backstore {
public:
    explicit Backstore(const BackstoreConfig& config);
    ~Backstore();
    Backstore(const Backstore&) = delete;
    Backstore& operator=(const Backstore&) = delete;

    std::span<std::uint8_t> bytes() const noexcept { return {base_, size_bytes_}; }
    std::uint64_t size_bytes() const noexcept { return size_bytes_; }
    bool read_only() const noexcept { return read_only_; }
    BackstoreKind kind() const noexcept { return kind_; }
    const std::string& path() const noexcept { return path_; }

    // Makes [offset, offset+length) durable (msync MS_SYNC, which on Linux
    // also fdatasyncs the file range). No-op for anonymous memory.
    std::expected<void, std::error_code> flush(std::uint64_t offset, std::uint64_t length) const noexcept;
    // Deallocates the range; afterwards it reads as zeros (hole punch, or
    // MADV_REMOVE for anonymous memory). Refused while pinned.
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
    // waiting (madvise MADV_WILLNEED); a hint, errors are ignored. No-op for
    // anonymous memory.
    void prefetch(std::uint64_t offset, std::uint64_t length) const noexcept;

    // Pinned: registered for RDMA, so the pages must stay the file's pages.
    // A hole punch would detach them (the registration would keep the old
    // pages), so a pinned backstore cannot deallocate.
    void set_pinned(bool pinned) noexcept { pinned_.store(pinned, std::memory_order_release); }
    bool pinned() const noexcept { return pinned_.load(std::memory_order_acquire); }
    bool can_deallocate() const noexcept { return !read_only_ && !pinned(); }

    // Marks [offset, offset+length) dirty after a device (RDMA) wrote it
    // behind the page tables' back, so msync/writeback persist it: one atomic
    // no-op write per page, which cannot clobber concurrent writes.
    void mark_written(std::uint64_t offset, std::uint64_t length) const noexcept;

private:
    std::atomic<bool> pinned_{false};
    std::string path_;
    BackstoreKind kind_;
    bool read_only_;
    int fd_ = -1;
    std::uint64_t size_bytes_ = 0;
    std::uint8_t* base_ = nullptr;
};

}  // namespace srp::target
