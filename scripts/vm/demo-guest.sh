#!/bin/bash
# Guest side of scripts/run.sh: soft-RoCE, srp_target on the default
# backstore, the kernel ib_srp initiator logged in, the disk shown and used.
# usage: demo-guest.sh <repo root> <build dir> [srp_target options]
set -u
ROOT=$1 BUILD=$2
shift 2
source "$ROOT/scripts/vm/guest-lib.sh"
rxe_up || exit 1
LOG=/tmp/srp_target.log
# The guest's root is the host's, read-only under a tmpfs overlay: keep the
# LUN identities in the guest's /tmp unless the caller chose a state directory.
STATE=(--state-dir /tmp/srp_target-state)
case " $* " in *" --state-dir"*) STATE=() ;; esac
"$BUILD/srp_target/srp_target" --stats-interval 0 "${STATE[@]}" "$@" > $LOG 2>&1 &
PID=$!
for _ in $(seq 100); do grep -q "srp_target ready" $LOG && break; sleep 0.1; done
cat $LOG
line=$(grep -o 'echo id_ext=[^ ]* > [^ ]*' $LOG | head -1)
[ -n "$line" ] || { echo "target did not start"; exit 1; }
vm_step "kernel initiator: $line"
srp_initiator_load || exit 1
GUID=$(tr -d : < /sys/class/infiniband/$RDMA_DEV/node_guid)
DEV=$(srp_login "$GUID" "$GUID" "$RDMA_IP" 5555) || exit 1
vm_step "the SRP disk"
lsblk -o NAME,SIZE,TRAN,VENDOR,MODEL,SERIAL "$DEV"
sg_inq "$DEV" | sed -n '1,12p'
sg_readcap -l "$DEV" | sed -n '1,6p'
vm_step "write and read back 16 MiB through SRP"
dd if=/dev/urandom of=/tmp/pattern bs=1M count=16 status=none
dd if=/tmp/pattern of="$DEV" bs=1M oflag=direct status=progress 2>&1 | tail -1
cmp /tmp/pattern <(dd if="$DEV" bs=1M count=16 iflag=direct status=none) && echo "read back: identical"
srp_logout
kill -USR1 $PID; sleep 0.5
kill -TERM $PID; wait $PID
tail -4 $LOG
