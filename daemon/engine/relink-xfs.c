// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The relinker on XFS (relink.h): the referrers of a file's blocks come
 * from the map of the scope (physmap.h), not from the filesystem.
 */
#include <stdlib.h>

#include <uthash.h>

#include "daemon/engine/physmap.h"
#include "daemon/engine/relink-internal.h"
#include "daemon/common/util.h"

/*
 * XFS: a piece of another file on the old blocks of the original's item:
 * those blocks hold what the original held there, so the piece is a
 * segment. A holder's pieces that follow each other in both files merge.
 */
static int map_seg(void *arg, uint32_t file, uint64_t logical,
		   uint64_t physical, uint64_t len)
{
	struct relinker *r = arg;
	const struct relink_item *it = &r->c->v[r->item];
	uint64_t a = it->file_off +
		     (physical - (it->bytenr + it->extent_offset));
	struct holder *h = relink_holder_get(r, 0, file);
	struct seg *last = h->last ? &r->segs[h->last - 1] : NULL;

	if (last && last->b == a && last->dst + (last->b - last->a) == logical) {
		last->b = a + len;
		return 0;
	}
	r->segs = grow_array(r->segs, &r->cap, r->nsegs + 1, sizeof(*r->segs));
	r->segs[r->nsegs++] = (struct seg){ a, a + len, logical, h };
	h->last = r->nsegs;
	return 0;
}

/*
 * XFS counts references per block: every other file's piece on the old
 * blocks is deduped onto the new place, the pieces that hold other data
 * stay as they are, and each old block is freed once no piece is left on
 * it. What the map does not know of (shared with a file outside the
 * scope) stays pinned, and is counted.
 */
void relink_by_map(struct relinker *r)
{
	struct holder *h, *tmp;

	for (r->item = 0; r->item < r->c->n && !relink_stopped(r->d); r->item++) {
		const struct relink_item *it = &r->c->v[r->item];
		int64_t covered = physmap_refs(r->d->map,
					       it->bytenr + it->extent_offset,
					       it->len, map_seg, r);

		if (it->shared && covered >= 0 && (uint64_t)covered < it->len)
			r->st->bytes_pinned += it->len - (uint64_t)covered;
	}
	relink_segs(r);
	HASH_ITER(hh, r->holders, h, tmp) {
		HASH_DEL(r->holders, h);
		free(h);
	}
}
