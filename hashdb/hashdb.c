// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The index file: creating, validating, mapping, syncing and closing it.
 *
 * Nothing read from the file is used before it is checked: the header copy
 * must carry our magic, a matching checksum, our version and UUID, and a
 * geometry equal to the one its budget and file capacity give, within the
 * file's actual size. Anything else is replaced by an empty index.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "hashdb/internal.h"

_Static_assert(HASHDB_HEADER_SIZE / HASHDB_HEADER_SLOT_SIZE ==
		       HASHDB_HEADER_SLOTS,
	       "header slots fill the header page");

static uint64_t align_up(uint64_t value, uint64_t align)
{
	return (value + align - 1) / align * align;
}

uint64_t hashdb_header_checksum(const void *slot)
{
	return XXH3_64bits((const uint8_t *)slot + HASHDB_HEADER_SUMMED_FROM,
			   HASHDB_HEADER_SLOT_SIZE - HASHDB_HEADER_SUMMED_FROM);
}

/*
 * header | block table | digest table | file table | file index
 * The block table takes 7/8 of the budget, the digest table the rest. The
 * file table and its index come last so that they can grow: the table
 * grows in place over the old index, and the index is rebuilt after it.
 */
void hashdb_geometry_compute(struct hashdb_geometry *geo, uint64_t budget,
			     uint32_t file_capacity)
{
	uint64_t block_bytes;

	geo->budget = budget;
	geo->block_offset = HASHDB_HEADER_SIZE;
	geo->buckets = budget / 8 * 7 / HASHDB_BUCKET_SIZE;
	block_bytes = geo->buckets * HASHDB_BUCKET_SIZE;
	geo->digest_offset = geo->block_offset + block_bytes;
	geo->digests = (budget - block_bytes) / HASHDB_DIGEST_ENTRY_SIZE;
	geo->file_table_offset = align_up(
		geo->digest_offset + geo->digests * HASHDB_DIGEST_ENTRY_SIZE,
		HASHDB_HEADER_SIZE);
	geo->file_capacity = file_capacity;
	geo->file_index_offset =
		geo->file_table_offset +
		(uint64_t)file_capacity * HASHDB_FILE_RECORD_SIZE;
	geo->file_bytes = geo->file_index_offset +
			  2 * (uint64_t)file_capacity * sizeof(uint32_t);
}

void hashdb_set_pointers(struct hashdb *db)
{
	db->cells = (struct hashdb_cell *)(db->map + db->geo.block_offset);
	db->digests =
		(struct hashdb_digest_entry *)(db->map + db->geo.digest_offset);
	db->file_table =
		(struct hashdb_file_record *)(db->map +
					      db->geo.file_table_offset);
	db->file_index = (uint32_t *)(db->map + db->geo.file_index_offset);
}

void hashdb_header_write(struct hashdb *db)
{
	union {
		struct hashdb_header h;
		uint8_t bytes[HASHDB_HEADER_SLOT_SIZE];
	} slot;
	struct hashdb_header *h = &slot.h;

	memset(&slot, 0, sizeof(slot));
	memcpy(h->magic, HASHDB_MAGIC, sizeof(h->magic));
	h->sequence = htole64(db->sequence + 1);
	h->version = htole32(HASHDB_VERSION);
	h->flags = htole32(db->flags);
	memcpy(h->fs_uuid, db->fs_uuid, sizeof(h->fs_uuid));
	h->budget = htole64(db->geo.budget);
	h->file_bytes = htole64(db->geo.file_bytes);
	h->block_offset = htole64(db->geo.block_offset);
	h->buckets = htole64(db->geo.buckets);
	h->digest_offset = htole64(db->geo.digest_offset);
	h->digests = htole64(db->geo.digests);
	h->file_table_offset = htole64(db->geo.file_table_offset);
	h->file_index_offset = htole64(db->geo.file_index_offset);
	h->file_capacity = htole32(db->geo.file_capacity);
	h->sample_bits = htole32(db->sample_bits);
	h->cells_used = htole64(db->cells_used);
	h->cells_sampled = htole64(db->cells_sampled);
	h->inserts = htole64(db->inserts);
	h->evictions = htole64(db->evictions);
	h->sampled_out = htole64(db->sampled_out);
	h->digests_used = htole64(db->digests_used);
	h->files = htole32(db->files_saved);
	h->files_live = htole32(db->files_live);
	h->key_kind = htole32(db->key_kind);
	h->checksum = htole64(hashdb_header_checksum(slot.bytes));

	db->sequence++;
	memcpy(db->map + (db->sequence % HASHDB_HEADER_SLOTS) *
				 HASHDB_HEADER_SLOT_SIZE,
	       slot.bytes, sizeof(slot.bytes));
}

