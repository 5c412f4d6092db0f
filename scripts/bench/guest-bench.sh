#!/bin/bash
# Guest side of scripts/bench/run.sh.
# usage: guest-bench.sh <repo root> <build dir> <seconds per job> [SCST module dir]
# With the SCST module dir (scripts/bench/scst-modules.sh), SCST's ib_srpt runs
# the same jobs after LIO's.
set -u
source "$1/scripts/vm/guest-lib.sh"
BUILD=$2 SECONDS_PER_JOB=$3 SCST_MODDIR=${4:-}
FILE=/tmp/shm/bench.img SIZE_MB=256 OUT=/tmp/bench
mkdir -p $OUT /tmp/shm
# A real tmpfs: our target serves it as the memory kind (mapped, zero copy);
# the guest's /tmp is an overlay, which would make it an io_uring LUN.
mount -t tmpfs -o size=$((SIZE_MB + 16))m tmpfs /tmp/shm || exit 1
rxe_up > /dev/null || exit 1
GUID=$(tr -d : < /sys/class/infiniband/$RDMA_DEV/node_guid)
echo "bench: $(nproc) vCPU, kernel $(uname -r), $RDMA_DEV, ${SECONDS_PER_JOB}s per job, backing file ${SIZE_MB} MiB on tmpfs"
dd if=/dev/urandom of=$FILE bs=1M count=$SIZE_MB status=none

# name:fio arguments
JOBS=(
	"4k-randread-qd32:--rw=randread --bs=4k --iodepth=32"
	"4k-randread-qd1:--rw=randread --bs=4k --iodepth=1"
	"4k-randwrite-qd32:--rw=randwrite --bs=4k --iodepth=32"
	"128k-read-qd8:--rw=read --bs=128k --iodepth=8"
)

