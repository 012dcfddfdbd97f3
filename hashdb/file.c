// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The file table: HASHDB_FILE_RECORD_SIZE bytes per file id, and an index
 * from handle to id (open addressing over 2 * capacity u32 slots, 0 =
 * empty). Ids are handed out in order and never reused, so that a cell or
 * digest entry naming a forgotten file never points at another one.
 *
 * Growth doubles the capacity: the table grows in place over the old
 * index, and the new index, after the table, is rebuilt from the records.
 * Ids and records never move.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <xxhash.h>

#include "hashdb/internal.h"

static uint64_t index_slots(const struct hashdb *db)
{
	return 2 * (uint64_t)db->geo.file_capacity;
}

static uint64_t handle_hash(int32_t handle_type, const void *handle,
			    uint32_t handle_len)
{
	return XXH3_64bits_withSeed(handle, handle_len,
				    (uint64_t)(uint32_t)handle_type);
}

bool hashdb_file_live(const struct hashdb *db, uint64_t id)
{
	if (id == 0 || id > db->files)
		return false;
	return hashdb_file_record(db, (uint32_t)id)->state == HASHDB_FILE_LIVE;
}

static uint32_t record_handle_len(const struct hashdb_file_record *rec)
{
	uint32_t len = le16toh(rec->handle_len);

	return len <= HASHDB_HANDLE_MAX ? len : 0;
}

static bool record_matches(const struct hashdb_file_record *rec,
			   int32_t handle_type, const void *handle,
			   uint32_t handle_len)
{
	return (int32_t)le32toh((uint32_t)rec->handle_type) == handle_type &&
	       record_handle_len(rec) == handle_len &&
	       memcmp(rec->handle, handle, handle_len) == 0;
}

/*
 * Returns the id of the live file with this handle, or 0 and, in
 * *@ret_slot, the slot an insert should take: the first one holding no
 * live file (forgotten ones are tombstones), or NULL if there is none.
 */
static uint32_t index_probe(const struct hashdb *db, int32_t handle_type,
			    const void *handle, uint32_t handle_len,
			    uint32_t **ret_slot)
{
	uint64_t mask = index_slots(db) - 1;
	uint64_t i = handle_hash(handle_type, handle, handle_len) & mask;
	uint32_t *free_slot = NULL;
	uint64_t n;

	for (n = 0; n <= mask; n++, i = (i + 1) & mask) {
		uint32_t id = le32toh(db->file_index[i]);

		if (id == 0) {
			if (!free_slot)
				free_slot = &db->file_index[i];
			break;
		}
		if (!hashdb_file_live(db, id)) {
			if (!free_slot)
				free_slot = &db->file_index[i];
			continue;
		}
		if (record_matches(hashdb_file_record(db, id), handle_type,
				   handle, handle_len))
			return id;
	}
	if (ret_slot)
		*ret_slot = free_slot;
	return 0;
}

/* Indexes every live record; the index is at most half full. */
static void index_rebuild(struct hashdb *db)
{
	uint64_t mask = index_slots(db) - 1;
	uint32_t id;

	memset(db->file_index, 0, index_slots(db) * sizeof(uint32_t));
	for (id = 1; id <= db->files; id++) {
		const struct hashdb_file_record *rec =
			hashdb_file_record(db, id);
		uint32_t len = record_handle_len(rec);
		uint64_t i;

		if (rec->state != HASHDB_FILE_LIVE || len == 0)
			continue;
		i = handle_hash((int32_t)le32toh((uint32_t)rec->handle_type),
				rec->handle, len) &
		    mask;
		while (db->file_index[i] != 0)
			i = (i + 1) & mask;
		db->file_index[i] = htole32(id);
	}
}

/*
 * Doubles the file table. A crash from the "growing" header on finds that
 * header and rebuilds the index; a failure before the mapping moves leaves
 * everything as it was.
 */
static int file_table_grow(struct hashdb *db)
{
	struct hashdb_geometry old = db->geo, geo;
	long page_size = sysconf(_SC_PAGESIZE);
	uint64_t sync_from;
	uint8_t *map;
	int ret = 0;

	hashdb_geometry_compute(&geo, old.budget, old.file_capacity * 2);
	if (geo.file_bytes > SIZE_MAX)
		return -EFBIG;
	if (page_size <= 0)
		page_size = HASHDB_HEADER_SIZE;

	db->flags |= HASHDB_HEADER_GROWING;
	hashdb_header_write(db);
	if (msync(db->map, HASHDB_HEADER_SIZE, MS_SYNC) < 0) {
		ret = -errno;
		goto out_clear;
	}
	ret = hashdb_file_extend(db->fd, old.file_bytes, geo.file_bytes);
	if (ret < 0)
		goto out_clear;
	map = mremap(db->map, db->map_len, (size_t)geo.file_bytes,
		     MREMAP_MAYMOVE);
	if (map == MAP_FAILED) {
		ret = -errno;
		goto out_truncate;
	}

	db->map = map;
	db->map_len = (size_t)geo.file_bytes;
	db->geo = geo;
	hashdb_set_pointers(db);
	/* The old index is now table space past the last id: zero it. */
	memset(db->map + old.file_index_offset, 0,
	       old.file_bytes - old.file_index_offset);
	index_rebuild(db);

	/*
	 * Records and index on disk before the header that describes them
	 * (msync wants a page-aligned start; pages may be over 4 KiB).
	 */
	sync_from = geo.file_table_offset & ~((uint64_t)page_size - 1);
	if (msync(db->map + sync_from, geo.file_bytes - sync_from, MS_SYNC) < 0)
		ret = -errno;
	db->flags &= ~HASHDB_HEADER_GROWING;
	hashdb_header_write(db);
	if (msync(db->map, HASHDB_HEADER_SIZE, MS_SYNC) < 0 && ret == 0)
		ret = -errno;
	return ret;

out_truncate:
	hashdb_truncate_back(db->fd, old.file_bytes);
out_clear:
	db->flags &= ~HASHDB_HEADER_GROWING;
	hashdb_header_write(db);
	(void)msync(db->map, HASHDB_HEADER_SIZE, MS_SYNC);
	return ret;
}

