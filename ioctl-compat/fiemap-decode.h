/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef DEDUPD_IOCTL_FIEMAP_DECODE_H
#define DEDUPD_IOCTL_FIEMAP_DECODE_H
/*
 * Internal to ioctl-compat, its unit tests and fuzzers: the decoding of
 * FIEMAP batches into the extents and holes that fiemap_iter_next() yields,
 * apart from the ioctl, so that any bytes can be fed to it. Pure: no I/O, no
 * allocation; fiemap.c's iterator is this cursor plus the ioctl.
 */
#include <stdbool.h>
#include <stdint.h>
#include <linux/fiemap.h>

#include "ioctl-compat/fiemap.h"

/* Where the walk over [start, end) is, and the batch it reads. */
struct fiemap_cursor {
	uint64_t end;
	uint64_t pos;		/* everything before pos has been yielded */
	unsigned int idx;	/* next extent of the batch */
	unsigned int count;	/* extents in the batch */
	bool kernel_done;	/* no more extents in [pos, end) */
	bool progress;		/* the batch moved pos forward; true
				 * before the first batch */
};

/*
 * Starts a walk over [@start, @end) with no batch: the first
 * fiemap_cursor_next() asks for one, unless the range is empty.
 */
void fiemap_cursor_init(struct fiemap_cursor *c, uint64_t start,
			uint64_t end);

/*
 * Takes the batch the kernel wrote into @fm, asked for from c->pos on with
 * room for @capacity extents: fm_mapped_extents of them (at most
 * @capacity) are read by the next fiemap_cursor_next() calls.
 */
void fiemap_cursor_load(struct fiemap_cursor *c, const struct fiemap *fm,
			unsigned int capacity);

/*
 * The next extent or hole from the batch in @fm (the one last loaded).
 * Returns 1 and fills *@ret_ext, clipped to [pos, end); 0 at the end of the
 * range; -EAGAIN when the batch is used up and the kernel may have more:
 * load the batch that starts at c->pos, then call again.
 */
int fiemap_cursor_next(struct fiemap_cursor *c, const struct fiemap *fm,
		       struct extent *ret_ext);

#endif
