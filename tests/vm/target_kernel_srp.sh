#!/bin/bash
# VM test: the kernel ib_srp initiator against our srp_target over soft-RoCE.
# One boot serves every check; each prints "ok: ..." or fails with "FAIL: ...".
# usage: target_kernel_srp.sh <repo root> <build dir>
set -u
source "$1/scripts/vm/guest-lib.sh"
TARGET=$2/srp_target/srp_target
SIZE_MB=64
# A tmpfs file: the memory backstore kind (mapped, registered, zero copy).
SHM=/tmp/shm
FILE=$SHM/lun0.img
LOG=/tmp/target.log
PORT=5555
fail() { echo "FAIL: $*"; echo "--- target log"; tail -40 $LOG; dmesg | tail -20; exit 1; }
ok() { echo "ok: $*"; }

start_target() {  # extra options
	# The log is appended to across restarts: wait for a new "ready" line.
	local before
	before=$(grep -c "srp_target ready" $LOG 2>/dev/null)
	$TARGET --lun path=$FILE,serial=VMTEST0001 --state-dir /tmp/srp_target-state --listen "$RDMA_IP:$PORT" --pollers 2 --stats-interval 0 "$@" >> $LOG 2>&1 &
	TARGET_PID=$!
	srp_target_wait_ready $LOG $TARGET_PID "${before:-0}" || fail "target did not start"
}
stop_target() {
	kill -TERM $TARGET_PID; wait $TARGET_PID
	local rc=$?
	[ $rc -eq 0 ] || fail "target exit status $rc after SIGTERM"
}
stats() { srp_target_stats $LOG $TARGET_PID; }
login() { DEV=$(srp_login "$GUID" "$GUID" "$RDMA_IP" $PORT "${1:-}") || fail "login ${1:-}"; }
fio_verify() {  # name, extra fio args
	local name=$1; shift
	fio --name="$name" --filename=$DEV --rw=randwrite --bsrange=512-1M --size=24M --iodepth=16 --ioengine=libaio \
		--direct=1 --verify=crc32c --verify_fatal=1 --do_verify=1 "$@" > /tmp/fio-$name.log 2>&1 ||
		{ tail -20 /tmp/fio-$name.log; fail "fio verify $name"; }
	ok "fio randwrite 512B-1MiB verify=crc32c ($name)"
}

vm_step "soft-RoCE and target"
rxe_up || exit 1
mkdir -p $SHM && mount -t tmpfs -o size=256m tmpfs $SHM || fail "tmpfs for the backstore"
GUID=$(tr -d : < /sys/class/infiniband/$RDMA_DEV/node_guid)
dd if=/dev/urandom of=$FILE bs=1M count=$SIZE_MB status=none
start_target
grep -q "echo id_ext=$GUID,ioc_guid=$GUID,dest=$RDMA_IP:$PORT > /sys/class/infiniband_srp/srp-$RDMA_DEV-1/add_target" $LOG ||
	fail "the start-up log lacks the add_target line"
ok "start-up log prints the add_target line"

