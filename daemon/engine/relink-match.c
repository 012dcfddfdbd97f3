// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The relinker's matching and deduping (relink.h): each holder's items in
 * its windows are read and kept only where they map exactly what the
 * original mapped; the segments are then deduped onto the new place,
 * batched, and partial holders' other old bytes are copied and deduped
 * (fills). Whether the metadata is worth it, when the caller does not weigh
 * it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/btrfs_tree.h>
#include <uthash.h>

#include "daemon/engine/relink-internal.h"
#include "daemon/common/util.h"
#include "ioctl-compat/btrfs.h"
#include "ioctl-compat/dedupe.h"

/* The index of the chunk's item holding the original's offset @t, or n. */
static size_t item_at(const struct relink_items *c, uint64_t t)
{
	size_t lo = 0, hi = c->n;

	while (lo < hi) {	/* the first item that starts after t */
		size_t mid = lo + (hi - lo) / 2;

		if (c->v[mid].file_off <= t)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0 || t >= c->v[lo - 1].file_off + c->v[lo - 1].len)
		return c->n;
	return lo - 1;
}

int relink_cmp_u64(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;

	return a < b ? -1 : a > b;
}

/*
 * One item of the holder, in a window: a segment if the original maps the
 * same. An item on one of the chunk's old extents that the original maps
 * otherwise marks the whole window as a mismatch: relinking the rest would
 * cut the holder up and still leave the old extent pinned. Items on other
 * extents (the holder's own data) do not count.
 */
static void add_seg(struct relinker *r, uint64_t t0, uint64_t t1)
{
	struct seg *last = r->nsegs > r->win_seg ? &r->segs[r->nsegs - 1] :
						   NULL;

	if (last && last->b == t0 &&
	    last->dst + (last->b - last->a) == t0 + r->delta) {
		last->b = t1;
		return;
	}
	r->segs = grow_array(r->segs, &r->cap, r->nsegs + 1, sizeof(*r->segs));
	r->segs[r->nsegs++] = (struct seg){ t0, t1, t0 + r->delta, r->cur };
}

/* The first item of @c starting after @t, as an offset; @c->end if none. */
static uint64_t next_item_start(const struct relink_items *c, uint64_t t)
{
	size_t lo = 0, hi = c->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (c->v[mid].file_off <= t)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < c->n ? c->v[lo].file_off : c->end;
}

/*
 * Partial holders: the stretches of the holder's item that map what the
 * original mapped become segments; the others (old data the original no
 * longer has there) become fills.
 */
static int check_item_partial(struct relinker *r,
			      const struct btrfs_file_extent *fe, uint64_t s0,
			      uint64_t t0, uint64_t t1)
{
	const struct relink_items *c = r->c;
	uint64_t t = t0;

	while (t < t1) {
		size_t k = item_at(c, t);
		uint64_t heoff = fe->extent_offset + (t - s0), stop;
		bool agree = false;

		if (k < c->n) {
			const struct relink_item *it = &c->v[k];

			stop = it->file_off + it->len;
			agree = it->bytenr == fe->disk_bytenr &&
				it->extent_offset + (t - it->file_off) == heoff;
		} else {
			stop = next_item_start(c, t);
		}
		if (stop > t1)
			stop = t1;
		if (agree) {
			add_seg(r, t, stop);
		} else {
			struct fill *f;

			r->fills = grow_array(r->fills, &r->cap_fills,
					      r->nfills + 1, sizeof(*r->fills));
			f = &r->fills[r->nfills++];
			*f = (struct fill){ fe->disk_bytenr, heoff, stop - t,
					    t + r->delta, r->cur };
		}
		t = stop;
	}
	return relink_stopped(r->d) ? 1 : 0;
}

static int check_item(void *arg, const struct btrfs_file_extent *fe)
{
	struct relinker *r = arg;
	const struct relink_items *c = r->c;
	uint64_t s0 = fe->file_off - r->delta, s1 = s0 + fe->num_bytes;
	uint64_t t0, t1, t;
	size_t k;

	if (!fe->disk_bytenr || fe->type == BTRFS_FILE_EXTENT_INLINE ||
	    fe->compression ||
	    !bsearch(&fe->disk_bytenr, r->bytenrs, r->nbytenrs,
		     sizeof(*r->bytenrs), relink_cmp_u64))
		return 0;
	t0 = s0 > c->start ? s0 : c->start;
	t1 = s1 < c->end ? s1 : c->end;
	if (t0 >= t1 || s0 > s1)	/* s0 > s1: before offset 0 */
		return 0;
	if (r->fill_fd >= 0)
		return check_item_partial(r, fe, s0, t0, t1);
	for (t = t0, k = item_at(c, t0); t < t1; k++) {
		const struct relink_item *it = &c->v[k];

		if (k >= c->n || it->file_off > t ||
		    it->bytenr != fe->disk_bytenr ||
		    it->extent_offset + (t - it->file_off) !=
			    fe->extent_offset + (t - s0)) {
			r->mismatch = true;	/* not what the original mapped */
			return 1;
		}
		t = it->file_off + it->len;
	}
	add_seg(r, t0, t1);
	return relink_stopped(r->d) ? 1 : 0;
}

