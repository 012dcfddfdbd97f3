// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The relocation primitive's referrer half (relink.h): every other
 * reference to data that moved follows it, so that the old extents are
 * freed.
 */
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/btrfs_tree.h>
#include <uthash.h>

#include "daemon/common/log.h"
#include "daemon/engine/physmap.h"
#include "daemon/engine/relink.h"
#include "daemon/common/util.h"
#include "ioctl-compat/btrfs.h"
#include "ioctl-compat/dedupe.h"
#include "ioctl-compat/fiemap.h"

struct holder_fd;
struct rejected;
struct relink_ctx;

static bool stopped(const struct relink_ctx *r);

struct relink_ctx {
	int mount_fd;
	uint32_t block_size;
	bool skip_readonly;
	bool meta_by_caller;	/* relink_metadata_by_caller() */
	enum dedupe_domain domain;
	uint64_t self_root;	/* the file whose data moved: its domain */
	uid_t self_uid;
	bool self_known;
	const volatile sig_atomic_t *stop;	/* or NULL */
	struct holder_fd *fds;	/* of referrer files, by root and inode */
	struct rejected *rejected;	/* referrers left alone in this file */
	struct physmap *map;	/* XFS: the referrers of this file */
};

static bool stopped(const struct relink_ctx *r)
{
	return r->stop && *r->stop;
}

/* A destination opened by path: read-only, not following a symlink. */
static int open_path_ro(const char *path)
{
	const int flags = O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC;
	int fd;

	if (!path)
		return -ENOENT;
	fd = open(path, flags | O_NOATIME);
	if (fd < 0 && errno == EPERM)
		fd = open(path, flags);
	return fd < 0 ? -errno : fd;
}

/* Read-only fds of holder files, kept while one file is worked on. */
struct holder_fd {
	uint64_t key[2];	/* root, ino */
	int fd;			/* -1: cannot be opened, or left alone */
	UT_hash_handle hh;
};

#define HOLDER_FDS_MAX 1024

static int holder_fd(struct relink_ctx *d, uint64_t root, uint64_t ino)
{
	struct holder_fd *f, *tmp;
	uint64_t key[2] = { root, ino };

	HASH_FIND(hh, d->fds, key, sizeof(key), f);
	if (f)
		return f->fd;
	if (HASH_COUNT(d->fds) >= HOLDER_FDS_MAX) {
		HASH_ITER(hh, d->fds, f, tmp) {
			HASH_DEL(d->fds, f);
			if (f->fd >= 0)
				close(f->fd);
			free(f);
		}
	}
	f = xcalloc(1, sizeof(*f));
	f->key[0] = root;
	f->key[1] = ino;
	/* Read-only, as every destination: snapshots may be read-only. */
	if (!root && d->map)	/* XFS: a file of the map, by its path */
		f->fd = open_path_ro(physmap_path(d->map, (uint32_t)ino));
	else
		f->fd = btrfs_open_inode(d->mount_fd, root, ino,
					 O_NONBLOCK | O_NOATIME);
	if (f->fd == -EPERM)
		f->fd = btrfs_open_inode(d->mount_fd, root, ino, O_NONBLOCK);
	if (f->fd >= 0 && d->skip_readonly &&
	    btrfs_subvol_readonly(f->fd) != 0) {
		close(f->fd);	/* --snapshots=skip: left as it is */
		f->fd = -1;
	}
	if (f->fd < 0)
		f->fd = -1;
	HASH_ADD(hh, d->fds, key, sizeof(f->key), f);
	return f->fd;
}

/*
 * The file whose data moves, for --domain: its subvolume, and its owner
 * (read from the file itself, by inode).
 */
static void set_self(struct relink_ctx *d, uint64_t root, uint64_t ino)
{
	struct stat st;
	int fd;

	d->self_root = root;
	d->self_known = d->domain != DOMAIN_OWNER;
	if (d->self_known || !root)
		return;
	fd = btrfs_open_inode(d->mount_fd, root, ino, O_NONBLOCK | O_NOATIME);
	if (fd == -EPERM)
		fd = btrfs_open_inode(d->mount_fd, root, ino, O_NONBLOCK);
	if (fd < 0)
		return;
	if (fstat(fd, &st) == 0) {
		d->self_uid = st.st_uid;
		d->self_known = true;
	}
	close(fd);
}

/*
 * A holder's fd if it may be deduped into: in the domain of the file whose
 * data moved (--domain), else -1 (it stays, pinned). Holders already share
 * the data; following it must not make them share it with another domain's
 * file.
 */
