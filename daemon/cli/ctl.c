// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * dedupd ctl: the control commands for pipelines and stores, on libdedupd
 * (dedupd.h) like any other client: "dedupe these paths now and tell me
 * what it freed". A running daemon does the work ahead of its queue;
 * without one it is done here, on the daemon's index.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/cli/commands.h"
#include "daemon/cli/options.h"
#include "daemon/lib/dedupd.h"
#include "daemon/common/djson.h"
#include "daemon/engine/index.h"
#include "daemon/common/log.h"
#include "daemon/engine/pass.h"
#include "daemon/common/util.h"
#include "daemon/common/client.h"

static void ctl_usage(FILE *f)
{
	fprintf(f,
"Usage: dedupd ctl COMMAND [OPTION]... [ARG]...\n"
"Control commands for pipelines and image stores.\n"
"\n"
"Commands:\n"
"  dedupe PATH...  dedupe the files under PATH now and say what was freed\n"
"                  (see 'dedupd ctl dedupe --help')\n"
"\n"
"'dedupd status' shows the running daemon.\n");
}

static void dedupe_usage(FILE *f)
{
	fprintf(f,
"Usage: dedupd ctl dedupe [OPTION]... PATH...\n"
"Dedupe the files under PATH (one filesystem, btrfs or XFS with reflink)\n"
"now, against each other and everything the index knows, and report what\n"
"was deduped and freed. When 'dedupd watch' watches the filesystem it does\n"
"the work, ahead of its queue; otherwise it is done here, on the index the\n"
"daemon uses (its lock held meanwhile; an index another dedupd holds is\n"
"waited for, and a daemon that appears meanwhile is handed the work).\n"
"\n"
"      --wait           return when the work is done (the default)\n"
"      --no-wait        with a daemon: return once it accepted the paths,\n"
"                       print nothing (with --json: {\"queued\":true}); a\n"
"                       daemon run with -v logs the outcome. Without a\n"
"                       daemon the work is done here before returning\n"
"  -j, --json           print the report as one JSON object on stdout\n"
"  -n, --dry-run        report what would be deduped, change nothing\n"
"      --socket PATH    the daemon's control socket (default\n"
"                       $DEDUPD_SOCKET, else the configuration's 'socket',\n"
"                       else " WATCH_SOCKET ")\n"
"      --db PATH        the index when the work is done here (default: the\n"
"                       daemon's, <state-dir>/<fs-uuid>/index)\n"
"      --state-dir DIR  default: the configuration's, else " STATE_DIR "\n"
"      --config PATH    the daemon's configuration, read for 'socket',\n"
"                       'state-dir' and 'db' (default " WATCH_CONFIG ")\n"
"      --no-config      read no configuration\n"
"      --no-daemon      do the work here even if a daemon watches the\n"
"                       filesystem (then its index is in use: exit 4)\n"
"      --lock-timeout SECS  wait at most SECS for an index in use\n"
"                       (default 60; 0: do not wait)\n"
"      --min-size N     skip files smaller than N bytes (default 1)\n"
"  -t, --threads N      hashing threads here (default: one per CPU)\n"
"  -v, --verbose        say more (twice: debug)\n"
"  -q, --quiet          only errors; no report unless --json\n"
"  -h, --help           this text\n"
"\n"
"The report (text, or --json keys): served_by (daemon or local), files_seen,\n"
"files_scanned, files_unchanged, files_skipped, files_changed,\n"
"files_vanished, files_unreadable, files_hardlinks, errors, bytes_hashed,\n"
"bytes_duplicate, bytes_deduped, bytes_already_shared, bytes_relocated,\n"
"bytes_relinked, bytes_freed (used space before minus after: other writers\n"
"count too), dedupe_calls, differs, seconds, dry_run, queued.\n"
"\n"
"Exit status: 0 done (unreadable, vanished or changing files are counted,\n"
"not errors), or accepted with --no-wait; 1 runtime error (a PATH cannot\n"
"be read, PATHs on two filesystems, the daemon failed); 2 usage error;\n"
"3 the filesystem cannot dedupe; 4 no daemon, and the index stayed in use\n"
"by another dedupd for --lock-timeout; 130 interrupted (SIGINT or SIGTERM;\n"
"what was done here is reported, a daemon finishes the work anyway) or\n"
"the daemon stopped before it was done.\n");
}

static struct dedupd *volatile ctl_handle;

static void on_signal(int sig)
{
	(void)sig;
	if (ctl_handle)
		dedupd_interrupt(ctl_handle);
}

/* No SA_RESTART: a wait for the daemon must see the signal. */
static void catch_signals(void)
{
	struct sigaction sa = { .sa_handler = on_signal };

	sigemptyset(&sa.sa_mask);
	(void)sigaction(SIGINT, &sa, NULL);
	(void)sigaction(SIGTERM, &sa, NULL);
}

