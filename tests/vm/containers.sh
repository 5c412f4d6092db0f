#!/bin/bash
# VM test: the container image (Containerfile, scripts/container/build.sh)
# under the guest's podman with soft-RoCE.
#  1. the image loads; it runs as a non-root user and holds no compiler;
#  2. the target in a container on the host network with the rxe device
#     passed in: the kernel ib_srp (outside) logs in and fio verifies, our
#     initiator in a second container runs verify and bench, the health
#     check passes and fails when the target is frozen, `podman stop` ends it
#     within the grace period with exit status 0 (SRP_T_LOGOUT to ib_srp);
#  3. the target in a container with its own network namespace: what the
#     Debian 6.1 kernel allows (README.md, "Containers").
# Each check prints "ok: ..." or fails with "FAIL: ..."; facts that are
# measured but not asserted are "info: ...".
# usage: containers.sh <repo root> <build dir> <image archive>
set -u
source "$1/scripts/vm/guest-lib.sh"
BUILD=$2
ARCHIVE=$3
PORT=5555
S=/tmp/ctr  # podman's storage: its own tmpfs (the guest root is an overlay, no overlay on overlay)
VOL=/tmp/ctr-vol
GRACE_S=20
fail() {
	echo "FAIL: $*"
	for c in tgt tgt-ns tgt-veth; do
		echo "--- podman logs $c"; P logs --tail 30 $c 2>&1
	done
	dmesg | tail -20
	exit 1
}
ok() { echo "ok: $*"; }
# The guest has no systemd to run health checks on a timer; `podman healthcheck run` runs them here.
export DISABLE_HC_SYSTEMD=true
P() { podman --root $S/storage --runroot $S/run --storage-driver overlay --cgroup-manager cgroupfs --events-backend none "$@"; }
DEVICES=(--device /dev/infiniband/uverbs0 --device /dev/infiniband/rdma_cm)
LIMITS=(--cap-add IPC_LOCK --ulimit memlock=-1:-1 --log-driver k8s-file)

vm_step "podman storage on tmpfs, image loaded from $ARCHIVE"
mountpoint -q /sys/fs/cgroup || mount -t cgroup2 none /sys/fs/cgroup || fail "cgroup2 mount"
mkdir -p $S && mount -t tmpfs -o size=1200m tmpfs $S || fail "tmpfs for podman"
[ -s "$ARCHIVE" ] && [ -s "$ARCHIVE.hash" ] || fail "no image archive $ARCHIVE (scripts/container/build.sh --archive)"
IMG=localhost/srp:$(cat "$ARCHIVE.hash")
t0=$SECONDS
P load -q -i "$ARCHIVE" > /tmp/load.out 2>&1 || { cat /tmp/load.out; fail "podman load"; }
P image exists "$IMG" || { cat /tmp/load.out; P images; fail "$IMG not in the loaded archive"; }
ok "podman load: $IMG ($(( $(P image inspect -f '{{.Size}}' "$IMG") >> 20 )) MiB) in $((SECONDS - t0)) s"
P run --rm --network none --entrypoint /bin/sh "$IMG" -c '
	id -un; id -u
	for c in cc gcc g++ c++ clang ld as cmake make ninja; do command -v $c; done
	ls /usr/lib/x86_64-linux-gnu/libibverbs/librxe-rdmav*.so
	ldd /usr/local/bin/srp_target /usr/local/bin/srp_initiator | grep "not found"
	true' > /tmp/img.out 2>&1 || { cat /tmp/img.out; fail "running a shell in the image"; }
[ "$(sed -n 2p /tmp/img.out)" = 5555 ] || { cat /tmp/img.out; fail "the image's user is not uid 5555"; }
grep -qE '/(cc|gcc|g\+\+|c\+\+|clang|ld|as|cmake|make|ninja)$' /tmp/img.out && { cat /tmp/img.out; fail "a build tool in the runtime image"; }
grep -q "not found" /tmp/img.out && { cat /tmp/img.out; fail "a missing shared library"; }
grep -q librxe /tmp/img.out || { cat /tmp/img.out; fail "no rxe provider (ibverbs-providers) in the image"; }
ok "image user $(head -1 /tmp/img.out) (uid 5555), no compiler or build tool, every shared library present, rxe provider $(grep -o 'librxe[^ ]*' /tmp/img.out)"

