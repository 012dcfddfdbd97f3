// SPDX-License-Identifier: GPL-2.0-or-later
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uthash.h>
#include <xxhash.h>

#include "daemon/engine.h"
#include "daemon/phys.h"
#include "daemon/util.h"

struct phys_seen {
	uint64_t physical;
	uint64_t length;
	UT_hash_handle hh;
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

int engine_init(struct engine *e, const char *root_path, int root_fd)
{
	(void)root_path;
	pthread_mutex_init(&e->db_lock, NULL);
	pthread_mutex_init(&e->seen_lock, NULL);
	e->mount_fd = root_fd;
	e->blksz = e->fs.block_size;
	e->seen = NULL;
	return 0;
}

void engine_fini(struct engine *e)
{
	struct phys_seen *p, *tmp;

	HASH_ITER(hh, e->seen, p, tmp) {
		HASH_DEL(e->seen, p);
		free(p);
	}
	free(e->ids_taken);
	e->ids_taken = NULL;
	pthread_mutex_destroy(&e->db_lock);
	pthread_mutex_destroy(&e->seen_lock);
	free(e->tmp_dir);
	e->tmp_dir = NULL;
}

bool phys_seen_check_add(struct engine *e, uint64_t physical, uint64_t length)
{
	struct phys_seen *p;
	bool seen = false;

	pthread_mutex_lock(&e->seen_lock);
	HASH_FIND(hh, e->seen, &physical, sizeof(physical), p);
	if (p && p->length >= length) {
		seen = true;
	} else if (p) {
		p->length = length;
	} else {
		p = xmalloc(sizeof(*p));
		p->physical = physical;
		p->length = length;
		HASH_ADD(hh, e->seen, physical, sizeof(p->physical), p);
	}
	pthread_mutex_unlock(&e->seen_lock);
	return seen;
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
	memset(job, 0, sizeof(*job));
	job->fd = -1;
}
