/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef DEDUPD_ENGINE_H
#define DEDUPD_ENGINE_H

/*
 * The engine shared by every way in: hash files, match them against the
 * index, plan and execute dedupes. A pass works in batches: the files of a
 * batch are hashed and matched on all cores (hasher.c), then the batch's
 * dedupes are grouped by source and submitted (executor.c) while the pages
 * are still in the page cache from hashing.
 */

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "hashdb/hashdb.h"
#include "ioctl-compat/fiemap.h"
#include "ioctl-compat/fsprobe.h"
#include "daemon/common/util.h"
#include "daemon/engine/csums.h"

struct engine_stats {
	atomic_uint_fast64_t files_seen;
	atomic_uint_fast64_t files_scanned;
	atomic_uint_fast64_t files_unchanged;
	atomic_uint_fast64_t files_skipped;
	atomic_uint_fast64_t files_changed;
	atomic_uint_fast64_t files_vanished;
	atomic_uint_fast64_t files_unreadable;
	atomic_uint_fast64_t files_hardlinks;	/* another name of a file taken */
	/* FIFOs, sockets and devices the walk met: never opened */
	atomic_uint_fast64_t files_special;
	/* another file at the name by the time it was opened (a symlink, a
	 * FIFO, another inode): left alone */
	atomic_uint_fast64_t files_replaced;
	atomic_uint_fast64_t too_deep;	/* directories past the walk's depth */
	atomic_uint_fast64_t bytes_seen;	/* sizes of files taken up */
	atomic_uint_fast64_t bytes_hashed;	/* indexed: read or by csum */
	atomic_uint_fast64_t bytes_read;	/* data the hasher read */
	atomic_uint_fast64_t bytes_csums_read;	/* csum items searched */
	/* short crc32c runs a read back showed to differ: not submitted */
	atomic_uint_fast64_t hints_refuted;
	atomic_uint_fast64_t bytes_shared_skipped; /* extents seen this pass */
	atomic_uint_fast64_t bytes_duplicate;
	atomic_uint_fast64_t bytes_deduped;
	atomic_uint_fast64_t bytes_already_shared;
	atomic_uint_fast64_t bytes_relocated;
	atomic_uint_fast64_t bytes_relinked;	/* other names of deduped data */
	atomic_uint_fast64_t refs_relinked;	/* referrers outside the pass */
	atomic_uint_fast64_t refs_pinned;	/* referrers that could not follow */
	atomic_uint_fast64_t bytes_pinned;	/* their bytes */
	atomic_uint_fast64_t dedupe_calls;
	atomic_uint_fast64_t differs;
	atomic_uint_fast64_t errors;
};

struct phys_seen;	/* physical extents hashed in this pass */
struct relink_ctx;
struct metabudget;
struct file_job;

/* [logical, +len) of a file is the same disk data as [physical, +len). */
struct alias {
	uint64_t logical, physical, len;
};

/*
 * Where a range of a shared extent went: [physical, +len) was deduped onto
 * file src_id at src_off. Another file still referring to that range (a
 * snapshot, a reflink) is deduped onto the same source, so that the old
 * extent is freed.
 */
struct relink {
	uint64_t physical, len;
	uint32_t src_id;
	uint64_t src_off;
	uint64_t claimed;	/* bytes of it an alias in the walk followed */
};

/* Touched by the executor thread only: no lock. */
struct relink_map {
	struct relink *v;
	size_t n, cap, sorted;
};


struct engine {
	struct hashdb *db;
	pthread_mutex_t db_lock;
	struct fs_info fs;
	uint32_t blksz;
	int mount_fd;		/* for open_by_handle_at and O_TMPFILE */
	int mnt_id;		/* the mount we stay on */
	char *tmp_dir;		/* where relocation O_TMPFILEs go, or NULL */
	bool dry_run;
	bool read_all;		/* --read-all: no keys from csums */
	struct csum_src csum;	/* set by engine_init (csums.h) */
	volatile sig_atomic_t stop;	/* stop this engine's pass (pass.h) */
	uint64_t min_size;
	unsigned int threads;
	uint8_t *ids_taken;	/* bitmap of file ids taken up in this pass */
	size_t ids_cap;		/* bits; under db_lock */
	struct phys_seen *seen;
	pthread_mutex_t seen_lock;
	/*
	 * Without CAP_DAC_READ_SEARCH files cannot be opened by handle: then
	 * sources are opened by the paths of this pass (under db_lock).
	 */
	bool by_path;
	struct id_path *paths;
	struct relink_map relinks;	/* for this pass */
	/*
	 * btrfs: every other reference to data that moved follows it
	 * (relink.h), or NULL. Used by the executor thread only.
	 */
	struct relink_ctx *relink;
	/* btrfs: the metadata moves cost, weighed per leaf (metabudget.h). */
	struct metabudget *budget;
	bool skip_snapshots;	/* --snapshots=skip: read-only ones stay */
	enum dedupe_domain domain;	/* --domain: who may share blocks */
	struct engine_stats st;
	/* Called from the hashing threads for each file hashed, or NULL. */
	void (*hashed_cb)(void *arg, const struct file_job *job);
	void *hashed_arg;
};

