#!/bin/bash
# VM test: nbdkit with nbdkit-srp-plugin.so serving our target's LUN over
# soft-RoCE, attached as /dev/nbd0 by the kernel's NBD client: fio verify,
# ext4 (mkfs, mount, write, umount, fsck clean), and qemu-img convert from the
# export equal (md5) to the LUN's backing file. Then our target is killed
# (SIGKILL) and restarted under a mounted ext4 while a writer fsyncs: the
# writer sees no error, fsck is clean and the files are what was written;
# killed and not restarted, a read is EIO within the plugin's reconnect
# timeout, and after a restart the export serves again. Then the same export
# against the kernel LIO ib_srpt. Each check prints "ok: ..." or "FAIL: ...".
# usage: nbd_plugin.sh <repo root> <build dir>
set -u
source "$1/scripts/vm/guest-lib.sh"
BUILD=$2
PLUGIN=$BUILD/srp_initiator/nbdkit-srp-plugin.so
SIZE_MB=64
LOG=/tmp/target.log
SOCK=/tmp/nbd.sock
fail() { echo "FAIL: $*"; tail -20 $LOG 2>/dev/null; tail -20 /tmp/nbdkit.log 2>/dev/null; exit 1; }
ok() { echo "ok: $*"; }
[ -f "$PLUGIN" ] || fail "no $PLUGIN (build with nbdkit-plugin-dev installed)"
for tool in nbdkit nbd-client qemu-img fio mkfs.ext4 fsck.ext4; do
	command -v $tool >/dev/null || fail "$tool is not installed (scripts/install-deps.sh)"
done

NBDKIT_PID=
# In the foreground (-f, as a background job): a daemonised nbdkit sends its
# stderr to /dev/null and its log to syslog, and the plugin's log lines (a
# lost target, a new login) are checked below.
nbdkit_start() {  # id_ext, then extra plugin parameters
	rm -f $SOCK
	nbdkit -f --threads 4 -U $SOCK "$PLUGIN" address="$RDMA_IP" id_ext="$1" channels=4 "${@:2}" > /tmp/nbdkit.log 2>&1 &
	NBDKIT_PID=$!
	for _ in $(seq 100); do [ -S $SOCK ] && break; kill -0 $NBDKIT_PID 2>/dev/null || break; sleep 0.1; done
	[ -S $SOCK ] && kill -0 $NBDKIT_PID 2>/dev/null || fail "nbdkit did not start"
}
nbdkit_stop() { kill "$NBDKIT_PID" 2>/dev/null; wait "$NBDKIT_PID" 2>/dev/null; }

attach() {
	nbd-client -unix $SOCK /dev/nbd0 -b 4096 > /tmp/nbd-client.log 2>&1 || { cat /tmp/nbd-client.log; fail "nbd-client"; }
	for _ in $(seq 50); do [ "$(cat /sys/block/nbd0/size)" != 0 ] && break; sleep 0.1; done
	[ "$(($(cat /sys/block/nbd0/size) * 512))" -eq $((SIZE_MB << 20)) ] || fail "/dev/nbd0 has the wrong size"
}
detach() { nbd-client -d /dev/nbd0 > /dev/null 2>&1; }

exercise() {  # name, backing file
	attach
	ok "$1: /dev/nbd0 attached ($SIZE_MB MiB)"
	fio --name=verify --filename=/dev/nbd0 --rw=randwrite --bs=4k --size=4M --direct=1 --ioengine=libaio \
		--iodepth=16 --numjobs=1 --verify=crc32c --do_verify=1 --eta=never --output=/tmp/fio.out || { cat /tmp/fio.out; fail "$1: fio verify"; }
	grep -q "err= 0" /tmp/fio.out || { cat /tmp/fio.out; fail "$1: fio reported errors"; }
	ok "$1: fio randwrite 4k QD16 with crc32c verify"
	mkfs.ext4 -q -F /dev/nbd0 || fail "$1: mkfs.ext4"
	mkdir -p /tmp/mnt && mount /dev/nbd0 /tmp/mnt || { dmesg | tail -15; fsck.ext4 -fn /dev/nbd0 2>&1 | head -20; fail "$1: mount"; }
	dd if=/dev/urandom of=/tmp/mnt/file bs=1M count=8 status=none && sync || fail "$1: write a file"
	md5_in=$(md5sum < /tmp/mnt/file)
	umount /tmp/mnt || fail "$1: umount"
	fsck.ext4 -fn /dev/nbd0 > /tmp/fsck.out 2>&1 || { cat /tmp/fsck.out; fail "$1: fsck not clean"; }
	mount /dev/nbd0 /tmp/mnt && [ "$(md5sum < /tmp/mnt/file)" = "$md5_in" ] || fail "$1: file differs after remount"
	umount /tmp/mnt
	ok "$1: mkfs.ext4, mount, write 8 MiB, umount, fsck clean, same file after remount"
	detach
	rm -f /tmp/copy.img
	qemu-img convert -f raw -O raw "nbd+unix:///?socket=$SOCK" /tmp/copy.img || fail "$1: qemu-img convert"
	# The backing file read through the page cache: LIO fileio writes through it too.
	[ "$(md5sum < /tmp/copy.img)" = "$(md5sum < "$2")" ] || fail "$1: qemu-img copy differs from the LUN"
	ok "$1: qemu-img convert from the export has the LUN's md5"
}

