// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * FIEMAP iterator. See fiemap.h.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <linux/fiemap.h>
#include <linux/fs.h>

#include "ioctl-compat/fiemap.h"

/* Extents fetched per FIEMAP call: 512 * 56 bytes, about 28 KiB. */
#define FIEMAP_BATCH 512

struct fiemap_iter {
	int fd;
	uint32_t fm_flags; /* for the next FIEMAP call */
	uint64_t end;
	uint64_t pos; /* everything before pos has been yielded */
	unsigned int idx; /* next buffered extent */
	unsigned int count; /* buffered extents */
	bool kernel_done; /* no more extents in [pos, end) */
	struct fiemap *fm; /* with FIEMAP_BATCH extents */
};

static uint32_t map_flags(uint32_t fe_flags)
{
	uint32_t flags = 0;

	if (fe_flags & FIEMAP_EXTENT_SHARED)
		flags |= EXTENT_SHARED;
	if (fe_flags & (FIEMAP_EXTENT_ENCODED | FIEMAP_EXTENT_DATA_ENCRYPTED))
		flags |= EXTENT_ENCODED;
	if (fe_flags & FIEMAP_EXTENT_UNWRITTEN)
		flags |= EXTENT_UNWRITTEN;
	if (fe_flags & FIEMAP_EXTENT_DATA_INLINE)
		flags |= EXTENT_INLINE;
	if (fe_flags & FIEMAP_EXTENT_DELALLOC)
		flags |= EXTENT_DELALLOC;
	if (fe_flags & FIEMAP_EXTENT_NOT_ALIGNED)
		flags |= EXTENT_NOT_ALIGNED;
	if (fe_flags & FIEMAP_EXTENT_UNKNOWN)
		flags |= EXTENT_UNKNOWN;
	if (fe_flags & FIEMAP_EXTENT_LAST)
		flags |= EXTENT_LAST;
	return flags;
}

/*
 * Fetches the extents from it->pos on. The kernel returns every extent that
 * overlaps [pos, end), so one that began before pos (e.g. the file changed
 * since the previous call) comes back too and is clipped in iter_next().
 */
static int refill(struct fiemap_iter *it)
{
	struct fiemap *fm = it->fm;
	unsigned int n;

	fm->fm_start = it->pos;
	fm->fm_length = it->end - it->pos;
	fm->fm_flags = it->fm_flags;
	fm->fm_mapped_extents = 0;
	fm->fm_extent_count = FIEMAP_BATCH;
	fm->fm_reserved = 0;
	if (ioctl(it->fd, FS_IOC_FIEMAP, fm) < 0)
		return -errno;
	/* Only the first call needs to write back dirty data. */
	it->fm_flags &= ~(uint32_t)FIEMAP_FLAG_SYNC;

	n = fm->fm_mapped_extents;
	if (n > FIEMAP_BATCH)
		n = FIEMAP_BATCH;
	it->idx = 0;
	it->count = n;
	/* A batch that is not full holds everything left in the range. */
	if (n < FIEMAP_BATCH ||
	    (fm->fm_extents[n - 1].fe_flags & FIEMAP_EXTENT_LAST))
		it->kernel_done = true;
	return 0;
}

int fiemap_iter_open(int fd, uint64_t start, uint64_t end, unsigned int flags,
		     struct fiemap_iter **ret_it)
{
	struct fiemap_iter *it;
	int ret;

	if (!ret_it || start > end || (flags & ~FIEMAP_ITER_SYNC))
		return -EINVAL;

	it = calloc(1, sizeof(*it));
	if (!it)
		return -ENOMEM;
	it->fm = calloc(1, sizeof(struct fiemap) +
				   FIEMAP_BATCH * sizeof(struct fiemap_extent));
	if (!it->fm) {
		ret = -ENOMEM;
		goto out_free;
	}
	it->fd = fd;
	it->end = end;
	it->pos = start;
	if (flags & FIEMAP_ITER_SYNC)
		it->fm_flags |= FIEMAP_FLAG_SYNC;

	/* The kernel rejects an empty range: there is nothing to map anyway. */
	if (start == end) {
		it->kernel_done = true;
	} else {
		ret = refill(it);
		if (ret < 0)
			goto out_free;
	}
	*ret_it = it;
	return 0;

out_free:
	fiemap_iter_free(it);
	return ret;
}

static void yield_hole(struct fiemap_iter *it, uint64_t to,
		       struct extent *ret_ext)
{
	*ret_ext = (struct extent){
		.logical = it->pos,
		.length = to - it->pos,
		.flags = EXTENT_HOLE,
	};
	it->pos = to;
}

int fiemap_iter_next(struct fiemap_iter *it, struct extent *ret_ext)
{
	bool progress = true;
	int ret;

	if (!it || !ret_ext)
		return -EINVAL;

	while (it->pos < it->end) {
		const struct fiemap_extent *fe;
		uint64_t fe_end, to;

		if (it->idx >= it->count) {
			/*
			 * A batch that moved nothing forward means the kernel
			 * has nothing more past pos: stop asking, or we would
			 * ask the same question forever.
			 */
			if (it->kernel_done || !progress) {
				yield_hole(it, it->end, ret_ext);
				return 1;
			}
			ret = refill(it);
			if (ret < 0)
				return ret;
			progress = false;
			continue;
		}

		fe = &it->fm->fm_extents[it->idx];
		fe_end = fe->fe_logical + fe->fe_length;
		if (fe_end < fe->fe_logical)
			fe_end = UINT64_MAX;
		if (fe_end <= it->pos) {
			/* Empty, or already yielded before the file changed. */
			it->idx++;
			continue;
		}
		progress = true;
		if (fe->fe_logical > it->pos) {
			to = fe->fe_logical < it->end ? fe->fe_logical :
							it->end;
			yield_hole(it, to, ret_ext);
			return 1;
		}

		to = fe_end < it->end ? fe_end : it->end;
		*ret_ext = (struct extent){
			.logical = it->pos,
			.physical = fe->fe_physical,
			.length = to - it->pos,
			.flags = map_flags(fe->fe_flags),
		};
		/*
		 * Clipped at the front: move the address along with the
		 * offset, except where bytes do not map one to one (encoded
		 * extents name their whole on-disk extent) or there is no
		 * address yet.
		 */
		if (fe->fe_physical != 0 &&
		    !(fe->fe_flags &
		      (FIEMAP_EXTENT_ENCODED | FIEMAP_EXTENT_DATA_ENCRYPTED |
		       FIEMAP_EXTENT_DATA_INLINE | FIEMAP_EXTENT_UNKNOWN |
		       FIEMAP_EXTENT_DELALLOC)))
			ret_ext->physical += it->pos - fe->fe_logical;
		it->pos = to;
		if (to == fe_end)
			it->idx++;
		return 1;
	}
	return 0;
}

struct fiemap_iter *fiemap_iter_free(struct fiemap_iter *it)
{
	if (!it)
		return NULL;
	free(it->fm);
	free(it);
	return NULL;
}
