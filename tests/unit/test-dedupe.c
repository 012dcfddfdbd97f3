// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * dedupe_submit() / dedupe_range() against a scripted FIDEDUPERANGE.
 * Wraps: ioctl, fstat64 (what fstat() links to with _FILE_OFFSET_BITS=64).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <linux/fs.h>

#include <cmocka.h>

#include "ioctl-compat/dedupe.h"

#define BLK 4096u
#define MAX_FD 256

int __wrap_ioctl(int fd, unsigned long request, ...);
int __wrap_fstat64(int fd, struct stat *st);

/* What the fake kernel saw, and how it answers. */
static struct {
	int calls;
	int fd;
	unsigned long request;
	uint64_t src_offset;
	uint64_t src_length;
	uint16_t dest_count;
	int64_t dest_fd[DEDUPE_MAX_DESTS];
	uint64_t dest_offset[DEDUPE_MAX_DESTS];

	int fail_errno; /* ioctl returns -1 */
	int32_t status[DEDUPE_MAX_DESTS]; /* per-dest status */
	int bytes_set[DEDUPE_MAX_DESTS]; /* else echo the length */
	uint64_t bytes[DEDUPE_MAX_DESTS];
} k;

static struct {
	int calls;
	off_t size[MAX_FD]; /* < 0: EBADF */
} fs;

int __wrap_ioctl(int fd, unsigned long request, ...)
{
	struct file_dedupe_range *r;
	va_list ap;

	va_start(ap, request);
	r = va_arg(ap, struct file_dedupe_range *);
	va_end(ap);

	k.calls++;
	k.fd = fd;
	k.request = request;
	k.src_offset = r->src_offset;
	k.src_length = r->src_length;
	k.dest_count = r->dest_count;
	for (unsigned int i = 0; i < r->dest_count && i < DEDUPE_MAX_DESTS;
	     i++) {
		k.dest_fd[i] = r->info[i].dest_fd;
		k.dest_offset[i] = r->info[i].dest_offset;
	}
	if (k.fail_errno) {
		errno = k.fail_errno;
		return -1;
	}
	for (unsigned int i = 0; i < r->dest_count; i++) {
		r->info[i].status = k.status[i];
		/* Like the kernel: the requested length, whatever happened. */
		if (k.bytes_set[i])
			r->info[i].bytes_deduped = k.bytes[i];
		else if (k.status[i] == 0)
			r->info[i].bytes_deduped = r->src_length;
		else
			r->info[i].bytes_deduped = 0;
	}
	return 0;
}

int __wrap_fstat64(int fd, struct stat *st)
{
	fs.calls++;
	if (fd < 0 || fd >= MAX_FD || fs.size[fd] < 0) {
		errno = EBADF;
		return -1;
	}
	memset(st, 0, sizeof(*st));
	st->st_mode = S_IFREG | 0644;
	st->st_size = fs.size[fd];
	return 0;
}

static int reset(void **state)
{
	(void)state;
	memset(&k, 0, sizeof(k));
	memset(&fs, 0, sizeof(fs));
	for (int i = 0; i < MAX_FD; i++)
		fs.size[i] = 100 << 20; /* 100 MiB: nothing ends at EOF */
	return 0;
}

static void init_dests(struct dedupe_dest *d, unsigned int n, int first_fd)
{
	for (unsigned int i = 0; i < n; i++) {
		d[i] = (struct dedupe_dest){
			.fd = first_fd + (int)i,
			.offset = (uint64_t)i * BLK,
			.status = 12345,
			.bytes = 777,
		};
	}
}

static void aligned_length_passes_through(void **state)
{
	(void)state;
	assert_int_equal(dedupe_range(3, 8192, 3 * BLK, 4, 4 * BLK, BLK),
			 3 * BLK);
	assert_int_equal(k.calls, 1);
	assert_int_equal(k.fd, 3);
	assert_true(k.request == FIDEDUPERANGE);
	assert_int_equal(k.src_offset, 8192);
	assert_int_equal(k.src_length, 3 * BLK);
	assert_int_equal(k.dest_count, 1);
	assert_int_equal(k.dest_fd[0], 4);
	assert_int_equal(k.dest_offset[0], 4 * BLK);
	/* An aligned length needs no EOF check. */
	assert_int_equal(fs.calls, 0);
}

