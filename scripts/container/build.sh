#!/bin/bash
# build.sh [--archive FILE] [--tag TAG]: builds the srp image from the
# Containerfile with podman (docker when podman is missing and a docker
# daemon answers). Prints the image tag on the last line.
#   --archive FILE   also save the image to FILE (docker-archive), and reuse
#                    FILE instead of building when its content hash matches
#   --tag TAG        default localhost/srp:latest (also tagged localhost/srp:<hash>)
# The cache key is a SHA-256 over the Containerfile, this script and every
# file the build context admits (.dockerignore): same sources, same key.
# No registry needed: when the Debian base image (docker.io/library/debian:
# bookworm) is not present locally it is made from Debian packages with
# mmdebstrap and tagged under that name; SRP_BASE=pull pulls it instead.
# The Containerfile is the one a user builds anywhere.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BASE=docker.io/library/debian:bookworm
ARCHIVE= TAG=localhost/srp:latest
while [ $# -gt 0 ]; do
	case "$1" in
	--archive) ARCHIVE=$2; shift 2 ;;
	--tag) TAG=$2; shift 2 ;;
	*) echo "usage: $0 [--archive FILE] [--tag TAG]" >&2; exit 2 ;;
	esac
done
log() { echo "container-build: $*" >&2; }

if command -v podman >/dev/null; then
	TOOL=podman
elif command -v docker >/dev/null && docker info >/dev/null 2>&1; then
	TOOL=docker
else
	log "neither podman nor a running docker found (apt-get install podman)"; exit 1
fi

# The build context as .dockerignore admits it: "*" then "!path" lines.
cd "$ROOT"
mapfile -t admitted < <(sed -n 's/^!//p' .dockerignore)
HASH=$( { sha256sum Containerfile .dockerignore scripts/container/build.sh
	find "${admitted[@]}" -type f -print0 | sort -z | xargs -0 sha256sum; } | sha256sum | cut -c1-16)
HASH_TAG=localhost/srp:$HASH
if [ -n "$ARCHIVE" ] && [ -s "$ARCHIVE" ] && [ "$(cat "$ARCHIVE.hash" 2>/dev/null)" = "$HASH" ]; then
	log "cached: $ARCHIVE matches content hash $HASH"
	echo "$HASH_TAG"; exit 0
fi

if ! $TOOL image inspect "$BASE" >/dev/null 2>&1; then
	if [ "${SRP_BASE:-mmdebstrap}" = pull ]; then
		$TOOL pull "$BASE"
	else
		command -v mmdebstrap >/dev/null || { log "mmdebstrap missing (apt-get install mmdebstrap), or SRP_BASE=pull"; exit 1; }
		log "$BASE not present: making it from Debian packages (mmdebstrap --variant=minbase bookworm)"
		tmp=$(mktemp -d)
		trap 'rm -rf "$tmp"' EXIT
		t0=$SECONDS
		# The merged-usr hook lays out merged /usr itself, as the official
		# image does; otherwise the usrmerge package drags in perl (46 MB).
		mmdebstrap --quiet --variant=minbase --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
			--aptopt='APT::Install-Recommends "false"' bookworm "$tmp/rootfs.tar" >&2
		$TOOL import --change 'CMD ["bash"]' "$tmp/rootfs.tar" "$BASE" >/dev/null
		rm -f "$tmp/rootfs.tar"
		log "base image made in $((SECONDS - t0)) s"
	fi
fi

args=(build --network host -t "$TAG" -t "$HASH_TAG" -f Containerfile)
# podman writes OCI images by default, and OCI has no HEALTHCHECK.
[ "$TOOL" = podman ] && args+=(--format docker)
# Where the OCI runtime cannot set up a container (e.g. inside another
# container without CAP_SYS_RESOURCE: crun fails on setrlimit), podman can
# still run the build steps with chroot isolation.
if [ "$TOOL" = podman ] && ! podman run --rm --network host "$BASE" true >/dev/null 2>&1; then
	log "podman cannot start containers here; building with --isolation chroot"
	args+=(--isolation chroot)
fi
t0=$SECONDS
$TOOL "${args[@]}" . >&2
log "built $TAG ($HASH_TAG) in $((SECONDS - t0)) s"
# Earlier builds' tags and their untagged build stages (about 0.8 GB each)
# would pile up with every source change; the archive is the cache kept.
old=$($TOOL images --format '{{.Repository}}:{{.Tag}}' | grep '^localhost/srp:' | grep -vx -e "$HASH_TAG" -e "$TAG" || true)
[ -z "$old" ] || $TOOL rmi -f $old >/dev/null
$TOOL image prune -f >/dev/null
if [ -n "$ARCHIVE" ]; then
	mkdir -p "$(dirname "$ARCHIVE")"
	rm -f "$ARCHIVE" "$ARCHIVE.hash"
	$TOOL save -o "$ARCHIVE.tmp" "$HASH_TAG" >&2
	mv "$ARCHIVE.tmp" "$ARCHIVE"
	echo "$HASH" > "$ARCHIVE.hash"
	log "saved $ARCHIVE ($(du -m "$ARCHIVE" | cut -f1) MiB)"
fi
echo "$HASH_TAG"
