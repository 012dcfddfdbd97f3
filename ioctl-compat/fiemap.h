/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef DEDUPD_IOCTL_FIEMAP_H
#define DEDUPD_IOCTL_FIEMAP_H

/*
 * A FIEMAP iterator that yields the whole of [start, end) of a file as a
 * sequence of extents and holes, in logical order, with no gaps.
 *
 * Holes are synthesized from the gaps the kernel leaves between extents and
 * after the last one (up to @end). Unwritten (preallocated) extents read as
 * zeros and are reported with EXTENT_UNWRITTEN; callers treat them as holes.
 */

#include <stdint.h>

enum extent_flags {
	EXTENT_HOLE = 1u << 0,		/* no data: a gap in the map */
	EXTENT_SHARED = 1u << 1,	/* FIEMAP_EXTENT_SHARED */
	EXTENT_ENCODED = 1u << 2,	/* compressed or otherwise encoded */
	EXTENT_UNWRITTEN = 1u << 3,	/* preallocated, reads as zeros */
	EXTENT_INLINE = 1u << 4,	/* data in metadata (btrfs small files) */
	EXTENT_DELALLOC = 1u << 5,	/* not yet on disk: no physical address */
	EXTENT_NOT_ALIGNED = 1u << 6,	/* FIEMAP_EXTENT_NOT_ALIGNED */
	EXTENT_UNKNOWN = 1u << 7,	/* FIEMAP_EXTENT_UNKNOWN */
	EXTENT_LAST = 1u << 8,		/* the kernel's last extent */
};

struct extent {
	uint64_t logical;	/* byte offset in the file */
	uint64_t physical;	/* byte address on the device; 0 for holes */
	uint64_t length;	/* bytes */
	uint32_t flags;		/* enum extent_flags */
};

struct fiemap_iter;

/* Extra request flags for fiemap_iter_open(). */
#define FIEMAP_ITER_SYNC 1u	/* FIEMAP_FLAG_SYNC: write back dirty data first */

/*
 * Starts iterating [@start, @end) of @fd (@end is usually the file size).
 * Returns 0 and sets *@ret_it, or -errno (-ENOMEM, or what the first FIEMAP
 * call answered, e.g. -EOPNOTSUPP). *@ret_it is untouched on failure.
 * The iterator holds no reference to @fd: keep it open while iterating.
 */
int fiemap_iter_open(int fd, uint64_t start, uint64_t end, unsigned int flags,
		     struct fiemap_iter **ret_it);

/*
 * Returns 1 and fills *@ret_ext with the next extent or hole, 0 at the end of
 * the range, or -errno if a FIEMAP call failed. Extents are clipped to the
 * iterated range.
 */
int fiemap_iter_next(struct fiemap_iter *it, struct extent *ret_ext);

/* Frees the iterator; NULL-safe. Returns NULL. */
struct fiemap_iter *fiemap_iter_free(struct fiemap_iter *it);

#endif
