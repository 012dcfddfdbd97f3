// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * dedupd watch: the catch-up, what events could not tell (the daemon was
 * not running, the queue overflowed, an mmap store) found on the filesystem
 * itself: on btrfs every inode with extent items after the checkpointed
 * transaction id (find-new), elsewhere a walk that compares the index's file
 * cookies.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/common/log.h"
#include "daemon/engine/index.h"
#include "daemon/engine/subvols.h"
#include "daemon/service/internal.h"
#include "ioctl-compat/btrfs.h"
#include "ioctl-compat/fanotify.h"
#include "ioctl-compat/fsprobe.h"
#include "ioctl-compat/handle.h"

/* Catch-up on btrfs: every inode with extent items after the checkpoint. */
struct findnew_ctx {
	struct wfs *f;
	const struct filter *flt;
	uint64_t min_gen;
	uint64_t files;
};

static int found_new(void *arg, uint64_t root_id, uint64_t ino)
{
	struct findnew_ctx *c = arg;
	struct file_id_handle h, dir = { 0 };
	char name[FAN_NAME_MAX + 1], *path;
	uint64_t dir_ino;
	int fd, len;

	if (pass_stop)
		return -EINTR;
	fd = btrfs_open_inode(c->f->top_fd, root_id, ino,
			      O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return 0;	/* gone, or not a file we can open */
	/* The handle the index knows: with the inode's generation. */
	if (file_handle_get(fd, "", &h, NULL) < 0) {
		close(fd);
		return 0;
	}
	/*
	 * Not in the dentry cache (after a reboot, say): its path reads "/".
	 * Where it is then comes from its inode ref, as from an event.
	 */
	path = fd_path(c->f, fd);
	if (!strcmp(path, "/") &&
	    btrfs_inode_parent(c->f->top_fd, root_id, ino, &dir_ino, name,
			       sizeof(name)) == 0) {
		len = btrfs_handle_make(root_id, dir_ino, dir.data, &dir.type);
		dir.len = len > 0 ? (uint32_t)len : 0;
	}
	free(path);
	close(fd);
	c->files++;
	take_file(c->f, &h, &dir, dir.len ? name : NULL, c->flt);
	return 0;
}

static int subvol_changed(void *arg, uint64_t root_id, uint64_t generation)
{
	struct findnew_ctx *c = arg;
	int ret;

	(void)generation;
	ret = btrfs_find_new(c->f->top_fd, root_id, c->min_gen, found_new, c);
	if (ret == -EINTR)
		return ret;
	if (ret < 0 && ret != -ENOENT)	/* ENOENT: deleted meanwhile */
		log_warn("cannot search subvolume %llu of '%s' for new data: %s, skipping",
			 (unsigned long long)root_id, c->f->mount,
			 strerror(-ret));
	return 0;
}

struct walkin_ctx {
	struct wfs *f;
	const struct filter *flt;
	uint64_t files;
};

/*
 * The file is opened now, in the directory the walk vetted, and checked to
 * be on the watched mount: opened by path when its batch is hashed, it
 * could land on a mount made meanwhile (containers/storage bind-mounts its
 * overlay directory onto itself while a podman command runs), and the
 * hasher would skip it as another mount's, never to see it again.
 */
static int walked_file(void *arg, int dfd, const char *name, const char *path,
		       const struct stat *sb)
{
	struct walkin_ctx *c = arg;
	struct statx stx;
	int fd;

	if (pass_stop)
		return -EINTR;
	serve_requests_now(c->f);
	if (!wanted(c->flt, path))
		return 0;
	fd = engine_open_walked(dfd, name, sb);
	if (fd < 0) {
		atomic_fetch_add(&c->f->e.st.files_seen, 1);
		if (fd == -EACCES || fd == -EPERM) {
			atomic_fetch_add(&c->f->e.st.files_unreadable, 1);
		} else if (fd == -ESTALE) {
			log_info("'%s' was replaced since the walk, skipping",
				 path);
			atomic_fetch_add(&c->f->e.st.files_replaced, 1);
		} else {
			atomic_fetch_add(&c->f->e.st.files_vanished, 1);
		}
		return 0;
	}
	if (statx(fd, "", AT_EMPTY_PATH, STATX_MNT_ID, &stx) < 0 ||
	    (int)stx.stx_mnt_id != c->f->e.mnt_id) {
		/* A file mounted over this one: not ours to walk. */
		atomic_fetch_add(&c->f->e.st.files_seen, 1);
		atomic_fetch_add(&c->f->e.st.files_skipped, 1);
		close(fd);
		return 0;
	}
	c->files++;
	pass_add(&c->f->pass, xstrdup(path), fd, (uint64_t)sb->st_size);
	return 0;
}

void catch_up(struct wfs *f, const struct filter *flt,
		     const struct walk_opts *wo)
{
	double t0 = now_wall();
	uint64_t gen0 = 0, from, files = 0, before, after;
	int ret;

	pthread_mutex_lock(&W.lock);
	from = f->catchup_from;
	f->need_catchup = false;
	f->catching_up = true;
	f->catchups++;
	W.state = "catching up";
	pthread_mutex_unlock(&W.lock);

	/* Written back and committed (on btrfs, find-new then sees every
	 * write so far); the used space is the base of what it frees. */
	if (fs_used_bytes(f->root_fd, &before) < 0)
		before = 0;
	if (f->btrfs) {
		struct findnew_ctx c = { .f = f, .flt = flt, .min_gen = from };

		if (f->subvols && subvols_refresh(f->subvols, f->top_fd) > 0) {
			(void)subvols_save(f->subvols);
			pthread_mutex_lock(&W.lock);
			f->nsubvols = subvols_count(f->subvols);
			pthread_mutex_unlock(&W.lock);
		}
		if (btrfs_fs_generation(f->top_fd, &gen0) < 0)
			gen0 = 0;
		ret = btrfs_subvols_changed(f->top_fd, from, subvol_changed,
					    &c);
		files = c.files;
	} else {
		struct walkin_ctx c = { .f = f, .flt = flt };
		struct walk_stats ws = { 0 };
		struct walk_opts w = *wo;

		/* Files are opened where the walk finds them. */
		w.under_self_binds = true;
		ret = walk_tree(f->mount, &w, &ws, walked_file, &c);
		files = c.files;
		atomic_fetch_add(&f->e.st.files_special, ws.special);
		atomic_fetch_add(&f->e.st.too_deep, ws.too_deep);
	}
	pass_finish(&f->pass);
	if (ret < 0 && ret != -EINTR)
		log_warn("catching up on '%s' failed: %s", f->mount,
			 strerror(-ret));
	if (!before || f->e.dry_run || fs_used_bytes(f->root_fd, &after) < 0)
		after = before;
	pthread_mutex_lock(&W.lock);
	f->bytes_freed += (int64_t)(before - after);
	f->catching_up = false;
	if (ret < 0 || pass_stop) {
		f->need_catchup = true;	/* do it again next time */
	} else if (gen0 > f->drained_gen) {
		/* Found by the search: everything up to gen0 is done. */
		f->drained_gen = gen0;
	}
	f->dirty = true;
	pthread_mutex_unlock(&W.lock);
	log_info("caught up on '%s' since generation %llu: %llu files in %.1f s",
		 f->mount, (unsigned long long)from,
		 (unsigned long long)files, now_wall() - t0);
}
