/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef DEDUPD_H
#define DEDUPD_H

/*
 * libdedupd: dedupe a set of paths on a btrfs or XFS (reflink) filesystem
 * from a program, with the engine of `dedupd scan` and `dedupd watch`.
 *
 *	struct dedupd_stats st;
 *	int err;
 *	struct dedupd *d = dedupd_open("/srv/images", NULL, &err);
 *
 *	if (!d)
 *		errx(1, "%s", dedupd_strerror(err));
 *	err = dedupd_dedupe_paths(d, paths, npaths);
 *	if (err < 0)
 *		warnx("%s", dedupd_errmsg(d));
 *	dedupd_get_stats(d, &st, sizeof(st));
 *	d = dedupd_close(d);
 *
 * Link with `pkg-config --cflags --libs dedupd` (static: add --static).
 *
 * Who does the work. When a `dedupd watch` daemon watches the filesystem,
 * each dedupd_dedupe_paths() hands the paths to it over its control socket:
 * it owns the index, and serves such requests ahead of its own queue.
 * Otherwise the calling process does the work itself, on the index the
 * daemon would use (by default /var/lib/dedupd/<fs-uuid>/index, or what
 * /etc/dedupd.conf says), under the index's exclusive lock, taken for the
 * call only (see DEDUPD_KEEP_INDEX): a daemon that starts meanwhile finds
 * it locked and exits (systemd restarts it), a daemon that started first
 * is handed the work. Another process's local work is waited for (see
 * lock_timeout_ms).
 *
 * Safety. Files are only ever changed by the kernel's FIDEDUPERANGE, which
 * compares the data under lock before sharing: a file that changes meanwhile
 * is never harmed. Files are opened read-only.
 *
 * Conventions. Functions that can fail return a negative errno value (or
 * NULL and set *ret_err); out-parameters are untouched on failure. The
 * library never prints (see dedupd_set_log()), never calls exit() and
 * installs no signal handler. Out of memory inside the engine aborts the
 * process. A handle is used by one thread at a time; distinct handles are
 * independent. Root (CAP_SYS_ADMIN, CAP_DAC_READ_SEARCH) is needed for the
 * full engine; without CAP_DAC_READ_SEARCH only files met in the same call
 * serve as dedupe sources.
 *
 * ABI. Only symbols named dedupd_* are exported. Structures passed in or
 * out carry their size, so that fields can be added at their end without a
 * new soname (libdedupd.so.0).
 */

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DEDUPD_VERSION_MAJOR 0
#define DEDUPD_VERSION_MINOR 1
#define DEDUPD_VERSION_STRING "0.1"

#if defined(__GNUC__)
#define DEDUPD_API __attribute__((visibility("default")))
#else
#define DEDUPD_API
#endif

struct dedupd;

/* dedupd_options.flags */
enum dedupd_flags {
	/* Never hand the work to a running daemon: do it here. */
	DEDUPD_NO_DAEMON = 1u << 0,
	/*
	 * With a daemon: return once it has accepted the paths, before the
	 * work is done (counted in calls_queued, in no other statistic).
	 * Without one the work is done before the call returns anyway.
	 */
	DEDUPD_NO_WAIT = 1u << 1,
	/*
	 * Local work: keep the index open, and locked, from the first call
	 * that needs it until dedupd_close() (by default each call opens and
	 * releases it). Faster for many small calls; a daemon cannot start
	 * on the filesystem meanwhile.
	 */
	DEDUPD_KEEP_INDEX = 1u << 2,
	/* Hash and match, report what would be deduped, change nothing. */
	DEDUPD_DRY_RUN = 1u << 3,
	/* Do not read /etc/dedupd.conf (nor config_path). */
	DEDUPD_NO_CONFIG = 1u << 4,
};

struct dedupd_options {
	/* sizeof(struct dedupd_options): DEDUPD_OPTIONS_INIT sets it. */
	size_t size;
	unsigned int flags;		/* enum dedupd_flags */
	/*
	 * The index for local work. NULL: the daemon's for this filesystem:
	 * the configuration's "db" if it names one for a single mount on this
	 * filesystem, else <state_dir>/<fs-uuid>/index.
	 */
	const char *index_path;
	/* NULL: the configuration's "state-dir", else /var/lib/dedupd. */
	const char *state_dir;
	/*
	 * The daemon's control socket. NULL: $DEDUPD_SOCKET, else the
	 * configuration's "socket", else /run/dedupd/dedupd.sock.
	 */
	const char *socket_path;
	/* The daemon's configuration file. NULL: /etc/dedupd.conf. */
	const char *config_path;
	/*
	 * Index budget in bytes (256 KiB to 1 TiB), as `dedupd scan
	 * --db-size`: an existing index of another size is started afresh.
	 * 0: keep an existing index's size; a new one gets 16 bytes per used
	 * block of the filesystem, 16 MiB to 1 GiB.
	 */
	uint64_t index_size;
	/* Files smaller than this are skipped. 0: none. */
	uint64_t min_size;
	/* Hashing threads. 0: one per CPU. */
	unsigned int threads;
	/*
	 * How long local work waits for an index that another process holds
	 * (it hands the work over should a daemon appear meanwhile), in
	 * milliseconds. 0: 60000; negative: do not wait.
	 */
	int lock_timeout_ms;
};

#define DEDUPD_OPTIONS_INIT { .size = sizeof(struct dedupd_options) }

