/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef DEDUPD_CONFIG_H
#define DEDUPD_CONFIG_H

/*
 * The configuration file of `dedupd watch` (/etc/dedupd.conf). Every option
 * is also a flag: each line holds a long option name, and the file becomes
 * argv words that go before the command line's, for getopt_long.
 *
 *	# a comment (only as the first non-blank character of a line)
 *	mount = /srv
 *	exclude "*.tmp"
 *	exclude = "/srv/with space/# not a comment"
 *	verbose
 *
 * One option a line: "name = value", "name value" or a bare "name" (a flag).
 * The name is [a-z0-9-]+ and does not start with '-'. Whitespace around name
 * and value is trimmed; a value in double quotes keeps its spaces and '#',
 * with \" and \\ as the only escapes. Repeated names are kept, in order.
 */

#include <stddef.h>

#define CONFIG_MAX_LINE 4096		/* bytes, without the newline */
#define CONFIG_MAX_OPTIONS 1000
#define CONFIG_MAX_FILE (1 << 20)	/* bytes */

struct option;

struct config {
	int argc;
	char **argv;	/* "--name=value" or "--name", NULL-terminated;
			 * argv[0] is NOT a program name */
	unsigned int *lines;	/* line of each word, for messages */
	char *path;		/* the file read, for messages */
};

/*
 * Reads @path. Returns 0 and fills *@ret (free with config_free), -ENOENT if
 * the file does not exist, -EINVAL for a syntax error, -EFBIG beyond the
 * limits above (a longer line, more options, a larger file), or -errno.
 * On any failure *@ret is untouched and @err (if not NULL) gets a one-line
 * message: "PATH:LINE: what is wrong" for a line, "PATH: what is wrong"
 * otherwise, e.g. "/etc/dedupd.conf:3: option name expected".
 */
int config_load(const char *path, struct config *ret, char *err,
		size_t errlen);

/*
 * Parses the @len bytes at @buf (need not be NUL-terminated) as the
 * configuration file @path, which names it in messages only. Returns as
 * config_load() does, but never -ENOENT; -EINVAL also for a NULL @path, or
 * a NULL @buf with a non-zero @len.
 */
int config_parse(const char *path, const char *buf, size_t len,
		 struct config *ret, char *err, size_t errlen);

/* Frees what config_load filled; NULL-safe; zeroes *@c. */
void config_free(struct config *c);

/*
 * Checks each word against @longopts (getopt_long's table, ending with a
 * zeroed entry): the name must be one of them, spelled out (getopt_long
 * would take an abbreviation), have a value if the option requires one and
 * none if it takes none. A bare name of an option that requires a value
 * would otherwise swallow the next word as its value. Returns 0, or
 * -EINVAL with "PATH:LINE: what is wrong" in @err.
 */
int config_check(const struct config *c, const struct option *longopts,
		 char *err, size_t errlen);

/*
 * Builds the argv for getopt_long: @argv[0] (the program name), then the
 * config's words, then @argv[1..@argc-1], so that the command line wins
 * where an option is given twice and the last one counts. @c may be NULL
 * (no config). Returns a NULL-terminated array and sets *@ret_argc; free the
 * array only, the strings are borrowed from @c and @argv. Returns NULL
 * (*@ret_argc untouched) if @argc < 1.
 */
char **config_merge_argv(const struct config *c, int argc, char **argv,
			 int *ret_argc);

#endif
