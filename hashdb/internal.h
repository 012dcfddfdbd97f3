/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef DEDUPD_HASHDB_INTERNAL_H
#define DEDUPD_HASHDB_INTERNAL_H

/*
 * Private to hashdb/, its unit test and its fuzzer: the on-disk layout and
 * the state shared by hashdb.c (file, header), block.c (block and digest
 * tables) and file.c (file table).
 */

#include <endian.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include "hashdb/hashdb.h"

#define HASHDB_HEADER_SIZE 4096
/*
 * The header page holds two copies of the header, written alternately, each
 * with its own sequence number and checksum: a write torn by a crash damages
 * only the copy being written, and the other one is still valid.
 */
#define HASHDB_HEADER_SLOT_SIZE 2048
#define HASHDB_HEADER_SLOTS 2
/* Where the checksum starts: after magic and the checksum itself. */
#define HASHDB_HEADER_SUMMED_FROM 16

#define HASHDB_BUCKET_SIZE (HASHDB_BUCKET_CELLS * HASHDB_CELL_SIZE)
#define HASHDB_DIGEST_ENTRY_SIZE 16
/* Entries an insert or lookup looks at in the digest table. */
#define HASHDB_DIGEST_WINDOW 16

#define HASHDB_FILES_INITIAL 4096u
#define HASHDB_FILES_MAX (1u << 28)
/* The file table grows when ids handed out would exceed 7/10 of it. */
#define HASHDB_FILES_FILL_NUM 7
#define HASHDB_FILES_FILL_DEN 10

/* Sampling goes up one bit when sampled cells fill 9/10 of the table. */
#define HASHDB_SAMPLE_BITS_MAX 32
#define HASHDB_SAMPLE_FILL_NUM 9
#define HASHDB_SAMPLE_FILL_DEN 10

/* Header flags */
#define HASHDB_HEADER_GROWING 0x1u /* file table growth under way */
#define HASHDB_HEADER_FLAGS_KNOWN HASHDB_HEADER_GROWING

/* File record states; 0 is a record never handed out. */
#define HASHDB_FILE_LIVE 1
#define HASHDB_FILE_DEAD 2

/* One header copy, little-endian, zero-padded to HASHDB_HEADER_SLOT_SIZE. */
struct hashdb_header {
	uint8_t magic[8];
	uint64_t checksum; /* XXH3 of the slot from offset 16 to its end */
	uint64_t sequence; /* the valid copy with the highest one wins */
	uint32_t version;
	uint32_t flags;
	uint8_t fs_uuid[16];
	/* geometry: all of it follows from budget and file_capacity */
	uint64_t budget;
	uint64_t file_bytes;
	uint64_t block_offset;
	uint64_t buckets;
	uint64_t digest_offset;
	uint64_t digests;
	uint64_t file_table_offset;
	uint64_t file_index_offset;
	uint32_t file_capacity;
	uint32_t sample_bits;
	/* counters, as of the last sync */
	uint64_t cells_used;
	uint64_t cells_sampled;
	uint64_t inserts;
	uint64_t evictions;
	uint64_t sampled_out;
	uint64_t digests_used;
	uint32_t files;
	uint32_t files_live;
	/* what block keys are made of (hashdb_key_kind); 0 in older files */
	uint32_t key_kind;
};

struct hashdb_cell {
	uint64_t hash;
	uint64_t loc; /* 0: empty */
};

struct hashdb_digest_entry {
	uint64_t digest;
	uint64_t file_id; /* 0: empty */
};

struct hashdb_file_record {
	uint64_t cookie;
	uint64_t size;
	uint64_t gen;
	int32_t handle_type;
	uint16_t handle_len;
	uint8_t state; /* HASHDB_FILE_LIVE, HASHDB_FILE_DEAD or 0 */
	uint8_t reserved;
	uint8_t handle[HASHDB_HANDLE_MAX];
};

_Static_assert(sizeof(struct hashdb_header) <= HASHDB_HEADER_SLOT_SIZE,
	       "header slot too small");
