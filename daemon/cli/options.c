// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The options every command shares and their errors (options.h): one
 * getopt_long loop for every command, each command's own options handed to
 * it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "daemon/cli/options.h"
#include "daemon/common/log.h"
#include "daemon/common/util.h"
#include "daemon/engine/walk.h"
#include "hashdb/hashdb.h"
#include "ioctl-compat/fsprobe.h"

enum {
	OPT_MIN_SIZE = 0x1000, OPT_NO_PROGRESS, OPT_SNAPSHOTS, OPT_DOMAIN,
	OPT_DB, OPT_DB_SIZE, OPT_SOCKET, OPT_STATE_DIR, OPT_CONFIG,
	OPT_NO_CONFIG, OPT_READ_ALL,
};

#define ALWAYS SIZE_MAX
#define FIELD(f) offsetof(struct cli_shared, f)

/* The shared options: the letter, and which pointer of cli_shared takes it. */
static const struct {
	struct option opt;
	const char *shortopt;	/* "" for a long option only */
	size_t field;		/* ALWAYS: every command takes it */
} shared_opts[] = {
	{ { "verbose", no_argument, NULL, 'v' }, "v", ALWAYS },
	{ { "quiet", no_argument, NULL, 'q' }, "q", ALWAYS },
	{ { "help", no_argument, NULL, 'h' }, "h", ALWAYS },
	{ { "dry-run", no_argument, NULL, 'n' }, "n", FIELD(dry_run) },
	{ { "json", no_argument, NULL, 'j' }, "j", FIELD(json) },
	{ { "no-progress", no_argument, NULL, OPT_NO_PROGRESS }, "",
	  FIELD(progress) },
	{ { "exclude", required_argument, NULL, 'x' }, "x:", FIELD(walk) },
	{ { "threads", required_argument, NULL, 't' }, "t:", FIELD(threads) },
	{ { "min-size", required_argument, NULL, OPT_MIN_SIZE }, "",
	  FIELD(min_size) },
	{ { "snapshots", required_argument, NULL, OPT_SNAPSHOTS }, "",
	  FIELD(skip_snapshots) },
	{ { "domain", required_argument, NULL, OPT_DOMAIN }, "", FIELD(domain) },
	{ { "db", required_argument, NULL, OPT_DB }, "", FIELD(db) },
	{ { "db-size", required_argument, NULL, OPT_DB_SIZE }, "",
	  FIELD(db_size) },
	{ { "socket", required_argument, NULL, OPT_SOCKET }, "", FIELD(socket) },
	{ { "state-dir", required_argument, NULL, OPT_STATE_DIR }, "",
	  FIELD(state_dir) },
	{ { "config", required_argument, NULL, OPT_CONFIG }, "", FIELD(config) },
	{ { "no-config", no_argument, NULL, OPT_NO_CONFIG }, "",
	  FIELD(no_config) },
	{ { "read-all", no_argument, NULL, OPT_READ_ALL }, "",
	  FIELD(read_all) },
};

#define NSHARED (sizeof(shared_opts) / sizeof(shared_opts[0]))

static bool takes(const struct cli_shared *sh, size_t i)
{
	void *p;

	if (shared_opts[i].field == ALWAYS)
		return true;
	memcpy(&p, (const char *)sh + shared_opts[i].field, sizeof(p));
	return p != NULL;
}

void cli_longopts(const struct cli_command *cmd, struct option *all)
{
	size_t n = 0, i;

	while (cmd->longopts && cmd->longopts[n].name)
		n++;
	if (n + NSHARED + 1 > CLI_OPTIONS_MAX)
		abort();	/* a command with too many options: a bug */
	memcpy(all, cmd->longopts, n * sizeof(*all));
	for (i = 0; i < NSHARED; i++)
		if (takes(&cmd->shared, i))
			all[n++] = shared_opts[i].opt;
	memset(&all[n], 0, sizeof(*all));
}

static void shortopts_of(const struct cli_command *cmd, char *buf, size_t len)
{
	size_t i, n;

	n = (size_t)snprintf(buf, len, ":%s", cmd->shortopts);
	for (i = 0; i < NSHARED && n < len; i++)
		if (takes(&cmd->shared, i))
			n += (size_t)snprintf(buf + n, len - n, "%s",
					      shared_opts[i].shortopt);
	if (n >= len)
		abort();	/* a bug, as above */
}

