#include "tests/loopback/loopback_fixture.h"

#include <poll.h>
#include <unistd.h>

#include <algorithm>

#include "srp_target/srp/srp_nexus_identity.h"

namespace srp::test {

namespace {
constexpr std::uint32_t kReceiveSlots = 16;
constexpr std::uint32_t kReceiveBytes = 512;
}  // namespace

bool TestMediumQueue::submit(const target::MediumOp& op, target::MediumSink& sink, std::uint64_t tag) noexcept {
    ++submitted;
    if (inject) {
        if (auto result = inject(op)) {
            injected_.push_back(Injected{&sink, tag, *result});
            return true;
        }
    }
    return uring_.submit(op, sink, tag);
}

std::size_t TestMediumQueue::reap() noexcept {
    if (hold) return uring_.reap();
    auto ready = std::exchange(injected_, {});
    for (auto& i : ready) i.sink->on_medium_complete(i.tag, i.result);
    return ready.size() + uring_.reap();
}

void TestMediumQueue::settle() {
    for (int i = 0; i < 1000 && uring_.in_flight() + (hold ? 0 : injected_.size()) > 0; ++i) {
        flush_submissions();
        pollfd p{wait_fd(), POLLIN, 0};
        if (injected_.empty()) (void)::poll(&p, 1, 10);
        reap();
    }
}

std::shared_ptr<target::LogicalUnit> LoopbackTarget::add_io_lun(std::uint16_t number, std::uint64_t bytes) {
    auto store = std::make_unique<target::Backstore>(
        target::BackstoreConfig{dir.file("lun" + std::to_string(number)), bytes, false});
    REQUIRE_FALSE(store->is_memory());
    target::LogicalUnitConfig config;
    config.serial = "IOLUN" + std::to_string(number);
    auto lu = std::make_shared<target::LogicalUnit>(std::move(store), config);
    scsi.add_lun(number, lu);
    wire::PortId initiator_port{};
    initiator_port[15] = initiators_.front();
    lu->attach_nexus(link(0).channel->nexus(), target::srp_nexus_identity(initiator_port, wire::PortId{}));
    const std::uint8_t tur[16] = {};  // consume the power-on unit attention
    link(0).command(tur, false, 0, 0, number);
    auto ua = link(0).response();
    REQUIRE(ua.has_value());
    REQUIRE(ua->asc() == 0x2900);
    return lu;
}

wire::Tag tag_of(std::uint64_t value) {
    wire::Tag t{};
    for (int i = 0; i < 8; ++i) t[i] = static_cast<std::uint8_t>(value >> (8 * i));
    return t;
}

LoopbackTarget::LoopbackTarget(bool register_backstore, std::uint32_t imm_data_offset, std::uint32_t iu_len)
    : it_iu_len(iu_len) {
    auto store = std::make_unique<target::Backstore>(target::BackstoreConfig{dir.file("lun0"), 4 << 20, false, target::BackstoreAccess::mapped});
    unit = std::make_shared<target::LogicalUnit>(std::move(store), target::LogicalUnitConfig{});
    scsi.add_lun(0, unit);
    if (register_backstore) {
        auto r = target_domain->register_memory(unit->backstore().bytes(), false);
        REQUIRE(r.has_value());
        backstores.add(std::move(*r), unit->backstore());
        unit->backstore().set_pinned(true);
    }
    add_link(imm_data_offset);
}

LoopbackTarget::~LoopbackTarget() = default;

LoopbackTarget::Link& LoopbackTarget::add_link(std::uint32_t imm_data_offset, std::uint8_t initiator) {
    auto link = std::make_unique<Link>();
    auto [target_end, initiator_end] = make_loopback_pair(target_domain, link->target_notifier, initiator_domain, nullptr);
    link->target_side = target_end.get();
    link->queue = &medium_queue;
    link->initiator = std::move(initiator_end);
    link->control = std::make_shared<target::ChannelControl>(nullptr);
    wire::PortId initiator_port{};
    initiator_port[15] = initiator;
    const bool new_nexus = std::find(initiators_.begin(), initiators_.end(), initiator) == initiators_.end();
    const auto attached = registry.attach(initiator_port, wire::PortId{}, link->control, new_nexus);
    target::ChannelParams params;
    params.queue_depth = kQueueDepth;
    params.it_iu_len = it_iu_len;
    params.imm_data_offset = imm_data_offset;
    params.bounce_chunks = target::kMinBounceChunks;
    params.name = "test";
    link->channel = std::make_unique<target::Channel>(std::move(target_end), *target_domain, scsi, registry, backstores,
                                                      medium_queue, stats,
                                                      link->control, attached.nexus, params);
    link->memory_mr = std::move(*initiator_domain->register_memory(link->memory, true));
    link->receive_mr = std::move(*initiator_domain->register_memory(link->receive, false));
    for (std::uint32_t i = 0; i < kReceiveSlots; ++i)
        REQUIRE(link->initiator->post_receive(i, link->receive_mr->segment(i * kReceiveBytes, kReceiveBytes)));
    link->channel->start();
    // The first command of a new nexus reports the power-on unit attention; consume it.
    if (new_nexus) {
        initiators_.push_back(initiator);
        const std::uint8_t tur[16] = {};
        link->command(tur, false, 0, 0);
        auto ua = link->response();
        REQUIRE(ua.has_value());
        REQUIRE(ua->asc() == 0x2900);
    }
    links_.push_back(std::move(link));
    return *links_.back();
}

wire::DirectDescriptor LoopbackTarget::Link::descriptor(std::size_t offset, std::uint32_t length) const {
    wire::DirectDescriptor d{};
    d.va = reinterpret_cast<std::uintptr_t>(memory.data() + offset);
    d.key = memory_mr->rkey();
    d.len = length;
    return d;
}

void LoopbackTarget::Link::send(std::span<const std::uint8_t> iu) {
    // The loopback fabric copies a send at post time, so the caller's buffer may go away.
    std::vector<std::uint8_t> copy(iu.begin(), iu.end());
    auto r = initiator->post_send(1ull << 40, fabric::LocalSegment{copy.data(), static_cast<std::uint32_t>(copy.size()), 0});
    REQUIRE(r.has_value());
}

void LoopbackTarget::Link::pump(int rounds) {
    for (int i = 0; i < rounds; ++i) {
        channel->poll();
        queue->settle();  // medium steps finish (the poller would sleep on the eventfd)
    }
}

std::vector<Response> LoopbackTarget::Link::responses() {
    pump();
    std::vector<Response> out;
    fabric::Completion c[16];
    for (;;) {
        const std::size_t n = initiator->poll(c);
        if (n == 0) break;
        for (std::size_t i = 0; i < n; ++i) {
            if (c[i].kind != fabric::WorkKind::receive || c[i].status != fabric::CompletionStatus::success) continue;
            const auto slot = static_cast<std::uint32_t>(c[i].wr_id);
            const auto bytes = std::span<const std::uint8_t>(receive).subspan(slot * kReceiveBytes, c[i].byte_len);
            if (auto logout = wire::parse_t_logout(bytes)) {  // the target logs the channel out
                target_logouts.push_back(logout->reason.value());
                REQUIRE(initiator->post_receive(slot, receive_mr->segment(slot * kReceiveBytes, kReceiveBytes)));
                continue;
            }
            auto parsed = wire::parse_rsp(bytes);
            REQUIRE(parsed.has_value());
            Response r;
            r.header = parsed->header;
            r.response_data.assign(parsed->response_data.begin(), parsed->response_data.end());
            r.sense.assign(parsed->sense_data.begin(), parsed->sense_data.end());
            out.push_back(std::move(r));
            REQUIRE(initiator->post_receive(slot, receive_mr->segment(slot * kReceiveBytes, kReceiveBytes)));
        }
    }
    return out;
}

std::optional<Response> LoopbackTarget::Link::response() {
    auto all = responses();
    if (all.empty()) return std::nullopt;
    REQUIRE(all.size() == 1);
    return all.front();
}

std::uint64_t LoopbackTarget::Link::command(std::span<const std::uint8_t> cdb, bool data_out, std::size_t offset,
                                            std::uint32_t length, std::uint16_t lun) {
    const std::uint64_t tag = next_tag++;
    auto h = wire::make_iu<wire::CmdHeader>(wire::Opcode::cmd);
    h.tag = tag_of(tag);
    h.lun = scsi::encode_lun(lun);
    std::copy(cdb.begin(), cdb.begin() + std::min<std::size_t>(16, cdb.size()), h.cdb.begin());
    std::vector<std::uint8_t> iu(256);
    std::vector<std::uint8_t> desc;
    if (length > 0) {
        h.buf_fmt = data_out ? 0x10 : 0x01;
        desc = bytes_of(descriptor(offset, length));
    }
    auto n = wire::encode_cmd(iu, h, {}, desc);
    REQUIRE(n.has_value());
    iu.resize(*n);
    send(iu);
    return tag;
}

std::uint64_t LoopbackTarget::Link::tmf(std::uint8_t function, std::uint64_t task_tag, std::uint16_t lun) {
    const std::uint64_t tag = next_tag++;
    auto t = wire::make_iu<wire::TskMgmt>(wire::Opcode::tsk_mgmt);
    t.tag = tag_of(tag);
    t.tsk_mgmt_func = function;
    t.task_tag = tag_of(task_tag);
    t.lun = scsi::encode_lun(lun);
    send(bytes_of(t));
    return tag;
}

}  // namespace srp::test
