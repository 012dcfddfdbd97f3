#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Deterministic benchmark corpora for contrib/bench/reads.sh.

  gen-corpus.py sparse OUT [--gib 4.5] [--dup 0.10] [--seed 1]
      Files of varied sizes (log-uniform, 4 KiB to 64 MiB whole blocks; most
      with a partial last block) of random data, in directories of 32 files.
      Inside them, block-aligned runs of 1 to 512 blocks (log-uniform) are
      copies of a run of an earlier file, placed between unique stretches
      (exponential, 2.9 MiB on average) whenever the share of duplicate
      blocks written so far is under DUP.
  gen-corpus.py vm OUT [--mib 1024] [--copies 2] [--rewrite 0.10]
                                [--run-bits 6] [--seed 1]
      base.img: MIB MiB of random data (as contrib/bench/backups.sh makes its
      image); copy-N.img: base.img with REWRITE of its 4 KiB blocks rewritten
      with random data, in runs of 1 to 2^RUN_BITS (6) blocks (log-uniform)
      at random places, as a guest's filesystem writes; --run-bits 0: single
      blocks.

The data comes from random.Random(SEED) (the same SEED, the same bytes). The
tree is built in OUT.tmp and renamed to OUT at the end; OUT.info gets the
parameters and the count of duplicate bytes: blocks whose content appeared
earlier (unique blocks are random, so only the copies repeat), which is what
../shared/bench/dup-limit.py measures. An existing OUT is left as it is.
"""
import argparse, math, os, random, shutil, sys, time

BS = 4096
CHUNK = 1024  # blocks written by one call


def randblocks(data, n):
    """n blocks of random bytes, in pieces randbytes can make."""
    out = bytearray()
    while n > 0:
        k = min(n, CHUNK)
        out += data.randbytes(k * BS)
        n -= k
    return bytes(out)


def write_random(fd, data, nbytes):
    while nbytes > 0:
        k = min(nbytes, CHUNK * BS)
        os.write(fd, data.randbytes(k))
        nbytes -= k


def sparse(tmp, a, rng, data):
    target = int(a.gib * (1 << 30)) // BS
    mean_unique = 9 * 82  # blocks: E[run] is about 82, so 10 % at DUP 0.10
    done = []  # (path, whole blocks) of the files written
    total = dup = runs = files = 0
    total_bytes = 0
    while total < target:
        nblocks = int(2 ** rng.uniform(0, 14))
        tail = rng.randrange(1, BS) if rng.random() < 0.7 else 0
        d = os.path.join(tmp, f"d{files // 32:03d}")
        os.makedirs(d, exist_ok=True)
        path = os.path.join(d, f"f{files:05d}.bin")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        pos = 0
        while pos < nblocks:
            u = min(nblocks - pos, 1 + int(rng.expovariate(1 / mean_unique)))
            if done and dup < a.dup * (total + pos):
                run = min(int(2 ** rng.uniform(0, 9)), nblocks - pos)
                srcs = [s for s in done if s[1] >= run]
                if srcs:
                    spath, sblocks = rng.choice(srcs)
                    off = rng.randrange(sblocks - run + 1) * BS
                    with open(spath, "rb") as f:
                        f.seek(off)
                        buf = f.read(run * BS)
                    os.write(fd, buf)
                    pos += run
                    dup += run
                    runs += 1
                    continue
            os.write(fd, randblocks(data, u))
            pos += u
        write_random(fd, data, tail)
        os.close(fd)
        done.append((path, nblocks))
        total += nblocks
        total_bytes += nblocks * BS + tail
        files += 1
    return {"files": files, "logical_bytes": total_bytes,
            "dup_bytes": dup * BS, "dup_runs": runs}


def vm(tmp, a, rng, data):
    nblocks = a.mib * 256
    base = os.path.join(tmp, "base.img")
    fd = os.open(base, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    write_random(fd, data, nblocks * BS)
    os.close(fd)
    k = int(nblocks * a.rewrite)
    dup = 0
    for n in range(1, a.copies + 1):
        copy = os.path.join(tmp, f"copy-{n}.img")
        shutil.copyfile(base, copy)
        fd = os.open(copy, os.O_WRONLY)
        hit = bytearray(nblocks)  # blocks rewritten
        left = k
        while left > 0:
            run = min(int(2 ** rng.uniform(0, a.run_bits)), left)
            start = rng.randrange(nblocks - run + 1)
            os.pwrite(fd, randblocks(data, run), start * BS)
            left -= run - sum(hit[start:start + run])
            hit[start:start + run] = b"\1" * run
        os.close(fd)
        dup += nblocks - sum(hit)
    # each block of a copy that was not rewritten repeats base.img's
    return {"files": 1 + a.copies, "logical_bytes": (1 + a.copies) * nblocks * BS,
            "dup_bytes": dup * BS}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("kind", choices=["sparse", "vm"])
    p.add_argument("out")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--gib", type=float, default=4.5)
    p.add_argument("--dup", type=float, default=0.10)
    p.add_argument("--mib", type=int, default=1024)
    p.add_argument("--copies", type=int, default=2)
    p.add_argument("--rewrite", type=float, default=0.10)
    p.add_argument("--run-bits", type=int, default=6)
    a = p.parse_args()
    out = a.out.rstrip("/")
    if os.path.isdir(out):
        print(f"gen-corpus: {out} is there, left as it is", file=sys.stderr)
        return
    tmp = out + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    rng, data = random.Random(a.seed), random.Random(a.seed * 1000003 + 7)
    t0 = time.time()
    st = (sparse if a.kind == "sparse" else vm)(tmp, a, rng, data)
    os.sync()
    os.rename(tmp, out)
    keys = ("gib", "dup") if a.kind == "sparse" else ("mib", "copies", "rewrite", "run_bits")
    params = " ".join(f"{k}={getattr(a, k)}" for k in ("kind", "seed") + keys)
    counts = " ".join(f"{k}={v}" for k, v in st.items())
    line = (f"{params} {counts} "
            f"dup_pct={100 * st['dup_bytes'] / st['logical_bytes']:.2f} "
            f"secs={time.time() - t0:.0f}")
    with open(out + ".info", "w") as f:
        f.write(line + "\n")
    print(line)


if __name__ == "__main__":
    main()
