#!/bin/bash
# run-in-vm.sh [--rwdir DIR]... <guest-script> [args...]
#
# Boots a stock Debian kernel (linux-image-amd64) under QEMU with the HOST root
# filesystem shared read-only over virtio-9p (+ tmpfs overlay for writes), runs
# <guest-script> as root inside the guest (cwd = current dir if it exists
# there), prints its stdout/stderr, and exits with its exit status.
# The guest kernel's modules (rdma_rxe, ib_srpt, ...) are modprobe-able.
#
# Environment knobs:
#   VMX_CACHE=/var/tmp/srp-vm         kernel + initramfs cache (kernel fetched with apt-get download if missing)
#   VMX_KDIR=$VMX_CACHE/kernel  dpkg -x'ed linux-image-*-amd64
#   VMX_ACCEL=auto|kvm|tcg|icount  auto: kvm if /dev/kvm is usable and not the PVM flavour, else tcg;
#                               icount: deterministic timing, 1 vCPU (VMX_ICOUNT=shift=3,sleep=off)
#   VMX_CPUS=2  VMX_MEM=2G      guest size
#   VMX_TIMEOUT=600             seconds before qemu is killed (exit 124)
#   VMX_READY_TIMEOUT=          seconds the guest has to report ready (guest-lib's vm_ready, which
#                               rxe_up calls); a guest that has not by then is killed and booted
#                               again, once, within what is left of VMX_TIMEOUT. Empty: no deadline.
#                               For guests that hang in the kernel before the test starts (seen
#                               once: a hung cryptomgr_test while rdma_rxe loaded crc32).
#   VMX_CONSOLE=0|1             1: print the guest kernel log (ttyS0) after the run
#   VMX_KEEP=0|1                1: keep the run dir (console.log, files the guest wrote to $VMX_OUT)
#   VMX_APPEND=                 extra kernel command line
#   VMX_PVH=1|0                 1: boot the uncompressed vmlinux via PVH (faster); 0: vmlinuz via SeaBIOS
#   VMX_MITIGATIONS=mitigations=off   set to e.g. "mitigations=auto" to keep the defaults
# Inside the guest: VMX_GUEST=1, VMX_OUT=/run/vmx (read-write, lands in the host run dir).
# --rwdir DIR: share host DIR read-write at the same path (e.g. a build dir).
# --kernel-version: fetch the guest kernel if needed, print its version, exit
# (for builds of out-of-tree modules, scripts/bench/scst-modules.sh).
# Exit status: the script's; 124 timeout; 125 vmx/qemu failure.
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${VMX_CACHE:-/var/tmp/srp-vm}
KDIR=${VMX_KDIR:-$CACHE/kernel}
CPUS=${VMX_CPUS:-2}
MEM=${VMX_MEM:-2G}
TMO=${VMX_TIMEOUT:-600}
ACCEL=${VMX_ACCEL:-auto}

RW=()
KVER_ONLY=0
while [ $# -gt 0 ]; do
	case "$1" in
	--rwdir) RW+=("$(realpath "$2")"); shift 2 ;;
	--rwdir=*) RW+=("$(realpath "${1#--rwdir=}")"); shift ;;
	--kernel-version) KVER_ONLY=1; shift ;;
	--) shift; break ;;
	-h|--help) sed -n '2,/^set /p' "$0" | grep '^#'; exit 0 ;;
	*) break ;;
	esac
