// IUs of the wrong length or of an unknown type (SRP r16a 5, 6.8, 6.7).
#include <algorithm>
#include <cstddef>

#include "common/wire/iu_encode.h"
#include "tests/hostile/hostile.h"

namespace srp::hostile {

namespace {

using scsi::SenseKey;
constexpr std::uint16_t kInvalidFieldInIu = 0x0E03;  // SPC-4: INVALID FIELD IN COMMAND INFORMATION UNIT

// Sends junk that deserves no answer, then a TEST UNIT READY: its response
// must carry back the credits of the junk too (req_lim_delta = 1 + junk).
CaseResult silent_then_credits(Context& ctx, const std::vector<std::vector<std::uint8_t>>& junk,
                               const std::vector<std::string>& log_fragments, const std::string& what) {
    auto o = open_channel(ctx);
    if (!o) return failure(o.error());
    auto& ch = *o->channel;
    for (const auto& iu : junk) ch.send(iu);
    if (auto early = ch.receive(std::chrono::milliseconds(500)))
        return failure("the target answered " + what + " (" + std::to_string(early->size()) + " bytes)");
    const auto tag = ch.next_tag();
    ch.send(make_cmd({.tag = tag, .cdb = test_unit_ready()}));
    auto r = await_reply(ch, tag);
    if (!r) return failure("TEST UNIT READY after " + what + ": " + r.error());
    if (auto e = expect_good(*r); !e.empty()) return failure(e);
    const std::uint32_t want = 1 + static_cast<std::uint32_t>(junk.size());
    if (r->credits() != want)
        return failure("req_lim_delta " + std::to_string(r->credits()) + " after " + what + ", expected " +
                       std::to_string(want) + " (the credits of unanswered IUs must come back)");
    std::string outcome = "no response; the next SRP_RSP returns req_lim_delta " + std::to_string(want);
    if (auto e = expect_log(ctx, *o, log_fragments, &outcome); !e.empty()) return failure(e);
    return pass(outcome);
}

CaseResult empty_iu(Context& ctx) {
    return silent_then_credits(ctx, {{}}, {"empty IU received"}, "a 0-byte SEND");
}

CaseResult tagless_cmd(Context& ctx) {
    auto iu = make_cmd({.tag = 7, .cdb = test_unit_ready(), .total_bytes = 12});
    return silent_then_credits(ctx, {iu}, {"SRP_CMD of 12 bytes dropped"}, "a 12-byte SRP_CMD (no tag to answer)");
}

CaseResult unknown_opcodes(Context& ctx) {
    std::vector<std::vector<std::uint8_t>> junk;
    for (const std::uint8_t opcode :
         {std::uint8_t{0x7F}, std::uint8_t{0xC1},
          std::uint8_t{0x00}}) {  // reserved; SRP_RSP and SRP_LOGIN_REQ: wrong direction/time
        std::vector<std::uint8_t> iu(64, 0);
        iu[0] = opcode;
        junk.push_back(iu);
    }
    return silent_then_credits(ctx, junk, {"unexpected IU", "(0x7f) ignored"},
                               "IUs of opcode 0x7f, 0xc1 (SRP_RSP) and 0x00 (SRP_LOGIN_REQ)");
}

CaseResult short_cmd(Context& ctx) {
    auto o = open_channel(ctx);
    if (!o) return failure(o.error());
    auto& ch = *o->channel;
    const auto tag = ch.next_tag();
    ch.send(make_cmd({.tag = tag, .cdb = test_unit_ready(), .total_bytes = 40}));
    auto r = await_reply(ch, tag);
    if (!r) return failure("40-byte SRP_CMD: " + r.error());
    if (auto e = expect_sense(*r, SenseKey::illegal_request, kInvalidFieldInIu); !e.empty()) return failure(e);
    std::string outcome = describe(*r) + " for a 40-byte SRP_CMD";
    if (auto e = expect_log(ctx, *o, {"SRP_CMD rejected", "shorter than its fixed part"}, &outcome); !e.empty())
        return failure(e);
    if (auto e = still_serving(ch); !e.empty()) return failure(e);
    return pass(outcome + "; the channel keeps serving");
}

CaseResult short_tsk_mgmt(Context& ctx) {
    auto o = open_channel(ctx);
    if (!o) return failure(o.error());
    auto& ch = *o->channel;
    const auto tag = ch.next_tag();
    auto tmf = make_tmf(tag, 0x01, 12345);
    tmf.resize(24);
    ch.send(tmf);
    auto r = await_reply(ch, tag);
    if (!r) return failure("24-byte SRP_TSK_MGMT: " + r.error());
    const bool fields_invalid =
        (r->header.flags & wire::kRspFlagRspValid) && r->response_data.size() == 4 &&
        r->response_data[3] == static_cast<std::uint8_t>(wire::TaskManagementResponse::fields_invalid);
    if (!fields_invalid) return failure("got " + describe(*r) + ", expected RSP_CODE 0x02 (REQUEST FIELDS INVALID)");
    std::string outcome = describe(*r) + " (REQUEST FIELDS INVALID) for a 24-byte SRP_TSK_MGMT";
    if (auto e = expect_log(ctx, *o, {"SRP_TSK_MGMT of 24 bytes"}, &outcome); !e.empty()) return failure(e);
    return pass(outcome);
}

CaseResult padded_cmd(Context& ctx) {
    auto o = open_channel(ctx);
    if (!o) return failure(o.error());
    auto& ch = *o->channel;
    const auto tag = ch.next_tag();
    // SRP does not forbid bytes after the last descriptor: the IU is as long as the login allowed.
    ch.send(make_cmd({.tag = tag, .cdb = test_unit_ready(), .total_bytes = ch.it_iu_len()}));
    auto r = await_reply(ch, tag);
    if (!r) return failure("padded SRP_CMD: " + r.error());
    if (auto e = expect_good(*r); !e.empty()) return failure(e);
    return pass("GOOD for a TEST UNIT READY padded with junk to max_it_iu_len " + std::to_string(ch.it_iu_len()));
}

CaseResult longer_than_negotiated(Context& ctx) {
    auto o = open_channel(ctx, RawLogin{.it_iu_len = 512});
    if (!o) return failure(o.error());
    auto& ch = *o->channel;
    // The target's receive buffers are 512 bytes: a longer SEND cannot land.
    // The responder's HCA refuses it (IBA 9.9: invalid request, the queue
    // pair goes to error), so the target sees a failed receive and closes
    // this channel; the IU is never parsed.
    ch.send(make_cmd({.tag = ch.next_tag(), .cdb = test_unit_ready(), .total_bytes = 768}));
    if (!ch.wait_closed()) return failure("the channel stayed open after a 768-byte IU on a 512-byte login");
    if (ch.receive(std::chrono::milliseconds(0))) return failure("the target answered an IU longer than max_it_iu_len");
    const auto status = ch.first_error();
    if (!status) return failure("our SEND was not refused (only flushed): the target must have closed first");
    std::string outcome =
        "our SEND completed with " + std::string(fabric::to_string(*status)) + ", the target closed the channel";
    if (auto e = expect_log(ctx, *o, {"closing: receive failed"}, &outcome); !e.empty()) return failure(e);
    return pass(outcome);
}

// ADDITIONAL CDB LENGTH that lies: not a multiple of 4 (SRP r16a 6.8
// counts 4-byte words), or more CDB bytes than the IU carries.
CaseResult additional_cdb(Context& ctx, std::uint8_t add_cdb_len, const std::string& log, const std::string& what) {
    auto o = open_channel(ctx);
    if (!o) return failure(o.error());
    auto& ch = *o->channel;
    const auto tag = ch.next_tag();
    auto iu = make_cmd({.tag = tag, .cdb = test_unit_ready(), .total_bytes = 64});
    iu[offsetof(wire::CmdHeader, add_cdb_len)] = add_cdb_len;
    ch.send(iu);
    auto r = await_reply(ch, tag);
    if (!r) return failure(what + ": " + r.error());
    if (auto e = expect_sense(*r, SenseKey::illegal_request, kInvalidFieldInIu); !e.empty()) return failure(what + ": " + e);
    std::string outcome = describe(*r) + " for " + what;
    if (auto e = expect_log(ctx, *o, {"SRP_CMD rejected", log}, &outcome); !e.empty()) return failure(e);
    return pass(outcome);
}
CaseResult additional_cdb_odd(Context& ctx) {
    return additional_cdb(ctx, 6, "not a multiple of 4", "ADDITIONAL CDB LENGTH 6");
}
CaseResult additional_cdb_beyond(Context& ctx) {
    return additional_cdb(ctx, 252, "additional CDB beyond the IU", "ADDITIONAL CDB LENGTH 252 in a 64-byte IU");
}

CaseResult unsolicited_responses(Context& ctx) {
    // SRP_CRED_RSP and SRP_AER_RSP answer target requests and use no
    // credit (SRP r16a 5.5); this target never sends those requests, so
    // these are spurious: ignored, and no credit comes back for them.
    auto o = open_channel(ctx);
    if (!o) return failure(o.error());
    auto& ch = *o->channel;
    const auto cred = wire::make_iu<wire::CredRsp>(wire::Opcode::cred_rsp);
    const auto aer = wire::make_iu<wire::AerRsp>(wire::Opcode::aer_rsp);
    ch.send(wire::iu_bytes(cred));
    ch.send(wire::iu_bytes(aer));
    if (auto early = ch.receive(std::chrono::milliseconds(500))) return failure("the target answered a spurious response");
    const auto tag = ch.next_tag();
    ch.send(make_cmd({.tag = tag, .cdb = test_unit_ready()}));
    auto r = await_reply(ch, tag);
    if (!r) return failure("TEST UNIT READY afterwards: " + r.error());
    if (auto e = expect_good(*r); !e.empty()) return failure(e);
    if (r->credits() != 1) return failure("req_lim_delta " + std::to_string(r->credits()) + ", expected 1");
    return pass("SRP_CRED_RSP and SRP_AER_RSP nobody asked for are ignored; the next SRP_RSP returns req_lim_delta 1");
}

CaseResult unknown_lun(Context& ctx) {
    auto o = open_channel(ctx);
    if (!o) return failure(o.error());
    auto& ch = *o->channel;
    std::fill(ch.data().begin(), ch.data().end(), 0x5A);
    const auto tag = ch.next_tag();
    ch.send(make_cmd({.tag = tag,
                      .cdb = read16(0, 8),
                      .buf_fmt = 0x01,
                      .descriptors = direct(ch.descriptor(0, 4096)),
                      .lun = 200}));
    auto r = await_reply(ch, tag);
    if (!r) return failure("READ of LUN 200: " + r.error());
    // SPC-4 / SAM-5: LOGICAL UNIT NOT SUPPORTED.
    if (auto e = expect_sense(*r, SenseKey::illegal_request, 0x2500); !e.empty()) return failure("READ of LUN 200: " + e);
    if (std::any_of(ch.data().begin(), ch.data().end(), [](std::uint8_t b) { return b != 0x5A; }))
        return failure("READ of LUN 200: data was written into our buffer");
    return pass(describe(*r) + " for a READ of LUN 200 (no such LUN), no data moved");
}

constexpr Case kCases[] = {
    {"iu_empty", empty_iu},
    {"iu_tagless_cmd", tagless_cmd},
    {"iu_short_cmd", short_cmd},
    {"iu_short_tsk_mgmt", short_tsk_mgmt},
    {"iu_padded_cmd", padded_cmd},
    {"iu_longer_than_it_iu_len", longer_than_negotiated},
    {"iu_unknown_opcodes", unknown_opcodes},
    {"iu_unsolicited_responses", unsolicited_responses},
    {"iu_additional_cdb_length_odd", additional_cdb_odd},
    {"iu_additional_cdb_beyond_iu", additional_cdb_beyond},
    {"iu_unknown_lun", unknown_lun},
};

}  // namespace

std::span<const Case> iu_cases() {
    return kCases;
}

}  // namespace srp::hostile
