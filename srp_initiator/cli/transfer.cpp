// read, write and verify: byte ranges moved with READ(16)/WRITE(16).
#include <cstring>
#include <fstream>
#include <iostream>
#include <vector>

#include "common/scsi/cdb.h"
#include "srp_initiator/cli/cli.h"

namespace srp::initiator::cli {
namespace {

struct Range {
    std::uint64_t offset = 0, length = 0;
    Capacity capacity;
};

// Validates offset/length against the capacity; length defaults to the rest of the LUN.
std::optional<Range> plan_range(Session& session, const Options& options, std::optional<std::uint64_t> length,
                                std::ostream& err, int& rc) {
    auto capacity = read_capacity(session, options.lun, err, rc);
    if (!capacity) return std::nullopt;
    const std::uint64_t size = capacity->blocks * capacity->block_size;
    Range r{options.offset, length.value_or(size > options.offset ? size - options.offset : 0), *capacity};
    if (r.offset % capacity->block_size || r.length % capacity->block_size) {
        err << "srp_initiator: --offset and --length must be multiples of the block size " << capacity->block_size << "\n";
        rc = kExitUsage;
        return std::nullopt;
    }
    if (r.offset + r.length > size) {
        err << "srp_initiator: range " << r.offset << "+" << r.length << " is beyond the LUN's " << size << " bytes\n";
        rc = kExitUsage;
        return std::nullopt;
    }
    return r;
}

CommandResult transfer(Session& session, const Options& options, const Range& range, std::uint64_t at,
                       std::span<std::uint8_t> buffer, bool write) {
    const auto cdb = scsi::make_rw16(write ? scsi::op::kWrite16 : scsi::op::kRead16, at / range.capacity.block_size,
                                     static_cast<std::uint32_t>(buffer.size() / range.capacity.block_size));
    return session.execute(options.lun, cdb, write ? Direction::to_target : Direction::from_target, buffer);
}

std::uint32_t chunk_bytes(const Options& options, const Range& range) {
    const std::uint32_t bs = range.capacity.block_size;
    return std::max(bs, options.transfer_bytes / bs * bs);
}

// Deterministic pattern: every byte depends on its absolute offset and the seed.
void pattern(std::span<std::uint8_t> out, std::uint64_t offset, std::uint32_t seed) {
    for (std::size_t i = 0; i < out.size(); ++i) {
        const std::uint64_t x = (offset + i) * 0x9E3779B97F4A7C15ull ^ (std::uint64_t{seed} << 32 | seed);
        out[i] = static_cast<std::uint8_t>(x >> 56 ^ x >> 17 ^ (offset + i));
    }
}

}  // namespace

int run_read(Session& session, const Options& options, std::ostream& out, std::ostream& err) {
    int rc = kExitOk;
    auto range = plan_range(session, options, options.length, err, rc);
    if (!range) return rc;
    std::ofstream file;
    std::ostream* sink = &out;
    if (options.file != "-") {
        file.open(options.file, std::ios::binary | std::ios::trunc);
        if (!file) {
            err << "srp_initiator: cannot write " << options.file << "\n";
            return kExitLocalIo;
        }
        sink = &file;
    }
    const std::uint32_t chunk = chunk_bytes(options, *range);
    auto buffer = *session.allocate(chunk);
    for (std::uint64_t done = 0; done < range->length;) {
        const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(chunk, range->length - done));
        auto r = transfer(session, options, *range, range->offset + done, buffer.first(n), false);
        if ((rc = check_result(r, "READ (16)", err)) != kExitOk) break;
        sink->write(reinterpret_cast<const char*>(buffer.data()), static_cast<std::streamsize>(n));
        if (!*sink) {
            err << "srp_initiator: writing the output failed\n";
            rc = kExitLocalIo;
            break;
        }
        done += n;
    }
    session.release(buffer);
    if (rc == kExitOk && options.file != "-") err << "read " << range->length << " bytes into " << options.file << "\n";
    return rc;
}

