// Helpers shared by the hostile cases: channels with fresh I_T nexuses,
// IU builders on top of common/wire, reply parsing and expectations, and
// the target log checks.
#include <cstdio>
#include <cstring>

#include "common/scsi/cdb.h"
#include "common/scsi/scsi_constants.h"
#include "common/wire/iu_encode.h"
#include "common/wire/iu_parse.h"
#include "common/wire/port_id.h"
#include "tests/hostile/hostile.h"

namespace srp::hostile {

namespace {
wire::Tag to_tag(std::uint64_t value) {
    wire::Tag t;
    std::memcpy(t.data(), &value, sizeof value);
    return t;
}
std::string hex(std::uint64_t v, int width = 2) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%0*llx", width, static_cast<unsigned long long>(v));
    return buf;
}
}  // namespace

wire::PortId Context::new_port_id() {
    wire::PortId id{};
    std::memcpy(id.data(), "hostile!", 8);
    const std::uint64_t low = run_id << 16 | ++next_port;
    for (int i = 0; i < 8; ++i) id[8 + i] = static_cast<std::uint8_t>(low >> (56 - 8 * i));
    return id;
}

CaseResult pass(std::string outcome) {
    return {true, std::move(outcome)};
}
CaseResult failure(std::string why) {
    return {false, std::move(why)};
}
CaseResult skip(std::string why) { return {true, std::move(why), true}; }

std::expected<Opened, std::string> open_channel(Context& ctx, RawLogin login, RawOptions options, bool clear_ua) {
    Opened o;
    o.port_id = ctx.new_port_id();
    login.initiator_port_id = o.port_id;
    auto ch = RawChannel::open(ctx.endpoint, login, options);
    if (!ch) return std::unexpected("login failed: " + ch.error().message);
    o.channel = std::move(*ch);
    if (ctx.log) {
        auto names = ctx.log->channels(o.port_id);
        if (names.empty()) return std::unexpected("no login line for initiator " + wire::format_port_id(o.port_id));
        o.name = names.back();
    }
    // A new I_T nexus starts with a unit attention (SAM-5 6.3.2): take it.
    for (int i = 0; clear_ua && i < 3; ++i) {
        const auto tag = o.channel->next_tag();
        o.channel->send(make_cmd({.tag = tag, .cdb = test_unit_ready()}));
        auto r = await_reply(*o.channel, tag);
        if (!r) return std::unexpected("TEST UNIT READY: " + r.error());
        if (r->header.status == 0) break;
    }
    return o;
}

std::vector<std::uint8_t> make_cmd(const CmdSpec& spec) {
    auto h = wire::make_iu<wire::CmdHeader>(wire::Opcode::cmd);
    h.tag = to_tag(spec.tag);
    h.buf_fmt = spec.buf_fmt;
    h.data_out_desc_cnt = spec.out_count;
    h.data_in_desc_cnt = spec.in_count;
    h.lun = scsi::encode_lun(spec.lun);
    std::copy_n(spec.cdb.begin(), std::min<std::size_t>(spec.cdb.size(), 16), h.cdb.begin());
    std::vector<std::uint8_t> iu(sizeof h + spec.descriptors.size());
    iu.resize(*wire::encode_cmd(iu, h, {}, spec.descriptors));
    if (spec.total_bytes) iu.resize(*spec.total_bytes, 0xA5);  // padding is junk on purpose
    return iu;
}

std::vector<std::uint8_t> direct(const wire::DirectDescriptor& d) {
    const auto b = wire::iu_bytes(d);
    return {b.begin(), b.end()};
}

std::vector<std::uint8_t> indirect(const wire::DirectDescriptor& table, std::uint32_t total_length,
                                   std::span<const wire::DirectDescriptor> in_iu) {
    wire::IndirectHeader h{};
    h.table_desc = table;
    h.len = total_length;
    std::vector<std::uint8_t> out(sizeof h + in_iu.size_bytes());
    out.resize(*wire::encode_indirect(out, h, in_iu));
    return out;
}

std::vector<std::uint8_t> make_tmf(std::uint64_t tag, std::uint8_t function, std::uint64_t task_tag,
                                   std::uint16_t lun) {
    auto t = wire::make_iu<wire::TskMgmt>(wire::Opcode::tsk_mgmt);
    t.tag = to_tag(tag);
    t.lun = scsi::encode_lun(lun);
    t.tsk_mgmt_func = function;
    t.task_tag = to_tag(task_tag);
    const auto b = wire::iu_bytes(t);
    return {b.begin(), b.end()};
}

std::vector<std::uint8_t> read16(std::uint64_t lba, std::uint32_t blocks) {
    const auto cdb = scsi::make_rw16(scsi::op::kRead16, lba, blocks);
    return {cdb.begin(), cdb.end()};
}
std::vector<std::uint8_t> write16(std::uint64_t lba, std::uint32_t blocks) {
    const auto cdb = scsi::make_rw16(scsi::op::kWrite16, lba, blocks);
    return {cdb.begin(), cdb.end()};
}
std::vector<std::uint8_t> test_unit_ready() {
    return std::vector<std::uint8_t>(6, 0);
}

std::uint64_t Reply::tag() const {
    std::uint64_t v;
    std::memcpy(&v, header.tag.data(), sizeof v);
    return v;
}