_Static_assert(sizeof(struct hashdb_cell) == HASHDB_CELL_SIZE, "cell size");
_Static_assert(sizeof(struct hashdb_digest_entry) == HASHDB_DIGEST_ENTRY_SIZE,
	       "digest entry size");
_Static_assert(sizeof(struct hashdb_file_record) == HASHDB_FILE_RECORD_SIZE,
	       "file record size");

struct hashdb_geometry {
	uint64_t budget;
	uint64_t file_bytes;
	uint64_t block_offset;
	uint64_t buckets;
	uint64_t digest_offset;
	uint64_t digests;
	uint64_t file_table_offset;
	uint64_t file_index_offset;
	uint32_t file_capacity;
};

struct hashdb {
	int fd;
	uint8_t *map;
	size_t map_len;
	uint8_t fs_uuid[16];
	struct hashdb_geometry geo;
	uint64_t sequence;
	uint32_t flags;

	/* derived from map and geo */
	struct hashdb_cell *cells;
	struct hashdb_digest_entry *digests;
	struct hashdb_file_record *file_table; /* record of id N at N - 1 */
	uint32_t *file_index; /* 2 * file_capacity slots */

	/* counters, written to the header by hashdb_sync() */
	uint64_t cells_used;
	uint64_t cells_sampled; /* cells kept under the current sample_bits */
	uint64_t inserts;
	uint64_t evictions;
	uint64_t sampled_out;
	uint64_t digests_used;
	uint32_t sample_bits;
	uint32_t files;
	uint32_t files_live;
	uint32_t key_kind;
	/*
	 * The files the header claims: db->files as of the last
	 * hashdb_sync(). Other header writes (the file table growing) keep
	 * it, so that what was recorded after the caller's last save is not
	 * trusted after a crash (hashdb_files_recover()): the caller syncs
	 * the index only behind the work its records say is done.
	 */
	uint32_t files_saved;
};

/*
 * Cut the file back on a failure path. Best effort: the caller fails either
 * way, and open_index drops whatever lies past the recorded size.
 */
static inline void hashdb_truncate_back(int fd, uint64_t len)
{
	if (ftruncate(fd, (off_t)len) < 0)
		return;
}

/*
 * Maps a 64-bit hash onto [0, n) by its high bits (multiply-shift), so
 * that n need not be a power of two and the budget is used in full.
 */
static inline uint64_t hashdb_index_of(uint64_t hash, uint64_t n)
{
	return (uint64_t)(((unsigned __int128)hash * n) >> 64);
}

/* Checksum of one header slot (HASHDB_HEADER_SLOT_SIZE bytes). */
uint64_t hashdb_header_checksum(const void *slot);

/* Lays out a file for @budget bytes of tables and @file_capacity files. */
void hashdb_geometry_compute(struct hashdb_geometry *geo, uint64_t budget,
			     uint32_t file_capacity);

/* Points cells, digests, file_table and file_index into the mapping. */
void hashdb_set_pointers(struct hashdb *db);

/* Writes db's state into the older header slot (no msync). */
void hashdb_header_write(struct hashdb *db);

/*
 * Makes the file @to bytes long, allocated from @from on.
 * Returns 0 or -errno, the file @from bytes long again.
 */
int hashdb_file_extend(int fd, uint64_t from, uint64_t to);

/* Whether @id names a live file (any value, read from the file, is safe). */
bool hashdb_file_live(const struct hashdb *db, uint64_t id);

/*
 * Counts records written after the last sync (a crash lost the counter, not
 * the records), so that their ids are never handed out again. Their cookies
 * and generations are dropped: the caller had not saved the index behind
 * what they say was done (a dedupe the crash lost), so those files are
 * hashed again.
 */
void hashdb_files_recover(struct hashdb *db);

static inline struct hashdb_file_record *
hashdb_file_record(const struct hashdb *db, uint32_t id)
{
	return &db->file_table[id - 1];
}

#endif
