#!/bin/bash
# Where the guest's CPU goes per I/O, ours against LIO: counts of context
# switches, wake-ups, softirqs, system calls and rxe's packets per I/O, from
# kernel tracepoints and kprobes in one icount guest (guest-events.sh). The
# benchmark (run.sh) gives the ratios; this says what differs between the
# targets' paths through the same kernel.
# usage: scripts/bench/events.sh [nullblk|memory] [randread|randwrite]   (defaults nullblk randread)
#        TRACE_SECONDS=N (default 1) per target
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
scripts/build-targets.sh srp_target
export VMX_ACCEL=${BENCH_ACCEL:-icount} VMX_TIMEOUT=${VMX_TIMEOUT:-900}
exec scripts/vm/run-in-vm.sh scripts/bench/guest-events.sh "$ROOT" "$ROOT/build" "${1:-nullblk}" "${TRACE_SECONDS:-1}" "${2:-randread}"
