// Data buffer descriptors that lie (SRP r16a 5.8.2, 6.8), lengths that
// overflow, and zero-length transfers (SBC-3 5.x, SAM-5 5.4.2 residuals).
#include <algorithm>
#include <cstring>
#include <functional>

#include "common/wire/iu_encode.h"
#include "tests/hostile/hostile.h"

namespace srp::hostile {

namespace {

using scsi::SenseKey;
constexpr std::uint16_t kInvalidFieldInIu = 0x0E03;  // SPC-4: INVALID FIELD IN COMMAND INFORMATION UNIT
constexpr std::uint16_t kLbaOutOfRange = 0x2100;
constexpr std::uint16_t kInvalidFieldInCdb = 0x2400;
constexpr std::uint8_t kDataInIndirect = 0x02, kDataInDirect = 0x01, kDataOutIndirect = 0x20;

wire::DirectDescriptor with_length(wire::DirectDescriptor d, std::uint32_t length) {
    d.len = length;
    return d;
}

// One command on a fresh channel; the reply must be CHECK CONDITION with
// this sense, and (for rejections at the SRP layer) the log must say why.
CaseResult expect_check(Context& ctx, const std::function<CmdSpec(RawChannel&)>& build, SenseKey key,
                        std::uint16_t asc_ascq, const std::vector<std::string>& log_fragments,
                        const std::string& what) {
    auto o = open_channel(ctx);
    if (!o) return failure(o.error());
    auto& ch = *o->channel;
    CmdSpec spec = build(ch);
    spec.tag = ch.next_tag();
    ch.send(make_cmd(spec));
    auto r = await_reply(ch, spec.tag);
    if (!r) return failure(what + ": " + r.error());
    if (auto e = expect_sense(*r, key, asc_ascq); !e.empty()) return failure(what + ": " + e);
    std::string outcome = describe(*r) + " for " + what;
    if (!log_fragments.empty())
        if (auto e = expect_log(ctx, *o, log_fragments, &outcome); !e.empty()) return failure(e);
    if (auto e = still_serving(ch); !e.empty()) return failure(e);
    return pass(outcome);
}

// A READ(16) of 8 blocks at the scratch LBA with these DATA-IN descriptor bytes.
std::function<CmdSpec(RawChannel&)> read_with(Context& ctx, std::uint8_t fmt, std::uint8_t in_count,
                                              std::function<std::vector<std::uint8_t>(RawChannel&)> descriptors,
                                              std::optional<std::size_t> total = {}) {
    const auto cdb = read16(ctx.scratch_lba, 8);
    return [=](RawChannel& ch) {
        return CmdSpec{
            .cdb = cdb, .buf_fmt = fmt, .in_count = in_count, .descriptors = descriptors(ch), .total_bytes = total};
    };
}

CaseResult count_beyond_iu(Context& ctx) {
    return expect_check(ctx,
                        read_with(ctx, kDataInIndirect, 200,
                                  [](RawChannel& ch) {
                                      const auto d = ch.descriptor(0, 4096);
                                      return indirect(with_length(ch.descriptor(0, 0), 200 * 16), 4096, {&d, 1});
                                  }),
                        SenseKey::illegal_request, kInvalidFieldInIu, {"descriptor count larger than the IU holds"},
                        "DATA-IN DESCRIPTOR COUNT 200 in an 84-byte IU");
}

CaseResult table_length_odd(Context& ctx) {
    return expect_check(ctx,
                        read_with(ctx, kDataInIndirect, 1,
                                  [](RawChannel& ch) {
                                      const auto d = ch.descriptor(0, 4096);
                                      return indirect(with_length(ch.descriptor(0, 0), 17), 4096, {&d, 1});
                                  }),
                        SenseKey::illegal_request, kInvalidFieldInIu, {"descriptor table length invalid"},
                        "a descriptor table of 17 bytes");
}

CaseResult table_shorter_than_count(Context& ctx) {
    return expect_check(
        ctx,
        read_with(ctx, kDataInIndirect, 2,
                  [](RawChannel& ch) {
                      const wire::DirectDescriptor d[2] = {ch.descriptor(0, 2048), ch.descriptor(2048, 2048)};
                      return indirect(with_length(ch.descriptor(0, 0), 16), 4096, d);
                  }),
        SenseKey::illegal_request, kInvalidFieldInIu, {"descriptor table length invalid"},
        "2 descriptors in the IU but a table length of 16 bytes");
}

CaseResult table_too_long(Context& ctx) {
    return expect_check(ctx,
                        read_with(ctx, kDataInIndirect, 1,
                                  [](RawChannel& ch) {
                                      const auto d = ch.descriptor(0, 4096);
                                      return indirect(with_length(ch.descriptor(0, 0), 300 * 16), 4096, {&d, 1});
                                  }),
                        SenseKey::illegal_request, kInvalidFieldInIu, {"300 descriptors rejected"},
                        "a descriptor table of 300 entries (more than the target fetches)");
}

CaseResult direct_beyond_iu(Context& ctx) {
    return expect_check(
        ctx,
        read_with(
            ctx, kDataInDirect, 0, [](RawChannel& ch) { return direct(ch.descriptor(0, 4096)); }, std::size_t{56}),
        SenseKey::illegal_request, kInvalidFieldInIu, {"data descriptor beyond the IU"},
        "a direct descriptor cut off at byte 56");
}

CaseResult reserved_format(Context& ctx) {
    return expect_check(ctx, read_with(ctx, 0x04, 0, [](RawChannel& ch) { return direct(ch.descriptor(0, 4096)); }),
                        SenseKey::illegal_request, kInvalidFieldInIu, {"unsupported data buffer format"},
                        "DATA-IN BUFFER FORMAT 4 (reserved)");
}

CaseResult immediate_data_in(Context& ctx) {
    return expect_check(ctx, read_with(ctx, 0x03, 0, [](RawChannel&) { return std::vector<std::uint8_t>(4 + 512, 0); }),
                        SenseKey::illegal_request, kInvalidFieldInIu, {"unsupported data buffer format"},
                        "immediate data (format 3) for DATA-IN");
}

CaseResult bidirectional(Context& ctx) {
    return expect_check(ctx,
                        read_with(ctx, 0x11, 0,
                                  [](RawChannel& ch) {
                                      auto both = direct(ch.descriptor(0, 4096));
                                      const auto in = direct(ch.descriptor(4096, 4096));
                                      both.insert(both.end(), in.begin(), in.end());
                                      return both;
                                  }),
                        SenseKey::illegal_request, kInvalidFieldInIu, {"bidirectional SRP_CMD rejected"},
                        "a bidirectional READ (DATA-OUT and DATA-IN descriptors)");
}

CaseResult total_wraps(Context& ctx) {
    // Descriptor lengths 0xfffffff0 + 0x20 wrap to 0x10 in 32 bits; the
    // total says 0x10: less than the 4096 bytes the CDB needs.
    const auto cdb = write16(ctx.scratch_lba, 8);
    return expect_check(
        ctx,
        [cdb](RawChannel& ch) {
            const wire::DirectDescriptor d[2] = {ch.descriptor(0, 0xfffffff0u), ch.descriptor(0, 0x20)};
            return CmdSpec{.cdb = cdb,
                           .buf_fmt = kDataOutIndirect,
                           .out_count = 2,
                           .descriptors = indirect(with_length(ch.descriptor(0, 0), 32), 0x10, d)};
        },
        SenseKey::illegal_request, kInvalidFieldInIu, {},
        "a WRITE of 4096 bytes whose descriptors sum to 2^32 + 16 (total 16)");
}

CaseResult lba_wraps(Context& ctx) {
    const auto cdb = read16(~0ull, 2);
    return expect_check(
        ctx,
        [cdb](RawChannel& ch) {
            return CmdSpec{.cdb = cdb, .buf_fmt = kDataInDirect, .descriptors = direct(ch.descriptor(0, 1024))};
        },
        SenseKey::illegal_request, kLbaOutOfRange, {}, "READ(16) of 2 blocks at LBA 2^64-1");
}

CaseResult beyond_max_transfer(Context& ctx) {
    const auto cdb = read16(0, 16385);  // the Block Limits page says 16384
    return expect_check(
        ctx,
        [cdb](RawChannel& ch) {
            return CmdSpec{.cdb = cdb, .buf_fmt = kDataInDirect, .descriptors = direct(ch.descriptor(0, 16385u * 512))};
        },
        SenseKey::illegal_request, kInvalidFieldInCdb, {}, "READ(16) of 16385 blocks (limit 16384)");
}

// SRP-2 immediate data whose length field lies.
CaseResult immediate_length(Context& ctx, std::uint32_t claimed, const std::string& what) {
    const auto cdb = write16(ctx.scratch_lba, 1);
    auto o = open_channel(ctx);
    if (!o) return failure(o.error());
    auto& ch = *o->channel;
    if (ch.imm_data_offset() == 0) return failure("the target did not grant immediate data");
    auto h = wire::make_iu<wire::CmdHeader>(wire::Opcode::cmd);
    const auto tag = ch.next_tag();
    std::memcpy(h.tag.data(), &tag, sizeof tag);
    std::copy(cdb.begin(), cdb.end(), h.cdb.begin());
    std::vector<std::uint8_t> iu(ch.imm_data_offset() + 512);
    const std::vector<std::uint8_t> data(512, 0x3C);
    iu.resize(*wire::encode_cmd_immediate(iu, h, ch.imm_data_offset(), data));
    wire::Be32 length{};
    length = claimed;
    std::memcpy(iu.data() + sizeof(wire::CmdHeader), &length, sizeof length);
    ch.send(iu);
    auto r = await_reply(ch, tag);
    if (!r) return failure(what + ": " + r.error());
    if (auto e = expect_sense(*r, SenseKey::illegal_request, kInvalidFieldInIu); !e.empty())
        return failure(what + ": " + e);
    std::string outcome = describe(*r) + " for " + what;
    if (auto e = expect_log(ctx, *o, {"immediate data beyond the IU"}, &outcome); !e.empty()) return failure(e);
    return pass(outcome);
}
CaseResult immediate_overflow(Context& ctx) {
    return immediate_length(ctx, 0xfffffffcu, "immediate data of length 0xfffffffc (offset + length wraps 32 bits)");
}
CaseResult immediate_short(Context& ctx) {
    return immediate_length(ctx, 4096, "immediate data of length 4096 in an IU carrying 512");
}

// A READ whose descriptors describe more, or less, than the command moves.
CaseResult read_residual(Context& ctx, std::uint8_t fmt, std::uint8_t in_count,
                         const std::function<std::vector<std::uint8_t>(RawChannel&)>& descriptors,
                         std::uint8_t want_flag, std::uint32_t want_residual, std::size_t touched_bytes,
                         const std::string& what) {
    auto o = open_channel(ctx);
    if (!o) return failure(o.error());
    auto& ch = *o->channel;
    std::fill(ch.data().begin(), ch.data().end(), 0x5A);
    const auto cdb = read16(ctx.scratch_lba, 8);
    const auto tag = ch.next_tag();
    ch.send(make_cmd({.tag = tag, .cdb = cdb, .buf_fmt = fmt, .in_count = in_count, .descriptors = descriptors(ch)}));
    auto r = await_reply(ch, tag);
    if (!r) return failure(what + ": " + r.error());
    if (auto e = expect_good(*r); !e.empty()) return failure(what + ": " + e);
    const bool residual_ok = want_flag == 0
                                 ? r->header.flags == 0
                                 : (r->header.flags & want_flag) && r->header.data_in_res_cnt.value() == want_residual;
    if (!residual_ok)
        return failure(what + ": got " + describe(*r) + ", expected residual " + std::to_string(want_residual));
    // Nothing beyond the bytes the command returns may be written.
    const auto beyond = ch.data().subspan(touched_bytes);
    if (std::any_of(beyond.begin(), beyond.end(), [](std::uint8_t b) { return b != 0x5A; }))
        return failure(what + ": the target wrote past the " + std::to_string(touched_bytes) + " bytes it returned");
    return pass(describe(*r) + " for " + what + "; nothing written past byte " + std::to_string(touched_bytes));
}

CaseResult total_exceeds_descriptors(Context& ctx) {
    return read_residual(
        ctx, kDataInIndirect, 1,
        [](RawChannel& ch) {
            const auto d = ch.descriptor(0, 4096);
            return indirect(with_length(ch.descriptor(0, 0), 16), 0xffffffffu, {&d, 1});
        },
        wire::kRspFlagDiUnder, 0xffffffffu - 4096, 4096,
        "a READ of 4096 bytes with TOTAL LENGTH 0xffffffff over one 4096-byte descriptor");
}

CaseResult descriptor_huge(Context& ctx) {
    return read_residual(
        ctx, kDataInDirect, 0, [](RawChannel& ch) { return direct(ch.descriptor(0, 0xfffffff0u)); },
        wire::kRspFlagDiUnder, 0xfffffff0u - 4096, 4096,
        "a READ of 4096 bytes into a direct descriptor claiming 0xfffffff0 bytes");
}

CaseResult zero_descriptor_read(Context& ctx) {
    return read_residual(
        ctx, kDataInDirect, 0, [](RawChannel& ch) { return direct(ch.descriptor(0, 0)); }, wire::kRspFlagDiOver, 4096,
        0, "a READ of 4096 bytes with a 0-byte descriptor");
}

CaseResult zero_length_in_table(Context& ctx) {
    return read_residual(
        ctx, kDataInIndirect, 3,
        [](RawChannel& ch) {
            const wire::DirectDescriptor d[3] = {ch.descriptor(0, 0), ch.descriptor(0, 4096), ch.descriptor(8192, 0)};
            return indirect(with_length(ch.descriptor(0, 0), 48), 4096, d);
        },
        0, 0, 4096, "a READ through 3 descriptors of 0, 4096 and 0 bytes");
}

CaseResult zero_descriptor_write(Context& ctx) {
    const auto cdb = write16(ctx.scratch_lba, 8);
    return expect_check(
        ctx,
        [cdb](RawChannel& ch) {
            return CmdSpec{.cdb = cdb, .buf_fmt = 0x10, .descriptors = direct(ch.descriptor(0, 0))};
        },
        SenseKey::illegal_request, kInvalidFieldInIu, {}, "a WRITE of 4096 bytes with a 0-byte descriptor");
}

CaseResult zero_blocks(Context& ctx) {
    auto o = open_channel(ctx);
    if (!o) return failure(o.error());
    auto& ch = *o->channel;
    std::string outcome;
    for (const bool write : {false, true}) {
        const auto cdb = write ? write16(ctx.scratch_lba, 0) : read16(ctx.scratch_lba, 0);
        const auto tag = ch.next_tag();
        ch.send(make_cmd({.tag = tag, .cdb = cdb}));
        auto r = await_reply(ch, tag);
        const std::string what = write ? "WRITE(16)" : "READ(16)";
        if (!r) return failure(what + " of 0 blocks: " + r.error());
        if (auto e = expect_good(*r); !e.empty()) return failure(what + " of 0 blocks: " + e);
        if (r->header.flags != 0) return failure(what + " of 0 blocks: " + describe(*r) + ", expected no residual");
        outcome += (outcome.empty() ? "" : ", ") + describe(*r) + " for " + what + " of 0 blocks without a descriptor";
    }
    return pass(outcome);
}

// A READ's residual with nothing wrong in the IU: no log line expected.
constexpr Case kCases[] = {
    {"desc_count_beyond_iu", count_beyond_iu},
    {"desc_table_length_not_multiple_of_16", table_length_odd},
    {"desc_table_shorter_than_count", table_shorter_than_count},
    {"desc_table_more_than_256", table_too_long},
    {"desc_direct_cut_off", direct_beyond_iu},
    {"desc_reserved_format", reserved_format},
    {"desc_immediate_for_data_in", immediate_data_in},
    {"desc_bidirectional", bidirectional},
    {"len_descriptor_sum_wraps", total_wraps},
    {"len_total_exceeds_descriptors", total_exceeds_descriptors},
    {"len_descriptor_claims_4g", descriptor_huge},
    {"len_lba_wraps", lba_wraps},
    {"len_beyond_max_transfer", beyond_max_transfer},
    {"len_immediate_wraps", immediate_overflow},
    {"len_immediate_beyond_iu", immediate_short},
    {"zero_blocks", zero_blocks},
    {"zero_descriptor_read", zero_descriptor_read},
    {"zero_descriptor_write", zero_descriptor_write},
    {"zero_length_descriptors_in_table", zero_length_in_table},
};

}  // namespace

std::span<const Case> descriptor_cases() {
    return kCases;
}

}  // namespace srp::hostile
