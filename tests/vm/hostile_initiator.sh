#!/bin/bash
# VM test: a hostile initiator (tests/hostile) against our srp_target over
# soft-RoCE, while the kernel ib_srp runs fio randwrite --verify=crc32c on
# the same LUN for the whole time. Every hostile case runs on channels of
# its own I_T nexus (its own initiator port id), so none of them may
# disturb ib_srp; at the end fio must have passed and the target must still
# serve and exit 0 on SIGTERM.
# Each check prints "ok: ..." or fails with "FAIL: ..." and the target log tail.
# usage: hostile_initiator.sh <repo root> <build dir> [hostile_initiator --case PREFIX ...]
set -u
source "$1/scripts/vm/guest-lib.sh"
TARGET=$2/srp_target/srp_target
HOSTILE=$2/tests/hostile_initiator
shift 2
SIZE_MB=64
SHM=/tmp/shm  # a tmpfs file: the memory backstore kind (mapped, registered)
FILE=$SHM/lun0.img
LOG=/tmp/target.log
REGIONS=/tmp/target-regions
PORT=5555
FIO_STOP=/tmp/fio.stop
FIO_STATUS=/tmp/fio.status
fail() {
	echo "FAIL: $*"
	touch $FIO_STOP
	echo "--- target log"; tail -40 $LOG; echo "--- dmesg"; dmesg | tail -20
	[ -n "${VMX_OUT:-}" ] && cp $LOG "$VMX_OUT/"  # kept with VMX_KEEP=1
	exit 1
}
ok() { echo "ok: $* [uptime $(cut -d" " -f1 /proc/uptime)]"; }

vm_step "soft-RoCE, our target on a tmpfs LUN"
rxe_up || exit 1
mkdir -p $SHM && mount -t tmpfs -o size=256m tmpfs $SHM || fail "tmpfs for the backstore"
GUID=$(tr -d : < /sys/class/infiniband/$RDMA_DEV/node_guid)
dd if=/dev/urandom of=$FILE bs=1M count=$SIZE_MB status=none
$TARGET --lun path=$FILE,serial=HOSTILE01 --state-dir /tmp/srp_target-state --listen "$RDMA_IP:$PORT" --pollers 2 \
	--stats-interval 0 > $LOG 2>&1 &
TARGET_PID=$!
srp_target_wait_ready $LOG $TARGET_PID 0 || fail "target did not start"

vm_step "kernel ib_srp logs in; fio randwrite verify=crc32c on the first 16 MiB of the LUN, in a loop"
srp_initiator_load || exit 1
DEV=$(srp_login "$GUID" "$GUID" "$RDMA_IP" $PORT) || fail "ib_srp login"
rm -f $FIO_STOP $FIO_STATUS
(
	rounds=0
	while [ ! -e $FIO_STOP ]; do
		# The hostile initiator uses the second half: fio stays in the first 16 MiB.
		if ! fio --name=under-attack --filename=$DEV --rw=randwrite --bsrange=4k-64k --size=16M --iodepth=8 \
			--ioengine=libaio --direct=1 --verify=crc32c --verify_fatal=1 --do_verify=1 > /tmp/fio-$rounds.log 2>&1; then
			echo "failed in round $rounds" > $FIO_STATUS
			exit 1
		fi
		rounds=$((rounds + 1))
	done
	echo "passed $rounds rounds" > $FIO_STATUS
) &
FIO_PID=$!
sleep 1

