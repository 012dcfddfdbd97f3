// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The relinker's search for referrers (relink.h): who else maps a chunk's
 * old data, and where (LOGICAL_INO_V2), as windows per holder; then
 * relink_range() and its dry run, relink_would_follow().
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <linux/btrfs_tree.h>
#include <uthash.h>

#include "daemon/common/log.h"
#include "daemon/engine/relink-internal.h"
#include "daemon/common/util.h"
#include "ioctl-compat/btrfs.h"

struct holder *relink_holder_get(struct relinker *r, uint64_t root,
				  uint64_t ino)
{
	uint64_t key[2] = { root, ino };
	struct holder *h;

	HASH_FIND(hh, r->holders, key, sizeof(key), h);
	if (!h) {
		h = xcalloc(1, sizeof(*h));
		h->key[0] = root;
		h->key[1] = ino;
		HASH_ADD(hh, r->holders, key, sizeof(h->key), h);
	}
	return h;
}

/* The holder maps the original's [a, b) at distance @delta. */
static void add_window(struct holder *h, uint64_t delta, uint64_t a,
		       uint64_t b)
{
	size_t j;

	for (j = 0; j < h->n && h->w[j].delta != delta; j++)
		;
	if (j == h->n) {
		h->w = grow_array(h->w, &h->cap, h->n + 1, sizeof(*h->w));
		h->w[h->n++] = (struct window){ delta, a, b };
		return;
	}
	if (h->w[j].a > a)
		h->w[j].a = a;
	if (h->w[j].b < b)
		h->w[j].b = b;
}

static int collect_ref(void *arg, uint64_t root, uint64_t ino, uint64_t off)
{
	struct relinker *r = arg;
	const struct relink_item *it = &r->c->v[r->item];

	if (root == r->self_root && ino == r->self_ino)
		return 0;	/* this file: moves with its own chunks */
	add_window(relink_holder_get(r, root, ino), off - r->at, it->file_off,
		   it->file_off + it->len);
	return 0;
}

/*
 * Many of the chunk's items on one old extent (an image overwritten in
 * thousands of places, each backup mapping the rest): one LOGICAL_INO_V2
 * query ignoring offsets answers every item of every holder on the extent,
 * where a query per item would have the kernel walk the same backrefs once
 * per item (30 backups of a fragmented 256 MiB image: 120,000 walks). Each
 * holder's items on the extent are then read, and every stretch of the
 * extent that the holder and the chunk both map gives a window.
 */
static int collect_start(void *arg, uint64_t root, uint64_t ino,
			 uint64_t off)
{
	struct relinker *r = arg;
	struct holder *h;

	if (root == r->self_root && ino == r->self_ino)
		return 0;
	h = relink_holder_get(r, root, ino);
	if (!h->on_extent) {
		h->on_extent = true;
		h->lo = h->hi = off;
		r->touched = grow_array(r->touched, &r->cap_touched,
					r->ntouched + 1, sizeof(*r->touched));
		r->touched[r->ntouched++] = h;
	}
	if (off < h->lo)
		h->lo = off;
	if (off > h->hi)
		h->hi = off;
	return 0;
}

/* One item of a holder: windows where it maps what the chunk maps. */
static int window_item(void *arg, const struct btrfs_file_extent *fe)
{
	struct relinker *r = arg;
	const struct relink_items *c = r->c;
	uint64_t s = fe->extent_offset, e = s + fe->num_bytes;
	size_t lo = 0, hi = r->ngrp;

	if (fe->disk_bytenr != c->v[r->grp[0]].bytenr ||
	    fe->type == BTRFS_FILE_EXTENT_INLINE || fe->compression)
		return 0;
	while (lo < hi) {	/* the first item ending after s */
		size_t mid = lo + (hi - lo) / 2;
		const struct relink_item *it = &c->v[r->grp[mid]];

		if (it->extent_offset + it->len <= s)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < r->ngrp; lo++) {
		const struct relink_item *it = &c->v[r->grp[lo]];
		uint64_t x0 = it->extent_offset > s ? it->extent_offset : s;
		uint64_t x1 = it->extent_offset + it->len;

		if (it->extent_offset >= e)
			break;
		if (x1 > e)
			x1 = e;
		if (x0 >= x1)
			continue;
		add_window(r->cur,
			   (fe->file_off + (x0 - s)) -
				   (it->file_off + (x0 - it->extent_offset)),
			   it->file_off + (x0 - it->extent_offset),
			   it->file_off + (x1 - it->extent_offset));
	}
	return relink_stopped(r->d) ? 1 : 0;
}

/* Returns 0, or -errno from the query (-E2BIG: ask item by item). */
static int collect_extent(struct relinker *r, const size_t *grp, size_t n)
{
	int ret;

	r->grp = grp;
	r->ngrp = n;
	r->ntouched = 0;
	ret = btrfs_extent_refs(r->d->mount_fd, r->c->v[grp[0]].bytenr,
				collect_start, r);
	for (size_t i = 0; i < r->ntouched; i++) {
		struct holder *h = r->touched[i];

		h->on_extent = false;
		if (ret < 0 || relink_stopped(r->d))
			continue;
		r->cur = h;
		if (btrfs_file_extents(r->d->mount_fd, h->key[0], h->key[1],
				       h->lo, h->hi + 1, window_item, r) < 0)
			r->st->errors++;
	}
	return ret;
}

