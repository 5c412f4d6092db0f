// hostile_initiator: logs in to an SRP target over RDMA/CM and misbehaves
// in every way tests/hostile/hostile.h lists, checking each time the
// outcome the specifications call for and that the target's log names the
// peer. Prints "ok: <case>: <outcome>" or "FAIL: <case>: <what went wrong>"
// ("skip: <case>: <why>" for the memory cases without --regions);
// exits 1 when a case failed, 2 on bad arguments or when setup fails.
//
// usage: hostile_initiator --address IP --id-ext HEX [--ioc-guid HEX] [--port N]
//            [--target-log FILE] [--regions FILE] [--case PREFIX]... [--list]
//   --target-log  the target's log (stdout) to check for lines naming the peer
//   --regions     the target's memory regions, one per line:
//                 <what> <lkey> <rkey> <address> <length> (hex; address 0 = unknown;
//                 what "backstore" marks LUN 0's mapping); see tests/vm/hostile_initiator.sh
// LUN 0's second half is used: its third quarter as scratch, its last
// eighth for a pattern that must survive (keep other writers in the first half).
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <random>
#include <sstream>

#include "common/scsi/scsi_constants.h"
#include "tests/hostile/hostile.h"

using namespace srp;
using namespace srp::hostile;

namespace {

struct Args {
    Context ctx;
    std::vector<std::string> only;
    bool list = false;
};

std::optional<Args> parse(int argc, char** argv) {
    Args a;
    for (int i = 1; i < argc; ++i) {
        const std::string opt = argv[i];
        if (opt == "--list") {
            a.list = true;
            continue;
        }
        if (i + 1 >= argc) return std::nullopt;
        const std::string value = argv[++i];
        if (opt == "--address")
            a.ctx.endpoint.host = value;
        else if (opt == "--port")
            a.ctx.endpoint.port = static_cast<std::uint16_t>(std::stoul(value));
        else if (opt == "--id-ext")
            a.ctx.endpoint.id_ext = std::stoull(value, nullptr, 16);
        else if (opt == "--ioc-guid")
            a.ctx.endpoint.ioc_guid = std::stoull(value, nullptr, 16);
        else if (opt == "--target-log")
            a.ctx.log.emplace(value);
        else if (opt == "--case")
            a.only.push_back(value);
        else if (opt == "--regions") {
            std::ifstream in(value);
            if (!in) return std::nullopt;
            for (std::string line; std::getline(in, line);) {
                std::istringstream fields(line);
                SniffedRegion r;
                std::string lkey, rkey, address, length;
                if (!(fields >> r.what >> lkey >> rkey >> address >> length)) continue;
                std::replace(r.what.begin(), r.what.end(), '_', ' ');
                r.lkey = static_cast<std::uint32_t>(std::stoul(lkey, nullptr, 16));
                r.rkey = static_cast<std::uint32_t>(std::stoul(rkey, nullptr, 16));
                r.address = std::stoull(address, nullptr, 16);
                r.length = std::stoull(length, nullptr, 16);
                a.ctx.regions.push_back(r);
            }
        } else
            return std::nullopt;
    }
    if (!a.list && (a.ctx.endpoint.host.empty() || a.ctx.endpoint.id_ext == 0)) return std::nullopt;
    if (a.ctx.endpoint.ioc_guid == 0) a.ctx.endpoint.ioc_guid = a.ctx.endpoint.id_ext;
    return a;
}

// READ CAPACITY (16), then the pattern into the last eighth of LUN 0.
std::string setup(Context& ctx) {
    auto o = open_channel(ctx);
    if (!o) return o.error();
    auto& ch = *o->channel;
    std::vector<std::uint8_t> cdb(16, 0);
    cdb[0] = scsi::op::kServiceActionIn16;
    cdb[1] = scsi::op::kReadCapacity16ServiceAction;
    cdb[13] = 32;
    auto tag = ch.next_tag();
    ch.send(make_cmd({.tag = tag, .cdb = cdb, .buf_fmt = 0x01, .descriptors = direct(ch.descriptor(0, 32))}));
    auto r = await_reply(ch, tag);
    if (!r) return "READ CAPACITY (16): " + r.error();
    if (auto e = expect_good(*r); !e.empty()) return "READ CAPACITY (16): " + e;
    std::uint64_t last = 0;
    for (int i = 0; i < 8; ++i) last = last << 8 | ch.data()[i];
    ctx.blocks = last + 1;
    ctx.block_size =
        static_cast<std::uint32_t>(ch.data()[8] << 24 | ch.data()[9] << 16 | ch.data()[10] << 8 | ch.data()[11]);
    if (ctx.blocks < 4096) return "LUN 0 is too small (" + std::to_string(ctx.blocks) + " blocks)";
    ctx.scratch_lba = ctx.blocks / 2;
    ctx.verify_lba = ctx.blocks - ctx.blocks / 8;
    ctx.verify_blocks =
        static_cast<std::uint32_t>(std::min<std::uint64_t>(ctx.blocks / 8, (1u << 20) / ctx.block_size));
    ctx.pattern.resize(std::size_t{ctx.verify_blocks} * ctx.block_size);
    std::mt19937_64 random(ctx.run_id);
    for (auto& b : ctx.pattern) b = static_cast<std::uint8_t>(random());
    std::copy(ctx.pattern.begin(), ctx.pattern.end(), ch.data().begin());
    tag = ch.next_tag();
    ch.send(make_cmd({.tag = tag,
                      .cdb = write16(ctx.verify_lba, ctx.verify_blocks),
                      .buf_fmt = 0x10,
                      .descriptors = direct(ch.descriptor(0, static_cast<std::uint32_t>(ctx.pattern.size())))}));
    r = await_reply(ch, tag);
    if (!r) return "WRITE of the pattern: " + r.error();
    if (auto e = expect_good(*r); !e.empty()) return "WRITE of the pattern: " + e;
    std::printf("setup: LUN 0 has %llu blocks of %u bytes; scratch from LBA %llu, pattern of %u blocks at LBA %llu\n",
                static_cast<unsigned long long>(ctx.blocks), ctx.block_size,
                static_cast<unsigned long long>(ctx.scratch_lba), ctx.verify_blocks,
                static_cast<unsigned long long>(ctx.verify_lba));
    return "";
}

}  // namespace