# Our target, file-backed (its io backstore, O_DIRECT), so what it
# acknowledged survives its death. A restart is the same command line: the
# same LUN file, state directory and listen address.
target_start() {
	local before
	before=$(grep -c "srp_target ready" $LOG)
	$BUILD/srp_target/srp_target --lun path=/tmp/lun0.img --state-dir /tmp/srp_target-state --listen "$RDMA_IP:5555" \
		--pollers 1 --stats-interval 0 >> $LOG 2>&1 &
	PID=$!
	srp_target_wait_ready $LOG $PID "$before" || fail "target did not start"
}
now_ms() { echo $(($(date +%s%N) / 1000000)); }
nbd_io_errors() { dmesg | grep -c "I/O error, dev nbd0"; }

# 256 KiB O_DIRECT writes, each followed by fsync, until /tmp/stop-writer
# exists; /tmp/expect.bin mirrors every write that was acknowledged, and
# /tmp/writer.progress counts them. The first failed write ends it (status 1).
writer() {
	local i=0
	while [ ! -e /tmp/stop-writer ]; do
		dd if=/tmp/src.bin of=/tmp/mnt/during bs=256k count=1 skip=$((i % 64)) seek=$((i % 96)) \
			oflag=direct conv=notrunc,fsync status=none 2>> /tmp/writer.err || return 1
		dd if=/tmp/src.bin of=/tmp/expect.bin bs=256k count=1 skip=$((i % 64)) seek=$((i % 96)) conv=notrunc status=none
		i=$((i + 1))
		echo $i > /tmp/writer.progress
	done
}
progress() { cat /tmp/writer.progress 2>/dev/null || echo 0; }

restart_under_mount() {
	vm_step "our target killed (SIGKILL) and restarted under a mounted ext4 and a writer"
	attach
	mkfs.ext4 -q -F /dev/nbd0 && mount /dev/nbd0 /tmp/mnt || fail "restart: mkfs.ext4, mount"
	dd if=/dev/urandom of=/tmp/mnt/before bs=1M count=4 status=none && sync || fail "restart: write a file"
	local md5_before errors_before
	md5_before=$(md5sum < /tmp/mnt/before)
	errors_before=$(nbd_io_errors)
	ok "restart: ext4 on /dev/nbd0 mounted, 4 MiB written and synced (nbd io_timeout $(cat /sys/block/nbd0/queue/io_timeout) ms)"
	dd if=/dev/urandom of=/tmp/src.bin bs=256k count=64 status=none
	rm -f /tmp/stop-writer /tmp/writer.progress /tmp/writer.err /tmp/expect.bin
	writer &
	local wpid=$! p0 killed ready recovered
	for _ in $(seq 600); do [ "$(progress)" -ge 4 ] && break; kill -0 $wpid 2>/dev/null || break; sleep 0.1; done
	[ "$(progress)" -ge 4 ] || { cat /tmp/writer.err; fail "restart: the writer made no progress"; }
	p0=$(progress)
	killed=$(now_ms)
	kill -KILL $PID
	wait $PID 2>/dev/null
	sleep 2
	kill -0 $wpid 2>/dev/null || { cat /tmp/writer.err; fail "restart: the writer failed while the target was down"; }
	target_start
	ready=$(now_ms)
	ok "restart: srp_target killed under the writer (at write $p0), restarted after $((ready - killed)) ms"
	# Three more writes than at the kill: at least one began after it.
	for _ in $(seq 600); do [ "$(progress)" -gt $((p0 + 3)) ] && break; kill -0 $wpid 2>/dev/null || break; sleep 0.1; done
	recovered=$(now_ms)
	[ "$(progress)" -gt $((p0 + 3)) ] || { cat /tmp/writer.err; fail "restart: the writer did not resume after the restart"; }
	touch /tmp/stop-writer
	wait $wpid || { cat /tmp/writer.err; fail "restart: the writer got an error"; }
	ok "restart: the writer resumed $((recovered - ready)) ms after the target was ready ($((recovered - killed)) ms after the kill), $(progress) writes with fsync, none failed"
	grep ": channel [0-9]* " /tmp/nbdkit.log | sed "s/^/  /"
	grep -q ": channel [0-9]* logged in again after" /tmp/nbdkit.log || fail "restart: nbdkit logged no new login"
	ok "restart: nbdkit logged the lost channel and the new login"
	sync || fail "restart: sync"
	[ "$(nbd_io_errors)" -eq "$errors_before" ] || { dmesg | grep "nbd0" | tail -5; fail "restart: the kernel saw I/O errors on nbd0"; }
	umount /tmp/mnt || fail "restart: umount"
	fsck.ext4 -fn /dev/nbd0 > /tmp/fsck.out 2>&1 || { cat /tmp/fsck.out; fail "restart: fsck not clean"; }
	mount /dev/nbd0 /tmp/mnt || fail "restart: remount"
	[ "$(md5sum < /tmp/mnt/before)" = "$md5_before" ] || fail "restart: the file written before the kill differs"
	[ "$(md5sum < /tmp/mnt/during)" = "$(md5sum < /tmp/expect.bin)" ] || fail "restart: the file written across the kill differs"
	umount /tmp/mnt
	ok "restart: no I/O error in the kernel, umount, fsck clean, both files' md5 as written after remount"
}

