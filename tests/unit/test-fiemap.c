// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The FIEMAP iterator against a fake kernel that serves a table of extents
 * the way FS_IOC_FIEMAP does. Wraps: ioctl.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <linux/fiemap.h>
#include <linux/fs.h>

#include <cmocka.h>

#include "ioctl-compat/fiemap.h"

#define KB 1024ULL
#define MB (1024 * KB)
#define MAX_EXT 2048
#define MAX_CALLS 16

int __wrap_ioctl(int fd, unsigned long request, ...);

struct fake_ext {
	uint64_t logical, physical, length;
	uint32_t flags;
};

static struct {
	/* the file as the kernel sees it */
	struct fake_ext ext[MAX_EXT];
	unsigned int n;
	/* before call number swap_at (1-based), the table becomes swap_to */
	int swap_at;
	struct fake_ext swap_to[MAX_EXT];
	unsigned int swap_n;
	int ignore_start; /* buggy kernel: always answers from 0 */
	int fail_at; /* call number that fails */
	int fail_errno;

	int calls;
	struct {
		int fd;
		unsigned long request;
		uint64_t start, length;
		uint32_t flags, extent_count;
	} call[MAX_CALLS];
} k;

static void add_ext(uint64_t logical, uint64_t physical, uint64_t length,
		    uint32_t flags)
{
	assert_true(k.n < MAX_EXT);
	k.ext[k.n++] = (struct fake_ext){ logical, physical, length, flags };
}

int __wrap_ioctl(int fd, unsigned long request, ...)
{
	struct fiemap *fm;
	uint64_t start, end;
	unsigned int out = 0;
	va_list ap;

	va_start(ap, request);
	fm = va_arg(ap, struct fiemap *);
	va_end(ap);

	if (k.calls < MAX_CALLS) {
		k.call[k.calls].fd = fd;
		k.call[k.calls].request = request;
		k.call[k.calls].start = fm->fm_start;
		k.call[k.calls].length = fm->fm_length;
		k.call[k.calls].flags = fm->fm_flags;
		k.call[k.calls].extent_count = fm->fm_extent_count;
	}
	k.calls++;
	if (k.calls == k.fail_at) {
		errno = k.fail_errno;
		return -1;
	}
	if (k.calls == k.swap_at) {
		memcpy(k.ext, k.swap_to, sizeof(k.ext));
		k.n = k.swap_n;
	}

	start = k.ignore_start ? 0 : fm->fm_start;
	end = fm->fm_length > UINT64_MAX - start ? UINT64_MAX :
						   start + fm->fm_length;
	for (unsigned int i = 0; i < k.n && out < fm->fm_extent_count; i++) {
		const struct fake_ext *e = &k.ext[i];

		if (e->logical + e->length <= start || e->logical >= end)
			continue;
		fm->fm_extents[out] = (struct fiemap_extent){
			.fe_logical = e->logical,
			.fe_physical = e->physical,
			.fe_length = e->length,
			.fe_flags = e->flags,
		};
		if (i == k.n - 1)
			fm->fm_extents[out].fe_flags |= FIEMAP_EXTENT_LAST;
		out++;
	}
	fm->fm_mapped_extents = out;
	return 0;
}

static int reset(void **state)
{
	(void)state;
	memset(&k, 0, sizeof(k));
	return 0;
}

static void expect_next(struct fiemap_iter *it, uint64_t logical,
			uint64_t physical, uint64_t length, uint32_t flags)
{
	struct extent e;

	memset(&e, 0xa5, sizeof(e));
	assert_int_equal(fiemap_iter_next(it, &e), 1);
	assert_int_equal(e.logical, logical);
	assert_int_equal(e.physical, physical);
	assert_int_equal(e.length, length);
	assert_int_equal(e.flags, flags);
}

static void expect_end(struct fiemap_iter *it)
{
	struct extent e;

	assert_int_equal(fiemap_iter_next(it, &e), 0);
	assert_int_equal(fiemap_iter_next(it, &e), 0);
}

static void empty_range_makes_no_call(void **state)
{
	struct fiemap_iter *it = NULL;

	(void)state;
	add_ext(0, MB, 4 * KB, 0);
	assert_int_equal(fiemap_iter_open(5, 0, 0, 0, &it), 0);
	assert_non_null(it);
	expect_end(it);
	assert_int_equal(k.calls, 0);
	assert_null(fiemap_iter_free(it));
}

