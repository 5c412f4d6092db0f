// Descriptors naming memory the target may not touch: a wrong or
// deregistered rkey, an address past the registered buffer or wrapping the
// address space, a descriptor table behind a wrong rkey.
//
// The target's RDMA then completes with a remote access error, and on an
// RC queue pair that error is fatal (IBA 9.9.3: the requester's QP goes to
// the error state): no SRP_RSP can follow on this channel. So the one
// outcome open to the target is the one LIO ib_srpt has too: the command
// ends with its channel, which the target closes and drains (SRP r16a 6.4
// leaves the rest to the initiator: log in again). Every other channel,
// here a bystander logged in before, keeps being served.
#include "tests/hostile/hostile.h"

namespace srp::hostile {

namespace {

constexpr std::uint8_t kDataInDirect = 0x01, kDataOutDirect = 0x10, kDataInIndirect = 0x02;

struct Victim {
    std::function<CmdSpec(RawChannel&)> build;
    std::string state;  // the request state the target logs for the failed RDMA
    std::string what;
};

CaseResult run(Context& ctx, const Victim& v) {
    auto bystander = open_channel(ctx);
    if (!bystander) return failure("bystander: " + bystander.error());
    auto o = open_channel(ctx);
    if (!o) return failure(o.error());
    auto& ch = *o->channel;
    CmdSpec spec = v.build(ch);
    spec.tag = ch.next_tag();
    ch.send(make_cmd(spec));
    if (auto iu = ch.receive(std::chrono::seconds(10))) {
        auto r = parse_reply(*iu);
        return failure(v.what + ": the target answered " + (r ? describe(*r) : "something") +
                       " although its RDMA cannot have succeeded");
    }
    if (!ch.wait_closed()) return failure(v.what + ": the channel stayed open");
    std::string outcome = "no SRP_RSP, the target closed this channel";
    if (auto e = expect_log(ctx, *o, {"in state " + v.state + " failed: remote access error"}, &outcome); !e.empty())
        return failure(v.what + ": " + e);
    // The closing reason depends on which completion the target reaps first:
    // the failed RDMA ("RDMA operation failed") or a receive flushed by
    // the queue pair's error ("connection closed").
    if (auto e = expect_log(ctx, *o, {"closing: "}); !e.empty()) return failure(v.what + ": " + e);
    if (auto e = still_serving(*bystander->channel); !e.empty()) return failure("bystander channel: " + e);
    return pass(outcome + "; a bystander channel keeps being served (" + v.what + ")");
}

wire::DirectDescriptor wrong_key(wire::DirectDescriptor d) {
    d.key = d.key.value() ^ 0x80;  // same region index, another key byte
    return d;
}

CaseResult wrong_rkey_read(Context& ctx) {
    const auto cdb = read16(ctx.scratch_lba, 8);
    return run(ctx, {[cdb](RawChannel& ch) {
                         return CmdSpec{.cdb = cdb,
                                        .buf_fmt = kDataInDirect,
                                        .descriptors = direct(wrong_key(ch.descriptor(0, 4096)))};
                     },
                     "responding", "READ into a descriptor with a wrong rkey"});
}

CaseResult wrong_rkey_write(Context& ctx) {
    const auto cdb = write16(ctx.scratch_lba, 8);
    return run(ctx, {[cdb](RawChannel& ch) {
                         return CmdSpec{.cdb = cdb,
                                        .buf_fmt = kDataOutDirect,
                                        .descriptors = direct(wrong_key(ch.descriptor(0, 4096)))};
                     },
                     "reading_data", "WRITE from a descriptor with a wrong rkey"});
}

CaseResult deregistered_rkey(Context& ctx) {
    const auto cdb = read16(ctx.scratch_lba, 8);
    auto memory = std::make_shared<std::vector<std::uint8_t>>(8192);
    return run(ctx, {[cdb, memory](RawChannel& ch) {
                         auto mr = ch.domain().register_memory(*memory, true);
                         wire::DirectDescriptor d{};
                         d.va = reinterpret_cast<std::uintptr_t>(memory->data());
                         d.key = mr ? (*mr)->rkey() : 0;
                         d.len = 4096;
                         // *mr goes out of scope here: the region is deregistered before the target uses its key.
                         return CmdSpec{.cdb = cdb, .buf_fmt = kDataInDirect, .descriptors = direct(d)};
                     },
                     "responding", "READ into a region deregistered after its rkey was handed out"});
}

CaseResult past_buffer(Context& ctx) {
    const auto cdb = read16(ctx.scratch_lba, 8);
    return run(ctx, {[cdb](RawChannel& ch) {
                         return CmdSpec{.cdb = cdb,
                                        .buf_fmt = kDataInDirect,
                                        .descriptors = direct(ch.descriptor(ch.data().size() - 512, 4096))};
                     },
                     "responding", "READ into the last 512 bytes of a region plus 3584 beyond it"});
}

CaseResult wrapping_address(Context& ctx) {
    const auto cdb = read16(ctx.scratch_lba, 8);
    return run(ctx, {[cdb](RawChannel& ch) {
                         auto d = ch.descriptor(0, 4096);
                         d.va = ~0ull - 2047;  // the transfer would wrap past 2^64
                         return CmdSpec{.cdb = cdb, .buf_fmt = kDataInDirect, .descriptors = direct(d)};
                     },
                     "responding", "READ into address 2^64-2048 (wraps) with a valid rkey"});
}

CaseResult table_behind_wrong_rkey(Context& ctx) {
    const auto cdb = read16(ctx.scratch_lba, 8);
    return run(ctx, {[cdb](RawChannel& ch) {
                         // Two descriptors, one in the IU: the target must fetch the table.
                         auto table = wrong_key(ch.descriptor(65536, 32));
                         const auto first = ch.descriptor(0, 2048);
                         return CmdSpec{.cdb = cdb,
                                        .buf_fmt = kDataInIndirect,
                                        .in_count = 1,
                                        .descriptors = indirect(table, 4096, {&first, 1})};
                     },
                     "fetching_table", "READ whose external descriptor table has a wrong rkey"});
}

constexpr Case kCases[] = {
    {"rdma_wrong_rkey_read", wrong_rkey_read},     {"rdma_wrong_rkey_write", wrong_rkey_write},
    {"rdma_deregistered_rkey", deregistered_rkey}, {"rdma_address_past_buffer", past_buffer},
    {"rdma_address_wraps", wrapping_address},      {"rdma_table_wrong_rkey", table_behind_wrong_rkey},
};

}  // namespace

std::span<const Case> rdma_cases() {
    return kCases;
}

}  // namespace srp::hostile
