/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef DEDUPD_UTIL_H
#define DEDUPD_UTIL_H

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* Exit codes, documented in README.md and --help. */
enum exit_code {
	EXIT_OK = 0,
	EXIT_RUNTIME = 1,
	EXIT_USAGE = 2,
	EXIT_UNSUPPORTED_FS = 3,
	EXIT_INDEX_LOCKED = 4,
	EXIT_INTERRUPTED = 130,	/* SIGINT or SIGTERM: stopped cleanly */
};

/*
 * Parses "4096", "64K", "16M", "1G", "2T" (powers of 1024, optional "iB"/"B").
 * Returns 0 and sets *@ret, or -EINVAL / -ERANGE.
 */
int parse_size(const char *s, uint64_t *ret);

/*
 * --snapshots=follow|skip: sets *@ret_skip. Returns 0, or -EINVAL for any
 * other word.
 */
int parse_snapshots_mode(const char *s, bool *ret_skip);

/*
 * --domain: which files may share blocks. none: any two; owner: only files
 * of the same owner (uid); subvolume: only files of the same btrfs
 * subvolume (XFS: the filesystem is one).
 */
enum dedupe_domain { DOMAIN_NONE, DOMAIN_OWNER, DOMAIN_SUBVOLUME };

/* "none", "owner" or "subvolume" into *@ret. Returns 0 or -EINVAL. */
int parse_domain(const char *s, enum dedupe_domain *ret);

/*
 * The mount point of the mount that holds @path (existing), as an absolute
 * path in *@ret_root, to be freed. Returns 0 or -errno.
 */
int mount_root(const char *path, char **ret_root);

/* Formats @bytes as "1.5 GiB" into @buf. Returns @buf. */
char *fmt_bytes(uint64_t bytes, char *buf, size_t len);

/* Monotonic seconds. */
double now_sec(void);

/* Allocation that cannot fail: the program aborts with a message on OOM. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);

/* Grows an array to hold at least @need elements of @size. */
void *grow_array(void *p, size_t *cap, size_t need, size_t size);

/* Writes all @len bytes of @buf, again after EINTR. Returns 0 or -errno. */
int write_full(int fd, const void *buf, size_t len);

/*
 * Finishes a file written through @fp as @tmp and puts it at @path: flushed,
 * synced, closed and renamed over @path; @tmp is removed if that fails, or
 * if a write through @fp failed before (-EIO then).
 * Returns 0 or -errno.
 */
int commit_file(FILE *fp, const char *tmp, const char *path);

/* -1, 0 or 1 as @a is below, equal to or above @b: for qsort's comparators. */
static inline int cmp_u64(uint64_t a, uint64_t b)
{
	return (a > b) - (a < b);
}

#endif