static void unaligned_mid_file_rounds_down(void **state)
{
	struct dedupe_dest d[1];

	(void)state;
	init_dests(d, 1, 4);
	assert_int_equal(dedupe_submit(3, 0, 2 * BLK + 100, d, 1, BLK),
			 2 * BLK);
	assert_int_equal(k.src_length, 2 * BLK);
	assert_int_equal(d[0].status, 0);
	assert_int_equal(d[0].bytes, 2 * BLK);
}

static void tail_kept_when_all_at_eof(void **state)
{
	struct dedupe_dest d[3];

	(void)state;
	init_dests(d, 3, 4);
	fs.size[3] = BLK + 2 * BLK + 100; /* src_off BLK */
	fs.size[4] = 0 * BLK + 2 * BLK + 100;
	fs.size[5] = 1 * BLK + 2 * BLK + 100;
	fs.size[6] = 2 * BLK + 2 * BLK + 100;
	assert_int_equal(dedupe_submit(3, BLK, 2 * BLK + 100, d, 3, BLK),
			 2 * BLK + 100);
	assert_int_equal(k.calls, 1);
	assert_int_equal(k.src_length, 2 * BLK + 100);
	assert_int_equal(fs.calls, 4);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(d[i].status, 0);
		assert_int_equal(d[i].bytes, 2 * BLK + 100);
	}
}

static void tail_dropped_when_one_dest_not_at_eof(void **state)
{
	struct dedupe_dest d[3];

	(void)state;
	init_dests(d, 3, 4);
	fs.size[3] = 2 * BLK + 100;
	fs.size[4] = 0 * BLK + 2 * BLK + 100;
	fs.size[5] = 1 * BLK + 2 * BLK + 101; /* one byte longer */
	fs.size[6] = 2 * BLK + 2 * BLK + 100;
	assert_int_equal(dedupe_submit(3, 0, 2 * BLK + 100, d, 3, BLK),
			 2 * BLK);
	assert_int_equal(k.src_length, 2 * BLK);
	for (int i = 0; i < 3; i++)
		assert_int_equal(d[i].bytes, 2 * BLK);
}

static void tail_dropped_when_src_not_at_eof(void **state)
{
	(void)state;
	fs.size[3] = 2 * BLK + 200;
	fs.size[4] = 2 * BLK + 100;
	assert_int_equal(dedupe_range(3, 0, 2 * BLK + 100, 4, 0, BLK), 2 * BLK);
	assert_int_equal(k.src_length, 2 * BLK);
}

static void range_past_eof_is_not_at_eof(void **state)
{
	(void)state;
	fs.size[3] = 2 * BLK + 50;
	fs.size[4] = 2 * BLK + 50;
	assert_int_equal(dedupe_range(3, 0, 2 * BLK + 100, 4, 0, BLK), 2 * BLK);
}

static void less_than_a_block_submits_nothing(void **state)
{
	struct dedupe_dest d[2];

	(void)state;
	init_dests(d, 2, 4);
	assert_int_equal(dedupe_submit(3, 0, BLK - 1, d, 2, BLK), 0);
	assert_int_equal(k.calls, 0);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(d[i].status, 0);
		assert_int_equal(d[i].bytes, 0);
	}
	assert_int_equal(dedupe_range(3, 0, 0, 4, 0, BLK), 0);
	assert_int_equal(k.calls, 0);
}

static void small_file_tail_at_eof_is_submitted(void **state)
{
	(void)state;
	fs.size[3] = 100;
	fs.size[4] = 100;
	assert_int_equal(dedupe_range(3, 0, 100, 4, 0, BLK), 100);
	assert_int_equal(k.calls, 1);
	assert_int_equal(k.src_length, 100);
}

static void clipped_at_1gib(void **state)
{
	(void)state;
	assert_int_equal(dedupe_range(3, 0, 3ULL << 30, 4, 0, BLK),
			 DEDUPE_MAX_LEN);
	assert_int_equal(k.src_length, DEDUPE_MAX_LEN);
}

