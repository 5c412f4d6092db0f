#!/bin/bash
# VM test, ASan+UBSan build: one login / I/O / logout cycle of the kernel
# ib_srp against srp_target (a memory LUN and an io_uring LUN), plus our own
# initiator's verify, then SIGTERM. Any AddressSanitizer, LeakSanitizer or
# UBSan report fails the test; LeakSanitizer runs at the target's exit.
# usage: asan_cycle.sh <repo root> <ASan build dir>
set -u
source "$1/scripts/vm/guest-lib.sh"
TARGET=$2/srp_target/srp_target
INI=$2/srp_initiator/srp_initiator
LOG=/tmp/target-asan.log
PORT=5555
fail() { echo "FAIL: $*"; echo "--- target log"; tail -60 $LOG; dmesg | tail -20; exit 1; }
ok() { echo "ok: $*"; }
sanitizer_reports() { grep -E "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:" "$@"; }
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1

vm_step "soft-RoCE, ASan target with a memory LUN and an io_uring LUN"
rxe_up || exit 1
GUID=$(tr -d : < /sys/class/infiniband/$RDMA_DEV/node_guid)
mkdir -p /tmp/shm && mount -t tmpfs -o size=64m tmpfs /tmp/shm && truncate -s 32M /tmp/shm/lun0.img || fail "tmpfs LUN"
modprobe null_blk nr_devices=0 || fail "modprobe null_blk"
NB=$(nullb nullb0 32 10000) || fail "null_blk"
$TARGET --lun path=/tmp/shm/lun0.img,lun=0 --lun path=$NB,lun=1 --listen "$RDMA_IP:$PORT" --pollers 2 \
	--stats-interval 0 > $LOG 2>&1 &
PID=$!
srp_target_wait_ready $LOG $PID 0 300 || fail "target did not start"
ok "ASan+UBSan srp_target ready"

vm_step "kernel ib_srp: fio verify on both LUNs, logout"
srp_initiator_load || exit 1
DEV=$(srp_login "$GUID" "$GUID" "$RDMA_IP" $PORT) || fail "login"
for _ in $(seq 50); do lun_dev $DEV 1 >/dev/null && break; sleep 0.2; done
for lun in 0 1; do
	D=$(lun_dev $DEV $lun) || fail "LUN $lun device"
	fio --name=asan$lun --filename=$D --rw=randwrite --bsrange=4k-256k --size=8M --iodepth=16 --ioengine=libaio \
		--direct=1 --verify=crc32c --verify_fatal=1 > /tmp/fio-asan$lun.log 2>&1 || { tail /tmp/fio-asan$lun.log; fail "fio LUN $lun"; }
done
srp_logout
ok "fio verify on LUN 0 (memory) and LUN 1 (io_uring), logout"

vm_step "our initiator (ASan build too): verify, two channels"
$INI verify -a $RDMA_IP --id-ext $GUID -c 2 --transfer 64k --length 4M --seed 3 > /tmp/ini.out 2> /tmp/ini.err ||
	{ cat /tmp/ini.out /tmp/ini.err; fail "srp_initiator verify"; }
sanitizer_reports /tmp/ini.err && fail "sanitizer report in srp_initiator"
ok "$(cat /tmp/ini.out)"

vm_step "SIGTERM: exit 0, and LeakSanitizer finds nothing"
kill -TERM $PID; wait $PID
rc=$?
sanitizer_reports $LOG && fail "sanitizer report in srp_target"
[ $rc -eq 0 ] || fail "exit status $rc"
ok "no AddressSanitizer, LeakSanitizer or UBSan report; exit 0"
echo "ASAN-CYCLE-OK"
