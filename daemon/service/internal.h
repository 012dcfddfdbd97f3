/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * dedupd watch: the daemon. It marks each filesystem with fanotify and
 * dedupes what is written, a few seconds after it lands.
 *
 * Events are hints, never a record: they only name files, coalesced per
 * inode in a map, and a file is taken up once it has been quiet for the
 * settle delay. What events cannot tell (the daemon was not running, the
 * queue overflowed, an mmap store) is caught up from the filesystem itself:
 * on btrfs every extent item written after the checkpointed transaction id
 * (find-new), on XFS a walk that compares the index's file cookies.
 *
 * Threads: the main thread reads events, signals and the control socket and
 * never blocks on file I/O; one worker thread takes settled files up in
 * rounds through the same pass (hash, match, execute) as `dedupd scan`, and
 * checkpoints. Shared state is under W.lock.
 *
 * The btrfs checkpoint is a transaction id K such that every write of a
 * generation <= K has been hashed. A write's event is read, at the latest,
 * by the first read(2) of the fanotify queue that finds it empty after the
 * write's transaction committed; so the committed generation read before a
 * read that returns EAGAIN (drained_gen) bounds what is done, except for the
 * files still queued: each carries the drained_gen current when it was
 * queued, below the generation of the write that queued it. K is the least
 * of those.
 */
#ifndef DEDUPD_SERVICE_INTERNAL_H
#define DEDUPD_SERVICE_INTERNAL_H

/* The daemon's shared state, for daemon/service/ only. */

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "daemon/common/protocol.h"
#include "daemon/common/config.h"
#include "daemon/common/util.h"
#include "daemon/engine/defrag.h"
#include "daemon/engine/engine.h"
#include "daemon/engine/pass.h"
#include "daemon/engine/walk.h"
#include "daemon/service/queue.h"
#include "daemon/service/watch.h"
#include "ioctl-compat/handle.h"

struct wfs {
	char *mount;
	int root_fd;		/* the mount as given */
	int top_fd;		/* where handles are opened and marks sit */
	/* our detached btrfs top-level mount, "/proc/self/fd/N", or NULL */
	char *top_dir;
	int top_mfd;		/* its fd, -1 if none */
	int top_mnt_id;		/* its mount id */
	char *subvol;		/* btrfs: the given mount's subvolume path */
	int fan_fd;
	bool btrfs;
	struct engine e;
	struct pass pass;
	char db_path[PATH_MAX];
	char state_path[PATH_MAX];
	char defrag_path[PATH_MAX + 8];	/* the persistent defrag queue */
	struct subvols *subvols;	/* btrfs: the subvolume registry */
	struct defrag *defrag;
	struct defrag_opts dopts;
	int open_result;
	bool engine_ready;

	/* under W.lock */
	struct wqueue q;
	uint64_t drained_gen;	/* see the top of this file */
	uint64_t saved_gen;	/* checkpointed */
	uint64_t catchup_from;
	bool need_catchup, catching_up;
	uint64_t events, events_own, overflows, catchups, rounds;
	double last_event;
	int64_t bytes_freed;
	double last_checkpoint;	/* 0: none yet */
	bool dirty;		/* work done since the last checkpoint */
	bool index_retry_said;	/* a lost index could not be made afresh */
	/* files to defragment, in order; under W.lock */
	struct file_id_handle *dq;
	size_t dq_n, dq_cap;
	bool dq_dirty;
	struct defrag_stats dstats;	/* copied after each file */
	size_t nsubvols;
	bool checkpoint_now;	/* asked for over the socket */
};

/* A scan handed over by `dedupd scan` (or `dedupd ctl`), ahead of the queue. */
struct request {
	struct request *next;
	uint64_t id;		/* for log lines */
	int fd;			/* the client, answered when done; -1: it
				 * asked not to wait */
	struct wfs *f;
	struct proto_scan scan;
	char *buf;		/* the request text the strings point into */
};

struct filter {
	char **inc, **exc;
	size_t ninc, nexc;
	uint64_t min_size;
};

/* The daemon, shared by its threads. */
struct watch_daemon {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct wfs fs[MAX_MOUNTS];
	int nfs;
	struct watch_opts o;	/* reloadable parts read under lock */
	struct config conf;
	int argc;
	char **argv;
	watch_load_fn *load;	/* reads the options again */
	bool stopping;
	struct request *requests, **requests_tail;
	uint64_t last_request_id;	/* main thread only */
	const char *state;	/* what the worker does */
	double start;
	int listen_fd;
	char sock_path[PATH_MAX];
};

extern struct watch_daemon W;

static inline double now_wall(void)
{
	return now_sec();
}

/* events.c: fanotify events into the queues (main thread) */
/* Reads @f's events until its queue is empty. */
void read_events(struct wfs *f);

/* defrag_queue.c: the files waiting for a background defrag */
/* An engine_opts.hashed_cb: queues a fragmented file of @arg (a wfs). */
void file_hashed(void *arg, const struct file_job *job);
void defrag_queue_load(struct wfs *f);
/* Saves the queue if it changed. Returns 0 or -errno. */
int defrag_queue_save(struct wfs *f);
/* The defrag thread. */
void *defragger(void *arg);

/* checkpoint.c: the index, state and defrag queue saved */
/* Returns 1 with f->saved_gen read, 0 if none or damaged, or -errno. */
int load_state(struct wfs *f);
void checkpoint(struct wfs *f);

/* files.c: a file taken up: opened by handle, named, filtered */
/* The path of @fd as the user knows it, malloc'd. */
char *fd_path(struct wfs *f, int fd);
bool wanted(const struct filter *flt, const char *path);
void take_file(struct wfs *f, const struct file_id_handle *h,
	       const struct file_id_handle *dir, const char *name,
	       const struct filter *flt);
void free_filter(struct filter *flt);
/* Under W.lock: @flt and @wo get the options now in use. */
void copy_filter(struct filter *flt, struct walk_opts *wo);

/* catchup.c: what events could not tell, from the filesystem */
void catch_up(struct wfs *f, const struct filter *flt,
	      const struct walk_opts *wo);

/* rounds.c: the worker thread and its rounds */
void *worker(void *arg);

/* requests.c: handed-over scans, served by the worker */
/* W.lock held; dropped while serving. */
void serve_requests(void);
void serve_requests_now(struct wfs *f);

/* control.c: the control socket and its protocol */
void free_request(struct request *r);
/* Writes @text to the client @fd; nothing if @fd < 0. */
void answer(int fd, const char *text);
/* Returns the listening socket's fd, -EADDRINUSE if a daemon answers on
 * @path, or -errno. */
int listen_socket(const char *path);
/* Accepts one client on @lfd and answers it. */
void serve_client(int lfd);

/* status.c: the status, as JSON and as a log line */
/* One line of JSON, malloc'd; NULL when out of memory. */
char *status_json(void);
void status_line(void);

/* mount.c: the private mount of a btrfs top level */
/* Returns 0 with f->top_dir, top_mfd and top_mnt_id set, or -errno. */
int mount_top_level(struct wfs *f);

/* setup.c: a watched filesystem set up and torn down */
/* Returns an exit status (enum exit_code), the failure logged. */
int setup_fs(struct wfs *f, const struct watch_opts *o);
void teardown_fs(struct wfs *f);

/* reload.c: SIGHUP reads the options again */
void reload(void);

#endif
