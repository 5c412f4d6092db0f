// srp_initiator subcommands other than bench.
#include <cstdio>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <random>
#include <sstream>

#include "common/scsi/cdb.h"
#include "common/scsi/sense.h"
#include "common/wire/big_endian.h"
#include "common/wire/port_id.h"
#include "srp_initiator/cli/cli.h"
#include "srp_initiator/cli/decode.h"

namespace srp::initiator::cli {

using wire::load_be;

int check_result(const CommandResult& result, const std::string& what, std::ostream& err) {
    if (result.good()) return kExitOk;
    err << "srp_initiator: " << what << ": " << result.describe() << "\n";
    return result.transport_error || result.timed_out ? kExitTransport : kExitScsiError;
}

int report_login_failure(const LoginFailure& failure, std::ostream& err) {
    switch (failure.kind) {
        case LoginFailure::Kind::rejected:
            err << "srp_initiator: login rejected";
            if (failure.reject_reason)
                err << " with reason 0x" << std::hex << std::setw(8) << std::setfill('0') << *failure.reject_reason
                    << std::dec << ": " << wire::login_reject_reason_name(*failure.reject_reason);
            err << "\n";
            return kExitRejected;
        case LoginFailure::Kind::unreachable:
        case LoginFailure::Kind::timeout:
            err << "srp_initiator: cannot reach the target: " << failure.message << "\n";
            return kExitUnreachable;
        default:
            err << "srp_initiator: login failed: " << failure.message << "\n";
            return kExitTransport;
    }
}

namespace {

// A command with a data-in buffer from the session's pool.
struct DataIn {
    Session& session;
    std::span<std::uint8_t> buffer;
    DataIn(Session& s, std::size_t bytes) : session(s), buffer(*s.allocate(bytes)) {}
    ~DataIn() { session.release(buffer); }
};

CommandResult run_in(Session& s, std::uint16_t lun, std::span<const std::uint8_t> cdb, DataIn& in) {
    return s.execute(lun, cdb, Direction::from_target, in.buffer);
}

}  // namespace

std::optional<Capacity> read_capacity(Session& session, std::uint16_t lun, std::ostream& err, int& exit_code) {
    DataIn in(session, 32);
    const std::uint8_t cdb[16] = {scsi::op::kServiceActionIn16, scsi::op::kReadCapacity16ServiceAction, 0, 0, 0, 0, 0, 0,
                                  0, 0, 0, 0, 0, 32, 0, 0};
    auto r = run_in(session, lun, cdb, in);
    if ((exit_code = check_result(r, "READ CAPACITY (16)", err)) != kExitOk) return std::nullopt;
    return Capacity{load_be<std::uint64_t>(in.buffer, 0) + 1, load_be<std::uint32_t>(in.buffer, 8)};
}

std::string json_string(std::string_view text) {
    std::string quoted = "\"";
    for (const char c : text) {
        switch (c) {
        case '"': quoted += "\\\""; break;
        case '\\': quoted += "\\\\"; break;
        case '\n': quoted += "\\n"; break;
        case '\t': quoted += "\\t"; break;
        case '\r': quoted += "\\r"; break;
        default:
            if (static_cast<unsigned char>(c) < 0x20) {
                char escaped[8];
                std::snprintf(escaped, sizeof escaped, "\\u%04x", static_cast<unsigned>(c));
                quoted += escaped;
            } else {
                quoted += c;
            }
        }
    }
    return quoted + '"';
}

int run_login(Session& session, const Options& options, std::ostream& out) {
    for (std::size_t i = 0; i < session.channel_count(); ++i) {
        const auto& info = session.login_info(i);
        if (options.json) {
            out << "{\"channel\":" << i << ",\"path\":" << json_string(info.description) << ",\"credits\":" << info.credits
                << ",\"max_it_iu_len\":" << info.max_it_iu_len << ",\"max_ti_iu_len\":" << info.max_ti_iu_len
                << ",\"buffer_formats\":" << info.buf_fmt << ",\"rsp_flags\":" << int(info.rsp_flags)
                << ",\"immediate_data\":" << (info.immediate_data ? "true" : "false")
                << ",\"memory_windows\":" << (info.memory_windows ? "true" : "false");
            if (!info.memory_windows_note.empty()) out << ",\"memory_windows_note\":" << json_string(info.memory_windows_note);
            out << "}\n";
            continue;
        }
        out << "channel " << i << ": " << info.description << "\n"
            << "  initiator port id  " << wire::format_port_id(session.initiator_port_id()) << "\n"
            << "  credits            " << info.credits << "\n"
            << "  max_it_iu_len      " << info.max_it_iu_len << "\n"
            << "  max_ti_iu_len      " << info.max_ti_iu_len << "\n"
            << "  buffer formats     " << ((info.buf_fmt & wire::kBufFmtDirect) ? "direct " : "")
            << ((info.buf_fmt & wire::kBufFmtIndirect) ? "indirect" : "") << "\n"
            << "  multichannel       "
            << ((info.rsp_flags & 0x03) == wire::kRspFlagChannelsTerminated ? "existing channels terminated"
                : (info.rsp_flags & 0x03) == wire::kRspFlagChannelsMaintained ? "existing channels maintained"
                                                                               : "no existing channels")
            << "\n"
            << "  immediate data     " << (info.immediate_data ? "granted" : "not granted") << "\n"
            << "  data buffer access " << (info.memory_windows ? "a memory window per command" : "the pool's rkey");
        if (!info.memory_windows_note.empty()) out << " (memory windows not used: " << info.memory_windows_note << ")";
        out << "\n";
    }
    return kExitOk;
}

int run_tur(Session& session, const Options& options, std::ostream& out, std::ostream& err) {
    const std::uint8_t cdb[6] = {};
    auto r = session.execute(options.lun, cdb, Direction::none, {});
    if (int rc = check_result(r, "TEST UNIT READY", err); rc != kExitOk) return rc;
    out << "LUN " << options.lun << " is ready\n";
    return kExitOk;
}

int run_inquiry(Session& session, const Options& options, std::ostream& out, std::ostream& err) {
    DataIn in(session, 255);
    std::vector<int> pages;
    if (!options.vpd_page) {
        const std::uint8_t cdb[6] = {scsi::op::kInquiry, 0, 0, 0, 255, 0};
        auto r = run_in(session, options.lun, cdb, in);
        if (int rc = check_result(r, "INQUIRY", err); rc != kExitOk) return rc;
        out << decode_standard_inquiry(in.buffer.first(255 - r.data_in_residual));
        return kExitOk;
    }
    if (*options.vpd_page < 0) {
        const std::uint8_t cdb[6] = {scsi::op::kInquiry, 1, 0, 0, 255, 0};
        auto r = run_in(session, options.lun, cdb, in);
        if (int rc = check_result(r, "INQUIRY VPD 0x00", err); rc != kExitOk) return rc;
        const std::size_t n = load_be<std::uint16_t>(in.buffer, 2);
        for (std::size_t i = 0; i < n && 4 + i < in.buffer.size(); ++i) pages.push_back(in.buffer[4 + i]);
    } else {
        pages.push_back(*options.vpd_page);
    }
    for (int page : pages) {
        const std::uint8_t cdb[6] = {scsi::op::kInquiry, 1, static_cast<std::uint8_t>(page), 0, 255, 0};
        auto r = run_in(session, options.lun, cdb, in);
        std::ostringstream what;
        what << "INQUIRY VPD 0x" << std::hex << page;
        if (int rc = check_result(r, what.str(), err); rc != kExitOk) return rc;
        out << decode_vpd(in.buffer.first(255 - r.data_in_residual));
    }
    return kExitOk;
}

int run_readcap(Session& session, const Options& options, std::ostream& out, std::ostream& err) {
    DataIn in(session, 32);
    const std::uint8_t cdb[16] = {scsi::op::kServiceActionIn16, scsi::op::kReadCapacity16ServiceAction, 0, 0, 0, 0, 0, 0,
                                  0, 0, 0, 0, 0, 32, 0, 0};
    auto r = run_in(session, options.lun, cdb, in);
    if (int rc = check_result(r, "READ CAPACITY (16)", err); rc != kExitOk) return rc;
    const std::uint64_t blocks = load_be<std::uint64_t>(in.buffer, 0) + 1;
    const std::uint32_t block_size = load_be<std::uint32_t>(in.buffer, 8);
    const bool lbpme = in.buffer[14] & 0x80, lbprz = in.buffer[14] & 0x40;
    if (options.json) {
        out << "{\"blocks\":" << blocks << ",\"block_size\":" << block_size << ",\"bytes\":" << blocks * block_size
            << ",\"thin_provisioned\":" << (lbpme ? "true" : "false") << "}\n";
    } else {
        out << "blocks " << blocks << ", block size " << block_size << " bytes, capacity " << blocks * block_size
            << " bytes (" << std::fixed << std::setprecision(2) << double(blocks * block_size) / (1 << 30) << " GiB)\n"
            << "logical blocks per physical block: " << (1u << (in.buffer[13] & 0x0f)) << "\n"
            << "thin provisioning: lbpme=" << lbpme << " lbprz=" << lbprz << "\n";
    }
    return kExitOk;
}

int run_luns(Session& session, const Options& options, std::ostream& out, std::ostream& err) {
    DataIn in(session, 8192);
    std::uint8_t cdb[12] = {scsi::op::kReportLuns, 0, 0, 0, 0, 0, 0, 0, 0x20, 0, 0, 0};
    auto r = run_in(session, options.lun, cdb, in);
    if (int rc = check_result(r, "REPORT LUNS", err); rc != kExitOk) return rc;
    const std::size_t n = load_be<std::uint32_t>(in.buffer, 0) / 8;
    out << n << " LUN(s)\n";
    for (std::size_t i = 0; i < n && 8 + 8 * i + 8 <= in.buffer.size(); ++i) {
        scsi::LunBytes bytes;
        std::copy_n(in.buffer.begin() + 8 + 8 * i, 8, bytes.begin());
        auto number = scsi::decode_lun(bytes);
        out << "  " << (number ? std::to_string(*number) : std::string("(unknown format)")) << "\n";
    }
    return kExitOk;
}

int run_sync(Session& session, const Options& options, std::ostream& out, std::ostream& err) {
    std::uint8_t cdb[16] = {scsi::op::kSynchronizeCache16};
    auto r = session.execute(options.lun, cdb, Direction::none, {});
    if (int rc = check_result(r, "SYNCHRONIZE CACHE (16)", err); rc != kExitOk) return rc;
    out << "LUN " << options.lun << " synchronized\n";
    return kExitOk;
}

}  // namespace srp::initiator::cli
