// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * dedupd scan: a one-shot pass over one filesystem.
 *
 * The walk feeds batches of files; each batch is hashed and matched on all
 * cores, then its dedupes are executed while the data are still in the page
 * cache. The index persists, so a second pass over an unchanged tree hashes
 * nothing.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "daemon/cli/commands.h"
#include "daemon/cli/options.h"
#include "daemon/engine/report.h"
#include "daemon/common/djson.h"
#include "daemon/engine/engine.h"
#include "daemon/engine/index.h"
#include "daemon/common/log.h"
#include "daemon/engine/pass.h"
#include "daemon/cli/progress.h"
#include "daemon/common/util.h"
#include "daemon/engine/walk.h"
#include "daemon/common/client.h"
#include "ioctl-compat/fsprobe.h"


struct scan_opts {
	bool dry_run, json, progress, no_daemon, skip_snapshots, read_all;
	enum dedupe_domain domain;
	const char *db_path;
	uint64_t db_size;
	struct walk_opts walk;
	uint64_t min_size;
	unsigned int threads;
};

static void scan_usage(FILE *f)
{
	fprintf(f,
"Usage: dedupd scan [OPTION]... PATH...\n"
"Find duplicate blocks in the files under PATH (one filesystem, btrfs or XFS\n"
"with reflink) and share them with FIDEDUPERANGE: the kernel compares the\n"
"data before sharing, so a file that changes meanwhile is never harmed.\n"
"The PATHs choose which data is looked at and can serve as a source; on\n"
"btrfs, other references to the data that moves (read-only snapshots kept\n"
"elsewhere, reflinked copies, other subvolumes) are followed only to free\n"
"the space, and keep their contents bit for bit.\n"
"\n"
"  -n, --dry-run        hash and match, report what would be deduped, change\n"
"                       nothing (the index is updated, file cookies are not)\n"
"  -j, --json           print the report as one JSON object on stdout\n"
"      --db PATH        index file (default " STATE_DIR "/<fs-uuid>/index)\n"
"      --db-size SIZE   index budget, 256K to 1T (default: 16 bytes per\n"
"                       used block of the filesystem, 16M to 1G); 16 bytes\n"
"                       index one 4 KiB block, beyond that blocks are sampled\n"
"  -x, --exclude GLOB   skip what matches GLOB: without '/', the name; with\n"
"                       '/', the whole path (repeatable)\n"
"      --min-size N     skip files smaller than N bytes (default 1)\n"
"  -t, --threads N      hashing threads (default: one per CPU)\n"
"      --no-progress    no progress bar, even on a terminal\n"
"      --snapshots=MODE follow (default): read-only snapshots that refer to\n"
"                       deduped data are deduped too, so its old extents\n"
"                       are freed; skip: they are left untouched (frees\n"
"                       less, never uses more)\n"
"      --domain=MODE    which files may share blocks: none (default): any;\n"
"                       owner: files of the same owner; subvolume: files of\n"
"                       the same btrfs subvolume (not handed to a daemon)\n"
"      --read-all       read every block (on btrfs, blocks with a checksum\n"
"                       are otherwise keyed by it, from the csum tree, and\n"
"                       not read; not handed to a daemon)\n"
"      --no-daemon      scan here even when 'dedupd watch' watches the\n"
"                       filesystem (by default, without --db, the scan is\n"
"                       handed to the daemon, which owns the index; the\n"
"                       socket is $DEDUPD_SOCKET or " WATCH_SOCKET ")\n"
"  -v, --verbose        say more (twice: debug)\n"
"  -q, --quiet          only errors; no report unless --json\n"
"  -h, --help           this text\n"
"\n"
"Files that cannot be read, vanish, change or are replaced by another file\n"
"during the scan are counted in the report and skipped; so are FIFOs, sockets\n"
"and devices (never opened) and directories more than 512 levels down. A\n"
"damaged or foreign index is rebuilt.\n"
"\n"
"Exit status: 0 done; 1 runtime error; 2 usage error; 3 the filesystem\n"
"cannot dedupe (e.g. ext4, tmpfs, XFS without reflink); 4 the index is in use\n"
"by another dedupd; 130 interrupted (SIGINT or SIGTERM: the files in flight\n"
"were finished, the index saved and the report printed).\n");
}

enum { OPT_NO_DAEMON = 256 };

/* One of scan's own options (options.h). */
static int scan_option(void *ctx, int c, const char *name, const char *arg)
{
	struct scan_opts *o = ctx;

	(void)name;
	(void)arg;
	if (c != OPT_NO_DAEMON)
		return -EINVAL;
	o->no_daemon = true;
	return 0;
}