static void empty_file_is_one_hole(void **state)
{
	struct fiemap_iter *it = NULL;

	(void)state;
	assert_int_equal(fiemap_iter_open(5, 0, 64 * KB, 0, &it), 0);
	expect_next(it, 0, 0, 64 * KB, EXTENT_HOLE);
	expect_end(it);
	assert_int_equal(k.calls, 1);
	assert_int_equal(k.call[0].fd, 5);
	assert_true(k.call[0].request == FS_IOC_FIEMAP);
	assert_int_equal(k.call[0].start, 0);
	assert_int_equal(k.call[0].length, 64 * KB);
	assert_int_equal(k.call[0].extent_count, 512);
	fiemap_iter_free(it);
}

static void holes_synthesized(void **state)
{
	struct fiemap_iter *it = NULL;

	(void)state;
	add_ext(4 * KB, 1 * MB, 4 * KB, 0);
	add_ext(16 * KB, 2 * MB, 4 * KB, 0);
	assert_int_equal(fiemap_iter_open(5, 0, 32 * KB, 0, &it), 0);
	expect_next(it, 0, 0, 4 * KB, EXTENT_HOLE);
	expect_next(it, 4 * KB, 1 * MB, 4 * KB, 0);
	expect_next(it, 8 * KB, 0, 8 * KB, EXTENT_HOLE);
	expect_next(it, 16 * KB, 2 * MB, 4 * KB, EXTENT_LAST);
	expect_next(it, 20 * KB, 0, 12 * KB, EXTENT_HOLE);
	expect_end(it);
	/* LAST seen: no second call for the trailing hole. */
	assert_int_equal(k.calls, 1);
	fiemap_iter_free(it);
}

static void flags_mapped(void **state)
{
	static const struct {
		uint32_t fe;
		uint32_t ours;
	} map[] = {
		{ 0, 0 },
		{ FIEMAP_EXTENT_SHARED, EXTENT_SHARED },
		{ FIEMAP_EXTENT_ENCODED, EXTENT_ENCODED },
		{ FIEMAP_EXTENT_DATA_ENCRYPTED, EXTENT_ENCODED },
		{ FIEMAP_EXTENT_UNWRITTEN, EXTENT_UNWRITTEN },
		{ FIEMAP_EXTENT_DATA_INLINE | FIEMAP_EXTENT_NOT_ALIGNED,
		  EXTENT_INLINE | EXTENT_NOT_ALIGNED },
		{ FIEMAP_EXTENT_DELALLOC | FIEMAP_EXTENT_UNKNOWN,
		  EXTENT_DELALLOC | EXTENT_UNKNOWN },
		{ FIEMAP_EXTENT_NOT_ALIGNED, EXTENT_NOT_ALIGNED },
		{ FIEMAP_EXTENT_UNKNOWN, EXTENT_UNKNOWN },
		{ FIEMAP_EXTENT_DATA_TAIL | FIEMAP_EXTENT_MERGED, 0 },
		{ FIEMAP_EXTENT_SHARED | FIEMAP_EXTENT_ENCODED,
		  EXTENT_SHARED | EXTENT_ENCODED },
	};
	const unsigned int n = sizeof(map) / sizeof(map[0]);
	struct fiemap_iter *it = NULL;

	(void)state;
	for (unsigned int i = 0; i < n; i++)
		add_ext(i * 4 * KB, (i + 1) * MB, 4 * KB, map[i].fe);
	assert_int_equal(fiemap_iter_open(5, 0, n * 4 * KB, 0, &it), 0);
	for (unsigned int i = 0; i < n; i++) {
		uint32_t want = map[i].ours | (i == n - 1 ? EXTENT_LAST : 0);

		expect_next(it, i * 4 * KB, (i + 1) * MB, 4 * KB, want);
	}
	expect_end(it);
	fiemap_iter_free(it);
}

static void extents_clipped_to_range(void **state)
{
	struct fiemap_iter *it = NULL;

	(void)state;
	add_ext(0, 10 * MB, 1 * MB, FIEMAP_EXTENT_SHARED);
	add_ext(1 * MB, 20 * MB, 128 * KB, FIEMAP_EXTENT_ENCODED);
	add_ext(2 * MB, 0, 1 * MB,
		FIEMAP_EXTENT_DELALLOC | FIEMAP_EXTENT_UNKNOWN);
	/* Starts inside the first extent, ends inside the third. */
	assert_int_equal(fiemap_iter_open(5, 512 * KB, 2 * MB + 4 * KB, 0, &it),
			 0);
	assert_int_equal(k.call[0].start, 512 * KB);
	assert_int_equal(k.call[0].length, 1 * MB + 516 * KB);
	/* The address moves with the clipped front. */
	expect_next(it, 512 * KB, 10 * MB + 512 * KB, 512 * KB, EXTENT_SHARED);
	expect_next(it, 1 * MB, 20 * MB, 128 * KB, EXTENT_ENCODED);
	expect_next(it, 1 * MB + 128 * KB, 0, 896 * KB, EXTENT_HOLE);
	expect_next(it, 2 * MB, 0, 4 * KB,
		    EXTENT_DELALLOC | EXTENT_UNKNOWN | EXTENT_LAST);
	expect_end(it);
	fiemap_iter_free(it);

	/* An encoded extent clipped at the front keeps its address. */
	assert_int_equal(fiemap_iter_open(5, 1 * MB + 64 * KB, 1 * MB + 96 * KB,
					  0, &it),
			 0);
	expect_next(it, 1 * MB + 64 * KB, 20 * MB, 32 * KB, EXTENT_ENCODED);
	expect_end(it);
	fiemap_iter_free(it);
}