vm_step "soft-RoCE in the guest, the target in a container on the host network"
rxe_up || fail "rxe"
GUID=$(tr -d : < /sys/class/infiniband/$RDMA_DEV/node_guid)
mkdir -p $VOL && chown 5555:5555 $VOL
# The default seccomp profile leaves io_uring out, and the file LUN on the
# volume is served through io_uring: the target must refuse to start
# without the profile that adds it, and say why.
python3 "$1/scripts/container/seccomp-io-uring.py" > /tmp/seccomp.json || fail "seccomp-io-uring.py"
P run --name tgt-noseccomp --network host "${DEVICES[@]}" "${LIMITS[@]}" -v $VOL:/var/lib/srp_target \
	-e SRP_LUNS="path=/var/lib/srp_target/probe.img,size=1M" "$IMG" --pollers 1 > /tmp/noseccomp.out 2>&1 &&
	{ cat /tmp/noseccomp.out; fail "the target started with io_uring blocked"; }
grep -q "io_uring_queue_init: Function not implemented" /tmp/noseccomp.out || { cat /tmp/noseccomp.out; fail "no io_uring message"; }
P rm tgt-noseccomp > /dev/null; rm -f $VOL/probe.img
ok "under the default seccomp profile the target exits at start: $(grep -o 'io_uring_queue_init.*' /tmp/noseccomp.out)"
SECCOMP=(--security-opt seccomp=/tmp/seccomp.json)  # the target only; the initiator needs no io_uring
# The health check's staleness limit is lowered so the frozen-target check below is quick.
P run -d --name tgt --network host "${DEVICES[@]}" "${LIMITS[@]}" "${SECCOMP[@]}" -v $VOL:/var/lib/srp_target \
	-e SRP_LUNS="path=/var/lib/srp_target/lun0.img,size=64M,serial=CTR0" -e SRP_LISTEN="$RDMA_IP:$PORT" \
	-e SRP_HEALTH_MAX_AGE_S=3 "$IMG" --pollers 1 --stats-interval 0 > /tmp/run.out 2>&1 ||
	{ cat /tmp/run.out; fail "podman run the target"; }
for _ in $(seq 300); do
	P logs tgt 2>&1 | grep -q "srp_target ready" && break
	[ "$(P inspect -f '{{.State.Running}}' tgt)" = true ] || fail "the target container exited at start"
	sleep 0.1
done
P logs tgt 2>&1 | grep -q "srp_target ready" || fail "the target container did not log ready within 30 s"
P logs tgt 2>&1 | grep -q "listening on $RDMA_DEV $RDMA_IP:$PORT; .*id_ext=$GUID,ioc_guid=$GUID" ||
	fail "no add_target hint for $RDMA_DEV $RDMA_IP:$PORT"
[ -s $VOL/lun0.img ] && [ "$(stat -c %s $VOL/lun0.img)" = $((64 << 20)) ] || fail "the backstore is not on the volume"
PID=$(P inspect -f '{{.State.Pid}}' tgt)
uid=$(awk '/^Uid:/{print $2}' /proc/$PID/status)
memlock=$(awk '/^Max locked memory/{print $4}' /proc/$PID/limits)
capeff=$(awk '/^CapEff:/{print $2}' /proc/$PID/status)
[ "$(cat /proc/$PID/comm)" = srp_target ] || fail "PID 1 of the container is $(cat /proc/$PID/comm), not srp_target"
[ "$uid" = 5555 ] || fail "srp_target runs as uid $uid"
[ "$memlock" = unlimited ] || fail "memlock limit in the container is $memlock"
UUID1=$(P logs tgt 2>&1 | grep -o 'UUID [0-9a-f-]*' | head -1)
[ -n "$UUID1" ] || fail "no LU UUID in the target's log"
ok "srp_target is the container's PID 1 (host pid $PID) as uid $uid, memlock unlimited, backstore $VOL/lun0.img on the volume, listening on $RDMA_DEV $RDMA_IP:$PORT"
# CAP_IPC_LOCK (bit 14) reaches a non-root process only through the ambient set.
if (( (0x$capeff >> 14) & 1 )); then
	echo "info: CapEff $capeff: CAP_IPC_LOCK effective"