static int cmp_item_in_extent(const void *x, const void *y, void *arg)
{
	const struct relink_items *c = arg;
	const struct relink_item *a = &c->v[*(const size_t *)x];
	const struct relink_item *b = &c->v[*(const size_t *)y];
	int cmp = cmp_u64(a->bytenr, b->bytenr);

	return cmp ? cmp : cmp_u64(a->extent_offset, b->extent_offset);
}

/* The references to one item, asked at its first and last block. */
static int collect_at_item(struct relinker *r, size_t i)
{
	const struct relink_item *it = &r->c->v[i];
	uint32_t bs = r->d->block_size;
	int ret;

	r->item = i;
	r->at = it->file_off;
	ret = btrfs_extent_refs_at(r->d->mount_fd,
				   it->bytenr + it->extent_offset, collect_ref,
				   r);
	if (ret == 0 && it->len > bs) {
		r->at = it->file_off + it->len - bs;
		ret = btrfs_extent_refs_at(r->d->mount_fd,
					   it->bytenr + it->extent_offset +
						   it->len - bs,
					   collect_ref, r);
	}
	return ret;
}

/* Finds the referrers of the range and has them follow (or counts them). */
static int relink_run(struct relinker *r)
{
	struct relink_ctx *d = r->d;
	const struct relink_items *c = r->c;
	size_t *order;
	int ret;

	if (!c->n)
		return 0;
	if (d->domain != DOMAIN_NONE)
		relink_set_self(d, r->self_root, r->self_ino);
	if (d->map) {
		relink_by_map(r);
		free(r->segs);
		return r->busy ? -EAGAIN : 0;
	}
	r->bytenrs = xcalloc(c->n, sizeof(*r->bytenrs));
	for (size_t i = 0; i < c->n; i++)
		r->bytenrs[r->nbytenrs++] = c->v[i].bytenr;
	qsort(r->bytenrs, r->nbytenrs, sizeof(*r->bytenrs), relink_cmp_u64);

	order = xcalloc(c->n, sizeof(*order));
	for (size_t i = 0; i < c->n; i++)
		order[i] = i;
	qsort_r(order, c->n, sizeof(*order), cmp_item_in_extent, (void *)c);
	for (size_t g = 0, k; g < c->n && !relink_stopped(d); g = k) {
		uint64_t bytenr = c->v[order[g]].bytenr;

		for (k = g + 1; k < c->n && c->v[order[k]].bytenr == bytenr;
		     k++)
			;
		ret = k - g > 1 ? collect_extent(r, &order[g], k - g) : -E2BIG;
		if (ret == -E2BIG) {	/* one item, or too many answers */
			ret = 0;
			for (size_t i = g; i < k && !relink_stopped(d); i++) {
				int err = collect_at_item(r, order[i]);

				if (err < 0 && err != -ENOENT)
					ret = err;
			}
		}
		if (ret < 0 && ret != -ENOENT) {	/* ENOENT: freed */
			log_info("cannot list the references to extent %llu of inode %llu in subvolume %llu: %s, skipping",
				 (unsigned long long)bytenr,
				 (unsigned long long)r->self_ino,
				 (unsigned long long)r->self_root,
				 strerror(-ret));
			r->st->errors++;
		}
		if (HASH_COUNT(r->holders) >= RELINK_HOLDERS_MAX)
			relink_flush(r);
	}
	relink_flush(r);
	free(order);
	free(r->touched);
	free(r->segs);
	free(r->fills);
	free(r->bytenrs);
	return r->busy ? -EAGAIN : 0;
}

int relink_range(struct relink_ctx *d, const struct relink_items *c,
		 int src, int64_t src_delta, uint64_t self_root,
		 uint64_t self_ino, int fill_fd, uint64_t *fill_end,
		 struct relink_stats *st)
{
	struct relinker r = { .d = d, .tmp = src, .delta_src = src_delta,
			      .st = st, .c = c, .self_root = self_root,
			      .self_ino = self_ino,
			      .fill_fd = fill_end ? fill_fd : -1,
			      .fill_end = fill_end };

	return relink_run(&r);
}

bool relink_would_follow(struct relink_ctx *d, const struct relink_items *c,
			 uint64_t self_root, uint64_t self_ino,
			 struct relink_stats *st, struct relink_files *others)
{
	struct relink_stats dry = { 0 };
	struct relinker r = { .d = d, .tmp = -1, .st = &dry, .c = c,
			      .self_root = self_root, .self_ino = self_ino,
			      .fill_fd = -1, .dry = true, .others = others };

	(void)relink_run(&r);
	if (dry.refs_pinned || dry.errors) {
		st->refs_pinned += dry.refs_pinned;
		st->bytes_pinned += dry.bytes_pinned;
		st->errors += dry.errors;
		return false;
	}
	return true;
}
