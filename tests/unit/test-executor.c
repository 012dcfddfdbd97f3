// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Unit tests for daemon/engine/executor.c: runs become FIDEDUPERANGE calls grouped
 * by source range (several destinations a call), largest gain first, in
 * chunks; results are counted. dedupe_submit and engine_open_file are
 * wrapped: the kernel is not the point here.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "daemon/engine/engine.h"
#include "ioctl-compat/dedupe.h"

#define BS 4096u
#define MiB (1ULL << 20)

struct call {
	int src;
	uint64_t src_off, len;
	unsigned int ndests;
	int dst_fd[4];
	uint64_t dst_off[4];
};

static struct call calls[64];
static int ncalls;
static int differ_fd = -1;	/* destination fd that answers "differs" */

int __wrap_engine_open_file(struct engine *e, uint32_t id);
int __wrap_engine_open_file(struct engine *e, uint32_t id)
{
	(void)e;
	return 100 + (int)id;	/* never closed for real: see close() */
}

int64_t __wrap_dedupe_submit(int src, uint64_t src_off, uint64_t len,
			     struct dedupe_dest *dests, unsigned int ndests,
			     uint32_t blksz);
int64_t __wrap_dedupe_submit(int src, uint64_t src_off, uint64_t len,
			     struct dedupe_dest *dests, unsigned int ndests,
			     uint32_t blksz)
{
	struct call *c = &calls[ncalls++];

	(void)blksz;
	assert_true(ncalls <= 64);
	*c = (struct call){ .src = src, .src_off = src_off, .len = len,
			    .ndests = ndests };
	for (unsigned int i = 0; i < ndests; i++) {
		if (i < 4) {
			c->dst_fd[i] = dests[i].fd;
			c->dst_off[i] = dests[i].offset;
		}
		dests[i].status = dests[i].fd == differ_fd ? -EBADE : 0;
		dests[i].bytes = dests[i].status ? 0 : len;
	}
	return (int64_t)len;
}

/* The executor closes the sources it opened: fake fds must not be closed. */
int __wrap_close(int fd);
int __real_close(int fd);
int __wrap_close(int fd)
{
	return fd >= 100 ? 0 : __real_close(fd);
}

static struct engine e;

static int setup(void **state)
{
	(void)state;
	memset(&e, 0, sizeof(e));
	e.fs.kind = FS_XFS;	/* no relocation: that needs real files */
	e.fs.block_size = BS;
	engine_init(&e, -1);
	ncalls = 0;
	differ_fd = -1;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	engine_fini(&e);
	return 0;
}

static void job_with_run(struct file_job *job, int fd, uint32_t src,
			 uint64_t src_blk, uint64_t dst_blk, uint64_t nblk)
{
	memset(job, 0, sizeof(*job));
	job->fd = fd;
	job->file_id = (uint32_t)fd;
	job->hashed = true;
	job->runs = calloc(4, sizeof(*job->runs));
	job->cap_runs = 4;
	job->runs[job->nruns++] = (struct match_run){ src, src_blk, dst_blk,
						      nblk, nblk * BS };
}

static void job_free(struct file_job *job)
{
	free(job->runs);
	free(job->done);
}

static void same_source_range_is_one_call(void **state)
{
	struct file_job jobs[3];

	(void)state;
	job_with_run(&jobs[0], 11, 1, 0, 0, 4);	/* 16 KiB of file 1 */
	job_with_run(&jobs[1], 12, 1, 0, 8, 4);	/* the same, elsewhere */
	job_with_run(&jobs[2], 13, 2, 5, 0, 1);	/* 4 KiB of file 2 */
	engine_execute(&e, jobs, 3);

	assert_int_equal(ncalls, 2);
	/* largest gain first: 2 x 16 KiB before 4 KiB */
	assert_int_equal(calls[0].src, 101);
	assert_int_equal(calls[0].src_off, 0);
	assert_int_equal(calls[0].len, 4 * BS);
	assert_int_equal(calls[0].ndests, 2);
	assert_int_equal(calls[0].dst_fd[0] + calls[0].dst_fd[1], 11 + 12);
	assert_int_equal(calls[0].dst_off[0] + calls[0].dst_off[1], 8 * BS);
	assert_int_equal(calls[1].src, 102);
	assert_int_equal(calls[1].src_off, 5 * BS);
	assert_int_equal(calls[1].ndests, 1);
	assert_int_equal(atomic_load(&e.st.bytes_deduped), 9 * BS);
	assert_int_equal(atomic_load(&e.st.dedupe_calls), 2);
	/* what was deduped is remembered for relocation */
	assert_int_equal(jobs[0].ndone, 1);
	assert_int_equal(jobs[0].done[0].len, 4 * BS);
	for (int i = 0; i < 3; i++)
		job_free(&jobs[i]);
}

static void long_runs_go_in_chunks(void **state)
{
	struct file_job job;

	(void)state;
	job_with_run(&job, 11, 1, 0, 0, 40 * MiB / BS);
	engine_execute(&e, &job, 1);
	assert_int_equal(ncalls, 3);
	assert_int_equal(calls[0].len + calls[1].len + calls[2].len,
			 40 * MiB);
	for (int i = 0; i < 3; i++) {
		assert_true(calls[i].len <= 16 * MiB);
		/* source and destination stay in step */
		assert_int_equal(calls[i].src_off, calls[i].dst_off[0]);
	}
	assert_int_equal(atomic_load(&e.st.bytes_deduped), 40 * MiB);
	job_free(&job);
}

static void differs_is_counted_not_deduped(void **state)
{
	struct file_job jobs[2];

	(void)state;
	job_with_run(&jobs[0], 11, 1, 0, 0, 2);
	job_with_run(&jobs[1], 12, 1, 0, 0, 2);
	differ_fd = 12;
	engine_execute(&e, jobs, 2);
	assert_int_equal(ncalls, 1);
	assert_int_equal(atomic_load(&e.st.differs), 1);
	assert_int_equal(atomic_load(&e.st.bytes_deduped), 2 * BS);
	assert_int_equal(jobs[1].ndone, 0);
	for (int i = 0; i < 2; i++)
		job_free(&jobs[i]);
}

static void dry_run_submits_nothing(void **state)
{
	struct file_job job;

	(void)state;
	e.dry_run = true;
	job_with_run(&job, 11, 1, 0, 0, 2);
	engine_execute(&e, &job, 1);
	assert_int_equal(ncalls, 0);
	job_free(&job);
}

static void many_destinations_split_at_127(void **state)
{
	static struct file_job jobs[130];

	(void)state;
	for (int i = 0; i < 130; i++)
		job_with_run(&jobs[i], 20 + i, 1, 0, 0, 1);
	engine_execute(&e, jobs, 130);
	assert_int_equal(ncalls, 2);
	assert_int_equal(calls[0].ndests + calls[1].ndests, 130);
	assert_true(calls[0].ndests <= DEDUPE_MAX_DESTS);
	assert_true(calls[1].ndests <= DEDUPE_MAX_DESTS);
	for (int i = 0; i < 130; i++)
		job_free(&jobs[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(same_source_range_is_one_call,
						setup, teardown),
		cmocka_unit_test_setup_teardown(long_runs_go_in_chunks, setup,
						teardown),
		cmocka_unit_test_setup_teardown(differs_is_counted_not_deduped,
						setup, teardown),
		cmocka_unit_test_setup_teardown(dry_run_submits_nothing, setup,
						teardown),
		cmocka_unit_test_setup_teardown(many_destinations_split_at_127,
						setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
