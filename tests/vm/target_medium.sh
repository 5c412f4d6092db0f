#!/bin/bash
# VM test: the kernel ib_srp initiator against our srp_target with io_uring
# backstores (the io kind), one boot:
#  (a) a memory-backed null_blk device with 1 ms completions: fio verify;
#  (b) a device-mapper table with an `error` region: sg_raw and sg_dd see
#      MEDIUM ERROR with the exact ASC (and the LBA in INFORMATION) for reads
#      and writes, while the other LUNs and a second session keep serving;
#  (c) a thin LUN file on a 16 MiB ext2 filesystem that fills up: DATA
#      PROTECT, SPACE ALLOCATION FAILED WRITE PROTECT (27/07).
# usage: target_medium.sh <repo root> <build dir>
set -u
source "$1/scripts/vm/guest-lib.sh"
TARGET=$2/srp_target/srp_target
LOG=/tmp/target-medium.log
PORT=5555
fail() { echo "FAIL: $*"; echo "--- target log"; tail -40 $LOG; dmesg | tail -20; exit 1; }
ok() { echo "ok: $*"; }

sense_of() { grep -iE "sense key|additional sense|info fld" "$1" | tr '\n' ' '; }

vm_step "devices: null_blk (1 ms), dm error region, 16 MiB ext2"
rxe_up || exit 1
GUID=$(tr -d : < /sys/class/infiniband/$RDMA_DEV/node_guid)
modprobe null_blk nr_devices=0 || fail "modprobe null_blk"
NB=$(nullb nullb0 256 1000000) || fail "null_blk nullb0"
NBE=$(nullb nullb1 64 100000) || fail "null_blk nullb1"
modprobe dm-mod 2>/dev/null
# Sectors 8192..10239 (LBAs 8192..10239 at 512 bytes) fail every I/O.
printf '0 8192 linear %s 0\n8192 2048 error\n10240 120832 linear %s 10240\n' $NBE $NBE | dmsetup --noudevsync create srperr && dmsetup mknodes srperr ||
	fail "dmsetup create"
modprobe loop 2>/dev/null
mkdir -p /tmp/small && dd if=/dev/zero of=/tmp/small.fs bs=1M count=16 status=none &&
	mkfs.ext2 -q -F /tmp/small.fs && mount -o loop /tmp/small.fs /tmp/small || fail "16 MiB ext2"
ok "$NB (1 ms), /dev/mapper/srperr (error at LBA 8192..10239), /tmp/small (ext2, 16 MiB)"

vm_step "target: three io_uring LUNs"
$TARGET --lun path=$NB,serial=NULLB1MS,lun=0 --lun path=/dev/mapper/srperr,serial=DMERROR,lun=1 \
	--lun path=/tmp/small/thin.img,size=64M,serial=THIN,lun=2 \
	--listen "$RDMA_IP:$PORT" --pollers 2 --stats-interval 0 > $LOG 2>&1 &
TARGET_PID=$!
for _ in $(seq 200); do grep -q "srp_target ready" $LOG && break; kill -0 $TARGET_PID 2>/dev/null || fail "target exited"; sleep 0.1; done
grep "LUN [0-2]:" $LOG
grep -q "LUN 0: $NB.*io_uring (block device, O_DIRECT)" $LOG || fail "LUN 0 is not io_uring O_DIRECT"
grep -q "LUN 2: /tmp/small/thin.img.*io_uring (file, O_DIRECT)" $LOG || fail "LUN 2 is not io_uring O_DIRECT"
ok "LUN kinds logged at start"

srp_initiator_load || exit 1
DEV=$(srp_login "$GUID" "$GUID" "$RDMA_IP" $PORT) || fail "login"
for _ in $(seq 50); do lun_dev $DEV 2 >/dev/null && break; sleep 0.2; done
D0=$(lun_dev $DEV 0) && D1=$(lun_dev $DEV 1) && D2=$(lun_dev $DEV 2) || fail "LUN devices"
echo "info: LUN 0 $D0, LUN 1 $D1, LUN 2 $D2"

vm_step "(a) null_blk 1 ms: fio verify through io_uring"
fio --name=nullb --filename=$D0 --rw=randwrite --bsrange=512-1M --size=48M --iodepth=32 --ioengine=libaio \
	--direct=1 --verify=crc32c --verify_fatal=1 --do_verify=1 > /tmp/fio-nullb.log 2>&1 ||
	{ tail -20 /tmp/fio-nullb.log; fail "fio verify on null_blk"; }
ok "fio randwrite 512B-1MiB QD32 verify=crc32c on null_blk (1 ms)"

vm_step "(b) dm error region: MEDIUM ERROR with the exact ASC"
dd if=$D1 of=/dev/null bs=4k count=16 iflag=direct status=none || fail "read before the error region"
# READ(16) LBA 8200, 8 blocks: 03/11/00, INFORMATION = 8200 (0x2008), the first LBA of the failed range.
sg_raw -r 4096 $D1 88 00 00 00 00 00 00 00 20 08 00 00 00 08 00 00 > /tmp/sgraw-r.log 2>&1
sense_of /tmp/sgraw-r.log; echo
grep -qi "Medium Error" /tmp/sgraw-r.log && grep -qi "Unrecovered read error" /tmp/sgraw-r.log ||
	{ cat /tmp/sgraw-r.log; fail "READ in the error region: no MEDIUM ERROR / UNRECOVERED READ ERROR"; }
