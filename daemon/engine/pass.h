/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef DEDUPD_PASS_H
#define DEDUPD_PASS_H

/*
 * A pass: files fed one by one are gathered into batches; each batch is
 * hashed and matched on all cores, then its dedupes are executed in a thread
 * of their own while the next batch is hashed. Shared by `dedupd scan` and
 * the watch daemon.
 */

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daemon/engine/engine.h"

#define PASS_BATCH_FILES 4096
#define PASS_BATCH_BYTES (512ULL << 20)

/*
 * Set (from a signal handler too): files not yet hashed are left alone.
 * pass_stop stops every pass of the process, engine.stop that engine's.
 */
extern volatile sig_atomic_t pass_stop;

static inline bool pass_stopped(const struct engine *e)
{
	return pass_stop || e->stop;
}

struct walk_opts;
struct walk_stats;

struct pass_batch {
	struct engine *e;
	struct file_job *jobs;
	size_t n, cap;
	uint64_t bytes;
	atomic_size_t next;
};

struct pass {
	struct pass_batch b[2];
	struct pass_batch *fill;	/* the batch being filled */
	struct pass_batch *exec;	/* the batch being executed, or NULL */
	pthread_t exec_tid;
	size_t max_files;
};

void pass_init(struct pass *p, struct engine *e);

/*
 * Adds a file, by @path, or by @fd (already open read-only, then @path only
 * names it in log lines). Takes @path (malloc'd) and @fd. Runs the batch
 * when it is full.
 */
void pass_add(struct pass *p, char *path, int fd, uint64_t size);

/*
 * Adds a file by @path, which the walk found to be inode @ino of device
 * @dev: the hasher opens it and leaves it if another file is there by then
 * (counted in files_replaced). Takes @path (malloc'd).
 */
void pass_add_walked(struct pass *p, char *path, uint64_t dev, uint64_t ino,
		     uint64_t size);

/* Hashes the batch being filled and starts executing it. */
void pass_flush(struct pass *p);

/* Waits until the batch being executed is done. */
void pass_wait(struct pass *p);

/*
 * Walks each of @paths (a directory or a file; each walk stays on the mount
 * its path is on) with @wo's excludes and minimum size, opening and adding
 * every file; files that cannot be opened, or that are no longer the ones
 * walked, are counted, not fatal (FIFOs, sockets and devices in @ws).
 * Returns
 * 0, -EINTR once stopped, or the -errno of a path that cannot be read (its
 * index in *@ret_failed).
 */
int pass_add_paths(struct pass *p, char *const *paths, size_t n,
		   const struct walk_opts *wo, struct walk_stats *ws,
		   size_t *ret_failed);

/* Flushes, waits, and starts a new pass in the engine (engine_new_pass). */
void pass_finish(struct pass *p);

/* Releases everything (after pass_wait). */
void pass_fini(struct pass *p);

/* Files per batch, fewer when RLIMIT_NOFILE is low. */
size_t pass_batch_files_limit(void);

/* Raises RLIMIT_NOFILE to its hard limit. */
void raise_fd_limit(void);

#endif
