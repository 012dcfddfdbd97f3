// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Fuzzes the index loader (hashdb/): the input describes an index file
 * (hashdb-input.h), written to a memfd that hashdb_open() opens by its
 * /proc/self/fd path. The file must be rejected (and rebuilt) or loaded
 * without a crash; what is loaded is then looked up, inserted into, grown
 * and synced, closed, and must reopen as a valid index.
 */
#include <endian.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "hashdb/internal.h"
#include "tests/fuzz/hashdb-input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint32_t get_le32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return le32toh(v);
}

static int write_all(int fd, const void *buf, size_t len, off_t off)
{
	return pwrite(fd, buf, len, off) == (ssize_t)len ? 0 : -1;
}

/* Writes the file the input describes into @fd. */
static int make_file(int fd, const uint8_t *data, size_t size)
{
	uint8_t page[FUZZ_HASHDB_PAGE];
	uint64_t file_size, pages;
	size_t at;

	if (size < FUZZ_HASHDB_MIN)
		return write_all(fd, data, size, 0);

	memcpy(page, data, sizeof(page));
	for (int i = 0; i < HASHDB_HEADER_SLOTS; i++) {
		uint8_t *slot = page + i * HASHDB_HEADER_SLOT_SIZE;
		uint64_t sum, zero = 0;

		if (memcmp(slot + 8, &zero, sizeof(zero)) == 0) {
			sum = htole64(hashdb_header_checksum(slot));
			memcpy(slot + 8, &sum, sizeof(sum));
		}
	}
	pages = get_le32(data + FUZZ_HASHDB_PAGE) % FUZZ_HASHDB_MAX_PAGES + 1;
	file_size = pages * FUZZ_HASHDB_PAGE;
	if (ftruncate(fd, (off_t)file_size) < 0 ||
	    write_all(fd, page, sizeof(page), 0) < 0)
		return -1;

	at = FUZZ_HASHDB_MIN;
	while (size - at >= FUZZ_HASHDB_CHUNK_HDR) {
		uint64_t off = get_le32(data + at) % file_size;
		size_t len = (size_t)data[at + 4] | (size_t)data[at + 5] << 8;

		at += FUZZ_HASHDB_CHUNK_HDR;
		if (len > size - at)
			len = size - at;
		if (len > file_size - off)
			len = (size_t)(file_size - off);
		if (write_all(fd, data + at, len, (off_t)off) < 0)
			return -1;
		at += len;
	}
	return 0;
}

/* A value from the input, for hashes and handles: the same input, the same. */
static uint64_t mix(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void check_live(const struct hashdb *db, uint32_t id)
{
	struct hashdb_file f;

	if (hashdb_file_get(db, id, &f) != 0 || f.handle_len > HASHDB_HANDLE_MAX)
		abort();
}

/* Everything the engine does with an index, on whatever was loaded. */
static void exercise(struct hashdb *db, uint64_t seed)
{
	struct hashdb_stats st;
	struct hashdb_file f;
	uint64_t cells, loc, state = seed;
	uint32_t id, found, live = 0, added;
	int ret;

	hashdb_get_stats(db, &st);
	if (st.files > st.files_capacity || st.files_live > st.files ||
	    st.cells_used > st.cells || st.digests_used > st.digests)
		abort();

	/* The file table: every record, and its handle back to an id. */
	for (id = 0; id <= st.files + 1 && id <= 1024; id++) {
		if (hashdb_file_get(db, id, &f) != 0)
			continue;
		live = id;
		if (f.handle_len > HASHDB_HANDLE_MAX)
			abort();
		if (hashdb_file_find(db, f.handle_type, f.handle, f.handle_len,
				     &found) == 1)
			check_live(db, found);
	}

	/* The cells found in the table, looked up, and some removed. */
	cells = db->geo.buckets * HASHDB_BUCKET_CELLS;
	for (uint64_t i = 0, n = 0; i < cells && n < 256; i++) {
		uint64_t hash = le64toh(db->cells[i].hash);

		if (!db->cells[i].loc)
			continue;
		n++;
		if (hashdb_lookup(db, hash, &loc) == 1)
			check_live(db, hashdb_loc_file(loc));
		if (n % 4 == 0)
			(void)hashdb_remove(db, hash,
					    le64toh(db->cells[i].loc));
	}
	/* The same for digests. */
	for (uint64_t i = 0, n = 0; i < db->geo.digests && n < 64; i++) {
		if (!db->digests[i].file_id)
			continue;
		n++;
		if (hashdb_digest_lookup(db, le64toh(db->digests[i].digest),
					 &found) == 1)
			check_live(db, found);
	}

	/* New content at live files, and new files. */
	for (int i = 0; i < 64 && live; i++) {
		uint64_t hash = mix(&state);

		ret = hashdb_lookup_insert(db, hash,
					   hashdb_loc(live, (uint64_t)i), &loc);
		if (ret < 0 || (ret == 1 && !hashdb_file_live(db,
						hashdb_loc_file(loc))))
			abort();
		if (hashdb_digest_insert(db, hash, live) != 0)
			abort();
	}
	for (int i = 0; i < 8; i++) {
		uint8_t handle[HASHDB_HANDLE_MAX];
		uint64_t v = mix(&state);
		uint32_t len = 1 + (uint32_t)(v % HASHDB_HANDLE_MAX);

		for (uint32_t k = 0; k < len; k++)
			handle[k] = (uint8_t)(mix(&state) >> 56);
		ret = hashdb_file_add(db, (int32_t)(v >> 32), handle, len,
				      &added);
		if (ret < 0)
			continue;	/* -ENOSPC, or the file cannot grow */
		check_live(db, added);
		if (hashdb_file_find(db, (int32_t)(v >> 32), handle, len,
				     &found) != 1 || found != added)
			abort();
		if (hashdb_file_set_cookie(db, added, v, v >> 8) != 0 ||
		    hashdb_file_set_gen(db, added, v >> 16) != 0)
			abort();
		if (i % 3 == 2 && hashdb_file_forget(db, added) != 0)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hashdb_stats before, after;
	struct hashdb *db;
	char path[64];
	uint64_t seed = size;
	int fd, ret;

	fd = memfd_create("fuzz-hashdb", MFD_CLOEXEC);
	if (fd < 0)
		abort();
	if (make_file(fd, data, size) < 0)
		abort();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	for (size_t i = 0; i < size && i < 64; i++)
		seed = seed * 31 + data[i];

	ret = hashdb_open(path, fuzz_hashdb_uuid, 0, &db);
	if (ret < 0)
		abort();	/* a file we can read is never refused */
	exercise(db, seed);
	if (hashdb_sync(db) < 0)
		abort();
	hashdb_get_stats(db, &before);
	hashdb_close(db);

	/* What we wrote is an index we trust. */
	if (hashdb_open(path, fuzz_hashdb_uuid, 0, &db) != HASHDB_OPENED)
		abort();
	hashdb_get_stats(db, &after);
	if (after.files != before.files || after.file_bytes != before.file_bytes)
		abort();
	hashdb_close(db);
	close(fd);
	return 0;
}