static int holder_open(struct relink_ctx *d, uint64_t root, uint64_t ino)
{
	int fd = holder_fd(d, root, ino);
	struct stat st;

	if (fd < 0 || d->domain == DOMAIN_NONE)
		return fd;
	if (d->domain == DOMAIN_SUBVOLUME)
		return root == d->self_root ? fd : -1;
	if (!d->self_known || fstat(fd, &st) < 0 || st.st_uid != d->self_uid)
		return -1;
	return fd;
}

struct domain_check {
	struct relink_ctx *d;
	uint64_t root, ino;
	bool ok;
};

static int check_domain_ref(void *arg, uint64_t root, uint64_t ino,
			    uint64_t off)
{
	struct domain_check *x = arg;

	(void)off;
	if (root == x->root && ino == x->ino)
		return 0;
	if (holder_open(x->d, root, ino) < 0) {
		x->ok = false;
		return 1;
	}
	return 0;
}

bool relink_extent_in_domain(struct relink_ctx *d, int fd, uint64_t bytenr)
{
	struct domain_check x = { .d = d, .ok = true };

	if (d->domain == DOMAIN_NONE)
		return true;
	if (btrfs_file_root(fd, &x.root, &x.ino) < 0)
		return false;
	set_self(d, x.root, x.ino);
	if (btrfs_extent_refs(d->mount_fd, bytenr, check_domain_ref, &x) < 0)
		return false;
	return x.ok;
}

/*
 * A holder whose items on the old extents did not match the original's, at
 * one distance: it is left alone for the rest of the file, so that a later
 * chunk does not relink a stray piece of it (and cut it up) while an
 * earlier one kept the rest.
 */
struct rejected {
	uint64_t key[3];	/* root, ino, delta */
	UT_hash_handle hh;
};

void relink_reset(struct relink_ctx *d)
{
	struct holder_fd *f, *tmp;
	struct rejected *j, *jtmp;

	HASH_ITER(hh, d->rejected, j, jtmp) {
		HASH_DEL(d->rejected, j);
		free(j);
	}

	HASH_ITER(hh, d->fds, f, tmp) {
		HASH_DEL(d->fds, f);
		if (f->fd >= 0)
			close(f->fd);
		free(f);
	}
	d->map = physmap_free(d->map);
}

void relink_use_map(struct relink_ctx *d, struct physmap *m)
{
	relink_reset(d);
	d->map = m;
}

/*
 * Who else maps the chunk's old data, and where. An old extent the chunk
 * maps in one item is asked about at the disk address of the item's first
 * byte (LOGICAL_INO_V2, offsets not ignored), which answers every file
 * extent item covering that byte, with the file offset where the byte sits
 * in its holder; an item longer than a block is asked about at its last
 * block too, for holders that start inside it. Ignoring offsets, the kernel
 * would answer every item of every holder on the extent (a 128 MiB extent
 * overwritten in 7,000 places, in 100 snapshots, is 700,000 references per
 * query). An old extent the chunk maps in several items is asked about once,
 * offsets ignored, since the kernel walks all its backrefs for each query
 * anyway (collect_extent); when the answer would not fit the largest buffer,
 * item by item.
 *
 * Each holder found gets a window per distance at which it maps the
 * chunk's bytes. Then the holder's own items in each window are read (one
 * tree search per window), and an item is relinked only if it maps exactly
 * what the original mapped at that distance, the same old extent bytes,
 * all of it (as far as the chunk goes). Those bytes are then identical by
 * construction, and relinking the item whole replaces it without splitting
 * it: a snapshot that shares the chunk as the original had it ends up
 * sharing the new extents, in as many pieces as the new copy has; a holder
 * that kept older data where the original was overwritten since (a snapshot
 * taken before the fragmenting writes) is left alone, rather than cut into
 * pieces while it still pins the old extent. Items of one holder that
 * follow each other merge into one destination range, and holders with the
 * same range are batched, up to 127 per call.
 */
struct window {
	uint64_t delta;		/* holder offset - original offset (mod 2^64) */
	uint64_t a, b;		/* the original's offsets, in the chunk */
};

struct holder {
	uint64_t key[2];	/* root, ino; XFS: 0, file of the map */
	struct window *w;
	size_t n, cap;
	size_t last;		/* XFS: 1 + its latest segment, or 0 */
	uint64_t lo, hi;	/* its items on the extent asked about */
	bool on_extent;
	UT_hash_handle hh;
};

