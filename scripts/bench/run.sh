#!/bin/bash
# Side-by-side benchmark (DESIGN.md section 6): in ONE guest boot, on the same
# soft-RoCE link and the same backing file, the same fio jobs run through the
# kernel ib_srp initiator against our srp_target and against the kernel LIO
# ib_srpt; our srp_initiator's bench runs against both too. Prints IOPS and
# the ratio ours/LIO. Default mode is QEMU icount (deterministic: guest time
# counts instructions, so results are instruction cost per I/O of the whole
# in-guest stack); BENCH_ACCEL=tcg for plain TCG.
# usage: scripts/bench/run.sh [seconds per job, default 5]
#        scripts/bench/run.sh nullblk [seconds per job]: our io_uring path vs
#        LIO iblock on null_blk at 1 ms and 100 us (guest-bench-nullblk.sh)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc)" --target srp_target srp_initiator
export VMX_ACCEL=${BENCH_ACCEL:-icount} VMX_TIMEOUT=${VMX_TIMEOUT:-1500}
GUEST=scripts/bench/guest-bench.sh
if [ "${1:-}" = nullblk ]; then GUEST=scripts/bench/guest-bench-nullblk.sh; shift; fi
exec scripts/vm/run-in-vm.sh --rwdir "$ROOT/build" $GUEST "$ROOT" "$ROOT/build" "${1:-5}"