static void print_report(FILE *out, const struct dedupd_stats *st,
			 const char *served_by, bool dry_run, bool json)
{
	char b[6][32];
	int64_t fr = st->bytes_freed;

	if (json) {
		struct djson_field f[] = {
			DJSON_STR("served_by", served_by),
			DJSON_BOOL("dry_run", dry_run),
			DJSON_BOOL("queued", false),
			DJSON_U64("files_seen", st->files_seen),
			DJSON_U64("files_scanned", st->files_scanned),
			DJSON_U64("files_unchanged", st->files_unchanged),
			DJSON_U64("files_skipped", st->files_skipped),
			DJSON_U64("files_changed", st->files_changed),
			DJSON_U64("files_vanished", st->files_vanished),
			DJSON_U64("files_unreadable", st->files_unreadable),
			DJSON_U64("files_hardlinks", st->files_hardlinks),
			DJSON_U64("errors", st->errors),
			DJSON_U64("bytes_hashed", st->bytes_hashed),
			DJSON_U64("bytes_duplicate", st->bytes_duplicate),
			DJSON_U64("bytes_deduped", st->bytes_deduped),
			DJSON_U64("bytes_already_shared",
				  st->bytes_already_shared),
			DJSON_U64("bytes_relocated", st->bytes_relocated),
			DJSON_U64("bytes_relinked", st->bytes_relinked),
			DJSON_I64("bytes_freed", fr),
			DJSON_U64("dedupe_calls", st->dedupe_calls),
			DJSON_U64("differs", st->differs),
			DJSON_REAL("seconds", st->seconds, 3),
		};
		int ret = djson_print_fields(out, f, DJSON_NFIELDS(f));

		if (ret < 0)
			log_error("cannot write the report: %s",
				  strerror(-ret));
		return;
	}
	fprintf(out, "%s %s, freed %s%s, in %.1f s (%s)\n",
		dry_run ? "would dedupe" : "deduped",
		fmt_bytes(st->bytes_deduped, b[0], sizeof(b[0])),
		fr < 0 ? "-" : "",
		fmt_bytes((uint64_t)(fr < 0 ? -fr : fr), b[1], sizeof(b[1])),
		st->seconds,
		strcmp(served_by, "daemon") ? "done here" :
					      "by the running dedupd watch");
	fprintf(out, "  files      %llu (%llu scanned, %llu unchanged, "
		"%llu skipped, %llu hard links, %llu changed, %llu vanished, "
		"%llu unreadable), %llu errors\n",
		(unsigned long long)st->files_seen,
		(unsigned long long)st->files_scanned,
		(unsigned long long)st->files_unchanged,
		(unsigned long long)st->files_skipped,
		(unsigned long long)st->files_hardlinks,
		(unsigned long long)st->files_changed,
		(unsigned long long)st->files_vanished,
		(unsigned long long)st->files_unreadable,
		(unsigned long long)st->errors);
	fprintf(out, "  hashed     %s\n",
		fmt_bytes(st->bytes_hashed, b[2], sizeof(b[2])));
	fprintf(out, "  duplicate  %s\n",
		fmt_bytes(st->bytes_duplicate, b[3], sizeof(b[3])));
	if (dry_run)
		return;
	fprintf(out, "  relocated  %s\n",
		fmt_bytes(st->bytes_relocated, b[4], sizeof(b[4])));
	fprintf(out, "  relinked   %s\n",
		fmt_bytes(st->bytes_relinked, b[5], sizeof(b[5])));
}

/* "60", "1.5", "500ms", "2m": seconds, as a whole number of ms. */
static int parse_timeout(const char *s, int *ret_ms)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || v < 0)
		return -EINVAL;
	if (!strcmp(end, "ms"))
		v /= 1000;
	else if (!strcmp(end, "m"))
		v *= 60;
	else if (*end && strcmp(end, "s"))
		return -EINVAL;
	if (v > 86400)
		return -ERANGE;
	*ret_ms = (int)(v * 1000);
	return 0;
}

enum {
	OPT_WAIT = 256, OPT_NO_WAIT, OPT_NO_DAEMON, OPT_LOCK_TIMEOUT,
};

struct dedupe_args {
	struct dedupd_options o;
	bool json, dry_run, no_config;
};

/* One of ctl dedupe's own options (options.h). */
static int dedupe_option(void *ctx, int c, const char *name, const char *arg)
{
	struct dedupe_args *a = ctx;
	struct dedupd_options *o = &a->o;

	(void)name;
	switch (c) {
	case OPT_WAIT:
		o->flags &= ~DEDUPD_NO_WAIT;
		return 0;
	case OPT_NO_WAIT:
		o->flags |= DEDUPD_NO_WAIT;
		return 0;
	case OPT_NO_DAEMON:
		o->flags |= DEDUPD_NO_DAEMON;
		return 0;
	case OPT_LOCK_TIMEOUT:
		if (parse_timeout(arg, &o->lock_timeout_ms)) {
			log_error("invalid --lock-timeout '%s' (seconds, e.g. 60 or 500ms)",
				  arg);
			return -EINVAL;
		}
		if (!o->lock_timeout_ms)
			o->lock_timeout_ms = -1;	/* do not wait */
		return 0;
	}
	return -EINVAL;
}

