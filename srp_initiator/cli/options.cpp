#include <boost/program_options.hpp>

#include <algorithm>
#include <ostream>

#include "srp_initiator/cli/cli.h"
#include "common/wire/port_id.h"

namespace po = boost::program_options;

namespace srp::initiator::cli {
namespace {

const char* kUsage =
    "usage: srp_initiator <command> --address IP --id-ext HEX [options]\n"
    "commands: login inquiry readcap luns tur sync read write verify bench\n";

std::optional<std::uint64_t> parse_hex(const std::string& text) {
    std::string s = text;
    std::erase(s, ':');
    if (s.rfind("0x", 0) == 0) s = s.substr(2);
    if (s.empty() || s.size() > 16 || s.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos)
        return std::nullopt;
    return std::stoull(s, nullptr, 16);
}

std::optional<std::uint64_t> parse_bytes(const std::string& text) {
    try {
        std::size_t used = 0;
        std::uint64_t v = std::stoull(text, &used);
        const std::string unit = text.substr(used);
        if (unit.empty()) return v;
        if (unit == "k" || unit == "K") return v << 10;
        if (unit == "M") return v << 20;
        if (unit == "G") return v << 30;
    } catch (const std::exception&) {
    }
    return std::nullopt;
}

}  // namespace

std::optional<Options> parse_options(int argc, const char* const argv[], std::ostream& out, std::ostream& err,
                                     bool& help_printed) {
    help_printed = false;
    Options o;
    std::string id_ext, ioc_guid, initiator, initiator_ext, descriptors = "auto", offset, length, bs = "4k", transfer = "1M", vpd;
    std::uint32_t timeout_ms = 30000, connect_timeout_ms = 5000;
    bool no_immediate = false, no_progress = false;
    po::options_description d("options");
    d.add_options()
        ("help,h", "show this help")
        ("command", po::value(&o.command), "login|inquiry|readcap|luns|tur|sync|read|write|verify|bench")
        ("address,a", po::value(&o.address), "target IP address")
        ("port,p", po::value(&o.port), "target RDMA/CM port (default 5555)")
        ("id-ext", po::value(&id_ext), "target id_ext, 16 hex digits")
        ("ioc-guid", po::value(&ioc_guid), "target ioc_guid (default: id_ext)")
        ("initiator-id", po::value(&initiator),
         "initiator port id, 32 hex digits (default: initiator_ext || the local port GID's interface id)")
        ("initiator-ext", po::value(&initiator_ext),
         "first half of the default initiator port id, 16 hex digits (default 0), as ib_srp's initiator_ext")
        ("queue-depth", po::value(&o.session.queue_depth),
         "commands in flight per channel at most; sizes the queue pair (default 256, up to 4096)")
        ("lun,l", po::value(&o.lun), "LUN (default 0)")
        ("channels,c", po::value(&o.session.channels), "RDMA channels (default 1)")
        ("memory-windows", po::bool_switch(&o.session.memory_windows),
         "a memory window per command over its buffer, where the device has them and keeps them working "
         "(not soft-RoCE; default: the pool's rkey)")
        ("timeout-ms", po::value(&timeout_ms), "per-command timeout, then ABORT TASK (default 30000)")
        ("connect-timeout-ms", po::value(&connect_timeout_ms), "address resolution and login timeout (default 5000)")
        ("no-immediate", po::bool_switch(&no_immediate), "do not ask for SRP-2 immediate data")
        ("descriptors", po::value(&descriptors), "auto|direct|indirect|external (default auto)")
        ("json", po::bool_switch(&o.json), "machine-readable output (login, readcap, bench)")
        ("offset", po::value(&offset), "read/write/verify: start byte (block aligned)")
        ("length", po::value(&length), "read/write/verify: bytes (default: to the end, or the input size)")
        ("file,f", po::value(&o.file), "read/write: local file, - for stdout/stdin (default -)")
        ("transfer", po::value(&transfer), "read/write/verify: bytes per command (default 1M)")
        ("seed", po::value(&o.seed), "verify: pattern seed")
        ("vpd", po::value(&vpd), "inquiry: VPD page (hex, e.g. 0x83) or 'all'")
        ("mode", po::value(&o.mode), "bench: read|write|randread|randwrite|randrw (default randread)")
        ("bs", po::value(&bs), "bench: block size (default 4k)")
        ("qd", po::value(&o.queue_depth), "bench: commands in flight per thread (default 32)")
        ("threads", po::value(&o.threads),
         "bench: threads, each driving its own channel without locks (default 1; raises --channels to match)")
        ("runtime", po::value(&o.runtime_s), "bench: seconds (default 10)")
        ("ops", po::value(&o.ops), "bench: stop after this many commands instead")
        ("read-percent", po::value(&o.read_percent), "bench randrw: reads in percent (default 50)")
        ("no-progress", po::bool_switch(&no_progress), "bench: no live progress line");
    po::positional_options_description positional;
    positional.add("command", 1);
    po::variables_map vm;
    try {
        po::store(po::command_line_parser(argc, argv).options(d).positional(positional).run(), vm);
        po::notify(vm);
    } catch (const po::error& e) {
        err << "srp_initiator: " << e.what() << "\n" << kUsage;
        return std::nullopt;
    }
    if (vm.count("help") || o.command.empty()) {
        out << kUsage << d;
        help_printed = true;
        return std::nullopt;
    }
    static const char* commands[] = {"login", "inquiry", "readcap", "luns", "tur", "sync", "read", "write", "verify", "bench"};
    if (std::find(std::begin(commands), std::end(commands), o.command) == std::end(commands)) {
        err << "srp_initiator: unknown command '" << o.command << "'\n" << kUsage;
        return std::nullopt;
    }
    auto fail = [&](const std::string& message) -> std::optional<Options> {
        err << "srp_initiator: " << message << "\n";
        return std::nullopt;
    };
    if (o.address.empty()) return fail("--address is required");
    auto ext = parse_hex(id_ext);
    if (!ext) return fail("--id-ext: '" + id_ext + "' is not 16 hex digits");
    o.session.id_ext = *ext;
    auto ioc = ioc_guid.empty() ? ext : parse_hex(ioc_guid);
    if (!ioc) return fail("--ioc-guid: '" + ioc_guid + "' is not 16 hex digits");
    o.session.ioc_guid = *ioc;
    if (o.threads == 0 || o.threads > 256) return fail("--threads: " + std::to_string(o.threads) + " is not in 1..256");
    if (o.threads > 1) o.session.channels = std::max(o.session.channels, o.threads);
    if (!initiator_ext.empty()) {
        auto v = parse_hex(initiator_ext);
        if (!v) return fail("--initiator-ext: '" + initiator_ext + "' is not 16 hex digits");
        if (!initiator.empty()) return fail("--initiator-ext and --initiator-id exclude each other");
        o.session.initiator_ext = *v;
    }
    if (o.session.queue_depth < 2 || o.session.queue_depth > 4096)
        return fail("--queue-depth: " + std::to_string(o.session.queue_depth) + " is not in 2..4096");
    if (!initiator.empty()) {
        auto id = wire::parse_port_id(initiator);
        if (!id) return fail("--initiator-id: '" + initiator + "' is not 32 hex digits");
        o.session.initiator_port_id = *id;
    }
    o.session.immediate_data = !no_immediate;
    o.session.command_timeout = std::chrono::milliseconds(timeout_ms);
    o.connect_timeout = std::chrono::milliseconds(connect_timeout_ms);
    if (descriptors == "auto") o.session.descriptors = DescriptorMode::automatic;
    else if (descriptors == "direct") o.session.descriptors = DescriptorMode::direct;
    else if (descriptors == "indirect") o.session.descriptors = DescriptorMode::indirect;
    else if (descriptors == "external") o.session.descriptors = DescriptorMode::external;
    else return fail("--descriptors: '" + descriptors + "' is not auto|direct|indirect|external");
    if (!offset.empty()) {
        auto v = parse_bytes(offset);
        if (!v) return fail("--offset: '" + offset + "' is not a byte count");
        o.offset = *v;
    }
    if (!length.empty()) {
        auto v = parse_bytes(length);
        if (!v) return fail("--length: '" + length + "' is not a byte count");
        o.length = *v;
    }
    auto t = parse_bytes(transfer);
    if (!t || *t == 0 || *t > (8u << 20)) return fail("--transfer: 1 byte to 8M");
    o.transfer_bytes = static_cast<std::uint32_t>(*t);
    auto b = parse_bytes(bs);
    if (!b || *b == 0 || *b > (8u << 20)) return fail("--bs: 1 byte to 8M");
    o.block_size = static_cast<std::uint32_t>(*b);
    if (!vpd.empty()) {
        if (vpd == "all") o.vpd_page = -1;
        else if (auto p = parse_hex(vpd); p && *p <= 0xff) o.vpd_page = static_cast<int>(*p);
        else return fail("--vpd: '" + vpd + "' is not a page number or 'all'");
    }
    static const char* modes[] = {"read", "write", "randread", "randwrite", "randrw"};
    if (std::find(std::begin(modes), std::end(modes), o.mode) == std::end(modes))
        return fail("--mode: '" + o.mode + "' is not read|write|randread|randwrite|randrw");
    if (o.queue_depth == 0 || o.queue_depth > 1024) return fail("--qd: 1..1024");
    if (o.read_percent < 0 || o.read_percent > 100) return fail("--read-percent: 0..100");
    if (o.session.channels == 0 || o.session.channels > 64) return fail("--channels: 1..64");
    o.progress = !no_progress;
    return o;
}

}  // namespace srp::initiator::cli
