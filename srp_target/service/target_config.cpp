#include "srp_target/service/target_config.h"

#include "common/sys/cpu_share.h"
#include "srp_target/srp/channel.h"

#include <boost/program_options.hpp>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <sstream>

namespace po = boost::program_options;

namespace srp::target {
namespace {

std::uint64_t parse_hex64(const std::string& text, const std::string& option) {
    std::string s = text;
    std::erase(s, ':');
    if (s.rfind("0x", 0) == 0) s = s.substr(2);
    if (s.empty() || s.size() > 16 || s.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos)
        throw ConfigError("--" + option + ": '" + text + "' is not a 64-bit hex value");
    return std::stoull(s, nullptr, 16);
}

}  // namespace

std::uint64_t parse_size(const std::string& text, const std::string& option) {
    std::size_t used = 0;
    std::uint64_t value = 0;
    try {
        value = std::stoull(text, &used);
    } catch (const std::exception&) {
        throw ConfigError("--" + option + ": '" + text + "' is not a size");
    }
    const std::string unit = text.substr(used);
    std::uint64_t multiplier = 1;
    if (unit == "k" || unit == "K" || unit == "KiB") multiplier = 1ull << 10;
    else if (unit == "M" || unit == "MiB") multiplier = 1ull << 20;
    else if (unit == "G" || unit == "GiB") multiplier = 1ull << 30;
    else if (unit == "T" || unit == "TiB") multiplier = 1ull << 40;
    else if (!unit.empty()) throw ConfigError("--" + option + ": unknown size unit '" + unit + "' in '" + text + "'");
    return value * multiplier;
}

LunConfig parse_lun(const std::string& text, std::uint16_t default_number) {
    LunConfig lun;
    lun.number = default_number;
    std::stringstream items(text);
    std::string item;
    bool have_path = false;
    while (std::getline(items, item, ',')) {
        const auto eq = item.find('=');
        const std::string key = item.substr(0, eq);
        const std::string value = eq == std::string::npos ? "" : item.substr(eq + 1);
        if (key == "path") {
            lun.path = value == "anonymous" ? "" : value;
            have_path = true;
        } else if (key == "size") {
            lun.size_bytes = parse_size(value, "lun size");
        } else if (key == "block-size") {
            lun.block_size = static_cast<std::uint32_t>(parse_size(value, "lun block-size"));
            if (lun.block_size != 512 && lun.block_size != 4096)
                throw ConfigError("--lun block-size: " + value + " is not 512 or 4096");
        } else if (key == "read-only" || key == "ro") {
            lun.read_only = true;
        } else if (key == "io") {
            // How a file or block device is reached; tmpfs/hugetlbfs files are always mapped.
            if (value == "direct") lun.access = BackstoreAccess::direct;
            else if (value == "buffered") lun.access = BackstoreAccess::buffered;
            else if (value == "mapped") lun.access = BackstoreAccess::mapped;
            else if (value == "auto") lun.access = BackstoreAccess::automatic;
            else throw ConfigError("--lun io: '" + value + "' is not direct, buffered, mapped or auto");
        } else if (key == "serial") {
            if (value.empty() || value.size() > 32) throw ConfigError("--lun serial: 1 to 32 characters");
            lun.serial = value;
        } else if (key == "lun") {
            const auto n = parse_size(value, "lun lun");
            if (n > 16383) throw ConfigError("--lun lun: " + value + " is above 16383");
            lun.number = static_cast<std::uint16_t>(n);
        } else {
            throw ConfigError("--lun: unknown key '" + key + "' in '" + text +
                              "' (path, size, block-size, read-only, io, serial, lun)");
        }
    }
    if (!have_path) throw ConfigError("--lun: '" + text + "' has no path= (use path=anonymous for memory)");
    if (lun.path.empty() && lun.size_bytes == 0) throw ConfigError("--lun: anonymous memory needs size=");
    return lun;
}

ListenAddress parse_listen(const std::string& text) {
    ListenAddress a;
    const auto colon = text.rfind(':');
    if (colon == std::string::npos) throw ConfigError("--listen: '" + text + "' is not ADDRESS:PORT");
    a.host = text.substr(0, colon);
    if (a.host.size() >= 2 && a.host.front() == '[' && a.host.back() == ']') a.host = a.host.substr(1, a.host.size() - 2);
    const auto port = parse_size(text.substr(colon + 1), "listen port");
    if (port == 0 || port > 65535) throw ConfigError("--listen: port in '" + text + "' is not 1..65535");
    a.port = static_cast<std::uint16_t>(port);
    return a;
}

std::optional<int> auto_poller_nice(unsigned usable_cpus, int inherited_nice) noexcept {
    if (usable_cpus != 1) return std::nullopt;
    return std::max(inherited_nice, kSharedCpuPollerNice);
}

TargetConfig parse_target_config(int argc, const char* const argv[]) {
    TargetConfig config;
    std::vector<std::string> listen, luns, acl_initiators, acl_addresses;
    std::string id_ext, ioc_guid, config_file, immediate = "on", register_max = "512M", poller_nice = "auto";
    po::options_description options("srp_target options");
    options.add_options()
        ("help,h", "show this help")
        ("config", po::value(&config_file), "config file with the same option names (key = value)")
        ("listen", po::value(&listen)->composing(), "ADDRESS:PORT to accept RDMA/CM logins on (repeatable; default 0.0.0.0:5555)")
        ("lun", po::value(&luns)->composing(),
         "path=FILE|BLOCKDEV|anonymous[,size=1G][,block-size=512|4096][,read-only][,io=direct|buffered|mapped][,serial=S][,lun=N] (repeatable; io: how a file or block device is reached, default O_DIRECT falling back to buffered; tmpfs/hugetlbfs files and anonymous memory are always mapped)")
        ("id-ext", po::value(&id_ext), "target id_ext, 16 hex digits (default: the device's node GUID)")
        ("ioc-guid", po::value(&ioc_guid), "target ioc_guid, 16 hex digits (default: the device's node GUID)")
        ("acl-initiator", po::value(&acl_initiators)->composing(), "allowed initiator port id, 32 hex digits (repeatable)")
        ("acl-address", po::value(&acl_addresses)->composing(), "allowed initiator source IP address (repeatable)")
        ("queue-depth", po::value(&config.queue_depth), "receive ring depth = credits per channel (default 128)")
        ("max-iu-size", po::value(&config.max_iu_size), "largest initiator-to-target IU accepted (default 8276)")
        ("max-channels-per-nexus", po::value(&config.max_channels_per_nexus), "channels one I_T nexus may open (default 64)")
        ("max-channels", po::value(&config.max_channels), "channels the target serves at once (default 128)")
        ("max-channels-per-address", po::value(&config.max_channels_per_address),
         "channels one initiator source address may open (default 64)")
        ("pollers", po::value(&config.pollers), "poller threads (default: one per CPU the process may use)")
        ("poller-nice", po::value(&poller_nice),
         "nice of the poller threads, -20..19, or auto: at least 5 when the process may use one CPU only (it then "
         "answers commands in larger batches), else the nice the target was started with (default auto)")
        ("immediate-data", po::value(&immediate), "grant SRP-2 immediate data: on|off (default on)")
        ("register-backstore-max", po::value(&register_max),
         "register backstores up to this size for zero-copy RDMA, bigger ones use bounce buffers (default 512M; 0: never)")
        ("bounce-chunks", po::value(&config.bounce_chunks), "128 KiB bounce chunks per channel (default 64)")
        ("state-dir", po::value(&config.state_dir),
         "directory for persistent state: one identity (UUID) file per LUN (default /var/lib/srp_target)")
        ("log-level", po::value(&config.log_level), "trace|debug|info|warn|error (default info)")
        ("stats-interval", po::value(&config.stats_interval_s), "seconds between statistics lines, 0: off (default 60)")
        ("ready-file", po::value(&config.ready_file),
         "file created when the target is ready, touched about every second while it serves, removed at exit (health checks)");
    po::variables_map vm;
    try {
        po::store(po::parse_command_line(argc, argv, options), vm);
        if (vm.count("config")) {
            std::ifstream in(vm["config"].as<std::string>());
            if (!in) throw ConfigError("--config: cannot read " + vm["config"].as<std::string>());
            po::store(po::parse_config_file(in, options), vm);
        }
        po::notify(vm);
    } catch (const po::error& e) {
        throw ConfigError(e.what());
    }
    if (vm.count("help")) {
        std::ostringstream text;
        text << options;
        config.help = true;
        config.help_text = text.str();
        return config;
    }
    for (const auto& l : listen) config.listen.push_back(parse_listen(l));
    if (config.listen.empty()) config.listen.push_back(ListenAddress{});
    std::uint16_t next_lun = 0;
    for (const auto& l : luns) {
        config.luns.push_back(parse_lun(l, next_lun));
        next_lun = static_cast<std::uint16_t>(config.luns.back().number + 1);
    }
    if (config.luns.empty()) {
        LunConfig lun;
        lun.path = kDefaultBackstorePath;
        lun.size_bytes = 0;  // existing file keeps its size; a new one gets the default
        config.luns.push_back(lun);
    }
    if (!id_ext.empty()) config.id_ext = parse_hex64(id_ext, "id-ext");
    if (!ioc_guid.empty()) config.ioc_guid = parse_hex64(ioc_guid, "ioc-guid");
    for (const auto& text : acl_initiators) {
        auto id = parse_port_id(text);
        if (!id) throw ConfigError("--acl-initiator: '" + text + "' is not 32 hex digits");
        config.acl.initiator_port_ids.push_back(*id);
    }
    config.acl.source_addresses = acl_addresses;
    if (immediate != "on" && immediate != "off") throw ConfigError("--immediate-data: '" + immediate + "' is not on|off");
    config.immediate_data = immediate == "on";
    config.register_backstore_max_bytes = parse_size(register_max, "register-backstore-max");
    if (config.queue_depth < 2 || config.queue_depth > 4096) throw ConfigError("--queue-depth: 2..4096");
    if (config.max_iu_size < 64 || config.max_iu_size > 1u << 20) throw ConfigError("--max-iu-size: 64..1048576");
    // A command of the largest transfer the Block Limits VPD page advertises
    // must fit in a channel's bounce memory, or it would wait forever.
    if (config.bounce_chunks < kMinBounceChunks)
        throw ConfigError("--bounce-chunks: at least " + std::to_string(kMinBounceChunks) + " (" +
                          std::to_string(kMinBounceChunks) + " x 128 KiB holds the largest transfer, " +
                          std::to_string(kMaxTransferBytes >> 20) + " MiB)");
    if (config.max_channels == 0) throw ConfigError("--max-channels: at least 1");
    if (config.max_channels_per_address == 0) throw ConfigError("--max-channels-per-address: at least 1");
    if (config.pollers == 0) config.pollers = sys::usable_cpus();
    if (poller_nice != "auto") {
        int nice = 0;
        const auto [end, error] = std::from_chars(poller_nice.data(), poller_nice.data() + poller_nice.size(), nice);
        if (error != std::errc{} || end != poller_nice.data() + poller_nice.size() || nice < -20 || nice > 19)
            throw ConfigError("--poller-nice: '" + poller_nice + "' is not auto or -20..19");
        config.poller_nice = nice;
    }
    if (config.pollers > 256) throw ConfigError("--pollers: at most 256");
    if (config.state_dir.empty()) throw ConfigError("--state-dir: empty path");
    static const char* levels[] = {"trace", "debug", "info", "warn", "error"};
    if (std::find(std::begin(levels), std::end(levels), config.log_level) == std::end(levels))
        throw ConfigError("--log-level: '" + config.log_level + "' is not trace|debug|info|warn|error");
    return config;
}

}  // namespace srp::target
