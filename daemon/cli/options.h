/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef DEDUPD_CLI_OPTIONS_H
#define DEDUPD_CLI_OPTIONS_H

/*
 * The command line every command shares: -v/--verbose, -q/--quiet and
 * -h/--help, the one-line errors for a missing argument or an unknown
 * option, the check for PATH operands, and the options several commands
 * take (--threads, --min-size, --exclude, --snapshots, --domain, a path).
 * Every error is logged here, in one line, most of them ending with where
 * to read more ("see 'dedupd scan --help'"). A command describes itself
 * in a struct cli_command and takes its own options in a callback.
 */

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "daemon/common/util.h"

struct walk_opts;

struct cli_command {
	const char *name;	/* as in "see 'dedupd NAME --help'" */
	const char *verb;	/* as in "VERB needs at least one PATH" */
	const char *shortopts;	/* its own, without ':' and "vqh" */
	const struct option *longopts;	/* its own, up to a NULL name */
	void (*usage)(FILE *f);
	/*
	 * Takes option @c (getopt_long's value) with its argument @arg (NULL
	 * if it has none); @opt is the word of the command line that ended
	 * it (argv[optind - 1]). Returns 0, or -EINVAL once it logged why.
	 */
	int (*option)(void *ctx, int c, const char *opt, const char *arg);
	void *ctx;
};

/* Most long options a command may have, the shared ones included. */
#define CLI_OPTIONS_MAX 48

/*
 * Parses the options of @argv (getopt_long from argv[1], optind reset) for
 * @cmd, which must not use 'v', 'q' or 'h'. -v/--verbose raises log_level
 * (up to debug), -q/--quiet sets it to errors only, -h/--help prints
 * @cmd->usage on stdout. Returns 0 with optind at the first operand, 1
 * after --help (the caller exits EXIT_OK), or -EINVAL after logging a
 * usage error (the caller exits EXIT_USAGE).
 */
int cli_parse(int argc, char **argv, const struct cli_command *cmd);

/* Whether an operand follows optind. Returns 0, or -EINVAL (logged). */
int cli_need_paths(int argc, const struct cli_command *cmd);

/*
 * Option arguments that several commands take; each returns 0, or
 * -EINVAL after logging which option was wrong (*@ret untouched).
 */
int cli_threads(const char *arg, unsigned int *ret);	/* 1 to 256 */
int cli_min_size(const char *arg, uint64_t *ret);	/* a size, 0 too */
int cli_db_size(const char *arg, uint64_t *ret);	/* 256K to 1T */
int cli_snapshots(const char *arg, bool *ret_skip);	/* follow | skip */
int cli_domain(const char *arg, enum dedupe_domain *ret);
/* A path option @name given @arg: not empty. */
int cli_path(const char *name, const char *arg);

/* Adds @glob to @w's excludes (-x, --exclude); @glob is not copied. */
void cli_add_exclude(struct walk_opts *w, const char *glob);

#endif
