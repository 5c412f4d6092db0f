#!/bin/bash
# Guest side of scripts/bench/events.sh: where the guest's CPU goes per I/O,
# counted, not sampled (under icount perf's samples land only in the idle
# loop). For each target (ours, LIO) it runs fio 4k random I/O QD32 through the
# kernel ib_srp on one backing and, for some seconds of its steady state,
# records scheduler, softirq, system call and block events and kprobes on
# rxe's data path; then prints per I/O (I/Os = requests the SRP disk
# completed while tracing): context switches by (from, to), wake-ups by (waker, wakee),
# softirqs by (context, vector), system calls by (process, number), and the
# rxe counts (packets sent, MR copies, CQEs posted).
# usage: guest-events.sh <repo root> <build dir> <backing: nullblk|memory> [seconds traced, default 1] [randread|randwrite]
set -u
source "$1/scripts/vm/guest-lib.sh"
BUILD=$2 BACKING=$3 TRACE_SECONDS=${4:-1} RW=${5:-randread}
case $RW in randread|randwrite) ;; *) vm_fail "the fio job: randread or randwrite, not $RW"; exit 1 ;; esac
TR=/sys/kernel/tracing
rxe_up > /dev/null || exit 1
GUID=$(tr -d : < "/sys/class/infiniband/$RDMA_DEV/node_guid")
mkdir -p /tmp/shm && mount -t tmpfs -o size=272m tmpfs /tmp/shm || exit 1
case $BACKING in
nullblk)
	modprobe null_blk nr_devices=0 || exit 1
	LUN=$(NULLB_MEMORY_BACKED=0 nullb nullb0 1024 1000000) || exit 1
	SIZE_MB=1024 LIO_KIND=iblock ;;
memory)
	LUN=/tmp/shm/bench.img SIZE_MB=256 LIO_KIND=fileio
	dd if=/dev/zero of=$LUN bs=1M count=$SIZE_MB status=none ;;
*) vm_fail "backing: nullblk or memory"; exit 1 ;;
esac
mountpoint -q $TR || mount -t tracefs nodev $TR || exit 1
echo 16384 > $TR/buffer_size_kb
# rxe's data path: packets sent, MR copies (one per payload segment), CQEs
KPROBES="rxe_xmit_packet rxe_mr_copy rxe_cq_post"
for f in $KPROBES; do echo "p:k_$f $f" >> $TR/kprobe_events || { vm_fail "kprobe $f"; exit 1; }; done
EVENTS="sched/sched_switch sched/sched_wakeup irq/softirq_entry raw_syscalls/sys_enter block/block_rq_complete"
EVENTS+=" $(for f in $KPROBES; do printf 'kprobes/k_%s ' "$f"; done)"

srp_initiator_load > /dev/null || exit 1
measure() {  # name device
	fio --name=j --filename="$2" --rw=$RW --bs=4k --iodepth=32 --ioengine=libaio --direct=1 --runtime=60 \
		--time_based --output-format=json > /dev/null 2>&1 &
	local fio=$! e
	sleep 6  # past fio's start (exec from the 9p root) into its steady state
	echo > $TR/trace
	for e in $EVENTS; do echo 1 > "$TR/events/$e/enable" || { vm_fail "enable $e"; kill $fio; return 1; }; done
	sleep "$TRACE_SECONDS"
	for e in $EVENTS; do echo 0 > "$TR/events/$e/enable"; done
	cp $TR/trace "/tmp/$1.trace"
	kill -INT $fio; wait $fio
	echo "=== $1 ($BACKING, 4k $RW QD32, ${TRACE_SECONDS}s traced)"
	python3 - "/tmp/$1.trace" "$(stat -c %t:%T "$(readlink -f "$2")")" <<'PY'
import collections, re, sys
path = sys.argv[1]
srp_disk = ",".join(str(int(x, 16)) for x in sys.argv[2].split(":")) + " "  # "major,minor " as block events print it
norm = lambda name: re.sub(r"\d+", "N", name)
counts = {k: collections.Counter() for k in ("switch", "wakeup", "softirq", "syscall", "rxe")}
ios = 0
line_re = re.compile(r"\s*(.+?)-(\d+)\s+\[\d+\]\s+\S+\s+[\d.]+: (\w+): (.*)")
for line in open(path):
    m = line_re.match(line)
    if not m:
        continue
    comm, _, event, rest = m.groups()
    comm = norm(comm)
    if event == "sched_switch":
        a = re.search(r"prev_comm=(.+?) prev_pid=.*next_comm=(.+?) next_pid=", rest)
        counts["switch"][norm(a.group(1)) + " -> " + norm(a.group(2))] += 1
    elif event == "sched_wakeup":
        counts["wakeup"][comm + " wakes " + norm(re.search(r"comm=(.+?) pid=", rest).group(1))] += 1
    elif event == "softirq_entry":
        counts["softirq"][re.search(r"action=(\w+)", rest).group(1) + " in " + comm] += 1
    elif event == "sys_enter":
        counts["syscall"][comm + " NR " + re.search(r"NR (\d+)", rest).group(1)] += 1
    elif event == "block_rq_complete":
        ios += rest.startswith(srp_disk)
    elif event.startswith("k_"):
        counts["rxe"][event[2:]] += 1
if ios == 0:
    sys.exit("no I/O completed by the SRP disk while tracing")
print(f"I/Os completed by the SRP disk: {ios}")
for kind, c in counts.items():
    print(f"-- {kind}: {sum(c.values()) / ios:.2f} per I/O")
    for key, n in c.most_common(8):
        print(f"   {n / ios:6.2f}  {key}")
PY
}

vm_step "ours ($LUN)"
"$BUILD/srp_target/srp_target" --lun path=$LUN --state-dir /tmp/srp_target-state --listen "$RDMA_IP:5555" \
	--pollers 1 --stats-interval 0 > /tmp/target.log 2>&1 &
PID=$!
srp_target_wait_ready /tmp/target.log $PID || exit 1
DEV=$(srp_login "$GUID" "$GUID" "$RDMA_IP" 5555 ch_count=1 2>/dev/null) || { cat /tmp/target.log; exit 1; }
measure ours "$DEV" || exit 1
srp_logout > /dev/null
kill -TERM $PID; wait $PID

vm_step "LIO ib_srpt ($LIO_KIND on $LUN)"
LIO_BACKEND=$LIO_KIND lio_srpt_start $LUN $SIZE_MB "${RDMA_GID0#fe80:0000:0000:0000:}" "$RDMA_IP" > /dev/null || exit 1
DEV=$(srp_login "$LIO_IOC_GUID" "$LIO_IOC_GUID" "$RDMA_IP" "$LIO_PORT" ch_count=1 2>/dev/null) || exit 1
measure lio "$DEV" || exit 1
srp_logout > /dev/null
lio_srpt_stop > /dev/null
