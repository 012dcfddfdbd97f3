/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef DEDUPD_HASHDB_H
#define DEDUPD_HASHDB_H

/*
 * The block index: a memory-mapped file that a restart reopens instead of
 * rebuilding. No I/O to user files, no logging, no exit; not thread-safe
 * (the caller serializes).
 *
 * Layout (all little-endian, offsets in the header):
 *   header        4 KiB: magic, version, filesystem UUID, geometry, counters,
 *                 checksum of the header (two copies written in turn, so
 *                 that a torn write leaves the other one valid)
 *   block table   fixed budget: buckets of HASHDB_BUCKET_CELLS 16-byte cells
 *                 { u64 hash; u64 loc }, loc 0 = empty
 *   digest table  fixed: open addressing { u64 digest; u64 file id }
 *   file table    grows: HASHDB_FILE_RECORD_SIZE bytes per file, by id
 *   file index    grows: open addressing u32 slots -> file id (the table
 *                 grows in place over it, and it is rebuilt after the table)
 *
 * Block table: a lookup touches one bucket. When the data outgrow the
 * budget, content-defined sampling keeps only hashes whose low
 * sample_bits bits are zero, so two copies of the same data keep the same
 * blocks; inserts evict unsampled cells first.
 *
 * Locations pack a file id (1-based, 28 bits) and a block number (36 bits).
 * A location whose file id has been forgotten reads as empty.
 */

#include <stdbool.h>
#include <stdint.h>

#define HASHDB_MAGIC "DEDUPDB\0"
#define HASHDB_VERSION 2	/* 2: file records carry a generation */
#define HASHDB_BUCKET_CELLS 8
#define HASHDB_CELL_SIZE 16
#define HASHDB_MIN_SIZE (1ULL << 18)
#define HASHDB_MAX_SIZE (1ULL << 40)
#define HASHDB_HANDLE_MAX 32	/* btrfs 20 bytes, XFS 8-24, ext4 8 */
#define HASHDB_FILE_RECORD_SIZE 64

#define HASHDB_LOC_BLOCK_BITS 36
#define HASHDB_LOC_MAX_FILE ((1u << 28) - 1)
#define HASHDB_LOC_MAX_BLOCK ((1ULL << HASHDB_LOC_BLOCK_BITS) - 1)

static inline uint64_t hashdb_loc(uint32_t file_id, uint64_t block)
{
	return ((uint64_t)file_id << HASHDB_LOC_BLOCK_BITS) | block;
}

static inline uint32_t hashdb_loc_file(uint64_t loc)
{
	return (uint32_t)(loc >> HASHDB_LOC_BLOCK_BITS);
}

static inline uint64_t hashdb_loc_block(uint64_t loc)
{
	return loc & HASHDB_LOC_MAX_BLOCK;
}

struct hashdb;

/* hashdb_open() results besides -errno */
enum hashdb_open_result {
	HASHDB_OPENED = 0,	/* an existing, valid index was reopened */
	HASHDB_CREATED = 1,	/* there was none: a new, empty one */
	HASHDB_REBUILT = 2,	/* damaged, foreign or other version: replaced */
	HASHDB_RESIZED = 3,	/* a different size was asked for: replaced */
};

/*
 * Opens the index at @path for the filesystem @fs_uuid, creating it (mode
 * 0600) if missing. @size is the total budget in bytes for the block and
 * digest tables (clamped to [HASHDB_MIN_SIZE, HASHDB_MAX_SIZE]); 0 keeps the
 * size of an existing file, or uses HASHDB_MIN_SIZE for a new one.
 * A file that fails the magic, version, UUID, checksum or size checks is
 * never trusted: it is replaced by an empty one (HASHDB_REBUILT).
 * Takes an exclusive lock on the file: -EWOULDBLOCK if another process
 * holds it.
 * Returns an enum hashdb_open_result and sets *@ret_db, or -errno (*@ret_db
 * untouched).
 */
int hashdb_open(const char *path, const uint8_t fs_uuid[16], uint64_t size,
		struct hashdb **ret_db);

/*
 * Writes the header (counters, checksum) and syncs the mapping to disk.
 * Files added since the last call are trusted from now on: after a crash
 * before it, a reopened index keeps their ids but not their cookies (they
 * read as never indexed), whatever reached the disk meanwhile (the file
 * table's growth writes the header too). Returns 0 or -errno.
 */
int hashdb_sync(struct hashdb *db);

/* Syncs, unmaps, unlocks and frees; NULL-safe. Returns NULL. */
struct hashdb *hashdb_close(struct hashdb *db);

/*
 * Where @db is mapped, for a SIGBUS handler to tell a fault on the index
 * (a write fault the filesystem could not back: full, or the file's blocks
 * shared by a snapshot) from any other. Reads two fields and takes no lock:
 * async-signal-safe. Growing the file table moves the mapping.
 */
