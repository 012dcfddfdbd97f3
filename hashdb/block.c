// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The block table and the whole-file digest table.
 *
 * Cells and digest entries are hints: the kernel compares the bytes before
 * sharing anything. A torn or stale one costs a failed dedupe, so they are
 * written without ordering or checksums; only their file ids are checked
 * (a file id read from the table may be anything).
 */
#include <errno.h>

#include "hashdb/internal.h"

static uint64_t cell_hash(const struct hashdb_cell *cell)
{
	return le64toh(cell->hash);
}

static uint64_t cell_loc(const struct hashdb_cell *cell)
{
	return le64toh(cell->loc);
}

static bool loc_live(const struct hashdb *db, uint64_t loc)
{
	return loc != 0 && hashdb_file_live(db, hashdb_loc_file(loc));
}

/*
 * Mixes all bits of @hash into a choice among @n (a power of two, at most
 * 64): the top bits of the product depend on every bit of @hash, unlike
 * its low bits (zero when sampled) or high bits (the bucket).
 */
static unsigned int pick(uint64_t hash, unsigned int n)
{
	return (unsigned int)((hash * 0x9e3779b97f4a7c15ULL) >> 58) & (n - 1);
}

static struct hashdb_cell *bucket_of(const struct hashdb *db, uint64_t hash)
{
	return &db->cells[hashdb_index_of(hash, db->geo.buckets) *
			  HASHDB_BUCKET_CELLS];
}

bool hashdb_sampled(const struct hashdb *db, uint64_t hash)
{
	uint64_t mask = (1ULL << db->sample_bits) - 1;

	return (hash & mask) == 0;
}

static void counters_drop(struct hashdb *db, uint64_t old_hash)
{
	if (db->cells_used)
		db->cells_used--;
	if (hashdb_sampled(db, old_hash) && db->cells_sampled)
		db->cells_sampled--;
}

static void cell_clear(struct hashdb *db, struct hashdb_cell *cell)
{
	counters_drop(db, cell_hash(cell));
	cell->loc = 0;
	cell->hash = 0;
}

/*
 * Returns the cell holding @hash at a live file, or NULL. Cells of @hash at
 * forgotten files are emptied on the way; *@ret_empty (if given) is set to
 * the first empty cell of the bucket when no live cell is found.
 */
static struct hashdb_cell *bucket_find(struct hashdb *db,
				       struct hashdb_cell *bucket,
				       uint64_t hash,
				       struct hashdb_cell **ret_empty)
{
	struct hashdb_cell *empty = NULL;
	unsigned int i;

	for (i = 0; i < HASHDB_BUCKET_CELLS; i++) {
		struct hashdb_cell *cell = &bucket[i];
		uint64_t loc = cell_loc(cell);

		if (loc == 0) {
			if (!empty)
				empty = cell;
			continue;
		}
		if (cell_hash(cell) != hash)
			continue;
		if (loc_live(db, loc))
			return cell;
		cell_clear(db, cell);
		if (!empty)
			empty = cell;
	}
	if (ret_empty)
		*ret_empty = empty;
	return NULL;
}

/*
 * Picks the cell of a full bucket that a sampled @hash replaces, and keeps
 * the counters: a cell of a forgotten file first, then one that the current
 * sampling would not keep, then any (chosen by @hash).
 */
static struct hashdb_cell *
bucket_victim(struct hashdb *db, struct hashdb_cell *bucket, uint64_t hash)
{
	unsigned int start = pick(hash, HASHDB_BUCKET_CELLS);
	struct hashdb_cell *unsampled = NULL;
	unsigned int i;

	for (i = 0; i < HASHDB_BUCKET_CELLS; i++) {
		struct hashdb_cell *cell =
			&bucket[(start + i) % HASHDB_BUCKET_CELLS];

		if (!loc_live(db, cell_loc(cell))) {
			counters_drop(db, cell_hash(cell));
			db->cells_used++;
			db->cells_sampled++;
			return cell;
		}
		if (!unsampled && !hashdb_sampled(db, cell_hash(cell)))
			unsampled = cell;
	}
	db->evictions++;
	if (unsampled) {
		/* An estimate since sampling last rose: keep it in range. */
		if (db->cells_sampled < db->cells_used)
			db->cells_sampled++;
		return unsampled;
	}
	/* Replacing a sampled cell by another: cells_sampled is unchanged. */
	return &bucket[start];
}

/*
 * When cells kept under the current sampling fill the table, keep half as
 * many hashes from now on. About half of those cells stay sampled; the
 * others become the first to be evicted.
 */
