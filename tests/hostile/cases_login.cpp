// Logins a target must refuse (SRP r16a 6.2-6.4, table 13 reasons), and a
// second SINGLE login of an I_T nexus while the first carries I/O (SRP
// r16a 6.2.2: the target terminates the nexus's existing channel and says
// so in the LOGIN_RSP; the new channel works).
#include <atomic>
#include <cstdio>
#include <thread>

#include "common/wire/iu_encode.h"
#include "common/wire/port_id.h"
#include "srp_initiator/session.h"
#include "tests/hostile/hostile.h"

namespace srp::hostile {

namespace {

using wire::LoginRejectReason;

std::string reject_text(std::uint32_t reason) {
    char text[96];
    std::snprintf(text, sizeof text, "SRP_LOGIN_REJ 0x%08x (%s)", reason,
                  std::string(wire::login_reject_reason_name(reason)).c_str());
    return text;
}

// A login that must be refused with this SRP_LOGIN_REJ reason.
CaseResult rejected(Context& ctx, RawLogin login, LoginRejectReason want, const std::string& what) {
    login.initiator_port_id = ctx.new_port_id();
    auto ch = RawChannel::open(ctx.endpoint, login);
    if (ch) return failure(what + ": the login was accepted");
    const auto& f = ch.error();
    if (f.kind != initiator::LoginFailure::Kind::rejected || !f.reject_reason)
        return failure(what + ": not an SRP_LOGIN_REJ: " + f.message);
    if (*f.reject_reason != static_cast<std::uint32_t>(want))
        return failure(what + ": " + reject_text(*f.reject_reason) + ", expected " +
                       reject_text(static_cast<std::uint32_t>(want)));
    std::string outcome = reject_text(*f.reject_reason) + " for " + what;
    if (login.private_data) {  // zero-padded: the initiator port id is all zeros
        auto line = ctx.log ? ctx.log->find({"(initiator 00000000000000000000000000000000)",
                                             "rejected with reason 0x00010000", "requested it_iu_len 0 "})
                            : std::optional<std::string>("");
        if (!line) return failure(what + ": no target log line rejecting it");
        if (!line->empty()) outcome += "; log: " + line->substr(line->find("login from"));
    } else if (auto e = expect_rejection_log(ctx, login.initiator_port_id, static_cast<std::uint32_t>(want), &outcome);
               !e.empty()) {
        return failure(what + ": " + e);
    }
    return pass(outcome);
}

CaseResult it_iu_len_small(Context& ctx) {
    // SRP r16a 6.2: at least 64. Table 13 has no "too small" reason: "unable
    // to establish the RDMA channel, no reason specified".
    return rejected(ctx, {.it_iu_len = 63}, LoginRejectReason::unable_to_establish_channel, "it_iu_len 63");
}

CaseResult it_iu_len_large(Context& ctx) {
    auto r = rejected(ctx, {.it_iu_len = 8277}, LoginRejectReason::it_iu_length_too_large, "it_iu_len 8277 (max 8276)");
    if (!r.ok) return r;
    auto r2 =
        rejected(ctx, {.it_iu_len = 0xffffffffu}, LoginRejectReason::it_iu_length_too_large, "it_iu_len 0xffffffff");
    if (!r2.ok) return r2;
    return pass(r.outcome + "; " + r2.outcome);
}

CaseResult short_private_data(Context& ctx) {
    // RDMA/CM over the IB CM carries a fixed 56 bytes of REQ private data:
    // a shorter login arrives zero-padded (the target checks >= 56, never
    // == 56). Here only tag, formats, flags and opcode are sent, so the
    // target reads REQUESTED MAXIMUM IT IU LENGTH 0 and refuses that.
    RawLogin login;
    auto req = wire::make_login_req_rdma();
    req.req_buf_fmt = wire::kBufFmtDirect | wire::kBufFmtIndirect;
    const auto bytes = wire::iu_bytes(req).first(12);
    login.private_data.emplace(bytes.begin(), bytes.end());
    return rejected(ctx, login, LoginRejectReason::unable_to_establish_channel,
                    "12 bytes of login private data (zero-padded to 56 by the CM: IT IU length 0)");
}

CaseResult wrong_target(Context& ctx) {
    wire::PortId other = ctx.endpoint.target_port_id();
    other[15] ^= 0xff;
    return rejected(ctx, {.target_port_id = other}, LoginRejectReason::unable_to_associate_channel,
                    "a target port id that is not ours");
}

CaseResult no_format(Context& ctx) {
    return rejected(ctx, {.buf_fmt = 0}, LoginRejectReason::unsupported_descriptor_format,
                    "REQUIRED BUFFER FORMATS with neither direct nor indirect");
}

CaseResult reserved_action(Context& ctx) {
    return rejected(ctx, {.req_flags = 0x03}, LoginRejectReason::unable_to_establish_channel,
                    "MULTI-CHANNEL ACTION 3 (reserved)");
}

// The first session's I/O: READs and WRITEs of the scratch area, 8 in
// flight, until its channel is gone.
struct Load {
    std::atomic<std::uint32_t> good{0}, failed{0};
    std::atomic<bool> stop{false};
    std::string first_failure;
};
void run_load(initiator::Session& s, const Context& ctx, Load& load) {
    constexpr std::uint32_t kSlots = 8, kBlocks = 8;
    auto buffer = s.allocate(kSlots * kBlocks * 512);
    if (!buffer) return;
    bool busy[kSlots] = {};
    std::uint64_t n = 0;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (!load.stop && std::chrono::steady_clock::now() < deadline) {
        for (std::uint32_t slot = 0; slot < kSlots && s.connected() && s.can_submit(); ++slot) {
            if (busy[slot]) continue;
            const bool write = n % 2 == 0;
            const std::uint64_t lba = ctx.scratch_lba + (n % 256) * kBlocks;
            const auto cdb = write ? write16(lba, kBlocks) : read16(lba, kBlocks);
            busy[slot] = true;
            auto submitted =
                s.submit(0, cdb, write ? initiator::Direction::to_target : initiator::Direction::from_target,
                         buffer->subspan(slot * kBlocks * 512, kBlocks * 512),
                         [&load, &busy, slot](const initiator::CommandResult& r) {
                             busy[slot] = false;
                             if (r.good())
                                 ++load.good;
                             else if (load.failed++ == 0)
                                 load.first_failure = r.describe();
                         });
            if (!submitted) busy[slot] = false;
            ++n;
        }
        s.wait(std::chrono::milliseconds(20));
        if (!s.connected() && s.outstanding() == 0) break;
    }
}

CaseResult second_single_login(Context& ctx) {
    initiator::SessionOptions options;
    options.id_ext = ctx.endpoint.id_ext;
    options.ioc_guid = ctx.endpoint.ioc_guid;
    options.initiator_port_id = ctx.new_port_id();
    options.queue_depth = 16;
    options.pool_bytes = 1u << 20;
    auto connector = initiator::verbs_connector(ctx.endpoint.host, ctx.endpoint.port, ctx.endpoint.timeout);
    auto first = initiator::Session::login(connector, options);
    if (!first) return failure("first login: " + first.error().message);
    auto tur = test_unit_ready();
    if (auto r = (*first)->execute(0, tur, initiator::Direction::none, {}); !r.good())
        return failure("first session: TEST UNIT READY: " + r.describe());
    Load load;
    std::thread io([&] { run_load(**first, ctx, load); });
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (load.good < 20 && load.failed == 0 && std::chrono::steady_clock::now() < until)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    const std::uint32_t good_before = load.good;
    auto second = initiator::Session::login(connector, options);  // same initiator port id, SINGLE
    if (!second) {
        load.stop = true;
        io.join();
        return failure("second SINGLE login: " + second.error().message);
    }
    io.join();  // ends once the first channel is gone (or after 60 s)
    if (good_before < 20) return failure("the first session's I/O did not run (" + load.first_failure + ")");
    if ((*first)->connected()) return failure("the first channel is still connected after the second SINGLE login");
    const std::uint8_t flags = (*second)->login_info().rsp_flags;
    if ((flags & 0x03) != wire::kRspFlagChannelsTerminated)
        return failure("LOGIN_RSP flags 0x" + std::to_string(flags) +
                       ": MULTI-CHANNEL RESULT should be 1 (terminated)");
    // The new channel works: a WRITE and its READ back.
    auto buffer = (*second)->allocate(8 * 512);
    std::fill(buffer->begin(), buffer->end(), 0x6B);
    if (auto r = (*second)->execute(0, write16(ctx.scratch_lba, 8), initiator::Direction::to_target, *buffer);
        !r.good())
        return failure("second session WRITE: " + r.describe());
    std::fill(buffer->begin(), buffer->end(), 0);
    if (auto r = (*second)->execute(0, read16(ctx.scratch_lba, 8), initiator::Direction::from_target, *buffer);
        !r.good())
        return failure("second session READ: " + r.describe());
    if (std::any_of(buffer->begin(), buffer->end(), [](std::uint8_t b) { return b != 0x6B; }))
        return failure("second session read back other data");
    std::string outcome = "LOGIN_RSP MULTI-CHANNEL RESULT 1 (terminated); the first channel closed after " +
                          std::to_string(load.good.load()) + " good commands (" + std::to_string(load.failed.load()) +
                          " ended by the close: " + (load.first_failure.empty() ? "none" : load.first_failure) +
                          "); the new channel writes and reads back";
    if (ctx.log) {
        const auto names = ctx.log->channels(*options.initiator_port_id, 2);
        if (names.size() < 2) return failure("the target log lacks the two logins");
        if (!ctx.log->line(names[0], {"closing: terminated by a new SINGLE login"}))
            return failure("no log line of [" + names[0] + "] closing it for the new SINGLE login");
        auto line = ctx.log->line(names[1], {"login accepted", "SINGLE, terminated 1 channel(s)"});
        if (!line) return failure("no log line of [" + names[1] + "] reporting the terminated channel");
        outcome += "; log: " + line->substr(line->find('['));
    }
    return pass(outcome);
}

constexpr Case kCases[] = {
    {"login_it_iu_len_below_64", it_iu_len_small},
    {"login_it_iu_len_above_max", it_iu_len_large},
    {"login_short_private_data", short_private_data},
    {"login_wrong_target_port", wrong_target},
    {"login_no_buffer_format", no_format},
    {"login_reserved_multichannel_action", reserved_action},
    {"login_second_single_during_io", second_single_login},
};

}  // namespace

std::span<const Case> login_cases() {
    return kCases;
}

}  // namespace srp::hostile
