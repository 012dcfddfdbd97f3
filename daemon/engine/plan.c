// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Pure planning steps, apart so that unit tests reach them: no I/O here.
 */
#include <stdlib.h>

#include "daemon/engine/plan.h"
#include "daemon/common/util.h"

/*
 * btrfs frees a compressed extent only whole: drop the parts of runs that
 * would dedupe part of one. Runs are trimmed to block boundaries of the
 * extent.
 */
void plan_trim_encoded(struct file_job *job, uint32_t blksz)
{
	size_t i, j, out = 0;

	for (i = 0; i < job->nruns; i++) {
		struct match_run r = job->runs[i];
		uint64_t lo = r.dst_blk * blksz, hi = lo + r.len;
		bool keep = true;

		for (j = 0; j < job->nextents && keep; j++) {
			const struct extent *x = &job->extents[j];
			uint64_t xlo = x->logical, xhi = x->logical + x->length;

			if (!(x->flags & EXTENT_ENCODED) || xhi <= lo ||
			    xlo >= hi)
				continue;
			if (xlo >= lo && xhi <= hi)
				continue;	/* the whole extent: fine */
			/* Partial: keep the part before or after it. */
			if (xlo > lo) {
				uint64_t nb = (xlo - lo) / blksz;

				r.nblk = nb;
				r.len = nb * blksz;
				hi = lo + r.len;
			} else if (xhi < hi) {
				uint64_t skip = (xhi - lo + blksz - 1) /
						blksz;

				if (skip >= r.nblk) {
					keep = false;
					break;
				}
				r.src_blk += skip;
				r.dst_blk += skip;
				r.nblk -= skip;
				r.len -= skip * blksz;
				lo = r.dst_blk * blksz;
			} else {
				keep = false;
			}
			if (!r.nblk)
				keep = false;
		}
		if (keep)
			job->runs[out++] = r;
	}
	job->nruns = out;
}

/*
 * Deduping a range of a file onto itself needs the ranges apart: shorten
 * overlapping self-runs.
 */
void plan_trim_self_overlap(struct file_job *job, uint32_t blksz)
{
	size_t i, out = 0;

	for (i = 0; i < job->nruns; i++) {
		struct match_run r = job->runs[i];

		if (r.src_id == job->file_id) {
			uint64_t gap = r.src_blk > r.dst_blk ?
					       r.src_blk - r.dst_blk :
					       r.dst_blk - r.src_blk;

			if (gap == 0)
				continue;
			if (r.nblk > gap) {
				r.nblk = gap;
				r.len = gap * blksz;
			}
		}
		job->runs[out++] = r;
	}
	job->nruns = out;
}

static int range_cmp(const void *a, const void *b)
{
	const struct byte_range *x = a, *y = b;

	return x->off < y->off ? -1 : x->off > y->off;
}

/*
 * The unique remainder of each partly deduped extent of @job, where moving
 * it frees more than it writes. Appends to *@out.
 */
size_t plan_relocation(struct file_job *job, bool shared_ok,
		       struct byte_range **out, size_t *cap)
{
	size_t n = 0, d = 0;

	qsort(job->done, job->ndone, sizeof(*job->done), range_cmp);

	for (size_t i = 0; i < job->nextents; i++) {
		const struct extent *x = &job->extents[i];
		uint64_t lo = x->logical, hi = x->logical + x->length;
		uint64_t deduped = 0, pos = lo;
		size_t first = n;

		if ((x->flags & (EXTENT_ENCODED | EXTENT_INLINE |
				 EXTENT_UNKNOWN | EXTENT_DELALLOC)) ||
		    (!shared_ok && (x->flags & EXTENT_SHARED)))
			continue;
		while (d < job->ndone &&
		       job->done[d].off + job->done[d].len <= lo)
			d++;
		for (size_t k = d; k < job->ndone && job->done[k].off < hi;
		     k++) {
			uint64_t a = job->done[k].off, b = a + job->done[k].len;

			if (a < lo)
				a = lo;
			if (b > hi)
				b = hi;
			if (a > pos) {
				*out = grow_array(*out, cap, n + 1,
						  sizeof(**out));
				(*out)[n++] = (struct byte_range){ pos,
								   a - pos };
			}
			deduped += b - a;
			if (b > pos)
				pos = b;
		}
		if (pos < hi) {
			*out = grow_array(*out, cap, n + 1, sizeof(**out));
			(*out)[n++] = (struct byte_range){ pos, hi - pos };
		}
		/*
		 * Moving the rest frees the whole extent and writes the rest:
		 * it always frees more than it writes, but the net gain is
		 * what was deduped. Cap the write at RELOCATE_MAX_RATIO times
		 * that gain.
		 */
		if (!deduped ||
		    x->length - deduped > RELOCATE_MAX_RATIO * deduped)
			n = first;
	}
	return n;
}
