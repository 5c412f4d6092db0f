#!/bin/bash
# The test command (README.md): installs dependencies, builds the normal and
# the ASan+UBSan configurations, and runs every test: unit tests in both, the
# VM tests (real soft-RoCE in a QEMU guest) in the normal build.
# SRP_SKIP_VM=1 skips the VM tests (for quick local runs only; CI runs them).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
JOBS=$(nproc)

cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSRP_WERROR=ON
cmake --build build -j "$JOBS"
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DSRP_WERROR=ON -DSRP_SANITIZE=ON -DSRP_VM_TESTS=OFF
cmake --build build-asan -j "$JOBS"
# A second compiler: clang 19 must build the same code with -Werror.
CXX=clang++-19 cmake -S . -B build-clang -G Ninja -DCMAKE_BUILD_TYPE=Release -DSRP_WERROR=ON -DSRP_VM_TESTS=OFF
cmake --build build-clang -j "$JOBS"

status=0
echo "=== clang 19 Release build: unit and loopback tests ==="
ctest --test-dir build-clang --output-on-failure -j "$JOBS" -LE fuzz || status=1
echo "=== ASan+UBSan build: unit and loopback tests ==="
ctest --test-dir build-asan --output-on-failure -j "$JOBS" || status=1
echo "=== Release build: all tests ==="
if [ "${SRP_SKIP_VM:-0}" = 1 ]; then
	ctest --test-dir build --output-on-failure -j "$JOBS" -LE vm || status=1
else
	# VM tests boot guests of their own; run them one at a time on the two cores.
	ctest --test-dir build --output-on-failure -j "$JOBS" -LE vm || status=1
	ctest --test-dir build --output-on-failure -L vm || status=1
fi
exit $status
