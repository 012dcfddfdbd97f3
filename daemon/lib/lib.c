// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libdedupd: the public API (dedupd.h) over the engine, the pass and the
 * daemon's control socket. Also what `dedupd ctl` runs on.
 *
 * A call first offers the paths to a running daemon (it owns the index);
 * without one it runs a pass here, as a handed-over scan runs in the
 * daemon: walk, hash and match, execute, count.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "daemon/common/config.h"
#include "daemon/lib/dedupd.h"
#include "daemon/common/djson.h"
#include "daemon/engine/engine.h"
#include "daemon/engine/index.h"
#include "daemon/common/log.h"
#include "daemon/engine/pass.h"
#include "daemon/common/util.h"
#include "daemon/engine/walk.h"
#include "daemon/common/client.h"
#include "ioctl-compat/fsprobe.h"

#define LOCK_TIMEOUT_MS 60000
#define LOCK_RETRY_MS 200

struct dedupd {
	int root_fd;
	char *path;		/* as given, for messages */
	struct engine e;
	struct pass pass;
	unsigned int flags;
	char *index_path;	/* given, or from the configuration */
	char *state_dir;
	char *socket_path;	/* given, or from the configuration */
	uint64_t index_size;
	int lock_timeout_ms;
	char db_path[PATH_MAX];	/* the index in use */
	struct dedupd_stats st;
	const char *served_by;
	bool failed;
	char errmsg[PATH_MAX + 256];
};

const char *dedupd_version(void)
{
	return DEDUPD_VERSION_STRING;
}

void dedupd_set_log(dedupd_log_fn fn, void *arg, int max_level)
{
	log_sink_arg = arg;
	log_sink = fn;
	log_level = fn ? max_level : -1;
}

const char *dedupd_strerror(int err)
{
	static __thread char buf[128];

	switch (err) {
	case 0:
		return "success";
	case -EOPNOTSUPP:
		return "the filesystem cannot dedupe (dedupd needs btrfs, or XFS with reflink)";
	case -EXDEV:
		return "a path is on another filesystem than the handle's";
	case -EWOULDBLOCK:
		return "the index is in use by another dedupd";
	case -ECANCELED:
		return "the daemon stopped before the work was done";
	case -EINTR:
		return "interrupted";
	}
	/* GNU strerror_r: thread-safe, returns the text. */
	return strerror_r(err < 0 ? -err : err, buf, sizeof(buf));
}

