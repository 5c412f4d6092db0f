#!/bin/bash
# VM test: bad days for srp_target, one boot. Each check prints "ok: ..." or
# fails with "FAIL: ...".
#  (d) our initiator killed with SIGKILL in the middle of `bench`, 50 times:
#      every channel is freed, descriptors and resident memory come back;
#  (a) srp_target killed with SIGKILL during O_DSYNC (FUA) writes from the
#      kernel ib_srp, then restarted with the same configuration: ib_srp
#      reconnects by itself, writing resumes, and every write acknowledged
#      before or after the kill reads back intact (memory LUN on tmpfs and
#      an io_uring LUN on a memory-backed null_blk);
#  (f) a persistent reservation registered with APTPL survives the kill and
#      restart, and stays bound to the initiator that logs in again;
#  (e) SIGTERM under fio load: SRP_T_LOGOUT on every channel, exit 0 within
#      a bounded time; fio ends (fast_io_fail_tmo) instead of hanging, and
#      the device works again once the target is back.
# ib_srp runs with the module options a user would set for fail-over:
# reconnect_delay=1 fast_io_fail_tmo=5 dev_loss_tmo=60.
# usage: fault_matrix.sh <repo root> <build dir>
set -u
source "$1/scripts/vm/guest-lib.sh"
TOOLS=$1/tests/vm
TARGET=$2/srp_target/srp_target
INI=$2/srp_initiator/srp_initiator
LOG=/tmp/target.log
PORT=5555
SHM=/tmp/shm
fail() { echo "FAIL: $*"; echo "--- target log"; tail -40 $LOG; dmesg | tail -20; exit 1; }
ok() { echo "ok: $*"; }

start_target() {
	local before
	before=$(grep -c "srp_target ready" $LOG 2>/dev/null)
	$TARGET --lun path=$SHM/lun0.img,serial=FAULTMEM,lun=0 --lun path=$NB,serial=FAULTNULLB,lun=1 \
		--state-dir /tmp/srp_target-state --listen "$RDMA_IP:$PORT" --pollers 2 --stats-interval 0 >> $LOG 2>&1 &
	TARGET_PID=$!
	srp_target_wait_ready $LOG $TARGET_PID "${before:-0}" || fail "target did not start"
}
stats() { srp_target_stats $LOG $TARGET_PID; }
open_fds() { ls /proc/$TARGET_PID/fd | wc -l; }
# Anonymous memory only: the memory LUN's mapping is file-backed and pinned at start.
rss_kib() { awk '/^RssAnon/ {print $2}' /proc/$TARGET_PID/status; }

vm_step "soft-RoCE, a tmpfs LUN and a memory-backed null_blk LUN"
rxe_up || exit 1
GUID=$(tr -d : < /sys/class/infiniband/$RDMA_DEV/node_guid)
mkdir -p $SHM && mount -t tmpfs -o size=128m tmpfs $SHM || fail "tmpfs"
truncate -s 64M $SHM/lun0.img || fail "LUN file"
modprobe null_blk nr_devices=0 || fail "modprobe null_blk"
NB=$(nullb nullb0 64 10000) || fail "null_blk"
start_target
ok "target serves $SHM/lun0.img (memory) and $NB (io_uring)"

vm_step "(d) our initiator killed with SIGKILL in the middle of bench, 50 times"
# The first cycle warms the allocator; later cycles must not grow anything.
cycle() {
	local logins
	logins=$(grep -c "login accepted" $LOG)
	$INI bench -a $RDMA_IP --id-ext $GUID --mode randwrite --qd 16 --runtime 60 --no-progress > /dev/null 2>&1 &
	local pid=$!
	for _ in $(seq 100); do [ "$(grep -c "login accepted" $LOG)" -gt "$logins" ] && break; sleep 0.05; done
	[ "$(grep -c "login accepted" $LOG)" -gt "$logins" ] || fail "bench did not log in"
	sleep 0.2  # commands in flight
	kill -KILL $pid; wait $pid 2>/dev/null
}
wait_no_channels() {
	for _ in $(seq 100); do stats | grep -q " 0 channel(s)" && return 0; sleep 0.2; done
	fail "channels left after the initiator died: $(stats)"
}
fds_start=$(open_fds); rss_start=$(rss_kib)
trend=""
for i in $(seq 1 50); do
	cycle
	if [ $((i % 10)) -eq 0 ] || [ $i -eq 1 ]; then
		wait_no_channels
		eval "rss_$i=\$(rss_kib)"; eval "fds_$i=\$(open_fds)"
		trend+=" $i:$(rss_kib)"
	fi