int main(int argc, char** argv) {
    auto args = parse(argc, argv);
    if (!args) {
        std::fprintf(stderr,
                     "usage: hostile_initiator --address IP --id-ext HEX [--ioc-guid HEX] [--port N] "
                     "[--target-log FILE] [--regions FILE] [--case PREFIX]... [--list]\n");
        return 2;
    }
    std::vector<Case> cases;
    for (auto group : {iu_cases(), descriptor_cases(), rdma_cases(), session_cases(), login_cases(), memory_cases()})
        for (const auto& c : group)
            if (args->only.empty() || std::any_of(args->only.begin(), args->only.end(), [&](const std::string& p) {
                    return std::strncmp(c.name, p.c_str(), p.size()) == 0;
                }))
                cases.push_back(c);
    if (args->list) {
        for (const auto& c : cases) std::printf("%s\n", c.name);
        return 0;
    }
    Context& ctx = args->ctx;
    ctx.run_id = static_cast<std::uint64_t>(std::time(nullptr)) << 16 ^ static_cast<std::uint64_t>(::getpid());
    if (auto e = setup(ctx); !e.empty()) {
        std::printf("FAIL: setup: %s\n", e.c_str());
        return 2;
    }
    int failures = 0, skipped = 0;
    for (const auto& c : cases) {
        const auto started = std::chrono::steady_clock::now();
        CaseResult r;
        try {
            r = c.run(ctx);
        } catch (const std::exception& e) {
            r = failure(std::string("exception: ") + e.what());
        }
        const auto ms =
            std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
        std::printf("%s: %s: %s [%lld ms]\n", r.skipped ? "skip" : r.ok ? "ok" : "FAIL", c.name, r.outcome.c_str(),
                    static_cast<long long>(ms.count()));
        std::fflush(stdout);
        failures += !r.ok;
        skipped += r.skipped;
    }
    std::printf("%zu of %zu hostile cases passed, %d skipped\n",
                cases.size() - static_cast<std::size_t>(failures + skipped), cases.size(), skipped);
    return failures == 0 ? 0 : 1;
}
