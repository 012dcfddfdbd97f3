// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * dedupd watch: its command line. The options come from the command line and
 * the configuration file (common/config), then go to the daemon
 * (service/watch.h).
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "daemon/cli/commands.h"
#include "daemon/cli/options.h"
#include "daemon/common/client.h"
#include "daemon/common/config.h"
#include "daemon/common/djson.h"
#include "daemon/common/log.h"
#include "daemon/common/util.h"
#include "daemon/engine/index.h"
#include "daemon/service/watch.h"

#define MAX_GLOBS 256

/* ---- options --------------------------------------------------------- */

static void watch_usage(FILE *f)
{
	fprintf(f,
"Usage: dedupd watch [OPTION]... [MOUNT]...\n"
"Run as a daemon: subscribe to writes on each MOUNT's filesystem (btrfs, or\n"
"XFS with reflink) with fanotify and dedupe new data a few seconds after it\n"
"is written, against the same index as 'dedupd scan'. The kernel compares\n"
"the data before sharing, so a file that changes meanwhile is never harmed.\n"
"Needs root. MOUNTs may also come from the configuration file ('mount').\n"
"\n"
"      --settle SECS         take a file up once it has had no write for\n"
"                            SECS (default 5; 500ms, 2s, 1m also work)\n"
"      --min-age SECS        and not before SECS after its first write\n"
"                            (default 0)\n"
"      --reexamine SECS      a file that keeps changing is taken up again\n"
"                            at most once per SECS (default 30)\n"
"      --checkpoint SECS     save the index and state every SECS\n"
"                            (default 300; also on SIGTERM)\n"
"      --loadavg-target N    pause while the 1-minute load average is\n"
"                            above N (default 0: never)\n"
"      --include GLOB        only files that match GLOB (repeatable)\n"
"  -x, --exclude GLOB        skip files that match GLOB (repeatable); a GLOB\n"
"                            without '/' matches the name, else the path\n"
"      --min-size N          skip files smaller than N bytes (default 1)\n"
"      --io-class CLASS      idle (default), best-effort or none\n"
"  -t, --threads N           hashing threads (default: one per CPU)\n"
"  -n, --dry-run             hash and match, dedupe nothing\n"
"      --snapshots=MODE      btrfs: follow (default): read-only snapshots\n"
"                            that refer to data that moves (deduped,\n"
"                            relocated, defragmented) are deduped onto its\n"
"                            new place too, so that the old extents are\n"
"                            freed; skip: they are left untouched (frees\n"
"                            less, never uses more)\n"
"      --domain=MODE         which files may share blocks: none (default):\n"
"                            any; owner: files of the same owner;\n"
"                            subvolume: files of the same btrfs subvolume\n"
"      --read-all            read every block, not the btrfs csums of those\n"
"                            that have one (see 'dedupd scan --help')\n"
"      --db PATH             index file (one MOUNT only; default\n"
"                            " STATE_DIR "/<fs-uuid>/index)\n"
"      --db-size SIZE        index budget, 256K to 1T (see 'dedupd scan')\n"
"      --state-dir DIR       default " STATE_DIR "\n"
"      --socket PATH         control socket (default $DEDUPD_SOCKET or\n"
"                            " WATCH_SOCKET ")\n"
"      --config PATH         configuration file (default " WATCH_CONFIG ";\n"
"                            a missing default file is fine)\n"
"      --no-config           read no configuration file\n"
"      --defrag-threshold N  files of 1 MiB or more found with more than N\n"
"                            extents per MiB go to a background defrag\n"
"                            (see 'dedupd defrag'), when nothing else is\n"
"                            to do (default 4; 0: never)\n"
"      --defrag-chunk SIZE   its chunk size (default 16M)\n"
"      --defrag-idle SECS    and only after SECS without a write to the\n"
"                            filesystem (default 10)\n"
"      --bounded-queue       use the kernel's bounded event queue\n"
"                            (fs.fanotify.max_queued_events): an overflow\n"
"                            is caught up from the filesystem\n"
"  -v, --verbose             say more (twice: debug)\n"
"  -q, --quiet               only errors\n"
"  -h, --help                this text\n"
"\n"
"The configuration file holds the same long options, one per line, as\n"
"'name = value' or 'name'; the command line wins. Signals: SIGTERM or\n"
"SIGINT checkpoint and stop; SIGHUP reloads the configuration; SIGUSR1 logs\n"
"a status line. 'dedupd status' asks the running daemon.\n"
"\n"
"Exit status: 0 stopped by a signal; 1 runtime error; 2 usage or\n"
"configuration error; 3 a MOUNT cannot dedupe; 4 the index is in use.\n");
}