grep -qi "0x2008" /tmp/sgraw-r.log || { cat /tmp/sgraw-r.log; fail "READ: INFORMATION is not LBA 0x2008"; }
ok "READ(16) in the error region: MEDIUM ERROR, UNRECOVERED READ ERROR (11/00), INFORMATION 0x2008"
dd if=/dev/zero of=/tmp/blk.bin bs=4096 count=1 status=none
sg_raw -s 4096 -i /tmp/blk.bin $D1 8a 00 00 00 00 00 00 00 20 10 00 00 00 08 00 00 > /tmp/sgraw-w.log 2>&1
sense_of /tmp/sgraw-w.log; echo
grep -qi "Medium Error" /tmp/sgraw-w.log && grep -qi "Write error" /tmp/sgraw-w.log ||
	{ cat /tmp/sgraw-w.log; fail "WRITE in the error region: no MEDIUM ERROR / WRITE ERROR"; }
ok "WRITE(16) in the error region: MEDIUM ERROR, WRITE ERROR (0C/00)"
# sg_dd through the SCSI generic node (on the block node it only sees EIO).
modprobe sg 2>/dev/null
SG1=/dev/$(ls /sys/block/${D1#/dev/}/device/scsi_generic/ | head -1)
[ -c "$SG1" ] || fail "no sg node for $D1"
sg_dd verbose=2 if=$SG1 of=/dev/null bs=512 skip=8192 count=64 > /tmp/sgdd.log 2>&1 && fail "sg_dd through the error region succeeded"
# sg_dd counts MEDIUM ERROR results as "unrecovered error(s)" (its other
# failures are "Some error occurred" only); verbose=2 also decodes the sense.
grep -qi "unrecovered error" /tmp/sgdd.log || { cat /tmp/sgdd.log; fail "sg_dd: no MEDIUM ERROR"; }
ok "sg_dd reports: $(grep -i -m1 -E 'medium error|unrecovered read' /tmp/sgdd.log) / $(grep -i -m1 'unrecovered error' /tmp/sgdd.log)"
kill -0 $TARGET_PID || fail "the target died"
fio --name=after --filename=$D0 --rw=randrw --bs=4k --size=8M --iodepth=8 --ioengine=libaio --direct=1 \
	--verify=crc32c --verify_fatal=1 > /tmp/fio-after.log 2>&1 || { tail /tmp/fio-after.log; fail "LUN 0 after errors"; }
ok "LUN 0 keeps serving after the medium errors on LUN 1"
# A second session (another initiator port) is served too.
pfx=$(echo "${RDMA_GID0//:}" | cut -c1-16)
echo "id_ext=$GUID,ioc_guid=$GUID,initiator_ext=0000000000000002,dest=$RDMA_IP:$PORT" \
	> /sys/class/infiniband_srp/srp-$RDMA_DEV-1/add_target || fail "second session login"
sleep 2
[ "$(grep -c 'login accepted' $LOG)" -ge 2 ] || fail "second session not accepted"
ok "a second session logs in while LUN 1 reports errors"

vm_step "(c) thin LUN on a full ext2: SPACE ALLOCATION FAILED"
dd if=/dev/urandom of=$D2 bs=1M count=32 oflag=direct status=none 2> /tmp/dd-fill.log &&
	fail "32 MiB fit on a 16 MiB filesystem"
echo "info: filling: $(tail -1 /tmp/dd-fill.log)"
# WRITE(16) far into the still-unallocated part of the LUN (LBA 100000).
sg_raw -s 4096 -i /tmp/blk.bin $D2 8a 00 00 00 00 00 00 01 86 a0 00 00 00 08 00 00 > /tmp/sgraw-full.log 2>&1
sense_of /tmp/sgraw-full.log; echo
grep -qi "Data Protect" /tmp/sgraw-full.log && grep -qi "Space allocation failed write protect" /tmp/sgraw-full.log ||
	{ cat /tmp/sgraw-full.log; fail "WRITE on the full filesystem: no DATA PROTECT / SPACE ALLOCATION FAILED"; }
ok "WRITE on the full filesystem: DATA PROTECT, SPACE ALLOCATION FAILED WRITE PROTECT (27/07)"
dd if=$D0 of=/dev/null bs=1M count=4 iflag=direct status=none || fail "LUN 0 after ENOSPC"
kill -0 $TARGET_PID || fail "the target died"

vm_step "shutdown"
srp_logout
kill -TERM $TARGET_PID; wait $TARGET_PID || fail "target exit status $?"
grep -c "failed:" $LOG | sed 's/^/info: medium errors logged: /'
echo "TARGET-MEDIUM-OK"