else
	echo "info: CapEff $capeff: --cap-add IPC_LOCK is not effective for a non-root user under this podman; the unlimited memlock limit is what lets it register memory"
fi
P healthcheck run tgt > /tmp/hc.out 2>&1 || { cat /tmp/hc.out; fail "health check of a serving target"; }
ok "health check: $(P inspect -f '{{.State.Health.Status}}' tgt 2>/dev/null || P inspect -f '{{.State.Healthcheck.Status}}' tgt)"

vm_step "the kernel ib_srp (outside the container) logs in, fio verifies"
srp_initiator_load || fail "ib_srp"
DEV=$(srp_login $GUID $GUID $RDMA_IP $PORT) || fail "ib_srp login to the container"
sg_vpd -p sn $DEV | grep -q CTR0 || { sg_vpd -p sn $DEV; fail "serial CTR0 not seen"; }
fio --name=ctr --filename=$DEV --rw=randwrite --bsrange=512-1M --size=32M --iodepth=16 --ioengine=libaio \
	--direct=1 --verify=crc32c --verify_fatal=1 --do_verify=1 > /tmp/fio.log 2>&1 || { tail -20 /tmp/fio.log; fail "fio verify"; }
ok "ib_srp logged in to the container's target ($DEV, serial CTR0); fio randwrite 512B-1MiB 32 MiB verify=crc32c passed"
srp_logout

vm_step "our initiator in a second container: verify and bench"
ini() {  # srp_initiator in its own container; stdout in /tmp/out
	P run --rm --network host "${DEVICES[@]}" "${LIMITS[@]}" --entrypoint srp_initiator "$IMG" "$@" > /tmp/out 2> /tmp/err
	local rc=$?
	cat /tmp/err >&2
	return $rc
}
logins=$(P logs tgt 2>&1 | grep -c "login accepted")
ini verify -a $RDMA_IP --id-ext $GUID --transfer 1M --length 16M -c 2 --seed 5 || fail "srp_initiator verify in a container"
ok "srp_initiator (container) $(cat /tmp/out)"
ini bench -a $RDMA_IP --id-ext $GUID --mode randrw --runtime 3 --qd 16 -c 2 --no-progress --json || fail "srp_initiator bench in a container"
grep -q '"iops"' /tmp/out || { cat /tmp/out; fail "bench printed no iops"; }
echo "info: bench randrw 4k from a container: $(cat /tmp/out)"
[ "$(P logs tgt 2>&1 | grep -c "login accepted")" -ge $((logins + 4)) ] ||
	fail "the target did not see the initiator container's logins (2 channels each run)"
ok "srp_initiator bench from a container; the target logged both containers' logins"

vm_step "the health check fails while the target is frozen"
kill -STOP $PID
sleep 5
P healthcheck run tgt > /tmp/hc.out 2>&1 && { kill -CONT $PID; cat /tmp/hc.out; fail "health check passed while the target was frozen"; }
kill -CONT $PID
for _ in $(seq 30); do P healthcheck run tgt > /tmp/hc2.out 2>&1 && break; sleep 0.5; done
P healthcheck run tgt > /tmp/hc2.out 2>&1 || { cat /tmp/hc2.out; fail "health check after the target resumed"; }
ok "health check: unhealthy while SIGSTOPped ($(tr '\n' ' ' < /tmp/hc.out)), healthy again after SIGCONT"

vm_step "podman stop with the kernel initiator logged in"
DEV=$(srp_login $GUID $GUID $RDMA_IP $PORT) || fail "ib_srp login before the stop"
t0=$(date +%s%N)
P stop -t $GRACE_S tgt > /dev/null 2>&1 || fail "podman stop"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
code=$(P inspect -f '{{.State.ExitCode}}' tgt)
[ "$code" = 0 ] || fail "the target container exited with $code (137: killed after the grace period)"
[ $ms -lt $((GRACE_S * 1000)) ] || fail "podman stop took $ms ms, not under the $GRACE_S s grace period"
P logs tgt 2>&1 | grep -q "signal 15: shutting down" || fail "the target did not log SIGTERM"
P logs tgt 2>&1 | grep -qi "logout" || echo "info: no logout line in the target's log"
ok "podman stop: SIGTERM reached srp_target as PID 1, exit status 0 after $ms ms (grace $GRACE_S s)"
srp_logout
P rm tgt > /dev/null

