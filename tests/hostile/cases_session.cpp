// Credits, task management and logout (SRP r16a 5.5, 6.6, 6.7; SAM-5 7).
#include <cstdio>

#include "common/wire/iu_encode.h"
#include "tests/hostile/hostile.h"

namespace srp::hostile {

namespace {

using wire::TaskManagementResponse;

CaseResult credits_exceeded(Context& ctx) {
    // SRP r16a 5.5: an initiator may have at most the granted request limit
    // outstanding. Send three times as many 1-block READs in one burst: the
    // target has only `credits` receives posted, so the rest wait in the
    // HCA's receiver-not-ready retries (RNR NAK, retried without limit)
    // until a receive is reposted. Nothing is lost, nothing is mixed up.
    auto o = open_channel(ctx, {}, {.send_slots = 512, .receive_slots = 512});
    if (!o) return failure(o.error());
    auto& ch = *o->channel;
    const std::uint32_t count = 3 * ch.credits_granted();
    if (count > 480)
        return failure("the target grants " + std::to_string(ch.credits_granted()) + " credits; case sized for 160");
    const std::uint64_t first_tag = ch.next_tag();
    ch.begin_batch();
    for (std::uint32_t i = 0; i < count; ++i) {
        const auto tag = i == 0 ? first_tag : ch.next_tag();  // consecutive: first_tag + i
        ch.send(make_cmd({.tag = tag,
                          .cdb = read16(ctx.scratch_lba + i % 64, 1),
                          .buf_fmt = 0x01,
                          .descriptors = direct(ch.descriptor(std::size_t{i} * 512, 512))}));
    }
    ch.end_batch();
    std::vector<bool> seen(count, false);
    std::uint64_t credits = 0;
    std::uint32_t good = 0;
    for (std::uint32_t i = 0; i < count; ++i) {
        auto iu = ch.receive(std::chrono::seconds(30));
        if (!iu)
            return failure(std::to_string(good) + " of " + std::to_string(count) + " answered, then " +
                           (ch.closed() ? "the channel closed" : "silence"));
        auto r = parse_reply(*iu);
        if (!r) return failure("not an SRP_RSP");
        const std::uint64_t index = r->tag() - first_tag;
        if (r->tag() < first_tag || index >= count || seen[index])
            return failure("unexpected or repeated tag " + std::to_string(r->tag()));
        seen[index] = true;
        if (auto e = expect_good(*r); !e.empty()) return failure("tag " + std::to_string(r->tag()) + ": " + e);
        credits += r->credits();
        ++good;
    }
    if (credits != count)
        return failure("req_lim_delta summed to " + std::to_string(credits) + " for " + std::to_string(count) +
                       " responses");
    if (auto e = still_serving(ch); !e.empty()) return failure(e);
    return pass("all " + std::to_string(count) + " commands sent against " + std::to_string(ch.credits_granted()) +
                " credits answered GOOD (the excess waited in RNR retries), req_lim_delta summed to " +
                std::to_string(credits));
}

// One TSK_MGMT on a fresh channel and its RSP_CODE.
CaseResult tmf(Context& ctx, std::uint8_t function, std::uint64_t task_tag, std::uint16_t lun,
               TaskManagementResponse want, const std::string& what) {
    auto o = open_channel(ctx);
    if (!o) return failure(o.error());
    auto& ch = *o->channel;
    const auto tag = ch.next_tag() | 1ull << 31;  // like ib_srp's TMF tags
    ch.send(make_tmf(tag, function, task_tag, lun));
    auto r = await_reply(ch, tag);
    if (!r) return failure(what + ": " + r.error());
    const bool ok = r->header.status == 0 && (r->header.flags & wire::kRspFlagRspValid) &&
                    r->response_data.size() == 4 && r->response_data[3] == static_cast<std::uint8_t>(want);
    if (!ok) return failure(what + ": got " + describe(*r));
    std::string outcome = describe(*r) + " for " + what;
    char fn[48];
    std::snprintf(fn, sizeof fn, "task management 0x%02x for LUN ", function);
    if (auto e = expect_log(ctx, *o, {fn}, &outcome); !e.empty()) return failure(e);
    return pass(outcome);
}

CaseResult abort_unknown_tag(Context& ctx) {
    // SAM-5 7.2: FUNCTION COMPLETE also when the task was not in the task set.
    return tmf(ctx, 0x01, 0x0123456789abcdefull, 0, TaskManagementResponse::complete, "ABORT TASK of a tag never used");
}

CaseResult unknown_function(Context& ctx) {
    return tmf(ctx, 0x80, 0, 0, TaskManagementResponse::not_supported, "task management function 0x80");
}

CaseResult unknown_lun(Context& ctx) {
    return tmf(ctx, 0x02, 0, 200, TaskManagementResponse::failed, "ABORT TASK SET of LUN 200 (no such LUN)");
}

CaseResult foreign_tags(Context& ctx) {
    // ABORT TASK for the tags another initiator (ib_srp numbers its tags
    // from 0) is using right now, then ABORT TASK SET: both act on our own
    // I_T nexus only (SAM-5 7.2, 7.3). The VM test's fio proves the victims
    // it would have hit were left alone.
    auto o = open_channel(ctx);
    if (!o) return failure(o.error());
    auto& ch = *o->channel;
    for (std::uint64_t victim = 0; victim < 64; ++victim) {
        const auto tag = ch.next_tag() | 1ull << 31;
        ch.send(make_tmf(tag, 0x01, victim));
        auto r = await_reply(ch, tag);
        if (!r) return failure("ABORT TASK " + std::to_string(victim) + ": " + r.error());
        if (r->response_data.size() != 4 || r->response_data[3] != 0)
            return failure("ABORT TASK " + std::to_string(victim) + ": " + describe(*r));
    }
    const auto tag = ch.next_tag() | 1ull << 31;
    ch.send(make_tmf(tag, 0x02, 0));
    auto r = await_reply(ch, tag);
    if (!r || r->response_data.size() != 4 || r->response_data[3] != 0)
        return failure("ABORT TASK SET: " + (r ? describe(*r) : r.error()));
    std::string outcome = "RSP_CODE 0x00 for ABORT TASK of tags 0..63 and for ABORT TASK SET, on our nexus only";
    if (auto e = expect_log(ctx, *o, {"task management 0x02 for LUN 0"}, &outcome); !e.empty()) return failure(e);
    return pass(outcome);
}

CaseResult after_logout(Context& ctx) {
    // SRP r16a 6.6: after SRP_I_LOGOUT the initiator sends nothing more and
    // the target terminates the channel; what arrives anyway goes unanswered.
    auto o = open_channel(ctx);
    if (!o) return failure(o.error());
    auto& ch = *o->channel;
    const auto logout = wire::make_iu<wire::ILogout>(wire::Opcode::i_logout);
    ch.begin_batch();
    ch.send(wire::iu_bytes(logout));
    ch.send(make_cmd({.tag = ch.next_tag(), .cdb = test_unit_ready()}));
    ch.send(make_tmf(ch.next_tag(), 0x01, 1));
    ch.end_batch();
    if (auto iu = ch.receive(std::chrono::seconds(3)))
        return failure("the target answered an IU sent after SRP_I_LOGOUT");
    if (!ch.wait_closed()) return failure("the target did not close the channel after SRP_I_LOGOUT");
    std::string outcome = "nothing answered after SRP_I_LOGOUT, the target closed the channel";
    if (auto e = expect_log(ctx, *o, {"SRP_I_LOGOUT received"}, &outcome); !e.empty()) return failure(e);
    if (auto e = expect_log(ctx, *o, {"closing: initiator logout"}); !e.empty()) return failure(e);
    return pass(outcome);
}

constexpr Case kCases[] = {
    {"credits_exceeded", credits_exceeded},   {"tmf_abort_unknown_tag", abort_unknown_tag},
    {"tmf_abort_foreign_tags", foreign_tags}, {"tmf_unknown_function", unknown_function},
    {"tmf_unknown_lun", unknown_lun},         {"ius_after_logout", after_logout},
};

}  // namespace

std::span<const Case> session_cases() {
    return kCases;
}

}  // namespace srp::hostile
