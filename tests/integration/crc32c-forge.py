#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Writes blocks that collide in crc32c, btrfs's default data checksum.

  crc32c-forge.py SRC DST   DST gets, for each 4 KiB block of SRC, a random
                            block whose last 4 bytes are chosen so that its
                            crc32c equals that of SRC's block (and which
                            differs from it)

crc32c is affine over GF(2) in the bits of the data: the 32 bits of 4 chosen
bytes reach any value, found by Gaussian elimination.
"""
import os
import sys

POLY = 0x82F63B78
TABLE = []
for _i in range(256):
    _c = _i
    for _ in range(8):
        _c = (_c >> 1) ^ POLY if _c & 1 else _c >> 1
    TABLE.append(_c)


def crc32c(data, reg=0xFFFFFFFF):
    for b in data:
        reg = TABLE[(reg ^ b) & 0xFF] ^ (reg >> 8)
    return reg ^ 0xFFFFFFFF


def forge(prefix, target):
    """4 bytes S such that crc32c(prefix + S) == target."""
    reg = crc32c(prefix) ^ 0xFFFFFFFF   # the register after the prefix
    base = crc32c(bytes(4), reg)
    cols = []
    for k in range(32):
        s = (1 << k).to_bytes(4, "little")
        cols.append(crc32c(s, reg) ^ base)
    want = target ^ base
    # solve sum(x_k * cols[k]) == want over GF(2)
    rows = [(cols[k], 1 << k) for k in range(32)]
    basis = {}
    for vec, comb in rows:
        for bit in range(31, -1, -1):
            if not vec >> bit & 1:
                continue
            if bit in basis:
                vec ^= basis[bit][0]
                comb ^= basis[bit][1]
            else:
                basis[bit] = (vec, comb)
                break
    x = 0
    for bit in range(31, -1, -1):
        if want >> bit & 1:
            if bit not in basis:
                sys.exit("crc32c-forge: no solution")
            want ^= basis[bit][0]
            x ^= basis[bit][1]
    return x.to_bytes(4, "little")


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    src = open(sys.argv[1], "rb").read()
    out = bytearray()
    for off in range(0, len(src) - len(src) % 4096, 4096):
        block = src[off:off + 4096]
        prefix = os.urandom(4092)
        forged = prefix + forge(prefix, crc32c(block))
        assert crc32c(forged) == crc32c(block) and forged != block
        out += forged
    with open(sys.argv[2], "wb") as f:
        f.write(out)


if __name__ == "__main__":
    main()
