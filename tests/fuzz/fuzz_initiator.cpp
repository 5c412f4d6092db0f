// Fuzz target: the initiator against a malicious target. A Session logs in
// over the loopback fabric with a fuzzed SRP_LOGIN_RSP as accept data, submits
// a few commands, then receives fuzzed IUs (SRP_RSP, CRED_REQ, AER_REQ,
// T_LOGOUT, anything) from the target side. Nothing may crash, hang or leak.
// Only the Session's public API and the wire parsers are used: the Session's
// internals may change without touching this file.
//
// Input: 52 bytes of SRP_LOGIN_RSP, then IUs, each a 2-byte big-endian length
// followed by that many bytes. The first command's tag is (2 << 16) | slot
// (the login took tag 1), so seeds can answer real commands.
#include <cstring>

#include "common/fabric/loopback.h"
#include "common/wire/iu_encode.h"
#include "common/wire/iu_parse.h"
#include "srp_initiator/session.h"
#include "tests/fuzz/fuzz_driver.h"

using namespace srp;

namespace {

constexpr std::size_t kLoginRspBytes = sizeof(wire::LoginRsp);
constexpr std::size_t kMaxIus = 64;
constexpr std::size_t kCommands = 3;

struct Target {
    std::shared_ptr<fabric::LoopbackDomain> domain = std::make_shared<fabric::LoopbackDomain>();
    std::unique_ptr<fabric::LoopbackConnection> connection;
    std::vector<std::uint8_t> receive = std::vector<std::uint8_t>(16 * 512);
    std::unique_ptr<fabric::Registration> receive_mr;
    std::vector<std::uint8_t> send;  // the IU being sent (stable until its completion is polled)
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < kLoginRspBytes) return 0;
    Target target;
    target.receive_mr = std::move(*target.domain->register_memory(target.receive, false));
    std::vector<std::uint8_t> accept(data, data + kLoginRspBytes);
    // At most 255 credits (req_lim_delta, bytes 4..7): the receive ring is
    // credits x max_ti_iu_len, and thousands of slots per input would cut the
    // executions per second twentyfold for one std::min in the Session.
    accept[4] = accept[5] = accept[6] = 0;
    initiator::Connector connector = [&](const initiator::ConnectRequest&)
        -> std::expected<initiator::ConnectedChannel, initiator::LoginFailure> {
        if (target.connection) return std::unexpected(initiator::LoginFailure{});  // one channel only
        auto initiator_domain = std::make_shared<fabric::LoopbackDomain>();
        auto [t, i] = fabric::make_loopback_pair(target.domain, nullptr, initiator_domain, nullptr);
        target.connection = std::move(t);
        for (std::uint32_t k = 0; k < 16; ++k) (void)target.connection->post_receive(k, target.receive_mr->segment(k * 512, 512));
        initiator::ConnectedChannel channel;
        channel.connection = i.get();
        channel.domain = initiator_domain.get();
        channel.accept_data = accept;
        channel.description = "fuzz";
        struct Owner {
            std::unique_ptr<fabric::LoopbackConnection> connection;
            std::shared_ptr<fabric::LoopbackDomain> domain;
        };
        channel.owner = std::make_shared<Owner>(Owner{std::move(i), std::move(initiator_domain)});
        return channel;
    };
    initiator::SessionOptions options;
    options.pool_bytes = 1u << 16;
    options.command_timeout = std::chrono::milliseconds(0);  // every command times out: the abort path runs too
    options.tmf_timeout = std::chrono::milliseconds(0);      // and the escalation (LUN RESET, reconnect)
    auto session = initiator::Session::login(connector, options);
    if (!session) return 0;
    auto& s = **session;

    // A read, a write and a no-data command in flight.
    const std::uint8_t read10[10] = {0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0};
    const std::uint8_t write10[10] = {0x2a, 0, 0, 0, 0, 0, 0, 0, 1, 0};
    const std::uint8_t tur[6] = {};
    const std::span<const std::uint8_t> cdbs[kCommands] = {read10, write10, tur};
    const initiator::Direction directions[kCommands] = {initiator::Direction::from_target, initiator::Direction::to_target,
                                                        initiator::Direction::none};
    std::vector<std::span<std::uint8_t>> buffers;
    for (std::size_t k = 0; k < kCommands; ++k) {
        std::span<std::uint8_t> buffer;
        if (directions[k] != initiator::Direction::none) {
            if (auto b = s.allocate(512)) buffer = *b;
            buffers.push_back(buffer);
        }
        (void)s.submit(0, cdbs[k], directions[k], buffer, [](const initiator::CommandResult& r) {
            volatile auto sink = r.describe().size();
            (void)sink;
        });
    }