done
if [ $KVER_ONLY = 0 ]; then
	[ $# -ge 1 ] || { echo "usage: $0 [--rwdir DIR]... <guest-script> [args...]" >&2; exit 125; }
	SCRIPT=$1; shift
	[ -r "$SCRIPT" ] || { echo "vmx: cannot read $SCRIPT" >&2; exit 125; }
fi
[ $KVER_ONLY = 1 ] || command -v qemu-system-x86_64 >/dev/null || { echo "vmx: apt-get install qemu-system-x86 busybox-static" >&2; exit 125; }

mkdir -p "$CACHE"
# 1. kernel: the linux-image-*-amd64 that linux-image-amd64 depends on
if ! ls "$KDIR"/boot/vmlinuz-* >/dev/null 2>&1; then
	(
		set -e
		find_pkg() { apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-/{print $2; exit}'; }
		pkg=$(find_pkg)
		[ -n "$pkg" ] || { apt-get update -q >&2; pkg=$(find_pkg); }
		[ -n "$pkg" ] || { echo "vmx: cannot find the kernel package behind linux-image-amd64" >&2; exit 1; }
		echo "vmx: fetching $pkg" >&2
		cd "$CACHE" && rm -f "$pkg"_*.deb && apt-get download -q "$pkg" >&2
		mkdir -p "$KDIR" && dpkg -x "$CACHE/$pkg"_*.deb "$KDIR"
		depmod -b "$KDIR" "$(ls "$KDIR/lib/modules" | head -1)"
	) || exit 125
fi
VMLINUZ=$(ls "$KDIR"/boot/vmlinuz-* | head -1)
KVER=${VMLINUZ##*/vmlinuz-}
[ -e "$KDIR/lib/modules/$KVER/modules.dep.bin" ] || depmod -b "$KDIR" "$KVER"
if [ $KVER_ONLY = 1 ]; then echo "$KVER"; exit 0; fi
# PVH direct boot of the uncompressed ELF vmlinux (CONFIG_PVH=y): skips the
# real-mode setup and the in-guest xz/zstd decompression (slow under TCG)
BOOTIMG=$VMLINUZ
if [ "${VMX_PVH:-1}" = 1 ]; then
	VMLINUX=$CACHE/vmlinux-$KVER
	if [ ! -s "$VMLINUX" ]; then
		python3 - "$VMLINUZ" "$VMLINUX.tmp" <<'PY' && mv "$VMLINUX.tmp" "$VMLINUX"
import sys, lzma, zlib
d = open(sys.argv[1], 'rb').read()
for magic, dec in ((b'\xfd7zXZ\x00', lambda b: lzma.LZMADecompressor().decompress(b)),
                   (b'\x1f\x8b\x08', lambda b: zlib.decompressobj(31).decompress(b))):
    i = d.find(magic)
    while i >= 0:
        try:
            out = dec(d[i:])
            if out[:4] == b'\x7fELF':
                open(sys.argv[2], 'wb').write(out); sys.exit(0)
        except Exception:
            pass
        i = d.find(magic, i + 1)
sys.exit(1)
PY
	fi
	[ -s "$VMLINUX" ] && BOOTIMG=$VMLINUX
fi
# 2. initramfs (rebuilt when the builder or init changes)
INITRD=$CACHE/initramfs-$KVER.cpio.gz
if [ ! -s "$INITRD" ] || [ "$HERE/vmx-init.sh" -nt "$INITRD" ] || [ "$HERE/mkinitramfs-vmx.sh" -nt "$INITRD" ]; then
	"$HERE/mkinitramfs-vmx.sh" "$KDIR" "$INITRD.tmp" && mv "$INITRD.tmp" "$INITRD" || exit 125
fi
# 3. accelerator
if [ "$ACCEL" = auto ]; then
	ACCEL=tcg
	# kvm_pvm (PVM: KVM without VT-x, as in Firecracker-style sandboxes) cannot run a stock kernel
	if [ -r /dev/kvm ] && [ -w /dev/kvm ] && [ ! -d /sys/module/kvm_pvm ]; then ACCEL=kvm; fi
fi
case "$ACCEL" in
kvm) ACC=(-accel kvm -cpu host) ;;
tcg) ACC=(-accel tcg,thread=multi,tb-size=256 -cpu max) ;;
# icount: deterministic virtual time (1 guest instruction = 2^shift ns); needs VMX_CPUS=1
# (the 6.1 kernel hangs at boot with -smp 2). Spread <= 1% between runs: use it to compare targets.
icount) ACC=(-accel tcg,thread=single,tb-size=256 -cpu max -icount "${VMX_ICOUNT:-shift=3,sleep=off}"); CPUS=1 ;;
*) echo "vmx: bad VMX_ACCEL=$ACCEL" >&2; exit 125 ;;
esac

RUNDIR=$(mktemp -d "$CACHE/run.XXXXXX")
cleanup() { [ "${VMX_KEEP:-0}" = 1 ] && echo "vmx: run dir kept: $RUNDIR" >&2 || rm -rf "$RUNDIR"; }
trap cleanup EXIT
cp "$SCRIPT" "$RUNDIR/script"; chmod 755 "$RUNDIR/script"
{
	echo '#!/bin/bash'
	printf 'exec /run/vmx/script'; for a in "$@"; do printf ' %q' "$a"; done; echo
} > "$RUNDIR/job"
chmod 755 "$RUNDIR/job"

# mitigations=off: a throw-away test VM; PTI's CR3 switches are costly under TCG
APPEND="console=ttyS0 panic=-1 loglevel=6 ${VMX_MITIGATIONS:-mitigations=off} vmx.kdir=$KDIR vmx.cwd=$PWD"
FS=(-virtfs "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap"
    -virtfs "local,path=$RUNDIR,mount_tag=vmxrun,security_model=none,multidevs=remap")
i=0
for d in "${RW[@]}"; do
	FS+=(-virtfs "local,path=$d,mount_tag=rw$i,security_model=none,multidevs=remap")
	APPEND+=" vmx.rw=rw$i:$d"; i=$((i+1))
