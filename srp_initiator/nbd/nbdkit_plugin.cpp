// nbdkit-srp-plugin: one SCSI logical unit of an SRP target as an NBD export.
//   nbdkit --threads N srp address=IP id_ext=HEX [ioc_guid=HEX] [port=5555]
//          [lun=0] [channels=N] [initiator_ext=HEX] [timeout_ms=30000]
//          [connect_timeout_ms=5000] [reconnect_timeout_ms=20000]
// Parallel thread model; each nbdkit thread drives its own RDMA channel
// (channels= should match nbdkit's --threads). Errors reach the NBD client
// as errno values (see srp::nbd::to_errno).
#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include <cerrno>
#include <memory>
#include <string>

#include "srp_initiator/nbd/disk.h"

#define THREAD_MODEL NBDKIT_THREAD_MODEL_PARALLEL

namespace {

struct Config {
    std::string address;
    std::uint16_t port = 5555;
    std::optional<std::uint64_t> id_ext, ioc_guid;
    srp::nbd::DiskOptions disk;
    std::chrono::milliseconds connect_timeout{5000};
};
Config g_config;
std::unique_ptr<srp::nbd::Disk> g_disk;  // built in after_fork: RDMA resources must not cross nbdkit's fork

std::optional<std::uint64_t> parse_number(const char* text, int base) {
    try {
        std::size_t used = 0;
        std::string s = text;
        if (base == 16 && s.rfind("0x", 0) == 0) s = s.substr(2);
        const auto v = std::stoull(s, &used, base);
        if (used != s.size() || s.empty()) return std::nullopt;
        return v;
    } catch (const std::exception&) {
        return std::nullopt;
    }
}

int srp_config(const char* key, const char* value) {
    const std::string k = key;
    if (k == "address") {
        g_config.address = value;
        return 0;
    }
    const bool hex = k == "id_ext" || k == "ioc_guid" || k == "initiator_ext";
    auto v = parse_number(value, hex ? 16 : 10);
    if (!v) {
        nbdkit_error("srp: %s=%s is not a %s number", key, value, hex ? "hexadecimal" : "decimal");
        return -1;
    }
    if (k == "id_ext") g_config.id_ext = *v;
    else if (k == "ioc_guid") g_config.ioc_guid = *v;
    else if (k == "initiator_ext") g_config.disk.session.initiator_ext = *v;
    else if (k == "port" && *v > 0 && *v < 65536) g_config.port = static_cast<std::uint16_t>(*v);
    else if (k == "lun" && *v < 16384) g_config.disk.lun = static_cast<std::uint16_t>(*v);
    else if (k == "channels" && *v >= 1 && *v <= 64) g_config.disk.session.channels = static_cast<std::uint32_t>(*v);
    else if (k == "timeout_ms" && *v >= 1) g_config.disk.session.command_timeout = std::chrono::milliseconds(*v);
    else if (k == "connect_timeout_ms" && *v >= 1) g_config.connect_timeout = std::chrono::milliseconds(*v);
    else if (k == "reconnect_timeout_ms") g_config.disk.reconnect_timeout = std::chrono::milliseconds(*v);
    else {
        nbdkit_error("srp: unknown or out-of-range parameter %s=%s", key, value);
        return -1;
    }
    return 0;
}

int srp_config_complete() {
    if (g_config.address.empty() || !g_config.id_ext) {
        nbdkit_error("srp: address= and id_ext= are required");
        return -1;
    }
    g_config.disk.session.id_ext = *g_config.id_ext;
    g_config.disk.session.ioc_guid = g_config.ioc_guid.value_or(*g_config.id_ext);
    // nbdkit_debug is shown only with -v (with every request): a lost target
    // is worth a line in the ordinary log, even when it comes back.
    g_config.disk.log = [](const std::string& line) { nbdkit_error("%s", line.c_str()); };
    return 0;
}

int srp_after_fork() {
    auto disk = srp::nbd::Disk::open(
        srp::initiator::verbs_connector(g_config.address, g_config.port, g_config.connect_timeout), g_config.disk);
    if (!disk) {
        nbdkit_error("srp: %s:%u: %s", g_config.address.c_str(), g_config.port, disk.error().c_str());
        return -1;
    }
    g_disk = std::move(*disk);
    return 0;
}

void srp_cleanup() { g_disk.reset(); }

void* srp_open(int) { return g_disk.get(); }  // every NBD connection shares the one session
void srp_close(void*) {}
int64_t srp_get_size(void*) { return static_cast<int64_t>(g_disk->geometry().size_bytes); }
int srp_can_write(void*) { return 1; }
int srp_can_flush(void*) { return 1; }
int srp_can_trim(void*) { return g_disk->geometry().thin ? 1 : 0; }
int srp_can_zero(void*) { return 1; }
int srp_can_fua(void*) { return NBDKIT_FUA_NATIVE; }
int srp_can_multi_conn(void*) { return g_disk->can_multi_conn() ? 1 : 0; }
int srp_is_rotational(void*) { return 0; }
int srp_block_size(void*, uint32_t* minimum, uint32_t* preferred, uint32_t* maximum) {
    *minimum = g_disk->geometry().block_bytes;
    *preferred = std::max<uint32_t>(4096, *minimum);
    *maximum = 32u << 20;
    return 0;
}

int result(int error) {
    if (error == 0) return 0;
    nbdkit_set_error(error);
    return -1;
}
int srp_pread(void*, void* buf, uint32_t count, uint64_t offset, uint32_t) {
    return result(g_disk->pread({static_cast<std::uint8_t*>(buf), count}, offset));
}
int srp_pwrite(void*, const void* buf, uint32_t count, uint64_t offset, uint32_t flags) {
    return result(g_disk->pwrite({static_cast<const std::uint8_t*>(buf), count}, offset, flags & NBDKIT_FLAG_FUA));
}
int srp_flush(void*, uint32_t) { return result(g_disk->flush()); }
int srp_trim(void*, uint32_t count, uint64_t offset, uint32_t flags) {
    if (int e = g_disk->trim(count, offset); e != 0) return result(e);
    return (flags & NBDKIT_FLAG_FUA) ? result(g_disk->flush()) : 0;
}
int srp_zero(void*, uint32_t count, uint64_t offset, uint32_t flags) {
    return result(g_disk->zero(count, offset, flags & NBDKIT_FLAG_MAY_TRIM, flags & NBDKIT_FLAG_FUA));
}

nbdkit_plugin plugin = [] {
    nbdkit_plugin p{};
    p.name = "srp";
    p.longname = "SCSI RDMA Protocol initiator";
    p.version = "1.0";
    p.description = "serves one logical unit of an SRP target (RDMA/CM)";
    p.config = srp_config;
    p.config_complete = srp_config_complete;
    p.config_help =
        "address=<IP>          target address (required)\n"
        "id_ext=<HEX>          target id_ext (required)\n"
        "ioc_guid=<HEX>        target ioc_guid (default: id_ext)\n"
        "port=<N>              RDMA/CM port (default 5555)\n"
        "lun=<N>               logical unit (default 0)\n"
        "channels=<N>          RDMA channels, one per nbdkit thread (default 1)\n"
        "initiator_ext=<HEX>   first half of the initiator port id\n"
        "timeout_ms=<N>        per-command timeout before ABORT TASK (default 30000)\n"
        "connect_timeout_ms=<N> one login's time limit (default 5000)\n"
        "reconnect_timeout_ms=<N> how long a lost target is logged in to again before EIO (default 20000)";
    p.after_fork = srp_after_fork;
    p.cleanup = srp_cleanup;
    p.open = srp_open;
    p.close = srp_close;
    p.get_size = srp_get_size;
    p.can_write = srp_can_write;
    p.can_flush = srp_can_flush;
    p.can_trim = srp_can_trim;
    p.can_zero = srp_can_zero;
    p.can_fua = srp_can_fua;
    p.can_multi_conn = srp_can_multi_conn;
    p.is_rotational = srp_is_rotational;
    p.block_size = srp_block_size;
    p.pread = srp_pread;
    p.pwrite = srp_pwrite;
    p.flush = srp_flush;
    p.trim = srp_trim;
    p.zero = srp_zero;
    p.errno_is_preserved = 0;
    return p;
}();

}  // namespace

NBDKIT_REGISTER_PLUGIN(plugin)