# The documented bound: the plugin logs in again for reconnect_timeout_ms
# (20000 by default) after it saw the loss, and one login may take up to
# connect_timeout_ms (5000) more; then the request is EIO.
RECONNECT_MS=20000
CONNECT_MS=5000
target_stays_away() {
	vm_step "our target killed and not restarted: EIO within the reconnect timeout"
	local errors_before start took
	errors_before=$(nbd_io_errors)
	kill -KILL $PID
	wait $PID 2>/dev/null
	start=$(now_ms)
	dd if=/dev/nbd0 of=/dev/null bs=4096 count=1 skip=100 iflag=direct status=none 2> /tmp/dd.err \
		&& fail "bound: a read succeeded with the target gone"
	took=$(($(now_ms) - start))
	grep -q "Input/output error" /tmp/dd.err || { cat /tmp/dd.err; fail "bound: the read failed, but not with EIO"; }
	[ "$took" -ge $RECONNECT_MS ] || fail "bound: EIO after $took ms, before the reconnect timeout ($RECONNECT_MS ms)"
	[ "$took" -le $((RECONNECT_MS + CONNECT_MS)) ] || fail "bound: EIO after $took ms, later than $((RECONNECT_MS + CONNECT_MS)) ms"
	grep "not logged in again" /tmp/nbdkit.log | sed "s/^/  /"
	grep -q "not logged in again within" /tmp/nbdkit.log || fail "bound: nbdkit logged no give-up"
	[ "$(nbd_io_errors)" -gt "$errors_before" ] || fail "bound: the kernel saw no I/O error"
	[ -e /sys/block/nbd0/pid ] || fail "bound: nbd-client let go of /dev/nbd0 after the EIO"
	ok "bound: a read with the target gone is EIO after $took ms (bound $RECONNECT_MS + $CONNECT_MS ms), /dev/nbd0 still attached"
	target_start
	dd if=/dev/nbd0 of=/dev/null bs=1M count=4 iflag=direct status=none || fail "bound: no read after the restart"
	mount /dev/nbd0 /tmp/mnt && [ -s /tmp/mnt/before ] && [ -s /tmp/mnt/during ] || fail "bound: no mount after the restart"
	umount /tmp/mnt
	ok "bound: target restarted, /dev/nbd0 reads and mounts again without re-attaching"
	detach
}

vm_step "soft-RoCE, our target, nbd"
rxe_up || exit 1
modprobe nbd || fail "modprobe nbd"
GUID=$(tr -d : < /sys/class/infiniband/$RDMA_DEV/node_guid)
dd if=/dev/zero of=/tmp/lun0.img bs=1M count=$SIZE_MB status=none
: > $LOG
target_start

vm_step "nbdkit srp plugin against our target"
nbdkit_start "$GUID"
exercise "ours" /tmp/lun0.img
restart_under_mount
target_stays_away
nbdkit_stop
kill -TERM $PID; wait $PID

vm_step "nbdkit srp plugin against the kernel LIO ib_srpt"
dd if=/dev/zero of=/tmp/lio.img bs=1M count=$SIZE_MB status=none
lio_srpt_start /tmp/lio.img $SIZE_MB "$RDMA_IP" || exit 1
nbdkit_start "$LIO_IOC_GUID"
exercise "LIO" /tmp/lio.img
nbdkit_stop
lio_srpt_stop
echo "nbd_plugin: all checks passed"
