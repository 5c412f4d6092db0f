// Reads the target's log (its stdout, as the VM test saves it) to check
// that a hostile channel left a line naming the peer: the login line
// ("[n3.c5 10.0.2.15] login accepted on rxe0: initiator <port id>, ...")
// gives the channel's name, and every later line of that channel starts
// with it. Rejected logins name the initiator port id and source address.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/wire/iu_layouts.h"

namespace srp::hostile {

class TargetLog {
  public:
    explicit TargetLog(std::string path) : path_(std::move(path)) {}
    const std::string& path() const noexcept { return path_; }
    // Names of the channels that logged in with this initiator port id
    // (inside the brackets: "n3.c5 10.0.2.15"), oldest first; waits up to
    // `timeout` for at least `at_least` of them.
    std::vector<std::string> channels(const wire::PortId& initiator, std::size_t at_least = 1,
                                      std::chrono::milliseconds timeout = std::chrono::seconds(5)) const;
    // The first line of the channel containing every fragment, waiting up to timeout.
    std::optional<std::string> line(std::string_view channel, const std::vector<std::string>& fragments,
                                    std::chrono::milliseconds timeout = std::chrono::seconds(5)) const;
    // The first line containing every fragment.
    std::optional<std::string> find(const std::vector<std::string>& fragments,
                                    std::chrono::milliseconds timeout = std::chrono::seconds(5)) const;
    // The line that rejected this initiator's login with this reason.
    std::optional<std::string> rejection(const wire::PortId& initiator, std::uint32_t reason,
                                         std::chrono::milliseconds timeout = std::chrono::seconds(5)) const;

  private:
    std::vector<std::string> lines() const;
    std::string path_;
};

}  // namespace srp::hostile
