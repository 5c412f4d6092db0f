#!/bin/bash
# Side-by-side benchmark (DESIGN.md section 6): in ONE guest boot, on the same
# soft-RoCE link and the same backing file, the same fio jobs run through the
# kernel ib_srp initiator against our srp_target and against the kernel LIO
# ib_srpt; our srp_initiator's bench runs against both too. Prints IOPS and
# the ratio ours/LIO. Default mode is QEMU icount (deterministic: guest time
# counts instructions, so results are instruction cost per I/O of the whole
# in-guest stack); BENCH_ACCEL=tcg for plain TCG.
# usage: scripts/bench/run.sh [seconds per job, default 5]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc)" --target srp_target srp_initiator
export VMX_ACCEL=${BENCH_ACCEL:-icount} VMX_TIMEOUT=${VMX_TIMEOUT:-1500}
exec scripts/vm/run-in-vm.sh --rwdir "$ROOT/build" scripts/bench/guest-bench.sh "$ROOT" "$ROOT/build" "${1:-5}"
