#!/bin/bash
# The main job (README.md): build srp_target and serve the default backstore
# (a sparse 1 GiB file, /var/tmp/srp_target/lun0.img) on every RDMA device.
#  - a host with an RDMA device: runs the target here (extra arguments go to srp_target);
#  - a host that can load rdma_rxe: sets up soft-RoCE on the default-route interface first;
#  - a host with neither (like the CI machines): runs the target in the QEMU test
#    guest with soft-RoCE, logs the kernel ib_srp initiator in and shows the disk.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
scripts/build-targets.sh srp_target
TARGET=$ROOT/build/srp_target/srp_target

has_rdma() { ls /sys/class/infiniband/* >/dev/null 2>&1; }
if ! has_rdma && [ "$(id -u)" -eq 0 ] && modprobe rdma_rxe 2>/dev/null; then
	netdev=$(ip -o route show default | awk '{print $5; exit}')
	if [ -n "$netdev" ]; then
		echo "run: setting up soft-RoCE: rdma link add rxe0 type rxe netdev $netdev"
		rdma link add rxe0 type rxe netdev "$netdev" || true
	fi
fi
if has_rdma; then
	echo "run: RDMA device(s): $(ls /sys/class/infiniband | tr '\n' ' ')"
	exec "$TARGET" "$@"
fi

echo "run: no RDMA here and rdma_rxe cannot be loaded: running in the QEMU test guest with soft-RoCE"
exec scripts/vm/run-rdma-test.sh scripts/vm/demo-guest.sh "$ROOT" "$ROOT/build" "$@"
