// Fuzz target: the whole IU dispatch of a target channel. The input is sent
// as an IU from the initiator side of a loopback pair; the channel parses
// it, runs the engine, moves data and answers. Nothing may crash or leak,
// and the channel must keep answering a well-formed command afterwards.
#include <cstdlib>
#include <cstring>

#include "common/fabric/loopback.h"
#include "common/scsi/cdb.h"
#include "common/wire/iu_encode.h"
#include "srp_target/backstore/uring_queue.h"
#include "srp_target/srp/channel.h"
#include "tests/fuzz/fuzz_driver.h"

using namespace srp;

namespace {

struct Fixture {
    target::ScsiTarget scsi;
    target::TargetStats stats;
    target::SessionRegistry registry{scsi};
    std::shared_ptr<fabric::LoopbackDomain> target_domain = std::make_shared<fabric::LoopbackDomain>();
    std::shared_ptr<fabric::LoopbackDomain> initiator_domain = std::make_shared<fabric::LoopbackDomain>();
    target::RegisteredBackstores backstores;
    target::UringQueue medium_queue;  // unused: the fuzzed LU is memory, its steps run inline
    std::unique_ptr<target::Channel> channel;
    std::unique_ptr<fabric::LoopbackConnection> initiator;
    std::vector<std::uint8_t> memory = std::vector<std::uint8_t>(1 << 20), receive = std::vector<std::uint8_t>(64 * 512);
    std::unique_ptr<fabric::Registration> memory_mr, receive_mr;

    Fixture() {
        auto store = std::make_unique<target::Backstore>(target::BackstoreConfig{"", 1u << 20, false});
        auto unit = std::make_shared<target::LogicalUnit>(std::move(store), target::LogicalUnitConfig{});
        backstores.add(std::move(*target_domain->register_memory(unit->backstore().bytes(), false)), unit->backstore());
        scsi.add_lun(0, unit);
        memory_mr = std::move(*initiator_domain->register_memory(memory, true));
        receive_mr = std::move(*initiator_domain->register_memory(receive, false));
        connect();
    }
    void connect() {
        auto [t, i] = fabric::make_loopback_pair(target_domain, nullptr, initiator_domain, nullptr);
        initiator = std::move(i);
        auto control = std::make_shared<target::ChannelControl>(nullptr);
        const auto attached = registry.attach(wire::PortId{}, wire::PortId{}, control, true);
        target::ChannelParams params;
        params.queue_depth = 8;
        params.it_iu_len = 4096;
        params.imm_data_offset = 68;
        params.bounce_chunks = target::kMinBounceChunks;
        params.name = "fuzz";
        channel = std::make_unique<target::Channel>(std::move(t), *target_domain, scsi, registry, backstores, medium_queue, stats, control,
                                                    attached.nexus, params);
        channel->start();
        for (std::uint32_t k = 0; k < 64; ++k) (void)initiator->post_receive(k, receive_mr->segment(k * 512, 512));
    }
    // Drives the channel, recycles the initiator's receives; true when an
    // SRP_RSP carrying `tag` arrived.
    bool pump(const wire::Tag* tag = nullptr) {
        bool seen = false;
        for (int k = 0; k < 8; ++k) channel->poll();
        fabric::Completion c[64];
        while (std::size_t n = initiator->poll(c))
            for (std::size_t k = 0; k < n; ++k) {
                if (c[k].kind != fabric::WorkKind::receive || c[k].status != fabric::CompletionStatus::success) continue;
                const auto bytes = std::span<const std::uint8_t>(receive).subspan(c[k].wr_id * 512, c[k].byte_len);
                if (auto rsp = wire::parse_rsp(bytes); rsp && tag && rsp->header.tag == *tag) seen = true;
                (void)initiator->post_receive(c[k].wr_id, receive_mr->segment(c[k].wr_id * 512, 512));
            }
        return seen;
    }
    // The channel still answers a well-formed command.
    void require_alive() {
        auto h = wire::make_iu<wire::CmdHeader>(wire::Opcode::cmd);
        h.tag = {0xa1, 0x1f, 0xe0, 0, 0, 0, 0, 1};
        std::vector<std::uint8_t> iu(64);
        iu.resize(*wire::encode_cmd(iu, h, {}, {}));
        (void)initiator->post_send(1u << 20, fabric::LocalSegment{iu.data(), static_cast<std::uint32_t>(iu.size()), 0});
        if (!pump(&h.tag)) std::abort();
    }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static Fixture f;
    if (size > 4096) size = 4096;
    // Descriptors in fuzzed IUs point anywhere; aim a few at real initiator memory.
    std::vector<std::uint8_t> iu(data, data + size);
    if (iu.size() >= 64 && (iu[0] == 0x02) && (iu.size() & 1)) {
        wire::DirectDescriptor d{};
        d.va = reinterpret_cast<std::uintptr_t>(f.memory.data());
        d.key = f.memory_mr->rkey();
        d.len = static_cast<std::uint32_t>(f.memory.size());
        std::memcpy(iu.data() + 48, &d, sizeof d);
    }
    (void)f.initiator->post_send(1u << 20, fabric::LocalSegment{iu.data(), static_cast<std::uint32_t>(iu.size()), 0});
    f.pump();
    // A channel closed by bad input (bad rkey, logout) must drain; then reconnect.
    if (f.channel->closing()) {
        if (!f.channel->drained()) std::abort();
        f.registry.detach(f.channel->nexus(), f.channel->control().get());
        f.channel.reset();
        f.connect();
    }
    static unsigned inputs = 0;
    if (++inputs % 64 == 0) f.require_alive();
    return 0;
}

std::vector<std::vector<std::uint8_t>> fuzz_seeds() {
    std::vector<std::vector<std::uint8_t>> seeds;
    auto cmd = [&](std::uint8_t buf_fmt, std::span<const std::uint8_t> cdb) {
        wire::CmdHeader h{};
        h.buf_fmt = buf_fmt;
        std::copy(cdb.begin(), cdb.end(), h.cdb.begin());
        wire::DirectDescriptor d{};
        d.len = 4096;
        std::vector<std::uint8_t> out(128);
        out.resize(*wire::encode_cmd(out, h, {}, wire::iu_bytes(d)));
        out.push_back(0);  // odd length: the harness aims the descriptor at real memory
        seeds.push_back(out);
    };
    cmd(0x01, scsi::make_rw16(scsi::op::kRead16, 0, 8));
    cmd(0x10, scsi::make_rw16(scsi::op::kWrite16, 0, 8));
    const std::uint8_t inquiry[6] = {0x12, 1, 0x83, 0, 0xff, 0};
    cmd(0x01, inquiry);
    auto tmf = wire::make_iu<wire::TskMgmt>(wire::Opcode::tsk_mgmt);
    tmf.tsk_mgmt_func = 0x08;
    const auto tmf_bytes = wire::iu_bytes(tmf);
    seeds.emplace_back(tmf_bytes.begin(), tmf_bytes.end());
    std::vector<std::uint8_t> immediate(256);
    const std::uint8_t data[512] = {};
    immediate.resize(1024);
    immediate.resize(*wire::encode_cmd_immediate(immediate, wire::CmdHeader{}, 68, data));
    std::memcpy(immediate.data() + 32, scsi::make_rw16(scsi::op::kWrite16, 1, 1).data(), 16);
    seeds.push_back(immediate);
    return seeds;
}