vm_step "the target in a container with its own network namespace"
# The facts of README.md "Two hosts in one guest": rdma_rxe on 6.1 delivers
# RoCE only in the initial namespace and RDMA/CM looks listeners up in the
# namespace of the netdev a request arrived on. What is left for a container
# in its own namespace is the device itself (verbs through the passed-in
# /dev/infiniband nodes). The checks below show how far that goes.
# This one reads a config file (SRP_CONFIG) instead of SRP_LUNS.
mkdir -p /tmp/ctr-conf
printf 'lun = path=/var/lib/srp_target/lun0.img,serial=CTRCONF\npollers = 1\nstats-interval = 0\n' > /tmp/ctr-conf/srp_target.conf
P run -d --name tgt-ns --network none "${DEVICES[@]}" "${LIMITS[@]}" "${SECCOMP[@]}" -v $VOL:/var/lib/srp_target \
	-v /tmp/ctr-conf/srp_target.conf:/etc/srp_target/srp_target.conf:ro -e SRP_CONFIG=/etc/srp_target/srp_target.conf \
	"$IMG" > /tmp/run.out 2>&1 ||
	{ cat /tmp/run.out; fail "podman run the target in its own netns"; }
for _ in $(seq 300); do
	P logs tgt-ns 2>&1 | grep -q "srp_target ready" && break
	[ "$(P inspect -f '{{.State.Running}}' tgt-ns)" = true ] || break
	sleep 0.1
done
NSPID=$(P inspect -f '{{.State.Pid}}' tgt-ns)
echo "info: target log in its own netns:"; P logs tgt-ns 2>&1 | sed 's/^/info:   /' | head -15
[ "$NSPID" != 0 ] && [ "$(readlink /proc/$NSPID/ns/net)" != "$(readlink /proc/self/ns/net)" ] ||
	fail "the target container is not running in a network namespace of its own"
P logs tgt-ns 2>&1 | grep -q "srp_target ready" || fail "the target did not start in its own netns"
P logs tgt-ns 2>&1 | grep -q "$UUID1" || fail "the LU identity did not persist on the volume ($UUID1)"
P logs tgt-ns 2>&1 | grep -q "serial CTRCONF" || fail "the config file (SRP_CONFIG) was not used"
ok "SRP_CONFIG: the target read its LUN (serial CTRCONF) from the mounted config file"
P logs tgt-ns 2>&1 | grep -q "listening on" && fail "a listening line for $RDMA_DEV although its address is in another namespace"
ok "in its own netns ($(readlink /proc/$NSPID/ns/net)) the target opens the passed-in $RDMA_DEV, registers its LUN (same $UUID1: the state directory on the volume) and listens on 0.0.0.0:$PORT; no login hint (no address of $RDMA_DEV in its namespace)"
ini tur -a $RDMA_IP --id-ext $GUID --connect-timeout-ms 5000 && fail "a login from the initial netns reached the target in its own netns"
echo "info: our initiator (host network) -> $RDMA_IP:$PORT: $(tr '\n' ' ' < /tmp/err | cut -c1-200)"
P kill -s USR1 tgt-ns > /dev/null
sleep 1
P logs tgt-ns 2>&1 | grep "stats:" | tail -1 | grep -q "logins 0 " || { P logs tgt-ns 2>&1 | tail -3; fail "the target in its own netns counted a login"; }
ok "no login reaches the target in its own netns over $RDMA_DEV (RDMA/CM finds no listener where the request arrived): it counted 0 logins"
P stop -t $GRACE_S tgt-ns > /dev/null 2>&1
[ "$(P inspect -f '{{.State.ExitCode}}' tgt-ns)" = 0 ] || fail "the netns target exited with $(P inspect -f '{{.State.ExitCode}}' tgt-ns)"
ok "the netns target stopped with exit status 0"
P rm tgt-ns > /dev/null