static void continues_after_full_buffer(void **state)
{
	const unsigned int n = 1200;
	struct fiemap_iter *it = NULL;
	struct extent e;
	unsigned int i;

	(void)state;
	/* 4 KiB extents every 8 KiB, starting at 8 KiB. */
	for (i = 0; i < n; i++)
		add_ext((2 * i + 1) * 4 * KB, (i + 100) * MB, 4 * KB,
			i % 2 ? FIEMAP_EXTENT_SHARED : 0);
	const uint64_t end = (2 * n + 1) * 4 * KB + 100 * KB;

	assert_int_equal(fiemap_iter_open(5, 0, end, FIEMAP_ITER_SYNC, &it), 0);
	for (i = 0; i < n; i++) {
		expect_next(it, 2 * i * 4 * KB, 0, 4 * KB, EXTENT_HOLE);
		expect_next(it, (2 * i + 1) * 4 * KB, (i + 100) * MB, 4 * KB,
			    (i % 2 ? EXTENT_SHARED : 0) |
				    (i == n - 1 ? EXTENT_LAST : 0));
	}
	expect_next(it, 2 * n * 4 * KB, 0, end - 2 * n * 4 * KB, EXTENT_HOLE);
	assert_int_equal(fiemap_iter_next(it, &e), 0);

	assert_int_equal(k.calls, 3);
	/* Each call starts where the last returned extent ended. */
	assert_int_equal(k.call[0].start, 0);
	assert_int_equal(k.call[1].start, (2 * 511 + 2) * 4 * KB);
	assert_int_equal(k.call[1].length, end - (2 * 511 + 2) * 4 * KB);
	assert_int_equal(k.call[2].start, (2 * 1023 + 2) * 4 * KB);
	/* Write back once, not on every call. */
	assert_int_equal(k.call[0].flags, FIEMAP_FLAG_SYNC);
	assert_int_equal(k.call[1].flags, 0);
	assert_int_equal(k.call[2].flags, 0);
	fiemap_iter_free(it);
}

static void last_flag_in_full_buffer_stops(void **state)
{
	struct fiemap_iter *it = NULL;

	(void)state;
	for (unsigned int i = 0; i < 512; i++)
		add_ext(i * 4 * KB, MB + i * 4 * KB, 4 * KB, 0);
	assert_int_equal(fiemap_iter_open(5, 0, 4 * MB, 0, &it), 0);
	for (unsigned int i = 0; i < 512; i++)
		expect_next(it, i * 4 * KB, MB + i * 4 * KB, 4 * KB,
			    i == 511 ? EXTENT_LAST : 0);
	expect_next(it, 2 * MB, 0, 2 * MB, EXTENT_HOLE);
	expect_end(it);
	assert_int_equal(k.calls, 1);
	fiemap_iter_free(it);
}

static void last_extent_clipped_keeps_last(void **state)
{
	struct fiemap_iter *it = NULL;

	(void)state;
	add_ext(0, MB, 64 * KB, 0);
	add_ext(64 * KB, 2 * MB, 64 * KB, FIEMAP_EXTENT_SHARED);
	assert_int_equal(fiemap_iter_open(5, 0, 100 * KB, 0, &it), 0);
	expect_next(it, 0, MB, 64 * KB, 0);
	expect_next(it, 64 * KB, 2 * MB, 36 * KB, EXTENT_SHARED | EXTENT_LAST);
	expect_end(it);
	fiemap_iter_free(it);
}

