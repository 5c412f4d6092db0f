#!/bin/bash
# Guest side of scripts/bench/run.sh.
# usage: guest-bench.sh <repo root> <build dir> <seconds per job> <rounds> <set> [SCST module dir]
# Every target in one boot, alternating: the whole job list against ours,
# then LIO, then SCST (with its module dir, scripts/bench/scst-modules.sh),
# and that cycle <rounds> times (run.sh: BENCH_ROUNDS, default 2), so drift over the boot shows
# as spread between rounds instead of as a difference between targets.
# Sets of backings and jobs:
#   memory  a 256 MiB file on tmpfs (our memory kind), every job, our
#           srp_initiator bench and the perftest ceiling
#   slow    the storage engine's slow devices, each backing in turn within a
#           round (ours, LIO, SCST on it, then the next): null_blk in timer
#           mode at 1 ms and at 100 us (ours: io_uring O_DIRECT; LIO iblock;
#           SCST vdisk_blockio), and a 768 MiB file on ext4 on a
#           memory-backed null_blk (ours serves a file on a disk filesystem
#           through io_uring whatever its size, never mapped or registered:
#           io_uring O_DIRECT; LIO fileio; SCST vdisk_fileio, each with its
#           defaults); 4k random read and write at QD32 and QD1
# Raw files (read by scripts/bench/results.py) go to <build dir>/bench-raw:
#   r<round>-<target>-<job>.json  fio JSON (srp_initiator for our bench)
#   r<round>-<target>-<job>.cpu   /proc snapshots before and after that job
#   perftest-*.txt                the raw RDMA ceiling
set -u
source "$1/scripts/vm/guest-lib.sh"
BUILD=$2 SECONDS_PER_JOB=$3 ROUNDS=$4 SET=$5 SCST_MODDIR=${6:-}
OUT=/tmp/bench RAW=$2/bench-raw
mkdir -p $OUT /tmp/shm "$RAW"
# A real tmpfs for the small tools and, in the memory set, the backing: our
# target serves a file there as the memory kind (mapped, zero copy); the
# guest's /tmp is an overlay, which would make it an io_uring LUN.
mount -t tmpfs -o size=272m tmpfs /tmp/shm || exit 1
rxe_up > /dev/null || exit 1
GUID=$(tr -d : < "/sys/class/infiniband/$RDMA_DEV/node_guid")

# name:ch_count:fio arguments. Jobs with the same ch_count run in one login.
MEMORY_JOBS=(
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
SLOW_JOBS=(
	"4k-randread-qd32:1:--rw=randread --bs=4k --iodepth=32"
	"4k-randread-qd1:1:--rw=randread --bs=4k --iodepth=1"
	"4k-randwrite-qd32:1:--rw=randwrite --bs=4k --iodepth=32"
	"4k-randwrite-qd1:1:--rw=randwrite --bs=4k --iodepth=1"
)
# name:path:kind:size in MiB. The job names in the results are <name>-<job>
# (the memory set's backing has no name: its jobs keep their plain names).
case $SET in
memory)
	JOBS=("${MEMORY_JOBS[@]}") BACKINGS=(":/tmp/shm/bench.img:file:256")
	dd if=/dev/urandom of=/tmp/shm/bench.img bs=1M count=256 status=none
	DESCRIBE="backing: a 256 MiB file on tmpfs (ours: the memory kind, mapped and registered; LIO fileio; SCST vdisk_fileio)" ;;
slow)
	JOBS=("${SLOW_JOBS[@]}")
	modprobe null_blk nr_devices=0 || exit 1
	if ! { NULLB_MEMORY_BACKED=0 nullb nullb0 1024 1000000 && NULLB_MEMORY_BACKED=0 nullb nullb1 1024 100000 &&
		NULLB_IRQMODE=0 nullb nullb2 1024 0; } > /dev/null; then
		vm_fail "null_blk"; exit 1
	fi
	if ! { mkfs.ext4 -q -F /dev/nullb2 && mkdir -p /mnt/bench && mount /dev/nullb2 /mnt/bench &&
		dd if=/dev/zero of=/mnt/bench/big.img bs=1M count=768 oflag=direct status=none; }; then
		vm_fail "ext4 file"; exit 1
	fi
	BACKINGS=("nb1ms:/dev/nullb0:block:1024" "nb100us:/dev/nullb1:block:1024" "file:/mnt/bench/big.img:file:768")
	DESCRIBE="backings: nb1ms = null_blk, timer mode, 1 ms completion; nb100us = the same at 100 us (ours: io_uring,"
	DESCRIBE+=" O_DIRECT; LIO iblock; SCST vdisk_blockio); file = a 768 MiB file on ext4 on a memory-backed null_blk"
	DESCRIBE+=" (ours: io_uring, O_DIRECT, as for any file on a disk filesystem whatever its size: nothing mapped or"
	DESCRIBE+=" registered; LIO fileio; SCST vdisk_fileio; each target with its defaults)" ;;