vm_step "the target's memory regions, as root on this host sees them"
# rdma resource show mr: keys and lengths (root only: no peer learns them
# from the target, which never sends a key or an address). Addresses:
# /proc/<pid>/maps has the backstore's mapping; heap buffers stay unknown
# (0), which matters little: a responder checks key and access rights
# before the range. Each region is named by its length.
BACKSTORE_VA=$(awk -v f=$FILE '$6 == f { split($1, a, "-"); print "0x" a[1]; exit }' /proc/$TARGET_PID/maps)
rdma resource show mr | grep "comm srp_target" | while read -r line; do
	set -- $line
	declare -A mr=()
	while [ $# -ge 2 ]; do mr[$1]=$2; shift 2; done
	case ${mr[mrlen]} in
	$((SIZE_MB << 20))) what=backstore address=$BACKSTORE_VA ;;
	$((8 << 20))) what=bounce_buffers address=0 ;;
	$((1 << 20))) what=descriptor_tables address=0 ;;
	65536) what=response_buffers address=0 ;;
	*) what=receive_ring address=0 ;;
	esac
	echo "$what ${mr[lkey]} ${mr[rkey]} $address $(printf 0x%x "${mr[mrlen]}")"
done > $REGIONS
cat $REGIONS
grep -q "^backstore " $REGIONS && grep -q "^receive_ring " $REGIONS && grep -q "^response_buffers " $REGIONS ||
	fail "rdma resource show mr lists no backstore, receive ring or response buffers of srp_target"
qps=$(rdma resource show qp | grep -c "comm srp_target")
[ "$qps" -ge 1 ] || fail "rdma resource show qp lists no queue pair of srp_target while ib_srp is logged in"
ok "$(wc -l < $REGIONS) target memory regions and $qps queue pairs listed"

vm_step "hostile initiator"
$HOSTILE --address "$RDMA_IP" --port $PORT --id-ext "$GUID" --target-log $LOG --regions $REGIONS "$@" | tee /tmp/hostile.out
rc=${PIPESTATUS[0]}
[ "$rc" -eq 0 ] || fail "hostile initiator exit status $rc ($(grep -c '^FAIL' /tmp/hostile.out) case(s) failed)"
grep -q '^skip:' /tmp/hostile.out && fail "hostile cases skipped"
ok "every hostile case: $(tail -1 /tmp/hostile.out)"

vm_step "fio under attack, the target afterwards"
kill -0 $TARGET_PID 2>/dev/null || fail "the target died"
touch $FIO_STOP
wait $FIO_PID
fio_rc=$?
status=$(cat $FIO_STATUS 2>/dev/null)
[ $fio_rc -eq 0 ] || { tail -20 /tmp/fio-*.log; fail "fio verify under attack: $status"; }
ok "fio randwrite verify=crc32c on ib_srp: $status while the hostile cases ran"
[ "$(dd if=$DEV bs=1M skip=32 count=32 iflag=direct status=none | md5sum)" = \
  "$(dd if=$FILE bs=1M skip=32 count=32 status=none | md5sum)" ] || fail "ib_srp reads of the second half differ from the file"
ok "ib_srp still reads the LUN (second half matches the backing file)"
srp_logout
# Every channel, hostile or not, is gone: no queue pair of the target is
# left and its only memory region is the backstore (no leaked registration).
for _ in $(seq 50); do
	mrs=$(rdma resource show mr | grep -c "comm srp_target")
	qps=$(rdma resource show qp | grep -c "comm srp_target")
	[ "$mrs" -eq 1 ] && [ "$qps" -eq 0 ] && break
	sleep 0.1
done
[ "$mrs" -eq 1 ] && [ "$qps" -eq 0 ] || fail "after every logout the target still has $mrs memory regions and $qps queue pairs"
kill -USR1 $TARGET_PID; sleep 0.5
stats=$(grep 'stats:' $LOG | tail -1)
echo "info: $stats"
echo "$stats" | grep -q "0 nexus(es), 0 channel(s); logins \([0-9]*\) rejected [0-9]* closed \1;" ||
	fail "logins and closed channels differ"
ok "no channel left: 1 memory region (the backstore), no queue pair, every login closed"
kill -TERM $TARGET_PID; wait $TARGET_PID
rc=$?
[ $rc -eq 0 ] || fail "target exit status $rc after SIGTERM"
grep -q "signal 15: shutting down" $LOG || fail "no shutdown line"
ok "target exits 0 on SIGTERM"
echo "HOSTILE-INITIATOR-OK"
