// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * ext4_move_extent() against a fake EXT4_IOC_MOVE_EXT. Wraps: ioctl.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/types.h>

#include <cmocka.h>

#include "ioctl-compat/ext4.h"

int __wrap_ioctl(int fd, unsigned long request, ...);

/* fs/ext4/ext4.h, as the kernel defines it. */
struct move_extent {
	__u32 reserved;
	__u32 donor_fd;
	__u64 orig_start;
	__u64 donor_start;
	__u64 len;
	__u64 moved_len;
};

#define EXT4_IOC_MOVE_EXT _IOWR('f', 15, struct move_extent)

static struct {
	int calls;
	int fd;
	unsigned long request;
	struct move_extent in; /* as passed */
	uint64_t moved; /* answered */
	int err; /* non-zero: fail with it, still setting moved_len */
} k;

int __wrap_ioctl(int fd, unsigned long request, ...)
{
	struct move_extent *me;
	va_list ap;

	va_start(ap, request);
	me = va_arg(ap, struct move_extent *);
	va_end(ap);

	k.calls++;
	k.fd = fd;
	k.request = request;
	if (request != EXT4_IOC_MOVE_EXT) {
		errno = ENOTTY;
		return -1;
	}
	k.in = *me;
	/* Like ext4_ioctl(): moved_len is copied back on error too. */
	me->moved_len = k.moved;
	if (k.err) {
		errno = k.err;
		return -1;
	}
	return 0;
}

static int reset(void **state)
{
	(void)state;
	memset(&k, 0, sizeof(k));
	return 0;
}

static void arguments_passed_and_moved_returned(void **state)
{
	uint64_t moved = 0;

	(void)state;
	k.moved = 512;
	assert_int_equal(ext4_move_extent(3, 4, 10, 20, 512, &moved), 0);
	assert_int_equal(moved, 512);
	assert_int_equal(k.calls, 1);
	assert_int_equal(k.fd, 3);
	assert_true(k.request == 0xc028660fUL); /* _IOWR('f', 15, 40 bytes) */
	assert_int_equal(k.in.reserved, 0);
	assert_int_equal(k.in.donor_fd, 4);
	assert_int_equal(k.in.orig_start, 10);
	assert_int_equal(k.in.donor_start, 20);
	assert_int_equal(k.in.len, 512);
	assert_int_equal(k.in.moved_len, 0);

	/* Fewer than asked: holes, or clipped at the end of a file. */
	k.moved = 7;
	assert_int_equal(ext4_move_extent(3, 4, 0, 0, UINT64_MAX, &moved), 0);
	assert_int_equal(moved, 7);
	assert_int_equal(k.in.len, UINT64_MAX);
}

static void errors_leave_moved_untouched(void **state)
{
	static const int errs[] = { EBADF, EINVAL, EBUSY, ENODATA, EOPNOTSUPP,
				    ENOTTY };
	uint64_t moved = 99;

	(void)state;
	for (unsigned int i = 0; i < sizeof(errs) / sizeof(errs[0]); i++) {
		k.err = errs[i];
		k.moved = 2000; /* a partial move before the error */
		assert_int_equal(ext4_move_extent(3, 4, 0, 0, 4096, &moved),
				 -errs[i]);
		assert_int_equal(moved, 99);
	}
}

static void bad_arguments(void **state)
{
	uint64_t moved = 99;

	(void)state;
	assert_int_equal(ext4_move_extent(-1, 4, 0, 0, 1, &moved), -EBADF);
	assert_int_equal(ext4_move_extent(3, -1, 0, 0, 1, &moved), -EBADF);
	assert_int_equal(ext4_move_extent(3, 4, 0, 0, 1, NULL), -EINVAL);
	assert_int_equal(k.calls, 0);
	assert_int_equal(moved, 99);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(arguments_passed_and_moved_returned,
				       reset),
		cmocka_unit_test_setup(errors_leave_moved_untouched, reset),
		cmocka_unit_test_setup(bad_arguments, reset),
	};

	return cmocka_run_group_tests_name("ext4", tests, NULL, NULL);
}
