// The hostile initiator's cases and what they share. A case crafts IUs (or
// logins, or one-sided RDMA) on its own channel, checks the outcome SRP
// r16a / SPC-4 / SAM-5 call for, and checks that the target's log names
// the peer. Each case returns its outcome in words, or a failure.
//
// LUN layout the cases rely on (the VM test keeps its fio job in the first
// half): the third quarter of LUN 0 is scratch for commands that write, the
// last eighth holds a pattern written at start and compared at the end
// (nothing a hostile peer does may change it).
#pragma once

#include <array>
#include <cstdint>
#include <expected>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/scsi/sense.h"
#include "common/wire/iu_layouts.h"
#include "common/wire/srp_constants.h"
#include "tests/hostile/raw_channel.h"
#include "tests/hostile/target_log.h"

namespace srp::hostile {

// A memory region of the target as the host's `rdma resource show mr` and
// /proc/<pid>/maps reveal it (root on the target host: more than any
// remote peer can learn; the target itself never sends a key or address).
struct SniffedRegion {
    std::string what;  // "backstore", "receive ring", ...
    std::uint32_t lkey = 0;
    std::uint32_t rkey = 0;     // rxe reports 0 for a region without remote access
    std::uint64_t address = 0;  // 0: unknown
    std::uint64_t length = 0;
};

struct Context {
    Endpoint endpoint;
    std::optional<TargetLog> log;
    std::vector<SniffedRegion> regions;
    std::uint64_t blocks = 0;  // capacity of LUN 0
    std::uint32_t block_size = 512;
    std::uint64_t scratch_lba = 0;    // third quarter: scratch writes
    std::uint64_t verify_lba = 0;     // last eighth: the pattern
    std::uint32_t verify_blocks = 0;  // how much of it is written and compared
    std::vector<std::uint8_t> pattern;
    std::uint64_t run_id = 0;  // distinguishes initiator port ids between runs
    std::uint32_t next_port = 0;

    // A fresh initiator port id ("hostile!" || run || counter): every
    // channel is its own I_T nexus, so SINGLE logins never end another
    // case's channel, let alone ib_srp's.
    wire::PortId new_port_id();
};

struct CaseResult {
    bool ok = true;
    std::string outcome;  // what happened (ok) or what went wrong (failure)
    bool skipped = false;  // could not run here (outcome says why); not a failure
};

struct Case {
    const char* name;
    CaseResult (*run)(Context&);
};

// Cases, by file.
std::span<const Case> iu_cases();          // cases_iu.cpp: IU length and opcode
std::span<const Case> descriptor_cases();  // cases_descriptors.cpp: descriptors, lengths, zero length
std::span<const Case> rdma_cases();        // cases_rdma.cpp: bad rkeys and addresses in descriptors
std::span<const Case> session_cases();     // cases_session.cpp: credits, task management, logout
std::span<const Case> login_cases();       // cases_login.cpp: refused logins, a second SINGLE login
std::span<const Case> memory_cases();      // cases_memory.cpp: RDMA against the target's own memory

// ---- shared helpers (support.cpp) -------------------------------------------

CaseResult pass(std::string outcome);
CaseResult failure(std::string why);
CaseResult skip(std::string why);

struct Opened {
    std::unique_ptr<RawChannel> channel;
    wire::PortId port_id{};
    std::string name;  // the target's name for it ("n3.c5 10.0.2.15"), empty without a log
};
// Logs in with a new port id (login tweaks applied); clears the unit
// attention a new I_T nexus starts with when clear_ua is set.
std::expected<Opened, std::string> open_channel(Context& ctx, RawLogin login = {}, RawOptions options = {},
                                                bool clear_ua = true);

// An SRP_CMD: header fields, CDB, then descriptor bytes; resized to
// total_bytes when given (padding, or truncation on purpose).
struct CmdSpec {
    std::uint64_t tag = 0;
    std::vector<std::uint8_t> cdb{};
    std::uint8_t buf_fmt = 0;
    std::uint8_t out_count = 0;
    std::uint8_t in_count = 0;
    std::vector<std::uint8_t> descriptors{};
    std::optional<std::size_t> total_bytes{};
    std::uint16_t lun = 0;
};
std::vector<std::uint8_t> make_cmd(const CmdSpec& spec);
std::vector<std::uint8_t> direct(const wire::DirectDescriptor& d);
std::vector<std::uint8_t> indirect(const wire::DirectDescriptor& table, std::uint32_t total_length,
                                   std::span<const wire::DirectDescriptor> in_iu);
std::vector<std::uint8_t> make_tmf(std::uint64_t tag, std::uint8_t function, std::uint64_t task_tag,
                                   std::uint16_t lun = 0);
std::vector<std::uint8_t> read16(std::uint64_t lba, std::uint32_t blocks);
std::vector<std::uint8_t> write16(std::uint64_t lba, std::uint32_t blocks);
std::vector<std::uint8_t> test_unit_ready();

// A parsed SRP_RSP.
struct Reply {
    wire::RspHeader header{};
    std::vector<std::uint8_t> response_data, sense;
    std::optional<scsi::DecodedSense> decoded;
    std::uint64_t tag() const;
    std::uint32_t credits() const { return header.req_lim_delta.value(); }
};
std::optional<Reply> parse_reply(const Iu& iu);
// "GOOD", "CHECK CONDITION ILLEGAL REQUEST 0e/03", plus residual flags; TMF: "RSP_CODE 0x00".
std::string describe(const Reply& r);

// The single reply to a command; failure text when none, or not for tag.
std::expected<Reply, std::string> await_reply(RawChannel& ch, std::uint64_t tag,
                                              std::chrono::milliseconds timeout = std::chrono::seconds(10));
// "" when the reply is CHECK CONDITION with this sense key and ASC/ASCQ.
std::string expect_sense(const Reply& r, scsi::SenseKey key, std::uint16_t asc_ascq);
// "" when GOOD.
std::string expect_good(const Reply& r);

// Log checks: "" when satisfied (or when no log is given), else what is missing.
// The line of the channel with every fragment; appends it to `seen`.
std::string expect_log(Context& ctx, const Opened& o, const std::vector<std::string>& fragments,
                       std::string* seen = nullptr);
std::string expect_rejection_log(Context& ctx, const wire::PortId& port_id, std::uint32_t reason,
                                 std::string* seen = nullptr);

// One command on ch that must answer GOOD: proof that the channel still serves.
std::string still_serving(RawChannel& ch);
// A READ of the verify region through a new channel, compared with the pattern.
std::string verify_pattern(Context& ctx);

}  // namespace srp::hostile
