#!/usr/bin/env python3
"""Durable writes with a log of what was acknowledged, and the check after a crash.

  durable_writes.py write DEVICE LOG SECONDS   # O_DIRECT|O_DSYNC writes, one new block each
  durable_writes.py check DEVICE LOG           # every logged block reads back intact

Each write goes to a block never written before in this run, so a write
that failed (or was still in flight when the target died) can never hide an
acknowledged one. O_DSYNC on a block device makes the kernel send the WRITE
with FUA (the target reports DPOFUA) or follow it with SYNCHRONIZE CACHE:
when pwrite returns, the target has acknowledged the data as durable. Only
then is the block's sequence number appended to LOG. Errors (I/O failing
while the target is away) are counted, not fatal: the writer keeps going
until SECONDS have passed, waiting for the device to come back.
"""
import hashlib
import mmap
import os
import struct
import sys
import time

BLOCK = 4096
MAGIC = b"SRPDURBL"


def block_image(seq: int) -> bytes:
    head = MAGIC + struct.pack("<Q", seq)
    body = hashlib.sha256(head).digest() * ((BLOCK - len(head)) // 32)
    return (head + body).ljust(BLOCK, b"\0")


def device_blocks(fd: int) -> int:
    return os.lseek(fd, 0, os.SEEK_END) // BLOCK


def write(device: str, log: str, seconds: float) -> int:
    fd = os.open(device, os.O_RDWR | os.O_DIRECT | os.O_DSYNC)
    buf = mmap.mmap(-1, BLOCK)
    blocks = device_blocks(fd)
    acked = errors = 0
    end = time.monotonic() + seconds
    with open(log, "w") as out:
        seq = 0
        while time.monotonic() < end and seq < blocks:
            buf[:] = block_image(seq)
            try:
                if os.pwrite(fd, buf, seq * BLOCK) == BLOCK:
                    out.write(f"{seq}\n")
                    out.flush()
                    acked += 1
            except OSError:
                errors += 1
                time.sleep(0.1)
            seq += 1  # never rewrite a block: a failed write leaves it undefined
    os.close(fd)
    print(f"durable_writes: {acked} writes acknowledged, {errors} failed, on {device}")
    return 0 if acked > 0 else 1


def check(device: str, log: str) -> int:
    fd = os.open(device, os.O_RDONLY | os.O_DIRECT)
    buf = mmap.mmap(-1, BLOCK)
    with open(log) as f:
        logged = [int(line) for line in f if line.strip()]
    bad = 0
    for seq in logged:
        if os.preadv(fd, [buf], seq * BLOCK) != BLOCK or buf[:] != block_image(seq):
            bad += 1
            if bad <= 5:
                print(f"durable_writes: block {seq} on {device} lost or corrupt", file=sys.stderr)
    os.close(fd)
    print(f"durable_writes: {len(logged) - bad} of {len(logged)} acknowledged writes intact on {device}")
    return 0 if bad == 0 and logged else 1


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "write":
        sys.exit(write(sys.argv[2], sys.argv[3], float(sys.argv[4])))
    if len(sys.argv) == 4 and sys.argv[1] == "check":
        sys.exit(check(sys.argv[2], sys.argv[3]))
    print(__doc__, file=sys.stderr)
    sys.exit(2)