*) vm_fail "unknown set $SET"; exit 1 ;;
esac
echo "$DESCRIBE" > "$RAW/backings.txt"
TARGETS="ours lio${SCST_MODDIR:+ scst}"
echo "bench: $(nproc) vCPU, kernel $(uname -r), $RDMA_DEV, ${SECONDS_PER_JOB}s per job, $ROUNDS rounds of: $TARGETS;" \
	"set $SET; $DESCRIBE"

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

run_jobs() {  # round, target name, device, ch_count, pid (ours) or -, backing name
	local job name ch args base snap
	for job in "${JOBS[@]}"; do
		name=${job%%:*} args=${job#*:} ch=${args%%:*} args=${args#*:}
		[ "$ch" = "$4" ] || continue
		base=$OUT/r$1-$2-${6:+$6-}$name snap="$BB sh $SNAP"
		rm -f "$base.cpu"
		# (fio leaves the commands' empty output in <name>.{pre,post}run.txt, in $OUT)
		# shellcheck disable=SC2086
		(cd $OUT && fio --name="$name" --filename="$3" $args --ioengine=libaio --direct=1 --runtime="$SECONDS_PER_JOB" \
			--time_based --ramp_time=1 --exec_prerun="$snap before $3 $5 $base.cpu" \
			--exec_postrun="$snap after $3 $5 $base.cpu" --output-format=json > "$base.json" 2>/dev/null)
	done
}

# run_target ROUND TARGET ID_EXT PORT PID|- BACKING: every job (one login
# per ch_count used), then, in the memory set, our srp_initiator's bench.
run_target() {
	local ch dev
	for ch in 1 2; do
		printf '%s\n' "${JOBS[@]}" | grep -q "^[^:]*:$ch:" || continue
		dev=$(srp_login "$3" "$3" "$RDMA_IP" "$4" ch_count=$ch 2>/dev/null) || return 1
		run_jobs "$1" "$2" "$dev" $ch "$5" "$6"
		srp_logout > /dev/null
	done
	[ "$SET" = memory ] && "$BUILD/srp_initiator/srp_initiator" bench -a "$RDMA_IP" --id-ext "$3" --mode randread --qd 32 \
		--runtime "$SECONDS_PER_JOB" --no-progress --json > "$OUT/r$1-$2-srp_initiator.json" 2>/dev/null
	cp "$OUT"/r"$1"-"$2"-* "$RAW/"  # as we go: a run cut short keeps its finished rounds
}

if [ "$SET" = memory ]; then
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
fi

srp_initiator_load > /dev/null || exit 1
for round in $(seq "$ROUNDS"); do
	for backing in "${BACKINGS[@]}"; do
		IFS=: read -r bname path kind size_mb <<< "$backing"
		for t in $TARGETS; do
			vm_step "round $round/$ROUNDS: $t${bname:+ on $bname ($path)}"
			# the baseline for the kernel memory a target adds (Slab, Unevictable)
			echo "mem $(awk '/^(Slab|Unevictable):/ {printf "%s ", $2}' /proc/meminfo)" > "$RAW/r$round-$t-${bname:+$bname-}base.mem"
			case $t in
			ours)
				"$BUILD/srp_target/srp_target" --lun path="$path" --state-dir /tmp/srp_target-state \
					--listen "$RDMA_IP:5555" --pollers 1 --stats-interval 0 --register-backstore-max 1G > /tmp/target.log 2>&1 &
				PID=$!
				srp_target_wait_ready /tmp/target.log $PID || exit 1
				[ "$round" = 1 ] && grep "LUN 0:" /tmp/target.log
				if [ "$SET" = slow ] && ! grep -q "LUN 0: .*io_uring (.*O_DIRECT" /tmp/target.log; then
					vm_fail "ours does not serve $path with io_uring and O_DIRECT"; exit 1
				fi
				run_target "$round" ours "$GUID" 5555 $PID "$bname" || { cat /tmp/target.log; exit 1; }
				kill -TERM $PID; wait $PID ;;
			lio)
				LIO_BACKEND=fileio; [ "$kind" = block ] && LIO_BACKEND=iblock
				export LIO_BACKEND
				lio_srpt_start "$path" "$size_mb" "${RDMA_GID0#fe80:0000:0000:0000:}" "$RDMA_IP" > /dev/null || exit 1
				run_target "$round" lio "$LIO_IOC_GUID" "$LIO_PORT" - "$bname" || exit 1
				lio_srpt_stop > /dev/null ;;
			scst)
				SCST_HANDLER=vdisk_fileio; [ "$kind" = block ] && SCST_HANDLER=vdisk_blockio
				export SCST_HANDLER
				scst_srpt_start "$SCST_MODDIR" "$path" > /dev/null || exit 1
				run_target "$round" scst "$SCST_IOC_GUID" "$SCST_PORT" - "$bname" || exit 1
				scst_srpt_stop > /dev/null ;;
			esac
		done
	done
done
vm_step "done (tables: results.py on the host)"