int run_write(Session& session, const Options& options, std::ostream& /*out*/, std::ostream& err) {
    std::ifstream file;
    std::istream* source = &std::cin;
    if (options.file != "-") {
        file.open(options.file, std::ios::binary);
        if (!file) {
            err << "srp_initiator: cannot read " << options.file << "\n";
            return kExitLocalIo;
        }
        source = &file;
    }
    std::vector<char> data((std::istreambuf_iterator<char>(*source)), std::istreambuf_iterator<char>());
    std::uint64_t length = options.length.value_or(data.size());
    if (length > data.size()) {
        err << "srp_initiator: --length " << length << " is more than the " << data.size() << " input bytes\n";
        return kExitUsage;
    }
    int rc = kExitOk;
    auto range = plan_range(session, options, length, err, rc);
    if (!range) return rc;
    const std::uint32_t chunk = chunk_bytes(options, *range);
    auto buffer = *session.allocate(chunk);
    for (std::uint64_t done = 0; done < range->length;) {
        const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(chunk, range->length - done));
        std::memcpy(buffer.data(), data.data() + done, n);
        auto r = transfer(session, options, *range, range->offset + done, buffer.first(n), true);
        if ((rc = check_result(r, "WRITE (16)", err)) != kExitOk) break;
        done += n;
    }
    session.release(buffer);
    if (rc == kExitOk) err << "wrote " << range->length << " bytes at offset " << range->offset << "\n";
    return rc;
}

int run_verify(Session& session, const Options& options, std::ostream& out, std::ostream& err) {
    int rc = kExitOk;
    auto range = plan_range(session, options, options.length, err, rc);
    if (!range) return rc;
    const std::uint32_t chunk = chunk_bytes(options, *range);
    auto buffer = *session.allocate(chunk);
    std::vector<std::uint8_t> expected(chunk);
    for (std::uint64_t done = 0; done < range->length && rc == kExitOk;) {  // write the pattern
        const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(chunk, range->length - done));
        pattern(buffer.first(n), range->offset + done, options.seed);
        rc = check_result(transfer(session, options, *range, range->offset + done, buffer.first(n), true), "WRITE (16)", err);
        done += n;
    }
    for (std::uint64_t done = 0; done < range->length && rc == kExitOk;) {  // read it back and compare
        const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(chunk, range->length - done));
        std::memset(buffer.data(), 0, n);
        rc = check_result(transfer(session, options, *range, range->offset + done, buffer.first(n), false), "READ (16)", err);
        if (rc != kExitOk) break;
        pattern(std::span(expected).first(n), range->offset + done, options.seed);
        if (std::memcmp(buffer.data(), expected.data(), n) != 0) {
            std::size_t i = 0;
            while (buffer[i] == expected[i]) ++i;
            err << "srp_initiator: miscompare at byte " << range->offset + done + i << ": read 0x" << std::hex
                << int(buffer[i]) << ", expected 0x" << int(expected[i]) << std::dec << "\n";
            rc = kExitMiscompare;
        }
        done += n;
    }
    session.release(buffer);
    if (rc == kExitOk)
        out << "verified " << range->length << " bytes at offset " << range->offset << " in " << chunk
            << "-byte transfers (seed " << options.seed << ")\n";
    return rc;
}

int run_command(Session& session, const Options& options, std::ostream& out, std::ostream& err) {
    const std::string& c = options.command;
    if (c == "login") return run_login(session, options, out);
    if (c == "tur") return run_tur(session, options, out, err);
    if (c == "inquiry") return run_inquiry(session, options, out, err);
    if (c == "readcap") return run_readcap(session, options, out, err);
    if (c == "luns") return run_luns(session, options, out, err);
    if (c == "sync") return run_sync(session, options, out, err);
    if (c == "read") return run_read(session, options, out, err);
    if (c == "write") return run_write(session, options, out, err);
    if (c == "verify") return run_verify(session, options, out, err);
    if (c == "bench") return run_bench(session, options, out, err);
    err << "srp_initiator: unknown command " << c << "\n";
    return kExitUsage;
}

}  // namespace srp::initiator::cli
