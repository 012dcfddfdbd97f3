#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Extent facts about files, for the integration tests (independent of dedupd).

  fiemap.py shared FILE...   bytes of FILE's extents flagged SHARED (summed)
  fiemap.py data FILE...     bytes of FILE's mapped extents (summed)
  fiemap.py segments FILE    data segments by SEEK_DATA/SEEK_HOLE, one
                             "OFFSET LENGTH" a line (holes are what is absent)
  fiemap.py extents FILE     raw FIEMAP: "logical physical length flags" a line
  fiemap.py same A AOFF B BOFF LEN
                             4 KiB blocks of A's [AOFF, AOFF+LEN) that sit at
                             the same disk address as B's from BOFF on
  fiemap.py equal A B        4 KiB blocks of A equal by content to B's block
                             at the same offset (read, not FIEMAP)

FIEMAP is called with FIEMAP_FLAG_SYNC so delayed allocation is flushed first.
"""
import fcntl
import os
import struct
import sys

FS_IOC_FIEMAP = 0xC020660B
FIEMAP_FLAG_SYNC = 0x1
FIEMAP_EXTENT_LAST = 0x1
FIEMAP_EXTENT_SHARED = 0x2000
HDR = struct.Struct("=QQIIII")  # start, length, flags, mapped, count, reserved
EXT = struct.Struct("=QQQQQIIII")  # logical, physical, length, 2 reserved, flags, 3 reserved
BATCH = 512


def extents(path):
    """Yield (logical, physical, length, flags) for every extent of path."""
    with open(path, "rb") as fh:
        start = 0
        while True:
            buf = bytearray(HDR.pack(start, 2**64 - 1 - start, FIEMAP_FLAG_SYNC,
                                     0, BATCH, 0) + bytes(EXT.size * BATCH))
            fcntl.ioctl(fh.fileno(), FS_IOC_FIEMAP, buf)
            mapped = HDR.unpack_from(buf)[3]
            if mapped == 0:
                return
            last = None
            for i in range(mapped):
                e = EXT.unpack_from(buf, HDR.size + i * EXT.size)
                last = (e[0], e[1], e[2], e[5])
                yield last
            if last[3] & FIEMAP_EXTENT_LAST:
                return
            start = last[0] + last[2]


def segments(path):
    """Data segments by SEEK_DATA/SEEK_HOLE."""
    out = []
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        off = 0
        while off < size:
            try:
                data = os.lseek(fd, off, os.SEEK_DATA)
            except OSError:  # ENXIO: no data after off
                break
            hole = os.lseek(fd, data, os.SEEK_HOLE)
            out.append((data, hole - data))
            off = hole
    finally:
        os.close(fd)
    return out


def block_map(path, off, length):
    """{block index from off: physical address} of [off, off + length)."""
    m = {}
    for lo, ph, ln, _ in extents(path):
        a, b = max(lo, off), min(lo + ln, off + length)
        for x in range(a - a % 4096, b, 4096):
            if x >= off:
                m[(x - off) // 4096] = ph + (x - lo)
    return m


def equal_blocks(a, b):
    eq = 0
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            x, y = fa.read(1 << 20), fb.read(1 << 20)
            if not x:
                return eq
            eq += sum(x[i:i + 4096] == y[i:i + 4096]
                      for i in range(0, len(x), 4096))


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    cmd, files = sys.argv[1], sys.argv[2:]
    if cmd == "shared":
        print(sum(e[2] for f in files for e in extents(f)
                  if e[3] & FIEMAP_EXTENT_SHARED))
    elif cmd == "data":
        print(sum(e[2] for f in files for e in extents(f)))
    elif cmd == "segments":
        for off, length in segments(files[0]):
            print(off, length)
    elif cmd == "same":
        a, aoff, b, boff, length = files[0], int(files[1]), files[2], \
            int(files[3]), int(files[4])
        ma, mb = block_map(a, aoff, length), block_map(b, boff, length)
        print(sum(1 for k, v in ma.items() if mb.get(k) == v))
    elif cmd == "equal":
        print(equal_blocks(files[0], files[1]))
    elif cmd == "extents":
        for e in extents(files[0]):
            print(e[0], e[1], e[2], hex(e[3]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
