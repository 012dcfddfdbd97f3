// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The hasher's files in the index (hasher-internal.h): which file a job is
 * (found or added by its handle, a hard link taken up once), whether it
 * changed since it was last indexed and, on btrfs, which of its ranges are
 * new since; the whole-file digest.
 */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "daemon/engine/hasher-internal.h"
#include "daemon/common/util.h"
#include "ioctl-compat/btrfs.h"

/*
 * Marks file @id taken up in this pass. Returns true if it already was: a
 * hard link to a file seen under another name. Called under db_lock.
 */
static bool take_id(struct engine *e, uint32_t id)
{
	bool was;

	if (id >= e->ids_cap) {
		size_t bytes = e->ids_cap / 8, need = ((size_t)id + 1) / 8 + 1;

		need = need < 4096 ? 4096 : need * 2;
		e->ids_taken = xrealloc(e->ids_taken, need);
		memset(e->ids_taken + bytes, 0, need - bytes);
		e->ids_cap = need * 8;
	}
	was = e->ids_taken[id / 8] & (1u << (id % 8));
	e->ids_taken[id / 8] |= (uint8_t)(1u << (id % 8));
	return was;
}

int hasher_lookup_file(struct engine *e, struct file_job *job,
		       const struct file_id_handle *h)
{
	struct hashdb_file rec;
	uint32_t id;
	int ret;

	pthread_mutex_lock(&e->db_lock);
	ret = hashdb_file_find(e->db, h->type, h->data, h->len, &id);
	if (ret == 1 && take_id(e, id)) {
		pthread_mutex_unlock(&e->db_lock);
		return 2;
	}
	if (ret == 1 && !hashdb_file_get(e->db, id, &rec)) {
		if (rec.cookie == job->cookie && rec.size == job->size) {
			pthread_mutex_unlock(&e->db_lock);
			return 1;
		}
		job->prev_gen = rec.gen;
	}
	if (ret != 1) {
		ret = hashdb_file_add(e->db, h->type, h->data, h->len, &id);
		if (ret < 0) {
			pthread_mutex_unlock(&e->db_lock);
			return ret;
		}
		(void)take_id(e, id);
	}
	engine_remember_path(e, id, job->path);
	pthread_mutex_unlock(&e->db_lock);
	job->file_id = id;
	return 0;
}

void hasher_finish_digest(struct hash_state *hs)
{
	struct engine *e = hs->e;
	struct file_job *job = hs->job;
	struct hashdb_file rec;
	uint64_t digest;
	uint32_t id;

	if (hs->zero_run) {
		uint64_t mark[2] = { 0, hs->zero_run };

		XXH3_64bits_update(hs->digest, mark, sizeof(mark));
	}
	XXH3_64bits_update(hs->digest, &job->size, sizeof(job->size));
	digest = XXH3_64bits_digest(hs->digest);

	pthread_mutex_lock(&e->db_lock);
	if (hashdb_digest_lookup(e->db, digest, &id) == 1 &&
	    id != job->file_id && !hashdb_file_get(e->db, id, &rec) &&
	    rec.size == job->size) {
		/* The whole file: one run, whatever its extent layout. */
		pthread_mutex_unlock(&e->db_lock);
		job->nruns = 0;
		job->runs = grow_array(job->runs, &job->cap_runs, 1,
				       sizeof(*job->runs));
		job->runs[job->nruns++] = (struct match_run){
			.src_id = id,
			.src_blk = 0,
			.dst_blk = 0,
			.nblk = hs->nblocks,
			.len = job->size,
		};
		return;
	}
	(void)hashdb_digest_insert(e->db, digest, job->file_id);
	pthread_mutex_unlock(&e->db_lock);
}

#define NEW_RANGES_MAX 4096

static int add_new_range(void *arg, uint64_t off, uint64_t len)
{
	struct new_ranges *nr = arg;
	uint64_t end = off + len;

	/* Whole blocks: extent items are block-aligned but inline ones. */
	off -= off % nr->blksz;
	end = (end + nr->blksz - 1) / nr->blksz * nr->blksz;
	if (nr->n && nr->v[nr->n - 1].off + nr->v[nr->n - 1].len >= off) {
		struct byte_range *last = &nr->v[nr->n - 1];

		if (end > last->off + last->len)
			last->len = end - last->off;
		return 0;
	}
	if (nr->n == NEW_RANGES_MAX)
		return -E2BIG;	/* too scattered: hash it all */
	nr->v = grow_array(nr->v, &nr->cap, nr->n + 1, sizeof(*nr->v));
	nr->v[nr->n++] = (struct byte_range){ off, end - off };
	return 0;
}

int hasher_find_new_ranges(struct engine *e, struct file_job *job,
			   const struct file_id_handle *h,
			   struct new_ranges *nr)
{
	uint64_t ino, root;

	if (e->fs.kind != FS_BTRFS || !job->prev_gen || !job->gen ||
	    h->type != BTRFS_FID_TYPE || h->len < BTRFS_FID_LEN)
		return 0;
	memcpy(&ino, h->data, 8);
	memcpy(&root, h->data + 8, 8);
	nr->blksz = e->blksz;
	if (btrfs_inode_new_ranges(job->fd, le64toh(root), le64toh(ino),
				   job->prev_gen, add_new_range, nr) < 0) {
		nr->n = 0;
		return 0;
	}
	return 1;
}
