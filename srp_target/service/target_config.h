// srp_target configuration: command line and config file share option names
// (Boost.Program_options). Every bad value raises ConfigError naming the option.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "srp_target/backstore/backstore.h"
#include "srp_target/srp/login.h"

namespace srp::target {

class ConfigError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

inline constexpr const char* kDefaultStateDir = "/var/lib/srp_target";

struct LunConfig {
    std::uint16_t number = 0;
    std::string path;              // empty: anonymous memory
    std::uint64_t size_bytes = 0;  // 0: existing size
    std::uint32_t block_size = 512;
    bool read_only = false;
    BackstoreAccess access = BackstoreAccess::automatic;  // io=
    std::string serial;
};

struct ListenAddress {
    std::string host = "0.0.0.0";
    std::uint16_t port = 5555;
};

struct TargetConfig {
    std::vector<ListenAddress> listen;
    std::vector<LunConfig> luns;
    std::optional<std::uint64_t> id_ext;    // default: the RDMA device's node GUID
    std::optional<std::uint64_t> ioc_guid;  // default: the RDMA device's node GUID
    Acl acl;
    std::uint32_t queue_depth = 128;
    std::uint32_t max_iu_size = 8276;
    std::uint32_t max_channels_per_nexus = 64;
    // Every channel pins ~11 MiB (receive ring, tables, 8 MiB bounce) and a
    // QP: logins beyond these are refused before anything is allocated.
    std::uint32_t max_channels = 128;
    std::uint32_t max_channels_per_address = 64;
    std::uint32_t pollers = 0;  // 0: one per usable CPU
    // Nice of the poller threads; nullopt: auto_poller_nice(usable CPUs).
    std::optional<int> poller_nice;
    bool immediate_data = true;
    std::uint64_t register_backstore_max_bytes = 512ull << 20;
    std::uint32_t bounce_chunks = 64;
    std::string state_dir = kDefaultStateDir;  // persistent logical unit identities
    std::string log_level = "info";
    std::uint32_t stats_interval_s = 60;
    // Created once the target is ready, touched every pass of the main loop
    // (about once a second), removed at shutdown: a container health check
    // tests its age. Empty: none.
    std::string ready_file;
    bool help = false;
    std::string help_text;
};

// The pollers' nice when none is configured (nullopt: they keep the nice
// they inherit). On a single usable CPU the poller shares it with whatever
// feeds it (a local initiator, the softirq threads of a software RDMA
// device): at a lower priority than theirs it is preempted when they wake
// and runs after them, so it finds more commands per wake-up and answers
// them with one doorbell. Measured in the one-vCPU icount guest (kernel
// ib_srp + fio on rxe, 4k randwrite QD32, nice 5 against 0): +8.6% IOPS on a
// 100 us null_blk, +2.9% on a memory LUN; reads and QD1 unchanged. The
// cost: beside a CPU-bound nice-0 process on that CPU the poller gets a
// quarter of it instead of half. Never raises the priority: a target
// started at nice 10 keeps 10. Nice ranks threads within one scheduling
// group only (an autogroup, a cgroup with the cpu controller).
inline constexpr int kSharedCpuPollerNice = 5;
std::optional<int> auto_poller_nice(unsigned usable_cpus, int inherited_nice) noexcept;

// Parses argv (and --config FILE). With no LUN, one default LUN is served.
TargetConfig parse_target_config(int argc, const char* const argv[]);

// "1G", "512M", "4096", "64k" -> bytes.
std::uint64_t parse_size(const std::string& text, const std::string& option);
// "path=/x.img,size=1G,block-size=4096,read-only,serial=S,lun=3"
LunConfig parse_lun(const std::string& text, std::uint16_t default_number);
ListenAddress parse_listen(const std::string& text);

inline constexpr const char* kDefaultBackstorePath = "/var/tmp/srp_target/lun0.img";
inline constexpr std::uint64_t kDefaultBackstoreBytes = 1ull << 30;

}  // namespace srp::target
