#include "tests/hostile/target_log.h"

#include <cstdio>
#include <fstream>
#include <thread>

#include "common/wire/port_id.h"

namespace srp::hostile {

namespace {
using Clock = std::chrono::steady_clock;

// Polls `find` on fresh reads of the log until it yields or the time is up.
template <class Find>
auto poll_log(std::chrono::milliseconds timeout, Find find) {
    const auto until = Clock::now() + timeout;
    for (;;) {
        auto found = find();
        if (found || Clock::now() >= until) return found;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
}
}  // namespace

std::vector<std::string> TargetLog::lines() const {
    std::vector<std::string> out;
    std::ifstream in(path_);
    for (std::string line; std::getline(in, line);) out.push_back(std::move(line));
    return out;
}

std::vector<std::string> TargetLog::channels(const wire::PortId& initiator, std::size_t at_least,
                                             std::chrono::milliseconds timeout) const {
    const std::string who = "login accepted on ";
    const std::string id = "initiator " + wire::format_port_id(initiator) + ",";
    std::vector<std::string> names;
    poll_log(timeout, [&]() -> bool {
        names.clear();
        for (const auto& l : lines()) {
            if (l.find(who) == std::string::npos || l.find(id) == std::string::npos) continue;
            const auto open = l.find('[');
            const auto close = l.find(']', open);
            if (open != std::string::npos && close != std::string::npos)
                names.push_back(l.substr(open + 1, close - open - 1));
        }
        return names.size() >= at_least;
    });
    return names;
}

std::optional<std::string> TargetLog::find(const std::vector<std::string>& fragments,
                                           std::chrono::milliseconds timeout) const {
    return poll_log(timeout, [&]() -> std::optional<std::string> {
        for (auto& l : lines()) {
            bool all = true;
            for (const auto& f : fragments) all = all && l.find(f) != std::string::npos;
            if (all) return l;
        }
        return std::nullopt;
    });
}

std::optional<std::string> TargetLog::line(std::string_view channel, const std::vector<std::string>& fragments,
                                           std::chrono::milliseconds timeout) const {
    std::vector<std::string> all{"[" + std::string(channel) + "] "};
    all.insert(all.end(), fragments.begin(), fragments.end());
    return find(all, timeout);
}

std::optional<std::string> TargetLog::rejection(const wire::PortId& initiator, std::uint32_t reason,
                                                std::chrono::milliseconds timeout) const {
    char code[32];
    std::snprintf(code, sizeof code, "rejected with reason 0x%08x", reason);
    return find({"(initiator " + wire::format_port_id(initiator) + ")", code}, timeout);
}

}  // namespace srp::hostile