/*
 * Decodes header copy @slot into @h (host order) if it is one of ours and
 * consistent with a file of @file_size bytes. Does not look at the UUID or
 * the flags beyond rejecting unknown ones.
 */
static bool header_decode(const uint8_t *slot, uint64_t file_size,
			  struct hashdb_header *h)
{
	struct hashdb_geometry geo;

	memcpy(h, slot, sizeof(*h));
	if (memcmp(h->magic, HASHDB_MAGIC, sizeof(h->magic)) != 0)
		return false;
	if (le64toh(h->checksum) != hashdb_header_checksum(slot))
		return false;

	h->sequence = le64toh(h->sequence);
	h->version = le32toh(h->version);
	h->flags = le32toh(h->flags);
	h->budget = le64toh(h->budget);
	h->file_bytes = le64toh(h->file_bytes);
	h->block_offset = le64toh(h->block_offset);
	h->buckets = le64toh(h->buckets);
	h->digest_offset = le64toh(h->digest_offset);
	h->digests = le64toh(h->digests);
	h->file_table_offset = le64toh(h->file_table_offset);
	h->file_index_offset = le64toh(h->file_index_offset);
	h->file_capacity = le32toh(h->file_capacity);
	h->sample_bits = le32toh(h->sample_bits);
	h->cells_used = le64toh(h->cells_used);
	h->cells_sampled = le64toh(h->cells_sampled);
	h->inserts = le64toh(h->inserts);
	h->evictions = le64toh(h->evictions);
	h->sampled_out = le64toh(h->sampled_out);
	h->digests_used = le64toh(h->digests_used);
	h->files = le32toh(h->files);
	h->files_live = le32toh(h->files_live);
	h->key_kind = le32toh(h->key_kind);

	if (h->version != HASHDB_VERSION)
		return false;
	if (h->flags & ~HASHDB_HEADER_FLAGS_KNOWN)
		return false;
	if (h->budget < HASHDB_MIN_SIZE || h->budget > HASHDB_MAX_SIZE)
		return false;
	if (h->file_capacity < HASHDB_FILES_INITIAL ||
	    h->file_capacity > HASHDB_FILES_MAX ||
	    (h->file_capacity & (h->file_capacity - 1)) != 0)
		return false;

	hashdb_geometry_compute(&geo, h->budget, h->file_capacity);
	if (h->file_bytes != geo.file_bytes ||
	    h->block_offset != geo.block_offset || h->buckets != geo.buckets ||
	    h->digest_offset != geo.digest_offset ||
	    h->digests != geo.digests ||
	    h->file_table_offset != geo.file_table_offset ||
	    h->file_index_offset != geo.file_index_offset)
		return false;
	if (h->file_bytes > file_size || h->file_bytes > SIZE_MAX)
		return false;

