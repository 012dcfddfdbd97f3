// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The relocation primitive's referrer half (relink.h): every other
 * reference to data that moved follows it, so that the old extents are
 * freed. This file: the relinker's context (its referrer fds, the --domain
 * checks) and the reading of the original's items. Finding the referrers
 * is relink-collect.c's; matching and deduping them, relink-match.c's; the
 * XFS map, relink-xfs.c's; whether a move frees its extents,
 * relink-frees.c's.
 */
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/btrfs_tree.h>
#include <uthash.h>

#include "daemon/common/log.h"
#include "daemon/engine/physmap.h"
#include "daemon/engine/relink-internal.h"
#include "daemon/common/util.h"
#include "ioctl-compat/btrfs.h"
#include "ioctl-compat/fiemap.h"

/* A destination opened by path: read-only, not following a symlink. */
static int open_path_ro(const char *path)
{
	const int flags = O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC;
	int fd;

	if (!path)
		return -ENOENT;
	fd = open(path, flags | O_NOATIME);
	if (fd < 0 && errno == EPERM)
		fd = open(path, flags);
	return fd < 0 ? -errno : fd;
}

/* Read-only fds of holder files, kept while one file is worked on. */
struct holder_fd {
	uint64_t key[2];	/* root, ino */
	int fd;			/* -1: cannot be opened, or left alone */
	UT_hash_handle hh;
};

#define HOLDER_FDS_MAX 1024

static int holder_fd(struct relink_ctx *d, uint64_t root, uint64_t ino)
{
	struct holder_fd *f, *tmp;
	uint64_t key[2] = { root, ino };

	HASH_FIND(hh, d->fds, key, sizeof(key), f);
	if (f)
		return f->fd;
	if (HASH_COUNT(d->fds) >= HOLDER_FDS_MAX) {
		HASH_ITER(hh, d->fds, f, tmp) {
			HASH_DEL(d->fds, f);
			if (f->fd >= 0)
				close(f->fd);
			free(f);
		}
	}
	f = xcalloc(1, sizeof(*f));
	f->key[0] = root;
	f->key[1] = ino;
	/* Read-only, as every destination: snapshots may be read-only. */
	if (!root && d->map)	/* XFS: a file of the map, by its path */
		f->fd = open_path_ro(physmap_path(d->map, (uint32_t)ino));
	else
		f->fd = btrfs_open_inode(d->mount_fd, root, ino,
					 O_NONBLOCK | O_NOATIME);
	if (f->fd == -EPERM)
		f->fd = btrfs_open_inode(d->mount_fd, root, ino, O_NONBLOCK);
	if (f->fd >= 0 && d->skip_readonly &&
	    btrfs_subvol_readonly(f->fd) != 0) {
		close(f->fd);	/* --snapshots=skip: left as it is */
		f->fd = -1;
	}
	if (f->fd < 0)
		f->fd = -1;
	HASH_ADD(hh, d->fds, key, sizeof(f->key), f);
	return f->fd;
}

/* For --domain (relink-internal.h). */
void relink_set_self(struct relink_ctx *d, uint64_t root, uint64_t ino)
{
	struct stat st;
	int fd;

	d->self_root = root;
	d->self_known = d->domain != DOMAIN_OWNER;
	if (d->self_known || !root)
		return;
	fd = btrfs_open_inode(d->mount_fd, root, ino, O_NONBLOCK | O_NOATIME);
	if (fd == -EPERM)
		fd = btrfs_open_inode(d->mount_fd, root, ino, O_NONBLOCK);
	if (fd < 0)
		return;
	if (fstat(fd, &st) == 0) {
		d->self_uid = st.st_uid;
		d->self_known = true;
	}
	close(fd);
}

/*
 * Holders already share the data; following it must not make them share
 * it with another domain's file.
 */
int relink_holder_open(struct relink_ctx *d, uint64_t root, uint64_t ino)
{
	int fd = holder_fd(d, root, ino);
	struct stat st;

	if (fd < 0 || d->domain == DOMAIN_NONE)
		return fd;
	if (d->domain == DOMAIN_SUBVOLUME)
		return root == d->self_root ? fd : -1;
	if (!d->self_known || fstat(fd, &st) < 0 || st.st_uid != d->self_uid)
		return -1;
	return fd;
}

struct domain_check {
	struct relink_ctx *d;
	uint64_t root, ino;
	bool ok;
};

