/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef DEDUPD_CLI_OPTIONS_H
#define DEDUPD_CLI_OPTIONS_H

/*
 * The command line every command shares: -v/--verbose, -q/--quiet and
 * -h/--help, the one-line errors for a missing argument or an unknown
 * option, the check for PATH operands, and the options several commands
 * take (struct cli_shared: --dry-run, --json, --threads, --exclude, ...).
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

/*
 * Where the flags several commands share go. A command takes those it points
 * somewhere; the others are unknown options to it. Their errors are logged
 * here, like the rest.
 */
struct cli_shared {
	bool *dry_run;			/* -n, --dry-run: set */
	bool *json;			/* -j, --json: set */
	bool *progress;			/* --no-progress: cleared */
	struct walk_opts *walk;		/* -x, --exclude GLOB: added to */
	unsigned int *threads;		/* -t, --threads N (1 to 256) */
	uint64_t *min_size;		/* --min-size SIZE (0 too) */
	bool *skip_snapshots;		/* --snapshots follow|skip */
	enum dedupe_domain *domain;	/* --domain none|owner|subvolume */
	const char **db;		/* --db PATH (not empty) */
	uint64_t *db_size;		/* --db-size SIZE (256K to 1T) */
	const char **socket;		/* --socket PATH (not empty) */
	const char **state_dir;		/* --state-dir PATH (absolute) */
	const char **config;		/* --config PATH (not empty) */
	bool *no_config;		/* --no-config: set */
	bool *read_all;			/* --read-all: set */
	int *log_level;	/* what -v and -q change; NULL: the global log_level */
};

struct cli_command {
	const char *name;	/* as in "see 'dedupd NAME --help'" */
	const char *verb;	/* as in "VERB needs at least one PATH" */
	const char *shortopts;	/* its own, without ':', "vqh" and the shared */
	const struct option *longopts;	/* its own, up to a NULL name */
	void (*usage)(FILE *f);
	/*
	 * Takes option @c (getopt_long's value) with its argument @arg (NULL
	 * if it has none); @name is its long name, or "-c" for a short one
	 * without. Returns 0, or -EINVAL once it logged why. NULL: the command
	 * has only shared options.
	 */
	int (*option)(void *ctx, int c, const char *name, const char *arg);
	void *ctx;
	struct cli_shared shared;
};

/* Most long options a command may have, the shared ones included. */
#define CLI_OPTIONS_MAX 64

/*
 * Parses the options of @argv (getopt_long from argv[1], optind reset) for
 * @cmd, whose own options must not use the shared letters (v, q, h, n, j,
 * x, t). -v/--verbose raises the log level (up to debug), -q/--quiet sets
 * it to errors only, -h/--help prints @cmd->usage on stdout. Returns 0
 * with optind at the first operand, 1 after --help (the caller exits
 * EXIT_OK), or -EINVAL after logging a usage error (the caller exits
 * EXIT_USAGE).
 */
int cli_parse(int argc, char **argv, const struct cli_command *cmd);

/*
 * The long options @cmd takes, its own and the shared, up to a NULL name, in
 * @all (CLI_OPTIONS_MAX entries): for a configuration file's check.
 */
void cli_longopts(const struct cli_command *cmd, struct option *all);

/* Whether an operand follows optind. Returns 0, or -EINVAL (logged). */
int cli_need_paths(int argc, const struct cli_command *cmd);

/* *@threads, if 0 (not given): one per CPU. */
void cli_default_threads(unsigned int *threads);

/* A path option @name given @arg: not empty. Returns 0 or -EINVAL (logged). */
int cli_path(const char *name, const char *arg);

/*
 * Opens the PATHs (argv[optind] on), which must all be on one filesystem
 * that can dedupe (or ext4, if @ext4): *@fs0 is set to it. Returns the
 * first PATH's fd, or -1 once the error is logged, saying "@verb one
 * filesystem at a time" if they are on several (*@rc set when it is not
 * EXIT_RUNTIME).
 */
struct fs_info;
int cli_open_paths(int argc, char **argv, const char *verb, bool ext4,
		   struct fs_info *fs0, int *rc);

/*
 * Runs the subcommand @fn on @argv[1..], named "@prog" in getopt's and its
 * own messages (argv[1] is replaced). Returns what @fn returns.
 */
int cli_run(const char *prog, int (*fn)(int, char **), int argc, char **argv);

#endif
