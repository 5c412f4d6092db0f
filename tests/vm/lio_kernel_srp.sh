#!/bin/bash
# VM test, the baseline every target of ours must meet: the kernel ib_srp
# initiator logs in to the kernel LIO ib_srpt target over soft-RoCE; the LUN
# appears, its whole content read through SRP matches the backing file, a write
# through SRP lands in the backing file, and fio verify=crc32c passes.
# usage: lio_kernel_srp.sh <repo root>
set -u
source "$1/scripts/vm/guest-lib.sh"
SIZE_MB=64
FILE=/tmp/lio-backing.img

vm_step "soft-RoCE"
rxe_up || exit 1

vm_step "backing file with random content"
dd if=/dev/urandom of=$FILE bs=1M count=$SIZE_MB status=none || exit 1
orig=$(md5sum < $FILE | cut -d' ' -f1)

vm_step "LIO ib_srpt"
PORT_GUID=${RDMA_GID0#fe80:0000:0000:0000:}
lio_srpt_start $FILE $SIZE_MB "$PORT_GUID" "$RDMA_IP" || exit 1

vm_step "kernel ib_srp login"
srp_initiator_load || exit 1
DEV=$(srp_login "$LIO_IOC_GUID" "$LIO_IOC_GUID" "$RDMA_IP" "$LIO_PORT") || exit 1
echo "SRP disk $DEV: $(cat /sys/block/${DEV#/dev/}/device/vendor) $(cat /sys/block/${DEV#/dev/}/device/model) $(blockdev --getsize64 $DEV) bytes"
[ "$(blockdev --getsize64 $DEV)" -eq $((SIZE_MB << 20)) ] || { echo "FAIL: LUN size"; exit 1; }

vm_step "whole LUN read through SRP matches the backing file"
got=$(dd if=$DEV bs=1M iflag=direct status=none | md5sum | cut -d' ' -f1)
echo "file md5 $orig, SRP md5 $got"
[ "$got" = "$orig" ] || { echo "FAIL: read mismatch"; exit 1; }

vm_step "write through SRP lands in the backing file"
dd if=/dev/urandom of=/tmp/pattern bs=1M count=4 status=none
dd if=/tmp/pattern of=$DEV bs=1M seek=8 oflag=direct status=none || { echo "FAIL: write"; exit 1; }
sync
cmp /tmp/pattern <(dd if=$FILE bs=1M skip=8 count=4 status=none) || { echo "FAIL: write not in the backing file"; exit 1; }
echo "write landed: OK"

vm_step "fio randwrite with verify=crc32c"
fio --name=verify --filename=$DEV --rw=randwrite --bsrange=512-128k --size=16M --iodepth=16 \
	--ioengine=libaio --direct=1 --verify=crc32c --verify_fatal=1 --do_verify=1 --output-format=terse \
	--terse-version=3 > /tmp/fio.out 2>&1
rc=$?
[ $rc -eq 0 ] || { cat /tmp/fio.out; echo "FAIL: fio verify rc=$rc"; exit 1; }
echo "info: fio verify passed ($(cut -d';' -f6 /tmp/fio.out | head -1) KiB read back and checked)"

vm_step "logout and stop"
srp_logout
lio_srpt_stop
echo "LIO-SRP-OK"
