#!/bin/bash
# Side-by-side benchmark (DESIGN.md section 6): in ONE guest boot, on the same
# soft-RoCE link and the same backing file, the same fio jobs run through the
# kernel ib_srp initiator against our srp_target and against the kernel LIO
# ib_srpt; our srp_initiator's bench runs against both too. Prints IOPS and
# the ratio ours/LIO, and writes a results folder (scripts/bench/results.py):
# build/bench-results/<date>-<commit>/ with raw/ (fio JSON), summary.json,
# table.md and chart.png. Default mode is QEMU icount (deterministic: guest time
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
# The guest copies its raw JSON into build/bench-raw (shared read-write);
# results.py makes build/bench-results/<date>-<commit>/ from it.
rm -rf "$ROOT/build/bench-raw"
status=0
scripts/vm/run-in-vm.sh --rwdir "$ROOT/build" $GUEST "$ROOT" "$ROOT/build" "${1:-5}" || status=$?
if [ -d "$ROOT/build/bench-raw" ]; then
	"${PYTHON:-/usr/bin/python3}" scripts/bench/results.py vm "$ROOT/build/bench-raw" "$ROOT/build/bench-results" \
		--mode "$VMX_ACCEL" --seconds "${1:-5}" || status=$?
fi
exit $status