/* Returns 0, 1 after --help, or -EINVAL after a usage error. */
static int parse_args(int argc, char **argv, struct scan_opts *o)
{
	static const struct option longopts[] = {
		{ "no-daemon", no_argument, NULL, OPT_NO_DAEMON },
		{ NULL, 0, NULL, 0 },
	};
	const struct cli_command cmd = {
		.name = "scan", .verb = "scan", .shortopts = "",
		.longopts = longopts, .usage = scan_usage,
		.option = scan_option, .ctx = o,
		.shared = {
			.dry_run = &o->dry_run, .json = &o->json,
			.progress = &o->progress, .walk = &o->walk,
			.threads = &o->threads, .min_size = &o->min_size,
			.skip_snapshots = &o->skip_snapshots,
			.domain = &o->domain, .db = &o->db_path,
			.db_size = &o->db_size, .read_all = &o->read_all,
		},
	};
	int ret;

	o->progress = true;
	ret = cli_parse(argc, argv, &cmd);
	if (ret)
		return ret;
	if (cli_need_paths(argc, &cmd))
		return -EINVAL;
	cli_default_threads(&o->threads);
	if (!o->min_size)
		o->min_size = 1;
	o->walk.min_size = o->min_size;
	return 0;
}

/*
 * SIGINT and SIGTERM stop the walk and the taking of new files; the files
 * in flight finish, the index is saved and the report printed.
 */
static void on_signal(int sig)
{
	(void)sig;
	pass_stop = 1;
}

static void catch_signals(void)
{
	struct sigaction sa = { .sa_handler = on_signal };

	sigemptyset(&sa.sa_mask);
	(void)sigaction(SIGINT, &sa, NULL);
	(void)sigaction(SIGTERM, &sa, NULL);
}

/*
 * The walk runs in its own thread ahead of the hashing, through a bounded
 * queue: on a cold cache reading directories and inodes is I/O too, and it
 * overlaps the reading of data instead of taking turns with it.
 */
#define WALK_QUEUE 8192

struct walk_queue {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct { char *path; uint64_t dev, ino, size; } v[WALK_QUEUE];
	size_t head, n;
	bool done;
	int ret;		/* of the first walk that failed */
	const char *failed;	/* its PATH */
	/* for the walker */
	char **paths;
	int npaths;
	const struct walk_opts *opts;
	struct walk_stats *stats;
	struct pass *direct;	/* no thread: files go straight in */
};

static int enqueue_file(void *arg, int dfd, const char *name,
			const char *path, const struct stat *sb)
{
	struct walk_queue *q = arg;
	size_t tail;
	char *dup;

	(void)dfd;
	(void)name;
	if (pass_stop)
		return -EINTR;
	/* The hasher opens it by path: one too long for that is too deep. */
	if (strlen(path) >= PATH_MAX) {
		log_warn("'%s' has a path longer than %d bytes, skipping", path,
			 PATH_MAX - 1);
		q->stats->too_deep++;	/* the walk's own thread */
		return 0;
	}
	dup = xstrdup(path);
	if (q->direct) {
		pass_add_walked(q->direct, dup, (uint64_t)sb->st_dev,
				(uint64_t)sb->st_ino, (uint64_t)sb->st_size);
		return 0;
	}
	pthread_mutex_lock(&q->lock);
	while (q->n == WALK_QUEUE)
		pthread_cond_wait(&q->cond, &q->lock);
	tail = (q->head + q->n) % WALK_QUEUE;
	q->v[tail].path = dup;
	q->v[tail].dev = (uint64_t)sb->st_dev;
	q->v[tail].ino = (uint64_t)sb->st_ino;
	q->v[tail].size = (uint64_t)sb->st_size;
	if (q->n++ == 0)
		pthread_cond_broadcast(&q->cond);
	pthread_mutex_unlock(&q->lock);
	return 0;
}

static void *walk_thread(void *arg)
{
	struct walk_queue *q = arg;
	int i, ret;

	for (i = 0; i < q->npaths; i++) {
		ret = walk_tree(q->paths[i], q->opts, q->stats, enqueue_file,
				q);
		if (ret == -EINTR)
			break;
		if (ret < 0) {
			q->ret = ret;
			q->failed = q->paths[i];
			break;
		}
	}
	pthread_mutex_lock(&q->lock);
	q->done = true;
	pthread_cond_broadcast(&q->cond);
	pthread_mutex_unlock(&q->lock);
	return NULL;
}

