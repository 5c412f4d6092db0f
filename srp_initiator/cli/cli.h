// srp_initiator command-line tool: options, exit codes, subcommands. Each
// subcommand runs on a logged-in Session and writes to the given streams, so
// tests drive them over the loopback fabric exactly as the CLI does over RDMA.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>

#include "srp_initiator/session.h"

namespace srp::initiator::cli {

// Exit codes scripts can rely on.
enum ExitCode : int {
    kExitOk = 0,
    kExitUsage = 2,          // bad arguments
    kExitUnreachable = 3,    // no connection to the address
    kExitRejected = 4,       // SRP_LOGIN_REJ
    kExitScsiError = 5,      // CHECK CONDITION or another non-GOOD status
    kExitMiscompare = 6,     // verify found different data
    kExitTransport = 7,      // timeout, lost connection
    kExitLocalIo = 8,        // a local file could not be read or written
};

struct Options {
    std::string command;
    std::string address;
    std::uint16_t port = 5555;
    SessionOptions session;
    std::uint16_t lun = 0;
    bool json = false;
    // read / write / verify
    std::uint64_t offset = 0;
    std::optional<std::uint64_t> length;
    std::string file = "-";
    std::uint32_t transfer_bytes = 1u << 20;
    std::uint32_t seed = 1;
    // inquiry
    std::optional<int> vpd_page;  // -1: every supported page
    // bench
    std::string mode = "randread";
    std::uint32_t block_size = 4096;
    std::uint32_t queue_depth = 32;  // per thread
    std::uint32_t threads = 1;       // bench: one channel each, driven through a ChannelHandle
    double runtime_s = 10;
    std::uint64_t ops = 0;  // 0: by runtime
    int read_percent = 50;  // randrw
    bool progress = true;
    std::chrono::milliseconds connect_timeout{5000};
};

// Parses argv; on error prints to err and returns nullopt (exit kExitUsage).
std::optional<Options> parse_options(int argc, const char* const argv[], std::ostream& out, std::ostream& err,
                                     bool& help_printed);

int report_login_failure(const LoginFailure& failure, std::ostream& err);
int run_command(Session& session, const Options& options, std::ostream& out, std::ostream& err);

int run_login(Session& session, const Options& options, std::ostream& out);
int run_tur(Session& session, const Options& options, std::ostream& out, std::ostream& err);
int run_inquiry(Session& session, const Options& options, std::ostream& out, std::ostream& err);
int run_readcap(Session& session, const Options& options, std::ostream& out, std::ostream& err);
int run_luns(Session& session, const Options& options, std::ostream& out, std::ostream& err);
int run_sync(Session& session, const Options& options, std::ostream& out, std::ostream& err);
int run_read(Session& session, const Options& options, std::ostream& out, std::ostream& err);
int run_write(Session& session, const Options& options, std::ostream& out, std::ostream& err);
int run_verify(Session& session, const Options& options, std::ostream& out, std::ostream& err);
int run_bench(Session& session, const Options& options, std::ostream& out, std::ostream& err);

// TEXT as a JSON string literal, quotes included (RFC 8259 section 7:
// quote, backslash and control characters escaped).
std::string json_string(std::string_view text);

// Capacity from READ CAPACITY (16): block size and count.
struct Capacity {
    std::uint64_t blocks = 0;
    std::uint32_t block_size = 0;
};
std::optional<Capacity> read_capacity(Session& session, std::uint16_t lun, std::ostream& err, int& exit_code);
// Maps a command result to an exit code, printing the decoded failure.
int check_result(const CommandResult& result, const std::string& what, std::ostream& err);

}  // namespace srp::initiator::cli
