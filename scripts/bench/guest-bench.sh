#!/bin/bash
# Guest side of scripts/bench/run.sh.
# usage: guest-bench.sh <repo root> <build dir> <seconds per job> <rounds> [SCST module dir]
# Every target in one boot, alternating: the whole job list against ours,
# then LIO, then SCST (with its module dir, scripts/bench/scst-modules.sh),
# and that cycle <rounds> times (run.sh: BENCH_ROUNDS, default 2), so drift over the boot shows
# as spread between rounds instead of as a difference between targets.
# Raw files (read by scripts/bench/results.py) go to <build dir>/bench-raw:
#   r<round>-<target>-<job>.json  fio JSON (srp_initiator for our bench)
#   r<round>-<target>-<job>.cpu   /proc snapshots before and after that job
#   perftest-*.txt                the raw RDMA ceiling
set -u
source "$1/scripts/vm/guest-lib.sh"
BUILD=$2 SECONDS_PER_JOB=$3 ROUNDS=$4 SCST_MODDIR=${5:-}
FILE=/tmp/shm/bench.img SIZE_MB=256 OUT=/tmp/bench RAW=$2/bench-raw
mkdir -p $OUT /tmp/shm "$RAW"
# A real tmpfs: our target serves it as the memory kind (mapped, zero copy);
# the guest's /tmp is an overlay, which would make it an io_uring LUN.
mount -t tmpfs -o size=$((SIZE_MB + 16))m tmpfs /tmp/shm || exit 1
rxe_up > /dev/null || exit 1
GUID=$(tr -d : < "/sys/class/infiniband/$RDMA_DEV/node_guid")
dd if=/dev/urandom of=$FILE bs=1M count=$SIZE_MB status=none

# name:ch_count:fio arguments. Jobs with the same ch_count run in one login.
JOBS=(
	"4k-randread-qd1:1:--rw=randread --bs=4k --iodepth=1"
	"4k-randread-qd32:1:--rw=randread --bs=4k --iodepth=32"
	"4k-randwrite-qd32:1:--rw=randwrite --bs=4k --iodepth=32"
	"4k-randrw70-qd32:1:--rw=randrw --rwmixread=70 --bs=4k --iodepth=32"
	"128k-read-qd8:1:--rw=read --bs=128k --iodepth=8"
	"128k-write-qd8:1:--rw=write --bs=128k --iodepth=8"
	"1m-read-qd4:1:--rw=read --bs=1M --iodepth=4"
	"4k-randread-qd32-ch2:2:--rw=randread --bs=4k --iodepth=32"
	"4k-randwrite-qd32-ch2:2:--rw=randwrite --bs=4k --iodepth=32"
)
TARGETS="ours lio${SCST_MODDIR:+ scst}"
echo "bench: $(nproc) vCPU, kernel $(uname -r), $RDMA_DEV, ${SECONDS_PER_JOB}s per job, $ROUNDS rounds of: $TARGETS;" \
	"backing file ${SIZE_MB} MiB on tmpfs"

# snap.sh before|after DEV PID|- FILE appends to FILE what results.py needs
# for CPU time, I/O count and memory: /proc/stat's cpu line (whole-system
# busy time), the device's sector counts (I/Os = sectors / block size),
# srp_target's utime+stime (PID, ours only), Slab/Unevictable (kernel targets
# keep their memory there), every kernel thread's tid and utime+stime
# (results.py picks each kernel target's threads by name; a kworker's name
# changes with the workqueue it last ran, hence the tid), and at the end
# srp_target's VmRSS/RssAnon. fio runs it as exec_prerun and exec_postrun:
# the samples span its I/O (ramp included), not its start (exec from the 9p
# host root, slow and uneven) or exit. Nothing may run beside fio: sampling
# in the middle of a job cost 15-18% of the IOPS and up to 20% spread between
# rounds (<1% without). The counters come last in "before" and first in
# "after", so the scan of the threads stays outside; the static busybox
# that vmx-init left on tmpfs runs it without the 9p root.
BB=/run/vmx-bin/busybox
[ -x $BB ] || { cp "$(command -v busybox)" /tmp/shm/busybox && BB=/tmp/shm/busybox; } || exit 1
SNAP=/tmp/shm/snap.sh
cat > $SNAP <<'SH'
# shellcheck disable=SC2016  # busybox awk programs, single-quoted
BB=/run/vmx-bin/busybox when=$1 dev=${2#/dev/} pid=$3
[ -x $BB ] || BB=/tmp/shm/busybox
slow() {
	echo "mem $($BB awk '/^(Slab|Unevictable):/ {printf "%s ", $2}' /proc/meminfo)"
	# kernel threads: children of kthreadd (pid 2); comm may hold spaces;
	# cat, not awk, opens the files: threads come and go
	$BB cat /proc/[0-9]*/task/*/stat 2>/dev/null |
		$BB awk '{c = $0; sub(/^[0-9]+ \(/, "", c); sub(/\) [A-Z] .*/, "", c); gsub(/ /, "_", c)
			s = $0; sub(/.*\) /, "", s); split(s, f, " ")
			if (f[2] == 2) print "kthread", $1, c, f[12] + f[13]}'
}
{
	echo "$when"
	[ "$when" = before ] && slow
	$BB head -1 /proc/stat
	echo "disk $($BB awk '{print $3, $7}' "/sys/block/$dev/stat")"
	[ "$pid" != - ] && echo "proc $($BB awk '{sub(/.*\) /, ""); print $12, $13}' "/proc/$pid/stat")"
	[ "$when" = after ] && slow && [ "$pid" != - ] && $BB grep -E '^(VmRSS|RssAnon):' "/proc/$pid/status"
} >> "$4"
exit 0  # fio skips the job when its exec_prerun fails
SH