static int cmp_seg(const void *x, const void *y)
{
	const struct seg *a = x, *b = y;
	int cmp = cmp_u64(a->a, b->a);

	return cmp ? cmp : cmp_u64(a->b, b->b);
}

/* Dedupes the segments collected, the same ranges batched; forgets them. */
void relink_segs(struct relinker *r)
{
	struct dedupe_dest dests[DEDUPE_MAX_DESTS];
	size_t i = 0;

	if (r->nsegs)
		qsort(r->segs, r->nsegs, sizeof(*r->segs), cmp_seg);
	while (i < r->nsegs && !relink_stopped(r->d)) {
		const struct seg *sg = &r->segs[i];
		unsigned int nd = 0;

		for (; i < r->nsegs && nd < DEDUPE_MAX_DESTS &&
		       r->segs[i].a == sg->a && r->segs[i].b == sg->b; i++) {
			int fd = relink_holder_open(r->d, r->segs[i].h->key[0],
					   r->segs[i].h->key[1]);

			if (fd >= 0) {
				dests[nd++] = (struct dedupe_dest){
					.fd = fd, .offset = r->segs[i].dst
				};
				if (r->dry && r->others &&
				    r->segs[i].h->key[0] != r->self_root)
					relink_files_add(r->others,
							 r->segs[i].h->key[0],
							 r->segs[i].h->key[1]);
			} else {
				r->st->refs_pinned++;
				r->st->bytes_pinned += r->segs[i].b -
						       r->segs[i].a;
			}
		}
		if (!nd || r->dry || dedupe_submit(r->tmp,
					 (uint64_t)((int64_t)sg->a + r->delta_src),
					 sg->b - sg->a, dests, nd,
					 r->d->block_size) < 0)
			continue;
		for (unsigned int k = 0; k < nd; k++) {
			if (dests[k].status == 0 && dests[k].bytes) {
				r->st->bytes_relinked += dests[k].bytes;
				r->st->refs_relinked++;
			} else if (dests[k].status == -EAGAIN) {
				r->busy = 1;	/* a root being sent */
				r->st->refs_busy++;
			}
		}
	}
	r->nsegs = 0;
}

static int cmp_fill(const void *x, const void *y)
{
	const struct fill *a = x, *b = y;
	int cmp;

	if ((cmp = cmp_u64(a->bytenr, b->bytenr)) ||
	    (cmp = cmp_u64(a->eoff, b->eoff)))
		return cmp;
	return cmp_u64(a->len, b->len);
}

#define FILL_BUF (1u << 20)

/* Copies [off, +len) of @from to @at of @to. Returns 0 or -errno. */
static int fill_copy(int from, uint64_t off, uint64_t len, int to,
		     uint64_t at, uint8_t *buf)
{
	while (len) {
		size_t want = len < FILL_BUF ? len : FILL_BUF;
		ssize_t got = pread(from, buf, want, (off_t)off);

		if (got < 0)
			return -errno;
		if ((size_t)got != want)
			return -ESTALE;	/* shrank: left pinned */
		if (pwrite(to, buf, want, (off_t)at) != (ssize_t)want)
			return errno ? -errno : -ENOSPC;
		off += want;
		at += want;
		len -= want;
	}
	return 0;
}

/*
 * The old bytes that holders map otherwise than the original: each is
 * copied once into the fill file, then deduped onto every holder mapping
 * it (the kernel compares: a holder that changed meanwhile keeps its
 * data). Only whole blocks: a partial tail stays pinned.
 */
static void fill_holders(struct relinker *r)
{
	struct dedupe_dest dests[DEDUPE_MAX_DESTS];
	uint32_t bs = r->d->block_size;
	uint8_t *buf = NULL;
	size_t i = 0;

	if (!r->nfills)
		return;
	qsort(r->fills, r->nfills, sizeof(*r->fills), cmp_fill);
	while (i < r->nfills && !relink_stopped(r->d)) {
		const struct fill *f = &r->fills[i];
		uint64_t len = f->len / bs * bs, at = *r->fill_end;
		unsigned int nd = 0;
		size_t j = i;
		int src = -1;

		for (; j < r->nfills && !cmp_fill(&r->fills[j], f) &&
		       nd < DEDUPE_MAX_DESTS; j++) {
			int fd = relink_holder_open(r->d, r->fills[j].h->key[0],
					   r->fills[j].h->key[1]);

			if (fd < 0) {
				r->st->refs_pinned++;
				r->st->bytes_pinned += f->len;
				continue;
			}
			if (src < 0)
				src = fd;
			dests[nd++] = (struct dedupe_dest){
				.fd = fd, .offset = r->fills[j].dst
			};
		}
		if (!len || !nd) {
			r->st->bytes_pinned += f->len * (j - i);
			i = j;
			continue;
		}
		if (!buf)
			buf = xmalloc(FILL_BUF);
		if (fill_copy(src, dests[0].offset, len, r->fill_fd, at,
			      buf) < 0 ||
		    dedupe_submit(r->fill_fd, at, len, dests, nd, bs) < 0) {
			r->st->refs_pinned += nd;
			r->st->bytes_pinned += len * nd;
			i = j;
			continue;
		}
		*r->fill_end += len;
		r->st->bytes_filled += len;
		for (unsigned int k = 0; k < nd; k++) {
			if (dests[k].status == 0 && dests[k].bytes) {
				r->st->bytes_relinked += dests[k].bytes;
				r->st->refs_relinked++;
			} else {
				if (dests[k].status == -EAGAIN)
					r->busy = 1;
				r->st->refs_pinned++;
				r->st->bytes_pinned += len;
			}
		}
		i = j;
	}
	free(buf);
	r->nfills = 0;
}

