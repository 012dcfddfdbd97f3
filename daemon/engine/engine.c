// SPDX-License-Identifier: GPL-2.0-or-later
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uthash.h>
#include <xxhash.h>

#include "daemon/engine/engine.h"
#include "daemon/engine/metabudget.h"
#include "daemon/engine/phys.h"
#include "daemon/engine/relink.h"
#include "daemon/common/util.h"
#include "ioctl-compat/handle.h"

/*
 * Used space a leaf costs when a dedupe first changes it in a snapshot (or
 * in a subvolume sharing its leaves with snapshots): the default 16 KiB
 * node, twice (metadata is DUP on a single device).
 */
#define META_LEAF_COST (32 * 1024)

/*
 * Physical ranges hashed in this pass: a sorted array of disjoint ranges,
 * plus a small unsorted buffer merged in when full, so that a check is a
 * binary search and an insert is amortized O(n / PHYS_PENDING).
 */
#define PHYS_PENDING 256

struct phys_seen {
	struct byte_range *v;
	size_t n, cap;
	struct byte_range pend[PHYS_PENDING];
	size_t npend;
};

/*
 * The change cookie. FIDEDUPERANGE leaves mtime and ctime alone on btrfs and
 * XFS (KERNEL-NOTES.md) while every write moves ctime, and since 6.13 a
 * ctime that was read is fine-grained at the next change, so a write right
 * after our stat is not lost in the same tick.
 */
uint64_t stat_cookie(const void *statbuf)
{
	const struct stat *st = statbuf;
	uint64_t v[6] = {
		st->st_ino,
		(uint64_t)st->st_size,
		(uint64_t)st->st_mtim.tv_sec,
		(uint64_t)st->st_mtim.tv_nsec,
		(uint64_t)st->st_ctim.tv_sec,
		(uint64_t)st->st_ctim.tv_nsec,
	};
	uint64_t c = XXH3_64bits(v, sizeof(v));

	return c ? c : 1;	/* 0 means "never indexed" in the file table */
}

struct id_path {
	uint32_t id;
	UT_hash_handle hh;
	char path[];
};

int engine_init(struct engine *e, int root_fd)
{
	struct file_id_handle h;
	int fd;

	pthread_mutex_init(&e->db_lock, NULL);
	pthread_mutex_init(&e->seen_lock, NULL);
	e->mount_fd = root_fd;
	e->blksz = e->fs.block_size;
	e->seen = NULL;
	e->paths = NULL;
	memset(&e->relinks, 0, sizeof(e->relinks));
	e->relink = NULL;
	if (e->fs.kind == FS_BTRFS && root_fd >= 0)
		e->relink = relink_new(root_fd, e->blksz, e->skip_snapshots,
				       e->domain, NULL);
	e->budget = NULL;
	if (e->relink) {
		e->budget = metabudget_new(META_LEAF_COST);
		if (e->budget)
			relink_metadata_by_caller(e->relink);
	}
	/* open_by_handle_at needs CAP_DAC_READ_SEARCH: probe it once. */
	e->by_path = false;
	if (root_fd >= 0 && file_handle_get(root_fd, "", &h, NULL) == 0) {
		fd = file_handle_open(root_fd, &h, O_RDONLY);
		if (fd >= 0)
			close(fd);
		else if (fd == -EPERM)
			e->by_path = true;
	}
	csums_setup(e, root_fd);
	return 0;
}

void engine_remember_path(struct engine *e, uint32_t id, const char *path)
{
	struct id_path *p;
	size_t len = strlen(path) + 1;

	if (!e->by_path)
		return;
	HASH_FIND(hh, e->paths, &id, sizeof(id), p);
	if (p)
		return;
	p = xmalloc(sizeof(*p) + len);
	p->id = id;
	memcpy(p->path, path, len);
	HASH_ADD(hh, e->paths, id, sizeof(p->id), p);
}

int engine_open_at(int dfd, const char *name)
{
	/* O_NONBLOCK: a FIFO swapped in after the walk must not hang us. */
	const int flags = O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK;
	int fd = openat(dfd, name, flags | O_NOATIME);

	if (fd < 0 && errno == EPERM)	/* O_NOATIME needs ownership */
		fd = openat(dfd, name, flags);
	return fd < 0 ? -errno : fd;
}

