// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * dedupd defrag: the command line, the progress bar and the report; the
 * defragmenter itself is daemon/engine/defrag.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/cli/commands.h"
#include "daemon/cli/options.h"
#include "daemon/cli/progress.h"
#include "daemon/common/log.h"
#include "daemon/common/util.h"
#include "daemon/engine/defrag.h"
#include "daemon/engine/pass.h"
#include "daemon/engine/report.h"
#include "ioctl-compat/fsprobe.h"

static void defrag_usage(FILE *f)
{
	fprintf(f,
"Usage: dedupd defrag [OPTION]... PATH...\n"
"Defragment the files under PATH (btrfs, XFS with reflink, or ext4) without\n"
"locking them: each fragmented chunk is copied contiguously into a temporary\n"
"file and deduped onto the original, so a writer that changes the chunk\n"
"meanwhile loses nothing (the chunk is retried later, then skipped). On\n"
"btrfs, snapshots and reflinks that shared the old extents are deduped onto\n"
"the new copy too, so no space is lost to them; on XFS, reflinked copies\n"
"found under --scope are. ext4 moves chunks with\n"
"EXT4_IOC_MOVE_EXT.\n"
"\n"
"  -c, --chunk-size SIZE  bytes moved at a time (default 16M; 1M to 1G);\n"
"                         the space needed, and how long a writer to that\n"
"                         range may wait\n"
"      --delay MS         pause between chunks (default 0)\n"
"      --min-extent MIB   a file or chunk is fragmented when its extents are\n"
"                         smaller than this on average (default 8)\n"
"  -n, --dry-run          only report fragmented files\n"
"  -j, --json             print the report as one JSON object\n"
"  -x, --exclude GLOB     skip what matches GLOB (repeatable)\n"
"      --no-progress      no progress bar\n"
"      --snapshots=MODE   follow (default): read-only snapshots that share\n"
"                         the old extents are deduped onto the new copy\n"
"                         too; skip: they are left as they are (their old\n"
"                         extents stay allocated)\n"
"      --rewrite-backups  btrfs: reflink backups and snapshots that share the\n"
"                         old extents only in part (taken before the file\n"
"                         was overwritten) follow too: what they hold in\n"
"                         common with the file is deduped onto the new copy,\n"
"                         the old data they hold of their own is copied once\n"
"                         into a file of ours and deduped onto them, so the\n"
"                         old extents are freed and space does not grow;\n"
"                         they end up as fragmented as the file was\n"
"      --scope PATH       XFS: where to look for reflinked copies of each\n"
"                         file (default: its whole filesystem); copies\n"
"                         there that share its old blocks are deduped onto\n"
"                         the new copy, so those blocks are freed; copies\n"
"                         elsewhere keep them (bytes_pinned counts the\n"
"                         shared blocks no copy in the scope holds)\n"
"  -v, --verbose          say more (twice: debug)\n"
"  -q, --quiet            only errors\n"
"  -h, --help             this text\n"
"\n"
"Exit status: 0 done; 1 runtime error; 2 usage error; 3 the filesystem is\n"
"not btrfs, XFS with reflink or ext4; 130 interrupted (the chunk in flight\n"
"was finished).\n");
}

enum { OPT_DELAY = 256, OPT_MIN_EXTENT, OPT_REWRITE_BACKUPS, OPT_SCOPE };

/* --delay: milliseconds, up to 600000. */
static int parse_delay(const char *arg, unsigned int *ret_ms)
{
	uint64_t v;
	char *end;

	errno = 0;
	v = strtoull(arg, &end, 10);
	if (errno || end == arg || *end || v > 600000) {
		log_error("invalid --delay '%s' (milliseconds, up to 600000)",
			  arg);
		return -EINVAL;
	}
	*ret_ms = (unsigned int)v;
	return 0;
}

/* --min-extent: MiB, more than 0, up to 1024. */
static int parse_min_extent(const char *arg, double *ret_mib)
{
	char *end;

	errno = 0;
	*ret_mib = strtod(arg, &end);
	if (errno || end == arg || *end || !(*ret_mib > 0) ||
	    *ret_mib > 1024) {
		log_error("invalid --min-extent '%s' (MiB, more than 0, up to 1024)",
			  arg);
		return -EINVAL;
	}
	return 0;
}