static int fail(struct dedupd *d, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Records the message of a failure; returns @err. */
static int fail(struct dedupd *d, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(d->errmsg, sizeof(d->errmsg), fmt, ap);
	va_end(ap);
	d->failed = true;
	return err;
}

const char *dedupd_errmsg(const struct dedupd *d)
{
	return d && d->failed ? d->errmsg : NULL;
}

const char *dedupd_served_by(const struct dedupd *d)
{
	return d ? d->served_by : NULL;
}

void dedupd_interrupt(struct dedupd *d)
{
	if (d)
		d->e.stop = 1;
}

int dedupd_get_stats(const struct dedupd *d, struct dedupd_stats *out,
		     size_t out_size)
{
	if (!d || !out)
		return -EINVAL;
	if (out_size > sizeof(d->st))
		out_size = sizeof(d->st);
	memcpy(out, &d->st, out_size);
	return (int)out_size;
}

/* The value of "--@name=VALUE" in the configuration's words, or NULL. */
static const char *conf_value(const struct config *c, const char *name)
{
	size_t len = strlen(name);
	const char *v = NULL;

	for (int i = 0; i < c->argc; i++)
		if (!strncmp(c->argv[i], "--", 2) &&
		    !strncmp(c->argv[i] + 2, name, len) &&
		    c->argv[i][2 + len] == '=')
			v = c->argv[i] + 3 + len;	/* the last one wins */
	return v;
}

/*
 * What the daemon's configuration says about its index and socket. Its
 * "db" counts only when it names the index of a single mount on our
 * filesystem: another filesystem's index would be rebuilt (its UUID
 * differs) and lost.
 */
static void read_config(struct dedupd *d, const char *path)
{
	struct config c = { 0 };
	char err[512];
	const char *v;
	int ret, n = 0;

	ret = config_load(path, &c, err, sizeof(err));
	if (ret == -ENOENT)
		return;
	if (ret < 0) {
		log_warn("%s, ignoring the configuration",
			 ret == -EINVAL ? err : strerror(-ret));
		return;
	}
	if (!d->state_dir && (v = conf_value(&c, "state-dir")) && *v)
		d->state_dir = xstrdup(v);
	if (!d->socket_path && (v = conf_value(&c, "socket")) && *v)
		d->socket_path = xstrdup(v);
	for (int i = 0; i < c.argc; i++)
		if (!strncmp(c.argv[i], "--mount=", 8))
			n++;
	v = conf_value(&c, "db");
	if (!d->index_path && v && *v && n == 1) {
		struct fs_info fs;
		const char *mnt = conf_value(&c, "mount");
		int fd = open(mnt, O_RDONLY | O_CLOEXEC | O_NONBLOCK);

		if (fd >= 0 && fs_probe(fd, 0, &fs) == 0 &&
		    !memcmp(fs.uuid, d->e.fs.uuid, sizeof(fs.uuid)))
			d->index_path = xstrdup(v);
		if (fd >= 0)
			close(fd);
	}
	config_free(&c);
}

struct dedupd *dedupd_open(const char *path, const struct dedupd_options *opts,
			   int *ret_err)
{
	struct dedupd_options o = DEDUPD_OPTIONS_INIT;
	struct dedupd *d;
	struct statx stx;
	struct stat sb;
	int ret;

	if (!path || (opts && !opts->size)) {
		ret = -EINVAL;
		goto out;
	}
	/* What the caller knows of; the rest stays at its default. */
	if (opts)
		memcpy(&o, opts, opts->size < sizeof(o) ? opts->size :
							   sizeof(o));
	o.size = sizeof(o);
	d = calloc(1, sizeof(*d));
	if (!d) {
		ret = -ENOMEM;
		goto out;
	}
	d->root_fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (d->root_fd < 0) {
		ret = -errno;
		goto out_free;
	}
	ret = fs_probe(d->root_fd, 0, &d->e.fs);
	if (ret < 0)
		goto out_close;
	if (!d->e.fs.can_dedupe) {
		ret = -EOPNOTSUPP;
		goto out_close;
	}
	if (fstat(d->root_fd, &sb) < 0 ||
	    statx(d->root_fd, "", AT_EMPTY_PATH, STATX_MNT_ID, &stx) < 0) {
		ret = -errno;
		goto out_close;
	}
	d->path = xstrdup(path);
	if (S_ISDIR(sb.st_mode)) {
		d->e.tmp_dir = xstrdup(path);
	} else {
		/* A file: relocation temp files go in its directory. */
		char *dup = xstrdup(path);

		d->e.tmp_dir = xstrdup(dirname(dup));
		free(dup);
	}
	engine_init(&d->e, d->root_fd);
	d->e.mnt_id = (int)stx.stx_mnt_id;
	d->e.dry_run = o.flags & DEDUPD_DRY_RUN;
	d->e.min_size = o.min_size ? o.min_size : 1;
	d->e.threads = o.threads;
	if (!d->e.threads) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);

		d->e.threads = n > 0 ? (unsigned int)n : 1;
	}
	if (d->e.threads > 256)
		d->e.threads = 256;
	pass_init(&d->pass, &d->e);
	d->flags = o.flags;
	d->index_size = o.index_size;
	d->lock_timeout_ms = o.lock_timeout_ms ? o.lock_timeout_ms :
						 LOCK_TIMEOUT_MS;
	d->index_path = o.index_path ? xstrdup(o.index_path) : NULL;
	d->state_dir = o.state_dir ? xstrdup(o.state_dir) : NULL;
	d->socket_path = o.socket_path ? xstrdup(o.socket_path) : NULL;
	/* The client's environment beats the daemon's configuration. */
	if (!d->socket_path && getenv("DEDUPD_SOCKET") &&
	    *getenv("DEDUPD_SOCKET"))
		d->socket_path = xstrdup(getenv("DEDUPD_SOCKET"));
	if (!(o.flags & DEDUPD_NO_CONFIG))
		read_config(d, o.config_path ? o.config_path : WATCH_CONFIG);
	if (!d->state_dir)
		d->state_dir = xstrdup(STATE_DIR);
	if (!d->socket_path)
		d->socket_path = xstrdup(WATCH_SOCKET);
	return d;

out_close:
	close(d->root_fd);
out_free:
	free(d);
out:
	if (ret_err)
		*ret_err = ret;
	return NULL;
}

struct dedupd *dedupd_close(struct dedupd *d)
{
	if (!d)
		return NULL;
	pass_fini(&d->pass);
	if (d->e.db) {
		(void)index_save(&d->e);
		d->e.db = hashdb_close(d->e.db);
	}
	engine_fini(&d->e);
	close(d->root_fd);
	free(d->path);
	free(d->index_path);
	free(d->state_dir);
	free(d->socket_path);
	free(d);
	return NULL;
}

/*
 * Adds the daemon's report @js (one JSON object) to @st. Returns 0, or
 * -EBADMSG when it is not one.
 */