/*
 * A snapshot shares its tree's leaves with the subvolume it was taken of
 * until one of them changes: deduping into it copies every leaf it touches,
 * in each snapshot. Measured over a Debian root tree in a subvolume
 * (contrib/bench/snapshots.sh), that cost about 2.5 KiB of used space
 * (metadata is kept twice) per reference moved in another subvolume: 3
 * read-only snapshots, 15,719 references, 37.8 MB of metadata for 201 MB
 * of data; 100 snapshots, 488,000 references, 1.25 GB for 180 MB. So the
 * referrers in other subvolumes follow only when the data the range frees
 * outweighs that estimate for each of them; else they are left where they
 * are, counted as pinned, and the pass uses no more space than it frees
 * (with many snapshots of small files, it frees nothing).
 */
#define RELINK_META_COST 2560

static bool worth_metadata(struct relinker *r)
{
	const struct relink_items *c = r->c;
	uint64_t others = 0, pinned = 0;
	struct holder *h, *tmp;

	if (r->d->map || r->d->meta_by_caller)
		return true;	/* XFS: reflinks share no tree */
	HASH_ITER(hh, r->holders, h, tmp)
		if (h->key[0] != r->self_root)
			others++;
	if ((c->end - c->start) >= others * RELINK_META_COST)
		return true;
	for (size_t i = 0; i < r->nsegs; i++)
		pinned += r->segs[i].b - r->segs[i].a;
	for (size_t i = 0; i < r->nfills; i++)
		pinned += r->fills[i].len;
	r->st->refs_pinned += r->nsegs + r->nfills;
	r->st->bytes_pinned += pinned;
	return false;
}

/* Reads every holder's items in its windows, relinks, forgets them. */
void relink_flush(struct relinker *r)
{
	struct holder *h, *tmp;

	HASH_ITER(hh, r->holders, h, tmp) {
		r->cur = h;
		for (size_t j = 0; j < h->n && !relink_stopped(r->d); j++) {
			const struct window *w = &h->w[j];
			/*
			 * A window may start before the holder's offset 0.
			 * Partial holders are read over the whole range: old
			 * data they map beyond the original's items counts.
			 */
			uint64_t wa = r->fill_fd >= 0 ? r->c->start : w->a;
			uint64_t wb = r->fill_fd >= 0 ? r->c->end : w->b;
			int64_t a = (int64_t)wa + (int64_t)w->delta;
			uint64_t rkey[3] = { h->key[0], h->key[1], w->delta };
			struct rejected *rj;

			HASH_FIND(hh, r->d->rejected, rkey, sizeof(rkey), rj);
			if (rj)
				continue;
			r->delta = w->delta;
			r->win_seg = r->nsegs;
			r->mismatch = false;
			if (btrfs_file_extents(r->d->mount_fd, h->key[0],
					       h->key[1], a < 0 ? 0 : (uint64_t)a,
					       wb + w->delta, check_item,
					       r) < 0 || r->mismatch)
				r->nsegs = r->win_seg;	/* all or nothing */
			if (r->mismatch) {
				r->st->refs_pinned++;
				r->st->bytes_pinned += w->b - w->a;
				if (r->dry)
					continue;
				rj = xcalloc(1, sizeof(*rj));
				memcpy(rj->key, rkey, sizeof(rkey));
				HASH_ADD(hh, r->d->rejected, key, sizeof(rj->key),
					 rj);
			}
		}
		if (r->nsegs >= RELINK_SEGS_MAX)
			relink_segs(r);
	}
	if (!worth_metadata(r)) {
		r->nsegs = 0;
		r->nfills = 0;
	}
	relink_segs(r);
	fill_holders(r);
	HASH_ITER(hh, r->holders, h, tmp) {
		HASH_DEL(r->holders, h);
		free(h->w);
		free(h);
	}
}