static int check_domain_ref(void *arg, uint64_t root, uint64_t ino,
			    uint64_t off)
{
	struct domain_check *x = arg;

	(void)off;
	if (root == x->root && ino == x->ino)
		return 0;
	if (relink_holder_open(x->d, root, ino) < 0) {
		x->ok = false;
		return 1;
	}
	return 0;
}

bool relink_extent_in_domain(struct relink_ctx *d, int fd, uint64_t bytenr)
{
	struct domain_check x = { .d = d, .ok = true };

	if (d->domain == DOMAIN_NONE)
		return true;
	if (btrfs_file_root(fd, &x.root, &x.ino) < 0)
		return false;
	relink_set_self(d, x.root, x.ino);
	if (btrfs_extent_refs(d->mount_fd, bytenr, check_domain_ref, &x) < 0)
		return false;
	return x.ok;
}

void relink_reset(struct relink_ctx *d)
{
	struct holder_fd *f, *tmp;
	struct rejected *j, *jtmp;

	HASH_ITER(hh, d->rejected, j, jtmp) {
		HASH_DEL(d->rejected, j);
		free(j);
	}

	HASH_ITER(hh, d->fds, f, tmp) {
		HASH_DEL(d->fds, f);
		if (f->fd >= 0)
			close(f->fd);
		free(f);
	}
	d->map = physmap_free(d->map);
}

void relink_use_map(struct relink_ctx *d, struct physmap *m)
{
	relink_reset(d);
	d->map = m;
}

void relink_metadata_by_caller(struct relink_ctx *d)
{
	d->meta_by_caller = true;
}

static int collect_item(void *arg, const struct btrfs_file_extent *fe)
{
	struct relink_items *c = arg;
	uint64_t a = fe->file_off, b = fe->file_off + fe->num_bytes;

	if (!fe->disk_bytenr || fe->type == BTRFS_FILE_EXTENT_INLINE ||
	    fe->compression)
		return 0;	/* holes, inline data, compressed: left be */
	if (a < c->start)
		a = c->start;
	if (b > c->end)
		b = c->end;
	if (a >= b)
		return 0;
	c->v = grow_array(c->v, &c->cap, c->n + 1, sizeof(*c->v));
	c->v[c->n++] = (struct relink_item){
		.file_off = a,
		.len = b - a,
		.bytenr = fe->disk_bytenr,
		.extent_offset = fe->extent_offset + (a - fe->file_off),
	};
	return 0;
}


int relink_items_read(struct relink_ctx *r, uint64_t root, uint64_t ino,
		      uint64_t start, uint64_t end, struct relink_items *items)
{
	int ret;

	items->n = 0;
	items->start = start;
	items->end = end;
	ret = btrfs_file_extents(r->mount_fd, root, ino, start, end,
				 collect_item, items);
	if (ret < 0)
		items->n = 0;
	return ret < 0 ? ret : 0;
}

int relink_items_fiemap(int fd, uint64_t start, uint64_t end,
			struct relink_items *items)
{
	struct fiemap_iter *it;
	struct extent x;
	int ret;

	items->n = 0;
	items->start = start;
	items->end = end;
	ret = fiemap_iter_open(fd, start, end, FIEMAP_ITER_SYNC, &it);
	if (ret < 0)
		return ret;
	while ((ret = fiemap_iter_next(it, &x)) == 1) {
		if (x.flags & (EXTENT_HOLE | EXTENT_UNWRITTEN | EXTENT_ENCODED |
			       EXTENT_INLINE | EXTENT_DELALLOC |
			       EXTENT_UNKNOWN))
			continue;
		items->v = grow_array(items->v, &items->cap, items->n + 1,
				      sizeof(*items->v));
		items->v[items->n++] = (struct relink_item){
			.file_off = x.logical,
			.len = x.length,
			.bytenr = x.physical,
			.shared = !!(x.flags & EXTENT_SHARED),
		};
	}
	fiemap_iter_free(it);
	if (ret < 0)
		items->n = 0;
	return ret < 0 ? ret : 0;
}

void relink_items_release(struct relink_items *items)
{
	free(items->v);
	memset(items, 0, sizeof(*items));
}

struct relink_ctx *relink_new(int mount_fd, uint32_t block_size,
			      bool skip_readonly, enum dedupe_domain domain,
			      const volatile sig_atomic_t *stop)
{
	struct relink_ctx *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->mount_fd = mount_fd;
	r->block_size = block_size;
	r->skip_readonly = skip_readonly;
	r->domain = domain;
	r->stop = stop;
	return r;
}

struct relink_ctx *relink_free(struct relink_ctx *r)
{
	if (!r)
		return NULL;
	relink_reset(r);
	free(r);
	return NULL;
}