/* Returns 0, 1 after --help, or -EINVAL after a usage error. */
static int parse_dedupe_args(int argc, char **argv, struct dedupe_args *a)
{
	static const struct option longopts[] = {
		{ "wait", no_argument, NULL, OPT_WAIT },
		{ "no-wait", no_argument, NULL, OPT_NO_WAIT },
		{ "no-daemon", no_argument, NULL, OPT_NO_DAEMON },
		{ "lock-timeout", required_argument, NULL, OPT_LOCK_TIMEOUT },
		{ NULL, 0, NULL, 0 },
	};
	const struct cli_command cmd = {
		.name = "ctl dedupe", .verb = "dedupe", .shortopts = "",
		.longopts = longopts, .usage = dedupe_usage,
		.option = dedupe_option, .ctx = a,
		.shared = {
			.dry_run = &a->dry_run, .json = &a->json,
			.threads = &a->o.threads, .min_size = &a->o.min_size,
			.db = &a->o.index_path, .socket = &a->o.socket_path,
			.state_dir = &a->o.state_dir,
			.config = &a->o.config_path,
			.no_config = &a->no_config,
		},
	};
	int ret;

	a->o.lock_timeout_ms = 60000;
	ret = cli_parse(argc, argv, &cmd);
	if (ret)
		return ret;
	if (a->dry_run)
		a->o.flags |= DEDUPD_DRY_RUN;
	if (a->no_config)
		a->o.flags |= DEDUPD_NO_CONFIG;
	return cli_need_paths(argc, &cmd);
}

/* The exit status (enum exit_code) of dedupd_dedupe_paths()'s @ret. */
static int dedupe_exit_code(int ret)
{
	switch (ret) {
	case 0:
		return EXIT_OK;
	case -EINTR:
	case -ECANCELED:
		return EXIT_INTERRUPTED;
	case -EWOULDBLOCK:
		return EXIT_INDEX_LOCKED;
	case -EOPNOTSUPP:
		return EXIT_UNSUPPORTED_FS;
	default:
		return EXIT_RUNTIME;
	}
}

/* Says how the dedupe of @d went (@ret): queued, or its report. */
static void dedupe_outcome(struct dedupd *d, int ret,
			   const struct dedupe_args *a)
{
	struct dedupd_stats st;
	const char *by;

	(void)dedupd_get_stats(d, &st, sizeof(st));
	by = dedupd_served_by(d);
	if (ret < 0)
		log_error("%s", dedupd_errmsg(d) ? dedupd_errmsg(d) :
						   dedupd_strerror(ret));
	if (st.calls_queued) {
		log_info("handed to the running dedupd watch, which does it after returning");
		if (a->json) {
			struct djson_field f[] = {
				DJSON_STR("served_by", "daemon"),
				DJSON_BOOL("queued", true),
			};
			int err = djson_print_fields(stdout, f,
						     DJSON_NFIELDS(f));

			if (err < 0)
				log_error("cannot write the report: %s",
					  strerror(-err));
		}
	} else if (by && (!ret || (ret == -EINTR && !strcmp(by, "local"))) &&
		   (a->json || log_level >= LOG_LVL_WARN)) {
		print_report(stdout, &st, by, a->o.flags & DEDUPD_DRY_RUN,
			     a->json);
	}
}

static int cmd_ctl_dedupe(int argc, char **argv)
{
	struct dedupe_args a = { .o = DEDUPD_OPTIONS_INIT };
	struct dedupd *d;
	int ret, rc;

	ret = parse_dedupe_args(argc, argv, &a);
	if (ret)
		return ret > 0 ? EXIT_OK : EXIT_USAGE;
	raise_fd_limit();

	d = dedupd_open(argv[optind], &a.o, &ret);
	if (!d) {
		if (ret == -EOPNOTSUPP) {
			log_error("'%s' is on a filesystem that cannot dedupe (dedupd needs btrfs, or XFS with reflink)",
				  argv[optind]);
			return EXIT_UNSUPPORTED_FS;
		}
		log_error("cannot open '%s': %s", argv[optind],
			  dedupd_strerror(ret));
		return EXIT_RUNTIME;
	}
	ctl_handle = d;
	catch_signals();
	ret = dedupd_dedupe_paths(d, (const char *const *)argv + optind,
				  (size_t)(argc - optind));
	ctl_handle = NULL;
	rc = dedupe_exit_code(ret);
	dedupe_outcome(d, ret, &a);
	dedupd_close(d);
	return rc;
}

int cmd_ctl(int argc, char **argv)
{
	const char *sub = argc > 1 ? argv[1] : NULL;

	if (!sub) {
		log_error("ctl needs a command, e.g. 'dedupe' (see 'dedupd ctl --help')");
		return EXIT_USAGE;
	}
	if (!strcmp(sub, "--help") || !strcmp(sub, "-h") ||
	    !strcmp(sub, "help")) {
		ctl_usage(stdout);
		printf("\n");
		dedupe_usage(stdout);
		return EXIT_OK;
	}
	if (!strcmp(sub, "dedupe"))
		return cli_run("dedupd ctl dedupe", cmd_ctl_dedupe, argc, argv);
	log_error("unknown ctl command '%s' (see 'dedupd ctl --help')", sub);
	return EXIT_USAGE;
}