static int add_report(struct dedupd_stats *st, const char *js)
{
	json_t *report = djson_parse_object(js);

	if (!report)
		return -EBADMSG;
#define GET(k) json_integer_value(json_object_get(report, k))
#define ADD(k) (st->k += (uint64_t)GET(#k))
	ADD(files_seen);
	ADD(files_scanned);
	ADD(files_unchanged);
	ADD(files_skipped);
	ADD(files_changed);
	ADD(files_vanished);
	ADD(files_unreadable);
	ADD(files_hardlinks);
	ADD(errors);
	ADD(bytes_hashed);
	ADD(bytes_duplicate);
	ADD(bytes_deduped);
	ADD(bytes_already_shared);
	ADD(bytes_relocated);
	ADD(bytes_relinked);
	ADD(dedupe_calls);
	ADD(differs);
#undef ADD
	st->bytes_freed += GET("bytes_freed");
#undef GET
	st->seconds += json_number_value(json_object_get(report, "seconds"));
	json_decref(report);
	return 0;
}

/*
 * Offers the paths to the daemon. Returns 1 if it did the work (or queued
 * it), 0 if there is none for this filesystem, or -errno.
 */
static int try_daemon(struct dedupd *d, const char *const *paths, size_t n)
{
	struct watch_scan r = {
		.dry_run = d->flags & DEDUPD_DRY_RUN,
		.json = true,
		.no_wait = d->flags & DEDUPD_NO_WAIT,
		.min_size = d->e.min_size,
		.paths = paths,
		.npaths = n,
	};
	char *body = NULL;
	int rc, ret;

	ret = watch_scan_request(d->socket_path, &r, &d->e.stop, &rc, &body);
	if (ret == -EINTR)
		return fail(d, ret, "interrupted; the running dedupd watch finishes the request");
	if (ret <= 0)
		return ret;
	body[strcspn(body, "\n")] = '\0';
	switch (rc) {
	case EXIT_OK:
		d->st.calls++;
		d->st.calls_daemon++;
		ret = 1;
		if (r.no_wait)
			d->st.calls_queued++;
		else if (add_report(&d->st, body) < 0)
			ret = fail(d, -EBADMSG, "the running dedupd watch answered with no report: %s",
				   body);
		break;
	case EXIT_INTERRUPTED:
		/* a report if it stopped while doing it, else a line */
		(void)add_report(&d->st, body);
		ret = fail(d, -ECANCELED, "the running dedupd watch stopped before the work was done");
		break;
	case EXIT_USAGE:
		ret = fail(d, -EINVAL, "the running dedupd watch: %s", body);
		break;
	default:
		ret = fail(d, -EIO, "the running dedupd watch: %s", body);
		break;
	}
	free(body);
	d->served_by = "daemon";
	return ret;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	(void)nanosleep(&ts, NULL);
}

/*
 * Opens the index for local work, waiting for another holder up to the
 * lock timeout; should a daemon appear meanwhile, it is handed the work.
 * Returns 0 (index open), 1 (the daemon did the work), or -errno.
 */
static int open_index(struct dedupd *d, const char *const *paths, size_t n)
{
	double deadline = now_sec() + d->lock_timeout_ms / 1000.0;
	bool told = false;
	int ret;

	if (d->index_path) {
		if (snprintf(d->db_path, sizeof(d->db_path), "%s",
			     d->index_path) >= (int)sizeof(d->db_path))
			return fail(d, -ENAMETOOLONG, "index path '%s' is too long",
				    d->index_path);
	} else {
		ret = index_default_path(&d->e, d->state_dir, d->db_path,
					 sizeof(d->db_path));
		if (ret < 0)
			return fail(d, ret, "cannot create '%s': %s",
				    d->db_path, strerror(-ret));
	}
	for (;;) {
		ret = index_open_at(&d->e, d->root_fd, d->db_path,
				    d->index_size);
		if (ret != -EWOULDBLOCK)
			break;
		if (d->lock_timeout_ms < 0 || now_sec() >= deadline)
			return fail(d, ret, "index '%s' is in use by another dedupd",
				    d->db_path);
		if (!told)
			log_info("index '%s' is in use, waiting for it",
				 d->db_path);
		told = true;
		sleep_ms(LOCK_RETRY_MS);
		if (d->e.stop)
			return fail(d, -EINTR, "interrupted");
		if (!(d->flags & DEDUPD_NO_DAEMON)) {
			ret = try_daemon(d, paths, n);
			if (ret)
				return ret;
		}
	}
	if (ret < 0)
		return fail(d, ret, "cannot open index '%s': %s", d->db_path,
			    strerror(-ret));
	index_say(&d->e, d->db_path, ret);
	return 0;
}

#define ST(x) ((uint64_t)atomic_load(&d->e.st.x))

