// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * dedupd watch: handed-over scans. `dedupd scan` and `dedupd ctl dedupe`
 * hand their paths to the daemon (control.c queues them); the worker serves
 * them ahead of its queue through the same pass and answers with the scan's
 * report.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/common/log.h"
#include "daemon/engine/index.h"
#include "daemon/engine/report.h"
#include "daemon/service/internal.h"

#define NSTATS (sizeof(struct engine_stats) / sizeof(atomic_uint_fast64_t))

static void stats_copy(struct engine_stats *dst, struct engine_stats *src)
{
	atomic_uint_fast64_t *d = (atomic_uint_fast64_t *)dst;
	atomic_uint_fast64_t *s = (atomic_uint_fast64_t *)src;

	for (size_t i = 0; i < NSTATS; i++)
		atomic_store(&d[i], atomic_load(&s[i]));
}

/* A handed-over scan: walk its paths, run them through the pass, report. */
static void serve_request(struct request *r)
{
	struct wfs *f = r->f;
	struct engine_stats before, diff;
	struct walk_stats ws = { 0 };
	struct walk_opts wo = { .excludes = r->scan.excludes,
				.nexcludes = r->scan.nexcludes,
				.min_size = r->scan.min_size };
	struct hashdb_stats ix;
	uint64_t used_before = 0, used_after = 0;
	atomic_uint_fast64_t *a, *b, *d;
	double t0 = now_wall();
	char *text = NULL;
	size_t len = 0, i, failed = 0;
	FILE *m;
	int ret;

	stats_copy(&before, &f->e.st);
	(void)fs_used_bytes(f->root_fd, &used_before);
	f->e.dry_run = r->scan.dry_run;
	ret = pass_add_paths(&f->pass, r->scan.paths, r->scan.npaths, &wo,
			     &ws, &failed);
	pass_finish(&f->pass);
	f->e.dry_run = W.o.dry_run;
	pthread_mutex_lock(&W.lock);
	f->dirty = true;
	pthread_mutex_unlock(&W.lock);
	if (!r->scan.dry_run)
		(void)fs_used_bytes(f->root_fd, &used_after);
	else
		used_after = used_before;

	a = (atomic_uint_fast64_t *)&f->e.st;
	b = (atomic_uint_fast64_t *)&before;
	d = (atomic_uint_fast64_t *)&diff;
	for (i = 0; i < NSTATS; i++)
		atomic_store(&d[i], atomic_load(&a[i]) - atomic_load(&b[i]));
	atomic_fetch_add(&diff.files_skipped, ws.excluded + ws.small);
	atomic_fetch_add(&diff.files_seen, ws.excluded + ws.small);
	atomic_fetch_add(&diff.files_unreadable, ws.errors);
	atomic_fetch_add(&diff.files_special, ws.special);
	atomic_fetch_add(&diff.too_deep, ws.too_deep);
	if (r->fd < 0) {
		/* Nobody waits (no-wait): the log has the outcome. */
		char b1[32], b2[32];
		int64_t freed = (int64_t)(used_before - used_after);

		if (ret < 0 && ret != -EINTR)
			log_warn("request %llu: cannot read '%s': %s",
				 (unsigned long long)r->id,
				 r->scan.paths[failed],
				 strerror(-ret));
		else
			log_info("request %llu done: %llu files, %s deduped, %s%s freed in %.1f s",
				 (unsigned long long)r->id,
				 (unsigned long long)atomic_load(&diff.files_seen),
				 fmt_bytes(atomic_load(&diff.bytes_deduped), b1,
					   sizeof(b1)),
				 freed < 0 ? "-" : "",
				 fmt_bytes((uint64_t)(freed < 0 ? -freed : freed),
					   b2, sizeof(b2)),
				 now_wall() - t0);
		free_request(r);
		return;
	}
	hashdb_get_stats(f->e.db, &ix);
	m = open_memstream(&text, &len);
	if (!m) {
		free_request(r);
		return;
	}
	if (ret < 0 && ret != -EINTR) {
		fprintf(m, "rc %d\ncannot read '%s': %s\n", EXIT_RUNTIME,
			r->scan.paths[failed], strerror(-ret));
	} else {
		fprintf(m, "rc %d\n", pass_stop ? EXIT_INTERRUPTED : EXIT_OK);
		scan_report(m, &(struct scan_report_args){
			.st = &diff, .ix = &ix, .fs_name = f->e.fs.name,
			.index_result = "daemon", .dry_run = r->scan.dry_run,
			.json = r->scan.json,
			.freed = (int64_t)(used_before - used_after),
			.secs = now_wall() - t0 });
	}
	fclose(m);
	answer(r->fd, text);
	free(text);
	free_request(r);
}

/*
 * Serves the handed-over scans, in order. W.lock held; dropped while
 * serving.
 */
void serve_requests(void)
{
	while (W.requests) {
		struct request *r = W.requests;

		W.requests = r->next;
		if (!W.requests)
			W.requests_tail = &W.requests;
		W.state = "scanning (handed over)";
		pthread_mutex_unlock(&W.lock);
		serve_request(r);
		pthread_mutex_lock(&W.lock);
	}
}

/*
 * Handed-over scans go ahead of the queue: a round or a catch-up in
 * progress on @f stops for them once the batch being filled is done, then
 * goes on.
 */
void serve_requests_now(struct wfs *f)
{
	const char *state;

	pthread_mutex_lock(&W.lock);
	if (!W.requests || W.stopping) {
		pthread_mutex_unlock(&W.lock);
		return;
	}
	state = W.state;
	pthread_mutex_unlock(&W.lock);
	pass_finish(&f->pass);
	pthread_mutex_lock(&W.lock);
	serve_requests();
	W.state = state;
	pthread_mutex_unlock(&W.lock);
}