/* Takes the walk's files into batches until the walk ends. */
static void consume_walk(struct walk_queue *q, struct pass *p)
{
	for (;;) {
		char *path;
		uint64_t dev, ino, size;

		pthread_mutex_lock(&q->lock);
		while (!q->n && !q->done)
			pthread_cond_wait(&q->cond, &q->lock);
		if (!q->n) {
			pthread_mutex_unlock(&q->lock);
			return;
		}
		path = q->v[q->head].path;
		dev = q->v[q->head].dev;
		ino = q->v[q->head].ino;
		size = q->v[q->head].size;
		q->head = (q->head + 1) % WALK_QUEUE;
		if (q->n-- == WALK_QUEUE)
			pthread_cond_broadcast(&q->cond);
		pthread_mutex_unlock(&q->lock);
		pass_add_walked(p, path, dev, ino, size);
	}
}

static int count_file(void *arg, int dfd, const char *name,
		      const char *path, const struct stat *sb)
{
	(void)dfd;
	(void)name;
	(void)path;
	*(uint64_t *)arg += (uint64_t)sb->st_size;
	return 0;
}

/*
 * Hands the scan to a running daemon that watches the filesystem: it owns
 * the index. Returns 1 and sets *@rc if it did the scan, 0 if no daemon
 * takes it (then the scan runs here).
 */
static int hand_over(const struct scan_opts *o, int argc, char **argv,
		     int *rc)
{
	struct watch_scan r = {
		.dry_run = o->dry_run, .json = o->json,
		.min_size = o->min_size,
		.excludes = o->walk.excludes, .nexcludes = o->walk.nexcludes,
		.paths = (const char *const *)argv + optind,
		.npaths = (size_t)(argc - optind),
	};
	char *body = NULL;
	int code;

	if (watch_scan_request(watch_socket_path(NULL), &r, NULL, &code,
			       &body) != 1)
		return 0;
	if (code == EXIT_OK || code == EXIT_INTERRUPTED) {
		log_info("handed to the running dedupd watch, which owns the index");
		if (o->json || log_level >= LOG_LVL_WARN)
			fputs(body, stdout);
	} else {
		body[strcspn(body, "\n")] = '\0';
		log_error("the running dedupd watch: %s", body);
	}
	free(body);
	*rc = code;
	return 1;
}

/*
 * Sets @e up for the filesystem of @root_fd (@path, the first PATH), as
 * @o asks. Returns 0, or -1 once the error is logged.
 */
static int setup_engine(struct engine *e, struct scan_opts *o, int root_fd,
			const char *path)
{
	struct statx stx;
	struct stat sb;

	if (fstat(root_fd, &sb) < 0)
		return -1;
	if (!S_ISDIR(sb.st_mode)) {
		/* A file: relocation temp files go in its directory. */
		char *dup = xstrdup(path);

		e->tmp_dir = xstrdup(dirname(dup));
		free(dup);
	} else {
		e->tmp_dir = xstrdup(path);
	}
	e->skip_snapshots = o->skip_snapshots;
	e->read_all = o->read_all;
	e->domain = o->domain;
	if (engine_init(e, root_fd) < 0)
		return -1;
	if (statx(root_fd, "", AT_EMPTY_PATH, STATX_MNT_ID, &stx) < 0) {
		log_error("cannot stat '%s': %s", path, strerror(errno));
		return -1;
	}
	e->mnt_id = (int)stx.stx_mnt_id;
	o->walk.mnt_id = e->mnt_id;
	e->dry_run = o->dry_run;
	e->min_size = o->min_size;
	e->threads = o->threads;
	return 0;
}

/*
 * Walks the @n @paths into @p, in a thread of its own if one can be made.
 * Returns 0, or the walk's -errno once it is logged.
 */
static int walk_paths(char **paths, int n, const struct walk_opts *opts,
		      struct walk_stats *ws, struct pass *p)
{
	static struct walk_queue q;
	pthread_t tid;

	memset(&q, 0, sizeof(q));
	pthread_mutex_init(&q.lock, NULL);
	pthread_cond_init(&q.cond, NULL);
	q.paths = paths;
	q.npaths = n;
	q.opts = opts;
	q.stats = ws;
	if (pthread_create(&tid, NULL, walk_thread, &q)) {
		q.direct = p;
		walk_thread(&q);
	} else {
		consume_walk(&q, p);
		pthread_join(tid, NULL);
	}
	if (q.ret < 0) {
		progress_stop();
		log_error("cannot read '%s': %s", q.failed, strerror(-q.ret));
	}
	return q.ret < 0 ? q.ret : 0;
}

