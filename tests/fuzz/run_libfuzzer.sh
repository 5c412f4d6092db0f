#!/bin/bash
# ctest wrapper for one libFuzzer target: usage <fuzzer> <seed corpus dir> <seconds>
# New inputs go to a scratch directory listed first (libFuzzer writes only
# there); the repository's corpus is read as seeds and never modified. A crash
# leaves its input next to the build (<fuzzer>-crash-<sha1>) and fails the test.
# Prints libFuzzer's last progress line and final stats (execs/s, coverage).
set -uo pipefail
fuzzer=$1 corpus=$2 seconds=$3
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
# -rss_limit_mb/-malloc_limit_mb: a peer-controlled allocation that balloons is a finding too.
"$fuzzer" -max_total_time="$seconds" -print_final_stats=1 -rss_limit_mb=2048 -timeout=10 \
	-artifact_prefix="$PWD/$(basename "$fuzzer")-" "$scratch" "$corpus" >"$scratch.log" 2>&1
status=$?
if [ $status -eq 0 ]; then
	grep -E '^#[0-9]+.*(DONE|pulse|NEW|REDUCE)' "$scratch.log" | tail -1
	grep -E '^stat::' "$scratch.log"
else
	tail -60 "$scratch.log"
fi
rm -f "$scratch.log"
exit $status
