#!/bin/bash
# Builds SCST's scst.ko, scst_vdisk.ko and ib_srpt.ko out of tree for the
# GUEST kernel (the one scripts/vm/run-in-vm.sh boots), with SCST's own
# Makefiles, and prints the directory holding them (the guest insmods them
# from there, scst_srpt_start in scripts/vm/guest-lib.sh).
# usage: scripts/bench/scst-modules.sh <SCST source tree>
# Cached per kernel version, SCST commit and build mode in
# build/scst-modules/<kver>-<commit>[-dirty-<diff hash>]-<mode>/.
# SCST_BUILD_MODE=perf (default) or release: SCST's README names "make 2perf"
# for controlled performance comparisons (no tracing), 2release for use.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
[ $# -eq 1 ] || { echo "usage: $0 <SCST source tree>" >&2; exit 2; }
SRC=$(realpath "$1")
MODE=${SCST_BUILD_MODE:-perf}
CACHE=${VMX_CACHE:-/var/tmp/srp-vm}
if [ ! -f "$SRC/scst/Makefile" ] || [ ! -f "$SRC/srpt/Makefile" ]; then
	echo "scst-modules: $SRC is not an SCST source tree" >&2; exit 1
fi
KVER=$("$ROOT/scripts/vm/run-in-vm.sh" --kernel-version)

if commit=$(git -C "$SRC" rev-parse --short=12 HEAD 2>/dev/null); then
	if [ -n "$(git -C "$SRC" status --porcelain)" ]; then
		# local changes (untracked files are copied into the build too): key
		# the cache on them, so an edit rebuilds
		commit+=-dirty-$({ git -C "$SRC" diff HEAD; git -C "$SRC" status --porcelain; } | sha1sum | cut -c1-8)
	fi
else  # a release tarball: key on the contents
	commit=tree-$(tar -C "$SRC" --sort=name --mtime=@0 -cf - . | sha1sum | cut -c1-12)
fi
OUT=${SCST_MODULES_DIR:-$ROOT/build/scst-modules}/$KVER-$commit-$MODE
if [ -f "$OUT/ib_srpt.ko" ]; then echo "$OUT"; exit 0; fi

# The guest kernel's headers from Debian, unpacked (not installed): the
# headers package, its -common part and kbuild, all at the same version.
HDR=$CACHE/headers-$KVER
KDIR=$HDR/usr/src/linux-headers-$KVER
if [ ! -f "$HDR/.done" ]; then
	show() { apt-cache show --no-all-versions "linux-headers-$KVER" 2>/dev/null; }
	[ -n "$(show)" ] || apt-get update -q >&2
	ver=$(show | sed -n 's/^Version: //p')
	[ -n "$ver" ] || { echo "scst-modules: no package linux-headers-$KVER in apt (is the cached kernel older than the archive's?)" >&2; exit 1; }
	# kbuild is a ">=" dependency; pin it to the same version
	deps=$(show | sed -n 's/^Depends: //p' | tr ',' '\n' | grep -o 'linux-\(headers-[^ ]*-common\|kbuild-[^ ]*\)' || true)
	[ -n "$deps" ] || { echo "scst-modules: linux-headers-$KVER names no -common or kbuild package" >&2; exit 1; }
	rm -rf "$HDR" && mkdir -p "$HDR/deb"
	pkgs=("linux-headers-$KVER=$ver")
	for p in $deps; do pkgs+=("$p=$ver"); done
	echo "scst-modules: fetching ${pkgs[*]}" >&2
	(cd "$HDR/deb" && apt-get download -q "${pkgs[@]}" >&2)
	for d in "$HDR"/deb/*.deb; do dpkg -x "$d" "$HDR"; done
	# Its Makefile includes the -common one by absolute /usr/src path: point
	# it at the unpacked copy (the scripts/tools symlinks are relative).
	sed -i "s|^include /usr/src/|include $HDR/usr/src/|" "$KDIR/Makefile"
	rm -rf "$HDR/deb"
	touch "$HDR/.done"
fi

# Build in a scratch copy: SCST builds in its source tree (objects and the
# build mode file), and the user's tree stays as it was.
work=$(mktemp -d "${TMPDIR:-/tmp}/scst-build.XXXXXX")
trap 'rm -rf "$work"' EXIT
# (without objects left in the user's tree by an in-tree build)
tar -C "$SRC" --exclude=.git --exclude='*.o' --exclude='*.ko' --exclude='*.mod' --exclude='*.mod.c' --exclude=build_mode -cf - . |
	tar -C "$work" -xf -
log=$work/build.log
echo "scst-modules: building SCST $commit ($MODE) for $KVER (log: $OUT/build.log)" >&2
# (the copy has no .git: GIT_COMMIT names the commit in SCST's load banner)
if ! { make -C "$work" "2$MODE" &&
	make -C "$work" -j "$(nproc)" KDIR="$KDIR" GIT_COMMIT="$commit" scst &&
	make -C "$work" -j "$(nproc)" KDIR="$KDIR" GIT_COMMIT="$commit" srpt; } > "$log" 2>&1; then
	tail -30 "$log" >&2
	echo "scst-modules: build failed, log: $log (kept)" >&2
	trap - EXIT
	exit 1
fi
mkdir -p "$OUT.tmp"
cp "$work/scst/src/scst.ko" "$work/scst/src/dev_handlers/scst_vdisk.ko" "$work/srpt/src/ib_srpt.ko" "$log" "$OUT.tmp/"
rm -rf "$OUT" && mv "$OUT.tmp" "$OUT"
echo "$OUT"
