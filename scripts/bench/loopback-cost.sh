#!/bin/bash
# The target's own cost per I/O without rxe (issue 13, part 3), on this host:
# tests/bench/loopback_cost serves a memory LUN from our target's pollers over
# the in-memory loopback fabric to the initiator library in the same process.
# Per configuration: a timed run (IOPS, CPU ns of the poller threads per I/O)
# and a callgrind run of a fixed number of I/Os (instructions inside the
# target's Channel::poll per I/O, split into the loopback fabric's part and
# the rest). Writes build/bench-results/<date>-<commit>-loopback/ (raw JSON
# lines, summary.json, table.md, chart.png) and prints the table.
# A full run takes about a minute and a half.
# usage: scripts/bench/loopback-cost.sh [seconds per timed run, default 1]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${SRP_BUILD_DIR:-$ROOT/build}
SECONDS_PER_RUN=${1:-1}
CG_IOS=${CG_IOS:-2000}
cd "$ROOT"
[ -f "$BUILD/build.ninja" ] || cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD" --target loopback_cost >/dev/null
BIN=$BUILD/tests/loopback_cost
RAW=$(mktemp -d /tmp/loopback-cost.XXXXXX)
trap 'rm -rf "$RAW"' EXIT

# group op bytes channels qd-per-channel pollers initiator-threads
CONFIGS=(
	"io read 4096 1 8 1 1" "io write 4096 1 8 1 1" "io read 131072 1 8 1 1"
	"pollers read 4096 2 32 1 2" "pollers read 4096 2 32 2 2"
	"channels read 4096 1 8 1 1" "channels read 4096 8 8 1 1" "channels read 4096 64 8 1 1"
	"qd read 4096 1 1 1 1" "qd read 4096 1 8 1 1" "qd read 4096 1 32 1 1" "qd read 4096 1 128 1 1"
)
HAVE_CG=1
command -v valgrind >/dev/null && command -v callgrind_annotate >/dev/null || HAVE_CG=0
[ $HAVE_CG = 1 ] || echo "loopback-cost: valgrind not installed, no instruction counts (apt-get install valgrind)" >&2
for c in "${CONFIGS[@]}"; do
	read -r group op bytes channels qd pollers threads <<<"$c"
	args=(--op "$op" --bytes "$bytes" --channels "$channels" --qd "$qd" --pollers "$pollers" --threads "$threads")
	echo "loopback-cost: $group: $op ${bytes}B, $channels channel(s), QD $qd, $pollers poller(s)" >&2
	"$BIN" "${args[@]}" --seconds "$SECONDS_PER_RUN" | sed "s/^{/{\"group\": \"$group\", /" >> "$RAW/timing.jsonl"
	[ $HAVE_CG = 1 ] || continue
	ios=$CG_IOS
	[ "$bytes" -le 8192 ] || ios=$((CG_IOS / 4))  # the copies of large I/Os are slow under valgrind
	out=$RAW/callgrind-$group-$op-$bytes-c$channels-q$qd-p$pollers
	# Only the target's Channel::poll (and what it calls) is counted; the
	# program dumps after its warm-up (.1) and after the measured I/Os (.2).
	valgrind --tool=callgrind --toggle-collect='srp::target::Channel::poll()' --callgrind-out-file="$out.%p" \
		"$BIN" "${args[@]}" --ios "$ios" --warmup-ios 200 > /dev/null 2>"$out.log"
	python3 "$ROOT/scripts/bench/callgrind_split.py" "$out".*.2 --ios "$ios" \
		--config "$group" "$op" "$bytes" "$channels" "$qd" "$pollers" >> "$RAW/callgrind.jsonl"
	rm -f "$out".*[0-9] "$out".*.1
done
# Debian's python3 has python3-matplotlib (a python3 first on PATH may not).
"${PYTHON:-/usr/bin/python3}" "$ROOT/scripts/bench/results.py" loopback "$RAW" "$BUILD/bench-results"
