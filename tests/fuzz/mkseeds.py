#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Writes the binary seeds of fuzz-fanotify, fuzz-btrfs and fuzz-fiemap into
tests/fuzz/NAME/: small, valid answers of the kernel, laid out as
<linux/fanotify.h>, <linux/btrfs.h>, <linux/btrfs_tree.h> and
<linux/fiemap.h> define them. (fuzz-hashdb's seed is made by the real code:
mkseed-hashdb.c.)"""
import os
import struct
import sys

top = os.path.dirname(os.path.abspath(__file__))


def write(name, seed, data):
    os.makedirs(os.path.join(top, name), exist_ok=True)
    with open(os.path.join(top, name, seed), "wb") as f:
        f.write(data)


# ---- fanotify: struct fanotify_event_metadata and info records ----
FAN_MODIFY, FAN_CLOSE_WRITE, FAN_Q_OVERFLOW = 0x2, 0x8, 0x4000
FAN_CREATE, FAN_MOVED_TO = 0x100, 0x80
INFO_FID, INFO_DFID_NAME, INFO_OLD_DFID_NAME, INFO_NEW_DFID_NAME = 1, 2, 10, 12


def pad4(b):
    return b + b"\0" * (-len(b) % 4)


def fid_record(info_type, handle, name=None):
    body = struct.pack("<II", 0x1234, 0x5678)  # fsid
    body += struct.pack("<Ii", len(handle), 0x4D) + handle
    if name is not None:
        body += name + b"\0"
    rec = pad4(struct.pack("<BBH", info_type, 0, 0) + body)
    return struct.pack("<BBH", info_type, 0, len(rec)) + rec[4:]


def event(mask, records, pid=1234):
    info = b"".join(records)
    return struct.pack("<IBBHQii", 24 + len(info), 3, 0, 24, mask, -1,
                       pid) + info


h_file = struct.pack("<QQI", 257, 5, 0)
h_dir = struct.pack("<QQI", 256, 5, 0)
write("fanotify", "close-write",
      event(FAN_CLOSE_WRITE, [fid_record(INFO_FID, h_file),
                              fid_record(INFO_DFID_NAME, h_dir,
                                         b"file.txt")]))
write("fanotify", "rename-and-overflow",
      event(FAN_MOVED_TO, [fid_record(INFO_FID, h_file),
                           fid_record(INFO_OLD_DFID_NAME, h_dir, b"a.tmp"),
                           fid_record(INFO_NEW_DFID_NAME, h_dir, b"a")]) +
      event(FAN_MODIFY | FAN_CREATE, [fid_record(INFO_FID, h_file)]) +
      event(FAN_Q_OVERFLOW, [], pid=0))

# ---- btrfs: search headers and items ----
EXTENT_DATA, INODE_REF, ROOT_ITEM, ROOT_BACKREF = 108, 12, 132, 144
ROOT_ITEM_SIZE = 439  # sizeof(struct btrfs_root_item)


def search_item(objectid, type_, offset, item, transid=100):
    return struct.pack("<QQQII", transid, objectid, offset, type_,
                       len(item)) + item


def file_extent(gen, bytenr, num_bytes, type_=1, offset=0):
    # generation, ram_bytes, compression, encryption, other_encoding, type,
    # disk_bytenr, disk_num_bytes, offset, num_bytes
    return struct.pack("<QQBBHBQQQQ", gen, num_bytes, 0, 0, 0, type_, bytenr,
                       num_bytes, offset, num_bytes)


def inline_extent(gen, data):
    return struct.pack("<QQBBHB", gen, len(data), 0, 0, 0, 0) + data


def inode_ref(name, index=2):
    return struct.pack("<QH", index, len(name)) + name


def root_item(gen, refs=1, last_snapshot=0):
    b = bytearray(ROOT_ITEM_SIZE)
    # after struct btrfs_inode_item (160): generation, root_dirid, bytenr,
    # byte_limit, bytes_used, last_snapshot, flags, refs
    struct.pack_into("<QQQQQQQI", b, 160, gen, 256, 1 << 20, 0, 16384,
                     last_snapshot, 0, refs)
    # generation_v2 (after drop_progress, drop_level, level): as generation
    struct.pack_into("<Q", b, 160 + 60 + 17 + 2, gen)
    return bytes(b)


def search_answer(items):
    buf = b"".join(items)
    return struct.pack("<HH", len(items), len(buf)) + buf


def kernel(call, a, b, answers):
    return struct.pack("<BBQQ", 1, call, a, b) + b"".join(answers)


extents = [search_item(257, EXTENT_DATA, 0, file_extent(20, 1 << 30, 65536)),
           search_item(257, EXTENT_DATA, 65536,
                       file_extent(21, (1 << 30) + 65536, 4096)),
           search_item(258, EXTENT_DATA, 0, inline_extent(22, b"hello"))]
write("btrfs", "buffer-items",
      b"\0" + b"".join(extents) +
      search_item(257, INODE_REF, 256, inode_ref(b"file.txt")) +
      search_item(256, ROOT_ITEM, 0, root_item(30)))
write("btrfs", "buffer-refs",
      b"\0" + struct.pack("<IIII", 0, 0, 6, 0) +
      struct.pack("<6Q", 257, 0, 5, 300, 4096, 256))
write("btrfs", "file-extents", kernel(0, 0, 1 << 20,
                                      [search_answer(extents[:2])]))
write("btrfs", "file-extents-before",
      kernel(0, 8192, 1 << 20, [search_answer([]), search_answer(extents[:1])]))
write("btrfs", "find-new", kernel(1, 10, 0, [search_answer(extents)]))
write("btrfs", "subvols-changed",
      kernel(2, 10, 0, [search_answer(
          [search_item(5, ROOT_ITEM, 0, root_item(30)),
           search_item(256, ROOT_ITEM, 0, root_item(31))])]))
write("btrfs", "new-ranges", kernel(3, 10, 0, [search_answer(extents[:2])]))
write("btrfs", "inode-parent",
      kernel(4, 0, 255, [search_answer(
          [search_item(257, INODE_REF, 256, inode_ref(b"file.txt"))])]))
write("btrfs", "extent-refs",
      kernel(5, 1 << 30, 0,
             [struct.pack("<I", 16 + 48) + struct.pack("<IIII", 0, 0, 6, 0) +
              struct.pack("<6Q", 257, 0, 5, 300, 4096, 256)]))
write("btrfs", "extent-refs-grow",
      kernel(6, 1 << 30, 0,
             [struct.pack("<I", 16) + struct.pack("<IIII", 0, 1 << 17, 0, 3),
              struct.pack("<I", 16 + 24) + struct.pack("<IIII", 0, 0, 3, 0) +
              struct.pack("<3Q", 257, 0, 5)]))
write("btrfs", "last-snapshot",
      kernel(7, 256, 0, [search_answer(
          [search_item(256, ROOT_ITEM, 0, root_item(30, last_snapshot=25))])]))
write("btrfs", "fs-generation",
      kernel(8, 0, 0, [search_answer(
          [search_item(2, ROOT_ITEM, 0, root_item(40))])]))
write("btrfs", "subvol-recs",
      kernel(9, 0, 0, [search_answer(
          [search_item(5, ROOT_ITEM, 0, root_item(30)),
           search_item(256, ROOT_ITEM, 0, root_item(31)),
           search_item(256, ROOT_BACKREF, 5, inode_ref(b"sub"))])]))

# ---- fiemap: range, capacity, batches of struct fiemap_extent ----
LAST, UNWRITTEN, SHARED, ENCODED = 0x1, 0x800, 0x2000, 0x8


def fe(logical, physical, length, flags=0):
    return struct.pack("<QQQQQIIII", logical, physical, length, 0, 0, flags,
                       0, 0, 0)


def batch(extents):
    return struct.pack("<I", len(extents)) + b"".join(extents)


write("fiemap", "three-extents",
      struct.pack("<QQB", 0, 1 << 20, 3) +
      batch([fe(0, 1 << 30, 65536, SHARED),
             fe(131072, 2 << 30, 65536, UNWRITTEN),
             fe(524288, 3 << 30, 1 << 20, ENCODED | LAST)]))
write("fiemap", "two-batches",
      struct.pack("<QQB", 4096, 1 << 20, 1) +
      batch([fe(0, 1 << 30, 65536), fe(65536, 5 << 30, 65536)]) +
      batch([fe(131072, 6 << 30, 8192), fe(262144, 0, 4096, LAST)]))
sys.exit(0)