run_fio() {  # target name, device
	local name args
	for job in "${JOBS[@]}"; do
		name=${job%%:*} args=${job#*:}
		# shellcheck disable=SC2086
		fio --name="$name" --filename="$2" $args --ioengine=libaio --direct=1 --runtime="$SECONDS_PER_JOB" \
			--time_based --ramp_time=1 --output-format=json > "$OUT/$1-$name.json" 2>/dev/null
	done
}
run_ours_initiator() {  # target name, id
	"$BUILD/srp_initiator/srp_initiator" bench -a "$RDMA_IP" --id-ext "$2" --mode randread --qd 32 \
		--runtime "$SECONDS_PER_JOB" --no-progress --json > "$OUT/$1-srp_initiator.json" 2>/dev/null
}

vm_step "raw RDMA ceiling (perftest)"
ib_read_lat -R -d "$RDMA_DEV" -s 8 -n 500 > /dev/null 2>&1 &
sleep 1
ib_read_lat -R -d "$RDMA_DEV" -s 8 -n 500 "$RDMA_IP" 2>/dev/null | grep -A1 '#bytes' | tail -1 | awk '{print "ib_read_lat 8 B: typical " $5 " us"}'
wait

vm_step "our srp_target"
"$BUILD/srp_target/srp_target" --lun path=$FILE --state-dir /tmp/srp_target-state --listen "$RDMA_IP:5555" --pollers 1 --stats-interval 0 \
	--register-backstore-max 1G > /tmp/target.log 2>&1 &
PID=$!
for _ in $(seq 200); do grep -q "srp_target ready" /tmp/target.log && break; sleep 0.1; done
srp_initiator_load > /dev/null || exit 1
DEV=$(srp_login "$GUID" "$GUID" "$RDMA_IP" 5555 ch_count=1 2>/dev/null) || { cat /tmp/target.log; exit 1; }
run_fio ours "$DEV"
srp_logout > /dev/null
run_ours_initiator ours "$GUID"
kill -TERM $PID; wait $PID

vm_step "kernel LIO ib_srpt"
lio_srpt_start $FILE $SIZE_MB "${RDMA_GID0#fe80:0000:0000:0000:}" "$RDMA_IP" > /dev/null || exit 1
DEV=$(srp_login "$LIO_IOC_GUID" "$LIO_IOC_GUID" "$RDMA_IP" "$LIO_PORT" ch_count=1 2>/dev/null) || exit 1
run_fio lio "$DEV"
srp_logout > /dev/null
run_ours_initiator lio "$LIO_IOC_GUID"
lio_srpt_stop > /dev/null

if [ -n "$SCST_MODDIR" ]; then
	vm_step "SCST ib_srpt"
	scst_srpt_start "$SCST_MODDIR" $FILE > /dev/null || exit 1
	DEV=$(srp_login "$SCST_IOC_GUID" "$SCST_IOC_GUID" "$RDMA_IP" "$SCST_PORT" ch_count=1 2>/dev/null) || exit 1
	run_fio scst "$DEV"
	srp_logout > /dev/null
	run_ours_initiator scst "$SCST_IOC_GUID"
	scst_srpt_stop > /dev/null
fi

mkdir -p "$BUILD/bench-raw" && cp $OUT/*.json "$BUILD/bench-raw/"  # for the host's results.py
vm_step "results (IOPS; ratio = ours / LIO$([ -n "$SCST_MODDIR" ] && echo ", ours / SCST"), above 1 means ours is faster)"
python3 - "$OUT" <<'PY'
import json, sys, os
out = sys.argv[1]
def fio_iops(path):
    try:
        j = json.load(open(path))["jobs"][0]
        return j["read"]["iops"] + j["write"]["iops"], j["read"]["clat_ns"]["percentile"].get("99.000000", 0) / 1000 if j["read"]["iops"] else j["write"]["clat_ns"]["percentile"].get("99.000000", 0) / 1000
    except Exception as e:
        return None, None
have_scst = os.path.exists(f"{out}/scst-srp_initiator.json")
rows = []
for job in ["4k-randread-qd32", "4k-randread-qd1", "4k-randwrite-qd32", "128k-read-qd8"]:
    o, op99 = fio_iops(f"{out}/ours-{job}.json")
    l, lp99 = fio_iops(f"{out}/lio-{job}.json")
    s, sp99 = fio_iops(f"{out}/scst-{job}.json")
    rows.append((f"kernel ib_srp + fio {job}", o, l, op99, lp99, s, sp99))
def bench(path):
    try:
        j = json.loads(open(path).read().strip().splitlines()[-1])
        return j["iops"], j["latency_us"]["p99"]
    except Exception:
        return None, None
o, op99 = bench(f"{out}/ours-srp_initiator.json")
l, lp99 = bench(f"{out}/lio-srp_initiator.json")
s, sp99 = bench(f"{out}/scst-srp_initiator.json")
rows.append(("srp_initiator bench 4k randread qd32", o, l, op99, lp99, s, sp99))
fmt = lambda v: f"{v:.0f}" if v else "n/a"
div = lambda a, b: f"{a / b:.2f}" if a and b else "n/a"
if not have_scst:
    print(f"{'workload':44} {'ours IOPS':>10} {'LIO IOPS':>10} {'ratio':>7} {'p99 us ours/LIO':>18}")
    for name, o, l, op99, lp99, _, _ in rows:
        print(f"{name:44} {fmt(o):>10} {fmt(l):>10} {div(o, l):>7} {fmt(op99):>8}/{fmt(lp99):<8}")
else:
    print(f"{'workload':44} {'ours IOPS':>10} {'LIO IOPS':>10} {'SCST IOPS':>10} {'o/LIO':>6} {'o/SCST':>6} "
          f"{'p99 us ours/LIO/SCST':>22}")
    for name, o, l, op99, lp99, s, sp99 in rows:
        print(f"{name:44} {fmt(o):>10} {fmt(l):>10} {fmt(s):>10} {div(o, l):>6} {div(o, s):>6} "
              f"{fmt(op99):>8}/{fmt(lp99)}/{fmt(sp99)}")
PY
