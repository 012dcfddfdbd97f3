// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Unit tests for daemon/common/log.c: a file name cannot split a log line, nor
 * forge one (its newlines, control characters and backslashes are escaped).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "daemon/common/log.h"

static char got[8192];
static int lines;

static void sink(int level, const char *line, void *arg)
{
	(void)level;
	(void)arg;
	snprintf(got, sizeof(got), "%s", line);
	lines++;
}

static void escapes_control_characters(void **state)
{
	char out[64];

	(void)state;
	assert_string_equal(log_escape(out, sizeof(out), "a\nb\tc\rd"),
			    "a\\nb\\tc\\rd");
	assert_string_equal(log_escape(out, sizeof(out), "back\\slash"),
			    "back\\\\slash");
	assert_string_equal(log_escape(out, sizeof(out), "\x1b[2J\x7f"),
			    "\\x1b[2J\\x7f");
	/* UTF-8 is left as it is */
	assert_string_equal(log_escape(out, sizeof(out), "caf\xc3\xa9"),
			    "caf\xc3\xa9");
}

static void cut_at_a_whole_escape(void **state)
{
	char out[5];

	(void)state;
	assert_string_equal(log_escape(out, sizeof(out), "abc\ndef"),
			    "abc");
	assert_string_equal(log_escape(out, sizeof(out), "ab\x01"), "ab");
}

static void a_name_with_a_newline_stays_one_line(void **state)
{
	(void)state;
	log_sink = sink;
	log_level = LOG_LVL_INFO;
	lines = 0;
	log_info("cannot read '%s', skipping",
		 "dir/evil\ndedupd: error: forged");
	assert_int_equal(lines, 1);
	assert_null(strchr(got, '\n'));
	assert_string_equal(got, "cannot read 'dir/evil\\ndedupd: error: forged', skipping");
	log_sink = NULL;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(escapes_control_characters),
		cmocka_unit_test(cut_at_a_whole_escape),
		cmocka_unit_test(a_name_with_a_newline_stays_one_line),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
