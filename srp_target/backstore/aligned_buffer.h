// Page-aligned heap memory for O_DIRECT I/O and RDMA registration.
// Owner of the bytes; movable, not copyable. Contents start zeroed.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <span>

namespace srp::target {

inline constexpr std::size_t kIoAlignmentBytes = 4096;

class AlignedBuffer {
public:
    AlignedBuffer() = default;
    explicit AlignedBuffer(std::size_t bytes) : size_(bytes) {
        if (bytes == 0) return;
        const std::size_t rounded = (bytes + kIoAlignmentBytes - 1) / kIoAlignmentBytes * kIoAlignmentBytes;
        memory_.reset(static_cast<std::uint8_t*>(std::aligned_alloc(kIoAlignmentBytes, rounded)));
        if (!memory_) throw std::bad_alloc();
        std::memset(memory_.get(), 0, rounded);
    }
    std::span<std::uint8_t> bytes() const noexcept { return {memory_.get(), size_}; }
    std::uint8_t* data() const noexcept { return memory_.get(); }
    std::size_t size() const noexcept { return size_; }
    bool empty() const noexcept { return size_ == 0; }

private:
    struct Free {
        void operator()(std::uint8_t* p) const noexcept { std::free(p); }
    };
    std::unique_ptr<std::uint8_t, Free> memory_;
    std::size_t size_ = 0;
};

}  // namespace srp::target
