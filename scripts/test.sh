#!/bin/bash
# The test command (README.md): installs dependencies, builds the normal and
# the ASan+UBSan configurations, and runs every test: unit tests in both, the
# VM tests (real soft-RoCE in a QEMU guest) in the normal build, and one VM
# cycle of the ASan build (leaks checked at exit). Also: clang 19
# Release, coverage-guided libFuzzer (build-fuzz, 30 s per target) and
# ThreadSanitizer (build-tsan: the unit and loopback tests, pollers and
# registry threads included).
# SRP_SKIP_VM=1 skips the VM tests (for quick local runs only; CI runs them).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
JOBS=$(nproc)

cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSRP_WERROR=ON
cmake --build build -j "$JOBS"
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DSRP_WERROR=ON -DSRP_SANITIZE=ON -DSRP_VM_TESTS=OFF -DSRP_VM_ASAN=ON
cmake --build build-asan -j "$JOBS"
# A second compiler: clang 19 must build the same code with -Werror.
CXX=clang++-19 cmake -S . -B build-clang -G Ninja -DCMAKE_BUILD_TYPE=Release -DSRP_WERROR=ON -DSRP_VM_TESTS=OFF
cmake --build build-clang -j "$JOBS"
# libFuzzer under ASan+UBSan (clang only): just the fuzz targets.
FUZZ_TARGETS=(fuzz_wire fuzz_engine fuzz_dispatch fuzz_initiator)
CXX=clang++-19 cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSRP_WERROR=ON -DSRP_LIBFUZZER=ON -DSRP_VM_TESTS=OFF
cmake --build build-fuzz -j "$JOBS" --target "${FUZZ_TARGETS[@]}"
# ThreadSanitizer (GCC 12): only what its tests need.
cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSRP_WERROR=ON -DSRP_TSAN=ON -DSRP_VM_TESTS=OFF
cmake --build build-tsan -j "$JOBS" --target unit_tests loopback_tests

status=0
echo "=== clang 19 Release build: unit and loopback tests ==="
ctest --test-dir build-clang --output-on-failure -j "$JOBS" -LE fuzz || status=1
echo "=== libFuzzer (clang 19, ASan+UBSan): each target 30 s from tests/fuzz/corpus ==="
# Each target prints its final line (cov, ft, exec/s) and stats; a crash prints its report.
if ctest --test-dir build-fuzz -V -j "$JOBS" -L fuzz >build-fuzz/ctest.log 2>&1; then
	grep -E '^[0-9]+: (#|stat::)|tests passed' build-fuzz/ctest.log
else
	status=1
	cat build-fuzz/ctest.log
fi
echo "=== ThreadSanitizer build: unit and loopback tests ==="
# All of both labels, not a subset: the threads live in the loopback tests
# (a real poller thread serving the CLI, 1,000 login/logout cycles) and in the
# registry stress test; the rest costs ~10 s more. No suppressions: none needed.
TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" \
	ctest --test-dir build-tsan --output-on-failure -j "$JOBS" -L 'unit|loopback' || status=1
echo "=== ASan+UBSan build: unit and loopback tests ==="
ctest --test-dir build-asan --output-on-failure -j "$JOBS" -LE vm || status=1
echo "=== Release build: all tests ==="
if [ "${SRP_SKIP_VM:-0}" = 1 ]; then
	ctest --test-dir build --output-on-failure -j "$JOBS" -LE vm || status=1
else
	# VM tests boot guests of their own; run them one at a time on the two cores.
	ctest --test-dir build --output-on-failure -j "$JOBS" -LE vm || status=1
	ctest --test-dir build --output-on-failure -L vm || status=1
	echo "=== ASan+UBSan build: one VM cycle (login, I/O, logout, leak check at exit) ==="
	ctest --test-dir build-asan --output-on-failure -L vm || status=1
fi
exit $status