/* Statistics of a handle: sums over its dedupd_dedupe_paths() calls. */
struct dedupd_stats {
	uint64_t calls;			/* dedupd_dedupe_paths() calls that
					 * returned 0 or -EINTR */
	uint64_t calls_daemon;		/* of which the daemon did the work */
	uint64_t calls_queued;		/* DEDUPD_NO_WAIT calls it accepted */
	uint64_t files_seen;
	uint64_t files_scanned;		/* read and hashed */
	uint64_t files_unchanged;	/* known to the index: not read */
	uint64_t files_skipped;		/* too small, another mount, ... */
	uint64_t files_changed;		/* changed while hashed: left */
	uint64_t files_vanished;
	uint64_t files_unreadable;
	uint64_t files_hardlinks;	/* names of a file already taken */
	uint64_t errors;		/* other failures, each skipped */
	uint64_t bytes_hashed;
	uint64_t bytes_duplicate;	/* found duplicate */
	uint64_t bytes_deduped;		/* shared by FIDEDUPERANGE */
	uint64_t bytes_already_shared;
	uint64_t bytes_relocated;	/* unique rests of partly duplicate
					 * btrfs extents, rewritten */
	uint64_t bytes_relinked;	/* snapshots and reflinks of deduped
					 * data, deduped too */
	int64_t bytes_freed;		/* used space before minus after each
					 * call (other writers count too) */
	uint64_t dedupe_calls;		/* FIDEDUPERANGE calls */
	uint64_t differs;		/* ranges found changed meanwhile */
	double seconds;
};

/* The library's version, e.g. "0.1". */
DEDUPD_API const char *dedupd_version(void);

/*
 * Opens an engine for the filesystem that @path (a directory or a file) is
 * on. @opts may be NULL (defaults). Contacts no daemon and opens no index
 * yet. Returns a handle (free with dedupd_close()), or NULL with *@ret_err
 * (if not NULL) set to -EINVAL (bad argument, or opts->size 0),
 * -EOPNOTSUPP (the filesystem cannot dedupe: not btrfs, nor XFS with
 * reflink), or another -errno (@path cannot be opened).
 */
DEDUPD_API struct dedupd *dedupd_open(const char *path,
				      const struct dedupd_options *opts,
				      int *ret_err);

/*
 * Dedupes the files under @paths (@n of them; directories are walked
 * without following symlinks or crossing mounts, btrfs subvolumes and
 * snapshots included) against each other and against everything the index
 * knows, and adds what was done to the handle's statistics. Unreadable,
 * vanished or changing files are counted, not errors.
 * Returns 0; -EINTR when dedupd_interrupt() stopped it (what was done is
 * counted; a daemon finishes the request anyway); -ECANCELED when the
 * daemon stopped before it was done; -EIO when the daemon could not do it
 * (e.g. it cannot read a path); -EINVAL (@n is 0, a path is NULL, or the
 * daemon refused the request); -EXDEV (a path on another filesystem);
 * -EWOULDBLOCK (no daemon, and another process held the index for
 * lock_timeout_ms); or another -errno (e.g. a path cannot be read, the
 * index cannot be created). dedupd_errmsg() then says what failed.
 */
DEDUPD_API int dedupd_dedupe_paths(struct dedupd *d, const char *const *paths,
				   size_t n);

/*
 * Copies the statistics into @out, at most @out_size bytes of them (pass
 * sizeof(*out)). Returns the number of bytes copied, or -EINVAL.
 */
DEDUPD_API int dedupd_get_stats(const struct dedupd *d,
				struct dedupd_stats *out, size_t out_size);

/*
 * Makes the dedupd_dedupe_paths() running on @d stop after the files in
 * flight (the index is saved), or stop waiting for the daemon. Safe to call
 * from a signal handler or another thread.
 */
DEDUPD_API void dedupd_interrupt(struct dedupd *d);

/*
 * A one-line description of the last failure on @d ("cannot read
 * '/x': Permission denied"), or NULL if the last call succeeded. Valid
 * until the next call on @d.
 */
DEDUPD_API const char *dedupd_errmsg(const struct dedupd *d);

/*
 * Who did the work of the last dedupd_dedupe_paths(): "daemon" or "local";
 * NULL before any was done.
 */
DEDUPD_API const char *dedupd_served_by(const struct dedupd *d);

/*
 * Releases the handle (and the index, if it is held); NULL-safe. Returns
 * NULL.
 */
DEDUPD_API struct dedupd *dedupd_close(struct dedupd *d);

/*
 * A description of @err (a negative errno from this library), in the
 * library's terms where it gives the value a meaning (-EOPNOTSUPP, -EXDEV,
 * -EWOULDBLOCK). Never NULL; thread-safe.
 */
DEDUPD_API const char *dedupd_strerror(int err);

/* dedupd_set_log() levels */
enum dedupd_log_level {
	DEDUPD_LOG_ERROR = 0,
	DEDUPD_LOG_WARNING = 1,
	DEDUPD_LOG_INFO = 2,
	DEDUPD_LOG_DEBUG = 3,
};

typedef void (*dedupd_log_fn)(int level, const char *line, void *arg);

/*
 * Process-wide: the engine's log lines up to @max_level (the files it
 * skips and why, a rebuilt index, ...) go to @fn, from any of its threads.
 * @fn NULL (the default): nothing is logged. Call it while no handle is in
 * use.
 */
DEDUPD_API void dedupd_set_log(dedupd_log_fn fn, void *arg, int max_level);

#ifdef __cplusplus
}
#endif

#endif
