#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Makes DIR holding N files of 4 KiB, f0000000 on, with DISTINCT random
contents taken in turn (the rest are duplicates), for the hostile-tree test
and bench.

  many-files.py DIR N DISTINCT
"""
import os
import sys


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    d, n, distinct = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    os.mkdir(d)
    blocks = [os.urandom(4096) for _ in range(distinct)]
    fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
    for i in range(n):
        f = os.open("f%07d" % i, os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
        os.write(f, blocks[i % distinct])
        os.close(f)
    os.close(fd)


if __name__ == "__main__":
    main()
