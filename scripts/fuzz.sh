#!/bin/bash
# Long coverage-guided fuzzing: usage scripts/fuzz.sh [seconds per target, default 3600] [target...]
# Builds the libFuzzer configuration (build-fuzz: clang 19, ASan+UBSan), runs
# each target from the repository's seed corpus plus a work corpus kept in
# build-fuzz/corpus/<target> (so a later run resumes), then merges the inputs
# that add coverage into tests/fuzz/corpus/<target> (-merge=1): review and
# commit them. A crash stops its target and leaves the input in
# build-fuzz/artifacts/; make it a regression (see tests/fuzz/corpus/README).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-3600}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(fuzz_wire fuzz_engine fuzz_dispatch fuzz_initiator)
scripts/install-deps.sh
CXX=clang++-19 cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSRP_WERROR=ON \
	-DSRP_LIBFUZZER=ON -DSRP_VM_TESTS=OFF >/dev/null
cmake --build build-fuzz -j "$(nproc)" --target "${targets[@]}"
mkdir -p build-fuzz/artifacts
status=0
for t in "${targets[@]}"; do
	work=build-fuzz/corpus/$t
	mkdir -p "$work"
	echo "=== $t: $seconds s ==="
	build-fuzz/tests/$t -max_total_time="$seconds" -print_final_stats=1 -rss_limit_mb=2048 -timeout=10 \
		-artifact_prefix="build-fuzz/artifacts/$t-" "$work" "tests/fuzz/corpus/$t" || status=1
	before=$(ls "tests/fuzz/corpus/$t" | wc -l)
	build-fuzz/tests/$t -merge=1 -rss_limit_mb=2048 -timeout=10 "tests/fuzz/corpus/$t" "$work" 2>/dev/null
	echo "$t: corpus $before -> $(ls "tests/fuzz/corpus/$t" | wc -l) files"
done
exit $status