static int cli_threads(const char *arg, unsigned int *ret)
{
	uint64_t v;

	if (parse_size(arg, &v) || v < 1 || v > 256) {
		log_error("invalid --threads '%s' (1 to 256)", arg);
		return -EINVAL;
	}
	*ret = (unsigned int)v;
	return 0;
}

static int cli_sizes(int c, const char *arg, const struct cli_shared *sh)
{
	uint64_t v;

	if (c == OPT_MIN_SIZE) {
		if (parse_size(arg, sh->min_size)) {
			log_error("invalid --min-size '%s'", arg);
			return -EINVAL;
		}
		return 0;
	}
	if (parse_size(arg, &v) || v < HASHDB_MIN_SIZE || v > HASHDB_MAX_SIZE) {
		log_error("invalid --db-size '%s' (256K to 1T, e.g. 64M)", arg);
		return -EINVAL;
	}
	*sh->db_size = v;
	return 0;
}

static int cli_modes(int c, const char *arg, const struct cli_shared *sh)
{
	if (c == OPT_SNAPSHOTS) {
		if (parse_snapshots_mode(arg, sh->skip_snapshots)) {
			log_error("invalid --snapshots '%s' (follow or skip)",
				  arg);
			return -EINVAL;
		}
		return 0;
	}
	if (parse_domain(arg, sh->domain)) {
		log_error("invalid --domain '%s' (none, owner or subvolume)",
			  arg);
		return -EINVAL;
	}
	return 0;
}

static void add_exclude(struct walk_opts *w, const char *glob)
{
	w->excludes = xrealloc(w->excludes,
			       (w->nexcludes + 1) * sizeof(*w->excludes));
	w->excludes[w->nexcludes++] = (char *)glob;
}

/* One of the shared options that take an argument. */
static int shared_value(int c, const char *arg, const struct cli_shared *sh)
{
	switch (c) {
	case 'x':
		add_exclude(sh->walk, arg);
		return 0;
	case 't':
		return cli_threads(arg, sh->threads);
	case OPT_MIN_SIZE:
	case OPT_DB_SIZE:
		return cli_sizes(c, arg, sh);
	case OPT_SNAPSHOTS:
	case OPT_DOMAIN:
		return cli_modes(c, arg, sh);
	case OPT_DB:
		*sh->db = arg;
		return cli_path("--db", arg);
	case OPT_CONFIG:
		*sh->config = arg;
		return cli_path("--config", arg);
	case OPT_STATE_DIR:
		if (arg[0] != '/') {
			log_error("--state-dir needs an absolute path");
			return -EINVAL;
		}
		*sh->state_dir = arg;
		return 0;
	case OPT_SOCKET:
		if (!*arg || strlen(arg) >=
			sizeof(((struct sockaddr_un *)0)->sun_path)) {
			log_error("invalid --socket '%s'", arg);
			return -EINVAL;
		}
		*sh->socket = arg;
		return 0;
	}
	return 1;
}

/*
 * One of the shared options, a missing argument or an unknown option.
 * Returns 0, 1 after --help, -EINVAL (logged), or 2 if @c is the command's.
 */
static int shared_option(int c, char **argv, const char *arg,
			 const struct cli_command *cmd)
{
	const struct cli_shared *sh = &cmd->shared;
	int *level = sh->log_level ? sh->log_level : &log_level;
	int ret;

	switch (c) {
	case 'v':
		if (*level < LOG_LVL_DEBUG)
			(*level)++;
		return 0;
	case 'q':
		*level = LOG_LVL_ERROR;
		return 0;
	case 'h':
		cmd->usage(stdout);
		return 1;
	case 'n':
		*sh->dry_run = true;
		return 0;
	case 'j':
		*sh->json = true;
		return 0;
	case OPT_NO_PROGRESS:
		*sh->progress = false;
		return 0;
	case OPT_NO_CONFIG:
		*sh->no_config = true;
		return 0;
	case OPT_READ_ALL:
		*sh->read_all = true;
		return 0;
	case ':':
		log_error("option '%s' needs an argument (see 'dedupd %s --help')",
			  argv[optind - 1], cmd->name);
		return -EINVAL;
	case '?':
		if (optopt)
			log_error("unknown option '-%c' (see 'dedupd %s --help')",
				  optopt, cmd->name);
		else
			log_error("unknown option '%s' (see 'dedupd %s --help')",
				  argv[optind - 1], cmd->name);
		return -EINVAL;
	}
	ret = shared_value(c, arg, sh);
	return ret == 1 ? 2 : ret;
}