run_jobs() {  # round, target name, device, ch_count, pid (ours) or -
	local job name ch args base snap
	for job in "${JOBS[@]}"; do
		name=${job%%:*} args=${job#*:} ch=${args%%:*} args=${args#*:}
		[ "$ch" = "$4" ] || continue
		base=$OUT/r$1-$2-$name snap="$BB sh $SNAP"
		rm -f "$base.cpu"
		# (fio leaves the commands' empty output in <name>.{pre,post}run.txt, in $OUT)
		# shellcheck disable=SC2086
		(cd $OUT && fio --name="$name" --filename="$3" $args --ioengine=libaio --direct=1 --runtime="$SECONDS_PER_JOB" \
			--time_based --ramp_time=1 --exec_prerun="$snap before $3 $5 $base.cpu" \
			--exec_postrun="$snap after $3 $5 $base.cpu" --output-format=json > "$base.json" 2>/dev/null)
	done
}

# run_target ROUND TARGET ID_EXT PORT PID|-: every job (one login per
# ch_count), then our srp_initiator's bench.
run_target() {
	local ch dev
	for ch in 1 2; do
		dev=$(srp_login "$3" "$3" "$RDMA_IP" "$4" ch_count=$ch 2>/dev/null) || return 1
		run_jobs "$1" "$2" "$dev" $ch "$5"
		srp_logout > /dev/null
	done
	"$BUILD/srp_initiator/srp_initiator" bench -a "$RDMA_IP" --id-ext "$3" --mode randread --qd 32 \
		--runtime "$SECONDS_PER_JOB" --no-progress --json > "$OUT/r$1-$2-srp_initiator.json" 2>/dev/null
	cp "$OUT"/r"$1"-"$2"-* "$RAW/"  # as we go: a run cut short keeps its finished rounds
}

vm_step "raw RDMA ceiling (perftest, RDMA/CM)"
# Client and server share the one vCPU, and the server busy-polls while it
# waits: at nice 0 it took half the CPU (6.5 instead of 11 MiB/s for 128 KiB
# reads, p99 read latency 4 ms instead of 0.18). nice 19 leaves it a sliver.
perf() {  # tool, output name, arguments: server in the background, client here
	timeout 120 nice -n 19 "$1" -R -d "$RDMA_DEV" "${@:3}" > /dev/null 2>&1 &
	local server=$!
	for _ in $(seq 10); do  # until the server listens (RDMA/CM rejects before)
		sleep 1
		timeout 120 "$1" -R -d "$RDMA_DEV" "${@:3}" "$RDMA_IP" > "$RAW/perftest-$2.txt" 2>&1 && break
		kill -0 $server 2>/dev/null || break
	done
	wait
	grep -A1 '#bytes' "$RAW/perftest-$2.txt" | tail -1 | sed "s/^/$2: /"
}
# a fixed count, not -D: under icount -D reports 0 iterations
perf ib_read_bw read_bw -s 131072 -n 500
perf ib_write_bw write_bw -s 131072 -n 500
perf ib_read_lat read_lat -s 8 -n 500

srp_initiator_load > /dev/null || exit 1
for round in $(seq "$ROUNDS"); do
	for t in $TARGETS; do
		vm_step "round $round/$ROUNDS: $t"
		# the baseline for the kernel memory a target adds (Slab, Unevictable)
		echo "mem $(awk '/^(Slab|Unevictable):/ {printf "%s ", $2}' /proc/meminfo)" > "$RAW/r$round-$t-base.mem"
		case $t in
		ours)
			"$BUILD/srp_target/srp_target" --lun path=$FILE --state-dir /tmp/srp_target-state --listen "$RDMA_IP:5555" \
				--pollers 1 --stats-interval 0 --register-backstore-max 1G > /tmp/target.log 2>&1 &
			PID=$!
			srp_target_wait_ready /tmp/target.log $PID || exit 1
			run_target "$round" ours "$GUID" 5555 $PID || { cat /tmp/target.log; exit 1; }
			kill -TERM $PID; wait $PID ;;
		lio)
			lio_srpt_start $FILE $SIZE_MB "${RDMA_GID0#fe80:0000:0000:0000:}" "$RDMA_IP" > /dev/null || exit 1
			run_target "$round" lio "$LIO_IOC_GUID" "$LIO_PORT" - || exit 1
			lio_srpt_stop > /dev/null ;;
		scst)
			scst_srpt_start "$SCST_MODDIR" $FILE > /dev/null || exit 1
			run_target "$round" scst "$SCST_IOC_GUID" "$SCST_PORT" - || exit 1
			scst_srpt_stop > /dev/null ;;
		esac
	done
done
vm_step "done (tables: results.py on the host)"
