/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef DEDUPD_WALK_H
#define DEDUPD_WALK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

/*
 * Directories deeper than this below the root are not entered: the walk
 * holds one open directory per level (an fd and a read buffer), so a
 * hostile chain of nested directories must not exhaust either. Paths
 * that deep pass PATH_MAX with names of 8 bytes anyway.
 */
#define WALK_MAX_DEPTH 512

struct walk_opts {
	char **excludes;	/* globs: without '/' match the name, else the path */
	size_t nexcludes;
	int mnt_id;		/* stay on this mount */
	uint64_t min_size;
	/*
	 * Walk beneath a directory that a bind mount of itself covers (as
	 * containers/storage covers its overlay directory while a podman
	 * command runs): its files are the same ones. The directory is
	 * reopened by handle on the walk's mount (CAP_DAC_READ_SEARCH;
	 * without it the mount is skipped like any other). For callers that
	 * open files through the fd @walk_fn is given, not by path.
	 */
	bool under_self_binds;
	unsigned int max_depth;	/* levels entered below the root;
				 * 0: WALK_MAX_DEPTH */
};

struct walk_stats {
	uint64_t dirs;
	uint64_t other_mounts;	/* mount points not crossed */
	uint64_t excluded;
	uint64_t small;		/* files under min_size */
	uint64_t errors;	/* directories that could not be read */
	uint64_t special;	/* FIFOs, sockets and devices: never opened */
	uint64_t too_deep;	/* directories past max_depth, and entries
				 * whose path passes the walk's buffer: not
				 * entered, nothing beneath them counted */
};

/*
 * Called for each regular file of at least min_size bytes: @path is its
 * path from the root given, @name its entry in the directory @dfd, which
 * the walk has vetted (open the file with openat(@dfd, @name): a path
 * resolved later may cross a mount made meanwhile), @sb what the walk
 * found there (not following a symlink): whoever opens the file checks
 * that st_dev and st_ino are still those, as the name may have been
 * replaced meanwhile. @dfd is AT_FDCWD and @name the root when the root
 * is the file. Return 0 to go on, or a negative value to stop the walk
 * with it.
 */
typedef int (*walk_fn)(void *arg, int dfd, const char *name, const char *path,
		       const struct stat *sb);

/*
 * Walks @root (a directory or a regular file) depth-first without following
 * symlinks or crossing mounts, at most max_depth levels down. Unreadable
 * directories are counted and logged, not fatal; FIFOs, sockets and devices
 * are counted and never opened. Returns 0, what @fn returned to stop, or -errno if
 * @root itself cannot be read.
 */
int walk_tree(const char *root, const struct walk_opts *o,
	      struct walk_stats *st, walk_fn fn, void *arg);

/* Whether @path (or its last component) matches one of the excludes. */
int walk_excluded(const struct walk_opts *o, const char *path);

#endif
