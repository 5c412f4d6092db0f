#!/bin/bash
# VM test: srp_target hardening, proved with the kernel ib_srp initiator over
# soft-RoCE: task management across channels during I/O, the newer SCSI
# commands through sg3_utils, LU identity, and resource limits (channel
# limits, login/logout cycles without leaks).
# Each check prints "ok: ..." or fails with "FAIL: ..." and the target log tail.
# usage: target_hardening.sh <repo root> <build dir> [section...]
#   sections: tmf scsi identity limits cycles (default: all)
# ib_srp opens the ch_count=4 channels on any guest, but blk-mq sends I/O
# only on the channels of hardware queues that have CPUs: boot the guest
# with VMX_CPUS=4 (ctest does) to have I/O in flight on all four.
set -u
source "$1/scripts/vm/guest-lib.sh"
TARGET=$2/srp_target/srp_target
shift 2
SECTIONS=${*:-tmf scsi identity limits cycles}
SIZE_MB=64
FILE=/tmp/lun0.img
LOG=/tmp/target.log
PORT=5555
T0=$(date +%s)
fail() { echo "FAIL: $*"; echo "--- target log"; tail -40 $LOG; echo "--- dmesg"; dmesg | tail -25; exit 1; }
ok() { echo "ok: $* [uptime $(cut -d" " -f1 /proc/uptime)]"; }
info() { echo "info: $*"; }
want() { case " $SECTIONS " in *" $1 "*) return 0 ;; esac; return 1; }