done
echo "info: open descriptors $fds_start at start, $fds_1 after 1 kill, $fds_50 after 50"
echo "info: anonymous resident KiB $rss_start at start, after N kills:$trend"
echo "info: $(stats | sed 's/.*info //')"
[ "$fds_50" -eq "$fds_start" ] || fail "descriptors leaked: $fds_start -> $fds_50"
# A channel holds about 10 MiB and a login a few KiB: a leak of either grows
# the second half of the run; the allocator's own warm-up stays in the first.
[ "$rss_50" -le $((rss_20 + 256)) ] || fail "resident memory grew from 20 to 50 kills: $rss_20 -> $rss_50 KiB"
[ "$(grep -c "channel closed" $LOG)" -eq 50 ] || fail "expected 50 closed channels, got $(grep -c "channel closed" $LOG)"
ok "50 channels freed; descriptors $fds_start -> $fds_50, anonymous memory $rss_20 -> $rss_50 KiB from 20 to 50 kills"

vm_step "kernel ib_srp with fail-over options"
srp_initiator_load reconnect_delay=1 fast_io_fail_tmo=5 dev_loss_tmo=60 || exit 1
DEV=$(srp_login "$GUID" "$GUID" "$RDMA_IP" $PORT) || fail "login"
for _ in $(seq 50); do lun_dev $DEV 1 >/dev/null && break; sleep 0.2; done
D0=$(lun_dev $DEV 0) && D1=$(lun_dev $DEV 1) || fail "LUN devices"
ok "LUN 0 $D0, LUN 1 $D1"

vm_step "(f) a persistent reservation with APTPL, before the kill"
KEY=0x5352505450544c31
sg_persist --out --register --param-sark=$KEY --param-aptpl $D0 > /tmp/pr.log 2>&1 || { cat /tmp/pr.log; fail "PR OUT REGISTER APTPL"; }
sg_persist --out --reserve --param-rk=$KEY --prout-type=1 $D0 >> /tmp/pr.log 2>&1 || { cat /tmp/pr.log; fail "PR OUT RESERVE"; }
sg_persist --in --report-capabilities $D0 | grep -q "Persist Through Power Loss Active(PTPL_A): 1" ||
	{ sg_persist --in --report-capabilities $D0; fail "PTPL_A not set"; }
