// A big-endian integer as it lies in a wire buffer: alignment 1, trivially
// copyable, so it can be a member of a packed-free layout struct whose offsets
// are asserted. Every multi-byte SRP and SCSI field is big-endian (SRP r16a
// section 5.1; SAM-5 4.3), except SRP's opaque tag.
#pragma once

#include <array>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <span>

namespace srp::wire {

template <std::unsigned_integral T>
class BigEndian {
public:
    constexpr BigEndian() noexcept = default;
    constexpr BigEndian(T value) noexcept { set(value); }  // NOLINT: implicit on purpose

    constexpr T value() const noexcept {
        T v = 0;
        for (std::uint8_t b : bytes_) v = static_cast<T>((v << 8) | b);
        return v;
    }
    constexpr void set(T value) noexcept {
        for (std::size_t i = sizeof(T); i-- > 0;) {
            bytes_[i] = static_cast<std::uint8_t>(value & 0xffu);
            if constexpr (sizeof(T) > 1) value = static_cast<T>(value >> 8);
        }
    }
    constexpr BigEndian& operator=(T value) noexcept {
        set(value);
        return *this;
    }
    constexpr bool operator==(const BigEndian&) const noexcept = default;

private:
    std::array<std::uint8_t, sizeof(T)> bytes_{};
};

using Be16 = BigEndian<std::uint16_t>;
using Be32 = BigEndian<std::uint32_t>;
using Be64 = BigEndian<std::uint64_t>;

static_assert(sizeof(Be64) == 8 && alignof(Be64) == 1);
static_assert(std::is_trivially_copyable_v<Be32>);

// Reads and writes of big-endian integers at arbitrary offsets of a byte span
// (CDBs, mode pages, VPD pages). The caller guarantees the range is in bounds.
template <std::unsigned_integral T>
constexpr T load_be(std::span<const std::uint8_t> bytes, std::size_t offset) noexcept {
    T v = 0;
    for (std::size_t i = 0; i < sizeof(T); ++i) v = static_cast<T>((v << 8) | bytes[offset + i]);
    return v;
}

template <std::unsigned_integral T>
constexpr void store_be(std::span<std::uint8_t> bytes, std::size_t offset, T value) noexcept {
    for (std::size_t i = sizeof(T); i-- > 0;) {
        bytes[offset + i] = static_cast<std::uint8_t>(value & 0xffu);
        if constexpr (sizeof(T) > 1) value = static_cast<T>(value >> 8);
    }
}

// 24-bit fields (MODE SENSE block descriptors, READ(6) LBA).
constexpr std::uint32_t load_be24(std::span<const std::uint8_t> bytes, std::size_t offset) noexcept {
    return (std::uint32_t{bytes[offset]} << 16) | (std::uint32_t{bytes[offset + 1]} << 8) |
           bytes[offset + 2];
}
constexpr void store_be24(std::span<std::uint8_t> bytes, std::size_t offset,
                          std::uint32_t value) noexcept {
    bytes[offset] = static_cast<std::uint8_t>(value >> 16);
    bytes[offset + 1] = static_cast<std::uint8_t>(value >> 8);
    bytes[offset + 2] = static_cast<std::uint8_t>(value);
}

}  // namespace srp::wire
