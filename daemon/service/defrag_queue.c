// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * dedupd watch: the background defrag. Files the hashing threads find
 * fragmented wait in a queue, saved next to the index at each checkpoint;
 * a thread of its own defragments them one at a time, only while the
 * dedupe worker has nothing to do.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "daemon/common/log.h"
#include "daemon/engine/defrag.h"
#include "daemon/service/internal.h"
#include "ioctl-compat/handle.h"

#define DEFRAG_QUEUE_MAX 10000

/* W.lock held. */
static void defrag_queue_add(struct wfs *f, const struct file_id_handle *h)
{
	for (size_t i = 0; i < f->dq_n; i++)
		if (f->dq[i].type == h->type && f->dq[i].len == h->len &&
		    !memcmp(f->dq[i].data, h->data, h->len))
			return;
	if (f->dq_n >= DEFRAG_QUEUE_MAX)
		return;
	f->dq = grow_array(f->dq, &f->dq_cap, f->dq_n + 1, sizeof(*f->dq));
	f->dq[f->dq_n++] = *h;
	f->dq_dirty = true;
	f->dirty = true;
}

/* From the hashing threads: a fragmented file goes to the defrag queue. */
void file_hashed(void *arg, const struct file_job *job)
{
	struct wfs *f = arg;
	struct file_id_handle h;
	double mib = (double)job->size / (1 << 20), limit;

	pthread_mutex_lock(&W.lock);
	limit = W.o.defrag_threshold;
	pthread_mutex_unlock(&W.lock);
	if (!limit || mib < 1 || (double)job->nextents / mib <= limit)
		return;
	if (file_handle_get(job->fd, "", &h, NULL) < 0)
		return;
	log_debug("'%s': %zu extents in %.1f MiB, queued for defrag",
		  job->path, job->nextents, mib);
	pthread_mutex_lock(&W.lock);
	defrag_queue_add(f, &h);
	pthread_mutex_unlock(&W.lock);
	pthread_cond_broadcast(&W.cond);
}

/* One handle per line: type, length, hex bytes. */
void defrag_queue_load(struct wfs *f)
{
	FILE *fp = fopen(f->defrag_path, "re");
	char line[256];

	if (!fp)
		return;
	while (fgets(line, sizeof(line), fp)) {
		struct file_id_handle h = { 0 };
		unsigned int len, i;
		int type, pos = 0;
		char *p;

		if (sscanf(line, "%d %u %n", &type, &len, &pos) != 2 ||
		    len == 0 || len > FILE_HANDLE_MAX)
			continue;
		p = line + pos;
		for (i = 0; i < len; i++) {
			unsigned int byte;

			if (sscanf(p + 2 * i, "%2x", &byte) != 1)
				break;
			h.data[i] = (uint8_t)byte;
		}
		if (i != len)
			continue;
		h.type = type;
		h.len = len;
		defrag_queue_add(f, &h);
	}
	fclose(fp);
	f->dq_dirty = false;
	if (f->dq_n)
		log_info("%zu files of '%s' wait for defrag", f->dq_n,
			 f->mount);
}

int defrag_queue_save(struct wfs *f)
{
	char tmp[PATH_MAX + 16];
	FILE *fp;
	int fd, ret = 0;

	pthread_mutex_lock(&W.lock);
	if (!f->dq_dirty) {
		pthread_mutex_unlock(&W.lock);
		return 0;
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp", f->defrag_path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	fp = fd < 0 ? NULL : fdopen(fd, "w");
	if (!fp) {
		ret = -errno;
		if (fd >= 0)
			close(fd);
		pthread_mutex_unlock(&W.lock);
		return ret;
	}
	for (size_t i = 0; i < f->dq_n; i++) {
		fprintf(fp, "%d %u ", f->dq[i].type, f->dq[i].len);
		for (unsigned int k = 0; k < f->dq[i].len; k++)
			fprintf(fp, "%02x", f->dq[i].data[k]);
		fputc('\n', fp);
	}
	f->dq_dirty = false;
	pthread_mutex_unlock(&W.lock);
	return commit_file(fp, tmp, f->defrag_path);
}

/*
 * The background defrag worker: one fragmented file at a time, only while
 * the dedupe worker has nothing to do, at idle I/O priority like the rest.
 */
static struct wfs *defrag_pick(void)
{
	double now = now_wall();

	if (W.requests)
		return NULL;
	for (int i = 0; i < W.nfs; i++) {
		struct wfs *f = &W.fs[i];

		if (f->dq_n && f->defrag && !f->q.nqueued && !f->q.nflight &&
		    !f->need_catchup && !f->catching_up &&
		    now - f->last_event >= W.o.defrag_idle)
			return f;
	}
	return NULL;
}

void *defragger(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&W.lock);
	for (;;) {
		struct file_id_handle h;
		struct wfs *f = NULL;
		char *path;
		int fd;

		while (!W.stopping && !(f = defrag_pick())) {
			bool waiting = false;

			for (int i = 0; i < W.nfs; i++)
				waiting |= W.fs[i].dq_n > 0;
			if (!waiting) {
				pthread_cond_wait(&W.cond, &W.lock);
			} else {
				/* Work is waiting for the dedupe worker to
				 * go idle: look again in a second. */
				struct timespec ts;

				clock_gettime(CLOCK_REALTIME, &ts);
				ts.tv_sec += 1;
				pthread_cond_timedwait(&W.cond, &W.lock, &ts);
			}
		}
		if (W.stopping)
			break;
		h = f->dq[0];
		pthread_mutex_unlock(&W.lock);

		fd = file_handle_open(f->top_fd, &h,
				      O_RDONLY | O_NONBLOCK | O_CLOEXEC |
					      O_NOATIME);
		if (fd == -EPERM)
			fd = file_handle_open(f->top_fd, &h,
					      O_RDONLY | O_NONBLOCK |
						      O_CLOEXEC);
		if (fd >= 0) {
			path = fd_path(f, fd);
			defrag_fd(f->defrag, fd, path);
			free(path);
			close(fd);
		}
		pthread_mutex_lock(&W.lock);
		f->dstats = *defrag_get_stats(f->defrag);
		/* Done, gone or stopped half-way: off the queue unless we
		 * stop (then it waits for the next start). */
		if (!pass_stop && f->dq_n &&
		    !memcmp(&f->dq[0], &h, sizeof(h))) {
			memmove(f->dq, f->dq + 1,
				(f->dq_n - 1) * sizeof(*f->dq));
			f->dq_n--;
			f->dq_dirty = true;
			f->dirty = true;
		}
	}
	pthread_mutex_unlock(&W.lock);
	return NULL;
}