int engine_check_walked(int fd, const struct stat *walked)
{
	struct stat sb;

	if (fstat(fd, &sb) < 0)
		return -errno;
	if (!S_ISREG(sb.st_mode))
		return -ESTALE;
	if (walked && (sb.st_dev != walked->st_dev ||
		       sb.st_ino != walked->st_ino))
		return -ESTALE;
	return 0;
}

int engine_open_walked(int dfd, const char *name, const struct stat *walked)
{
	int fd = engine_open_at(dfd, name), ret;

	/* O_NOFOLLOW: a symlink put in its place fails with ELOOP. */
	if (fd == -ELOOP)
		return -ESTALE;
	if (fd < 0)
		return fd;
	ret = engine_check_walked(fd, walked);
	if (ret < 0) {
		close(fd);
		return ret;
	}
	return fd;
}

int engine_open_path(const char *path)
{
	return engine_open_at(AT_FDCWD, path);
}

int engine_open_file(struct engine *e, uint32_t id)
{
	const int flags = O_RDONLY | O_NONBLOCK | O_CLOEXEC;
	struct hashdb_file rec;
	struct file_id_handle h;
	struct id_path *p;
	char *path = NULL;
	int ret, fd;

	pthread_mutex_lock(&e->db_lock);
	ret = hashdb_file_get(e->db, id, &rec);
	if (ret == 0 && e->by_path) {
		HASH_FIND(hh, e->paths, &id, sizeof(id), p);
		if (p)
			path = xstrdup(p->path);
	}
	pthread_mutex_unlock(&e->db_lock);
	if (ret < 0)
		return ret;
	if (e->by_path) {
		if (!path)
			return -EPERM;	/* indexed by an earlier pass */
		fd = engine_open_path(path);
		free(path);
		/* A path may now name another file: the kernel's compare
		 * decides, as with any hint. */
		return fd == -ENOENT ? -ESTALE : fd;
	}
	h.type = rec.handle_type;
	h.len = rec.handle_len;
	memcpy(h.data, rec.handle, rec.handle_len);
	fd = file_handle_open(e->mount_fd, &h, flags | O_NOATIME);
	if (fd == -EPERM)
		fd = file_handle_open(e->mount_fd, &h, flags);
	if (fd == -ESTALE || fd == -ENOENT) {
		/* Deleted since it was indexed: its hints are dead. */
		pthread_mutex_lock(&e->db_lock);
		(void)hashdb_file_forget(e->db, id);
		pthread_mutex_unlock(&e->db_lock);
		fd = -ESTALE;
	}
	return fd;
}

void engine_count_pinned(struct engine *e)
{
	/*
	 * Without the relocation primitive (XFS: no LOGICAL_INO), the other
	 * names of deduped shared data follow only if the walk met them: what
	 * no alias took stays pinned by a file outside the PATHs.
	 */
	if (e->relink)
		return;
	for (size_t i = 0; i < e->relinks.n; i++) {
		struct relink *r = &e->relinks.v[i];

		if (r->claimed < r->len) {
			atomic_fetch_add(&e->st.bytes_pinned,
					 r->len - r->claimed);
			r->claimed = r->len;	/* counted once */
		}
	}
}

void engine_new_pass(struct engine *e)
{
	struct id_path *p, *tmp;

	pthread_mutex_lock(&e->db_lock);
	if (e->ids_taken)
		memset(e->ids_taken, 0, e->ids_cap / 8);
	HASH_ITER(hh, e->paths, p, tmp) {
		HASH_DEL(e->paths, p);
		free(p);
	}
	pthread_mutex_unlock(&e->db_lock);
	pthread_mutex_lock(&e->seen_lock);
	if (e->seen)
		free(e->seen->v);
	free(e->seen);
	e->seen = NULL;
	pthread_mutex_unlock(&e->seen_lock);
	engine_count_pinned(e);
	free(e->relinks.v);
	memset(&e->relinks, 0, sizeof(e->relinks));
	if (e->budget)
		metabudget_reset(e->budget);
}

void engine_fini(struct engine *e)
{
	if (e->seen)
		free(e->seen->v);
	free(e->seen);
	e->seen = NULL;
	struct id_path *p, *tmp;

	HASH_ITER(hh, e->paths, p, tmp) {
		HASH_DEL(e->paths, p);
		free(p);
	}
	free(e->ids_taken);
	e->ids_taken = NULL;
	free(e->relinks.v);
	memset(&e->relinks.v, 0, sizeof(e->relinks.v));
	e->relink = relink_free(e->relink);
	e->budget = metabudget_free(e->budget);
	pthread_mutex_destroy(&e->db_lock);
	pthread_mutex_destroy(&e->seen_lock);
	free(e->tmp_dir);
	e->tmp_dir = NULL;
}

