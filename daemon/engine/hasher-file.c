// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The hasher's files in the index (hasher-internal.h): which file a job is
 * (found or added by its handle, a hard link taken up once), whether it
 * changed since it was last indexed and, on btrfs, which of its ranges are
 * new since; the whole-file digest. And whether a job is to be hashed at
 * all (hasher_open_file).
 */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "daemon/engine/hasher-internal.h"
#include "daemon/common/log.h"
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

int hasher_open_file(struct engine *e, struct file_job *job, struct stat *st,
		     struct file_id_handle *h)
{
	bool given_fd = job->fd >= 0;
	int fd, ret, mnt_id;

	fd = given_fd ? job->fd : engine_open_path(job->path);
	if (fd < 0) {
		if (fd == -EACCES || fd == -EPERM) {
			log_info("cannot read '%s', skipping", job->path);
			atomic_fetch_add(&e->st.files_unreadable, 1);
		} else if (fd == -ELOOP) {
			/* O_NOFOLLOW: a symlink is at the name now. */
			log_info("'%s' was replaced by a symlink since the walk, skipping",
				 job->path);
			atomic_fetch_add(&e->st.files_replaced, 1);
		} else if (fd == -ENOENT || fd == -ENOTDIR) {
			atomic_fetch_add(&e->st.files_vanished, 1);
		} else {
			log_info("cannot open '%s': %s, skipping", job->path,
				 strerror(-fd));
			atomic_fetch_add(&e->st.errors, 1);
		}
		return -1;
	}
	job->fd = fd;
	if (fstat(fd, st) < 0) {
		atomic_fetch_add(&e->st.files_vanished, 1);
		goto out_close;
	}
	/*
	 * Not what the walk found: a FIFO (opened without blocking), or
	 * another inode, put there or reached through a directory replaced by
	 * a symlink (O_NOFOLLOW guards the last component only). Its data are
	 * not the walked file's: leave it.
	 */
	if (!S_ISREG(st->st_mode) ||
	    (job->walked_ino && ((uint64_t)st->st_dev != job->walked_dev ||
				 (uint64_t)st->st_ino != job->walked_ino))) {
		log_info("'%s' was replaced since the walk, skipping",
			 job->path);
		atomic_fetch_add(&e->st.files_replaced, 1);
		goto out_close;
	}
	job->size = (uint64_t)st->st_size;
	if (job->size < e->min_size || job->size == 0) {
		atomic_fetch_add(&e->st.files_skipped, 1);
		goto out_close;
	}
	job->cookie = stat_cookie(st);
	ret = file_handle_get(fd, "", h, &mnt_id);
	if (ret < 0) {
		log_info("no file handle for '%s': %s, skipping", job->path,
			 strerror(-ret));
		atomic_fetch_add(&e->st.files_skipped, 1);
		goto out_close;
	}
	if (mnt_id != e->mnt_id && !given_fd) {
		/* A file bind-mounted into the tree: another mount (a
		 * caller that opened the file itself has vetted it). */
		atomic_fetch_add(&e->st.files_skipped, 1);
		goto out_close;
	}
	ret = hasher_lookup_file(e, job, h);
	if (ret == 1) {
		atomic_fetch_add(&e->st.files_unchanged, 1);
		goto out_close;
	}
	if (ret == 2) {
		atomic_fetch_add(&e->st.files_hardlinks, 1);
		goto out_close;
	}
	if (ret < 0) {
		log_warn("cannot index '%s': %s, skipping", job->path,
			 strerror(-ret));
		atomic_fetch_add(&e->st.errors, 1);
		goto out_close;
	}
	return fd;
out_close:
	close(fd);
	job->fd = -1;
	return -1;
}