/* "5", "0.5", "500ms", "2s", "1m", "1h". Returns 0 or -EINVAL. */
static int parse_seconds(const char *s, double *ret)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || !isfinite(v) || v < 0)
		return -EINVAL;
	if (!strcmp(end, "ms"))
		v /= 1000;
	else if (!strcmp(end, "m"))
		v *= 60;
	else if (!strcmp(end, "h"))
		v *= 3600;
	else if (*end && strcmp(end, "s"))
		return -EINVAL;
	if (v > 86400 * 365)
		return -EINVAL;
	*ret = v;
	return 0;
}

enum {
	OPT_SETTLE = 256, OPT_MIN_AGE, OPT_REEXAMINE, OPT_CHECKPOINT,
	OPT_LOADAVG, OPT_INCLUDE, OPT_IO_CLASS, OPT_BOUNDED, OPT_MOUNT, OPT_DEFRAG_THRESHOLD,
	OPT_DEFRAG_CHUNK, OPT_DEFRAG_IDLE,
};
static const struct option watch_longopts[] = {
	{ "settle", required_argument, NULL, OPT_SETTLE },
	{ "min-age", required_argument, NULL, OPT_MIN_AGE },
	{ "reexamine", required_argument, NULL, OPT_REEXAMINE },
	{ "checkpoint", required_argument, NULL, OPT_CHECKPOINT },
	{ "loadavg-target", required_argument, NULL, OPT_LOADAVG },
	{ "include", required_argument, NULL, OPT_INCLUDE },
	{ "exclude", required_argument, NULL, 'x' },
	{ "io-class", required_argument, NULL, OPT_IO_CLASS },
	{ "bounded-queue", no_argument, NULL, OPT_BOUNDED },
	{ "mount", required_argument, NULL, OPT_MOUNT },
	{ "defrag-threshold", required_argument, NULL, OPT_DEFRAG_THRESHOLD },
	{ "defrag-chunk", required_argument, NULL, OPT_DEFRAG_CHUNK },
	{ "defrag-idle", required_argument, NULL, OPT_DEFRAG_IDLE },
	{ NULL, 0, NULL, 0 },
};

/* Where a duration option goes; NULL if @c is not one. */
static double *duration_of(int c, struct watch_opts *o)
{
	switch (c) {
	case OPT_SETTLE:
		return &o->settle;
	case OPT_MIN_AGE:
		return &o->min_age;
	case OPT_REEXAMINE:
		return &o->reexamine;
	case OPT_CHECKPOINT:
		return &o->checkpoint;
	case OPT_DEFRAG_IDLE:
		return &o->defrag_idle;
	}
	return NULL;
}

/*
 * Option @name's number of at least 0, as "2.5". Returns 0, or -EINVAL after
 * logging it with @hint.
 */
static int parse_real(const char *name, const char *s, const char *hint,
		      double *ret)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !isfinite(v) || v < 0) {
		log_error("invalid %s '%s' (%s)", name, s, hint);
		return -EINVAL;
	}
	*ret = v;
	return 0;
}

/*
 * The options that take a number or a size. Returns 0, -EINVAL with the
 * reason logged, or 1 if @c is none of them.
 */
static int parse_number(int c, const char *name, const char *arg,
			struct watch_opts *o)
{
	uint64_t v;