/* A run: dst blocks [dst_blk, dst_blk + nblk) hold what src holds at src_blk. */
struct match_run {
	uint32_t src_id;
	uint64_t src_blk;
	uint64_t dst_blk;
	uint64_t nblk;
	uint64_t len;		/* bytes: nblk blocks, less the tail's shortfall */
};

struct byte_range {
	uint64_t off, len;
};

/* One file of a batch. */
struct file_job {
	char *path;		/* or only a name for log lines when fd >= 0 */
	int fd;			/* open O_RDONLY until the batch is executed;
				 * set by whoever fills the batch, or by
				 * the hasher from path */
	uint32_t file_id;
	uint64_t size;
	uint64_t cookie;
	bool hashed;		/* hashed and matched; runs[] are valid */
	uint64_t prev_gen;	/* btrfs: the index's generation of the file */
	uint64_t gen;		/* btrfs: committed generation before hashing */
	uint64_t root, ino;	/* btrfs: subvolume and inode, root 0: unknown */
	/* What the walk found at the path, checked when the hasher opens
	 * it; walked_ino 0: nothing to check (an fd given, no walk). */
	uint64_t walked_dev, walked_ino;

	struct extent *extents;	/* data extents from FIEMAP (btrfs relocation) */
	size_t nextents, cap_extents;
	struct match_run *runs;
	size_t nruns, cap_runs;
	struct byte_range *done;	/* ranges deduped, for relocation */
	size_t ndone, cap_done;
	struct alias *aliases;	/* pieces of shared extents another file took */
	size_t naliases, cap_aliases;
};

int engine_init(struct engine *e, int root_fd);
void engine_fini(struct engine *e);

/*
 * Forgets what the last pass took up (files, physical extents, relinks), so
 * that the next one takes files again. No batch may be in flight.
 */
void engine_new_pass(struct engine *e);

/*
 * Adds to bytes_pinned what deduped shared data no file of the pass
 * followed (XFS, where referrers outside the walk cannot be found); each
 * byte once. Executor thread idle. Called at the end of a pass.
 */
void engine_count_pinned(struct engine *e);

/*
 * Hashes and matches @job (hasher.c) with @buf (@buflen bytes, a multiple of
 * the block size) as the read buffer; fills job->runs. Never fatal: what goes
 * wrong is counted in the stats.
 */
void engine_hash_file(struct engine *e, struct file_job *job, uint8_t *buf,
		      size_t buflen);

/* Executes every run of the batch (executor.c), then relocates. */
void engine_execute(struct engine *e, struct file_job *jobs, size_t njobs);

/*
 * Opens @path read-only to read its data (O_NOATIME where allowed, no
 * symlinks followed, never blocking on a FIFO). Returns an fd or -errno.
 */
int engine_open_path(const char *path);

/* The same for @name relative to the directory @dfd (or AT_FDCWD). */
int engine_open_at(int dfd, const char *name);

/*
 * Whether the file open at @fd is still the regular file the walk found
 * (@walked: its st_dev and st_ino; NULL: any regular file). Returns 0,
 * -ESTALE if another file is there now (a FIFO, another inode), or -errno
 * of fstat.
 */
int engine_check_walked(int fd, const struct stat *walked);

/*
 * Opens @name in @dfd as engine_open_at() does, and checks it with
 * engine_check_walked(): the name may have been replaced since the walk
 * saw it. Returns an fd, -ESTALE if another file is there now (a symlink
 * too), or -errno.
 */
int engine_open_walked(int dfd, const char *name, const struct stat *walked);

/*
 * Opens indexed file @id read-only (O_NOATIME where allowed): by handle, or
 * by its path in this pass when handles cannot be opened. Returns an fd or
 * -errno: -ESTALE if the file is gone (its id is then forgotten).
 */
int engine_open_file(struct engine *e, uint32_t id);

/* Remembers @path for @id when sources are opened by path. db_lock held. */
void engine_remember_path(struct engine *e, uint32_t id, const char *path);

/* Frees what a job holds and closes its fd. */
void file_job_release(struct file_job *job);

uint64_t stat_cookie(const void *statbuf);

#endif