	if (h->sample_bits > HASHDB_SAMPLE_BITS_MAX)
		return false;
	/* Ids are bounds: they must be right. */
	if (h->files > h->file_capacity || h->files > HASHDB_LOC_MAX_FILE)
		return false;
	/*
	 * The other counters are figures, and may have drifted from the
	 * tables (a crash between syncs, an estimate): keep them in range.
	 */
	if (h->cells_used > h->buckets * HASHDB_BUCKET_CELLS)
		h->cells_used = h->buckets * HASHDB_BUCKET_CELLS;
	if (h->cells_sampled > h->cells_used)
		h->cells_sampled = h->cells_used;
	if (h->digests_used > h->digests)
		h->digests_used = h->digests;
	if (h->files_live > h->files)
		h->files_live = h->files;
	return true;
}

/*
 * Reads the header page of @fd and picks the newest valid copy.
 * Returns 1 and fills @ret if the file holds a trustworthy index for
 * @fs_uuid, 0 if it does not, or -errno if it could not be read.
 */
static int header_read(int fd, uint64_t file_size, const uint8_t fs_uuid[16],
		       struct hashdb_header *ret)
{
	uint8_t *page;
	struct hashdb_header h, best;
	bool found = false;
	ssize_t n;
	int i, ret_val;

	if (file_size < HASHDB_HEADER_SIZE)
		return 0;
	page = malloc(HASHDB_HEADER_SIZE);
	if (!page)
		return -ENOMEM;
	n = pread(fd, page, HASHDB_HEADER_SIZE, 0);
	if (n < 0) {
		ret_val = -errno;
		goto out_free;
	}
	ret_val = 0;
	if (n != HASHDB_HEADER_SIZE)
		goto out_free;

	/*
	 * A torn header write leaves a copy whose checksum fails, and the
	 * other copy serves. A copy without our magic was not torn by us:
	 * the file was damaged or is not ours, and is not trusted.
	 */
	for (i = 0; i < HASHDB_HEADER_SLOTS; i++)
		if (memcmp(page + i * HASHDB_HEADER_SLOT_SIZE, HASHDB_MAGIC,
			   sizeof(h.magic)))
			goto out_free;
	for (i = 0; i < HASHDB_HEADER_SLOTS; i++) {
		if (!header_decode(page + i * HASHDB_HEADER_SLOT_SIZE,
				   file_size, &h))
			continue;
		if (!found || h.sequence > best.sequence)
			best = h;
		found = true;
	}
	if (!found)
		goto out_free;
	/* A crash during growth: the file table and its index may disagree. */
	if (best.flags & HASHDB_HEADER_GROWING)
		goto out_free;
	if (memcmp(best.fs_uuid, fs_uuid, sizeof(best.fs_uuid)) != 0)
		goto out_free;
	*ret = best;
	ret_val = 1;
out_free:
	free(page);
	return ret_val;
}

int hashdb_file_extend(int fd, uint64_t from, uint64_t to)
{
	int ret;

	/* Whatever lies past @from is not ours: it must read as zeros. */
	if (ftruncate(fd, (off_t)from) < 0)
		return -errno;
	/*
	 * Allocate now, so that a full disk fails here and not as SIGBUS on
	 * a later page fault. Filesystems without fallocate get a sparse
	 * file.
	 */
	if (fallocate(fd, 0, (off_t)from, (off_t)(to - from)) == 0)
		return 0;
	ret = -errno;
	if (ret == -EOPNOTSUPP) {
		if (ftruncate(fd, (off_t)to) == 0)
			return 0;
		ret = -errno;
	}
	hashdb_truncate_back(fd, from);
	return ret;
}

static int map_file(struct hashdb *db)
{
	void *map;

	map = mmap(NULL, (size_t)db->geo.file_bytes, PROT_READ | PROT_WRITE,
		   MAP_SHARED, db->fd, 0);
	if (map == MAP_FAILED)
		return -errno;
	db->map = map;
	db->map_len = (size_t)db->geo.file_bytes;
	hashdb_set_pointers(db);
	/*
	 * Every access is random: read ahead nothing, fault only what is
	 * used. All of the mapping, as mremap() needs a single VMA.
	 */
	(void)madvise(db->map, db->map_len, MADV_RANDOM);
	return 0;
}