/* What the walk left out counts in the pass's report. */
static void add_walk_stats(struct engine *e, const struct walk_stats *ws)
{
	atomic_fetch_add(&e->st.files_skipped, ws->excluded + ws->small);
	atomic_fetch_add(&e->st.files_seen, ws->excluded + ws->small);
	if (ws->errors)
		atomic_fetch_add(&e->st.files_unreadable, ws->errors);
	atomic_fetch_add(&e->st.files_special, ws->special);
	atomic_fetch_add(&e->st.too_deep, ws->too_deep);
}

int cmd_scan(int argc, char **argv)
{
	struct scan_opts o = { 0 };
	struct engine e = { 0 };
	struct pass pipe;
	struct walk_stats ws = { 0 };
	char db_buf[PATH_MAX];
	const char *db_path;
	uint64_t used_before = 0, used_after = 0, total = 0;
	double t0 = now_sec();
	int root_fd = -1, ret, rc = EXIT_RUNTIME, open_result;
	bool index_lost_now = false;
	int i;

	pass_init(&pipe, &e);
	ret = parse_args(argc, argv, &o);
	if (ret)
		return ret > 0 ? EXIT_OK : EXIT_USAGE;
	raise_fd_limit();
	catch_signals();

	/* Every PATH must be on one filesystem that can dedupe. */
	root_fd = cli_open_paths(argc, argv, "scan", false, &e.fs, &rc);
	if (root_fd < 0)
		goto out;
	if (setup_engine(&e, &o, root_fd, argv[optind]) < 0)
		goto out;
	/*
	 * The daemon dedupes with its own --domain, --snapshots and
	 * --read-all: a scan
	 * asking for others is not handed over (it runs here, and needs an
	 * index of its own when the daemon holds the default one).
	 */
	if (!o.db_path && !o.no_daemon && o.domain == DOMAIN_NONE &&
	    !o.skip_snapshots && !o.read_all &&
	    hand_over(&o, argc, argv, &rc))
		goto out;
	index_guard_sigbus();
	open_result = index_open(&e, root_fd, STATE_DIR, o.db_path, o.db_size,
				 db_buf, sizeof(db_buf));
	if (open_result == -EWOULDBLOCK) {
		rc = EXIT_INDEX_LOCKED;
		goto out;
	}
	if (open_result < 0)
		goto out;
	db_path = db_buf;

	if (fs_used_bytes(root_fd, &used_before) < 0)
		used_before = 0;
	if (o.progress && log_level >= LOG_LVL_WARN && isatty(STDERR_FILENO)) {
		struct walk_stats cs = { 0 };

		for (i = optind; i < argc; i++)
			(void)walk_tree(argv[i], &o.walk, &cs, count_file,
					&total);
		progress_start(&e.st, total);
	}
	if (walk_paths(argv + optind, argc - optind, &o.walk, &ws, &pipe) < 0)
		goto out_db;
	pass_flush(&pipe);
	pass_wait(&pipe);
	engine_count_pinned(&e);
	progress_stop();
	add_walk_stats(&e, &ws);

	log_debug("walk, hashing and dedupes done at %.3f s", now_sec() - t0);
	index_lost_now = index_lost(&e, db_path);
	ret = index_lost_now ? 0 : index_save(&e);
	if (ret < 0)
		log_warn("cannot save index '%s': %s", db_path, strerror(-ret));
	log_debug("index saved at %.3f s", now_sec() - t0);
	if (fs_used_bytes(root_fd, &used_after) < 0)
		used_after = used_before;
	log_debug("filesystem synced at %.3f s", now_sec() - t0);
	{
		struct hashdb_stats ix;

		hashdb_get_stats(e.db, &ix);
		if (o.json || log_level >= LOG_LVL_WARN)
			scan_report(stdout, &(struct scan_report_args){
				.st = &e.st, .ix = &ix, .fs_name = e.fs.name,
				.index_result = index_result_name[open_result],
				.dry_run = o.dry_run, .json = o.json,
				.freed = (int64_t)(used_before - used_after),
				.secs = now_sec() - t0 });
	}
	rc = index_lost_now ? EXIT_RUNTIME : EXIT_OK;
	if (pass_stop) {
		log_error("interrupted: stopped after the files in flight, index saved");
		rc = EXIT_INTERRUPTED;
	}
out_db:
	pass_wait(&pipe);	/* the executor uses the index */
	index_close(&e, db_path);
out:
	pass_fini(&pipe);
	if (root_fd >= 0) {
		engine_fini(&e);
		close(root_fd);
	}
	free(o.walk.excludes);
	return rc;
}