done
APPEND+=" ${VMX_APPEND:-}"

# One boot: stdout of the guest script = ttyS1 = our stdout; kernel log =
# ttyS0 = console.log. Sets qrc (qemu's status, 124/137 on timeout) and
# boot_hung (1 when the ready deadline passed without the guest's ready file).
boot_guest() {
	local tmo=$1
	rm -f "$RUNDIR/ready" "$RUNDIR/exit-status" "$RUNDIR/qemu.pid" "$RUNDIR/boot-hung"
	timeout --foreground -k 5 "$tmo" qemu-system-x86_64 -nodefaults -no-user-config \
		-machine q35 "${ACC[@]}" -smp "$CPUS" -m "$MEM" \
		-display none -monitor none -no-reboot -pidfile "$RUNDIR/qemu.pid" \
		-kernel "$BOOTIMG" -initrd "$INITRD" -append "$APPEND" \
		-serial "file:$RUNDIR/console.log" -chardev stdio,id=out,signal=off -serial chardev:out \
		"${FS[@]}" \
		-netdev user,id=n0 -device virtio-net-pci,netdev=n0,romfile= \
		< /dev/null &
	local qemu_job=$! watcher=
	if [ -n "$READY_TMO" ]; then
		(
			deadline=$((SECONDS + READY_TMO))
			while [ $SECONDS -lt $deadline ]; do
				[ -e "$RUNDIR/ready" ] && exit 0
				kill -0 "$qemu_job" 2>/dev/null || exit 0
				sleep 1
			done
			# Ended meanwhile (its own status stands), or ready after all.
			[ -e "$RUNDIR/ready" ] && exit 0
			kill -0 "$qemu_job" 2>/dev/null || exit 0
			touch "$RUNDIR/boot-hung"
			# timeout passes SIGTERM on to qemu; SIGKILL if it lingers.
			kill "$qemu_job" 2>/dev/null || exit 0
			for _ in $(seq 10); do kill -0 "$qemu_job" 2>/dev/null || exit 0; sleep 1; done
			kill -KILL "$(cat "$RUNDIR/qemu.pid" 2>/dev/null)" 2>/dev/null
		) &
		watcher=$!
	fi
	wait "$qemu_job"; qrc=$?
	[ -z "$watcher" ] || { kill "$watcher" 2>/dev/null; wait "$watcher" 2>/dev/null; }
	boot_hung=0; [ -e "$RUNDIR/boot-hung" ] && boot_hung=1
}

READY_TMO=${VMX_READY_TIMEOUT:-}
case "$TMO:$READY_TMO" in
*[!0-9:]*) echo "vmx: VMX_TIMEOUT ($TMO) and VMX_READY_TIMEOUT ($READY_TMO) are whole seconds" >&2; exit 125 ;;
esac
started=$SECONDS
boot_guest "$TMO"
if [ "$boot_hung" = 1 ] && [ ! -s "$RUNDIR/exit-status" ]; then
	left=$((TMO - (SECONDS - started)))
	echo "vmx: guest not ready after ${READY_TMO}s (hung before the test began); console tail:" >&2
	tail -12 "$RUNDIR/console.log" >&2
	# A second boot needs at least the ready deadline again, and then time to run.
	if [ "$left" -le $((2 * READY_TMO)) ]; then
		echo "vmx: only ${left}s left of VMX_TIMEOUT=${TMO}s: not booting again" >&2; exit 124
	fi
	echo "vmx: booting the guest again (once), ${left}s left of VMX_TIMEOUT" >&2
	mv "$RUNDIR/console.log" "$RUNDIR/console-hung.log"
	boot_guest "$left"
	if [ "$boot_hung" = 1 ] && [ ! -s "$RUNDIR/exit-status" ]; then
		echo "vmx: guest not ready after ${READY_TMO}s again; giving up; console tail:" >&2
		tail -20 "$RUNDIR/console.log" >&2; exit 124
	fi
fi
if [ "${VMX_CONSOLE:-0}" = 1 ]; then echo "----- guest console -----" >&2; cat "$RUNDIR/console.log" >&2; fi
if [ $qrc -eq 124 ] || [ $qrc -eq 137 ]; then
	echo "vmx: TIMEOUT after $((SECONDS - started))s (VMX_TIMEOUT=${TMO}s); console tail:" >&2; tail -20 "$RUNDIR/console.log" >&2; exit 124
fi
if [ ! -s "$RUNDIR/exit-status" ]; then
	echo "vmx: guest gave no exit status (qemu rc=$qrc); console tail:" >&2; tail -30 "$RUNDIR/console.log" >&2; exit 125
fi
exit "$(cat "$RUNDIR/exit-status")"
