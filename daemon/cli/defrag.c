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
#include "daemon/common/djson.h"
#include "daemon/common/log.h"
#include "daemon/common/util.h"
#include "daemon/engine/defrag.h"
#include "daemon/engine/pass.h"
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

enum { OPT_DELAY = 256, OPT_MIN_EXTENT, OPT_NO_PROGRESS, OPT_SNAPSHOTS,
       OPT_REWRITE_BACKUPS, OPT_SCOPE };

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
static int defrag_option(void *ctx, int c, const char *opt, const char *arg)
{
	struct defrag_opts *o = ctx;
	uint64_t v;

	(void)opt;
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
	case 'n':
		o->dry_run = true;
		return 0;
	case 'j':
		o->json = true;
		return 0;
	case 'x':
		cli_add_exclude(&o->walk, arg);
		return 0;
	case OPT_NO_PROGRESS:
		o->progress = false;
		return 0;
	case OPT_REWRITE_BACKUPS:
		o->rewrite_backups = true;
		return 0;
	case OPT_SCOPE:
		o->scope = arg;
		return 0;
	case OPT_SNAPSHOTS:
		return cli_snapshots(arg, &o->skip_snapshots);
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
		{ "dry-run", no_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'j' },
		{ "exclude", required_argument, NULL, 'x' },
		{ "no-progress", no_argument, NULL, OPT_NO_PROGRESS },
		{ "snapshots", required_argument, NULL, OPT_SNAPSHOTS },
		{ "rewrite-backups", no_argument, NULL, OPT_REWRITE_BACKUPS },
		{ "scope", required_argument, NULL, OPT_SCOPE },
		{ NULL, 0, NULL, 0 },
	};
	const struct cli_command cmd = {
		.name = "defrag", .verb = "defrag", .shortopts = "c:njx:",
		.longopts = longopts, .usage = defrag_usage,
		.option = defrag_option, .ctx = o,
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

static void report(const struct defrag_opts *o, const struct defrag_stats *s,
		   const char *fs_name, double secs)
{
	char b1[32], b2[32], b3[32];

	if (o->json) {
		struct djson_field f[] = {
			DJSON_STR("filesystem", fs_name),
			DJSON_BOOL("dry_run", o->dry_run),
			DJSON_U64("files", s->files),
			DJSON_U64("files_fragmented", s->files_fragmented),
			DJSON_U64("files_defragged", s->files_defragged),
			DJSON_U64("files_skipped", s->files_skipped),
			DJSON_U64("files_vanished", s->files_vanished),
			DJSON_U64("files_special", s->files_special),
			DJSON_U64("files_replaced", s->files_replaced),
			DJSON_U64("too_deep", s->too_deep),
			DJSON_U64("extents_before", s->extents_before),
			DJSON_U64("extents_after", s->extents_after),
			DJSON_U64("bytes", s->bytes),
			DJSON_U64("bytes_moved", s->bytes_moved),
			DJSON_U64("bytes_relinked", s->bytes_relinked),
			DJSON_U64("refs_relinked", s->refs_relinked),
			DJSON_U64("refs_busy", s->refs_busy),
			DJSON_U64("refs_pinned", s->refs_pinned),
			DJSON_U64("bytes_pinned", s->bytes_pinned),
			DJSON_U64("bytes_filled", s->bytes_filled),
			DJSON_U64("files_mapped", s->files_mapped),
			DJSON_U64("chunks", s->chunks),
			DJSON_U64("chunks_retried", s->chunks_retried),
			DJSON_U64("chunks_skipped", s->chunks_skipped),
			DJSON_U64("errors", s->errors),
			DJSON_REAL("seconds", secs, 3),
		};
		int ret = djson_print_fields(stdout, f, DJSON_NFIELDS(f));

		if (ret < 0)
			log_error("cannot write the report: %s",
				  strerror(-ret));
		return;
	}
	if (log_level < LOG_LVL_WARN)
		return;
	printf("%s %llu files (%s) in %.1f s: %llu fragmented\n",
	       o->dry_run ? "looked at" : "defragmented",
	       (unsigned long long)s->files, fmt_bytes(s->bytes, b1, sizeof(b1)),
	       secs, (unsigned long long)s->files_fragmented);
	printf("  extents    %llu before, %llu after\n",
	       (unsigned long long)s->extents_before,
	       (unsigned long long)s->extents_after);
	if (s->files_special || s->files_replaced || s->too_deep)
		printf("  left out   %llu special files (FIFOs, sockets, devices), %llu replaced since the walk, %llu too deep\n",
		       (unsigned long long)s->files_special,
		       (unsigned long long)s->files_replaced,
		       (unsigned long long)s->too_deep);
	if (o->dry_run)
		return;
	printf("  moved      %s in %llu chunks (%llu retried, %llu skipped)\n",
	       fmt_bytes(s->bytes_moved, b2, sizeof(b2)),
	       (unsigned long long)s->chunks,
	       (unsigned long long)s->chunks_retried,
	       (unsigned long long)s->chunks_skipped);
	printf("  relinked   %s in %llu references of snapshots and reflinks (%llu left pinned)\n",
	       fmt_bytes(s->bytes_relinked, b3, sizeof(b3)),
	       (unsigned long long)s->refs_relinked,
	       (unsigned long long)s->refs_pinned);
	if (s->bytes_pinned)
		printf("  pinned     %s of old data still shared with files that could not follow\n",
		       fmt_bytes(s->bytes_pinned, b1, sizeof(b1)));
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
	for (i = optind; i < argc; i++) {
		struct fs_info fs;
		int fd = open(argv[i], O_RDONLY | O_CLOEXEC | O_NONBLOCK);

		if (fd < 0) {
			log_error("cannot open '%s': %s", argv[i],
				  strerror(errno));
			goto out;
		}
		ret = fs_probe(fd, 0, &fs);
		if (ret < 0) {
			log_error("cannot probe the filesystem of '%s': %s",
				  argv[i], strerror(-ret));
			close(fd);
			goto out;
		}
		if (!fs.can_dedupe && fs.kind != FS_EXT4) {
			log_error("'%s' is on %s: dedupd defrags btrfs, XFS with reflink and ext4",
				  argv[i], fs.name);
			close(fd);
			rc = EXIT_UNSUPPORTED_FS;
			goto out;
		}
		if (mount_fd < 0) {
			fs0 = fs;
			mount_fd = fd;
		} else if (memcmp(fs.uuid, fs0.uuid, sizeof(fs.uuid))) {
			log_error("'%s' is on another filesystem than '%s': defrag one filesystem at a time",
				  argv[i], argv[optind]);
			close(fd);
			goto out;
		} else {
			close(fd);
		}
	}
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
	report(&o, defrag_get_stats(d), fs0.name, now_sec() - t0);
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
