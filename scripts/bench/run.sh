#!/bin/bash
# Side-by-side benchmark (DESIGN.md section 6): in ONE guest boot, on the same
# soft-RoCE link and the same backing file, the same fio jobs run through the
# kernel ib_srp initiator against our srp_target and against the kernel LIO
# ib_srpt (and SCST's ib_srpt when SCST_SRC names an SCST source tree: its
# modules are built for the guest kernel by scripts/bench/scst-modules.sh),
# alternating: every job against ours, LIO, SCST, then again, BENCH_ROUNDS
# times (default 2); our srp_initiator's bench runs against each too, and
# perftest measures the raw RDMA ceiling. Prints IOPS (mean of the rounds and
# their spread), CPU time and memory per target, the ratios ours/LIO (and
# ours/SCST), and writes a results folder (scripts/bench/results.py):
# build/bench-results/<date>-<commit>/ with raw/ (fio JSON and /proc samples
# of every round), summary.json, table.md and chart.png. Default mode is QEMU icount (deterministic: guest time
# counts instructions, so results are instruction cost per I/O of the whole
# in-guest stack); BENCH_ACCEL=tcg for plain TCG.
# usage: scripts/bench/run.sh [seconds per job, default 5]
#        scripts/bench/run.sh nullblk [seconds per job]: the slow-device set
#        (guest-bench.sh: null_blk at 1 ms and 100 us, a file on ext4; ours
#        on io_uring against LIO iblock/fileio and SCST vdisk_blockio/fileio)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
scripts/build-targets.sh srp_target srp_initiator
GUEST=scripts/bench/guest-bench.sh SET=memory
if [ "${1:-}" = nullblk ]; then SET=slow; shift; fi
SECS=${1:-5} ROUNDS=${BENCH_ROUNDS:-2}
export VMX_ACCEL=${BENCH_ACCEL:-icount} VMX_TIMEOUT=${VMX_TIMEOUT:-2400}
# the slow set keeps a 1 GiB memory-backed null_blk (the ext4 file) and the
# kernel targets' page cache of that file
[ $SET = slow ] && export VMX_MEM=${VMX_MEM:-4G}
# The guest copies its raw JSON into build/bench-raw (shared read-write);
# results.py makes build/bench-results/<date>-<commit>/ from it.
rm -rf "$ROOT/build/bench-raw"
SCST_MODDIR=
if [ -n "${SCST_SRC:-}" ]; then
	SCST_MODDIR=$(scripts/bench/scst-modules.sh "$SCST_SRC")
fi
status=0 start=$SECONDS
# Wall-time model, measured under icount on a shared 2-core host (an idle
# guest's virtual time runs ahead, so guest seconds take less): boot,
# perftest and setup BASE s; each fio job or bench PER_JOB tenths of a
# second plus PER_S tenths per second of runtime. memory: the jobs in
# MEMORY_JOBS + our bench; slow: SLOW_JOBS x 3 backings.
BASE=40 PER_JOB=10 PER_S=7
if [ $SET = memory ]; then
	jobs=$(( $(sed -n '/^MEMORY_JOBS=(/,/^)/p' $GUEST | grep -c '^	"') + 1 ))
else
	jobs=$(( $(sed -n '/^SLOW_JOBS=(/,/^)/p' $GUEST | grep -c '^	"') * 3 ))
fi
targets=2; [ -z "$SCST_MODDIR" ] || targets=3
est=$(( BASE + ROUNDS * targets * jobs * (PER_JOB + PER_S * SECS) / 10 ))
echo "bench: set $SET, $ROUNDS rounds x $targets targets x $jobs jobs, ${SECS}s each: expect about $((est / 60)) min $((est % 60)) s ($VMX_ACCEL)"
scripts/vm/run-in-vm.sh --rwdir "$ROOT/build" $GUEST "$ROOT" "$ROOT/build" "$SECS" "$ROUNDS" $SET \
	${SCST_MODDIR:+"$SCST_MODDIR"} || status=$?
echo "bench: the VM ran $(( (SECONDS - start) / 60 )) min $(( (SECONDS - start) % 60 )) s"
if [ -d "$ROOT/build/bench-raw" ]; then
	"${PYTHON:-/usr/bin/python3}" scripts/bench/results.py vm "$ROOT/build/bench-raw" "$ROOT/build/bench-results" \
		--mode "$VMX_ACCEL" --seconds "$SECS" || status=$?
fi
if [ -z "$SCST_MODDIR" ]; then
	echo "bench: SCST did not run; to add it: git clone https://github.com/SCST-project/scst, then SCST_SRC=<that clone> $0 $([ $SET = slow ] && echo nullblk)"
fi
exit $status