ls /tmp/srp_target-state/aptpl/*.pr > /dev/null || fail "no APTPL state file"
ok "registered $KEY with APTPL and reserved LUN 0 Write Exclusive; state in $(ls /tmp/srp_target-state/aptpl/)"

vm_step "(a) SIGKILL of srp_target during O_DSYNC writes, restart, reconnect"
python3 $TOOLS/durable_writes.py write $D0 /tmp/acked0 16 > /tmp/w0.out 2>&1 &
W0=$!
python3 $TOOLS/durable_writes.py write $D1 /tmp/acked1 16 > /tmp/w1.out 2>&1 &
W1=$!
sleep 4
kill -KILL $TARGET_PID; wait $TARGET_PID 2>/dev/null
at_kill=$(( $(wc -l < /tmp/acked0) + $(wc -l < /tmp/acked1) ))
echo "info: $at_kill writes acknowledged when the target was killed"
sleep 1
start_target
wait $W0 || { cat /tmp/w0.out; fail "writer on $D0"; }
wait $W1 || { cat /tmp/w1.out; fail "writer on $D1"; }
cat /tmp/w0.out /tmp/w1.out
total=$(( $(wc -l < /tmp/acked0) + $(wc -l < /tmp/acked1) ))
[ "$total" -gt "$at_kill" ] || fail "no write was acknowledged after the restart ($at_kill -> $total)"
python3 $TOOLS/durable_writes.py check $D0 /tmp/acked0 || fail "acknowledged writes lost on the memory LUN"
python3 $TOOLS/durable_writes.py check $D1 /tmp/acked1 || fail "acknowledged writes lost on the io_uring LUN"
ok "ib_srp reconnected after the restart; $total acknowledged writes ($at_kill before the kill) all intact"
# The writes after the restart already needed the reservation to follow the
# returning initiator (Write Exclusive: only the holder may write).
sg_persist --in --read-keys $D0 | grep -qi "$KEY" || { sg_persist --in --read-keys $D0; fail "registration lost in the restart"; }
sg_persist --in --read-reservation $D0 > /tmp/prin.log 2>&1
grep -qi "Key=$KEY" /tmp/prin.log && grep -q "Write Exclusive" /tmp/prin.log || { cat /tmp/prin.log; fail "reservation lost in the restart"; }
sg_persist --out --clear --param-rk=$KEY $D0 > /dev/null 2>&1 || fail "PR OUT CLEAR"
ok "(f) the APTPL registration and the Write Exclusive reservation survived SIGKILL and restart, bound to the returning ib_srp"

vm_step "(e) SIGTERM under fio load: SRP_T_LOGOUT, bounded exit, no hang"
fio --name=load --filename=$D0 --rw=randwrite --bs=4k --iodepth=16 --ioengine=libaio --direct=1 \
	--time_based --runtime=120 > /tmp/fio-load.log 2>&1 &
FIO=$!
sleep 3
channels=$(stats | sed 's/.* \([0-9]*\) channel(s).*/\1/')
logouts_before=$(grep -c "target logout sent" $LOG)
t0=$(date +%s.%N)
kill -TERM $TARGET_PID; wait $TARGET_PID
rc=$?
elapsed=$(echo "$(date +%s.%N) - $t0" | bc)
[ $rc -eq 0 ] || fail "exit status $rc after SIGTERM"
echo "info: exit 0 after $elapsed s with $channels channel(s)"
[ "$(echo "$elapsed < 15" | bc)" -eq 1 ] || fail "shutdown took $elapsed s"
sent=$(( $(grep -c "target logout sent" $LOG) - logouts_before ))
[ "$sent" -eq "$channels" ] || fail "SRP_T_LOGOUT sent on $sent of $channels channels"
ok "SRP_T_LOGOUT on all $channels channels, exit 0 in $elapsed s"
for _ in $(seq 60); do kill -0 $FIO 2>/dev/null || break; sleep 1; done
kill -0 $FIO 2>/dev/null && { kill -KILL $FIO; fail "fio still running 60 s after the target left (hang)"; }
wait $FIO; echo "info: fio exit status $? ($(grep -m1 -o 'err=[ 0-9]*[^,]*' /tmp/fio-load.log))"
dmesg | grep -m1 -i "logout" && true
ok "fio ended instead of hanging"
start_target
for _ in $(seq 60); do
	dd if=/dev/urandom of=/tmp/blk bs=4k count=1 status=none
	dd if=/tmp/blk of=$D0 bs=4k seek=100 oflag=direct,dsync status=none 2>/dev/null &&
		cmp -s /tmp/blk <(dd if=$D0 bs=4k skip=100 count=1 iflag=direct status=none) && break
	sleep 1
done
cmp -s /tmp/blk <(dd if=$D0 bs=4k skip=100 count=1 iflag=direct status=none) || fail "device did not come back"
ok "ib_srp reconnected to the restarted target; the device writes and reads again"

vm_step "shutdown"
srp_logout
kill -TERM $TARGET_PID; wait $TARGET_PID || fail "exit status after SIGTERM"
echo "FAULT-MATRIX-OK"
