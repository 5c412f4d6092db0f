#!/bin/bash
# Installs what the build needs (scripts/install-deps.sh) and builds the
# given targets in build/ (RelWithDebInfo), the tree the main job
# (scripts/run.sh), the benchmarks and the VM tests share.
# usage: scripts/build-targets.sh TARGET...
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc)" --target "$@"
