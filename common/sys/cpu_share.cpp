#include "common/sys/cpu_share.h"

#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <thread>

namespace srp::sys {

unsigned usable_cpus() noexcept {
    cpu_set_t set;
    CPU_ZERO(&set);
    // The process's mask (its main thread's), not the calling thread's: a
    // poller pinned later must not change what every caller sees.
    if (::sched_getaffinity(::getpid(), sizeof set, &set) == 0) return std::max(1, CPU_COUNT(&set));
    return std::max(1u, std::thread::hardware_concurrency());
}

}  // namespace srp::sys