vm_step "login: vendor, serial, size"
srp_initiator_load || exit 1
login
blk=${DEV#/dev/}
[ "$(cat /sys/block/$blk/device/vendor | tr -d ' ')" = SRPTGT ] || fail "vendor"
[ "$(blockdev --getsize64 $DEV)" -eq $((SIZE_MB << 20)) ] || fail "size $(blockdev --getsize64 $DEV)"
sg_vpd -p sn $DEV | grep -q VMTEST0001 || fail "serial"
ok "LUN $DEV: vendor SRPTGT, serial VMTEST0001, $SIZE_MB MiB"

vm_step "whole LUN read through SRP matches the backing file"
[ "$(dd if=$DEV bs=1M iflag=direct status=none | md5sum)" = "$(md5sum < $FILE)" ] || fail "whole-LUN read"
ok "whole-LUN read matches"

vm_step "fio verify, default login (ib_srp chooses the channel count)"
fio_verify default

vm_step "sg3_utils"
sg_inq $DEV | grep -q "Vendor identification: SRPTGT" || fail "sg_inq"
sg_vpd -p di $DEV | grep -q "designator type: NAA" || { sg_vpd -p di $DEV; fail "sg_vpd 0x83"; }
sg_vpd -p bl $DEV | grep -q "Maximum transfer length: 16384" || { sg_vpd -p bl $DEV; fail "sg_vpd 0xb0"; }
# The backstore is registered for zero-copy RDMA (pinned): it is thick, so
# UNMAP is not offered (a hole punch would detach the pinned pages).
sg_vpd -p lbpv $DEV | grep -q "Unmap command supported (LBPU): 0" || { sg_vpd -p lbpv $DEV; fail "sg_vpd 0xb2"; }
sg_readcap -l $DEV | grep -q "Last LBA=$(( (SIZE_MB << 11) - 1 ))" || { sg_readcap -l $DEV; fail "sg_readcap"; }
sg_readcap -l $DEV | grep -q "Logical block provisioning: lbpme=0" || fail "sg_readcap lbpme"
sg_luns $DEV | grep -q "    0000000000000000" || { sg_luns $DEV; fail "sg_luns"; }
sg_sync $DEV || fail "sg_sync"
sg_unmap --lba=2048 --num=16 $DEV > /tmp/unmap.out 2>&1
rc=$?  # sg3_utils exit status 9: invalid opcode (ILLEGAL REQUEST, INVALID COMMAND OPERATION CODE)
[ $rc -eq 9 ] || { cat /tmp/unmap.out; fail "sg_unmap on a thick LUN: exit status $rc, expected 9"; }
ok "sg_inq, sg_vpd 0x83/0xb0/0xb2, sg_readcap -l, sg_luns, sg_sync, sg_unmap refused on the pinned LUN"

vm_step "logout and login again with ch_count=2"
srp_logout
login ch_count=2
[ "$(grep -c 'login accepted' $LOG)" -ge 3 ] || fail "second login not seen"
fio_verify ch_count2
srp_logout

vm_step "immediate data off, then on"
srp_initiator_load use_imm_data=0 || exit 1
before=$(stats | sed 's/.*immediate \([0-9]*\).*/\1/')
login
fio_verify imm_off --bsrange=512-8k
after=$(stats | sed 's/.*immediate \([0-9]*\).*/\1/')
[ "$after" = "$before" ] || fail "immediate data used although ib_srp use_imm_data=0 ($before -> $after)"
grep "login accepted" $LOG | tail -1 | grep -q "immediate data off" || fail "login granted immediate data unasked"
srp_logout
srp_initiator_load use_imm_data=1 || exit 1
login
fio_verify imm_on --bsrange=512-8k
after2=$(stats | sed 's/.*immediate \([0-9]*\).*/\1/')
[ "$after2" -gt "$after" ] || fail "no immediate data with use_imm_data=1"
ok "immediate commands: $before -> $after (off) -> $after2 (on)"
srp_logout

vm_step "descriptor tables outside the IU: allow_ext_sg=1,cmd_sg_entries=2"
srp_initiator_load never_register=1 indirect_sg_entries=128 || exit 1
before=$(stats | sed 's/.*external tables \([0-9]*\).*/\1/')
login allow_ext_sg=1,cmd_sg_entries=2
fio_verify ext_sg --bsrange=64k-512k
# fio's buffer is usually one transparent huge page, whose pages merge into
# one or two segments: it exercises the login, not the table. 16 pages that
# cannot merge force 16 descriptors, more than the 2 that fit in the IU.
python3 "$1/tests/vm/scattered_io.py" $DEV $((8 * 1024 * 1024)) 16 32 || fail "scattered direct I/O verify"
ok "32 x 64 KiB written and read back from 16 separate pages each"
after=$(stats | sed 's/.*external tables \([0-9]*\).*/\1/')
echo "info: external descriptor tables fetched: $before -> $after"
[ "$after" -ge $((before + 64)) ] || fail "expected at least 64 descriptor tables fetched by RDMA READ, got $((after - before))"
ok "external descriptor tables fetched by RDMA READ"
srp_logout
srp_initiator_load || exit 1

vm_step "bounce buffers (backstore not registered) and ACL"
stop_target
start_target --acl-initiator "fe80000000000000${GUID}" --register-backstore-max 0
login
ok "initiator in the ACL logs in"
fio_verify bounce
[ "$(dd if=$DEV bs=1M iflag=direct status=none | md5sum)" = "$(md5sum < $FILE)" ] || fail "whole-LUN read (bounce)"
sg_vpd -p lbpv $DEV | grep -q "Unmap command supported (LBPU): 1" || { sg_vpd -p lbpv $DEV; fail "sg_vpd 0xb2 thin"; }
sg_unmap --lba=2048 --num=16 $DEV || fail "sg_unmap"
[ "$(dd if=$DEV bs=512 skip=2048 count=16 iflag=direct status=none | tr -d '\0' | wc -c)" -eq 0 ] || fail "unmapped blocks not zero"
[ "$(dd if=$FILE bs=512 skip=2048 count=16 status=none | tr -d '\0' | wc -c)" -eq 0 ] || fail "unmapped blocks not zero in the file"
ok "bounce-buffer data path verified, sg_unmap deallocates on the thin LUN"
srp_logout
pfx_login="id_ext=$GUID,ioc_guid=$GUID,initiator_ext=0000000000000001,dest=$RDMA_IP:$PORT"
if echo "$pfx_login" > /sys/class/infiniband_srp/srp-$RDMA_DEV-1/add_target 2>/dev/null; then
	fail "an initiator outside the ACL logged in"
fi
grep -q "rejected with reason 0x00010000.*not in the ACL" $LOG || fail "no logged reject reason"
ok "initiator 00000000000000015054... rejected: $(grep 'not in the ACL' $LOG | tail -1 | sed 's/.*: initiator/initiator/')"

vm_step "shutdown"
stop_target
grep -q "signal 15: shutting down" $LOG || fail "no shutdown line"
echo "info: $(grep 'stats:' $LOG | tail -1)"
echo "TARGET-KERNEL-SRP-OK"
