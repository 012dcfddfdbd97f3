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

#include "daemon/log.h"
#include "daemon/util.h"
#include "daemon/walk.h"

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

static int walk_dir(int dfd, char *path, size_t plen, size_t pcap,
		    const struct walk_opts *o, struct walk_stats *st,
		    walk_fn fn, void *arg)
{
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
			type = S_ISREG(sb.st_mode) ? DT_REG :
			       S_ISDIR(sb.st_mode) ? DT_DIR : DT_LNK;
		}
		if (type == DT_REG) {
			if ((uint64_t)sb.st_size < o->min_size ||
			    sb.st_size == 0) {
				st->small++;
				goto next;
			}
			ret = fn(arg, path, (uint64_t)sb.st_size);
			if (ret < 0)
				break;
		} else if (type == DT_DIR) {
			int cfd = openat(dirfd(d), name,
					 O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
						 O_CLOEXEC);

			if (cfd < 0) {
				if (errno != ENOENT) {
					log_warn("cannot read '%s': %s, skipping",
						 path, strerror(errno));
					st->errors++;
				}
				goto next;
			}
			if (mount_id_of(cfd) != o->mnt_id) {
				st->other_mounts++;
				close(cfd);
				goto next;
			}
			ret = walk_dir(cfd, path, plen + 1 + nlen, pcap, o, st,
				       fn, arg);
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
		return fn(arg, root, (uint64_t)sb.st_size);
	}
	if (!S_ISDIR(sb.st_mode)) {
		close(fd);
		return 0;
	}
	path = xmalloc(pcap);
	snprintf(path, pcap, "%s", root);
	/* "/mnt/" would give "/mnt//a": drop trailing slashes. */
	for (size_t n = strlen(path); n > 1 && path[n - 1] == '/'; n--)
		path[n - 1] = '\0';
	ret = walk_dir(fd, path, strlen(path), pcap, o, st, fn, arg);
	free(path);
	return ret;
}