	switch (c) {
	case OPT_LOADAVG:
		return parse_real(name, arg, "a number, 0 for none",
				  &o->loadavg_target);
	case OPT_DEFRAG_THRESHOLD:
		return parse_real(name, arg, "extents per MiB, 0: no defrag",
				  &o->defrag_threshold);
	case OPT_DEFRAG_CHUNK:
		if (parse_size(arg, &v) || v < (1 << 20) || v > (1ULL << 30) ||
		    v % 4096) {
			log_error("invalid --defrag-chunk '%s' (1M to 1G)", arg);
			return -EINVAL;
		}
		o->defrag_chunk = v;
		return 0;
	}
	return 1;
}

/* Adds a mount. Returns 0 or -EINVAL with the reason logged. */
static int add_mount(struct watch_opts *o, const char *mount)
{
	if (o->nmounts >= MAX_MOUNTS) {
		log_error("too many mounts (at most %d)", MAX_MOUNTS);
		return -EINVAL;
	}
	o->mounts[o->nmounts++] = mount;
	return 0;
}

/*
 * The options that name paths, globs and mounts (@arg is kept, not
 * copied). Returns 0, -EINVAL with the reason logged, or 1 if @c is none
 * of them.
 */
static int parse_place(int c, char *arg, struct watch_opts *o)
{
	switch (c) {
	case OPT_INCLUDE:
	case 'x': {
		char ***v2 = c == 'x' ? &o->excludes : &o->includes;
		size_t *n = c == 'x' ? &o->nexcludes : &o->nincludes;

		if (!*arg || *n >= MAX_GLOBS) {
			log_error("invalid or too many --%s '%s'",
				  c == 'x' ? "exclude" : "include", arg);
			return -EINVAL;
		}
		*v2 = xrealloc(*v2, (*n + 1) * sizeof(char *));
		(*v2)[(*n)++] = arg;
		return 0;
	}
	case OPT_MOUNT:
		return add_mount(o, arg);
	}
	return 1;
}

/*
 * The options that choose a mode. Returns 0, -EINVAL with the reason
 * logged, or 1 if @c is none of them.
 */
static int parse_mode(int c, const char *arg, struct watch_opts *o)
{
	switch (c) {
	case OPT_IO_CLASS:
		if (!strcmp(arg, "idle"))
			o->io_class = 3;
		else if (!strcmp(arg, "best-effort"))
			o->io_class = 2;
		else if (!strcmp(arg, "none"))
			o->io_class = 0;
		else {
			log_error("invalid --io-class '%s' (idle, best-effort or none)",
				  arg);
			return -EINVAL;
		}
		return 0;
	}
	return 1;
}

/* One of watch's own options (options.h). */
static int watch_option(void *ctx, int c, const char *name, const char *arg)
{
	struct watch_opts *o = ctx;
	double *dp = duration_of(c, o);
	int ret;

	if (dp) {
		if (parse_seconds(arg, dp) < 0) {
			log_error("invalid duration '%s' for %s (e.g. 5, 500ms, 2m)",
				  arg, name);
			return -EINVAL;
		}
		return 0;
	}
	ret = parse_number(c, name, arg, o);
	if (ret == 1)
		ret = parse_place(c, (char *)arg, o);
	if (ret == 1)
		ret = parse_mode(c, arg, o);
	if (ret == 1 && c == OPT_BOUNDED) {
		o->bounded_queue = true;
		ret = 0;
	}
	return ret == 1 ? -EINVAL : ret;
}

static struct cli_command watch_command(struct watch_opts *o)
{
	return (struct cli_command){
		.name = "watch", .verb = "watch", .shortopts = "x:",
		.longopts = watch_longopts, .usage = watch_usage,
		.option = watch_option, .ctx = o,
		.shared = {
			.dry_run = &o->dry_run, .threads = &o->threads,
			.min_size = &o->min_size,
			.skip_snapshots = &o->skip_snapshots,
			.domain = &o->domain, .db = &o->db_path,
			.db_size = &o->db_size, .socket = &o->socket_path,
			.state_dir = &o->state_dir,
			.config = &o->config_path, .no_config = &o->no_config,
			.read_all = &o->read_all,
			.log_level = &o->log_level,
		},
	};
}