void hashdb_mapping(const struct hashdb *db, void **ret_addr,
		    size_t *ret_len);

/* ---- block table ---- */

/*
 * Looks @hash up. Returns 1 and sets *@ret_loc to where that content was
 * seen, or 0 if it is not indexed (or only at a forgotten file).
 */
int hashdb_lookup(struct hashdb *db, uint64_t hash, uint64_t *ret_loc);

/*
 * Looks @hash up and, if absent, indexes it at @loc (subject to sampling).
 * Returns 1 and sets *@ret_loc if the hash was already indexed (nothing is
 * inserted), 0 if it was inserted or left out by sampling.
 * Returns -EINVAL for loc 0 or a location whose file is not live.
 */
int hashdb_lookup_insert(struct hashdb *db, uint64_t hash, uint64_t loc,
			 uint64_t *ret_loc);

/*
 * Drops the cell (@hash, @loc), a hint the kernel found stale.
 * Returns 1 if removed, 0 if not present.
 */
int hashdb_remove(struct hashdb *db, uint64_t hash, uint64_t loc);

/* Whether @hash would be kept under the current sampling. */
bool hashdb_sampled(const struct hashdb *db, uint64_t hash);

/* ---- whole-file digests ---- */

/*
 * Looks up a whole-file digest. Returns 1 and sets *@ret_file_id (a live
 * file), or 0.
 */
int hashdb_digest_lookup(struct hashdb *db, uint64_t digest,
			 uint32_t *ret_file_id);

/*
 * Records that file @file_id has whole-file digest @digest (replacing any
 * older entry for that digest). Returns 0, or -EINVAL if @file_id is not a
 * live file.
 */
int hashdb_digest_insert(struct hashdb *db, uint64_t digest, uint32_t file_id);

/* ---- file table ---- */

struct hashdb_file {
	uint64_t cookie;	/* change cookie of the file as last indexed */
	uint64_t size;		/* size as last indexed */
	uint64_t gen;		/* btrfs: every extent of a generation up to
				 * this one was hashed; 0: unknown */
	int32_t handle_type;
	uint32_t handle_len;
	uint8_t handle[HASHDB_HANDLE_MAX];
};

/*
 * Finds the live file with this handle. Returns 1 and sets *@ret_id, or 0
 * (also for a handle no file can have: length 0 or over HASHDB_HANDLE_MAX).
 */
int hashdb_file_find(struct hashdb *db, int32_t handle_type,
		     const void *handle, uint32_t handle_len,
		     uint32_t *ret_id);

/*
 * Adds a file (cookie 0, size 0) or returns the id it already has.
 * Returns 1 if it was added, 0 if it existed, and sets *@ret_id; -EINVAL if
 * @handle_len is 0 or over HASHDB_HANDLE_MAX, -ENOSPC when ids run out,
 * -errno if growing the file failed.
 * Growing the table remaps the file.
 */
int hashdb_file_add(struct hashdb *db, int32_t handle_type, const void *handle,
		    uint32_t handle_len, uint32_t *ret_id);

/* Copies file @id's record. Returns 0, or -ENOENT (no such live file). */
int hashdb_file_get(const struct hashdb *db, uint32_t id,
		    struct hashdb_file *ret);

/* Sets file @id's cookie and size, and its generation to 0. Returns 0, or
 * -ENOENT. */
int hashdb_file_set_cookie(struct hashdb *db, uint32_t id, uint64_t cookie,
			   uint64_t size);

/* Sets file @id's generation (see struct hashdb_file). 0, or -ENOENT. */
int hashdb_file_set_gen(struct hashdb *db, uint32_t id, uint64_t gen);

/*
 * Forgets file @id (deleted or replaced): its cells read as empty from now
 * on and its id is never reused. Returns 0, or -ENOENT.
 */
int hashdb_file_forget(struct hashdb *db, uint32_t id);

/*
 * What the block keys of the index are made of, for its user to record and
 * check (the header keeps it from the next hashdb_sync() on): 0 in a new
 * index. dedupd: 0 hashes of the bytes only, 1 + the btrfs csum type when
 * keys made from csums of that type may be in it.
 */
uint32_t hashdb_key_kind(const struct hashdb *db);
void hashdb_set_key_kind(struct hashdb *db, uint32_t kind);

/* ---- figures ---- */

struct hashdb_stats {
	uint64_t file_bytes;	/* size of the index file */
	uint64_t budget;	/* of the block and digest tables */
	uint64_t cells;		/* capacity of the block table */
	uint64_t cells_used;
	uint32_t sample_bits;	/* 0: every block is indexed */
	uint64_t inserts, evictions, sampled_out;
	uint64_t digests, digests_used;
	uint32_t files;		/* ids handed out */
	uint32_t files_live;
	uint32_t files_capacity;
};

void hashdb_get_stats(const struct hashdb *db, struct hashdb_stats *ret);

#endif
