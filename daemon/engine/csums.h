/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef DEDUPD_CSUMS_H
#define DEDUPD_CSUMS_H

/*
 * Block keys from btrfs's data checksums, so that a pass reads the csum tree
 * (about 0.1% of the data) instead of the data. A key is derived from a
 * block's csum as a hash is from its bytes, in a space of its own: a block
 * keyed by its csum never matches one keyed by its bytes. Like any hash, a
 * key is a hint: the kernel compares the bytes before it shares them.
 *
 * Where there is no csum (nodatasum files, compressed, inline and
 * preallocated extents, XFS, a csum tree we may not read), the hasher reads
 * the data as before; `--read-all` reads everything.
 *
 * crc32c is 32 bits: with terabytes of unique data most blocks have a false
 * twin. A run of CSUM_WEAK_RUN matching blocks or more, consecutive in both
 * files, is a hint as good as a 64-bit one; a shorter run is read back and
 * compared before it goes to the kernel (hasher.c).
 */

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "ioctl-compat/btrfs-csum.h"

#define CSUM_WEAK_RUN 4

struct engine;

struct csum_src {
	/*
	 * Bumped for each batch: a window read before may hold the csums of
	 * data since freed (by our dedupes too) and its blocks reused.
	 */
	atomic_uint epoch;
	bool on;		/* keys come from csums where there are any */
	bool weak;		/* crc32c: short runs are confirmed by a read */
	struct btrfs_csum_info ci;
	const uint8_t *zero;	/* a zero block's csum, or NULL if unknown */
};

/*
 * Decides whether @e keys blocks by their csums: btrfs with sectors of the
 * engine's block size, not e->read_all, and a csum tree that can be read
 * through @fd (CAP_SYS_ADMIN). Sets e->csum.
 */
void csums_setup(struct engine *e, int fd);

/* A new batch: csums read for the one before are read again. */
void csums_new_batch(struct engine *e);

/*
 * The keys of @n blocks whose data lie at btrfs logical address @phys on
 * (the last one @tail_len bytes long if that is not 0: the file's tail),
 * from the csum tree, through a window the calling thread keeps. Only csums
 * in tree blocks written at @min_transid or later are looked at (0: all).
 * A zero block's key is 0. Returns @n with @keys filled, 0 if one of the
 * blocks has no csum (read them instead), or -errno.
 */
int csums_keys(struct engine *e, uint64_t phys, uint64_t n,
	       uint32_t tail_len, uint64_t min_transid, uint64_t *keys);

#endif