/*
 * An index is rewritten in place at every checkpoint: on a copy-on-write
 * filesystem (btrfs) each rewrite of a cell would move its block, leaving
 * the file in thousands of extents and needing free space for a page fault
 * to succeed. FS_NOCOW_FL, set while the file is empty (btrfs ignores it
 * afterwards), keeps the blocks fallocate() gave in place, as journald does
 * for its files. Elsewhere the flag is unknown: nothing to do.
 */
static void set_nocow(int fd)
{
	int flags = 0;

	if (ioctl(fd, FS_IOC_GETFLAGS, &flags) < 0 || (flags & FS_NOCOW_FL))
		return;
	flags |= FS_NOCOW_FL;
	(void)ioctl(fd, FS_IOC_SETFLAGS, &flags);
}

/* Replaces whatever the file holds by an empty index of @budget bytes. */
static int create_index(struct hashdb *db, uint64_t budget)
{
	int ret;

	hashdb_geometry_compute(&db->geo, budget, HASHDB_FILES_INITIAL);
	if (db->geo.file_bytes > SIZE_MAX)
		return -EFBIG;
	/*
	 * Truncating first frees the old tables and leaves a file without a
	 * header until the new one is complete: a crash in between leaves
	 * an index that the next open rebuilds.
	 */
	if (ftruncate(db->fd, 0) < 0)
		return -errno;
	set_nocow(db->fd);
	ret = hashdb_file_extend(db->fd, 0, db->geo.file_bytes);
	if (ret < 0)
		return ret;
	ret = map_file(db);
	if (ret < 0)
		goto out_truncate;

	db->sequence = 0;
	db->flags = 0;
	/* Both copies: an open demands our magic in each (header_read). */
	hashdb_header_write(db);
	hashdb_header_write(db);
	if (msync(db->map, HASHDB_HEADER_SIZE, MS_SYNC) < 0) {
		ret = -errno;
		goto out_unmap;
	}
	return 0;

out_unmap:
	(void)munmap(db->map, db->map_len);
	db->map = NULL;
out_truncate:
	hashdb_truncate_back(db->fd, 0);
	return ret;
}

static int open_index(struct hashdb *db, const struct hashdb_header *h,
		      uint64_t file_size)
{
	int ret;

	hashdb_geometry_compute(&db->geo, h->budget, h->file_capacity);
	/* Left over from a failed growth: drop it, it must read as zeros. */
	if (file_size > db->geo.file_bytes &&
	    ftruncate(db->fd, (off_t)db->geo.file_bytes) < 0)
		return -errno;
	ret = map_file(db);
	if (ret < 0)
		return ret;

	db->sequence = h->sequence;
	db->flags = 0;
	db->sample_bits = h->sample_bits;
	db->cells_used = h->cells_used;
	db->cells_sampled = h->cells_sampled;
	db->inserts = h->inserts;
	db->evictions = h->evictions;
	db->sampled_out = h->sampled_out;
	db->digests_used = h->digests_used;
	db->files = h->files;
	db->files_live = h->files_live;
	db->key_kind = h->key_kind;
	hashdb_files_recover(db);
	db->files_saved = db->files;
	return 0;
}

static int open_file(const char *path, bool *ret_created)
{
	int fd;

	fd = open(path, O_RDWR | O_CLOEXEC | O_NOCTTY);
	if (fd >= 0 || errno != ENOENT) {
		*ret_created = false;
		return fd < 0 ? -errno : fd;
	}
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY, 0600);
	if (fd >= 0) {
		*ret_created = true;
		return fd;
	}
	if (errno != EEXIST)
		return -errno;
	/* Created by someone else meanwhile: the lock sorts it out. */
	fd = open(path, O_RDWR | O_CLOEXEC | O_NOCTTY);
	*ret_created = false;
	return fd < 0 ? -errno : fd;
}