start_target() {  # target options (LUNs included)
	# The log is appended to across restarts: wait for a new "ready" line.
	local before
	before=$(grep -c "srp_target ready" $LOG 2>/dev/null)
	$TARGET --listen "$RDMA_IP:$PORT" --pollers 2 --stats-interval 0 "$@" >> $LOG 2>&1 &
	TARGET_PID=$!
	for _ in $(seq 200); do
		[ "$(grep -c "srp_target ready" $LOG)" -gt "${before:-0}" ] && { LOG_MARK=$(wc -l < $LOG); return 0; }
		kill -0 $TARGET_PID 2>/dev/null || fail "target exited at start"
		sleep 0.1
	done
	fail "target did not start"
}
stop_target() {
	kill -TERM $TARGET_PID; wait $TARGET_PID
	local rc=$?
	[ $rc -eq 0 ] || fail "target exit status $rc after SIGTERM"
}
since_start() { tail -n +$((LOG_MARK + 1)) $LOG; }  # this target run's log after "ready"
login() { DEV=$(srp_login "$GUID" "$GUID" "$RDMA_IP" $PORT "${1:-}") || fail "login ${1:-}"; }
# lun_dev N: the block device of LUN N on the SCSI host of $DEV
lun_dev() {
	local hctl h b
	hctl=$(basename "$(readlink -f /sys/block/${DEV#/dev/}/device)")
	h=${hctl%:*}
	for _ in $(seq 50); do
		for b in /sys/class/scsi_device/$h:$1/device/block/*; do
			[ -e "$b" ] && [ -b /dev/${b##*/} ] && { echo /dev/${b##*/}; return 0; }
		done
		sleep 0.2
	done
	return 1
}
# rd LBA COUNT: COUNT blocks from LBA with O_DIRECT in one read (512-byte
# reads cost a round trip each, slow under TCG)
rd() { dd if=$DEV bs=$(($2 * 512)) skip=$(($1 * 512)) count=1 iflag=direct,skip_bytes status=none; }
sg_of() { ls /sys/block/${1#/dev/}/device/scsi_generic/ | sed 's|^|/dev/|'; }
fio_verify() {  # name, extra fio args
	local name=$1; shift
	fio --name="$name" --filename=$DEV --rw=randwrite --bsrange=4k-256k --size=16M --iodepth=32 --ioengine=libaio \
		--direct=1 --verify=crc32c --verify_fatal=1 --do_verify=1 "$@" > /tmp/fio-$name.log 2>&1 ||
		{ tail -20 /tmp/fio-$name.log; fail "fio verify $name"; }
	ok "fio randwrite 4k-256k verify=crc32c ($name)"
}
# expect_sense FILE KEY ASC-TEXT WHAT: sg3_utils decodes the sense data of a
# CHECK CONDITION; its tables map each text to exactly one ASC/ASCQ pair.
expect_sense() {
	grep -qi "Sense key: $2" "$1" && grep -qi "Additional sense: $3[[:space:]]*$" "$1" ||
		{ cat "$1"; fail "$4: expected sense key $2, additional sense $3"; }
}

vm_step "soft-RoCE, ib_srp, sg"
rxe_up || exit 1
GUID=$(tr -d : < /sys/class/infiniband/$RDMA_DEV/node_guid)
modprobe sg || fail "modprobe sg"
srp_initiator_load || exit 1
NCPU=$(nproc)
CH_WANT=4  # ib_srp honours an explicit ch_count
JOBS=$(( NCPU < 4 ? NCPU : 4 ))  # one fio job per CPU: each CPU's hardware queue is one channel
info "guest has $NCPU CPU(s): fio I/O on $JOBS of the $CH_WANT channels"
rm -f $FILE; fallocate -l ${SIZE_MB}M $FILE || dd if=/dev/zero of=$FILE bs=1M count=$SIZE_MB status=none

if want tmf; then
vm_step "task management: LUN RESET during deep-queue I/O on $CH_WANT channels"
start_target --lun path=$FILE,serial=VMHARD0001 --state-dir /tmp/state-tmf
login ch_count=4
ch=$(since_start | grep -c "login accepted")
[ "$ch" -eq "$CH_WANT" ] || fail "ch_count=4 opened $ch channel(s), expected $CH_WANT"
SG=$(sg_of $DEV)
[ -c "$SG" ] || fail "no sg device for $DEV"
info "LUN 0 is $DEV ($SG) over $ch channels"
# A LUN RESET aborts the commands in flight without a response (SAM-5); the
# ioctl path of ib_srp (srp_reset_device) does not complete them locally, so
# they wait for the SCSI command timeout, then ABORT TASK and a retry. 10 s
# instead of 30 s keeps the test short.
echo 10 > /sys/block/${DEV#/dev/}/device/timeout
# One job per CPU (blk-mq maps each CPU to its own ib_srp channel), each on its own 16 MiB.
fio --name=tmf --filename=$DEV --rw=randwrite --bsrange=4k-128k --size=16M --offset_increment=16M \
	--numjobs=$JOBS --cpus_allowed=0-$((NCPU - 1)) --cpus_allowed_policy=split --iodepth=32 --ioengine=libaio \
	--direct=1 --verify=crc32c --verify_fatal=1 --do_verify=1 --group_reporting > /tmp/fio-tmf.log 2>&1 &
FIO=$!
# victims on a channel other than the one the LUN RESET arrived on
cross() {
	since_start | awk '/task management 0x08 for LUN/ { tmf = $4 }
		/aborting request .*task management 0x08/ && $4 != tmf { n++ } END { print n + 0 }'
}
resets=0
sleep 1
while kill -0 $FIO 2>/dev/null && [ $resets -lt 8 ]; do
	[ $resets -ge 3 ] && [ "$(cross)" -gt 0 ] && break
	sg_reset --device $SG > /tmp/reset.out 2>&1 || { cat /tmp/reset.out; fail "sg_reset --device $SG"; }
	resets=$((resets + 1))
	sleep 0.7
done
running=0; kill -0 $FIO 2>/dev/null && running=1
wait $FIO || { tail -20 /tmp/fio-tmf.log; fail "fio verify across $resets LUN resets"; }
[ $running -eq 1 ] && [ $resets -ge 3 ] || fail "only $resets LUN reset(s) fell inside the fio run: make the job longer"
tmfs=$(since_start | grep -c "task management 0x08 for LUN 0")
[ "$tmfs" -eq "$resets" ] || fail "$resets sg_reset --device, $tmfs 'task management 0x08' lines"
# per reset: the channel it arrived on and the victims per channel
since_start | awk '/task management 0x08 for LUN/ { if (r) print line; r++; line = "LUN RESET " r " on " substr($4, 2) ": aborted"; next }
	/aborting request .*task management 0x08/ { line = line " " substr($4, 2) } END { if (r) print line }' |
	while read -r l; do info "$(echo "$l" | awk '{ printf "%s %s %s %s %s", $1, $2, $3, $4, $5; delete n; for (i = 7; i <= NF; i++) n[$i]++; for (k in n) printf " %s:%d", k, n[k]; if (NF < 7) printf " none" }')"; done
aborted=$(since_start | grep -c "aborting request .*(task management 0x08)")
other=$(cross)
info "$aborted request(s) in flight were aborted, $other of them on a channel other than the reset's; $(dmesg | grep -c 'SRP abort called') later timed out in the kernel and were aborted (ABORT TASK) and retried"
[ "$other" -gt 0 ] || [ "$JOBS" -lt 2 ] || fail "no LUN RESET caught a request in flight on another channel ($resets resets)"
# The kernel's ABORT TASKs for the victims were answered with success: no
# error-handler escalation to a device reset of its own or a host reset.
[ "$(dmesg | grep -c 'reset_device called')" -eq "$resets" ] && ! dmesg | grep -q "reset_host called" ||
	{ dmesg | grep -iE "srp|reset" | tail -20; fail "the SCSI error handler escalated after the LUN resets"; }
ok "fio verify ($JOBS jobs, write phase under $resets LUN resets from sg_reset --device) passed; each reset logged as task management 0x08; victims aborted on other channels"
fio_verify after_reset --randseed=4242 --size=32M
ok "fresh verify pass over the first 32 MiB after the resets: the target keeps serving"
for kind in target bus; do
	# ib_srp has device and host reset handlers only; -N: do not escalate to a host reset.
	sg_reset -N --$kind $SG > /tmp/reset.out 2>&1
	info "sg_reset -N --$kind: exit $? ($(tr '\n' ' ' < /tmp/reset.out | cut -c1-120))"
done
# A host reset (what sg_reset --target escalates to without -N) makes
# ib_srp reconnect every channel while I/O is in flight.
fio --name=hostreset --filename=$DEV --rw=randwrite --bsrange=4k-128k --size=16M --iodepth=32 --ioengine=libaio \
	--direct=1 --verify=crc32c --verify_fatal=1 --do_verify=1 > /tmp/fio-hostreset.log 2>&1 &
FIO=$!
logins=$(since_start | grep -c "login accepted")
sleep 1
sg_reset --host $SG > /tmp/reset.out 2>&1; rc=$?
kill -0 $FIO 2>/dev/null || fail "fio ended before the host reset"
wait $FIO || { tail -20 /tmp/fio-hostreset.log; fail "fio verify across a host reset (ib_srp reconnect)"; }
new_logins=$(( $(since_start | grep -c "login accepted") - logins ))
info "sg_reset --host: exit $rc; ib_srp logged in $new_logins channel(s) again; $(dmesg | grep -c 'reset_host called') host reset(s) in dmesg"
[ $rc -eq 0 ] && [ "$new_logins" -eq "$CH_WANT" ] || { cat /tmp/reset.out; fail "host reset: exit $rc, $new_logins new channel logins, expected $CH_WANT"; }
ok "host reset during fio verify: all $CH_WANT channels reconnected, verify passed"

# LUN RESET affects every I_T nexus (SAM-5): I/O of a second session
# (initiator_ext 2) is aborted by a reset sent through the first.
hosts=$(ls /sys/class/scsi_host)
mark=$(wc -l < $LOG)
echo "id_ext=$GUID,ioc_guid=$GUID,initiator_ext=0000000000000002,dest=$RDMA_IP:$PORT,ch_count=2" \
	> /sys/class/infiniband_srp/srp-$RDMA_DEV-1/add_target || fail "second session login"
DEVB=
for _ in $(seq 100); do
	for h in /sys/class/scsi_host/*; do
		echo "$hosts" | grep -qx "${h##*/}" && continue
		for b in "$h"/device/target*/*/block/*; do [ -b "/dev/${b##*/}" ] && DEVB=/dev/${b##*/}; done
	done
	[ -n "$DEVB" ] && break
	sleep 0.2
done
[ -n "$DEVB" ] || fail "no block device for the second session"
echo 10 > /sys/block/${DEVB#/dev/}/device/timeout
# the second session's nexus, as the target names it ("[nK.cJ ...]")
NB=$(tail -n +$((mark + 1)) $LOG | grep "login accepted.*initiator 0000000000000002" | head -1 | sed 's/^[^[]*\[\(n[0-9]*\)\..*/\1/')
[ -n "$NB" ] || fail "no login of initiator 0000000000000002... in the target log"
fio --name=nexus2 --filename=$DEVB --rw=randwrite --bsrange=32k-256k --size=32M --offset_increment=32M --numjobs=2 \
	--iodepth=32 --ioengine=libaio --direct=1 --verify=crc32c --verify_fatal=1 --do_verify=1 > /tmp/fio-nexus2.log 2>&1 &
FIO=$!
n2=0; resets2=0
sleep 1
while kill -0 $FIO 2>/dev/null && [ $resets2 -lt 10 ] && [ "$n2" -eq 0 ]; do
	sg_reset --device $SG > /tmp/reset.out 2>&1 || { cat /tmp/reset.out; fail "sg_reset --device $SG (first session)"; }
	resets2=$((resets2 + 1))
	sleep 0.4
	n2=$(tail -n +$((mark + 1)) $LOG | grep -c "\[$NB\.c[0-9]* .*aborting request .*(task management 0x08)")
done
wait $FIO || { tail -20 /tmp/fio-nexus2.log; fail "fio verify on the second session across LUN resets from the first"; }
tmf_from=$(tail -n +$((mark + 1)) $LOG | grep "task management 0x08 for LUN" | sed 's/^[^[]*\[\(n[0-9]*\)\..*/\1/' | sort -u | tr '\n' ' ')
info "$resets2 LUN reset(s) through $SG ($DEV, nexus ${tmf_from% }) aborted $n2 request(s) of nexus $NB ($DEVB)"
[ "${tmf_from% }" != "$NB" ] || fail "the LUN resets arrived on the second session's nexus $NB"
[ "$n2" -gt 0 ] || fail "no LUN RESET from the first nexus aborted a request of nexus $NB ($resets2 resets)"
ok "LUN RESET from one I_T nexus aborts the other nexus's commands; fio verify on the other nexus passed"
srp_logout
stop_target
fi

if want scsi; then
vm_step "SCSI commands through sg3_utils on a thin LUN (bounce buffers)"
# Sparse backstore: data only at 8 MiB..9 MiB (LBA 16384..18431).
rm -f $FILE; truncate -s ${SIZE_MB}M $FILE
dd if=/dev/urandom of=$FILE bs=1M seek=8 count=1 conv=notrunc status=none
start_target --lun path=$FILE,serial=VMHARD0002 --state-dir /tmp/state-scsi --register-backstore-max 0
login
SG=$(sg_of $DEV)
sg_readcap -l $DEV | grep -q "lbpme=1" || { sg_readcap -l $DEV; fail "the unregistered file LUN is not thin (lbpme)"; }

# REPORT SUPPORTED OPERATION CODES, all commands (with the usage masks)
sg_opcodes -m $DEV > /tmp/opc.out 2>&1 || { cat /tmp/opc.out; fail "sg_opcodes"; }
# one line per command: OP[,SA] and its CDB usage data
awk '/^ [0-9a-f][0-9a-f] /{ id = ($3 ~ /,/) ? $1 : $1 "," $2; next }
     /cdb usage:/{ sub(/.*cdb usage: */, ""); sub(/ *$/, ""); print id " " $0 }' /tmp/opc.out > /tmp/opc.list
# (bash pattern tests, not a grep per command: every process start is slow under TCG)
mapfile -t OPC < /tmp/opc.list
usage_of() { local l; for l in "${OPC[@]}"; do [ "${l%% *}" = "$1" ] && { echo "${l#* }"; return 0; }; done; return 1; }
for want_op in 2e 2f 34 41 42 8e 8f 90 93 ae af 9e,10 9e,12 a3,c; do
	usage_of $want_op > /dev/null || { cat /tmp/opc.out; fail "sg_opcodes lacks $want_op"; }
done
for l in "${OPC[@]}"; do  # ORWRITE(16), WRITE ATOMIC(16), 32-byte CDBs
	case "$l" in 8b\ *|9c\ *|7f*) cat /tmp/opc.out; fail "sg_opcodes lists ${l%% *}" ;; esac
done
[ "$(usage_of af)" = "af e6 ff ff ff ff ff ff ff ff 00 04" ] || fail "VERIFY(12) usage: $(usage_of af)"
[ "$(usage_of 93)" = "93 f9 ff ff ff ff ff ff ff ff ff ff ff ff 00 04" ] ||
	fail "WRITE SAME(16) usage on a thin LUN (UNMAP, NDOB): $(usage_of 93)"
info "sg_opcodes: ${#OPC[@]} commands listed"
# one-command form: exact CDB usage data
opc_one() {  # OP[,SA] expected-usage-data
	sg_opcodes --opcode=$1 $DEV > /tmp/opc1.out 2>&1 || { cat /tmp/opc1.out; fail "sg_opcodes --opcode=$1"; }
	local out usage
	out=$(< /tmp/opc1.out)
	[[ $out == *"supported [conforming to SCSI standard]"* ]] || { cat /tmp/opc1.out; fail "sg_opcodes --opcode=$1: not supported"; }
	usage=${out#*Usage data: }; usage=${usage%%$'\n'*}; usage=${usage%"${usage##*[! ]}"}
	[ "$usage" = "$2" ] || { cat /tmp/opc1.out; fail "sg_opcodes --opcode=$1: usage '$usage', expected '$2'"; }
}
opc_one 0x28 "28 e0 ff ff ff ff 00 ff ff 04"
opc_one 0x12 "12 03 ff ff ff 04"
opc_one 0x2f "2f e6 ff ff ff ff 00 ff ff 04"
opc_one 0x90 "90 00 ff ff ff ff ff ff ff ff ff ff ff ff 00 04"
opc_one 0x41 "41 f8 ff ff ff ff 00 ff ff 04"
opc_one 0x9e,0x12 "9e 12 ff ff ff ff ff ff ff ff ff ff ff ff 00 04"
sg_opcodes --opcode=0x8b $DEV > /tmp/opc1.out 2>&1
grep -q "NOT supported" /tmp/opc1.out || { cat /tmp/opc1.out; fail "sg_opcodes --opcode=0x8b (ORWRITE) not reported unsupported"; }
ok "sg_opcodes: new commands listed, ORWRITE/WRITE ATOMIC not; one-command usage data of 28h, 12h, 2Fh, 90h, 41h, 9Eh/12h exact; 8Bh NOT supported"

# WRITE SAME: one 512-byte pattern block over 64 blocks, read back with O_DIRECT
repeat() {  # FILE COUNT OUT: FILE COUNT times (doubling: few processes)
	cp $1 $3
	local k
	for ((k = 1; k < $2; k *= 2)); do cat $3 $3 > $3.t; mv $3.t $3; done
	truncate -s $(( $2 * $(stat -c %s $1) )) $3
}
dd if=/dev/urandom of=/tmp/pat bs=512 count=1 status=none
repeat /tmp/pat 64 /tmp/pat64; repeat /tmp/pat 100 /tmp/pat100
sg_write_same --10 --in=/tmp/pat --lba=4096 --num=64 $DEV > /tmp/ws.out 2>&1 || { cat /tmp/ws.out; fail "sg_write_same (10)"; }
cmp /tmp/pat64 <(rd 4096 64) || fail "WRITE SAME(10) pattern not read back"
sg_write_same --16 --in=/tmp/pat --lba=6000 --num=100 $DEV > /tmp/ws.out 2>&1 || { cat /tmp/ws.out; fail "sg_write_same (16)"; }
cmp /tmp/pat100 <(rd 6000 100) ||
	fail "WRITE SAME(16) pattern not read back"
ok "WRITE SAME (10) and (16) replicate the block (read back with O_DIRECT)"
# Data-Out of other than one block: refused before anything is written
before=$(rd 8000 8 | md5sum)
sg_write_same -v --10 --in=/tmp/pat --xferlen=256 --lba=8000 --num=8 $DEV > /tmp/ws.out 2>&1; rc=$?
[ $rc -eq 5 ] || { cat /tmp/ws.out; fail "WRITE SAME with a 256-byte Data-Out: exit $rc, expected 5"; }
expect_sense /tmp/ws.out "Illegal Request" "Invalid field in command information unit" "WRITE SAME with a 256-byte Data-Out"
head -c 1024 /dev/urandom > /tmp/pat2
sg_write_same -v --10 --in=/tmp/pat2 --xferlen=1024 --lba=8000 --num=8 $DEV > /tmp/ws.out 2>&1; rc=$?
[ $rc -eq 5 ] || { cat /tmp/ws.out; fail "WRITE SAME with a 1024-byte Data-Out: exit $rc, expected 5"; }
expect_sense /tmp/ws.out "Illegal Request" "Invalid field in command information unit" "WRITE SAME with a 1024-byte Data-Out"
[ "$(rd 8000 8 | md5sum)" = "$before" ] || fail "a refused WRITE SAME changed the blocks"
ok "WRITE SAME with a 256- or 1024-byte Data-Out: ILLEGAL REQUEST, INVALID FIELD IN COMMAND IU (0E/03), blocks unchanged"

# VERIFY
for v in "" "--16"; do
	sg_verify $v --lba=4096 --count=64 $DEV > /tmp/v.out 2>&1 || { cat /tmp/v.out; fail "sg_verify $v BYTCHK=0"; }
done
sg_verify --ndo=32768 --in=/tmp/pat64 --lba=4096 --count=64 $DEV > /tmp/v.out 2>&1 || { cat /tmp/v.out; fail "sg_verify BYTCHK=1 equal data"; }
sg_verify --16 --ebytchk=3 --ndo=512 --in=/tmp/pat --lba=6000 --count=100 $DEV > /tmp/v.out 2>&1 || { cat /tmp/v.out; fail "sg_verify BYTCHK=3 equal data"; }
cp /tmp/pat64 /tmp/pat64x; printf '\x5a' | dd of=/tmp/pat64x bs=1 seek=1000 conv=notrunc status=none
cmp -s /tmp/pat64 /tmp/pat64x && printf '\xa5' | dd of=/tmp/pat64x bs=1 seek=1000 conv=notrunc status=none
sg_verify -v --ndo=32768 --in=/tmp/pat64x --lba=4096 --count=64 $DEV > /tmp/v.out 2>&1; rc=$?
[ $rc -eq 14 ] || { cat /tmp/v.out; fail "sg_verify BYTCHK=1 with one byte changed: exit $rc, expected 14 (miscompare)"; }
expect_sense /tmp/v.out "Miscompare" "Miscompare during verify operation" "VERIFY miscompare"
grep -qi "info.*0x3e8\b\|info.*0x0*3e8\b" /tmp/v.out || { cat /tmp/v.out; fail "VERIFY miscompare: INFORMATION is not offset 1000 (0x3e8)"; }
sg_verify -v --16 --ebytchk=3 --ndo=512 --in=/tmp/pat --lba=4000 --count=200 $DEV > /tmp/v.out 2>&1; rc=$?
[ $rc -eq 14 ] || { cat /tmp/v.out; fail "sg_verify BYTCHK=3 over other data: exit $rc, expected 14"; }
sg_verify -v --ebytchk=2 --ndo=512 --in=/tmp/pat --lba=4096 --count=1 $DEV > /tmp/v.out 2>&1; rc=$?
[ $rc -eq 5 ] || { cat /tmp/v.out; fail "sg_verify BYTCHK=2: exit $rc, expected 5"; }
expect_sense /tmp/v.out "Illegal Request" "Invalid field in cdb" "VERIFY BYTCHK=2"
last=$(( (SIZE_MB << 11) - 1 ))
sg_verify -v --16 --lba=$last --count=2 $DEV > /tmp/v.out 2>&1; rc=$?
expect_sense /tmp/v.out "Illegal Request" "Logical block address out of range" "VERIFY beyond the last LBA (exit $rc)"
ok "VERIFY (10)/(16) BYTCHK=0, BYTCHK=1 and 3 match; miscompare is MISCOMPARE 1D/00 with INFORMATION 1000; BYTCHK=2 24/00; past the end 21/00"

# PRE-FETCH (sg_seek --pre-fetch): CONDITION MET
for v in "" "--10"; do
	sg_seek -v --pre-fetch $v --lba=100 --num-blocks=64 $DEV > /tmp/pf.out 2>&1; rc=$?
	# sg3_utils exit status 25: SG_LIB_CAT_CONDITION_MET (GOOD would be 0)
	[ $rc -eq 25 ] || { cat /tmp/pf.out; fail "PRE-FETCH $v: exit $rc, expected 25 (CONDITION MET)"; }
done
sg_seek -v --pre-fetch --lba=$((last + 1)) --num-blocks=1 $DEV > /tmp/pf.out 2>&1
expect_sense /tmp/pf.out "Illegal Request" "Logical block address out of range" "PRE-FETCH beyond the end"
ok "PRE-FETCH (16)/(10): CONDITION MET; beyond the end 21/00"

# GET LBA STATUS on the sparse file, starting in the middle (the kernel's
# partition scan touched the first and last blocks)
# "[n] LBA: 0x... blocks: N status" lines -> "LBA BLOCKS STATUS;..."
lba_status() {
	sg_get_lba_status --maxlen=1024 --lba=$1 $DEV > /tmp/lbas.out 2>&1 || { cat /tmp/lbas.out; fail "sg_get_lba_status --lba=$1"; }
	sed -n 's/^\[[0-9]*\] LBA: 0x0*\([0-9a-f]*\) *blocks: *\([0-9]*\) *\([a-z]*\).*/\1 \2 \3/p' /tmp/lbas.out | head -${2:-3} | tr '\n' ';'
}
got=$(lba_status 8192)
exp="2000 8192 deallocated;4000 2048 mapped;4800 "
case "$got" in
"$exp"*" deallocated;") ;;
*) cat /tmp/lbas.out; fail "GET LBA STATUS at 8192: '$got', expected '${exp}... deallocated;'" ;;
esac
info "GET LBA STATUS from 8192: $got"
# WRITE SAME with UNMAP and a zero block deallocates; the data extent is gone
sg_write_same --16 --unmap --in=/dev/zero --xferlen=512 --lba=16384 --num=2048 $DEV > /tmp/ws.out 2>&1 || { cat /tmp/ws.out; fail "WRITE SAME UNMAP"; }
got2=$(lba_status 8192 1)
case "$got2" in
"2000 "*" deallocated;") [ "$(echo "$got2" | cut -d' ' -f2)" -ge $((18432 - 8192)) ] || fail "GET LBA STATUS after WRITE SAME UNMAP: '$got2'" ;;
*) cat /tmp/lbas.out; fail "GET LBA STATUS after WRITE SAME UNMAP: '$got2'" ;;
esac
[ "$(rd 16384 2048 | tr -d '\0' | wc -c)" -eq 0 ] || fail "unmapped blocks not zero"
ok "GET LBA STATUS: hole/data/hole of the sparse file exact; WRITE SAME UNMAP of zeros deallocates (now '$got2')"