static void set_defaults(struct watch_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->settle = 5;
	o->reexamine = 30;
	o->defrag_threshold = 4;
	o->defrag_idle = 10;
	o->defrag_chunk = 16ULL << 20;
	o->checkpoint = 300;
	o->io_class = 3;
	o->min_size = 1;
	o->state_dir = STATE_DIR;
	o->config_path = WATCH_CONFIG;
	o->log_level = LOG_LVL_WARN;
}

/*
 * @argc/@argv into *@o (whose strings point into @argv). Returns 0 or
 * -EINVAL with the reason logged; exits after --help.
 */
static int parse_args(int argc, char **argv, struct watch_opts *o)
{
	const struct cli_command cmd = watch_command(o);
	int ret;

	set_defaults(o);
	ret = cli_parse(argc, argv, &cmd);
	if (ret > 0)
		exit(EXIT_OK);	/* after --help */
	if (ret < 0)
		return ret;
	for (; optind < argc; optind++)
		if (add_mount(o, argv[optind]) < 0)
			return -EINVAL;
	if (!o->min_size)
		o->min_size = 1;
	cli_default_threads(&o->threads);
	return 0;
}

/*
 * The command line, with the configuration file's options first. The
 * --config / --no-config of the command line decide which file is read.
 */
static int load_options(int argc, char **argv, struct config *conf,
			struct watch_opts *o)
{
	struct watch_opts first;
	const struct cli_command cmd = watch_command(&first);
	struct option all[CLI_OPTIONS_MAX];
	char err[512], **merged;
	int ret, n, saved = log_level;

	cli_longopts(&cmd, all);
	/* A first parse only to find --config and --no-config. */
	log_level = -1;
	ret = parse_args(argc, argv, &first);
	log_level = saved;
	if (ret < 0)
		return parse_args(argc, argv, o);	/* to say why */
	memset(conf, 0, sizeof(*conf));
	if (!first.no_config) {
		ret = config_load(first.config_path, conf, err, sizeof(err));
		if (ret == -ENOENT &&
		    !strcmp(first.config_path, WATCH_CONFIG)) {
			ret = 0;	/* no file at the default place: fine */
		} else if (ret == -EINVAL) {
			log_error("%s", err);
		} else if (ret < 0) {
			log_error("cannot read configuration '%s': %s",
				  first.config_path, strerror(-ret));
		}
		if (ret == 0 && conf->argc &&
		    config_check(conf, all, err, sizeof(err)) < 0) {
			log_error("%s", err);
			config_free(conf);
			ret = -EINVAL;
		}
		if (ret < 0) {
			watch_opts_free(&first);
			return ret;
		}
	}
	watch_opts_free(&first);
	if (conf->argc) {
		/* The file alone first: a bad value is named by its line. */
		char *prog = argv[0];
		char **words = config_merge_argv(conf, 1, &prog, &n);
		struct watch_opts tmp;

		log_level = -1;
		ret = parse_args(n, words, &tmp);
		log_level = saved;
		if (ret < 0) {
			int bad = optind - 1 >= 1 && optind - 1 <= conf->argc ?
					  optind - 1 : 1;

			log_error("%s:%u: invalid option or value '%s' (see 'dedupd watch --help')",
				  conf->path, conf->lines[bad - 1],
				  words[bad]);
			free(words);
			config_free(conf);
			return ret;
		}
		watch_opts_free(&tmp);
		free(words);
	}
	merged = config_merge_argv(conf, argc, argv, &n);
	ret = parse_args(n, merged, o);
	free(merged);
	return ret;
}

int cmd_watch(int argc, char **argv)
{
	struct watch_opts o;
	struct config conf;

	if (load_options(argc, argv, &conf, &o) < 0)
		return EXIT_USAGE;
	log_level = o.log_level;
	if (!o.nmounts) {
		log_error("watch needs at least one MOUNT, on the command line or as 'mount' in the configuration (see 'dedupd watch --help')");
		return EXIT_USAGE;
	}
	if (o.db_path && o.nmounts > 1) {
		log_error("--db names one index: give one MOUNT");
		return EXIT_USAGE;
	}
	return watch_run(&o, &conf, load_options, argc, argv);
}