static bool handle_valid(const void *handle, uint32_t handle_len)
{
	return handle && handle_len > 0 && handle_len <= HASHDB_HANDLE_MAX;
}

int hashdb_file_find(struct hashdb *db, int32_t handle_type, const void *handle,
		     uint32_t handle_len, uint32_t *ret_id)
{
	uint32_t id;

	/* No file can have such a handle. */
	if (!handle_valid(handle, handle_len))
		return 0;
	id = index_probe(db, handle_type, handle, handle_len, NULL);
	if (id == 0)
		return 0;
	if (ret_id)
		*ret_id = id;
	return 1;
}

int hashdb_file_add(struct hashdb *db, int32_t handle_type, const void *handle,
		    uint32_t handle_len, uint32_t *ret_id)
{
	struct hashdb_file_record *rec;
	uint32_t *slot, id;
	int ret;

	if (!handle_valid(handle, handle_len))
		return -EINVAL;
	id = index_probe(db, handle_type, handle, handle_len, &slot);
	if (id != 0) {
		if (ret_id)
			*ret_id = id;
		return 0;
	}

	if (db->files >= HASHDB_LOC_MAX_FILE)
		return -ENOSPC;
	if ((uint64_t)(db->files + 1) * HASHDB_FILES_FILL_DEN >
		    (uint64_t)db->geo.file_capacity * HASHDB_FILES_FILL_NUM &&
	    db->geo.file_capacity < HASHDB_FILES_MAX) {
		ret = file_table_grow(db);
		if (ret < 0)
			return ret;
		(void)index_probe(db, handle_type, handle, handle_len, &slot);
	}
	if (db->files >= db->geo.file_capacity || !slot)
		return -ENOSPC;

	id = db->files + 1;
	rec = hashdb_file_record(db, id);
	memset(rec, 0, sizeof(*rec));
	rec->handle_type = (int32_t)htole32((uint32_t)handle_type);
	rec->handle_len = htole16((uint16_t)handle_len);
	memcpy(rec->handle, handle, handle_len);
	rec->state = HASHDB_FILE_LIVE;
	/*
	 * The next record ends what hashdb_files_recover() adopts after a
	 * crash: a stale one there (written before an earlier crash whose
	 * page reached the disk while this one's did not) is not taken for
	 * a record of this run.
	 */
	if (id < db->geo.file_capacity)
		hashdb_file_record(db, id + 1)->state = 0;
	*slot = htole32(id);
	db->files++;
	db->files_live++;
	if (ret_id)
		*ret_id = id;
	return 1;
}

int hashdb_file_get(const struct hashdb *db, uint32_t id,
		    struct hashdb_file *ret)
{
	const struct hashdb_file_record *rec;

	if (!hashdb_file_live(db, id))
		return -ENOENT;
	rec = hashdb_file_record(db, id);
	memset(ret, 0, sizeof(*ret));
	ret->cookie = le64toh(rec->cookie);
	ret->size = le64toh(rec->size);
	ret->gen = le64toh(rec->gen);
	ret->handle_type = (int32_t)le32toh((uint32_t)rec->handle_type);
	ret->handle_len = record_handle_len(rec);
	memcpy(ret->handle, rec->handle, ret->handle_len);
	return 0;
}

int hashdb_file_set_cookie(struct hashdb *db, uint32_t id, uint64_t cookie,
			   uint64_t size)
{
	struct hashdb_file_record *rec;

	if (!hashdb_file_live(db, id))
		return -ENOENT;
	rec = hashdb_file_record(db, id);
	rec->cookie = htole64(cookie);
	rec->size = htole64(size);
	rec->gen = 0;	/* unknown until hashdb_file_set_gen */
	return 0;
}

int hashdb_file_set_gen(struct hashdb *db, uint32_t id, uint64_t gen)
{
	if (!hashdb_file_live(db, id))
		return -ENOENT;
	hashdb_file_record(db, id)->gen = htole64(gen);
	return 0;
}

int hashdb_file_forget(struct hashdb *db, uint32_t id)
{
	if (!hashdb_file_live(db, id))
		return -ENOENT;
	/* Its index slot stays, as a tombstone that an add may take. */
	hashdb_file_record(db, id)->state = HASHDB_FILE_DEAD;
	if (db->files_live)
		db->files_live--;
	return 0;
}

void hashdb_files_recover(struct hashdb *db)
{
	uint32_t limit = db->geo.file_capacity;

	if (limit > HASHDB_LOC_MAX_FILE)
		limit = HASHDB_LOC_MAX_FILE;
	while (db->files < limit) {
		struct hashdb_file_record *rec =
			hashdb_file_record(db, db->files + 1);

		if (rec->state == HASHDB_FILE_LIVE) {
			rec->cookie = 0;
			rec->gen = 0;
			db->files_live++;
		}
		else if (rec->state != HASHDB_FILE_DEAD)
			break;
		db->files++;
	}
}