# ORWRITE (16) and WRITE ATOMIC (16): not implemented
for cdb in "8b 00 00 00 00 00 00 00 10 00 00 00 00 01 00 00" "9c 00 00 00 00 00 00 00 10 00 00 00 00 00 00 01"; do
	sg_raw -v -s 512 -i /tmp/pat $SG $cdb > /tmp/raw.out 2>&1
	expect_sense /tmp/raw.out "Illegal Request" "Invalid command operation code" "opcode ${cdb%% *}"
done
ok "ORWRITE(16) and WRITE ATOMIC(16): ILLEGAL REQUEST, INVALID COMMAND OPERATION CODE (20/00)"

# VPD 0x83 NAA and 0x80 serial as the target logged them
naa=$(grep "LUN 0: $FILE" $LOG | tail -1 | sed 's/.*NAA 0x\([0-9a-f]*\).*/\1/')
sg_vpd -p di $DEV > /tmp/di.out 2>&1
grep -A1 "designator type: NAA" /tmp/di.out | grep -qi "0x$naa" || { cat /tmp/di.out; fail "VPD 0x83 lacks NAA 0x$naa"; }
sg_vpd -p sn $DEV | grep -q "Unit serial number: VMHARD0002" || fail "VPD 0x80"
ok "VPD 0x83 shows NAA 0x$naa (as logged), 0x80 serial VMHARD0002"
srp_logout
stop_target
fi

