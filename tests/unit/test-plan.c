// SPDX-License-Identifier: GPL-2.0-or-later
/* Unit tests for daemon/engine/plan.c: run trimming and relocation planning. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "daemon/engine/plan.h"

#define BS 4096u

static void job_init(struct file_job *job)
{
	memset(job, 0, sizeof(*job));
	job->fd = -1;
	job->file_id = 7;
}

static void job_free(struct file_job *job)
{
	free(job->runs);
	free(job->extents);
	free(job->done);
}

static void add_run(struct file_job *job, uint32_t src, uint64_t sblk,
		    uint64_t dblk, uint64_t nblk, uint64_t len)
{
	job->runs = realloc(job->runs, (job->nruns + 1) * sizeof(*job->runs));
	job->runs[job->nruns++] = (struct match_run){ src, sblk, dblk, nblk,
						      len };
}

static void add_ext(struct file_job *job, uint64_t lo, uint64_t len,
		    uint32_t flags)
{
	job->extents = realloc(job->extents,
			       (job->nextents + 1) * sizeof(*job->extents));
	job->extents[job->nextents++] = (struct extent){ lo, 1 << 20, len,
							 flags };
}

static void add_done(struct file_job *job, uint64_t off, uint64_t len)
{
	job->done = realloc(job->done, (job->ndone + 1) * sizeof(*job->done));
	job->done[job->ndone++] = (struct byte_range){ off, len };
}

static void encoded_extent_whole_is_kept(void **state)
{
	struct file_job job;

	(void)state;
	job_init(&job);
	add_ext(&job, 0, 32 * BS, EXTENT_ENCODED);
	add_run(&job, 1, 0, 0, 32, 32 * BS);
	plan_trim_encoded(&job, BS);
	assert_int_equal(job.nruns, 1);
	assert_int_equal(job.runs[0].nblk, 32);
	job_free(&job);
}

static void encoded_extent_part_is_cut(void **state)
{
	struct file_job job;

	(void)state;
	job_init(&job);
	/* a run over blocks 0..47; an encoded extent at 32..63 */
	add_ext(&job, 0, 32 * BS, 0);
	add_ext(&job, 32 * BS, 32 * BS, EXTENT_ENCODED);
	add_run(&job, 1, 100, 0, 48, 48 * BS);
	/* a run inside the encoded extent only: dropped */
	add_run(&job, 2, 0, 40, 8, 8 * BS);
	plan_trim_encoded(&job, BS);
	assert_int_equal(job.nruns, 1);
	assert_int_equal(job.runs[0].src_id, 1);
	assert_int_equal(job.runs[0].dst_blk, 0);
	assert_int_equal(job.runs[0].nblk, 32);
	assert_int_equal(job.runs[0].len, 32 * BS);
	job_free(&job);
}

static void encoded_extent_before_run_start(void **state)
{
	struct file_job job;

	(void)state;
	job_init(&job);
	/* encoded 0..31, run over 16..63: keeps 32..63 */
	add_ext(&job, 0, 32 * BS, EXTENT_ENCODED);
	add_run(&job, 3, 116, 16, 48, 48 * BS - 100);
	plan_trim_encoded(&job, BS);
	assert_int_equal(job.nruns, 1);
	assert_int_equal(job.runs[0].dst_blk, 32);
	assert_int_equal(job.runs[0].src_blk, 132);
	assert_int_equal(job.runs[0].nblk, 32);
	assert_int_equal(job.runs[0].len, 32 * BS - 100);
	job_free(&job);
}

static void self_overlap_is_shortened(void **state)
{
	struct file_job job;

	(void)state;
	job_init(&job);
	add_run(&job, 7, 0, 2, 10, 10 * BS);	/* overlaps: gap 2 */
	add_run(&job, 7, 5, 5, 1, BS);		/* onto itself: dropped */
	add_run(&job, 8, 0, 20, 10, 10 * BS);	/* another file: as is */
	plan_trim_self_overlap(&job, BS);
	assert_int_equal(job.nruns, 2);
	assert_int_equal(job.runs[0].nblk, 2);
	assert_int_equal(job.runs[0].len, 2 * BS);
	assert_int_equal(job.runs[1].src_id, 8);
	assert_int_equal(job.runs[1].nblk, 10);
	job_free(&job);
}

static void relocation_when_it_pays(void **state)
{
	struct file_job job;
	struct byte_range *out = NULL;
	size_t cap = 0, n;

	(void)state;
	job_init(&job);
	add_ext(&job, 0, 100 * BS, 0);
	/* 70 blocks deduped in two pieces, out of order */
	add_done(&job, 60 * BS, 30 * BS);
	add_done(&job, 10 * BS, 40 * BS);
	n = plan_relocation(&job, false, &out, &cap);
	assert_int_equal(n, 3);
	assert_int_equal(out[0].off, 0);
	assert_int_equal(out[0].len, 10 * BS);
	assert_int_equal(out[1].off, 50 * BS);
	assert_int_equal(out[1].len, 10 * BS);
	assert_int_equal(out[2].off, 90 * BS);
	assert_int_equal(out[2].len, 10 * BS);
	free(out);
	job_free(&job);
}

static void relocation_not_when_it_costs(void **state)
{
	struct file_job job;
	struct byte_range *out = NULL;
	size_t cap = 0;

	(void)state;
	job_init(&job);
	add_ext(&job, 0, 100 * BS, 0);
	add_done(&job, 0, 11 * BS);	/* 89 written to gain 11: over 8x */
	assert_int_equal(plan_relocation(&job, false, &out, &cap), 0);
	job.done[0].len = 12 * BS;	/* 88 for 12: under 8x */
	assert_int_equal(plan_relocation(&job, false, &out, &cap), 1);
	assert_int_equal(out[0].off, 12 * BS);
	assert_int_equal(out[0].len, 88 * BS);
	free(out);
	job_free(&job);
}

static void relocation_skips_shared_encoded_and_whole(void **state)
{
	struct file_job job;
	struct byte_range *out = NULL;
	size_t cap = 0, n;

	(void)state;
	job_init(&job);
	add_ext(&job, 0, 10 * BS, EXTENT_SHARED);
	add_ext(&job, 10 * BS, 10 * BS, EXTENT_ENCODED);
	add_ext(&job, 20 * BS, 10 * BS, 0);	/* wholly deduped */
	add_ext(&job, 30 * BS, 10 * BS + 123, 0); /* tail: 9 of 10 + tail */
	add_done(&job, 0, 40 * BS);
	add_done(&job, 40 * BS, 0);
	n = plan_relocation(&job, false, &out, &cap);
	assert_int_equal(n, 1);
	assert_int_equal(out[0].off, 40 * BS);
	assert_int_equal(out[0].len, 123);
	free(out);
	job_free(&job);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(encoded_extent_whole_is_kept),
		cmocka_unit_test(encoded_extent_part_is_cut),
		cmocka_unit_test(encoded_extent_before_run_start),
		cmocka_unit_test(self_overlap_is_shortened),
		cmocka_unit_test(relocation_when_it_pays),
		cmocka_unit_test(relocation_not_when_it_costs),
		cmocka_unit_test(relocation_skips_shared_encoded_and_whole),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
