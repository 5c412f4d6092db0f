// How many CPUs this process may run on, and what follows from sharing one.
// Thread counts and spin/sleep decisions use the affinity mask, not the
// machine's CPU count: a daemon pinned to one CPU of a large host shares
// that CPU with everything else pinned there (taskset, cgroup cpusets).
#pragma once

namespace srp::sys {

// CPUs in this process's affinity mask (sched_getaffinity of the process,
// that is of its main thread); the machine's count when the mask cannot be
// read; at least 1.
unsigned usable_cpus() noexcept;

}  // namespace srp::sys
