// SPDX-License-Identifier: GPL-2.0-or-later
/* Unit tests for daemon/common/config.c on files in a temporary directory. */
#include <errno.h>
#include <getopt.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "daemon/common/config.h"

static char dir[] = "/tmp/dedupd-test-config-XXXXXX";
static char path[600];

/* Writes @len bytes of @text (-1: all of it) to dir/NAME, sets path. */
static void write_conf(const char *name, const char *text, long len)
{
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	if (len < 0)
		len = (long)strlen(text);
	assert_int_equal(fwrite(text, 1, (size_t)len, f), (size_t)len);
	assert_int_equal(fclose(f), 0);
}

/* Loads @text; expects success and returns the words. */
static struct config load_ok(const char *text)
{
	struct config c = { .argc = -1 };
	char err[256] = "";

	write_conf("ok.conf", text, -1);
	assert_int_equal(config_load(path, &c, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	assert_non_null(c.argv);
	assert_null(c.argv[c.argc]);
	return c;
}

/*
 * Loads @len bytes of @text (-1: all of it); expects @ret and
 * "PATH:@line: @what" in the message.
 */
static void load_fails_n(const char *text, long len, int ret,
			 unsigned int line, const char *what)
{
	struct config c = { .argc = 77 };
	char err[256] = "", want[800];

	write_conf("bad.conf", text, len);
	assert_int_equal(config_load(path, &c, err, sizeof(err)), ret);
	assert_int_equal(c.argc, 77);	/* untouched on failure */
	assert_null(c.argv);
	snprintf(want, sizeof(want), "%s:%u: %s", path, line, what);
	assert_string_equal(err, want);
}

static void load_fails(const char *text, int ret, unsigned int line,
		       const char *what)
{
	load_fails_n(text, -1, ret, line, what);
}

static int setup(void **state)
{
	(void)state;
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[600];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd);
}

static void good_file(void **state)
{
	struct config c;

	(void)state;
	c = load_ok("mount = /srv\n"
		    "settle=30\n"
		    "  exclude   =   *.tmp   \n"
		    "exclude = /srv/cache\n"
		    "db-size 4G\n"
		    "verbose\n"
		    "io-class\tidle\r\n"
		    "min-age = 10 = ten\n"
		    "checkpoint");		/* no final newline */
	assert_int_equal(c.argc, 9);
	assert_string_equal(c.argv[0], "--mount=/srv");
	assert_string_equal(c.argv[1], "--settle=30");
	assert_string_equal(c.argv[2], "--exclude=*.tmp");
	assert_string_equal(c.argv[3], "--exclude=/srv/cache");
	assert_string_equal(c.argv[4], "--db-size=4G");
	assert_string_equal(c.argv[5], "--verbose");
	assert_string_equal(c.argv[6], "--io-class=idle");
	assert_string_equal(c.argv[7], "--min-age=10 = ten");
	assert_string_equal(c.argv[8], "--checkpoint");
	assert_int_equal(c.lines[0], 1);
	assert_int_equal(c.lines[8], 9);
	assert_string_equal(c.path, path);
	config_free(&c);
	assert_int_equal(c.argc, 0);
	assert_null(c.argv);
	config_free(&c);	/* twice is harmless */
	config_free(NULL);
}

static void comments_and_blank_lines(void **state)
{
	struct config c;

	(void)state;
	c = load_ok("# dedupd.conf\n"
		    "\n"
		    "   \t\n"
		    "   # indented comment\n"
		    "exclude = a#b\n"		/* '#' inside a value stays */
		    "mount = /x # not a comment\n"
		    "#verbose\n");
	assert_int_equal(c.argc, 2);
	assert_string_equal(c.argv[0], "--exclude=a#b");
	assert_string_equal(c.argv[1], "--mount=/x # not a comment");
	assert_int_equal(c.lines[0], 5);
	assert_int_equal(c.lines[1], 6);
	config_free(&c);

	c = load_ok("");
	assert_int_equal(c.argc, 0);
	assert_null(c.argv[0]);
	config_free(&c);
}

static void quoting_and_escapes(void **state)
{
	struct config c;

	(void)state;
	c = load_ok("mount = \"/srv/with space\"  \n"
		    "exclude \"# hash\"\n"
		    "exclude = \"say \\\"hi\\\" \\\\ back\"\n"
		    "exclude = \"\"\n"
		    "exclude \"\"\n"
		    "exclude = \"  padded  \"\n"
		    "exclude = a\"b\n");	/* not quoted: '"' is kept */
	assert_int_equal(c.argc, 7);
	assert_string_equal(c.argv[0], "--mount=/srv/with space");
	assert_string_equal(c.argv[1], "--exclude=# hash");
	assert_string_equal(c.argv[2], "--exclude=say \"hi\" \\ back");
	assert_string_equal(c.argv[3], "--exclude=");
	assert_string_equal(c.argv[4], "--exclude=");
	assert_string_equal(c.argv[5], "--exclude=  padded  ");
	assert_string_equal(c.argv[6], "--exclude=a\"b");
	config_free(&c);
}

static void bad_names(void **state)
{
	(void)state;
	load_fails("verbose\nFoo=1\n", -EINVAL, 2, "option name expected");
	load_fails("=x\n", -EINVAL, 1, "option name expected");
	load_fails("  = x\n", -EINVAL, 1, "option name expected");
	load_fails("fOo = 1\n", -EINVAL, 1,
		   "invalid character 'O' in option name");
	load_fails("foo_bar\n", -EINVAL, 1,
		   "invalid character '_' in option name");
	load_fails("--mount=/x\n", -EINVAL, 1,
		   "option name expected, without the leading '-'");
	load_fails("mount =\n", -EINVAL, 1,
		   "value expected after '=' (\"\" for an empty one)");
	load_fails_n("a\nb\nmount\0x\n", 12, -EINVAL, 3, "NUL byte in line");
}

static void bad_quotes(void **state)
{
	(void)state;
	load_fails("\n\nmount = \"/srv\n", -EINVAL, 3,
		   "unterminated quoted value");
	load_fails("mount = \"/srv\\\"\n", -EINVAL, 1,
		   "unterminated quoted value");
	load_fails("mount = \"/srv\\n\"\n", -EINVAL, 1,
		   "invalid escape '\\n'");
	load_fails("mount = \"/srv\\", -EINVAL, 1,
		   "unterminated quoted value");
	load_fails("mount = \"/srv\" x\n", -EINVAL, 1,
		   "unexpected text after the closing quote");
}

static void limits(void **state)
{
	char *text = malloc(CONFIG_MAX_FILE + 2);
	struct config c, big = { .argc = 77 };
	char err[256], want[700];
	size_t n;

	(void)state;
	assert_non_null(text);

	/* a line of exactly CONFIG_MAX_LINE bytes is fine, one more is not */
	n = (size_t)snprintf(text, 16, "exclude = ");
	memset(text + n, 'x', CONFIG_MAX_LINE - n);
	text[CONFIG_MAX_LINE] = '\n';
	text[CONFIG_MAX_LINE + 1] = '\0';
	c = load_ok(text);
	assert_int_equal(c.argc, 1);
	/* "exclude = " became "--exclude=": as long */
	assert_int_equal(strlen(c.argv[0]), CONFIG_MAX_LINE);
	config_free(&c);
	text[CONFIG_MAX_LINE] = 'x';
	text[CONFIG_MAX_LINE + 1] = '\n';
	text[CONFIG_MAX_LINE + 2] = '\0';
	load_fails(text, -EFBIG, 1, "line longer than 4096 bytes");

	/* CONFIG_MAX_OPTIONS options, then one more */
	n = 0;
	for (int i = 0; i < CONFIG_MAX_OPTIONS; i++)
		n += (size_t)sprintf(text + n, "verbose\n");
	c = load_ok(text);
	assert_int_equal(c.argc, CONFIG_MAX_OPTIONS);
	config_free(&c);
	sprintf(text + n, "# fine\n\nverbose\n");
	load_fails(text, -EFBIG, CONFIG_MAX_OPTIONS + 3,
		   "more than 1000 options");

	/* a file of comments over 1 MiB */
	memset(text, '\n', CONFIG_MAX_FILE + 1);
	text[0] = '#';
	write_conf("big.conf", text, CONFIG_MAX_FILE + 1);
	assert_int_equal(config_load(path, &big, err, sizeof(err)), -EFBIG);
	assert_int_equal(big.argc, 77);
	snprintf(want, sizeof(want), "%s: larger than %d bytes", path,
		 CONFIG_MAX_FILE);
	assert_string_equal(err, want);
	write_conf("big.conf", text, CONFIG_MAX_FILE);	/* just fits */
	assert_int_equal(config_load(path, &big, err, sizeof(err)), 0);
	assert_int_equal(big.argc, 0);
	config_free(&big);
	free(text);
}

static void missing_file_and_directory(void **state)
{
	struct config c = { .argc = 77 };
	char err[256], want[700];

	(void)state;
	snprintf(path, sizeof(path), "%s/nonexistent.conf", dir);
	assert_int_equal(config_load(path, &c, err, sizeof(err)), -ENOENT);
	assert_int_equal(c.argc, 77);
	snprintf(want, sizeof(want), "%s: %s", path, strerror(ENOENT));
	assert_string_equal(err, want);
	assert_int_equal(config_load(path, &c, NULL, 0), -ENOENT);
	assert_int_equal(config_load(dir, &c, err, sizeof(err)), -EISDIR);
	assert_int_equal(c.argc, 77);
}

static void short_message_buffer(void **state)
{
	struct config c = { .argc = 77 };
	char err[8];

	(void)state;
	write_conf("bad.conf", "Foo\n", -1);
	assert_int_equal(config_load(path, &c, err, sizeof(err)), -EINVAL);
	assert_int_equal(strlen(err), sizeof(err) - 1);	/* truncated */
}

static void check_against_options(void **state)
{
	static const struct option longopts[] = {
		{ "mount", required_argument, NULL, 'm' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "io-class", optional_argument, NULL, 'i' },
		{ NULL, 0, NULL, 0 },
	};
	struct config c;
	char err[256] = "", want[700];

	(void)state;
	c = load_ok("mount = /a\nverbose\nio-class\nio-class = idle\n");
	assert_int_equal(config_check(&c, longopts, err, sizeof(err)), 0);
	config_free(&c);
	assert_int_equal(config_check(NULL, longopts, err, sizeof(err)), 0);

	c = load_ok("verbose\n\n# a bare mount eats the next word\nmount\n"
		    "verbose\n");
	assert_int_equal(config_check(&c, longopts, err, sizeof(err)),
			 -EINVAL);
	snprintf(want, sizeof(want), "%s:4: option 'mount' needs a value",
		 path);
	assert_string_equal(err, want);
	config_free(&c);

	c = load_ok("verbose = 2\n");
	assert_int_equal(config_check(&c, longopts, err, sizeof(err)),
			 -EINVAL);
	snprintf(want, sizeof(want), "%s:1: option 'verbose' takes no value",
		 path);
	assert_string_equal(err, want);
	config_free(&c);

	/* getopt_long would take "mou" for "mount": a file must spell it */
	c = load_ok("mou = /a\n");
	assert_int_equal(config_check(&c, longopts, err, sizeof(err)),
			 -EINVAL);
	snprintf(want, sizeof(want), "%s:1: unknown option 'mou'", path);
	assert_string_equal(err, want);
	config_free(&c);
}

static void merge_order(void **state)
{
	char *cmdline[] = { "dedupd watch", "--settle=5", "/home", NULL };
	struct config c;
	char **argv;
	int argc = -1;

	(void)state;
	c = load_ok("settle = 30\nexclude = *.tmp\n");
	argv = config_merge_argv(&c, 3, cmdline, &argc);
	assert_non_null(argv);
	assert_int_equal(argc, 5);
	assert_string_equal(argv[0], "dedupd watch");
	assert_string_equal(argv[1], "--settle=30");
	assert_string_equal(argv[2], "--exclude=*.tmp");
	assert_string_equal(argv[3], "--settle=5");	/* the last one wins */
	assert_string_equal(argv[4], "/home");
	assert_null(argv[5]);
	assert_ptr_equal(argv[1], c.argv[0]);	/* borrowed */
	free(argv);

	argv = config_merge_argv(NULL, 1, cmdline, &argc);
	assert_int_equal(argc, 1);
	assert_string_equal(argv[0], "dedupd watch");
	assert_null(argv[1]);
	free(argv);

	argc = 42;
	assert_null(config_merge_argv(&c, 0, cmdline, &argc));
	assert_int_equal(argc, 42);
	config_free(&c);
}

/* config_parse(): the same parser on bytes, without a file. */
static void parse_buffer(void **state)
{
	/* Not NUL-terminated: the parse stops at the length. */
	const char text[] = { 'm', 'o', 'u', 'n', 't', '=', '/', 's', 'r',
			      'v', '\n', 'v', 'e', 'r', 'b', 'o', 's', 'e' };
	const char nul[] = "verbose\n\0x\n";
	struct config c = { .argc = 77 };
	char err[256] = "";

	(void)state;
	assert_int_equal(config_parse("mem", text, sizeof(text), &c, err,
				      sizeof(err)),
			 0);
	assert_int_equal(c.argc, 2);
	assert_string_equal(c.argv[0], "--mount=/srv");
	assert_string_equal(c.argv[1], "--verbose");
	assert_null(c.argv[2]);
	assert_int_equal(c.lines[1], 2);
	assert_string_equal(c.path, "mem");
	config_free(&c);

	assert_int_equal(config_parse("mem", "", 0, &c, err, sizeof(err)), 0);
	assert_int_equal(c.argc, 0);
	assert_null(c.argv[0]);
	config_free(&c);
	assert_int_equal(config_parse("mem", NULL, 0, &c, err, sizeof(err)), 0);
	config_free(&c);

	c.argc = 77;
	assert_int_equal(config_parse("mem", nul, sizeof(nul) - 1, &c, err,
				      sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "mem:2: NUL byte in line");
	assert_int_equal(config_parse("mem", text, CONFIG_MAX_FILE + 1, &c,
				      err, sizeof(err)),
			 -EFBIG);
	assert_int_equal(config_parse(NULL, text, 1, &c, err, sizeof(err)),
			 -EINVAL);
	assert_int_equal(config_parse("mem", NULL, 1, &c, err, sizeof(err)),
			 -EINVAL);
	assert_int_equal(c.argc, 77);	/* untouched */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(good_file),
		cmocka_unit_test(comments_and_blank_lines),
		cmocka_unit_test(quoting_and_escapes),
		cmocka_unit_test(bad_names),
		cmocka_unit_test(bad_quotes),
		cmocka_unit_test(limits),
		cmocka_unit_test(missing_file_and_directory),
		cmocka_unit_test(short_message_buffer),
		cmocka_unit_test(check_against_options),
		cmocka_unit_test(merge_order),
		cmocka_unit_test(parse_buffer),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
