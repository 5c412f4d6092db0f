#!/bin/bash
# VM test: nbdkit with nbdkit-srp-plugin.so serving our target's LUN over
# soft-RoCE, attached as /dev/nbd0 by the kernel's NBD client: fio verify,
# ext4 (mkfs, mount, write, umount, fsck clean), and qemu-img convert from the
# export equal (md5) to the LUN's backing file. Then the same export against
# the kernel LIO ib_srpt. Each check prints "ok: ..." or "FAIL: ...".
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

nbdkit_start() {  # id_ext, then extra plugin parameters
	rm -f $SOCK /tmp/nbdkit.pid
	nbdkit --threads 4 -U $SOCK -P /tmp/nbdkit.pid "$PLUGIN" address="$RDMA_IP" id_ext="$1" channels=4 "${@:2}" \
		> /tmp/nbdkit.log 2>&1 || fail "nbdkit did not start"
	for _ in $(seq 100); do [ -S $SOCK ] && break; sleep 0.1; done
	[ -S $SOCK ] || fail "no nbdkit socket"
}
nbdkit_stop() { kill "$(cat /tmp/nbdkit.pid)" 2>/dev/null; sleep 0.5; }

attach() {
	nbd-client -unix $SOCK /dev/nbd0 -b 4096 > /tmp/nbd-client.log 2>&1 || { cat /tmp/nbd-client.log; fail "nbd-client"; }
	for _ in $(seq 50); do [ "$(cat /sys/block/nbd0/size)" != 0 ] && break; sleep 0.1; done
	[ "$(($(cat /sys/block/nbd0/size) * 512))" -eq $((SIZE_MB << 20)) ] || fail "/dev/nbd0 has the wrong size"
}
detach() { nbd-client -d /dev/nbd0 > /dev/null 2>&1; }

exercise() {  # name, backing file (empty: do not compare)
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
	if [ -n "$2" ]; then
		[ "$(md5sum < /tmp/copy.img)" = "$(md5sum < "$2")" ] || fail "$1: qemu-img copy differs from the LUN"
		ok "$1: qemu-img convert from the export has the LUN's md5"
	else
		[ "$(stat -c %s /tmp/copy.img)" -eq $((SIZE_MB << 20)) ] || fail "$1: qemu-img copy has the wrong size"
		ok "$1: qemu-img convert from the export"
	fi
}

vm_step "soft-RoCE, our target, nbd"
rxe_up || exit 1
modprobe nbd || fail "modprobe nbd"
GUID=$(tr -d : < /sys/class/infiniband/$RDMA_DEV/node_guid)
dd if=/dev/zero of=/tmp/lun0.img bs=1M count=$SIZE_MB status=none
$BUILD/srp_target/srp_target --lun path=/tmp/lun0.img --state-dir /tmp/srp_target-state --listen "$RDMA_IP:5555" --pollers 1 --stats-interval 0 > $LOG 2>&1 &
PID=$!
for _ in $(seq 200); do grep -q "srp_target ready" $LOG && break; sleep 0.1; done
grep -q "srp_target ready" $LOG || fail "target did not start"

vm_step "nbdkit srp plugin against our target"
nbdkit_start "$GUID"
exercise "ours" /tmp/lun0.img
nbdkit_stop
kill -TERM $PID; wait $PID

vm_step "nbdkit srp plugin against the kernel LIO ib_srpt"
dd if=/dev/zero of=/tmp/lio.img bs=1M count=$SIZE_MB status=none
lio_srpt_start /tmp/lio.img $SIZE_MB "$RDMA_IP" || exit 1
nbdkit_start "$LIO_IOC_GUID"
exercise "LIO" ""
nbdkit_stop
lio_srpt_stop
echo "nbd_plugin: all checks passed"
