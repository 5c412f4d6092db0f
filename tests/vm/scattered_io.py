#!/usr/bin/env python3
"""Direct I/O whose every page is its own scatter/gather element.

Usage: scattered_io.py DEVICE OFFSET_BYTES PAGES ROUNDS

Writes PAGES pages with one pwritev() whose iovecs point at every other page
of an anonymous mapping, reads them back the same way into a second mapping,
and compares. Skipping a page between elements keeps the block layer from
merging neighbours even when the kernel hands out physically contiguous
(or transparent huge) pages, so an ib_srp with cmd_sg_entries smaller than
PAGES must describe each command with a descriptor table outside the IU
(SRP r16a 5.4.2: indirect data buffer descriptor). fio cannot guarantee this:
its buffer is usually one huge page, which merges into a single segment.
"""
import mmap
import os
import sys

PAGE = mmap.PAGESIZE


def every_other_page(buf: mmap.mmap, pages: int) -> list[memoryview]:
    # Fault in every page first, the skipped ones too: faulting only the used
    # pages in order would give them consecutive physical frames, which merge.
    buf[:] = os.urandom(len(buf))
    view = memoryview(buf)
    return [view[2 * i * PAGE:(2 * i + 1) * PAGE] for i in range(pages)]


def main() -> int:
    device, offset, pages, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    fd = os.open(device, os.O_RDWR | os.O_DIRECT)
    try:
        for r in range(rounds):
            out = mmap.mmap(-1, 2 * pages * PAGE)
            back = mmap.mmap(-1, 2 * pages * PAGE)
            out_pages = every_other_page(out, pages)
            at = offset + r * pages * PAGE
            if os.pwritev(fd, out_pages, at) != pages * PAGE:
                print(f"scattered_io: short write at {at}", file=sys.stderr)
                return 1
            back_pages = every_other_page(back, pages)
            if os.preadv(fd, back_pages, at) != pages * PAGE:
                print(f"scattered_io: short read at {at}", file=sys.stderr)
                return 1
            for i, (w, b) in enumerate(zip(out_pages, back_pages)):
                if w != b:
                    print(f"scattered_io: page {i} of round {r} at byte {at + i * PAGE} differs", file=sys.stderr)
                    return 1
    finally:
        os.close(fd)
    return 0


if __name__ == "__main__":
    sys.exit(main())