vm_step "the target in a prepared namespace with a veth end and its own rxe device"
# The veth topology of "Two hosts in one guest", but with the target's end
# in a namespace of its own (no policy routing needed): vethC and rxeC in
# ctrns, vethH and rxeH outside. The container joins ctrns and is given
# rxeC's uverbs node.
C_IP=192.168.212.1 H_IP=192.168.212.2
ip netns add ctrns && ip link add vethH type veth peer name vethC && ip link set vethC netns ctrns || fail "netns and veth"
ip netns exec ctrns sh -c "ip link set lo up && ip addr add $C_IP/24 dev vethC && ip link set vethC mtu 9000 up" || fail "vethC"
ip addr add $H_IP/24 dev vethH && ip link set vethH mtu 9000 up || fail "vethH"
ip netns exec ctrns rdma link add rxeC type rxe netdev vethC || fail "rdma link add rxeC inside ctrns"
rdma link add rxeH type rxe netdev vethH || fail "rdma link add rxeH"
uverbs_of() { local u; for u in /sys/class/infiniband_verbs/uverbs*; do [ "$(cat $u/ibdev)" = "$1" ] && echo ${u##*/}; done; }
C_UVERBS=$(uverbs_of rxeC)
[ -n "$C_UVERBS" ] || fail "no uverbs node for rxeC"
C_GUID=$(tr -d : < /sys/class/infiniband/rxeC/node_guid)
echo x 2>/dev/null > /dev/udp/$C_IP/9  # neighbours resolved before the connect (see two_host_netns.sh)
ip netns exec ctrns sh -c "echo x > /dev/udp/$H_IP/9" 2>/dev/null
P run -d --name tgt-veth --network ns:/run/netns/ctrns --device /dev/infiniband/$C_UVERBS --device /dev/infiniband/rdma_cm \
	"${LIMITS[@]}" "${SECCOMP[@]}" -v $VOL:/var/lib/srp_target -e SRP_LUNS="path=/var/lib/srp_target/lun0.img,serial=CTR0" \
	"$IMG" --pollers 1 --stats-interval 0 > /tmp/run.out 2>&1 || { cat /tmp/run.out; fail "podman run in ctrns"; }
for _ in $(seq 300); do
	P logs tgt-veth 2>&1 | grep -q "srp_target ready" && break
	[ "$(P inspect -f '{{.State.Running}}' tgt-veth)" = true ] || break
	sleep 0.1
done
echo "info: target log in ctrns:"; P logs tgt-veth 2>&1 | sed 's/^/info:   /' | head -15
P logs tgt-veth 2>&1 | grep -q "srp_target ready" || fail "the target did not start in ctrns"
P logs tgt-veth 2>&1 | grep -q "listening on rxeC $C_IP:$PORT" || fail "no listening line for rxeC $C_IP:$PORT"
ok "in ctrns the target opens rxeC ($C_UVERBS passed in) and listens on rxeC $C_IP:$PORT"
$BUILD/srp_initiator/srp_initiator tur -a $C_IP --id-ext $C_GUID --connect-timeout-ms 5000 > /tmp/out 2> /tmp/err &&
	fail "a login crossed into ctrns: rxe on this kernel serves namespaces after all (update README.md)"
echo "info: our initiator on rxeH -> $C_IP:$PORT (rxeC in ctrns): $(tr '\n' ' ' < /tmp/err | cut -c1-200)"
echo "info: rxeC received $(cat /sys/class/infiniband/rxeC/ports/1/hw_counters/rcvd_pkts) RoCE packets, vethC received $(ip netns exec ctrns cat /sys/class/net/vethC/statistics/rx_packets) packets"
P kill -s USR1 tgt-veth > /dev/null
sleep 1
P logs tgt-veth 2>&1 | grep "stats:" | tail -1 | grep -q "logins 0 " || fail "the target in ctrns counted a login"
ok "no login reaches the target in ctrns over rxeH -> rxeC: it counted 0 logins"
P stop -t $GRACE_S tgt-veth > /dev/null 2>&1
[ "$(P inspect -f '{{.State.ExitCode}}' tgt-veth)" = 0 ] || fail "the ctrns target exited with $(P inspect -f '{{.State.ExitCode}}' tgt-veth)"
P rm tgt-veth > /dev/null
echo "containers: all checks passed"
