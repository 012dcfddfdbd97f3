#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Fragmenting files and writing to them during `dedupd defrag`, for the
integration tests 040-044 and contrib/bench/defrag.sh (independent of dedupd).

  defrag.py overwrite FILE N [SEED]
      N random 4 KiB overwrites (fsync every 64; offsets and data follow
      from SEED): on btrfs (and on XFS if FILE shares its extents) each
      lands in a new extent.
  defrag.py checker DIR FILE MIB [SRC]
      For filesystems that overwrite in place (ext4): fill the free space of
      DIR's filesystem, free every other 4 KiB of a file of 2*MIB MiB and a bit
      DIR/.checker, write FILE (MIB MiB of random data, or SRC's first MIB
      MiB) into those holes, then free the rest (DIR/.pad) and sync.
      DIR/.checker stays.
  defrag.py writer FILE LOG STOP [SYNC_EVERY] [MAX_SECONDS]
      4 KiB writes at random block offsets of FILE until the file STOP
      exists (or MAX_SECONDS, default 60); the data of write number i is
      block(i); fdatasync every SYNC_EVERY writes (default 16, 0: never).
      LOG gets every write's offset, in order (8 bytes each). Prints one
      JSON object: writes, t0, t1 (time.time() of the first and last
      write), max_ms, median_ms, p99_ms (pwrite latency), max_sync_ms, and
      max_at (the time.time() the slowest write started).
      Writes READY beside LOG (LOG.ready) after its first write.
  defrag.py replay BASE LOG OUT
      OUT = BASE with the logged writes applied in order.
  defrag.py rewriter FILE OFF LEN STOP LAST
      Rewrites [OFF, OFF+LEN) of FILE with fresh random data, as fast as it
      can, until STOP exists; LAST gets the data of its last write. Writes
      LAST.ready after the first.
"""
import ctypes
import hashlib
import json
import os
import random
import statistics
import struct
import sys
import time

BLOCK = 4096


def block(i):
    """The 4 KiB a writer puts in its write number i."""
    return hashlib.shake_128(b"dedupd-writer %d" % i).digest(BLOCK)


def overwrite(path, n, seed=1):
    r = random.Random(seed)
    fd = os.open(path, os.O_WRONLY)
    try:
        blocks = os.fstat(fd).st_size // BLOCK
        for i in range(n):
            off = r.randrange(blocks) * BLOCK
            os.pwrite(fd, r.randbytes(BLOCK), off)
            if i % 64 == 63:
                os.fsync(fd)
        os.fsync(fd)
    finally:
        os.close(fd)


def checker(d, target, mib, src=None):
    size = mib << 20
    # holes for the data and its extent tree (a block per 340 extents)
    fsz = 2 * (size + size // 64 + (1 << 20))
    holes, pad = os.path.join(d, ".checker"), os.path.join(d, ".pad")
    fd = os.open(holes, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    os.posix_fallocate(fd, 0, fsz)
    os.fsync(fd)
    pfd = os.open(pad, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    # Every free block: root may use the reserved ones too (f_bfree), and
    # what is left after a failed attempt is taken in ever smaller pieces.
    st = os.statvfs(d)
    step = st.f_bfree * st.f_frsize
    while step >= BLOCK:
        try:
            os.posix_fallocate(pfd, os.fstat(pfd).st_size, step)
        except OSError:
            step //= 2
    os.fsync(pfd)
    libc = ctypes.CDLL(None, use_errno=True)
    libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_long,
                               ctypes.c_long]
    for off in range(0, fsz, 2 * BLOCK):
        if libc.fallocate(fd, 3, off, BLOCK):	# KEEP_SIZE | PUNCH_HOLE
            e = ctypes.get_errno()
            raise OSError(e, os.strerror(e), holes)
    os.fsync(fd)
    t = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    sfd = os.open(src, os.O_RDONLY) if src else None
    for off in range(0, size, 1 << 20):
        buf = os.pread(sfd, 1 << 20, off) if src else os.urandom(1 << 20)
        if len(buf) != 1 << 20:
            raise OSError(f"{src} is shorter than {mib} MiB")
        done = 0
        while done < len(buf):
            done += os.pwrite(t, buf[done:], off + done)
    os.fsync(t)
    for x in (t, fd, pfd):
        os.close(x)
    if src:
        os.close(sfd)
    os.unlink(pad)
    os.sync()	# ext4 reuses freed blocks only once the journal committed


def writer(path, log, stop, sync_every=16, max_s=60.0):
    fd = os.open(path, os.O_WRONLY)
    blocks = os.fstat(fd).st_size // BLOCK
    r = random.Random(os.getpid())
    lat, max_lat, max_sync, max_at = [], -1.0, 0.0, 0.0
    offs = bytearray()
    t0 = t1 = time.time()
    end = time.monotonic() + max_s
    i = 0
    while not os.path.exists(stop) and time.monotonic() < end:
        off = r.randrange(blocks) * BLOCK
        data = block(i)
        now = time.time()
        a = time.monotonic()
        if os.pwrite(fd, data, off) != BLOCK:
            raise OSError("short write")
        b = time.monotonic()
        offs += struct.pack("<Q", off)
        if not lat:
            t0 = now
            with open(log + ".ready", "w"):
                pass
        lat.append(b - a)
        if b - a > max_lat:
            max_lat, max_at = b - a, now
        t1 = now
        i += 1
        if sync_every and i % sync_every == 0:
            a = time.monotonic()
            os.fdatasync(fd)
            max_sync = max(max_sync, time.monotonic() - a)
    os.fsync(fd)
    os.close(fd)
    with open(log, "wb") as fh:
        fh.write(offs)
    lat.sort()
    ms = lambda s: round(s * 1000, 3)
    print(json.dumps({
        "writes": i, "t0": t0, "t1": t1,
        "max_ms": ms(lat[-1]) if lat else 0,
        "median_ms": ms(statistics.median(lat)) if lat else 0,
        "p99_ms": ms(lat[int(len(lat) * 0.99)]) if lat else 0,
        "max_sync_ms": ms(max_sync), "max_at": max_at}))


def replay(base, log, out):
    with open(base, "rb") as fh:
        data = bytearray(fh.read())
    with open(log, "rb") as fh:
        offs = fh.read()
    for i in range(len(offs) // 8):
        (off,) = struct.unpack_from("<Q", offs, i * 8)
        data[off:off + BLOCK] = block(i)
    with open(out, "wb") as fh:
        fh.write(data)


def rewriter(path, off, length, stop, last):
    fd = os.open(path, os.O_WRONLY)
    n = 0
    data = b""
    while not os.path.exists(stop):
        data = os.urandom(length)
        if os.pwrite(fd, data, off) != length:
            raise OSError("short write")
        n += 1
        if n == 1:
            with open(last + ".ready", "w"):
                pass
    os.close(fd)
    with open(last, "wb") as fh:
        fh.write(data)
    print(n)


def main():
    a = sys.argv[1:]
    if not a:
        sys.exit(__doc__)
    cmd = a.pop(0)
    if cmd == "overwrite":
        overwrite(a[0], int(a[1]), int(a[2]) if len(a) > 2 else 1)
    elif cmd == "checker":
        checker(a[0], a[1], int(a[2]), a[3] if len(a) > 3 else None)
    elif cmd == "writer":
        writer(a[0], a[1], a[2], int(a[3]) if len(a) > 3 else 16,
               float(a[4]) if len(a) > 4 else 60.0)
    elif cmd == "replay":
        replay(a[0], a[1], a[2])
    elif cmd == "rewriter":
        rewriter(a[0], int(a[1]), int(a[2]), a[3], a[4])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