    // The target's side: consume what the initiator sent, then send the fuzzed IUs.
    auto drain_target = [&] {
        fabric::Completion c[16];
        while (std::size_t n = target.connection->poll(c))
            for (std::size_t k = 0; k < n; ++k)
                if (c[k].kind == fabric::WorkKind::receive && c[k].status == fabric::CompletionStatus::success)
                    (void)target.connection->post_receive(c[k].wr_id, target.receive_mr->segment(c[k].wr_id * 512, 512));
    };
    std::size_t at = kLoginRspBytes;
    for (std::size_t n = 0; n < kMaxIus && at + 2 <= size; ++n) {
        const std::size_t len = std::min<std::size_t>((std::size_t{data[at]} << 8) | data[at + 1], size - at - 2);
        target.send.assign(data + at + 2, data + at + 2 + len);
        at += 2 + len;
        drain_target();
        (void)target.connection->post_send(n, fabric::LocalSegment{target.send.data(), static_cast<std::uint32_t>(len), 0});
        (void)s.poll();
        drain_target();
    }
    for (int k = 0; k < 4; ++k) {
        (void)s.poll();
        drain_target();
    }
    for (auto b : buffers)
        if (!b.empty()) s.release(b);
    // Logout (also from the destructor) must not wait for a target that never answers.
    target.connection->disconnect();
    session->reset();
    return 0;
}

std::vector<std::vector<std::uint8_t>> fuzz_seeds() {
    std::vector<std::vector<std::uint8_t>> seeds;
    auto login = wire::make_iu<wire::LoginRsp>(wire::Opcode::login_rsp);
    login.req_lim_delta = 8;
    login.max_it_iu_len = 8260;
    login.max_ti_iu_len = 512;
    login.buf_fmt = 6;
    login.rsp_flags = 0x80;
    auto append = [](std::vector<std::uint8_t>& out, std::span<const std::uint8_t> iu) {
        out.push_back(static_cast<std::uint8_t>(iu.size() >> 8));
        out.push_back(static_cast<std::uint8_t>(iu.size()));
        out.insert(out.end(), iu.begin(), iu.end());
    };
    const auto login_bytes = wire::iu_bytes(login);
    auto tag_of = [](std::uint64_t v) {
        wire::Tag t{};
        std::memcpy(t.data(), &v, sizeof v);  // the Session's tags are native-endian 64-bit values
        return t;
    };
    // Good responses to all three commands, one with sense data.
    {
        std::vector<std::uint8_t> seed(login_bytes.begin(), login_bytes.end());
        for (std::uint64_t slot = 1; slot < kCommands; ++slot) {  // slot 0 gets CHECK CONDITION below
            auto rsp = wire::make_iu<wire::RspHeader>(wire::Opcode::rsp);
            rsp.req_lim_delta = 1;
            rsp.tag = tag_of(((2 + slot) << 16) | slot);  // free slots are taken from 0 up
            const auto bytes = wire::iu_bytes(rsp);
            append(seed, bytes);
        }
        std::vector<std::uint8_t> sense_rsp(36 + 18);
        auto rsp = wire::make_iu<wire::RspHeader>(wire::Opcode::rsp);
        rsp.status = 0x02;
        rsp.flags = 0x02;  // SNSVALID
        rsp.sense_data_len = 18;
        rsp.tag = tag_of((2u << 16) | 0);
        std::memcpy(sense_rsp.data(), &rsp, sizeof rsp);
        sense_rsp[36] = 0x70;
        sense_rsp[38] = 0x05;
        sense_rsp[43] = 10;
        sense_rsp[48] = 0x24;
        append(seed, sense_rsp);
        seeds.push_back(seed);
    }
    // Target-initiated IUs: CRED_REQ, AER_REQ with sense, T_LOGOUT.
    {
        std::vector<std::uint8_t> seed(login_bytes.begin(), login_bytes.end());
        auto cred = wire::make_iu<wire::CredReq>(wire::Opcode::cred_req);
        cred.req_lim_delta = 4;
        append(seed, wire::iu_bytes(cred));
        std::vector<std::uint8_t> aer(36 + 18);
        auto h = wire::make_iu<wire::AerReqHeader>(wire::Opcode::aer_req);
        h.sense_data_len = 18;
        h.req_lim_delta = 1;
        std::memcpy(aer.data(), &h, sizeof h);
        aer[36] = 0x70;
        aer[38] = 0x06;
        aer[48] = 0x2a;
        aer[49] = 0x09;
        append(seed, aer);
        auto logout = wire::make_iu<wire::TLogout>(wire::Opcode::t_logout);
        logout.reason = 1;
        append(seed, wire::iu_bytes(logout));
        seeds.push_back(seed);
    }
    // A login response alone (the commands time out and are aborted).
    seeds.emplace_back(login_bytes.begin(), login_bytes.end());
    return seeds;
}
