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
#include "ioctl-compat/fiemap-decode.h"

/* Extents fetched per FIEMAP call: 512 * 56 bytes, about 28 KiB. */
#define FIEMAP_BATCH 512

struct fiemap_iter {
	int fd;
	uint32_t fm_flags; /* for the next FIEMAP call */
	struct fiemap_cursor cur;
	struct fiemap *fm; /* with FIEMAP_BATCH extents */
};

static uint32_t map_flags(uint32_t fe_flags)
{
	static const struct {
		uint32_t fe, ours;
	} map[] = {
		{ FIEMAP_EXTENT_SHARED, EXTENT_SHARED },
		{ FIEMAP_EXTENT_ENCODED | FIEMAP_EXTENT_DATA_ENCRYPTED,
		  EXTENT_ENCODED },
		{ FIEMAP_EXTENT_UNWRITTEN, EXTENT_UNWRITTEN },
		{ FIEMAP_EXTENT_DATA_INLINE, EXTENT_INLINE },
		{ FIEMAP_EXTENT_DELALLOC, EXTENT_DELALLOC },
		{ FIEMAP_EXTENT_NOT_ALIGNED, EXTENT_NOT_ALIGNED },
		{ FIEMAP_EXTENT_UNKNOWN, EXTENT_UNKNOWN },
		{ FIEMAP_EXTENT_LAST, EXTENT_LAST },
	};
	uint32_t flags = 0;

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (fe_flags & map[i].fe)
			flags |= map[i].ours;
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

	fm->fm_start = it->cur.pos;
	fm->fm_length = it->cur.end - it->cur.pos;
	fm->fm_flags = it->fm_flags;
	fm->fm_mapped_extents = 0;
	fm->fm_extent_count = FIEMAP_BATCH;
	fm->fm_reserved = 0;
	if (ioctl(it->fd, FS_IOC_FIEMAP, fm) < 0)
		return -errno;
	/* Only the first call needs to write back dirty data. */
	it->fm_flags &= ~(uint32_t)FIEMAP_FLAG_SYNC;
	fiemap_cursor_load(&it->cur, fm, FIEMAP_BATCH);
	return 0;
}

void fiemap_cursor_init(struct fiemap_cursor *c, uint64_t start,
			uint64_t end)
{
	/* No batch yet: the first fiemap_cursor_next() asks for one. */
	*c = (struct fiemap_cursor){ .pos = start, .end = end,
				     .progress = true };
	/* The kernel rejects an empty range: there is nothing to map anyway. */
	if (start >= end)
		c->kernel_done = true;
}

void fiemap_cursor_load(struct fiemap_cursor *c, const struct fiemap *fm,
			unsigned int capacity)
{
	unsigned int n = fm->fm_mapped_extents;

	if (n > capacity)
		n = capacity;
	c->idx = 0;
	c->count = n;
	c->progress = false;
	/* A batch that is not full holds everything left in the range. */
	if (n < capacity ||
	    (n > 0 && (fm->fm_extents[n - 1].fe_flags & FIEMAP_EXTENT_LAST)))
		c->kernel_done = true;
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
	if (flags & FIEMAP_ITER_SYNC)
		it->fm_flags |= FIEMAP_FLAG_SYNC;
	fiemap_cursor_init(&it->cur, start, end);
	if (!it->cur.kernel_done) {
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

static void yield_hole(struct fiemap_cursor *c, uint64_t to,
		       struct extent *ret_ext)
{
	*ret_ext = (struct extent){
		.logical = c->pos,
		.length = to - c->pos,
		.flags = EXTENT_HOLE,
	};
	c->pos = to;
}

int fiemap_cursor_next(struct fiemap_cursor *c, const struct fiemap *fm,
		       struct extent *ret_ext)
{
	while (c->pos < c->end) {
		const struct fiemap_extent *fe;
		uint64_t fe_end, to;

		if (c->idx >= c->count) {
			/*
			 * A batch that moved nothing forward means the kernel
			 * has nothing more past pos: stop asking, or we would
			 * ask the same question forever.
			 */
			if (c->kernel_done || !c->progress) {
				yield_hole(c, c->end, ret_ext);
				return 1;
			}
			return -EAGAIN;
		}

		fe = &fm->fm_extents[c->idx];
		fe_end = fe->fe_logical + fe->fe_length;
		if (fe_end < fe->fe_logical)
			fe_end = UINT64_MAX;
		if (fe_end <= c->pos) {
			/* Empty, or already yielded before the file changed. */
			c->idx++;
			continue;
		}
		c->progress = true;
		if (fe->fe_logical > c->pos) {
			to = fe->fe_logical < c->end ? fe->fe_logical : c->end;
			yield_hole(c, to, ret_ext);
			return 1;
		}

		to = fe_end < c->end ? fe_end : c->end;
		*ret_ext = (struct extent){
			.logical = c->pos,
			.physical = fe->fe_physical,
			.length = to - c->pos,
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
			ret_ext->physical += c->pos - fe->fe_logical;
		c->pos = to;
		if (to == fe_end)
			c->idx++;
		return 1;
	}
	return 0;
}

int fiemap_iter_next(struct fiemap_iter *it, struct extent *ret_ext)
{
	int ret;

	if (!it || !ret_ext)
		return -EINVAL;
	for (;;) {
		ret = fiemap_cursor_next(&it->cur, it->fm, ret_ext);
		if (ret != -EAGAIN)
			return ret;
		ret = refill(it);
		if (ret < 0)
			return ret;
	}
}

struct fiemap_iter *fiemap_iter_free(struct fiemap_iter *it)
{
	if (!it)
		return NULL;
	free(it->fm);
	free(it);
	return NULL;
}