/* The original's [a, b) is at dst in the holder: one destination. */
struct seg {
	uint64_t a, b, dst;
	const struct holder *h;
};

/* Bound memory per chunk: past these, what is collected is flushed. */
#define RELINK_SEGS_MAX 65536
#define RELINK_HOLDERS_MAX 4096

/* Old bytes [eoff, +len) of extent bytenr, at dst in holder h. */
struct fill {
	uint64_t bytenr, eoff, len, dst;
	const struct holder *h;
};

struct relinker {
	struct relink_ctx *d;
	int tmp;
	int64_t delta_src;	/* original offset t is at t + delta_src of tmp */
	struct relink_stats *st;
	const struct relink_items *c;
	size_t item;		/* the item whose references are coming */
	uint64_t at;		/* the original offset they are asked at */
	uint64_t self_root, self_ino;
	struct holder *holders;
	struct seg *segs;
	size_t nsegs, cap;
	uint64_t *bytenrs;	/* the chunk's old extents, sorted */
	size_t nbytenrs;
	const size_t *grp;	/* the chunk's items on one old extent, */
	size_t ngrp;		/* by their offset in it */
	struct holder **touched;	/* holders met on that extent */
	size_t ntouched, cap_touched;
	struct holder *cur;	/* whose items are being read */
	uint64_t delta;
	size_t win_seg;		/* the window's first segment */
	bool mismatch;		/* the window maps old data differently */
	int busy;
	/*
	 * Partial holders (fill_fd >= 0): where a holder maps the old extents
	 * otherwise than the original did, those old bytes are copied once
	 * into fill_fd (appended at *fill_end) and every holder that maps
	 * them is deduped onto that copy, so that no reference to the old
	 * extents is left.
	 */
	int fill_fd;
	uint64_t *fill_end;
	struct fill *fills;
	size_t nfills, cap_fills;
	bool dry;		/* only count who could not follow */
	struct relink_files *others;	/* dry: who in other subvolumes */
};

static struct holder *holder_get(struct relinker *r, uint64_t root,
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
	add_window(holder_get(r, root, ino), off - r->at, it->file_off,
		   it->file_off + it->len);
	return 0;
}

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

static int cmp_u64(const void *x, const void *y)
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
	return stopped(r->d) ? 1 : 0;
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
		     sizeof(*r->bytenrs), cmp_u64))
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
	return stopped(r->d) ? 1 : 0;
}

static int cmp_seg(const void *x, const void *y)
{
	const struct seg *a = x, *b = y;

	if (a->a != b->a)
		return a->a < b->a ? -1 : 1;
	if (a->b != b->b)
		return a->b < b->b ? -1 : 1;
	return 0;
}

