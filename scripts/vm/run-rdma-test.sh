#!/bin/bash
# run-rdma-test.sh <script> [args...]: runs an RDMA test script natively when
# this host has an RDMA device (hardware, or soft-RoCE already set up) and we
# are root; otherwise boots the test guest (run-in-vm.sh) with soft-RoCE.
# Says which it used. SRP_RDMA_MODE=native|vm forces a choice.
# The build directory (SRP_BUILD_DIR, default ./build) is shared read-write.
# A guest that has not brought RDMA up (guest-lib's rxe_up -> vm_ready)
# within VMX_READY_TIMEOUT (default 120 s; boot and rxe take 10-20 s) hung in
# its kernel before the test began: it is booted again, once.
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SCRIPT=$1; shift
mode=${SRP_RDMA_MODE:-}
if [ -z "$mode" ]; then
	mode=vm
	if [ "$(id -u)" -eq 0 ] && ls /sys/class/infiniband/* >/dev/null 2>&1; then mode=native; fi
fi
if [ "$mode" = native ]; then
	echo "rdma-test: using this host's RDMA device(s): $(ls /sys/class/infiniband | tr '\n' ' ')"
	exec bash "$SCRIPT" "$@"
fi
echo "rdma-test: no RDMA device here; running in a QEMU guest (stock Debian kernel, soft-RoCE)"
BUILD=${SRP_BUILD_DIR:-$PWD/build}
mkdir -p "$BUILD"
export VMX_READY_TIMEOUT=${VMX_READY_TIMEOUT-120}
exec "$HERE/run-in-vm.sh" --rwdir "$BUILD" "$SCRIPT" "$@"