static void file_changed_between_calls(void **state)
{
	struct fiemap_iter *it = NULL;
	unsigned int i;

	(void)state;
	for (i = 0; i < 512; i++)
		add_ext(i * 4 * KB, MB + i * 4 * KB, 4 * KB, 0);
	add_ext(512 * 4 * KB, 9 * MB, 4 * KB, 0);
	/*
	 * Before the second call the file is rewritten: one extent now spans
	 * the last one returned and beyond, another follows after a gap.
	 */
	k.swap_at = 2;
	k.swap_to[0] = (struct fake_ext){ 0, 50 * MB, 2 * MB + 64 * KB, 0 };
	k.swap_to[1] = (struct fake_ext){ 3 * MB, 60 * MB, 4 * KB, 0 };
	k.swap_n = 2;

	assert_int_equal(fiemap_iter_open(5, 0, 4 * MB, 0, &it), 0);
	for (i = 0; i < 512; i++)
		expect_next(it, i * 4 * KB, MB + i * 4 * KB, 4 * KB, 0);
	/* The new extent is clipped to where we were: no overlap, no gap. */
	expect_next(it, 2 * MB, 50 * MB + 2 * MB, 64 * KB, 0);
	expect_next(it, 2 * MB + 64 * KB, 0, MB - 64 * KB, EXTENT_HOLE);
	expect_next(it, 3 * MB, 60 * MB, 4 * KB, EXTENT_LAST);
	expect_next(it, 3 * MB + 4 * KB, 0, MB - 4 * KB, EXTENT_HOLE);
	expect_end(it);
	assert_int_equal(k.calls, 2);
	assert_int_equal(k.call[1].start, 2 * MB);
	fiemap_iter_free(it);
}

static void stale_answer_does_not_loop(void **state)
{
	struct fiemap_iter *it = NULL;

	(void)state;
	/* A full buffer without LAST, then the same extents again. */
	for (unsigned int i = 0; i < 600; i++)
		add_ext(i * 4 * KB, MB + i * 4 * KB, 4 * KB, 0);
	k.ignore_start = 1;
	assert_int_equal(fiemap_iter_open(5, 0, 4 * MB, 0, &it), 0);
	for (unsigned int i = 0; i < 512; i++)
		expect_next(it, i * 4 * KB, MB + i * 4 * KB, 4 * KB, 0);
	expect_next(it, 2 * MB, 0, 2 * MB, EXTENT_HOLE);
	expect_end(it);
	assert_int_equal(k.calls, 2);
	fiemap_iter_free(it);
}

static void errors_propagate(void **state)
{
	struct fiemap_iter *it = (struct fiemap_iter *)&k;
	struct extent e;

	(void)state;
	k.fail_at = 1;
	k.fail_errno = EOPNOTSUPP;
	assert_int_equal(fiemap_iter_open(5, 0, MB, 0, &it), -EOPNOTSUPP);
	assert_ptr_equal(it, (struct fiemap_iter *)&k); /* untouched */

	/* Failure on the second call comes out of fiemap_iter_next(). */
	memset(&k, 0, sizeof(k));
	for (unsigned int i = 0; i < 513; i++)
		add_ext(i * 4 * KB, MB + i * 4 * KB, 4 * KB, 0);
	k.fail_at = 2;
	k.fail_errno = EIO;
	assert_int_equal(fiemap_iter_open(5, 0, 4 * MB, 0, &it), 0);
	for (unsigned int i = 0; i < 512; i++)
		expect_next(it, i * 4 * KB, MB + i * 4 * KB, 4 * KB, 0);
	assert_int_equal(fiemap_iter_next(it, &e), -EIO);
	fiemap_iter_free(it);
}

static void bad_arguments(void **state)
{
	struct fiemap_iter *it = NULL;
	struct extent e;

	(void)state;
	assert_int_equal(fiemap_iter_open(5, 8192, 4096, 0, &it), -EINVAL);
	assert_int_equal(fiemap_iter_open(5, 0, 4096, 0x10, &it), -EINVAL);
	assert_int_equal(fiemap_iter_open(5, 0, 4096, 0, NULL), -EINVAL);
	assert_null(it);
	assert_int_equal(k.calls, 0);
	assert_int_equal(fiemap_iter_next(NULL, &e), -EINVAL);
	assert_null(fiemap_iter_free(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(empty_range_makes_no_call, reset),
		cmocka_unit_test_setup(empty_file_is_one_hole, reset),
		cmocka_unit_test_setup(holes_synthesized, reset),
		cmocka_unit_test_setup(flags_mapped, reset),
		cmocka_unit_test_setup(extents_clipped_to_range, reset),
		cmocka_unit_test_setup(continues_after_full_buffer, reset),
		cmocka_unit_test_setup(last_flag_in_full_buffer_stops, reset),
		cmocka_unit_test_setup(last_extent_clipped_keeps_last, reset),
		cmocka_unit_test_setup(file_changed_between_calls, reset),
		cmocka_unit_test_setup(stale_answer_does_not_loop, reset),
		cmocka_unit_test_setup(errors_propagate, reset),
		cmocka_unit_test_setup(bad_arguments, reset),
	};

	return cmocka_run_group_tests_name("fiemap", tests, NULL, NULL);
}
