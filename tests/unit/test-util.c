// SPDX-License-Identifier: GPL-2.0-or-later
/* Unit tests for daemon/common/util.c. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "daemon/common/util.h"

static void sizes_parse(void **state)
{
	uint64_t v = 0;

	(void)state;
	assert_int_equal(parse_size("4096", &v), 0);
	assert_int_equal(v, 4096);
	assert_int_equal(parse_size("64K", &v), 0);
	assert_int_equal(v, 65536);
	assert_int_equal(parse_size("16M", &v), 0);
	assert_int_equal(v, 16ULL << 20);
	assert_int_equal(parse_size("1g", &v), 0);
	assert_int_equal(v, 1ULL << 30);
	assert_int_equal(parse_size("2TiB", &v), 0);
	assert_int_equal(v, 2ULL << 40);
	assert_int_equal(parse_size("3MB", &v), 0);
	assert_int_equal(v, 3ULL << 20);
}

static void bad_sizes_are_refused(void **state)
{
	uint64_t v = 77;

	(void)state;
	assert_int_equal(parse_size("", &v), -EINVAL);
	assert_int_equal(parse_size("-1", &v), -EINVAL);
	assert_int_equal(parse_size("12Q", &v), -EINVAL);
	assert_int_equal(parse_size("1Mx", &v), -EINVAL);
	assert_int_equal(parse_size("M", &v), -EINVAL);
	assert_int_equal(parse_size(NULL, &v), -EINVAL);
	assert_int_equal(parse_size("99999999999999999999", &v), -ERANGE);
	assert_int_equal(parse_size("17000000T", &v), -ERANGE);
	assert_int_equal(v, 77);	/* untouched on failure */
}

static void bytes_format(void **state)
{
	char buf[32];

	(void)state;
	assert_string_equal(fmt_bytes(0, buf, sizeof(buf)), "0 B");
	assert_string_equal(fmt_bytes(1023, buf, sizeof(buf)), "1023 B");
	assert_string_equal(fmt_bytes(1536, buf, sizeof(buf)), "1.5 KiB");
	assert_string_equal(fmt_bytes(3ULL << 30, buf, sizeof(buf)),
			    "3.0 GiB");
}

static void arrays_grow(void **state)
{
	size_t cap = 0;
	int *a = NULL;

	(void)state;
	a = grow_array(a, &cap, 1, sizeof(*a));
	assert_true(cap >= 1);
	a = grow_array(a, &cap, 1000, sizeof(*a));
	assert_true(cap >= 1000);
	a[999] = 5;
	assert_int_equal(a[999], 5);
	free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(sizes_parse),
		cmocka_unit_test(bad_sizes_are_refused),
		cmocka_unit_test(bytes_format),
		cmocka_unit_test(arrays_grow),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
