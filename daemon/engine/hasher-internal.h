/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef DEDUPD_HASHER_INTERNAL_H
#define DEDUPD_HASHER_INTERNAL_H

/*
 * What the hasher's files share (hasher.c, hasher-file.c, hasher-runs.c):
 * the state of one file being hashed. Not for use outside them;
 * engine_hash_file() (engine.h) is the hasher's one entry.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <xxhash.h>

#include "daemon/engine/engine.h"
#include "ioctl-compat/handle.h"

#define SEG_BLOCKS (1u << 16)	/* blocks matched at a time: bounds memory */
#define EXTEND_BLOCKS 64	/* source blocks read at a time to grow a run */
#define CSUM_PIECE 4096		/* blocks keyed by csums at a time */

struct hash_state {
	struct engine *e;
	struct file_job *job;
	uint64_t *seg;		/* hashes of the current segment, 0 = none */
	uint8_t *seg_csum;	/* bit per block of seg: keyed by its csum */
	uint64_t seg_start;	/* first block of the segment */
	uint64_t seg_used;	/* blocks of the segment seen so far */
	uint64_t nblocks;	/* blocks in the file, the tail included */
	uint32_t tail_len;	/* bytes in the last block if partial, else 0 */
	XXH3_state_t *digest;
	uint64_t zero_run;	/* zero blocks pending in the digest */
	bool digest_valid;
	uint64_t zero_hash;
	uint32_t src_id;	/* source open for extension, or 0 */
	int src_fd;
	uint64_t src_size;	/* its size, for its tail's key */
	uint8_t *xbuf;		/* EXTEND_BLOCKS blocks */
	uint64_t *xkeys;	/* 2 * EXTEND_BLOCKS keys, for extension */
	uint64_t bad_off;	/* where a read failed */
	uint64_t salt;		/* --domain: the file's, or 0 */
	uint64_t *keys;		/* CSUM_PIECE keys from csums, or NULL */
	uint64_t min_transid;	/* csums: of the new ranges only, or 0 */
	bool by_csum;		/* some blocks were keyed by their csums */
};

/*
 * btrfs: the byte ranges of a changed file written after the generation its
 * last hashing covered. Data already indexed is not hashed again.
 */
struct new_ranges {
	struct byte_range *v;
	size_t n, cap;
	uint32_t blksz;
};

struct stat;

/*
 * Opens @job (or takes the fd it came with) and decides whether to hash
 * it: the file the walk found, not too small, on this mount, changed since
 * it was last indexed (hasher_lookup_file). Returns the fd (job->fd too),
 * with @st and @h filled; or -1, counted, with nothing left open.
 */
int hasher_open_file(struct engine *e, struct file_job *job, struct stat *st,
		     struct file_id_handle *h);

/*
 * Finds or adds the file in the index. Returns 1 if it is unchanged since it
 * was last indexed, 2 if it is a hard link to a file already taken up in
 * this pass, 0 if it is to be hashed (job->file_id set), or -errno.
 */
int hasher_lookup_file(struct engine *e, struct file_job *job,
		       const struct file_id_handle *h);

/* Looks the whole file's digest up, or records it (finishing it first). */
void hasher_finish_digest(struct hash_state *hs);

/*
 * Fills @nr for @job. Returns 1 if only those ranges need hashing, 0 if the
 * whole file does.
 */
int hasher_find_new_ranges(struct engine *e, struct file_job *job,
			   const struct file_id_handle *h,
			   struct new_ranges *nr);

/* The hash of a block of @n bytes (the tail if < @blksz); 0 for a zero block. */
uint64_t hasher_block_hash(const uint8_t *p, size_t n, uint32_t blksz,
			  uint64_t zero_hash);

/* @h salted with the file's --domain, if any (0 stays 0). */
uint64_t hasher_salted(const struct hash_state *hs, uint64_t h);

/* Whether the blocks of extent @ex may be keyed by their btrfs csums. */
bool hasher_csum_extent(const struct engine *e, const struct extent *ex);

/*
 * Grows the runs from @first_run on both ways while the source's blocks
 * match ours, and cuts or drops those that grew into each other
 * (hasher-runs.c).
 */
void hasher_extend_runs(struct hash_state *hs, size_t first_run);

/*
 * crc32c: drops the runs shorter than CSUM_WEAK_RUN blocks whose blocks
 * read back differ from the source's (counted in hints_refuted).
 */
void hasher_confirm_short_runs(struct hash_state *hs);

#endif
