// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Fuzzes the configuration parser (daemon/common/config.c): the input is the file.
 * A parse either fails with a one-line message that fits the buffer given,
 * or yields "--name[=value]" words that config_check() and
 * config_merge_argv() take as `dedupd watch` does.
 */
#include <getopt.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/common/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A few of `dedupd watch`'s options, of each kind. */
static const struct option longopts[] = {
	{ "mount", required_argument, NULL, 1 },
	{ "exclude", required_argument, NULL, 2 },
	{ "verbose", no_argument, NULL, 3 },
	{ "settle", required_argument, NULL, 4 },
	{ "dry-run", no_argument, NULL, 5 },
	{ "log", optional_argument, NULL, 6 },
	{ NULL, 0, NULL, 0 },
};

static void check_words(const struct config *c)
{
	if (c->argc < 0 || c->argc > CONFIG_MAX_OPTIONS || c->argv[c->argc])
		abort();
	for (int i = 0; i < c->argc; i++) {
		const char *w = c->argv[i], *p = w + 2;

		if (strncmp(w, "--", 2) != 0)
			abort();
		/* A name of [a-z0-9-], not starting with '-'. */
		if (*p == '-' || *p == '=' || *p == '\0')
			abort();
		for (; *p && *p != '='; p++)
			if (!((*p >= 'a' && *p <= 'z') ||
			      (*p >= '0' && *p <= '9') || *p == '-'))
				abort();
		if (i > 0 && c->lines[i] <= c->lines[i - 1])
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *argv[] = { (char *)"dedupd", (char *)"--verbose", NULL };
	char err[256], small[12];
	struct config c;
	char **merged;
	int n = -1;

	memset(err, 0x55, sizeof(err));
	if (config_parse("fuzz.conf", (const char *)data, size, &c, err,
			 sizeof(err)) != 0) {
		/* The message is NUL-terminated inside the buffer. */
		if (!memchr(err, '\0', sizeof(err)))
			abort();
		/* A message that does not fit is cut, not overrun. */
		memset(small, 0x55, sizeof(small));
		if (config_parse("fuzz.conf", (const char *)data, size, &c,
				 small, sizeof(small) - 1) == 0 ||
		    small[sizeof(small) - 1] != 0x55)
			abort();
		return 0;
	}
	check_words(&c);
	(void)config_check(&c, longopts, err, sizeof(err));
	merged = config_merge_argv(&c, 2, argv, &n);
	if (!merged || n != c.argc + 2 || merged[n] != NULL)
		abort();
	free(merged);
	config_free(&c);
	return 0;
}