/* Dedupes the segments collected, the same ranges batched; forgets them. */
static void relink_segs(struct relinker *r)
{
	struct dedupe_dest dests[DEDUPE_MAX_DESTS];
	size_t i = 0;

	if (r->nsegs)
		qsort(r->segs, r->nsegs, sizeof(*r->segs), cmp_seg);
	while (i < r->nsegs && !stopped(r->d)) {
		const struct seg *sg = &r->segs[i];
		unsigned int nd = 0;

		for (; i < r->nsegs && nd < DEDUPE_MAX_DESTS &&
		       r->segs[i].a == sg->a && r->segs[i].b == sg->b; i++) {
			int fd = holder_open(r->d, r->segs[i].h->key[0],
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

	if (a->bytenr != b->bytenr)
		return a->bytenr < b->bytenr ? -1 : 1;
	if (a->eoff != b->eoff)
		return a->eoff < b->eoff ? -1 : 1;
	if (a->len != b->len)
		return a->len < b->len ? -1 : 1;
	return 0;
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
	while (i < r->nfills && !stopped(r->d)) {
		const struct fill *f = &r->fills[i];
		uint64_t len = f->len / bs * bs, at = *r->fill_end;
		unsigned int nd = 0;
		size_t j = i;
		int src = -1;

		for (; j < r->nfills && !cmp_fill(&r->fills[j], f) &&
		       nd < DEDUPE_MAX_DESTS; j++) {
			int fd = holder_open(r->d, r->fills[j].h->key[0],
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
static void relink_flush(struct relinker *r)
{
	struct holder *h, *tmp;

	HASH_ITER(hh, r->holders, h, tmp) {
		r->cur = h;
		for (size_t j = 0; j < h->n && !stopped(r->d); j++) {
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
	struct holder *h = holder_get(r, 0, file);
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
static void relink_by_map(struct relinker *r)
{
	struct holder *h, *tmp;

	for (r->item = 0; r->item < r->c->n && !stopped(r->d); r->item++) {
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
	h = holder_get(r, root, ino);
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
	return stopped(r->d) ? 1 : 0;
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
		if (ret < 0 || stopped(r->d))
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

	if (a->bytenr != b->bytenr)
		return a->bytenr < b->bytenr ? -1 : 1;
	if (a->extent_offset != b->extent_offset)
		return a->extent_offset < b->extent_offset ? -1 : 1;
	return 0;
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
		set_self(d, r->self_root, r->self_ino);
	if (d->map) {
		relink_by_map(r);
		free(r->segs);
		return r->busy ? -EAGAIN : 0;
	}
	r->bytenrs = xcalloc(c->n, sizeof(*r->bytenrs));
	for (size_t i = 0; i < c->n; i++)
		r->bytenrs[r->nbytenrs++] = c->v[i].bytenr;
	qsort(r->bytenrs, r->nbytenrs, sizeof(*r->bytenrs), cmp_u64);

	order = xcalloc(c->n, sizeof(*order));
	for (size_t i = 0; i < c->n; i++)
		order[i] = i;
	qsort_r(order, c->n, sizeof(*order), cmp_item_in_extent, (void *)c);
	for (size_t g = 0, k; g < c->n && !stopped(d); g = k) {
		uint64_t bytenr = c->v[order[g]].bytenr;

		for (k = g + 1; k < c->n && c->v[order[k]].bytenr == bytenr;
		     k++)
			;
		ret = k - g > 1 ? collect_extent(r, &order[g], k - g) : -E2BIG;
		if (ret == -E2BIG) {	/* one item, or too many answers */
			ret = 0;
			for (size_t i = g; i < k && !stopped(d); i++) {
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

void relink_metadata_by_caller(struct relink_ctx *d)
{
	d->meta_by_caller = true;
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

static int collect_item(void *arg, const struct btrfs_file_extent *fe)
{
	struct relink_items *c = arg;
	uint64_t a = fe->file_off, b = fe->file_off + fe->num_bytes;

	if (!fe->disk_bytenr || fe->type == BTRFS_FILE_EXTENT_INLINE ||
	    fe->compression)
		return 0;	/* holes, inline data, compressed: left be */
	if (a < c->start)
		a = c->start;
	if (b > c->end)
		b = c->end;
	if (a >= b)
		return 0;
	c->v = grow_array(c->v, &c->cap, c->n + 1, sizeof(*c->v));
	c->v[c->n++] = (struct relink_item){
		.file_off = a,
		.len = b - a,
		.bytenr = fe->disk_bytenr,
		.extent_offset = fe->extent_offset + (a - fe->file_off),
	};
	return 0;
}

/* The extent ranges that a move covers, and whether a referrer strays. */
struct extent_check {
	const struct relink_items *c;	/* everything that moves */
	uint64_t bytenr;
	uint64_t (*refs)[3];	/* root, ino, item offset */
	size_t n, cap;
	bool stray;
};

#define RELINK_CHECK_REFS 4096

static int check_collect(void *arg, uint64_t root, uint64_t ino,
			 uint64_t offset)
{
	struct extent_check *x = arg;

	if (x->n >= RELINK_CHECK_REFS)
		return 1;	/* too many to look at: not worth it */
	x->refs = grow_array(x->refs, &x->cap, x->n + 1, sizeof(*x->refs));
	x->refs[x->n][0] = root;
	x->refs[x->n][1] = ino;
	x->refs[x->n++][2] = offset;
	return 0;
}

/* Whether [a, b) of the extent is mapped by the move's items. */
static bool in_move(const struct extent_check *x, uint64_t a, uint64_t b)
{
	while (a < b) {
		uint64_t next = a;

		for (size_t i = 0; i < x->c->n; i++) {
			const struct relink_item *it = &x->c->v[i];

			if (it->bytenr == x->bytenr && it->extent_offset <= a &&
			    it->extent_offset + it->len > a &&
			    it->extent_offset + it->len > next)
				next = it->extent_offset + it->len;
		}
		if (next == a)
			return false;
		a = next;
	}
	return true;
}

static int check_ref_item(void *arg, const struct btrfs_file_extent *fe)
{
	struct extent_check *x = arg;

	if (fe->disk_bytenr == x->bytenr &&
	    !in_move(x, fe->extent_offset, fe->extent_offset + fe->num_bytes)) {
		x->stray = true;
		return 1;
	}
	return 0;
}

void relink_files_add(struct relink_files *f, uint64_t root, uint64_t ino)
{
	for (size_t i = 0; i < f->n; i++)
		if (f->v[i][0] == root && f->v[i][1] == ino)
			return;
	f->v = grow_array(f->v, &f->cap, f->n + 1, sizeof(*f->v));
	f->v[f->n][0] = root;
	f->v[f->n++][1] = ino;
}

static bool is_follower(const struct relink_files *f, uint64_t root,
			uint64_t ino)
{
	for (size_t i = 0; f && i < f->n; i++)
		if (f->v[i][0] == root && f->v[i][1] == ino)
			return true;
	return false;
}

bool relink_frees_extents(struct relink_ctx *d, const struct relink_items *c,
			  const struct relink_items *moving,
			  const struct relink_files *followers)
{
	struct extent_check x = { .c = moving };
	bool frees = c->n > 0;

	for (size_t i = 0; i < c->n && frees && !stopped(d); i++) {
		bool seen = false;

		for (size_t k = 0; k < i && !seen; k++)
			seen = c->v[k].bytenr == c->v[i].bytenr;
		if (seen)
			continue;
		x.bytenr = c->v[i].bytenr;
		x.n = 0;
		x.stray = false;
		if (btrfs_extent_refs(d->mount_fd, x.bytenr, check_collect,
				      &x) != 0) {
			frees = false;
			break;
		}
		for (size_t k = 0; k < x.n && !x.stray; k++)
			if (!is_follower(followers, x.refs[k][0],
					 x.refs[k][1]) &&
			    btrfs_file_extents(d->mount_fd, x.refs[k][0],
					       x.refs[k][1], x.refs[k][2],
					       x.refs[k][2] + 1, check_ref_item,
					       &x) < 0)
				x.stray = true;
		frees = !x.stray;
	}
	free(x.refs);
	return frees;
}

int relink_items_read(struct relink_ctx *r, uint64_t root, uint64_t ino,
		      uint64_t start, uint64_t end, struct relink_items *items)
{
	int ret;

	items->n = 0;
	items->start = start;
	items->end = end;
	ret = btrfs_file_extents(r->mount_fd, root, ino, start, end,
				 collect_item, items);
	if (ret < 0)
		items->n = 0;
	return ret < 0 ? ret : 0;
}

int relink_items_fiemap(int fd, uint64_t start, uint64_t end,
			struct relink_items *items)
{
	struct fiemap_iter *it;
	struct extent x;
	int ret;

	items->n = 0;
	items->start = start;
	items->end = end;
	ret = fiemap_iter_open(fd, start, end, FIEMAP_ITER_SYNC, &it);
	if (ret < 0)
		return ret;
	while ((ret = fiemap_iter_next(it, &x)) == 1) {
		if (x.flags & (EXTENT_HOLE | EXTENT_UNWRITTEN | EXTENT_ENCODED |
			       EXTENT_INLINE | EXTENT_DELALLOC |
			       EXTENT_UNKNOWN))
			continue;
		items->v = grow_array(items->v, &items->cap, items->n + 1,
				      sizeof(*items->v));
		items->v[items->n++] = (struct relink_item){
			.file_off = x.logical,
			.len = x.length,
			.bytenr = x.physical,
			.shared = !!(x.flags & EXTENT_SHARED),
		};
	}
	fiemap_iter_free(it);
	if (ret < 0)
		items->n = 0;
	return ret < 0 ? ret : 0;
}

void relink_items_release(struct relink_items *items)
{
	free(items->v);
	memset(items, 0, sizeof(*items));
}

struct relink_ctx *relink_new(int mount_fd, uint32_t block_size,
			      bool skip_readonly, enum dedupe_domain domain,
			      const volatile sig_atomic_t *stop)
{
	struct relink_ctx *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->mount_fd = mount_fd;
	r->block_size = block_size;
	r->skip_readonly = skip_readonly;
	r->domain = domain;
	r->stop = stop;
	return r;
}

struct relink_ctx *relink_free(struct relink_ctx *r)
{
	if (!r)
		return NULL;
	relink_reset(r);
	free(r);
	return NULL;
}
