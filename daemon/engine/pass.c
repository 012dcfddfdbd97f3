// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Batches of files through the hasher and the executor. See pass.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "daemon/common/log.h"
#include "daemon/engine/pass.h"
#include "daemon/common/util.h"
#include "daemon/engine/walk.h"

#define READ_BUF (2u << 20)

volatile sig_atomic_t pass_stop;

static void *hash_worker(void *arg)
{
	struct pass_batch *b = arg;
	uint8_t *buf;
	size_t i;

	if (posix_memalign((void **)&buf, 4096, READ_BUF))
		return NULL;
	/* Stopped: files not yet taken stay unindexed, for next time. */
	while (!pass_stopped(b->e) &&
	       (i = atomic_fetch_add(&b->next, 1)) < b->n) {
		struct file_job *job = &b->jobs[i];

		engine_hash_file(b->e, job, buf, READ_BUF);
		atomic_fetch_add(&b->e->st.bytes_seen, job->size);
	}
	free(buf);
	return NULL;
}

static void release_batch(struct pass_batch *b)
{
	for (size_t i = 0; i < b->n; i++)
		file_job_release(&b->jobs[i]);
	b->n = 0;
	b->bytes = 0;
}

static void *exec_thread(void *arg)
{
	struct pass_batch *b = arg;
	double t0 = now_sec();

	engine_execute(b->e, b->jobs, b->n);
	log_debug("batch of %zu files executed in %.3f s", b->n,
		  now_sec() - t0);
	return NULL;
}

void pass_init(struct pass *p, struct engine *e)
{
	memset(p, 0, sizeof(*p));
	p->b[0].e = p->b[1].e = e;
	p->fill = &p->b[0];
	p->max_files = pass_batch_files_limit();
}

void pass_wait(struct pass *p)
{
	if (!p->exec)
		return;
	pthread_join(p->exec_tid, NULL);
	release_batch(p->exec);
	p->exec = NULL;
}

/*
 * Executions stay in order: a batch's aliases may follow relinks recorded
 * by the one before.
 */
void pass_flush(struct pass *p)
{
	struct pass_batch *b = p->fill;
	unsigned int n = b->e->threads, i;
	pthread_t tids[256];
	double t0 = now_sec();

	if (!b->n)
		return;
	csums_new_batch(b->e);
	atomic_store(&b->next, 0);
	if (n > b->n)
		n = (unsigned int)b->n;
	if (n > 256)
		n = 256;
	for (i = 1; i < n; i++)
		if (pthread_create(&tids[i], NULL, hash_worker, b))
			break;
	hash_worker(b);
	while (--i > 0)
		pthread_join(tids[i], NULL);
	log_debug("batch of %zu files hashed in %.3f s", b->n, now_sec() - t0);
	t0 = now_sec();
	pass_wait(p);
	log_debug("waited %.3f s for the batch before", now_sec() - t0);
	if (pthread_create(&p->exec_tid, NULL, exec_thread, b)) {
		exec_thread(b);	/* no thread: do it here */
		release_batch(b);
	} else {
		p->exec = b;
	}
	p->fill = b == &p->b[0] ? &p->b[1] : &p->b[0];
}

static void add_job(struct pass *p, char *path, int fd, uint64_t dev,
		    uint64_t ino, uint64_t size)
{
	struct pass_batch *b = p->fill;
	struct file_job *job;

	atomic_fetch_add(&b->e->st.files_seen, 1);
	b->jobs = grow_array(b->jobs, &b->cap, b->n + 1, sizeof(*b->jobs));
	job = &b->jobs[b->n++];
	memset(job, 0, sizeof(*job));
	job->fd = fd;
	job->path = path;
	job->walked_dev = dev;
	job->walked_ino = ino;
	b->bytes += size;
	if (b->n >= p->max_files || b->bytes >= PASS_BATCH_BYTES)
		pass_flush(p);
}

void pass_add(struct pass *p, char *path, int fd, uint64_t size)
{
	add_job(p, path, fd, 0, 0, size);
}

void pass_add_walked(struct pass *p, char *path, uint64_t dev, uint64_t ino,
		     uint64_t size)
{
	add_job(p, path, -1, dev, ino, size);
}

static int add_walked(void *arg, int dfd, const char *name, const char *path,
		      const struct stat *sb)
{
	struct pass *p = arg;
	struct engine *e = p->b[0].e;
	int fd;

	if (pass_stopped(e))
		return -EINTR;
	/* Opened here, in the directory the walk vetted: a path resolved
	 * later may cross a mount made meanwhile. */
	fd = engine_open_walked(dfd, name, sb);
	if (fd < 0) {
		if (fd == -EACCES || fd == -EPERM) {
			atomic_fetch_add(&e->st.files_unreadable, 1);
		} else if (fd == -ESTALE) {
			log_info("'%s' was replaced since the walk, skipping",
				 path);
			atomic_fetch_add(&e->st.files_replaced, 1);
		} else {
			atomic_fetch_add(&e->st.files_vanished, 1);
		}
		atomic_fetch_add(&e->st.files_seen, 1);
		return 0;
	}
	pass_add(p, xstrdup(path), fd, (uint64_t)sb->st_size);
	return 0;
}

int pass_add_paths(struct pass *p, char *const *paths, size_t n,
		   const struct walk_opts *wo, struct walk_stats *ws,
		   size_t *ret_failed)
{
	struct walk_opts w = *wo;
	struct statx stx;
	size_t i;
	int ret = 0;

	for (i = 0; i < n; i++) {
		if (pass_stopped(p->b[0].e)) {
			ret = -EINTR;
			break;
		}
		if (statx(AT_FDCWD, paths[i], AT_SYMLINK_NOFOLLOW,
			  STATX_MNT_ID, &stx) < 0) {
			ret = -errno;
			break;
		}
		w.mnt_id = (int)stx.stx_mnt_id;
		/* add_walked opens files where the walk found them. */
		w.under_self_binds = true;
		ret = walk_tree(paths[i], &w, ws, add_walked, p);
		if (ret < 0)
			break;
	}
	if (ret < 0 && ret != -EINTR)
		*ret_failed = i;
	return ret;
}

void pass_finish(struct pass *p)
{
	pass_flush(p);
	pass_wait(p);
	engine_new_pass(p->b[0].e);
}

void pass_fini(struct pass *p)
{
	pass_wait(p);
	release_batch(&p->b[0]);
	release_batch(&p->b[1]);
	free(p->b[0].jobs);
	free(p->b[1].jobs);
	memset(p, 0, sizeof(*p));
}

size_t pass_batch_files_limit(void)
{
	struct rlimit rl;

	/*
	 * Each file of a batch stays open until its dedupes are done, two
	 * batches are in flight, and sources are open too.
	 */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
	    rl.rlim_cur < 5 * PASS_BATCH_FILES)
		return rl.rlim_cur > 128 ? (size_t)rl.rlim_cur / 5 : 16;
	return PASS_BATCH_FILES;
}

void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
}
