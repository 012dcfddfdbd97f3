/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef DEDUPD_WALK_H
#define DEDUPD_WALK_H

#include <stddef.h>
#include <stdint.h>

struct walk_opts {
	char **excludes;	/* globs: without '/' match the name, else the path */
	size_t nexcludes;
	int mnt_id;		/* stay on this mount */
	uint64_t min_size;
};

struct walk_stats {
	uint64_t dirs;
	uint64_t other_mounts;	/* mount points not crossed */
	uint64_t excluded;
	uint64_t small;		/* files under min_size */
	uint64_t errors;	/* directories that could not be read */
};

/*
 * Called for each regular file of at least min_size bytes. Return 0 to go
 * on, or a negative value to stop the walk with it.
 */
typedef int (*walk_fn)(void *arg, const char *path, uint64_t size);

/*
 * Walks @root (a directory or a regular file) depth-first without following
 * symlinks or crossing mounts. Unreadable directories are counted and
 * logged, not fatal. Returns 0, what @fn returned to stop, or -errno if
 * @root itself cannot be read.
 */
int walk_tree(const char *root, const struct walk_opts *o,
	      struct walk_stats *st, walk_fn fn, void *arg);

/* Whether @path (or its last component) matches one of the excludes. */
int walk_excluded(const struct walk_opts *o, const char *path);

#endif