/* Runs a pass over @paths here, on the index. */
static int dedupe_here(struct dedupd *d, const char *const *paths, size_t n)
{
	struct walk_opts wo = { .min_size = d->e.min_size };
	struct walk_stats ws = { 0 };
	uint64_t before[19], used_before = 0, used_after = 0;
	double t0 = now_sec();
	size_t failed = 0;
	int ret, err;

	if (!d->e.db) {
		ret = open_index(d, paths, n);
		if (ret)
			return ret == 1 ? 0 : ret;
	}
	d->served_by = "local";
	/* Snapshots of the counters: the engine's add up over the calls. */
	{
		const uint64_t now[] = {
			ST(files_seen), ST(files_scanned), ST(files_unchanged),
			ST(files_skipped), ST(files_changed),
			ST(files_vanished), ST(files_unreadable),
			ST(files_hardlinks), ST(errors), ST(bytes_hashed),
			ST(bytes_duplicate), ST(bytes_deduped),
			ST(bytes_already_shared), ST(bytes_relocated),
			ST(bytes_relinked), ST(dedupe_calls), ST(differs),
		};

		memcpy(before, now, sizeof(now));
	}
	if (!d->e.dry_run && fs_used_bytes(d->root_fd, &used_before) < 0)
		used_before = 0;
	ret = pass_add_paths(&d->pass, (char *const *)paths, n, &wo, &ws,
			     &failed);
	pass_finish(&d->pass);
	err = index_save(&d->e);
	if (err < 0)
		log_warn("cannot save index '%s': %s", d->db_path,
			 strerror(-err));
	if (!used_before || fs_used_bytes(d->root_fd, &used_after) < 0)
		used_after = used_before;

	d->st.files_seen += ST(files_seen) - before[0] + ws.excluded +
			    ws.small;
	d->st.files_scanned += ST(files_scanned) - before[1];
	d->st.files_unchanged += ST(files_unchanged) - before[2];
	d->st.files_skipped += ST(files_skipped) - before[3] + ws.excluded +
			       ws.small;
	d->st.files_changed += ST(files_changed) - before[4];
	d->st.files_vanished += ST(files_vanished) - before[5];
	d->st.files_unreadable += ST(files_unreadable) - before[6] +
				  ws.errors;
	d->st.files_hardlinks += ST(files_hardlinks) - before[7];
	d->st.errors += ST(errors) - before[8];
	d->st.bytes_hashed += ST(bytes_hashed) - before[9];
	d->st.bytes_duplicate += ST(bytes_duplicate) - before[10];
	d->st.bytes_deduped += ST(bytes_deduped) - before[11];
	d->st.bytes_already_shared += ST(bytes_already_shared) - before[12];
	d->st.bytes_relocated += ST(bytes_relocated) - before[13];
	d->st.bytes_relinked += ST(bytes_relinked) - before[14];
	d->st.dedupe_calls += ST(dedupe_calls) - before[15];
	d->st.differs += ST(differs) - before[16];
	d->st.bytes_freed += (int64_t)(used_before - used_after);
	d->st.seconds += now_sec() - t0;

	if (!(d->flags & DEDUPD_KEEP_INDEX))
		d->e.db = hashdb_close(d->e.db);	/* and its lock */
	if (ret == -EINTR || (!ret && d->e.stop)) {
		d->st.calls++;
		return fail(d, -EINTR, "interrupted: stopped after the files in flight, index saved");
	}
	if (ret < 0)
		return fail(d, ret, "cannot read '%s': %s", paths[failed],
			    strerror(-ret));
	d->st.calls++;
	return 0;
}

#undef ST

int dedupd_dedupe_paths(struct dedupd *d, const char *const *paths, size_t n)
{
	size_t i;
	int ret;

	if (!d)
		return -EINVAL;
	d->failed = false;
	d->e.stop = 0;
	if (!paths || !n)
		return fail(d, -EINVAL, "no path to dedupe");
	/* Every path on our filesystem, before anyone does anything. */
	for (i = 0; i < n; i++) {
		struct fs_info fs;
		int fd;

		if (!paths[i])
			return fail(d, -EINVAL, "path %zu is NULL", i);
		fd = open(paths[i], O_RDONLY | O_CLOEXEC | O_NONBLOCK);
		if (fd < 0) {
			ret = -errno;
			return fail(d, ret, "cannot open '%s': %s", paths[i],
				    strerror(-ret));
		}
		ret = fs_probe(fd, 0, &fs);
		close(fd);
		if (ret < 0)
			return fail(d, ret, "cannot probe the filesystem of '%s': %s",
				    paths[i], strerror(-ret));
		if (memcmp(fs.uuid, d->e.fs.uuid, sizeof(fs.uuid)))
			return fail(d, -EXDEV, "'%s' is on another filesystem than '%s'",
				    paths[i], d->path);
	}
	if (!d->e.db && !(d->flags & DEDUPD_NO_DAEMON)) {
		ret = try_daemon(d, paths, n);
		if (ret)
			return ret < 0 ? ret : 0;
	}
	return dedupe_here(d, paths, n);
}
