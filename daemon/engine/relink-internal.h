/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef DEDUPD_RELINK_INTERNAL_H
#define DEDUPD_RELINK_INTERNAL_H

/*
 * What the relinker's files share (relink.c, relink-collect.c,
 * relink-match.c, relink-xfs.c, relink-frees.c): the context, and the state
 * of one relink_range() call. Not for use outside them.
 */

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <uthash.h>

#include "daemon/engine/relink.h"

struct holder_fd;
struct rejected;

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

static inline bool relink_stopped(const struct relink_ctx *r)
{
	return r->stop && *r->stop;
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

/*
 * The file whose data moves, for --domain: its subvolume, and its owner
 * (read from the file itself, by inode).
 */
void relink_set_self(struct relink_ctx *d, uint64_t root, uint64_t ino);

/*
 * A holder's fd if it may be deduped into: in the domain of the file whose
 * data moved (--domain), else -1 (it stays, pinned). Kept open by @d.
 */
int relink_holder_open(struct relink_ctx *d, uint64_t root, uint64_t ino);

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

/* The holder (root, ino) of @r, created empty if new. */
struct holder *relink_holder_get(struct relinker *r, uint64_t root,
				 uint64_t ino);

/* For qsort() and bsearch() of uint64_t. */
int relink_cmp_u64(const void *x, const void *y);

/* Dedupes the segments collected, the same ranges batched; forgets them. */
void relink_segs(struct relinker *r);

/* Reads every holder's items in its windows, relinks, forgets them. */
void relink_flush(struct relinker *r);

/* XFS: the referrers from the map (physmap.h) follow. */
void relink_by_map(struct relinker *r);

#endif