/* One of defrag's own options (options.h). */
static int defrag_option(void *ctx, int c, const char *name, const char *arg)
{
	struct defrag_opts *o = ctx;
	uint64_t v;

	(void)name;
	switch (c) {
	case 'c':
		if (parse_size(arg, &v) || v < (1 << 20) ||
		    v > (1ULL << 30) || v % 4096) {
			log_error("invalid --chunk-size '%s' (1M to 1G, a multiple of 4K)",
				  arg);
			return -EINVAL;
		}
		o->chunk = v;
		return 0;
	case OPT_DELAY:
		return parse_delay(arg, &o->delay_ms);
	case OPT_MIN_EXTENT:
		return parse_min_extent(arg, &o->min_extent_mib);
	case OPT_REWRITE_BACKUPS:
		o->rewrite_backups = true;
		return 0;
	case OPT_SCOPE:
		o->scope = arg;
		return 0;
	}
	return -EINVAL;
}

/* Returns 0, 1 after --help, or -EINVAL after a usage error. */
static int parse_defrag_args(int argc, char **argv, struct defrag_opts *o)
{
	static const struct option longopts[] = {
		{ "chunk-size", required_argument, NULL, 'c' },
		{ "delay", required_argument, NULL, OPT_DELAY },
		{ "min-extent", required_argument, NULL, OPT_MIN_EXTENT },
		{ "rewrite-backups", no_argument, NULL, OPT_REWRITE_BACKUPS },
		{ "scope", required_argument, NULL, OPT_SCOPE },
		{ NULL, 0, NULL, 0 },
	};
	const struct cli_command cmd = {
		.name = "defrag", .verb = "defrag", .shortopts = "c:",
		.longopts = longopts, .usage = defrag_usage,
		.option = defrag_option, .ctx = o,
		.shared = {
			.dry_run = &o->dry_run, .json = &o->json,
			.progress = &o->progress, .walk = &o->walk,
			.skip_snapshots = &o->skip_snapshots,
		},
	};
	int ret;

	o->chunk = DEFRAG_DEFAULT_CHUNK;
	o->min_extent_mib = 8;
	o->progress = true;
	ret = cli_parse(argc, argv, &cmd);
	if (ret)
		return ret;
	if (cli_need_paths(argc, &cmd))
		return -EINVAL;
	o->walk.min_size = 1;
	return 0;
}

static void on_signal(int sig)
{
	(void)sig;
	pass_stop = 1;
}

int cmd_defrag(int argc, char **argv)
{
	struct defrag_opts o = { 0 };
	struct defrag *d = NULL;
	struct sigaction sa = { .sa_handler = on_signal };
	struct fs_info fs0 = { 0 };
	double t0 = now_sec();
	int rc = EXIT_RUNTIME, mount_fd = -1, i, ret;

	ret = parse_defrag_args(argc, argv, &o);
	if (ret) {
		free(o.walk.excludes);
		return ret > 0 ? EXIT_OK : EXIT_USAGE;
	}
	sigemptyset(&sa.sa_mask);
	(void)sigaction(SIGINT, &sa, NULL);
	(void)sigaction(SIGTERM, &sa, NULL);
	mount_fd = cli_open_paths(argc, argv, "defrag", true, &fs0, &rc);
	if (mount_fd < 0)
		goto out;
	/* Temporary files beside each file: on its filesystem. */
	d = defrag_new(&o, mount_fd, &fs0, NULL);
	if (!d)
		goto out;
	if (o.progress && !o.json && log_level >= LOG_LVL_WARN &&
	    isatty(STDERR_FILENO))
		progress_start(defrag_progress(d), 0);
	for (i = optind; i < argc && !pass_stop; i++) {
		ret = defrag_tree(d, argv[i], &o.walk);
		if (ret < 0 && ret != -EINTR) {
			progress_stop();
			log_error("cannot read '%s': %s", argv[i],
				  strerror(-ret));
			goto out;
		}
	}
	progress_stop();
	if (o.json || log_level >= LOG_LVL_WARN)
		defrag_report(stdout, defrag_get_stats(d), fs0.name, o.dry_run,
			      o.json, now_sec() - t0);
	rc = pass_stop ? EXIT_INTERRUPTED : EXIT_OK;
	if (pass_stop)
		log_error("interrupted: stopped after the chunk in flight");
out:
	d = defrag_free(d);
	if (mount_fd >= 0)
		close(mount_fd);
	free(o.walk.excludes);
	return rc;
}