if want identity; then
vm_step "two anonymous LUNs: distinct serials and NAA designators"
start_target --lun path=anonymous,size=16M --lun path=anonymous,size=16M,lun=1 --state-dir /tmp/state-anon
login
D0=$(lun_dev 0) && D1=$(lun_dev 1) || fail "LUN 0 and LUN 1 block devices"
for n in 0 1; do
	d=$(eval echo \$D$n)
	sg_vpd -p sn $d > /tmp/sn$n.out 2>&1 || fail "sg_vpd -p sn LUN $n"
	sg_vpd -p di $d > /tmp/di$n.out 2>&1 || fail "sg_vpd -p di LUN $n"
	sn=$(sed -n 's/.*Unit serial number: *//p' /tmp/sn$n.out)
	naa=$(grep -A1 "designator type: NAA" /tmp/di$n.out | sed -n 's/^ *0x\([0-9a-f]*\).*/\1/p' | head -1)
	logged=$(grep "LUN $n: anonymous memory" $LOG | tail -1)
	[ -n "$sn" ] && echo "$logged" | grep -q "serial $sn, NAA 0x$naa" || { cat /tmp/sn$n.out /tmp/di$n.out; echo "$logged"; fail "LUN $n identity ($sn, $naa) differs from the log"; }
	eval SN$n=\$sn NAA$n=\$naa
	info "LUN $n ($d): serial $sn, NAA 0x$naa"
