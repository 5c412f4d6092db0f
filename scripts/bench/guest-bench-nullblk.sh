#!/bin/bash
# Guest side of `scripts/bench/run.sh nullblk`: our target's io_uring path
# against LIO iblock on the same null_blk device, at 1 ms and 100 us device
# latency: 4k randread and randwrite at QD32 and QD1, kernel ib_srp + fio.
# usage: guest-bench-nullblk.sh <repo root> <build dir> <seconds per job>
set -u
source "$1/scripts/vm/guest-lib.sh"
BUILD=$2 SECONDS_PER_JOB=$3 OUT=/tmp/bench
mkdir -p $OUT
rxe_up > /dev/null || exit 1
GUID=$(tr -d : < /sys/class/infiniband/$RDMA_DEV/node_guid)
modprobe null_blk nr_devices=0 || exit 1
nullb() {  # name completion_nsec: 1 GiB, not memory backed (data is not kept)
	local d=/sys/kernel/config/nullb/$1
	mkdir $d && echo 1024 > $d/size && echo 2 > $d/queue_mode && echo 2 > $d/irqmode &&
		echo $2 > $d/completion_nsec && echo 512 > $d/blocksize && echo 1 > $d/power
}
nullb nullb0 1000000 && nullb nullb1 100000 || exit 1
echo "bench: $(nproc) vCPU, kernel $(uname -r), $RDMA_DEV, ${SECONDS_PER_JOB}s per job, null_blk 1 ms (nullb0) and 100 us (nullb1)"

JOBS=(
	"4k-randread-qd32:--rw=randread --bs=4k --iodepth=32"
	"4k-randread-qd1:--rw=randread --bs=4k --iodepth=1"
	"4k-randwrite-qd32:--rw=randwrite --bs=4k --iodepth=32"
	"4k-randwrite-qd1:--rw=randwrite --bs=4k --iodepth=1"
)
run_fio() {  # result prefix, device
	local name args
	for job in "${JOBS[@]}"; do
		name=${job%%:*} args=${job#*:}
		# shellcheck disable=SC2086
		fio --name="$name" --filename="$2" $args --ioengine=libaio --direct=1 --runtime="$SECONDS_PER_JOB" \
			--time_based --ramp_time=1 --output-format=json > "$OUT/$1-$name.json" 2>/dev/null
	done
}

srp_initiator_load > /dev/null || exit 1
for dev in nullb0 nullb1; do
	vm_step "our srp_target on /dev/$dev (io_uring, O_DIRECT)"
	"$BUILD/srp_target/srp_target" --lun path=/dev/$dev --listen "$RDMA_IP:5555" --pollers 1 --stats-interval 0 \
		> /tmp/target-$dev.log 2>&1 &
	PID=$!
	for _ in $(seq 200); do grep -q "srp_target ready" /tmp/target-$dev.log && break; sleep 0.1; done
	grep "LUN 0:" /tmp/target-$dev.log
	DEV=$(srp_login "$GUID" "$GUID" "$RDMA_IP" 5555 ch_count=1 2>/dev/null) || { cat /tmp/target-$dev.log; exit 1; }
	run_fio ours-$dev "$DEV"
	srp_logout > /dev/null
	kill -TERM $PID; wait $PID

	vm_step "kernel LIO ib_srpt, iblock on /dev/$dev"
	LIO_BACKEND=iblock lio_srpt_start /dev/$dev 1024 "${RDMA_GID0#fe80:0000:0000:0000:}" "$RDMA_IP" > /dev/null || exit 1
	DEV=$(srp_login "$LIO_IOC_GUID" "$LIO_IOC_GUID" "$RDMA_IP" "$LIO_PORT" ch_count=1 2>/dev/null) || exit 1
	run_fio lio-$dev "$DEV"
	srp_logout > /dev/null
	lio_srpt_stop > /dev/null
done

mkdir -p "$BUILD/bench-raw" && cp $OUT/*.json "$BUILD/bench-raw/"  # for the host's results.py
vm_step "results (IOPS; ratio = ours / LIO iblock, above 1 means ours is faster)"
python3 - "$OUT" <<'PY'
import json, sys
out = sys.argv[1]
def iops(path):
    try:
        j = json.load(open(path))["jobs"][0]
        return j["read"]["iops"] + j["write"]["iops"]
    except Exception:
        return None
print(f"{'workload':36} {'ours IOPS':>10} {'LIO IOPS':>10} {'ratio':>7}")
for dev, label in (("nullb0", "1 ms"), ("nullb1", "100 us")):
    for job in ["4k-randread-qd32", "4k-randread-qd1", "4k-randwrite-qd32", "4k-randwrite-qd1"]:
        o, l = iops(f"{out}/ours-{dev}-{job}.json"), iops(f"{out}/lio-{dev}-{job}.json")
        ratio = f"{o / l:.2f}" if o and l else "n/a"
        fmt = lambda v: f"{v:.0f}" if v else "n/a"
        print(f"{'null_blk ' + label + ' ' + job:36} {fmt(o):>10} {fmt(l):>10} {ratio:>7}")
PY