/* The long name of the command's option @c, as "--name", or "-c". */
static const char *name_of(int c, int li, const struct option *longopts,
			   char *buf, size_t len)
{
	int i;

	for (i = 0; li < 0 && longopts[i].name; i++)
		if (longopts[i].val == c)
			li = i;
	if (li >= 0)
		snprintf(buf, len, "--%s", longopts[li].name);
	else
		snprintf(buf, len, "-%c", c);
	return buf;
}

int cli_parse(int argc, char **argv, const struct cli_command *cmd)
{
	struct option longopts[CLI_OPTIONS_MAX];
	char shortopts[64], name[64];
	int c, li, ret;

	cli_longopts(cmd, longopts);
	shortopts_of(cmd, shortopts, sizeof(shortopts));
	optind = 1;
	opterr = 0;	/* our own one-line errors */
	for (;;) {
		li = -1;
		c = getopt_long(argc, argv, shortopts, longopts, &li);
		if (c == -1)
			break;
		ret = shared_option(c, argv, optarg, cmd);
		if (ret == 2 && !cmd->option)
			ret = -EINVAL;	/* a shared one it does not take: a bug */
		if (ret == 2)
			ret = cmd->option(cmd->ctx, c,
					  name_of(c, li, longopts, name,
						  sizeof(name)),
					  optarg);
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

void cli_default_threads(unsigned int *threads)
{
	long n;

	if (*threads)
		return;
	n = sysconf(_SC_NPROCESSORS_ONLN);
	*threads = n > 0 ? (unsigned int)n : 1;
}

int cli_path(const char *name, const char *arg)
{
	if (!*arg) {
		log_error("%s needs a path", name);
		return -EINVAL;
	}
	return 0;
}

int cli_run(const char *prog, int (*fn)(int, char **), int argc, char **argv)
{
	/* getopt names argv[0] in its messages; argv[1] becomes it */
	static char name[64];

	snprintf(name, sizeof(name), "%s", prog);
	argv[1] = name;
	return fn(argc - 1, argv + 1);
}

int cli_open_paths(int argc, char **argv, const char *verb, bool ext4,
		   struct fs_info *fs0, int *rc)
{
	int root_fd = -1, ret, i;

	for (i = optind; i < argc; i++) {
		struct fs_info fs;
		int fd = open(argv[i], O_RDONLY | O_CLOEXEC | O_NONBLOCK);

		if (fd < 0) {
			log_error("cannot open '%s': %s", argv[i],
				  strerror(errno));
			goto fail;
		}
		ret = fs_probe(fd, 0, &fs);
		if (ret < 0) {
			log_error("cannot probe the filesystem of '%s': %s",
				  argv[i], strerror(-ret));
			close(fd);
			goto fail;
		}
		if (!fs.can_dedupe && !(ext4 && fs.kind == FS_EXT4)) {
			if (ext4)
				log_error("'%s' is on %s: dedupd defrags btrfs, XFS with reflink and ext4",
					  argv[i], fs.name);
			else
				log_error("'%s' is on %s, which cannot dedupe (dedupd needs btrfs, or XFS with reflink)",
					  argv[i], fs.name);
			close(fd);
			*rc = EXIT_UNSUPPORTED_FS;
			goto fail;
		}
		if (root_fd < 0) {
			*fs0 = fs;
			root_fd = fd;
			continue;
		}
		if (memcmp(fs.uuid, fs0->uuid, sizeof(fs.uuid))) {
			log_error("'%s' is on another filesystem than '%s': %s one filesystem at a time",
				  argv[i], argv[optind], verb);
			close(fd);
			goto fail;
		}
		close(fd);
	}
	return root_fd;
fail:
	if (root_fd >= 0)
		close(root_fd);
	return -1;
}