static void sampling_update(struct hashdb *db)
{
	uint64_t cells = db->geo.buckets * HASHDB_BUCKET_CELLS;

	if (db->sample_bits >= HASHDB_SAMPLE_BITS_MAX)
		return;
	if (db->cells_sampled <=
	    cells * HASHDB_SAMPLE_FILL_NUM / HASHDB_SAMPLE_FILL_DEN)
		return;
	db->sample_bits++;
	db->cells_sampled /= 2;
}

int hashdb_lookup(struct hashdb *db, uint64_t hash, uint64_t *ret_loc)
{
	struct hashdb_cell *cell;

	cell = bucket_find(db, bucket_of(db, hash), hash, NULL);
	if (!cell)
		return 0;
	if (ret_loc)
		*ret_loc = cell_loc(cell);
	return 1;
}

int hashdb_lookup_insert(struct hashdb *db, uint64_t hash, uint64_t loc,
			 uint64_t *ret_loc)
{
	struct hashdb_cell *bucket, *cell, *empty;

	if (!loc_live(db, loc))
		return -EINVAL;

	bucket = bucket_of(db, hash);
	cell = bucket_find(db, bucket, hash, &empty);
	if (cell) {
		if (ret_loc)
			*ret_loc = cell_loc(cell);
		return 1;
	}
	if (!hashdb_sampled(db, hash)) {
		db->sampled_out++;
		return 0;
	}

	if (empty) {
		cell = empty;
		db->cells_used++;
		db->cells_sampled++;
	} else {
		cell = bucket_victim(db, bucket, hash);
	}
	cell->hash = htole64(hash);
	cell->loc = htole64(loc);
	db->inserts++;
	sampling_update(db);
	return 0;
}

int hashdb_remove(struct hashdb *db, uint64_t hash, uint64_t loc)
{
	struct hashdb_cell *bucket = bucket_of(db, hash);
	unsigned int i;

	if (loc == 0)
		return 0;
	for (i = 0; i < HASHDB_BUCKET_CELLS; i++) {
		struct hashdb_cell *cell = &bucket[i];

		if (cell_loc(cell) == loc && cell_hash(cell) == hash) {
			cell_clear(db, cell);
			return 1;
		}
	}
	return 0;
}

/*
 * Digest table: open addressing in a window of HASHDB_DIGEST_WINDOW entries
 * from the digest's home slot, wrapping at the end. Entries never become
 * empty again, so a search may stop at the first empty one.
 */
static struct hashdb_digest_entry *digest_at(const struct hashdb *db,
					     uint64_t home, unsigned int i)
{
	uint64_t slot = home + i;

	if (slot >= db->geo.digests)
		slot -= db->geo.digests;
	return &db->digests[slot];
}

int hashdb_digest_lookup(struct hashdb *db, uint64_t digest,
			 uint32_t *ret_file_id)
{
	uint64_t home = hashdb_index_of(digest, db->geo.digests);
	unsigned int i;

	for (i = 0; i < HASHDB_DIGEST_WINDOW; i++) {
		struct hashdb_digest_entry *entry = digest_at(db, home, i);
		uint64_t id = le64toh(entry->file_id);

		if (id == 0)
			return 0;
		if (le64toh(entry->digest) == digest &&
		    hashdb_file_live(db, id)) {
			if (ret_file_id)
				*ret_file_id = (uint32_t)id;
			return 1;
		}
	}
	return 0;
}

int hashdb_digest_insert(struct hashdb *db, uint64_t digest, uint32_t file_id)
{
	uint64_t home = hashdb_index_of(digest, db->geo.digests);
	struct hashdb_digest_entry *reuse = NULL;
	unsigned int i;

	if (!hashdb_file_live(db, file_id))
		return -EINVAL;

	for (i = 0; i < HASHDB_DIGEST_WINDOW; i++) {
		struct hashdb_digest_entry *entry = digest_at(db, home, i);
		uint64_t id = le64toh(entry->file_id);

		if (id == 0) {
			if (!reuse) {
				reuse = entry;
				db->digests_used++;
			}
			break;
		}
		if (le64toh(entry->digest) == digest) {
			entry->file_id = htole64(file_id);
			return 0;
		}
		if (!reuse && !hashdb_file_live(db, id))
			reuse = entry;
	}
	/* The window is full of live files: replace one, chosen by digest. */
	if (!reuse)
		reuse = digest_at(db, home, pick(digest, HASHDB_DIGEST_WINDOW));
	reuse->digest = htole64(digest);
	reuse->file_id = htole64(file_id);
	return 0;
}
