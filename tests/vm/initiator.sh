#!/bin/bash
# VM test: our srp_initiator against our srp_target and against the kernel
# LIO ib_srpt, over soft-RoCE. Each check prints "ok: ..." or "FAIL: ...".
# usage: initiator.sh <repo root> <build dir>
set -u
source "$1/scripts/vm/guest-lib.sh"
BUILD=$2
INI=$BUILD/srp_initiator/srp_initiator
SIZE_MB=16
LOG=/tmp/target.log
fail() { echo "FAIL: $*"; tail -20 $LOG 2>/dev/null; exit 1; }
ok() { echo "ok: $*"; }
run() {  # run the initiator with the target's address and id; stdout in /tmp/out
	$INI "$@" -a "$RDMA_IP" > /tmp/out 2> /tmp/err
	local rc=$?
	cat /tmp/err >&2
	return $rc
}

vm_step "soft-RoCE and our target"
rxe_up || exit 1
GUID=$(tr -d : < /sys/class/infiniband/$RDMA_DEV/node_guid)
dd if=/dev/zero of=/tmp/lun0.img bs=1M count=$SIZE_MB status=none
$BUILD/srp_target/srp_target --lun path=/tmp/lun0.img --state-dir /tmp/srp_target-state --listen "$RDMA_IP:5555" --pollers 1 --stats-interval 0 > $LOG 2>&1 &
PID=$!
for _ in $(seq 200); do grep -q "srp_target ready" $LOG && break; sleep 0.1; done
grep -q "srp_target ready" $LOG || fail "target did not start"

vm_step "our initiator against our target"
run login --id-ext $GUID -c 2 --memory-windows || fail "login"
grep -q "immediate data     granted" /tmp/out && [ "$(grep -c '^channel' /tmp/out)" -eq 2 ] || { cat /tmp/out; fail "login output"; }
ok "login: 2 channels, immediate data granted"
# rxe has type-2 memory windows but fails the queue pair when it retries a send
# queue holding binds (README.md): --memory-windows falls back to the pool's rkey there and says why.
grep -q "data buffer access the pool's rkey (memory windows not used: soft-RoCE" /tmp/out || { cat /tmp/out; fail "memory windows on rxe not declined"; }
ok "login --memory-windows on rxe: $(grep -o "the pool's rkey (memory windows not used.*" /tmp/out | head -1)"
run inquiry --id-ext $GUID && grep -q "vendor             SRPTGT" /tmp/out || fail "inquiry"
run inquiry --id-ext $GUID --vpd all && grep -q "VPD 0x83 device identification" /tmp/out || fail "inquiry --vpd all"
run readcap --id-ext $GUID --json && grep -q "\"bytes\":$((SIZE_MB << 20))" /tmp/out || fail "readcap"
run luns --id-ext $GUID && grep -q "1 LUN(s)" /tmp/out || fail "luns"
run tur --id-ext $GUID && run sync --id-ext $GUID || fail "tur/sync"
ok "inquiry (standard, all VPD pages), readcap, luns, tur, sync"
for t in 512 4k 64k 1M; do
	run verify --id-ext $GUID --transfer $t -c 2 --seed 7 --memory-windows || fail "verify --transfer $t (memory windows)"
	ok "$(cat /tmp/out)"
done
for d in indirect external; do
	run verify --id-ext $GUID --transfer 256k --descriptors $d --memory-windows || fail "verify --descriptors $d (memory windows)"
	ok "descriptors $d: $(cat /tmp/out)"
done
run verify --id-ext $GUID --transfer 4k --no-immediate --length 1M || fail "verify --no-immediate"
dd if=/dev/urandom of=/tmp/in bs=4k count=100 status=none
run write --id-ext $GUID --offset 1M -f /tmp/in || fail "write"
run read --id-ext $GUID --offset 1M --length 409600 -f /tmp/back || fail "read"
cmp /tmp/in /tmp/back || fail "read back differs"
cmp /tmp/in <(dd if=/tmp/lun0.img bs=4k skip=256 count=100 status=none) || fail "not in the backing file"
ok "write a file, read it back, same bytes in the backing file"
run read --id-ext $GUID --offset 100 --length 512 -f /tmp/x; [ $? -eq 2 ] || fail "unaligned read: expected exit 2"
run read --id-ext $GUID --offset $((SIZE_MB << 20)) --length 512 -f /tmp/x; [ $? -eq 2 ] || fail "read beyond the end: expected exit 2"
ok "unaligned and out-of-range requests refused (exit 2)"
for mode in randread randwrite; do
	run bench --id-ext $GUID --mode $mode --runtime 3 --qd 16 -c 2 --no-progress --json || fail "bench $mode"
	echo "info: ours->ours $(cat /tmp/out)"
done
run login --id-ext 0123456789abcdef; rc=$?
[ $rc -eq 4 ] && grep -q "0x00010003" /tmp/err || fail "wrong target id: exit $rc"
ok "a login with a wrong target id is rejected (exit 4, reason decoded)"
kill -TERM $PID; wait $PID

vm_step "our initiator against the kernel LIO ib_srpt"
PORT_GUID=${RDMA_GID0#fe80:0000:0000:0000:}
lio_srpt_start /tmp/lun0.img $SIZE_MB "$RDMA_IP" || exit 1
run login --id-ext $LIO_IOC_GUID --memory-windows || fail "login to LIO"
ok "login to LIO: $(grep -E 'credits|max_it_iu_len|immediate|buffer access' /tmp/out | tr -s ' ' | tr '\n' ';')"
run inquiry --id-ext $LIO_IOC_GUID && grep -q "vendor             LIO-ORG" /tmp/out || { cat /tmp/out; fail "inquiry LIO"; }
ok "inquiry: LIO-ORG $(grep product /tmp/out | tr -s ' ')"
run verify --id-ext $LIO_IOC_GUID --transfer 64k --seed 3 --memory-windows || fail "verify LIO"
ok "LIO $(cat /tmp/out)"
run verify --id-ext $LIO_IOC_GUID --transfer 4k --length 2M --seed 4 || fail "verify LIO 4k"
run bench --id-ext $LIO_IOC_GUID --mode randread --runtime 3 --qd 16 --no-progress --json || fail "bench LIO"
echo "info: ours->LIO $(cat /tmp/out)"
lio_srpt_stop

vm_step "a login rejected by LIO's ACL"
lio_srpt_start /tmp/lun0.img $SIZE_MB "10.9.9.9" || exit 1
run login --id-ext $LIO_IOC_GUID; rc=$?
[ $rc -eq 4 ] || fail "login outside LIO's ACL: exit $rc, expected 4"
ok "rejected by LIO's ACL: $(cat /tmp/err)"
lio_srpt_stop
echo "INITIATOR-OK"
