// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The options every command shares and their errors (options.h): one
 * getopt_long loop for scan, defrag and ctl dedupe, each command's own
 * options handed to it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/cli/options.h"
#include "daemon/common/log.h"
#include "daemon/common/util.h"
#include "daemon/engine/walk.h"
#include "hashdb/hashdb.h"

static const struct option shared_longopts[] = {
	{ "verbose", no_argument, NULL, 'v' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "help", no_argument, NULL, 'h' },
};

#define NSHARED (sizeof(shared_longopts) / sizeof(shared_longopts[0]))

/* The command's long options, then the shared ones and the end. */
static int merge_longopts(const struct cli_command *cmd,
			  struct option *all)
{
	size_t n = 0;

	while (cmd->longopts && cmd->longopts[n].name)
		n++;
	if (n + NSHARED + 1 > CLI_OPTIONS_MAX)
		return -E2BIG;
	memcpy(all, cmd->longopts, n * sizeof(*all));
	memcpy(all + n, shared_longopts, sizeof(shared_longopts));
	memset(&all[n + NSHARED], 0, sizeof(*all));
	return 0;
}

/* One of the shared options, a missing argument or an unknown option. */
static int shared_option(int c, char **argv, const struct cli_command *cmd)
{
	switch (c) {
	case 'v':
		if (log_level < LOG_LVL_DEBUG)
			log_level++;
		return 0;
	case 'q':
		log_level = LOG_LVL_ERROR;
		return 0;
	case 'h':
		cmd->usage(stdout);
		return 1;
	case ':':
		log_error("option '%s' needs an argument (see 'dedupd %s --help')",
			  argv[optind - 1], cmd->name);
		return -EINVAL;
	default:
		if (optopt)
			log_error("unknown option '-%c' (see 'dedupd %s --help')",
				  optopt, cmd->name);
		else
			log_error("unknown option '%s' (see 'dedupd %s --help')",
				  argv[optind - 1], cmd->name);
		return -EINVAL;
	}
}

int cli_parse(int argc, char **argv, const struct cli_command *cmd)
{
	struct option longopts[CLI_OPTIONS_MAX];
	char shortopts[64];
	int c, ret;

	if (merge_longopts(cmd, longopts) < 0 ||
	    (size_t)snprintf(shortopts, sizeof(shortopts), ":%svqh",
			     cmd->shortopts) >= sizeof(shortopts))
		abort();	/* a command with too many options: a bug */
	optind = 1;
	opterr = 0;	/* our own one-line errors */
	while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		if (c == 'v' || c == 'q' || c == 'h' || c == ':' || c == '?')
			ret = shared_option(c, argv, cmd);
		else
			ret = cmd->option(cmd->ctx, c, argv[optind - 1], optarg);
		if (ret)
			return ret;
	}
	return 0;
}

int cli_need_paths(int argc, const struct cli_command *cmd)
{
	if (optind < argc)
		return 0;
	log_error("%s needs at least one PATH (see 'dedupd %s --help')",
		  cmd->verb, cmd->name);
	return -EINVAL;
}

int cli_threads(const char *arg, unsigned int *ret)
{
	uint64_t v;

	if (parse_size(arg, &v) || v < 1 || v > 256) {
		log_error("invalid --threads '%s' (1 to 256)", arg);
		return -EINVAL;
	}
	*ret = (unsigned int)v;
	return 0;
}

int cli_min_size(const char *arg, uint64_t *ret)
{
	if (parse_size(arg, ret)) {
		log_error("invalid --min-size '%s'", arg);
		return -EINVAL;
	}
	return 0;
}

int cli_db_size(const char *arg, uint64_t *ret)
{
	uint64_t v;

	if (parse_size(arg, &v) || v < HASHDB_MIN_SIZE || v > HASHDB_MAX_SIZE) {
		log_error("invalid --db-size '%s' (256K to 1T, e.g. 64M)", arg);
		return -EINVAL;
	}
	*ret = v;
	return 0;
}

int cli_snapshots(const char *arg, bool *ret_skip)
{
	if (parse_snapshots_mode(arg, ret_skip)) {
		log_error("invalid --snapshots '%s' (follow or skip)", arg);
		return -EINVAL;
	}
	return 0;
}

int cli_domain(const char *arg, enum dedupe_domain *ret)
{
	if (parse_domain(arg, ret)) {
		log_error("invalid --domain '%s' (none, owner or subvolume)",
			  arg);
		return -EINVAL;
	}
	return 0;
}

int cli_path(const char *name, const char *arg)
{
	if (!*arg) {
		log_error("%s needs a path", name);
		return -EINVAL;
	}
	return 0;
}

void cli_add_exclude(struct walk_opts *w, const char *glob)
{
	w->excludes = xrealloc(w->excludes,
			       (w->nexcludes + 1) * sizeof(*w->excludes));
	w->excludes[w->nexcludes++] = (char *)glob;
}
