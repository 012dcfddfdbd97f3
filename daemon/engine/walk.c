// SPDX-License-Identifier: GPL-2.0-or-later
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/common/log.h"
#include "daemon/common/util.h"
#include "daemon/engine/walk.h"
#include "ioctl-compat/handle.h"

struct walk_ctx {
	const struct walk_opts *o;
	struct walk_stats *st;
	walk_fn fn;
	void *arg;
	int root_fd;		/* the root, on the walk's mount */
};

int walk_excluded(const struct walk_opts *o, const char *path)
{
	const char *base = strrchr(path, '/');

	base = base ? base + 1 : path;
	for (size_t i = 0; i < o->nexcludes; i++) {
		const char *g = o->excludes[i];

		if (strchr(g, '/') ? !fnmatch(g, path, 0) :
				     !fnmatch(g, base, 0))
			return 1;
	}
	return 0;
}

static int mount_id_of(int fd)
{
	struct statx stx;

	if (statx(fd, "", AT_EMPTY_PATH, STATX_MNT_ID, &stx) < 0)
		return -errno;
	return (int)stx.stx_mnt_id;
}

/*
 * @cfd, a directory in @dfd whose entry names inode @d_ino, is on another
 * mount. If that mount shows the very directory it covers (the same
 * filesystem, and that inode), returns the directory reopened through its
 * handle on the walk's mount: the files beneath are the same, and nothing
 * opened under it then depends on that mount staying or going. Else
 * returns -1. Closes @cfd either way.
 */
static int beneath_self_bind(const struct walk_ctx *c, int dfd, int cfd,
			     ino_t d_ino)
{
	struct file_id_handle h;
	struct stat parent, sb, nb;
	int fd = -1;

	if (c->o->under_self_binds && c->root_fd >= 0 &&
	    fstat(dfd, &parent) == 0 && fstat(cfd, &sb) == 0 &&
	    sb.st_dev == parent.st_dev && sb.st_ino == d_ino &&
	    file_handle_get(cfd, "", &h, NULL) == 0) {
		fd = file_handle_open(c->root_fd, &h,
				      O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
		if (fd >= 0 &&
		    (fstat(fd, &nb) < 0 || nb.st_ino != sb.st_ino ||
		     nb.st_dev != sb.st_dev ||
		     mount_id_of(fd) != c->o->mnt_id)) {
			close(fd);
			fd = -1;
		}
	}
	close(cfd);
	return fd < 0 ? -1 : fd;
}

/* What fstatat() found, as a d_type. */
static unsigned char dtype_of(mode_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG:
		return DT_REG;
	case S_IFDIR:
		return DT_DIR;
	case S_IFIFO:
		return DT_FIFO;
	case S_IFSOCK:
		return DT_SOCK;
	case S_IFCHR:
		return DT_CHR;
	case S_IFBLK:
		return DT_BLK;
	default:
		return DT_LNK;
	}
}

/*
 * @depth: levels below the root of the directory @dfd. Recursion is
 * bounded by max_depth, and each level holds one fd and one read buffer.
 */
static int walk_dir(const struct walk_ctx *c, int dfd, char *path,
		    size_t plen, size_t pcap, unsigned int depth)
{
	const struct walk_opts *o = c->o;
	struct walk_stats *st = c->st;
	unsigned int max_depth = o->max_depth ? o->max_depth : WALK_MAX_DEPTH;
	DIR *d = fdopendir(dfd);
	struct dirent *de;
	int ret = 0;

	if (!d) {
		close(dfd);
		return 0;
	}
	st->dirs++;
	while ((errno = 0, de = readdir(d))) {
		const char *name = de->d_name;
		size_t nlen = strlen(name);
		unsigned char type = de->d_type;
		struct stat sb;

		if (name[0] == '.' &&
		    (!name[1] || (name[1] == '.' && !name[2])))
			continue;
		if (plen + 1 + nlen + 1 > pcap) {
			log_warn("path too long under '%s', skipping", path);
			st->too_deep++;
			continue;
		}
		path[plen] = '/';
		memcpy(path + plen + 1, name, nlen + 1);
		if (o->nexcludes && walk_excluded(o, path)) {
			st->excluded++;
			goto next;
		}
		if (type == DT_UNKNOWN || type == DT_REG) {
			if (fstatat(dirfd(d), name, &sb,
				    AT_SYMLINK_NOFOLLOW) < 0)
				goto next;	/* vanished */
			type = dtype_of(sb.st_mode);
		}
		if (type == DT_REG) {
			if ((uint64_t)sb.st_size < o->min_size ||
			    sb.st_size == 0) {
				st->small++;
				goto next;
			}
			ret = c->fn(c->arg, dirfd(d), name, path, &sb);
			if (ret < 0)
				break;
		} else if (type == DT_FIFO || type == DT_SOCK ||
			   type == DT_CHR || type == DT_BLK) {
			/* Opening a FIFO may block, a device may act: never. */
			st->special++;
		} else if (type == DT_DIR) {
			int cfd;

			if (depth >= max_depth) {
				log_warn("'%s' is more than %u directories deep, skipping",
					 path, max_depth);
				st->too_deep++;
				goto next;
			}
			/* O_NONBLOCK: a FIFO swapped in fails O_DIRECTORY. */
			cfd = openat(dirfd(d), name,
				     O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
					     O_NONBLOCK | O_CLOEXEC);
			if (cfd < 0) {
				if (errno != ENOENT) {
					log_warn("cannot read '%s': %s, skipping",
						 path, strerror(errno));
					st->errors++;
				}
				goto next;
			}
			if (mount_id_of(cfd) != o->mnt_id) {
				cfd = beneath_self_bind(c, dirfd(d), cfd,
							de->d_ino);
				if (cfd < 0) {
					st->other_mounts++;
					goto next;
				}
			}
			ret = walk_dir(c, cfd, path, plen + 1 + nlen, pcap,
				       depth + 1);
			if (ret < 0)
				break;
		}
next:
		path[plen] = '\0';
	}
	path[plen] = '\0';
	closedir(d);
	return ret;
}

int walk_tree(const char *root, const struct walk_opts *o,
	      struct walk_stats *st, walk_fn fn, void *arg)
{
	struct walk_ctx c = { .o = o, .st = st, .fn = fn, .arg = arg,
			      .root_fd = -1 };
	size_t pcap = 8192;
	struct stat sb;
	char *path;
	int fd, ret;

	fd = open(root, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &sb) < 0) {
		ret = -errno;
		close(fd);
		return ret;
	}
	if (S_ISREG(sb.st_mode)) {
		close(fd);
		if ((uint64_t)sb.st_size < o->min_size || sb.st_size == 0) {
			st->small++;
			return 0;
		}
		return fn(arg, AT_FDCWD, root, root, &sb);
	}
	if (!S_ISDIR(sb.st_mode)) {
		close(fd);
		st->special++;
		return 0;
	}
	path = xmalloc(pcap);
	snprintf(path, pcap, "%s", root);
	/* "/mnt/" would give "/mnt//a": drop trailing slashes. */
	for (size_t n = strlen(path); n > 1 && path[n - 1] == '/'; n--)
		path[n - 1] = '\0';
	if (o->under_self_binds)
		c.root_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	ret = walk_dir(&c, fd, path, strlen(path), pcap, 0);
	if (c.root_fd >= 0)
		close(c.root_fd);
	free(path);
	return ret;
}