std::optional<Reply> parse_reply(const Iu& iu) {
    auto view = wire::parse_rsp(iu);
    if (!view) return std::nullopt;
    Reply r;
    r.header = view->header;
    r.response_data.assign(view->response_data.begin(), view->response_data.end());
    r.sense.assign(view->sense_data.begin(), view->sense_data.end());
    r.decoded = scsi::decode_sense(r.sense);
    return r;
}

std::string describe(const Reply& r) {
    std::string s;
    if (r.header.flags & wire::kRspFlagRspValid) {
        s = "RSP_CODE 0x" + hex(r.response_data.size() >= 4 ? r.response_data[3] : 0xff);
    } else {
        s = std::string(scsi::status_name(static_cast<scsi::Status>(r.header.status)));
        if (r.decoded)
            s += " " + std::string(scsi::sense_key_name(r.decoded->key)) + " " + hex(r.decoded->asc) + "/" +
                 hex(r.decoded->ascq);
    }
    const auto f = r.header.flags;
    if (f & wire::kRspFlagDiOver) s += ", DIOVER " + std::to_string(r.header.data_in_res_cnt.value());
    if (f & wire::kRspFlagDiUnder) s += ", DIUNDER " + std::to_string(r.header.data_in_res_cnt.value());
    if (f & wire::kRspFlagDoOver) s += ", DOOVER " + std::to_string(r.header.data_out_res_cnt.value());
    if (f & wire::kRspFlagDoUnder) s += ", DOUNDER " + std::to_string(r.header.data_out_res_cnt.value());
    return s;
}

std::expected<Reply, std::string> await_reply(RawChannel& ch, std::uint64_t tag, std::chrono::milliseconds timeout) {
    auto iu = ch.receive(timeout);
    if (!iu) return std::unexpected(ch.closed() ? "channel closed without a response" : "no response");
    auto r = parse_reply(*iu);
    if (!r) return std::unexpected("not an SRP_RSP (opcode 0x" + hex(iu->empty() ? 0 : (*iu)[0]) + ")");
    if (r->tag() != tag)
        return std::unexpected("response for tag " + std::to_string(r->tag()) + ", expected " + std::to_string(tag));
    return *r;
}

std::string expect_sense(const Reply& r, scsi::SenseKey key, std::uint16_t asc_ascq) {
    if (r.header.status == static_cast<std::uint8_t>(scsi::Status::check_condition) && r.decoded &&
        r.decoded->key == key && r.decoded->asc_ascq() == asc_ascq)
        return "";
    return "got " + describe(r) + ", expected CHECK CONDITION " + std::string(scsi::sense_key_name(key)) + " " +
           hex(asc_ascq >> 8) + "/" + hex(asc_ascq & 0xff);
}

std::string expect_good(const Reply& r) {
    return r.header.status == 0 && !(r.header.flags & wire::kRspFlagRspValid)
               ? ""
               : "got " + describe(r) + ", expected GOOD";
}

std::string expect_log(Context& ctx, const Opened& o, const std::vector<std::string>& fragments, std::string* seen) {
    if (!ctx.log) return "";
    auto line = ctx.log->line(o.name, fragments);
    if (!line) {
        std::string all;
        for (const auto& f : fragments) all += " \"" + f + "\"";
        return "no target log line of [" + o.name + "] with" + all;
    }
    if (seen) *seen += "; log: " + line->substr(line->find('['));
    return "";
}

std::string expect_rejection_log(Context& ctx, const wire::PortId& port_id, std::uint32_t reason, std::string* seen) {
    if (!ctx.log) return "";
    auto line = ctx.log->rejection(port_id, reason);
    if (!line)
        return "no target log line rejecting initiator " + wire::format_port_id(port_id) + " with 0x" + hex(reason, 8);
    if (seen) *seen += "; log: " + line->substr(line->find("login from"));
    return "";
}

std::string still_serving(RawChannel& ch) {
    const auto tag = ch.next_tag();
    if (!ch.send(make_cmd({.tag = tag, .cdb = test_unit_ready()}))) return "cannot send TEST UNIT READY";
    auto r = await_reply(ch, tag);
    if (!r) return "TEST UNIT READY afterwards: " + r.error();
    if (auto e = expect_good(*r); !e.empty()) return "TEST UNIT READY afterwards: " + e;
    return "";
}

std::string verify_pattern(Context& ctx) {
    auto o = open_channel(ctx, {}, {.data_bytes = ctx.pattern.size()});
    if (!o) return "verify channel: " + o.error();
    auto& ch = *o->channel;
    std::fill(ch.data().begin(), ch.data().end(), 0);
    const auto tag = ch.next_tag();
    const auto cdb = read16(ctx.verify_lba, ctx.verify_blocks);
    ch.send(make_cmd({.tag = tag,
                      .cdb = cdb,
                      .buf_fmt = 0x01,
                      .descriptors = direct(ch.descriptor(0, static_cast<std::uint32_t>(ctx.pattern.size())))}));
    auto r = await_reply(ch, tag);
    if (!r) return "READ of the verify region: " + r.error();
    if (auto e = expect_good(*r); !e.empty()) return "READ of the verify region: " + e;
    if (!std::equal(ctx.pattern.begin(), ctx.pattern.end(), ch.data().begin())) {
        std::size_t at = 0;
        while (at < ctx.pattern.size() && ctx.pattern[at] == ch.data()[at]) ++at;
        return "the verify region changed (first difference at byte " + std::to_string(at) + ")";
    }
    return "";
}

}  // namespace srp::hostile