static void clipped_range_never_ends_at_eof(void **state)
{
	(void)state;
	/* The whole 1 GiB + 100 would end at EOF, the clipped range does not */
	fs.size[3] = DEDUPE_MAX_LEN + 100;
	fs.size[4] = DEDUPE_MAX_LEN + 100;
	assert_int_equal(dedupe_range(3, 0, DEDUPE_MAX_LEN + 100, 4, 0, BLK),
			 DEDUPE_MAX_LEN);
	assert_int_equal(k.src_length, DEDUPE_MAX_LEN);
	assert_int_equal(fs.calls, 0);

	/*
	 * A block size over 1 GiB leaves nothing of a clipped range, even
	 * where the clipped length happens to meet EOF.
	 */
	fs.size[3] = DEDUPE_MAX_LEN;
	fs.size[4] = DEDUPE_MAX_LEN;
	assert_int_equal(dedupe_range(3, 0, 3ULL << 30, 4, 0, 1u << 31), 0);
	assert_int_equal(k.calls, 1);
	assert_int_equal(fs.calls, 0);
}

static void max_dests_accepted(void **state)
{
	struct dedupe_dest d[DEDUPE_MAX_DESTS];

	(void)state;
	init_dests(d, DEDUPE_MAX_DESTS, 10);
	assert_int_equal(dedupe_submit(3, 0, BLK, d, DEDUPE_MAX_DESTS, BLK),
			 BLK);
	assert_int_equal(k.dest_count, DEDUPE_MAX_DESTS);
	for (unsigned int i = 0; i < DEDUPE_MAX_DESTS; i++) {
		assert_int_equal(k.dest_fd[i], 10 + i);
		assert_int_equal(k.dest_offset[i], i * BLK);
		assert_int_equal(d[i].status, 0);
		assert_int_equal(d[i].bytes, BLK);
	}
}

static void too_many_dests_rejected(void **state)
{
	struct dedupe_dest d[DEDUPE_MAX_DESTS + 1];

	(void)state;
	init_dests(d, DEDUPE_MAX_DESTS + 1, 10);
	assert_int_equal(dedupe_submit(3, 0, BLK, d, DEDUPE_MAX_DESTS + 1, BLK),
			 -EINVAL);
	assert_int_equal(k.calls, 0);
	assert_int_equal(d[0].status, -EINVAL);
	assert_int_equal(d[DEDUPE_MAX_DESTS].status, -EINVAL);
	assert_int_equal(d[DEDUPE_MAX_DESTS].bytes, 0);

	assert_int_equal(dedupe_submit(3, 0, BLK, d, 0, BLK), -EINVAL);
	assert_int_equal(dedupe_submit(3, 0, BLK, NULL, 1, BLK), -EINVAL);
	assert_int_equal(k.calls, 0);
}

static void bad_arguments_rejected(void **state)
{
	(void)state;
	assert_int_equal(dedupe_range(3, 0, BLK, 4, 0, 0), -EINVAL);
	assert_int_equal(dedupe_range(3, 0, BLK, 4, 0, 3000), -EINVAL);
	assert_int_equal(dedupe_range(3, 512, BLK, 4, 0, BLK), -EINVAL);
	assert_int_equal(dedupe_range(3, 0, BLK, 4, 512, BLK), -EINVAL);
	assert_int_equal(dedupe_range(3, (uint64_t)INT64_MAX & ~0xfffULL,
				      2 * BLK, 4, 0, BLK),
			 -EINVAL);
	assert_int_equal(k.calls, 0);
	/* 512-byte blocks are fine with 512-aligned offsets. */
	assert_int_equal(dedupe_range(3, 512, 1024, 4, 1536, 512), 1024);
	assert_int_equal(k.calls, 1);
}

static void differs_maps_to_ebade(void **state)
{
	(void)state;
	k.status[0] = FILE_DEDUPE_RANGE_DIFFERS;
	assert_int_equal(dedupe_range(3, 0, BLK, 4, 0, BLK), -EBADE);
}

