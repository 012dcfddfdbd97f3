// SPDX-License-Identifier: GPL-2.0-or-later
/* Unit tests for daemon/protocol.c: the control socket's text. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "daemon/common/protocol.h"

static void request_kinds(void **state)
{
	(void)state;
	assert_int_equal(proto_request_kind("ping\n"), PROTO_PING);
	assert_int_equal(proto_request_kind("ping"), PROTO_PING);
	assert_int_equal(proto_request_kind("status\r\n"), PROTO_STATUS);
	assert_int_equal(proto_request_kind("checkpoint\nx"), PROTO_CHECKPOINT);
	assert_int_equal(proto_request_kind("scan\npath /a\n"), PROTO_SCAN);
	/* A scan needs its newline; prefixes and longer words are not it. */
	assert_int_equal(proto_request_kind("scan"), PROTO_UNKNOWN);
	assert_int_equal(proto_request_kind("pin"), PROTO_UNKNOWN);
	assert_int_equal(proto_request_kind("pings"), PROTO_UNKNOWN);
	assert_int_equal(proto_request_kind(""), PROTO_UNKNOWN);
	assert_int_equal(proto_request_kind(NULL), PROTO_UNKNOWN);
}

static void scan_lines(void **state)
{
	char buf[] = "scan\ndry-run\njson\nno-wait\nmin-size 4096\n"
		     "exclude *.tmp\npath /srv/a\n\npath /srv/b c\n";
	struct proto_scan s;

	(void)state;
	assert_int_equal(proto_scan_parse(buf, &s), 0);
	assert_true(s.dry_run && s.json && s.no_wait);
	assert_int_equal(s.min_size, 4096);
	assert_int_equal(s.nexcludes, 1);
	assert_string_equal(s.excludes[0], "*.tmp");
	assert_int_equal(s.npaths, 2);
	assert_string_equal(s.paths[0], "/srv/a");
	assert_string_equal(s.paths[1], "/srv/b c");
	proto_scan_free(&s);
	assert_null(s.paths);
	proto_scan_free(NULL);
}

static void scan_defaults_and_errors(void **state)
{
	char plain[] = "scan\n", zero[] = "scan\nmin-size 0\n";
	char relative[] = "scan\npath a\n", word[] = "scan\nmin-size 4k\n";
	char huge[] = "scan\nmin-size 18446744073709551616\n";
	char empty[] = "scan\nmin-size \n", unknown[] = "scan\nrm -rf\n";
	struct proto_scan s = { .min_size = 7 };

	(void)state;
	assert_int_equal(proto_scan_parse(plain, &s), 0);
	assert_int_equal(s.min_size, 1);
	assert_int_equal(s.npaths, 0);
	proto_scan_free(&s);
	assert_int_equal(proto_scan_parse(zero, &s), 0);
	assert_int_equal(s.min_size, 1);
	proto_scan_free(&s);

	s.min_size = 7;
	assert_int_equal(proto_scan_parse(relative, &s), -EINVAL);
	assert_int_equal(proto_scan_parse(word, &s), -EINVAL);
	assert_int_equal(proto_scan_parse(huge, &s), -EINVAL);
	assert_int_equal(proto_scan_parse(empty, &s), -EINVAL);
	assert_int_equal(proto_scan_parse(unknown, &s), -EINVAL);
	assert_int_equal(s.min_size, 7);	/* untouched */
}

static void scan_answers(void **state)
{
	const char *body = NULL;
	int rc = -1;

	(void)state;
	assert_int_equal(proto_scan_answer("rc 0\nqueued 3\n", &rc, &body), 1);
	assert_int_equal(rc, 0);
	assert_string_equal(body, "queued 3\n");
	assert_int_equal(proto_scan_answer("rc 255", &rc, &body), 1);
	assert_int_equal(rc, 255);
	assert_string_equal(body, "");

	rc = -1;
	assert_int_equal(proto_scan_answer("", &rc, &body), 0);
	assert_int_equal(proto_scan_answer("rc -1\n", &rc, &body), 0);
	assert_int_equal(proto_scan_answer("rc 256\n", &rc, &body), 0);
	assert_int_equal(proto_scan_answer("rc 99999999999999\n", &rc, &body),
			 0);
	assert_int_equal(proto_scan_answer("rc 1x\n", &rc, &body), 0);
	assert_int_equal(proto_scan_answer("pong\n", &rc, &body), 0);
	assert_int_equal(proto_scan_answer(NULL, &rc, &body), 0);
	assert_int_equal(rc, -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(request_kinds),
		cmocka_unit_test(scan_lines),
		cmocka_unit_test(scan_defaults_and_errors),
		cmocka_unit_test(scan_answers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
