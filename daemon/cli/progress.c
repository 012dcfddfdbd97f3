// SPDX-License-Identifier: GPL-2.0-or-later
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "daemon/engine/engine.h"
#include "daemon/common/log.h"
#include "daemon/cli/progress.h"
#include "daemon/common/util.h"

static struct {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool running, stop, drawn;
	const struct engine_stats *st;
	uint64_t total;
	double start;
} pb = { .lock = PTHREAD_MUTEX_INITIALIZER,
	 .cond = PTHREAD_COND_INITIALIZER };

static void erase_line(void)
{
	if (pb.drawn) {
		fputs("\r\033[K", stderr);
		pb.drawn = false;
	}
}

static void draw(void)
{
	uint64_t files = atomic_load(&pb.st->files_seen);
	uint64_t hashed = atomic_load(&pb.st->bytes_hashed);
	uint64_t done = atomic_load(&pb.st->bytes_seen);
	double el = now_sec() - pb.start, rate = el > 0 ? hashed / el : 0;
	char hb[32], line[160], bar[24];
	int n = 0;

	fmt_bytes(hashed, hb, sizeof(hb));
	if (pb.total) {
		double f = done >= pb.total ? 1.0 : (double)done / pb.total;
		int fill = (int)(f * 20);
		double eta = f > 0.01 ? el / f - el : -1;

		memset(bar, '#', fill);
		memset(bar + fill, '.', 20 - fill);
		bar[20] = '\0';
		n = snprintf(line, sizeof(line), "[%s] %3d%% ", bar,
			     (int)(f * 100));
		n += snprintf(line + n, sizeof(line) - n,
			      "%llu files, %s hashed, %.0f MB/s",
			      (unsigned long long)files, hb, rate / 1e6);
		if (eta >= 0)
			snprintf(line + n, sizeof(line) - n, ", ETA %d:%02d",
				 (int)eta / 60, (int)eta % 60);
	} else {
		snprintf(line, sizeof(line), "%llu files, %s hashed, %.0f MB/s",
			 (unsigned long long)files, hb, rate / 1e6);
	}
	fprintf(stderr, "\r\033[K%s", line);
	fflush(stderr);
	pb.drawn = true;
}

static void hook(void)
{
	/* Called with pb.lock not held by log callers: good enough for a
	 * cosmetic race, the bar is redrawn within 250 ms. */
	erase_line();
}

static void *progress_thread(void *arg)
{
	struct timespec ts;

	(void)arg;
	pthread_mutex_lock(&pb.lock);
	while (!pb.stop) {
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 250000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&pb.cond, &pb.lock, &ts);
		if (!pb.stop)
			draw();
	}
	erase_line();
	pthread_mutex_unlock(&pb.lock);
	return NULL;
}

void progress_start(const struct engine_stats *st, uint64_t total_bytes)
{
	if (!isatty(STDERR_FILENO) || pb.running)
		return;
	pb.st = st;
	pb.total = total_bytes;
	pb.start = now_sec();
	pb.stop = false;
	if (pthread_create(&pb.thread, NULL, progress_thread, NULL))
		return;
	pb.running = true;
	log_hook = hook;
}

void progress_stop(void)
{
	if (!pb.running)
		return;
	pthread_mutex_lock(&pb.lock);
	pb.stop = true;
	pthread_cond_signal(&pb.cond);
	pthread_mutex_unlock(&pb.lock);
	pthread_join(pb.thread, NULL);
	pb.running = false;
	log_hook = NULL;
}
