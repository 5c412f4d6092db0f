#!/bin/bash
# Side-by-side benchmark (DESIGN.md section 6): in ONE guest boot, on the same
# soft-RoCE link and the same backing file, the same fio jobs run through the
# kernel ib_srp initiator against our srp_target and against the kernel LIO
# ib_srpt (and SCST's ib_srpt when SCST_SRC names an SCST source tree: its
# modules are built for the guest kernel by scripts/bench/scst-modules.sh);
# our srp_initiator's bench runs against each too. Prints IOPS and the ratios
# ours/LIO (and ours/SCST), and writes a results folder (scripts/bench/results.py):
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
SCST_MODDIR=
if [ $GUEST = scripts/bench/guest-bench.sh ] && [ -n "${SCST_SRC:-}" ]; then
	SCST_MODDIR=$(scripts/bench/scst-modules.sh "$SCST_SRC")
fi
status=0
scripts/vm/run-in-vm.sh --rwdir "$ROOT/build" $GUEST "$ROOT" "$ROOT/build" "${1:-5}" ${SCST_MODDIR:+"$SCST_MODDIR"} || status=$?
if [ -d "$ROOT/build/bench-raw" ]; then
	"${PYTHON:-/usr/bin/python3}" scripts/bench/results.py vm "$ROOT/build/bench-raw" "$ROOT/build/bench-results" \
		--mode "$VMX_ACCEL" --seconds "${1:-5}" || status=$?
fi
if [ $GUEST = scripts/bench/guest-bench.sh ] && [ -z "$SCST_MODDIR" ]; then
	echo "bench: SCST did not run; to add it: git clone https://github.com/SCST-project/scst, then SCST_SRC=<that clone> $0"
fi
exit $status
