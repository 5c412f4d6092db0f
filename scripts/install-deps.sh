#!/bin/bash
# Installs every Debian 12 package the build, the tests and the VM test bed
# need. Idempotent: runs apt-get only when something is missing.
set -euo pipefail
PACKAGES=(
	# build
	cmake ninja-build g++ pkg-config libibverbs-dev librdmacm-dev
	libboost-program-options-dev libspdlog-dev catch2 uuid-dev clang-19 liburing-dev
	libclang-rt-19-dev  # libFuzzer and the sanitizer runtimes for clang 19 (build-fuzz)
	# VM test bed: QEMU guest with the stock Debian kernel and soft-RoCE
	qemu-system-x86 busybox-static kmod cpio gzip xz-utils python3 iproute2
	python3-matplotlib  # scripts/bench/results.py: the PNG chart of a benchmark run
	rdma-core ibverbs-utils rdmacm-utils ibverbs-providers perftest fio sg3-utils dmsetup e2fsprogs
	# nbdkit plugin and its VM test
	nbdkit nbdkit-plugin-dev nbd-client qemu-utils
	# container image (scripts/container/build.sh: podman build, a Debian base
	# made by mmdebstrap) and its VM test (the guest runs the host's podman)
	podman crun netavark mmdebstrap
)
missing=()
for p in "${PACKAGES[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
echo "install-deps: installing ${missing[*]}" >&2
# Wait for another apt/dpkg to finish instead of failing on its lock.
for _ in $(seq 60); do
	fuser /var/lib/dpkg/lock-frontend >/dev/null 2>&1 || break
	sleep 2
done
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