done
[ "$SN0" != "$SN1" ] || fail "both anonymous LUNs have serial $SN0"
[ "$NAA0" != "$NAA1" ] || fail "both anonymous LUNs have NAA $NAA0"
sed -n '/Addressed logical unit/,/Target port/p' /tmp/di0.out > /tmp/id0; sed -n '/Addressed logical unit/,/Target port/p' /tmp/di1.out > /tmp/id1
cmp -s /tmp/id0 /tmp/id1 && fail "the logical unit designators of LUN 0 and LUN 1 are identical"
ok "anonymous LUNs 0 and 1: serials $SN0 / $SN1, NAA $NAA0 / $NAA1 differ and match the log"
srp_logout
stop_target
fi

if want limits; then
second_login() {  # another I_T nexus (initiator_ext 2) from the same address
	echo "id_ext=$GUID,ioc_guid=$GUID,initiator_ext=0000000000000002,dest=$RDMA_IP:$PORT,ch_count=4" \
		> /sys/class/infiniband_srp/srp-$RDMA_DEV-1/add_target 2>/tmp/add.err
}
for limit in "max-channels $CH_WANT" "max-channels-per-address 2"; do
	vm_step "--$limit: a second session is refused while the first keeps working"
	start_target --lun path=$FILE,serial=VMHARD0003 --state-dir /tmp/state-lim --${limit% *} ${limit#* }
	login ch_count=4
	ch=$(since_start | grep -c "login accepted")
	exp=$CH_WANT; [ "${limit% *}" = max-channels-per-address ] && exp=2
	[ "$ch" -eq "$exp" ] || fail "--$limit: first session has $ch channel(s), expected $exp"
	fio --name=lim --filename=$DEV --rw=randwrite --bsrange=4k-128k --size=24M --iodepth=16 --ioengine=libaio \
		--direct=1 --verify=crc32c --verify_fatal=1 --do_verify=1 > /tmp/fio-lim.log 2>&1 &
	FIO=$!
	sleep 1
	rejects=$(dmesg | grep -c "REJECTED, reason 0x00010001")
	if second_login; then fail "--$limit: a second session logged in"; fi
	info "second add_target refused: $(cat /tmp/add.err | tr '\n' ' ')"
	[ "$(dmesg | grep -c "REJECTED, reason 0x00010001")" -gt "$rejects" ] || fail "the kernel logged no login reject with reason 0x00010001"
	info "kernel: $(dmesg | grep 'REJECTED, reason 0x00010001' | tail -1 | sed 's/^\[[^]]*\] //')"
	since_start | grep -q "rejected with reason 0x00010001 (.*): .*--$limit is reached\|rejected with reason 0x00010001 (.*): .*(--$limit)" ||
		since_start | grep -q "rejected with reason 0x00010001 .*--$limit" || fail "no reject naming --$limit"
	info "$(since_start | grep 'rejected with reason' | tail -1 | sed 's/^.*login from/login from/')"
	wait $FIO || { tail -20 /tmp/fio-lim.log; fail "fio on the first session under --$limit"; }
	ok "--$limit: $ch channel(s) for the first session, a second session rejected with 0x00010001 naming --${limit% *}, fio verify on the first passed"
	srp_logout
	stop_target
done
fi

if want cycles; then
vm_step "login/logout cycles: no descriptor or memory growth"
start_target --lun path=$FILE,serial=VMHARD0004 --state-dir /tmp/state-cyc
rss() { awk '/VmRSS/{print $2}' /proc/$TARGET_PID/status; }
for _ in 1 2 3; do login ch_count=2; srp_logout > /dev/null; done  # warm-up: first-login allocations, malloc arenas
sleep 0.5
fd0=$(ls /proc/$TARGET_PID/fd | wc -l); rss0=$(rss)
n=0; start=$(date +%s); series=""
while [ $n -lt 200 ] && [ $(( $(date +%s) - start )) -lt 60 ]; do
	DEV=$(srp_login "$GUID" "$GUID" "$RDMA_IP" $PORT ch_count=2 2>/dev/null) || fail "login in cycle $n"
	srp_logout > /dev/null
	n=$((n + 1))
	series+=" $(rss)"
done
info "VmRSS (kB) after each cycle:$series"
secs=$(( $(date +%s) - start ))
for _ in $(seq 50); do [ "$(since_start | grep -c 'channel closed')" -ge "$(since_start | grep -c 'login accepted')" ] && break; sleep 0.1; done
sleep 0.5
fd1=$(ls /proc/$TARGET_PID/fd | wc -l); rss1=$(rss)
logins=$(since_start | grep -c 'login accepted'); closed=$(since_start | grep -c 'channel closed')
info "$n login/logout cycles (ch_count=2: $logins channel logins, $closed closed) in ${secs}s$([ $n -lt 200 ] && echo "; the 60 s budget ran out before 200 cycles")"
info "open fds: $fd0 -> $fd1"
info "VmRSS: $rss0 kB -> $rss1 kB"
[ "$logins" -eq "$closed" ] || fail "$logins channel logins but $closed channels closed"
[ "$fd1" -eq "$fd0" ] || fail "open descriptors grew from $fd0 to $fd1 over $n cycles"
# A ch_count=2 session allocates about 20 MiB of channel buffers (two x 8 MiB
# bounce + receive ring + tables); malloc keeps some of it (RSS steps of one
# channel's buffers seen, then flat). Growth of a session per cycle would be
# hundreds of MiB; less than one session's worth is allowed.
[ $((rss1 - rss0)) -le 16384 ] || fail "VmRSS grew by $((rss1 - rss0)) kB over $n cycles"
[ $n -ge 10 ] || fail "only $n cycles in ${secs}s"
login
cmp <(dd if=$DEV bs=1M count=4 iflag=direct status=none) <(dd if=$FILE bs=1M count=4 status=none) || fail "read after the cycles"
srp_logout
ok "$n login/logout cycles: fds flat ($fd0 -> $fd1), VmRSS $rss0 -> $rss1 kB, every channel closed, the target still serves"
stop_target
fi

grep -q "signal 15: shutting down" $LOG || fail "no shutdown line"
# Warnings other than the provoked login rejects, and any error, are shown
grep -E " (warn|error|critical) " $LOG | grep -v "rejected with reason 0x00010001" | cut -d' ' -f3- | sort | uniq -c | head -20 |
	while read -r l; do info "target log: $l"; done
! grep -qE " (error|critical) " $LOG || fail "the target logged errors"
info "test time $(( $(date +%s) - T0 )) s in the guest"
echo "TARGET-HARDENING-OK"
