/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef DEDUPD_DEFRAG_H
#define DEDUPD_DEFRAG_H

/*
 * Defragmentation through the relocation primitive (defrag.c), for
 * `dedupd defrag` and the watch daemon's background worker.
 */

#include <stdbool.h>
#include <stdint.h>

#include "daemon/engine/walk.h"
#include "ioctl-compat/fsprobe.h"

/* The chunk moved at a time, unless told otherwise. */
#define DEFRAG_DEFAULT_CHUNK (16ULL << 20)

struct defrag_opts {
	uint64_t chunk;		/* bytes moved at a time */
	unsigned int delay_ms;	/* pause between chunks */
	double min_extent_mib;	/* fragmented: extents smaller on average */
	bool dry_run, json, progress;
	bool skip_snapshots;	/* --snapshots=skip: read-only ones stay */
	bool rewrite_backups;	/* partial holders follow (relink.h) */
	const char *scope;	/* XFS: where referrers are looked for, or
				 * NULL: the file's mount */
	struct walk_opts walk;
};

struct defrag_stats {
	uint64_t files, files_fragmented, files_defragged, files_skipped;
	uint64_t files_vanished;
	uint64_t files_special;		/* FIFOs, sockets, devices: not opened */
	uint64_t files_replaced;	/* another file at the name by then */
	uint64_t too_deep;		/* directories past the walk's depth */
	uint64_t extents_before, extents_after;
	uint64_t bytes, bytes_moved, bytes_relinked, refs_relinked;
	uint64_t chunks, chunks_retried, chunks_skipped, refs_busy;
	uint64_t refs_pinned;	/* referrers that could not follow */
	uint64_t bytes_pinned;	/* old data they keep */
	uint64_t bytes_filled;	/* old data kept for backups, rewritten */
	uint64_t files_mapped;	/* XFS: files of the referrer map */
	uint64_t errors;
};

struct defrag;

/*
 * A defragmenter for the filesystem of @mount_fd (any fd on it; kept open
 * by the caller). Temporary files go in @tmp_dir, or beside each file if
 * NULL. Returns NULL on allocation failure.
 */
struct defrag *defrag_new(const struct defrag_opts *o, int mount_fd,
			  const struct fs_info *fs, const char *tmp_dir);

/* Defragments the file open at @fd (read-only; read-write on ext4). */
void defrag_fd(struct defrag *d, int fd, const char *path);

const struct defrag_stats *defrag_get_stats(const struct defrag *d);

/* What a progress bar shows: files and bytes looked at so far. */
struct engine_stats;
const struct engine_stats *defrag_progress(const struct defrag *d);

/*
 * Walks @path (not crossing mounts: @w->mnt_id is set from it) and
 * defragments each file found, until pass_stop. Returns 0, -EINTR if
 * stopped, or -errno if @path cannot be read.
 */
int defrag_tree(struct defrag *d, const char *path, struct walk_opts *w);

/* NULL-safe; returns NULL. */
struct defrag *defrag_free(struct defrag *d);

/* Whether @extents extents over @bytes of data are fragmented. */
bool defrag_fragmented(const struct defrag_opts *o, uint64_t extents,
		       uint64_t bytes);

#endif
