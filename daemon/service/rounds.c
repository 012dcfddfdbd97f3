// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * dedupd watch: the worker thread. It sleeps until something is due, then
 * serves handed-over scans, catches up, takes the settled files of each
 * queue up in rounds through the pass, and checkpoints.
 */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/sysinfo.h>
#include <time.h>

#include "daemon/common/log.h"
#include "daemon/engine/index.h"
#include "daemon/service/internal.h"

#define ROUND_FILES 16384	/* files taken up per round at most */

static struct queue_timing timing(void)
{
	return (struct queue_timing){ .settle = W.o.settle,
				      .min_age = W.o.min_age,
				      .reexamine = W.o.reexamine };
}

/* Takes up every settled file of @f. Returns how many were taken. */
static size_t round_of(struct wfs *f, const struct filter *flt, double now)
{
	struct wqueue_item *hs;
	struct queue_timing t;
	uint64_t before = 0, after = 0;
	size_t n, i;
	bool measure;

	hs = xmalloc(ROUND_FILES * sizeof(*hs));
	pthread_mutex_lock(&W.lock);
	t = timing();
	n = wqueue_take(&f->q, &t, now, hs, ROUND_FILES);
	if (n)
		W.state = "working";
	pthread_mutex_unlock(&W.lock);
	if (!n)
		goto out;

	measure = !f->e.dry_run;
	if (measure && fs_used_bytes(f->root_fd, &before) < 0)
		measure = false;
	for (i = 0; i < n && !pass_stop; i++)
		take_file(f, &hs[i].h, &hs[i].dir, hs[i].name, flt);
	for (i = 0; i < n; i++)
		free(hs[i].name);
	pass_finish(&f->pass);
	if (measure && fs_used_bytes(f->root_fd, &after) == 0) {
		pthread_mutex_lock(&W.lock);
		f->bytes_freed += (int64_t)(before - after);
		pthread_mutex_unlock(&W.lock);
	}
	pthread_mutex_lock(&W.lock);
	wqueue_done(&f->q, now_wall(), pass_stop);
	f->rounds++;
	f->dirty = true;
	pthread_mutex_unlock(&W.lock);
out:
	free(hs);
	return n;
}

/* The earliest time anything is due, under W.lock. */
static double next_due(void)
{
	double t = INFINITY;
	int i;

	if (W.requests)
		return 0;
	for (i = 0; i < W.nfs; i++) {
		struct wfs *f = &W.fs[i];
		struct queue_timing qt = timing();
		double d = wqueue_next_due(&f->q, &qt);

		if (f->need_catchup)
			return 0;
		if (f->checkpoint_now)
			return 0;
		/* Nothing done, nothing to save: an idle daemon sleeps. */
		if (f->dirty && f->last_checkpoint + W.o.checkpoint < t)
			t = f->last_checkpoint + W.o.checkpoint;
		if (d < t)
			t = d;
	}
	return t;
}

static bool load_too_high(void)
{
	struct sysinfo si;

	/* sysinfo(2), not getloadavg(3): the unit's ProcSubset=pid hides
	 * /proc/loadavg. The loads are fixed-point, SI_LOAD_SHIFT bits. */
	return W.o.loadavg_target > 0 && sysinfo(&si) == 0 &&
	       (double)si.loads[0] / (1 << SI_LOAD_SHIFT) >
		       W.o.loadavg_target;
}

void *worker(void *arg)
{
	struct filter flt = { 0 };
	struct walk_opts wo = { 0 };
	int i;

	(void)arg;
	for (;;) {
		double now, t;
		bool catchup = false;

		pthread_mutex_lock(&W.lock);
		for (;;) {
			if (W.stopping)
				break;
			now = now_wall();
			if (load_too_high()) {
				struct timespec ts;

				W.state = "paused (load average)";
				clock_gettime(CLOCK_REALTIME, &ts);
				ts.tv_sec += 5;
				pthread_cond_timedwait(&W.cond, &W.lock, &ts);
				continue;
			}
			t = next_due();
			if (t <= now)
				break;
			W.state = "idle";
			if (isinf(t)) {
				pthread_cond_wait(&W.cond, &W.lock);
			} else {
				struct timespec ts;
				double wait = t - now + 0.01;

				clock_gettime(CLOCK_REALTIME, &ts);
				ts.tv_sec += (time_t)wait;
				ts.tv_nsec += (long)((wait - floor(wait)) * 1e9);
				if (ts.tv_nsec >= 1000000000L) {
					ts.tv_sec++;
					ts.tv_nsec -= 1000000000L;
				}
				pthread_cond_timedwait(&W.cond, &W.lock, &ts);
			}
		}
		if (W.stopping) {
			pthread_mutex_unlock(&W.lock);
			break;
		}
		copy_filter(&flt, &wo);
		log_level = W.o.log_level;
		serve_requests();
		pthread_mutex_unlock(&W.lock);

		for (i = 0; i < W.nfs && !W.stopping; i++) {
			struct wfs *f = &W.fs[i];

			wo.mnt_id = f->e.mnt_id;
			pthread_mutex_lock(&W.lock);
			catchup = f->need_catchup;
			pthread_mutex_unlock(&W.lock);
			if (catchup) {
				catch_up(f, &flt, &wo);
				checkpoint(f);
			}
			if (round_of(f, &flt, now_wall()))
				pthread_cond_broadcast(&W.cond);
			if (f->checkpoint_now ||
			    (f->dirty && f->last_checkpoint + W.o.checkpoint <=
						 now_wall()))
				checkpoint(f);
		}
	}
	free_filter(&flt);
	return NULL;
}
