#include "srp_initiator/nbd/disk.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <thread>
#include <utility>

#include "common/scsi/cdb.h"
#include "common/scsi/sense.h"

namespace srp::nbd {

namespace {

using initiator::CommandResult;
using initiator::Direction;

std::uint64_t load_be(std::span<const std::uint8_t> b, std::size_t at, std::size_t bytes) {
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < bytes; ++i) v = v << 8 | b[at + i];
    return v;
}
void store_be(std::span<std::uint8_t> b, std::size_t at, std::size_t bytes, std::uint64_t v) {
    for (std::size_t i = bytes; i-- > 0; v >>= 8) b[at + i] = static_cast<std::uint8_t>(v);
}

// SBC-3 5.26 / 5.43: the 16-byte CDBs with an 8-byte LBA and a 4-byte count.
std::array<std::uint8_t, 16> cdb16(std::uint8_t opcode, std::uint64_t lba, std::uint32_t blocks, std::uint8_t byte1) {
    std::array<std::uint8_t, 16> cdb{};
    cdb[0] = opcode;
    cdb[1] = byte1;
    store_be(cdb, 2, 8, lba);
    store_be(cdb, 10, 4, blocks);
    return cdb;
}

constexpr std::uint8_t kWriteSameUnmap = 0x08;  // SBC-3 WRITE SAME (16) byte 1 bit 3
constexpr std::uint16_t kSpaceAllocationFailed = 0x2707;  // SBC-3 thin provisioning
constexpr std::uint8_t kWriteProtectedAsc = 0x27;
constexpr std::uint32_t kDefaultChunkBlocks = 0x10000;  // when the LU states no limit
// A target reports a unit attention per event (power on, reset, parameters
// changed); more than a few in a row for one command means a loop, not events.
constexpr int kMaxUnitAttentions = 8;
// Pauses between logins to a target that is not there (yet): short at first,
// since a restarted target is usually back within a second or two, then
// longer, so a target that stays away is not flooded with connection requests.
constexpr std::chrono::milliseconds kFirstReloginPause{100};
constexpr std::chrono::milliseconds kMaxReloginPause{1000};

std::int64_t ms_since(std::chrono::steady_clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

int to_errno(const CommandResult& r) {
    if (r.transport_error || r.timed_out) return EIO;
    switch (r.status) {
        case scsi::Status::good:
        case scsi::Status::condition_met: return 0;
        case scsi::Status::reservation_conflict: return EACCES;
        case scsi::Status::check_condition: break;
        default: return EIO;
    }
    auto sense = scsi::decode_sense(r.sense);
    if (!sense) return EIO;
    switch (sense->key) {
        case scsi::SenseKey::data_protect:
            if (sense->asc_ascq() == kSpaceAllocationFailed) return ENOSPC;
            return sense->asc == kWriteProtectedAsc ? EROFS : EPERM;
        case scsi::SenseKey::illegal_request: return EINVAL;
        case scsi::SenseKey::medium_error:
        default: return EIO;
    }
}

std::expected<std::unique_ptr<Disk>, std::string> Disk::open(initiator::Connector connector, DiskOptions options) {
    if (options.session.channels == 0) options.session.channels = 1;
    options.session.pool_bytes =
        std::max<std::size_t>(options.session.pool_bytes, std::size_t{options.session.channels} * options.lane_buffer_bytes);
    auto session = initiator::Session::login(std::move(connector), options.session);
    if (!session) return std::unexpected("login failed: " + session.error().message);
    std::unique_ptr<Disk> disk(new Disk(std::move(*session), std::move(options)));
    auto& s = *disk->session_;
    const auto lun = disk->options_.lun;
    auto buffer = *s.allocate(512);
    // The data-in buffer exactly as long as the CDB's allocation length:
    // LIO warns when the SRP descriptor and the CDB disagree.
    auto run = [&](std::span<const std::uint8_t> cdb) {
        return s.execute(lun, cdb, Direction::from_target, buffer.first(scsi::allocation_length(cdb)));
    };
    // SBC-3 5.16 READ CAPACITY (16): last LBA, block length, LBPME.
    const std::uint8_t capacity[16] = {scsi::op::kServiceActionIn16, scsi::op::kReadCapacity16ServiceAction, 0, 0, 0, 0, 0,
                                       0, 0, 0, 0, 0, 0, 32, 0, 0};
    auto r = run(capacity);
    if (!r.good()) {
        s.release(buffer);
        return std::unexpected("READ CAPACITY (16): " + r.describe());
    }
    auto& g = disk->geometry_;
    g.block_bytes = static_cast<std::uint32_t>(load_be(buffer, 8, 4));
    g.size_bytes = (load_be(buffer, 0, 8) + 1) * g.block_bytes;
    const bool provisioning = (buffer[14] & 0x80) != 0;  // LBPME
    // SPC-4 7.8: VPD pages B2h (provisioning) and B0h (limits); absent pages leave the defaults.
    const std::uint8_t vpd_b2[6] = {scsi::op::kInquiry, 1, 0xB2, 0, 64, 0};
    if (provisioning && run(vpd_b2).good()) {
        g.thin = (buffer[5] & 0x80) != 0;              // LBPU
        g.write_same_unmap = (buffer[5] & 0x40) != 0;  // LBPWS
    }
    const std::uint8_t vpd_b0[6] = {scsi::op::kInquiry, 1, 0xB0, 0, 64, 0};
    std::fill(buffer.begin(), buffer.end(), 0);
    if (run(vpd_b0).good()) {
        g.max_unmap_blocks = static_cast<std::uint32_t>(load_be(buffer, 20, 4));
        g.max_write_same_blocks = load_be(buffer, 36, 8);
    }
    // SPC-4 7.5.6 MODE SENSE (10), caching page, no block descriptors: the
    // header's DPOFUA bit says whether WRITE takes FUA (LIO fileio may not).
    const std::uint8_t mode_sense[10] = {scsi::op::kModeSense10, 0x08, 0x08, 0, 0, 0, 0, 0, 64, 0};
    std::fill(buffer.begin(), buffer.end(), 0);
    if (run(mode_sense).good()) g.fua = (buffer[3] & 0x10) != 0;
    s.release(buffer);
    if (g.block_bytes == 0 || disk->options_.lane_buffer_bytes < g.block_bytes)
        return std::unexpected("unusable block size " + std::to_string(g.block_bytes));
    for (std::size_t i = 0; i < s.channel_count(); ++i) {
        auto b = s.allocate(disk->options_.lane_buffer_bytes);
        if (!b) return std::unexpected("the registered pool cannot hold a buffer per channel");
        disk->lanes_.push_back(std::make_unique<Lane>(s.channel_handle(i), *b));
    }
    return disk;
}

Disk::Disk(std::unique_ptr<initiator::Session> session, DiskOptions options)
    : session_(std::move(session)), options_(std::move(options)) {}

Disk::~Disk() {
    for (auto& lane : lanes_) session_->release(lane->buffer);
}

Disk::Lane& Disk::lane() {
    // Bind each calling thread to one lane for its life (per Disk).
    thread_local std::vector<std::pair<const Disk*, std::size_t>> bindings;
    for (const auto& [disk, index] : bindings)
        if (disk == this) return *lanes_[index];
    const std::size_t index = next_lane_.fetch_add(1) % lanes_.size();
    bindings.emplace_back(this, index);
    return *lanes_[index];
}

bool Disk::aligned(std::uint64_t offset, std::uint64_t count) const noexcept {
    return offset % geometry_.block_bytes == 0 && count % geometry_.block_bytes == 0 &&
           offset + count <= geometry_.size_bytes && offset + count >= offset;
}

bool Disk::relogin(Lane& lane) {
    ++reconnects_;
    const auto lost = std::chrono::steady_clock::now();
    const auto deadline = lost + options_.reconnect_timeout;
    const std::string channel = "channel " + std::to_string(lane.handle.index());
    auto say = [&](const std::string& text) {
        if (options_.log) options_.log(channel + text);
    };
    say(" lost; logging in again (for up to " + std::to_string(options_.reconnect_timeout.count()) + " ms)");
    auto pause = kFirstReloginPause;
    for (int tries = 1;; ++tries) {
        if (lane.handle.reconnect()) {
            say(" logged in again after " + std::to_string(ms_since(lost)) + " ms (" + std::to_string(tries) + " tries)");
            return true;
        }
        const auto now = std::chrono::steady_clock::now();
        if (now >= deadline) {
            say(" not logged in again within " + std::to_string(ms_since(lost)) + " ms (" + std::to_string(tries) +
                " tries): EIO");
            return false;
        }
        // The last try falls on the deadline itself.
        std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(pause, deadline - now));
        pause = std::min(pause * 2, kMaxReloginPause);
    }
}

CommandResult Disk::run(Lane& lane, std::span<const std::uint8_t> cdb, Direction direction, std::span<std::uint8_t> buffer) {
    CommandResult last;
    last.transport_error = true;
    last.error = "not attempted";
    int unit_attentions = 0;
    for (int attempt = 0; attempt < options_.attempts; ++attempt) {
        if (!lane.handle.connected() && !relogin(lane)) {
            last = CommandResult{};
            last.transport_error = true;
            last.error = "no login within the reconnect timeout";
            return last;
        }
        // Shared with the callback: recovery ends every command (abort, LUN
        // reset, re-login), so the wait below is bounded, but the result
        // never lives in this frame alone.
        auto result = std::make_shared<std::optional<CommandResult>>();
        auto tag = lane.handle.submit(options_.lun, cdb, direction, buffer,
                                      [result](const CommandResult& r) { *result = r; });
        if (!tag) {
            last.error = std::string(initiator::to_string(tag.error()));
            if (tag.error() == initiator::SubmitError::no_credits) lane.handle.wait(std::chrono::milliseconds(10));
            continue;
        }
        while (!*result) lane.handle.wait(std::chrono::milliseconds(100));
        last = **result;
        if (last.good()) return last;
        if (last.status == scsi::Status::check_condition) {
            auto sense = scsi::decode_sense(last.sense);
            // An event (a restarted target's POWER ON), not a failure: it
            // does not use up a try of the command.
            if (sense && sense->key == scsi::SenseKey::unit_attention && ++unit_attentions <= kMaxUnitAttentions) {
                --attempt;
                continue;
            }
            return last;
        }
        if (!last.transport_error && !last.timed_out) return last;
        // Lost connection or timed out (already aborted): try again, on a
        // fresh login when the channel is gone.
    }
    return last;
}

int Disk::pread(std::span<std::uint8_t> out, std::uint64_t offset) {
    if (!aligned(offset, out.size())) return EINVAL;
    Lane& l = lane();
    std::lock_guard lock(l.mutex);
    const std::size_t chunk = l.buffer.size() / geometry_.block_bytes * geometry_.block_bytes;
    for (std::size_t at = 0; at < out.size(); at += chunk) {
        const std::size_t n = std::min(chunk, out.size() - at);
        const auto cdb = cdb16(scsi::op::kRead16, (offset + at) / geometry_.block_bytes,
                               static_cast<std::uint32_t>(n / geometry_.block_bytes), 0);
        auto r = run(l, cdb, Direction::from_target, l.buffer.first(n));
        if (int e = to_errno(r); e != 0) return e;
        std::memcpy(out.data() + at, l.buffer.data(), n);
    }
    return 0;
}

int Disk::pwrite(std::span<const std::uint8_t> in, std::uint64_t offset, bool fua) {
    if (!aligned(offset, in.size())) return EINVAL;
    Lane& l = lane();
    std::lock_guard lock(l.mutex);
    const std::size_t chunk = l.buffer.size() / geometry_.block_bytes * geometry_.block_bytes;
    for (std::size_t at = 0; at < in.size(); at += chunk) {
        const std::size_t n = std::min(chunk, in.size() - at);
        std::memcpy(l.buffer.data(), in.data() + at, n);
        // SBC-3 5.43: FUA = the data reaches the medium before GOOD.
        const auto cdb = cdb16(scsi::op::kWrite16, (offset + at) / geometry_.block_bytes,
                               static_cast<std::uint32_t>(n / geometry_.block_bytes), fua && geometry_.fua ? 0x08 : 0);
        auto r = run(l, cdb, Direction::to_target, l.buffer.first(n));
        if (int e = to_errno(r); e != 0) return e;
    }
    if (!fua || geometry_.fua) return 0;
    // No DPOFUA: the same guarantee from SYNCHRONIZE CACHE over the range.
    const auto sync = cdb16(scsi::op::kSynchronizeCache16, offset / geometry_.block_bytes,
                            static_cast<std::uint32_t>(in.size() / geometry_.block_bytes), 0);
    return to_errno(run(l, sync, Direction::none, {}));
}

int Disk::flush() {
    Lane& l = lane();
    std::lock_guard lock(l.mutex);
    // SBC-3 5.22: LBA 0 and 0 blocks = the whole medium.
    const auto cdb = cdb16(scsi::op::kSynchronizeCache16, 0, 0, 0);
    return to_errno(run(l, cdb, Direction::none, {}));
}

int Disk::trim(std::uint32_t count, std::uint64_t offset) {
    if (!aligned(offset, count)) return EINVAL;
    if (!geometry_.thin) return 0;  // advisory: nothing to give back
    Lane& l = lane();
    std::lock_guard lock(l.mutex);
    const std::uint64_t limit = geometry_.max_unmap_blocks ? geometry_.max_unmap_blocks : kDefaultChunkBlocks;
    std::uint64_t lba = offset / geometry_.block_bytes;
    for (std::uint64_t left = count / geometry_.block_bytes; left > 0;) {
        const std::uint64_t n = std::min(left, limit);
        // SBC-3 5.28 UNMAP: an 8-byte header and one 16-byte block descriptor.
        auto list = l.buffer.first(24);
        std::fill(list.begin(), list.end(), 0);
        store_be(list, 0, 2, 22);
        store_be(list, 2, 2, 16);
        store_be(list, 8, 8, lba);
        store_be(list, 16, 4, n);
        const std::uint8_t cdb[10] = {scsi::op::kUnmap, 0, 0, 0, 0, 0, 0, 0, 24, 0};
        if (int e = to_errno(run(l, cdb, Direction::to_target, list)); e != 0) return e;
        lba += n;
        left -= n;
    }
    return 0;
}

int Disk::write_same(Lane& l, std::uint64_t lba, std::uint64_t blocks, bool unmap, bool fua) {
    const std::uint64_t limit = std::min<std::uint64_t>(
        geometry_.max_write_same_blocks ? geometry_.max_write_same_blocks : kDefaultChunkBlocks, 0xffffffffu);
    auto block = l.buffer.first(geometry_.block_bytes);
    std::fill(block.begin(), block.end(), 0);
    for (std::uint64_t left = blocks; left > 0;) {
        const std::uint64_t n = std::min(left, limit);
        // SBC-3 5.45 WRITE SAME (16): one block of zeros, repeated.
        const auto cdb = cdb16(scsi::op::kWriteSame16, lba, static_cast<std::uint32_t>(n), unmap ? kWriteSameUnmap : 0);
        if (int e = to_errno(run(l, cdb, Direction::to_target, block)); e != 0) return e;
        lba += n;
        left -= n;
    }
    if (!fua) return 0;
    // WRITE SAME has no FUA bit: make the range durable with SYNCHRONIZE CACHE.
    const auto sync = cdb16(scsi::op::kSynchronizeCache16, lba - blocks, static_cast<std::uint32_t>(std::min<std::uint64_t>(blocks, 0xffffffffu)), 0);
    return to_errno(run(l, sync, Direction::none, {}));
}

int Disk::zero(std::uint32_t count, std::uint64_t offset, bool may_trim, bool fua) {
    if (!aligned(offset, count)) return EINVAL;
    Lane& l = lane();
    std::lock_guard lock(l.mutex);
    return write_same(l, offset / geometry_.block_bytes, count / geometry_.block_bytes,
                      may_trim && geometry_.thin && geometry_.write_same_unmap, fua);
}

}  // namespace srp::nbd
