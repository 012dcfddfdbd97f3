// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * dedupd watch: taking a file up. A queued file is opened by its handle,
 * named (the path the user knows, even for a dentry the kernel dropped),
 * filtered by --include, --exclude and --min-size, and added to the pass.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/service/internal.h"
#include "ioctl-compat/handle.h"

static bool matches(char **globs, size_t n, const char *path)
{
	struct walk_opts w = { .excludes = globs, .nexcludes = n };

	return n && walk_excluded(&w, path);
}

/* A name for @fd: the path the user knows where we can tell it. */
char *fd_path(struct wfs *f, int fd)
{
	char proc[64], buf[PATH_MAX];
	struct statx stx;
	ssize_t n;

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	n = readlink(proc, buf, sizeof(buf) - 1);
	if (n <= 0)
		return xstrdup("(unknown)");
	buf[n] = '\0';
	/* Under the detached top level, a path reads from its root. */
	if (f->top_dir && f->subvol &&
	    statx(fd, "", AT_EMPTY_PATH, STATX_MNT_ID, &stx) == 0 &&
	    (int)stx.stx_mnt_id == f->top_mnt_id) {
		size_t sl = strlen(f->subvol);
		const char *rel = buf;

		if (rel[0] == '/' && !strncmp(rel + 1, f->subvol, sl) &&
		    (rel[1 + sl] == '/' || rel[1 + sl] == '\0' || !sl)) {
			char out[PATH_MAX];

			snprintf(out, sizeof(out), "%s%s", f->mount,
				 sl ? rel + 1 + sl : rel);
			return xstrdup(out);
		}
	}
	return xstrdup(buf);
}

/*
 * The path of @fd, a file opened by handle. One whose dentry the kernel had
 * dropped since it was written (memory pressure, drop_caches) comes back
 * disconnected, and its path reads "/": then it is found through where an
 * event saw it, the directory @dir (opened by handle: the kernel reconnects
 * directories) and @name, if that name still is this file. Else "/" it
 * stays, which no --include matches.
 */
static char *file_path(struct wfs *f, int fd, const struct file_id_handle *dir,
		       const char *name)
{
	char *path = fd_path(f, fd), *dpath;
	struct stat a, b;
	size_t n;
	int dfd;

	if (strcmp(path, "/") || !dir || !dir->len || !name)
		return path;
	dfd = file_handle_open(f->top_fd, dir,
			       O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return path;
	if (fstat(fd, &a) == 0 &&
	    fstatat(dfd, name, &b, AT_SYMLINK_NOFOLLOW) == 0 &&
	    a.st_ino == b.st_ino && a.st_dev == b.st_dev) {
		dpath = fd_path(f, dfd);
		if (dpath[0] == '/') {
			n = strlen(dpath);
			free(path);
			path = xmalloc(n + strlen(name) + 2);
			sprintf(path, "%s/%s", n > 1 ? dpath : "", name);
		}
		free(dpath);
	}
	close(dfd);
	return path;
}

/* Whether the file at @path passes --include / --exclude. */
bool wanted(const struct filter *flt, const char *path)
{
	if (matches(flt->exc, flt->nexc, path))
		return false;
	if (flt->ninc && !matches(flt->inc, flt->ninc, path))
		return false;
	return true;
}

/*
 * Opens a queued file and adds it to the pass. @dir and @name, if not NULL,
 * say where an event saw it.
 */
void take_file(struct wfs *f, const struct file_id_handle *h,
		      const struct file_id_handle *dir, const char *name,
		      const struct filter *flt)
{
	const int flags = O_RDONLY | O_NONBLOCK | O_CLOEXEC;
	struct stat st;
	char *path;
	int fd;

	serve_requests_now(f);
	/*
	 * The type first, through an O_PATH fd: opening a device node runs
	 * its driver, and a FIFO holds nothing to dedupe. A handle names one
	 * inode, whose type cannot change.
	 */
	fd = file_handle_open(f->top_fd, h, O_PATH);
	if (fd >= 0) {
		int special = fstat(fd, &st) == 0 && !S_ISREG(st.st_mode) &&
			      !S_ISDIR(st.st_mode) && !S_ISLNK(st.st_mode);

		close(fd);
		if (special) {
			atomic_fetch_add(&f->e.st.files_special, 1);
			return;
		}
	}
	fd = file_handle_open(f->top_fd, h, flags | O_NOATIME);
	if (fd == -EPERM)
		fd = file_handle_open(f->top_fd, h, flags);
	if (fd < 0) {
		if (fd == -ESTALE || fd == -ENOENT)
			atomic_fetch_add(&f->e.st.files_vanished, 1);
		else
			atomic_fetch_add(&f->e.st.errors, 1);
		return;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    (uint64_t)st.st_size < flt->min_size) {
		close(fd);
		return;
	}
	path = file_path(f, fd, dir, name);
	if (!wanted(flt, path)) {
		atomic_fetch_add(&f->e.st.files_skipped, 1);
		free(path);
		close(fd);
		return;
	}
	pass_add(&f->pass, path, fd, (uint64_t)st.st_size);
}

void free_filter(struct filter *flt)
{
	for (size_t i = 0; i < flt->ninc; i++)
		free(flt->inc[i]);
	for (size_t i = 0; i < flt->nexc; i++)
		free(flt->exc[i]);
	free(flt->inc);
	free(flt->exc);
	memset(flt, 0, sizeof(*flt));
}

void copy_filter(struct filter *flt, struct walk_opts *wo)
{
	/* Under W.lock: a reload may replace the lists. */
	free_filter(flt);
	flt->ninc = W.o.nincludes;
	flt->nexc = W.o.nexcludes;
	flt->inc = xmalloc((flt->ninc + 1) * sizeof(char *));
	flt->exc = xmalloc((flt->nexc + 1) * sizeof(char *));
	for (size_t i = 0; i < flt->ninc; i++)
		flt->inc[i] = xstrdup(W.o.includes[i]);
	for (size_t i = 0; i < flt->nexc; i++)
		flt->exc[i] = xstrdup(W.o.excludes[i]);
	flt->min_size = W.o.min_size;
	wo->excludes = flt->exc;
	wo->nexcludes = flt->nexc;
	wo->min_size = flt->min_size;
}