int hashdb_open(const char *path, const uint8_t fs_uuid[16], uint64_t size,
		struct hashdb **ret_db)
{
	struct hashdb_header h = { .sequence = 0 };
	struct hashdb *db;
	struct stat st;
	bool created;
	int fd, ret, result;

	if (!path || !fs_uuid || !ret_db)
		return -EINVAL;
	if (size != 0 && size < HASHDB_MIN_SIZE)
		size = HASHDB_MIN_SIZE;
	if (size > HASHDB_MAX_SIZE)
		size = HASHDB_MAX_SIZE;

	fd = open_file(path, &created);
	if (fd < 0)
		return fd;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		ret = -errno;
		goto out_close;
	}
	if (fstat(fd, &st) < 0) {
		ret = -errno;
		goto out_close;
	}
	if (!S_ISREG(st.st_mode)) {
		ret = -EINVAL;
		goto out_close;
	}

	db = calloc(1, sizeof(*db));
	if (!db) {
		ret = -ENOMEM;
		goto out_close;
	}
	db->fd = fd;
	memcpy(db->fs_uuid, fs_uuid, sizeof(db->fs_uuid));

	if (created) {
		result = HASHDB_CREATED;
	} else {
		ret = header_read(fd, (uint64_t)st.st_size, fs_uuid, &h);
		if (ret < 0)
			goto out_free;
		if (ret == 0)
			result = HASHDB_REBUILT;
		else if (size != 0 && size != h.budget)
			result = HASHDB_RESIZED;
		else
			result = HASHDB_OPENED;
	}

	if (result == HASHDB_OPENED) {
		ret = open_index(db, &h, (uint64_t)st.st_size);
	} else {
		ret = create_index(db, size ? size : HASHDB_MIN_SIZE);
		/* Leave no empty file behind if we made it. */
		if (ret < 0 && created)
			(void)unlink(path);
	}
	if (ret < 0)
		goto out_free;

	*ret_db = db;
	return result;

out_free:
	free(db);
out_close:
	close(fd);
	return ret;
}

int hashdb_sync(struct hashdb *db)
{
	if (!db)
		return -EINVAL;
	/*
	 * Tables first, then the header that counts them: after a power
	 * cut the header never claims records that did not reach the disk.
	 */
	if (msync(db->map, db->map_len, MS_SYNC) < 0)
		return -errno;
	db->files_saved = db->files;
	hashdb_header_write(db);
	if (msync(db->map, HASHDB_HEADER_SIZE, MS_SYNC) < 0)
		return -errno;
	return 0;
}

void hashdb_mapping(const struct hashdb *db, void **ret_addr,
		    size_t *ret_len)
{
	*ret_addr = db->map;
	*ret_len = db->map_len;
}

struct hashdb *hashdb_close(struct hashdb *db)
{
	if (!db)
		return NULL;
	(void)hashdb_sync(db);
	(void)munmap(db->map, db->map_len);
	/* Closing the last descriptor of the open file drops the lock. */
	close(db->fd);
	free(db);
	return NULL;
}

void hashdb_get_stats(const struct hashdb *db, struct hashdb_stats *ret)
{
	if (!db || !ret)
		return;
	memset(ret, 0, sizeof(*ret));
	ret->file_bytes = db->geo.file_bytes;
	ret->cells = db->geo.buckets * HASHDB_BUCKET_CELLS;
	ret->cells_used = db->cells_used;
	ret->sample_bits = db->sample_bits;
	ret->inserts = db->inserts;
	ret->evictions = db->evictions;
	ret->sampled_out = db->sampled_out;
	ret->digests = db->geo.digests;
	ret->digests_used = db->digests_used;
	ret->files = db->files;
	ret->files_live = db->files_live;
	ret->budget = db->geo.budget;
	ret->files_capacity = db->geo.file_capacity;
}

uint32_t hashdb_key_kind(const struct hashdb *db)
{
	return db->key_kind;
}

void hashdb_set_key_kind(struct hashdb *db, uint32_t kind)
{
	db->key_kind = kind;
}