static int range_cmp_off(const void *a, const void *b)
{
	const struct byte_range *x = a, *y = b;

	return x->off < y->off ? -1 : x->off > y->off;
}

static void phys_merge(struct phys_seen *ps)
{
	size_t i, out = 0;

	ps->v = grow_array(ps->v, &ps->cap, ps->n + ps->npend,
			   sizeof(*ps->v));
	memcpy(ps->v + ps->n, ps->pend, ps->npend * sizeof(*ps->pend));
	ps->n += ps->npend;
	ps->npend = 0;
	qsort(ps->v, ps->n, sizeof(*ps->v), range_cmp_off);
	for (i = 0; i < ps->n; i++) {
		struct byte_range *last = out ? &ps->v[out - 1] : NULL;

		if (last && ps->v[i].off <= last->off + last->len) {
			uint64_t end = ps->v[i].off + ps->v[i].len;

			if (end > last->off + last->len)
				last->len = end - last->off;
		} else {
			ps->v[out++] = ps->v[i];
		}
	}
	ps->n = out;
}

/* Removes [a, b) from the pieces in @p (count *@n, room @max). */
static bool subtract(struct byte_range *p, size_t *n, size_t max, uint64_t a,
		     uint64_t b)
{
	size_t i, count = *n;

	for (i = 0; i < count; i++) {
		uint64_t lo = p[i].off, hi = p[i].off + p[i].len;

		if (b <= lo || a >= hi)
			continue;
		if (a > lo && b < hi) {	/* splits it in two */
			if (*n == max)
				return false;
			p[(*n)++] = (struct byte_range){ b, hi - b };
			p[i].len = a - lo;
		} else if (a > lo) {
			p[i].len = a - lo;
		} else if (b < hi) {
			p[i] = (struct byte_range){ b, hi - b };
		} else {
			p[i].len = 0;
		}
	}
	return true;
}

size_t phys_seen_claim(struct engine *e, uint64_t physical, uint64_t length,
		       struct byte_range *out, size_t max)
{
	/* Extents are whole blocks on disk, whatever EOF clipped. */
	uint64_t blocks = (length + e->blksz - 1) / e->blksz * e->blksz;
	uint64_t end = physical + blocks;
	struct phys_seen *ps;
	size_t lo = 0, hi, i, n = 1, k = 0;

	if (!max)
		return 0;
	out[0] = (struct byte_range){ physical, blocks };
	pthread_mutex_lock(&e->seen_lock);
	if (!e->seen)
		e->seen = xcalloc(1, sizeof(*e->seen));
	ps = e->seen;
	hi = ps->n;
	while (lo < hi) {	/* the first range ending after physical */
		size_t mid = (lo + hi) / 2;

		if (ps->v[mid].off + ps->v[mid].len <= physical)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (i = lo; i < ps->n && ps->v[i].off < end && n; i++)
		if (!subtract(out, &n, max, ps->v[i].off,
			      ps->v[i].off + ps->v[i].len))
			goto whole;
	for (i = 0; i < ps->npend && n; i++)
		if (!subtract(out, &n, max, ps->pend[i].off,
			      ps->pend[i].off + ps->pend[i].len))
			goto whole;
	for (i = 0; i < n; i++)	/* drop emptied pieces */
		if (out[i].len)
			out[k++] = out[i];
	n = k;
	qsort(out, n, sizeof(*out), range_cmp_off);
	goto record;
whole:
	/* Too many pieces to track: hash all of it again. */
	out[0] = (struct byte_range){ physical, length };
	n = 1;
record:
	if (ps->npend == PHYS_PENDING)
		phys_merge(ps);
	ps->pend[ps->npend++] = (struct byte_range){ physical, blocks };
	pthread_mutex_unlock(&e->seen_lock);
	for (i = k = 0; i < n; i++) {
		out[i].off -= physical;
		if (out[i].off >= length)
			continue;
		if (out[i].off + out[i].len > length)
			out[i].len = length - out[i].off;
		out[k++] = out[i];
	}
	return k;
}

void file_job_release(struct file_job *job)
{
	if (job->fd >= 0)
		close(job->fd);
	job->fd = -1;
	free(job->path);
	free(job->extents);
	free(job->runs);
	free(job->done);
	free(job->aliases);
	memset(job, 0, sizeof(*job));
	job->fd = -1;
}
