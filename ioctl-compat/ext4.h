/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef DEDUPD_IOCTL_EXT4_H
#define DEDUPD_IOCTL_EXT4_H

/*
 * ext4 online defragmentation's building block, EXT4_IOC_MOVE_EXT (what
 * e4defrag uses): the blocks of a range of a file are exchanged with those of
 * a donor file that were allocated (contiguously, one hopes) beforehand.
 */

#include <stdint.h>

/*
 * EXT4_IOC_MOVE_EXT: exchanges the blocks of [@orig_start, +@len) (in file
 * system blocks) of @orig_fd with those at @donor_start of @donor_fd. The
 * kernel goes one page at a time: under both inodes' locks it reads the
 * original's data, swaps the extents and writes the data into what were the
 * donor's blocks. A concurrent writer loses nothing; the donor ends up with
 * the original's old blocks. Timestamps are not changed. Slow: 64 MiB took
 * 2.3 s on a loop device (Linux 6.18).
 *
 * Requirements (fs/ext4/move_extent.c, ext4_ioctl(); measured on 6.18):
 *  - @orig_fd opened read-write (O_RDONLY or O_WRONLY: -EBADF), @donor_fd
 *    writable (-EBADF), on the same filesystem (-EINVAL), two different
 *    non-empty regular files (-EINVAL), extent-mapped, not encrypted, no
 *    data=journal, no bigalloc or DAX (-EOPNOTSUPP), no swap file (-ETXTBSY);
 *    the donor not set-uid/gid (-EINVAL), immutable or append-only (-EPERM);
 *  - @orig_start and @donor_start at the same block offset within a page
 *    (-EINVAL); the range is clipped to the end of either file, and an empty
 *    one is -EINVAL;
 *  - the donor's range allocated: fallocate() is enough (unwritten blocks
 *    are taken as they are), or written and fdatasync()ed. Blocks facing a
 *    hole of the donor are not moved (a donor with no blocks at all: 0 and
 *    nothing moved); data of the donor still dirty gives -EBUSY;
 *  - no dirty page in the original's range: the kernel retries a few times
 *    with journal commits, then gives -EBUSY at the first one, after moving
 *    the blocks before it. fdatasync() the original first; a writer that
 *    writes meanwhile gets its data kept, the move may fail.
 *  Holes of the original are skipped and not counted; a range with no block
 *  at or after @orig_start, or ending in a hole, gives -ENODATA (in the
 *  latter case after moving the blocks before the hole).
 *
 * Returns 0 and sets *@ret_moved to the number of blocks moved (holes not
 * counted, so not a position to go on from), or -errno (-EINVAL also for a
 * NULL @ret_moved, -EBADF for a negative fd). On failure *@ret_moved is
 * untouched, but blocks may have been exchanged already: where the data is
 * changed, never what it is. Do not call again with the same donor range
 * then (exchanged blocks would be exchanged back): read the extents again
 * and use a new donor.
 */
int ext4_move_extent(int orig_fd, int donor_fd, uint64_t orig_start,
		     uint64_t donor_start, uint64_t len, uint64_t *ret_moved);

#endif
