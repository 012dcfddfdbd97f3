// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * dedupd watch: a watched filesystem set up (probed, marked with fanotify,
 * its engine, index, state, subvolume registry and defrag queue opened) and
 * torn down.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <btrfsutil.h>

#include "daemon/common/log.h"
#include "daemon/engine/index.h"
#include "daemon/engine/subvols.h"
#include "daemon/service/internal.h"
#include "ioctl-compat/fanotify.h"
#include "ioctl-compat/fsprobe.h"

/* Opens and probes the mount. Returns an exit status, the failure logged. */
static int probe_fs(struct wfs *f)
{
	struct statx stx;
	int ret;

	f->root_fd = f->top_fd = f->fan_fd = f->top_mfd = -1;
	f->root_fd = open(f->mount, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (f->root_fd < 0) {
		log_error("cannot open '%s': %s", f->mount, strerror(errno));
		return EXIT_RUNTIME;
	}
	ret = fs_probe(f->root_fd, 0, &f->e.fs);
	if (ret < 0) {
		log_error("cannot probe the filesystem of '%s': %s", f->mount,
			  strerror(-ret));
		return EXIT_RUNTIME;
	}
	if (!f->e.fs.can_dedupe) {
		log_error("'%s' is on %s, which cannot dedupe (dedupd needs btrfs, or XFS with reflink)",
			  f->mount, f->e.fs.name);
		return EXIT_UNSUPPORTED_FS;
	}
	f->btrfs = f->e.fs.kind == FS_BTRFS;
	if (statx(f->root_fd, "", AT_EMPTY_PATH, STATX_MNT_ID, &stx) < 0) {
		log_error("cannot stat '%s': %s", f->mount, strerror(errno));
		return EXIT_RUNTIME;
	}
	f->e.mnt_id = (int)stx.stx_mnt_id;
	return EXIT_OK;
}

/*
 * A fanotify filesystem mark, on btrfs through a private mount of the top
 * level if the mount is a subvolume's; the top fd, where handles are
 * opened. Returns an exit status, the failure logged.
 */
static int mark_fs(struct wfs *f, const struct watch_opts *o)
{
	struct statx stx;
	int ret;

	f->fan_fd = fan_open(o->bounded_queue ? FAN_OPEN_BOUNDED_QUEUE : 0);
	if (f->fan_fd < 0) {
		log_error("cannot subscribe to writes: fanotify: %s%s",
			  strerror(-f->fan_fd),
			  f->fan_fd == -EPERM ? " (needs root)" : "");
		return EXIT_RUNTIME;
	}
	ret = fan_mark_filesystem(f->fan_fd, f->mount, FAN_WATCH_EVENTS);
	if (ret == -EXDEV && f->btrfs) {
		enum btrfs_util_error err;
		char *sv = NULL;

		ret = mount_top_level(f);
		if (ret < 0) {
			log_error("cannot mount the top level of '%s' (needed for a filesystem mark on a subvolume mount): %s",
				  f->mount, strerror(-ret));
			return EXIT_RUNTIME;
		}
		err = btrfs_util_subvolume_path_fd(f->root_fd, 0, &sv);
		f->subvol = err ? NULL : sv;
		ret = fan_mark_filesystem(f->fan_fd, f->top_dir,
					  FAN_WATCH_EVENTS);
	}
	if (ret < 0) {
		log_error("cannot mark '%s' with fanotify: %s", f->mount,
			  strerror(-ret));
		return EXIT_RUNTIME;
	}
	f->top_fd = open(f->top_dir ? f->top_dir : f->mount,
			 O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (f->top_fd < 0 ||
	    statx(f->top_fd, "", AT_EMPTY_PATH, STATX_MNT_ID, &stx) < 0) {
		log_error("cannot open '%s': %s", f->mount, strerror(errno));
		return EXIT_RUNTIME;
	}
	f->e.mnt_id = (int)stx.stx_mnt_id;
	return EXIT_OK;
}

/* The engine, the pass and the index. Returns an exit status. */
static int open_engine(struct wfs *f, const struct watch_opts *o)
{
	f->e.tmp_dir = xstrdup(f->mount);
	f->e.skip_snapshots = o->skip_snapshots;	/* before its relinker */
	f->e.domain = o->domain;
	f->e.read_all = o->read_all;
	engine_init(&f->e, f->top_fd);
	f->engine_ready = true;
	f->e.dry_run = o->dry_run;
	f->e.min_size = o->min_size;
	f->e.threads = o->threads;
	if (f->e.by_path) {
		log_error("cannot open files by handle on '%s' (needs CAP_DAC_READ_SEARCH)",
			  f->mount);
		return EXIT_RUNTIME;
	}
	pass_init(&f->pass, &f->e);

	index_guard_sigbus();
	f->open_result = index_open(&f->e, f->root_fd, o->state_dir,
				    o->db_path, o->db_size, f->db_path,
				    sizeof(f->db_path));
	if (f->open_result == -EWOULDBLOCK)
		return EXIT_INDEX_LOCKED;
	if (f->open_result < 0)
		return EXIT_RUNTIME;
	return EXIT_OK;
}

/*
 * The state sits next to the index; on btrfs it says where a catch-up
 * starts. Returns an exit status.
 */
static int open_state(struct wfs *f)
{
	int ret;

	if (strlen(f->db_path) + 7 > sizeof(f->state_path)) {
		log_error("index path '%s' is too long", f->db_path);
		return EXIT_USAGE;
	}
	strcpy(f->state_path, f->db_path);
	strcat(f->state_path, ".state");
	f->need_catchup = true;
	f->catchup_from = 0;
	if (f->btrfs && f->open_result == HASHDB_OPENED) {
		ret = load_state(f);
		if (ret == 1)
			f->catchup_from = f->saved_gen;
		else if (ret < 0)
			log_warn("cannot read state '%s': %s, catching up on everything",
				 f->state_path, strerror(-ret));
	}
	f->drained_gen = f->catchup_from;
	return EXIT_OK;
}

/* btrfs: the subvolume registry, next to the index. */
static void open_subvols(struct wfs *f)
{
	struct subvols_stats sst;
	char sv[PATH_MAX + 16];
	int ret;

	snprintf(sv, sizeof(sv), "%s.subvols", f->db_path);
	ret = subvols_open(sv, f->top_fd, f->e.fs.uuid, &f->subvols, &sst);
	if (ret < 0)
		log_warn("no subvolume registry for '%s': %s", f->mount,
			 strerror(-ret));
	else
		f->nsubvols = subvols_count(f->subvols);
	if (ret == 0)
		log_info("subvolume registry of '%s': %zu subvolumes, %zu updated%s in %.1f ms",
			 f->mount, subvols_count(f->subvols), sst.updated,
			 sst.rebuilt ? " (rebuilt)" : "", sst.seconds * 1000);
}

/* The defragmenter and the defrag queue, next to the index. */
static void open_defrag(struct wfs *f, const struct watch_opts *o)
{
	f->dopts.chunk = o->defrag_chunk;
	f->dopts.skip_snapshots = o->skip_snapshots;
	f->dopts.min_extent_mib = 1e9;	/* the daemon decided already */
	f->defrag = defrag_new(&f->dopts, f->top_fd, &f->e.fs, f->mount);
	strcpy(f->defrag_path, f->db_path);	/* fits: 8 bytes more */
	strcat(f->defrag_path, ".defrag");
	if (f->defrag) {
		defrag_queue_load(f);
		f->e.hashed_cb = file_hashed;
		f->e.hashed_arg = f;
	}
}

int setup_fs(struct wfs *f, const struct watch_opts *o)
{
	char uuid[40];
	int ret;

	ret = probe_fs(f);
	if (ret == EXIT_OK)
		ret = mark_fs(f, o);
	if (ret == EXIT_OK)
		ret = open_engine(f, o);
	if (ret == EXIT_OK)
		ret = open_state(f);
	if (ret != EXIT_OK)
		return ret;
	if (f->btrfs)
		open_subvols(f);
	open_defrag(f, o);
	fs_uuid_format(f->e.fs.uuid, uuid);
	log_info("watching '%s' (%s %s), index '%s' %s", f->mount,
		 f->e.fs.name, uuid, f->db_path,
		 index_result_name[f->open_result]);
	return EXIT_OK;
}

void teardown_fs(struct wfs *f)
{
	f->defrag = defrag_free(f->defrag);
	f->subvols = subvols_close(f->subvols);
	free(f->dq);
	if (f->engine_ready) {
		pass_fini(&f->pass);
		index_close(&f->e, f->db_path);
		engine_fini(&f->e);
	}
	wqueue_fini(&f->q);
	if (f->fan_fd >= 0)
		close(f->fan_fd);
	if (f->top_fd >= 0 && f->top_fd != f->root_fd)
		close(f->top_fd);
	if (f->root_fd >= 0)
		close(f->root_fd);
	if (f->top_mfd >= 0)
		close(f->top_mfd);
	free(f->top_dir);
	free(f->subvol);
	free(f->mount);
}