static void statuses_per_dest(void **state)
{
	struct dedupe_dest d[4];

	(void)state;
	init_dests(d, 4, 4);
	k.status[0] = FILE_DEDUPE_RANGE_SAME;
	k.status[1] = FILE_DEDUPE_RANGE_DIFFERS;
	k.status[2] = -EAGAIN; /* btrfs root being sent */
	k.status[3] = -EPERM;
	assert_int_equal(dedupe_submit(3, 0, 2 * BLK, d, 4, BLK), 2 * BLK);
	assert_int_equal(d[0].status, 0);
	assert_int_equal(d[0].bytes, 2 * BLK);
	assert_int_equal(d[1].status, -EBADE);
	assert_int_equal(d[1].bytes, 0);
	assert_int_equal(d[2].status, -EAGAIN);
	assert_int_equal(d[2].bytes, 0);
	assert_int_equal(d[3].status, -EPERM);
	assert_int_equal(d[3].bytes, 0);
}

static void bytes_clipped_to_submitted_length(void **state)
{
	(void)state;
	/* Asked for 2 blocks + 100 mid-file: the wrapper submits 2 blocks. */
	k.bytes_set[0] = 1;
	k.bytes[0] = 2 * BLK + 100;
	assert_int_equal(dedupe_range(3, 0, 2 * BLK + 100, 4, 0, BLK), 2 * BLK);
	k.bytes[0] = 1ULL << 40;
	assert_int_equal(dedupe_range(3, 0, BLK, 4, 0, BLK), BLK);
	/* Less than submitted is believed. */
	k.bytes[0] = BLK;
	assert_int_equal(dedupe_range(3, 0, 4 * BLK, 4, 0, BLK), BLK);
}

static void ioctl_failure_reaches_every_dest(void **state)
{
	struct dedupe_dest d[5];

	(void)state;
	init_dests(d, 5, 4);
	k.fail_errno = EXDEV;
	assert_int_equal(dedupe_submit(3, 0, BLK, d, 5, BLK), -EXDEV);
	assert_int_equal(k.calls, 1);
	for (int i = 0; i < 5; i++) {
		assert_int_equal(d[i].status, -EXDEV);
		assert_int_equal(d[i].bytes, 0);
	}
	k.fail_errno = EOPNOTSUPP;
	assert_int_equal(dedupe_range(3, 0, BLK, 4, 0, BLK), -EOPNOTSUPP);
}

static void fstat_failure_propagates(void **state)
{
	struct dedupe_dest d[2];

	(void)state;
	init_dests(d, 2, 4);
	fs.size[3] = 2 * BLK + 100;
	fs.size[4] = 2 * BLK + 100;
	fs.size[5] = -1;
	assert_int_equal(dedupe_submit(3, 0, 2 * BLK + 100, d, 2, BLK), -EBADF);
	assert_int_equal(k.calls, 0);
	assert_int_equal(d[0].status, -EBADF);
	assert_int_equal(d[1].status, -EBADF);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(aligned_length_passes_through, reset),
		cmocka_unit_test_setup(unaligned_mid_file_rounds_down, reset),
		cmocka_unit_test_setup(tail_kept_when_all_at_eof, reset),
		cmocka_unit_test_setup(tail_dropped_when_one_dest_not_at_eof,
				       reset),
		cmocka_unit_test_setup(tail_dropped_when_src_not_at_eof, reset),
		cmocka_unit_test_setup(range_past_eof_is_not_at_eof, reset),
		cmocka_unit_test_setup(less_than_a_block_submits_nothing,
				       reset),
		cmocka_unit_test_setup(small_file_tail_at_eof_is_submitted,
				       reset),
		cmocka_unit_test_setup(clipped_at_1gib, reset),
		cmocka_unit_test_setup(clipped_range_never_ends_at_eof, reset),
		cmocka_unit_test_setup(max_dests_accepted, reset),
		cmocka_unit_test_setup(too_many_dests_rejected, reset),
		cmocka_unit_test_setup(bad_arguments_rejected, reset),
		cmocka_unit_test_setup(differs_maps_to_ebade, reset),
		cmocka_unit_test_setup(statuses_per_dest, reset),
		cmocka_unit_test_setup(bytes_clipped_to_submitted_length,
				       reset),
		cmocka_unit_test_setup(ioctl_failure_reaches_every_dest, reset),
		cmocka_unit_test_setup(fstat_failure_propagates, reset),
	};

	return cmocka_run_group_tests_name("dedupe", tests, NULL, NULL);
}
