#!/bin/bash
# Builds every CMake build type with GCC 12 and clang 19 (Debian 12), with
# warnings as errors, to prove that users' and packagers' builds work:
#   scripts/build-matrix.sh [build-root]   (default /tmp/srp-build-matrix)
# Not part of the test command (it takes about 15 minutes on two cores);
# the test command builds RelWithDebInfo and Debug+ASan with GCC and
# Release with clang 19.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
ROOT=${1:-/tmp/srp-build-matrix}
status=0
for compiler in g++ clang++-19; do
	for type in Debug Release RelWithDebInfo MinSizeRel; do
		dir="$ROOT/$compiler-$type"
		if CXX=$compiler cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=$type -DSRP_WERROR=ON -DSRP_VM_TESTS=OFF \
			>/dev/null && cmake --build "$dir" -j "$(nproc)" >"$dir.log" 2>&1; then
			echo "build-matrix: $compiler $type ok"
		else
			echo "build-matrix: $compiler $type FAILED (see $dir.log)"
			status=1
		fi
	done
done
exit $status
