// The target's memory is never remotely accessible (DESIGN 3.8): it
// registers its receive rings, response buffers, descriptor tables, bounce
// memory and backstores for local access only and moves data with RDMA it
// issues itself, naming its own regions by lkey. So an RDMA READ or WRITE
// an initiator aims at target memory must fail however good its guess:
// keys read on the target host (`rdma resource show mr`, root only; the
// target never sends a key or an address), small integers, and keys next
// to the ones this initiator holds (regions of one device are numbered in
// registration order, and the target registers a channel's regions just
// before the initiator registers its own). The responder's HCA refuses
// with a remote access error (IBA 9.7.5.1.4 NAK), which is fatal to our
// queue pair; the target sees its queue pair fail or our disconnect and
// closes that channel only.
#include <algorithm>
#include <cstdio>

#include "tests/hostile/hostile.h"

namespace srp::hostile {

namespace {

std::string hex(std::uint64_t v) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
    return buf;
}

const SniffedRegion* backstore(const Context& ctx) {
    for (const auto& r : ctx.regions)
        if (r.what == "backstore") return &r;
    return nullptr;
}

// The address to aim at in a region: the verify pattern's bytes in the
// backstore (a WRITE that got through would show), else the region's start.
std::uint64_t aim(const Context& ctx, const SniffedRegion& r) {
    if (r.what == "backstore" && r.address != 0) return r.address + ctx.verify_lba * ctx.block_size;
    return r.address;
}

enum class Op { read, write };

// One attempt on a channel of its own. "" when refused, else what went wrong.
std::string probe(Context& ctx, Op op, std::uint64_t address, const std::function<std::uint32_t(RawChannel&)>& key,
                  const std::string& what, std::vector<std::string>& statuses) {
    auto o = open_channel(ctx, {}, {.send_slots = 4, .receive_slots = 8, .data_bytes = 4096}, false);
    if (!o) return what + ": " + o.error();
    auto& ch = *o->channel;
    const fabric::RemoteSegment remote{address, key(ch), 64};
    const std::vector<std::uint8_t> junk(64, 0xEE);
    const auto status = op == Op::read ? ch.rdma_read(remote) : ch.rdma_write(remote, junk);
    const std::string attempt = std::string(op == Op::read ? "RDMA READ" : "RDMA WRITE") + " of " + what + " (key " +
                                hex(remote.rkey) + ", address " + hex(address) + ")";
    if (!status) return attempt + ": no completion within 10 s";
    if (*status == fabric::CompletionStatus::success)
        return attempt + " SUCCEEDED: target memory is remotely accessible";
    statuses.emplace_back(fabric::to_string(*status));
    // Our queue pair is in error now; the target closes its side.
    ch.wait_closed(std::chrono::seconds(2));
    o->channel.reset();
    if (auto e = expect_log(ctx, *o, {"closing: "}); !e.empty()) return attempt + ": " + e;
    return "";
}

// "remote access error x12" from the list of completion statuses.
std::string tally(const std::vector<std::string>& statuses) {
    std::string out;
    std::vector<std::string> seen;
    for (const auto& s : statuses) {
        if (std::find(seen.begin(), seen.end(), s) != seen.end()) continue;
        seen.push_back(s);
        out += (out.empty() ? "" : ", ") + s + " x" + std::to_string(std::count(statuses.begin(), statuses.end(), s));
    }
    return out;
}

CaseResult regions_local_only(Context& ctx) {
    if (ctx.regions.empty() || !backstore(ctx)) return skip("no target regions given (--regions) with a backstore");
    auto o = open_channel(ctx, {}, {.send_slots = 4, .receive_slots = 8, .data_bytes = 4096}, false);
    if (!o) return failure(o.error());
    // Positive control: our own data region has remote access, so rxe gave it an rkey.
    if (o->channel->data_rkey() == 0) return failure("our own remotely accessible region has rkey 0");
    const bool rxe = o->channel->description().rfind("rxe", 0) == 0;
    std::string kinds;
    for (const auto& r : ctx.regions) {
        // rxe gives an rkey only to regions registered with remote access.
        if (rxe && r.rkey != 0)
            return failure("the target's " + r.what + " region has rkey " + hex(r.rkey) + ": remote access");
        if (kinds.find(r.what) == std::string::npos) kinds += (kinds.empty() ? "" : ", ") + r.what;
    }
    return pass(std::to_string(ctx.regions.size()) + " target regions (" + kinds + ")" +
                (rxe ? " all have rkey 0 on rxe (no remote access), ours " + hex(o->channel->data_rkey())
                     : " listed (not rxe: rkeys not conclusive)"));
}

CaseResult sniffed(Context& ctx, Op op) {
    if (ctx.regions.empty()) return skip("no target regions given (--regions)");
    std::vector<std::string> statuses;
    for (const auto& r : ctx.regions) {
        std::vector<std::uint32_t> keys{r.lkey};
        if (r.rkey != 0 && r.rkey != r.lkey) keys.push_back(r.rkey);
        for (const std::uint32_t k : keys)
            if (auto e = probe(
                    ctx, op, aim(ctx, r), [k](RawChannel&) { return k; }, "the " + r.what, statuses);
                !e.empty())
                return failure(e);
    }
    return pass(std::to_string(statuses.size()) + " attempts with sniffed keys refused: " + tally(statuses) +
                "; each channel closed by the target");
}
CaseResult sniffed_read(Context& ctx) {
    return sniffed(ctx, Op::read);
}
CaseResult sniffed_write(Context& ctx) {
    return sniffed(ctx, Op::write);
}

CaseResult guessed(Context& ctx) {
    const SniffedRegion* store = backstore(ctx);
    if (!store) return skip("no target backstore given (--regions)");
    struct Guess {
        std::string name;
        std::function<std::uint32_t(RawChannel&)> key;
    };
    std::vector<Guess> guesses{{"key 0", [](RawChannel&) { return 0u; }},
                               {"key 1", [](RawChannel&) { return 1u; }},
                               {"key 0x100", [](RawChannel&) { return 0x100u; }},
                               {"our own rkey", [](RawChannel& ch) { return ch.data_rkey(); }},
                               {"the key after ours", [](RawChannel& ch) { return ch.data_rkey() + 0x100; }}};
    // The target's four regions of this channel sit just below our four
    // (send, receive, scratch, data): try their indices with our key byte.
    for (std::uint32_t below = 4; below <= 7; ++below)
        guesses.push_back(
            {"our rkey - " + hex(below << 8), [below](RawChannel& ch) { return ch.data_rkey() - (below << 8); }});
    std::vector<std::string> statuses;
    for (const auto& g : guesses)
        for (const Op op : {Op::read, Op::write})
            if (auto e = probe(ctx, op, aim(ctx, *store), g.key, "the backstore with " + g.name, statuses); !e.empty())
                return failure(e);
    return pass(std::to_string(statuses.size()) +
                " attempts with guessed keys (0, 1, 0x100, ours, ours + 0x100, ours - "
                "0x400..0x700) at the backstore refused: " +
                tally(statuses));
}

CaseResult unchanged(Context& ctx) {
    if (auto e = verify_pattern(ctx); !e.empty()) return failure(e);
    return pass("the pattern written at start reads back unchanged (" + std::to_string(ctx.pattern.size()) +
                " bytes at LBA " + std::to_string(ctx.verify_lba) + "), the target keeps serving");
}

constexpr Case kCases[] = {
    {"memory_regions_local_only", regions_local_only},
    {"memory_read_sniffed_keys", sniffed_read},
    {"memory_write_sniffed_keys", sniffed_write},
    {"memory_guessed_keys", guessed},
    {"memory_target_unchanged", unchanged},
};

}  // namespace

std::span<const Case> memory_cases() {
    return kCases;
}

}  // namespace srp::hostile
