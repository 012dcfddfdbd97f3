// SPDX-License-Identifier: GPL-2.0-or-later
/* Unit tests for daemon/common/djson.c. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "daemon/common/djson.h"

/* The escaped form of @s (NUL-terminated), as djson_bytes() holds it. */
static void assert_escapes_to(const char *s, const char *want)
{
	json_t *v = djson_string(s);

	assert_non_null(v);
	assert_string_equal(json_string_value(v), want);
	json_decref(v);
}

/* The one-line JSON text of an object holding @s as "p". */
static void assert_dumps_to(const char *s, const char *want)
{
	struct djson_field f[] = { DJSON_STR("p", s) };
	json_t *obj = djson_object(f, DJSON_NFIELDS(f));
	char *line;

	assert_non_null(obj);
	line = djson_dump_line(obj);
	assert_non_null(line);
	assert_string_equal(line, want);
	free(line);
	json_decref(obj);
}

static void valid_utf8_is_kept(void **state)
{
	(void)state;
	assert_escapes_to("", "");
	assert_escapes_to("/mnt/plain", "/mnt/plain");
	assert_escapes_to("/mnt/caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
			  "/mnt/caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
	/* the largest code point, and the last before the surrogates */
	assert_escapes_to("\xf4\x8f\xbf\xbf\xed\x9f\xbf",
			  "\xf4\x8f\xbf\xbf\xed\x9f\xbf");
	assert_dumps_to("/mnt/caf\xc3\xa9",
			"{\"p\":\"/mnt/caf\xc3\xa9\"}\n");
}

static void quotes_backslashes_controls_are_escaped(void **state)
{
	(void)state;
	/* kept as they are in the value: jansson escapes them in the text */
	assert_escapes_to("a\"b\\c\nd\te\x01\x1f\x7f",
			  "a\"b\\c\nd\te\x01\x1f\x7f");
	assert_dumps_to("a\"b\\c\nd\te\x01\x1f\x7f",
			"{\"p\":\"a\\\"b\\\\c\\nd\\te\\u0001\\u001F\x7f\"}\n");
	/* slashes stay slashes: "mount":"/mnt/x" is what scripts look for */
	assert_dumps_to("/mnt/x", "{\"p\":\"/mnt/x\"}\n");
}

static void invalid_bytes_become_backslash_x(void **state)
{
	(void)state;
	assert_escapes_to("\xff", "\\xff");
	assert_escapes_to("/mnt/a\x80z", "/mnt/a\\x80z");
	/* a sequence cut short: each of its bytes */
	assert_escapes_to("a\xe2\x82", "a\\xe2\\x82");
	assert_escapes_to("\xe2\x82\xe2\x82\xac", "\\xe2\\x82\xe2\x82\xac");
	assert_escapes_to("\xf0\x9f\x98z", "\\xf0\\x9f\\x98z");
	/* overlong forms */
	assert_escapes_to("\xc0\xaf", "\\xc0\\xaf");
	assert_escapes_to("\xc1\xbf", "\\xc1\\xbf");
	assert_escapes_to("\xe0\x80\xaf", "\\xe0\\x80\\xaf");
	assert_escapes_to("\xf0\x80\x80\xaf", "\\xf0\\x80\\x80\\xaf");
	/* a surrogate (U+D800), and a code point above U+10FFFF */
	assert_escapes_to("\xed\xa0\x80", "\\xed\\xa0\\x80");
	assert_escapes_to("\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80");
	assert_escapes_to("\xf5\x80\x80\x80", "\\xf5\\x80\\x80\\x80");
	/* a backslash beside an escaped byte stays one backslash */
	assert_dumps_to("q\"\\\xfe", "{\"p\":\"q\\\"\\\\\\\\xfe\"}\n");
}

static void embedded_nul_is_escaped(void **state)
{
	json_t *v;
	char *line;

	(void)state;
	v = djson_bytes("a\0b\xff", 4);
	assert_non_null(v);
	assert_int_equal(json_string_length(v), 7);
	assert_memory_equal(json_string_value(v), "a\0b\\xff", 7);
	line = djson_dump_line(v);
	assert_string_equal(line, "\"a\\u0000b\\\\xff\"\n");
	free(line);
	json_decref(v);
}

static void escape_sizes(void **state)
{
	char buf[8];

	(void)state;
	assert_int_equal(djson_escape_bytes(NULL, 0, "\xff\xfe", 2), 8);
	assert_int_equal(djson_escape_bytes(buf, sizeof(buf), "ab\xff", 3), 6);
	assert_string_equal(buf, "ab\\xff");
	/* too small: cut short, NUL-terminated, the full length returned */
	memset(buf, 'Z', sizeof(buf));
	assert_int_equal(djson_escape_bytes(buf, 4, "abcdef", 6), 6);
	assert_string_equal(buf, "abc");
	memset(buf, 'Z', sizeof(buf));
	assert_int_equal(djson_escape_bytes(buf, 4, "a\xff", 2), 5);
	assert_string_equal(buf, "a");
	assert_int_equal(djson_escape_bytes(buf, sizeof(buf), "", 0), 0);
	assert_string_equal(buf, "");
}

/* Random bytes: always valid JSON, and read back to the escaped form. */
static void random_bytes_round_trip(void **state)
{
	unsigned int seed = 12345;
	char in[64], want[4 * sizeof(in) + 1];
	int round;

	(void)state;
	for (round = 0; round < 20000; round++) {
		size_t len = (size_t)rand_r(&seed) % sizeof(in), i, n;
		struct djson_field f[1] = { DJSON_STR("p", in) };
		json_t *obj, *back;
		char *line;

		for (i = 0; i < len; i++) {
			in[i] = (char)(rand_r(&seed) & 0xff);
			if (!in[i])
				in[i] = (char)0xc3;	/* half of a pair */
		}
		in[len] = '\0';
		n = djson_escape_bytes(want, sizeof(want), in, len);
		assert_true(n <= 4 * len);
		obj = djson_object(f, 1);
		assert_non_null(obj);
		line = djson_dump_line(obj);
		assert_non_null(line);
		back = djson_parse_object(line);
		assert_non_null(back);
		assert_string_equal(
			json_string_value(json_object_get(back, "p")), want);
		json_decref(back);
		free(line);
		json_decref(obj);
	}
}

static void objects_keep_order_and_types(void **state)
{
	json_t *arr = json_array(), *obj;
	char *line;

	(void)state;
	assert_int_equal(json_array_append_new(arr, json_integer(7)), 0);
	{
		struct djson_field f[] = {
			DJSON_STR("filesystem", "btrfs"),
			DJSON_BOOL("dry_run", false),
			DJSON_BOOL("idle", true),
			DJSON_U64("files_seen", 3),
			DJSON_U64("huge", UINT64_MAX),
			DJSON_I64("bytes_freed", -4096),
			DJSON_REAL("seconds", 1.23456, 3),
			DJSON_REAL("uptime", 80.94, 1),
			DJSON_REAL("whole", 5.0, 3),
			DJSON_REAL("last_checkpoint", -1, 1),
			DJSON_STR("none", NULL),
			DJSON_VALUE("filesystems", arr),
		};

		obj = djson_object(f, DJSON_NFIELDS(f));
	}
	assert_non_null(obj);
	line = djson_dump_line(obj);
	assert_string_equal(line,
		"{\"filesystem\":\"btrfs\",\"dry_run\":false,\"idle\":true,"
		"\"files_seen\":3,\"huge\":9223372036854775807,"
		"\"bytes_freed\":-4096,\"seconds\":1.235,\"uptime\":80.9,"
		"\"whole\":5.0,\"last_checkpoint\":-1.0,\"none\":null,"
		"\"filesystems\":[7]}\n");
	free(line);
	json_decref(obj);
}

static void failed_objects_drop_their_values(void **state)
{
	json_t *a = json_array(), *b = json_array();
	struct djson_field f[] = {
		DJSON_VALUE("a", a),
		DJSON_REAL("bad", NAN, 3),
		DJSON_VALUE("b", b),
	};
	struct djson_field g[] = {
		DJSON_U64("n", 1),
		DJSON_VALUE("missing", NULL),
	};

	(void)state;
	/* LeakSanitizer (make check-asan) sees a or b kept */
	assert_null(djson_object(f, DJSON_NFIELDS(f)));
	assert_null(djson_object(g, DJSON_NFIELDS(g)));
	assert_null(djson_dump_line(NULL));
}

static void print_writes_one_line(void **state)
{
	struct djson_field f[] = { DJSON_STR("served_by", "daemon"),
				   DJSON_BOOL("queued", true) };
	json_t *obj = djson_object(f, DJSON_NFIELDS(f));
	char *text = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&text, &len);

	(void)state;
	assert_non_null(m);
	assert_int_equal(djson_print(m, obj), 0);
	assert_int_equal(djson_print(m, NULL), -EINVAL);
	assert_int_equal(fclose(m), 0);
	assert_string_equal(text,
			    "{\"served_by\":\"daemon\",\"queued\":true}\n");
	free(text);
	json_decref(obj);
}

static void parse_takes_objects_only(void **state)
{
	json_t *v;

	(void)state;
	v = djson_parse_object("{\"pid\":12,\"uptime\":1.5,\"state\":\"idle\","
			       "\"mount\":\"/a\\\"b\\\\c\\nd\"}\n");
	assert_non_null(v);
	assert_int_equal(json_integer_value(json_object_get(v, "pid")), 12);
	assert_true(json_number_value(json_object_get(v, "uptime")) == 1.5);
	assert_string_equal(json_string_value(json_object_get(v, "state")),
			    "idle");
	assert_string_equal(json_string_value(json_object_get(v, "mount")),
			    "/a\"b\\c\nd");
	/* absent keys read as 0 and NULL */
	assert_int_equal(json_integer_value(json_object_get(v, "nope")), 0);
	assert_null(json_string_value(json_object_get(v, "nope")));
	json_decref(v);

	assert_null(djson_parse_object(NULL));
	assert_null(djson_parse_object(""));
	assert_null(djson_parse_object("[1,2]"));
	assert_null(djson_parse_object("7"));
	assert_null(djson_parse_object("error: unknown request\n"));
	assert_null(djson_parse_object("{\"a\":1} trailing"));
	assert_null(djson_parse_object("{\"a\":1"));
	/* jansson reads strict UTF-8 only */
	assert_null(djson_parse_object("{\"a\":\"\xff\"}"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(valid_utf8_is_kept),
		cmocka_unit_test(quotes_backslashes_controls_are_escaped),
		cmocka_unit_test(invalid_bytes_become_backslash_x),
		cmocka_unit_test(embedded_nul_is_escaped),
		cmocka_unit_test(escape_sizes),
		cmocka_unit_test(random_bytes_round_trip),
		cmocka_unit_test(objects_keep_order_and_types),
		cmocka_unit_test(failed_objects_drop_their_values),
		cmocka_unit_test(print_writes_one_line),
		cmocka_unit_test(parse_takes_objects_only),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
