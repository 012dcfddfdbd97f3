// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * dedupd defrag: verified, non-exclusive, snapshot-aware defragmentation.
 *
 * A file is rewritten chunk by chunk through the relocation primitive: the
 * chunk's data are copied, contiguously, into an O_TMPFILE on the same
 * filesystem (one temporary file per file, written in order, so that the
 * allocator lays the chunks end to end), then that copy is deduped onto the
 * original. FIDEDUPERANGE compares the bytes under lock before it shares
 * anything: a writer that changed the chunk meanwhile makes the call fail
 * ("differs"), and the chunk is retried later, never lost. Nothing is held
 * between chunks, and the space needed is one chunk (on btrfs, plus the part
 * of an old extent that later chunks still use).
 *
 * On btrfs the old extents may be shared with snapshots (read-only ones too)
 * or reflinks: after the original is moved, every other reference to each
 * old extent (LOGICAL_INO_V2, ignoring offsets) is deduped onto the new copy
 * too, one extent at a time, so the old extents are freed and the snapshots
 * share the new, contiguous ones. Memory per extent is its references, not
 * snapshots times extents.
 *
 * On ext4, which cannot dedupe, the same chunks go through
 * EXT4_IOC_MOVE_EXT, where the kernel copies under both inodes' locks; that
 * ioctl demands the original opened read-write: the one place dedupd opens
 * a user file for writing, and it writes nothing through it.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include <linux/btrfs_tree.h>
#include <uthash.h>

#include "daemon/engine/defrag.h"
#include "daemon/engine/engine.h"
#include "daemon/common/log.h"
#include "daemon/engine/pass.h"
#include "daemon/engine/physmap.h"
#include "daemon/engine/relink.h"
#include "daemon/common/util.h"
#include "daemon/engine/walk.h"
#include "ioctl-compat/btrfs.h"
#include "ioctl-compat/dedupe.h"
#include "ioctl-compat/ext4.h"
#include "ioctl-compat/fiemap.h"
#include "ioctl-compat/fsprobe.h"

#define COPY_BUF (1u << 20)
#define RETRIES 3
#define EXT4_MOVE_STEP (1ULL << 20)
/* Room left on the filesystem after a whole-file preallocation. */
#define PREALLOC_SLACK (256ULL << 20)

struct defrag {
	const struct defrag_opts *o;
	const char *tmp_dir;	/* where temporary files go, or NULL: beside
				 * each file */
	struct defrag_stats st;
	struct engine_stats pst;	/* for the progress bar */
	struct fs_info fs;
	int mount_fd;		/* any fd on the filesystem, for handles */
	uint8_t *buf;
	struct relink_ctx *relink;	/* snapshots and reflinks follow */
	int fill_fd;		/* btrfs: old data of partial holders, or -1 */
	uint64_t fill_end;
	bool prealloc;		/* the copy's blocks allocated up front */
	bool mapped;		/* XFS: the file's referrers are mapped */
	struct physmap_stats pm;
};

/* ---- measuring ------------------------------------------------------------ */

/*
 * Counts the data extents of [start, end) as filefrag does: physically
 * contiguous pieces are one. Sets *ret_data (bytes of data) if non-NULL.
 * Returns the count or -errno.
 */
static int64_t count_extents(int fd, uint64_t start, uint64_t end,
			     uint64_t *ret_data)
{
	struct fiemap_iter *it;
	struct extent ex;
	uint64_t next_phys = 0, next_log = 0, data = 0;
	int64_t n = 0;
	int ret;

	ret = fiemap_iter_open(fd, start, end, FIEMAP_ITER_SYNC, &it);
	if (ret < 0)
		return ret;
	while ((ret = fiemap_iter_next(it, &ex)) == 1) {
		if (ex.flags & (EXTENT_HOLE | EXTENT_INLINE))
			continue;
		if (ex.logical != next_log || ex.physical != next_phys || !n)
			n++;
		next_log = ex.logical + ex.length;
		next_phys = ex.physical + ex.length;
		data += ex.length;
	}
	fiemap_iter_free(it);
	if (ret < 0)
		return ret;
	if (ret_data)
		*ret_data = data;
	return n;
}

/* Whether [start, end) is worth moving: more extents than its size needs. */
static bool fragmented(const struct defrag *d, int64_t extents, uint64_t data)
{
	return extents > 0 &&
	       defrag_fragmented(d->o, (uint64_t)extents, data);
}

/* ---- the copy -------------------------------------------------------------- */

/*
 * The next range [*@a, *@b) of data (not a hole, not preallocated) in
 * [@off, @end) that @it maps. Returns 1, 0 at the end, or -errno.
 */
static int next_data(struct fiemap_iter *it, uint64_t off, uint64_t end,
		     uint64_t *a, uint64_t *b)
{
	struct extent ex;
	int ret;

	while ((ret = fiemap_iter_next(it, &ex)) == 1) {
		*a = ex.logical > off ? ex.logical : off;
		*b = ex.logical + ex.length < end ? ex.logical + ex.length :
						    end;
		if (!(ex.flags & (EXTENT_HOLE | EXTENT_UNWRITTEN)) && *a < *b)
			return 1;
	}
	return ret;
}

/*
 * Copies the data of [off, off + len) (holes and preallocated ranges stay
 * holes) from @src to the same offsets of @dst. Returns 0 or -errno.
 */
static int copy_chunk(struct defrag *d, int src, int dst, uint64_t off,
		      uint64_t len)
{
	struct fiemap_iter *it;
	uint64_t a, b;
	int ret;

	ret = fiemap_iter_open(src, off, off + len, 0, &it);
	if (ret < 0)
		return ret;
	while ((ret = next_data(it, off, off + len, &a, &b)) == 1) {
		while (a < b) {
			size_t want = b - a < COPY_BUF ? b - a : COPY_BUF;
			ssize_t got = pread(src, d->buf, want, (off_t)a);

			if (got < 0) {
				ret = -errno;
				goto out;
			}
			if (got == 0)
				break;	/* shrank: the dedupe will say */
			if (pwrite(dst, d->buf, (size_t)got, (off_t)a) != got) {
				ret = errno ? -errno : -EIO;
				goto out;
			}
			a += (uint64_t)got;
		}
	}
	if (ret == 0 && fdatasync(dst) < 0)
		ret = -errno;
out:
	fiemap_iter_free(it);
	return ret < 0 ? ret : 0;
}

/*
 * Dedupes the copy's data in [off, off + len) onto the original, range by
 * range of data. Returns the bytes shared, -EBADE if the original changed,
 * or -errno.
 */
static int64_t share_chunk(struct defrag *d, int tmp, int orig, uint64_t off,
			   uint64_t len, uint64_t size)
{
	struct fiemap_iter *it;
	int64_t done = 0, r;
	uint64_t a, b;
	int ret;

	ret = fiemap_iter_open(tmp, off, off + len, FIEMAP_ITER_SYNC, &it);
	if (ret < 0)
		return ret;
	/* Holes of the original, or preallocated: not shared. */
	while ((ret = next_data(it, off, off + len < size ? off + len : size,
				&a, &b)) == 1) {
		r = dedupe_range(tmp, a, b - a, orig, a, d->fs.block_size);
		if (r < 0) {
			fiemap_iter_free(it);
			return r;
		}
		done += r;
	}
	fiemap_iter_free(it);
	return ret < 0 ? ret : done;
}

/* ---- one file ------------------------------------------------------------------ */

struct chunk_state {
	uint64_t off, len;
	int tries;
	bool done;
};

static int open_tmp(const struct defrag *d, const char *path)
{
	char *dup = xstrdup(path), *dir = d->tmp_dir ? (char *)d->tmp_dir :
						       dirname(dup);
	int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	int err = errno;

	free(dup);
	errno = err;
	return fd < 0 ? -errno : fd;
}

/*
 * XFS and ext4: when the filesystem has room for all the chunks to move
 * and then some, their blocks in the temporary file are allocated in one
 * call, so that the allocator can give one extent for the whole span, as
 * xfs_fsr and e4defrag get; otherwise each chunk is allocated as it goes
 * (ext4) or as it is written (XFS), needing one chunk of room. On btrfs a
 * preallocation is written in place, not copied on write: not used there.
 */
static void prealloc_copy(struct defrag *d, int tmp,
			  const struct chunk_state *chunks, size_t n)
{
	struct statfs sf;
	uint64_t a, b, avail;

	d->prealloc = false;
	if (!n || (d->fs.kind != FS_XFS && d->fs.kind != FS_EXT4) ||
	    fstatfs(tmp, &sf) < 0)
		return;
	a = chunks[0].off;
	b = chunks[n - 1].off + chunks[n - 1].len;
	avail = (uint64_t)sf.f_bavail * (uint64_t)sf.f_bsize;
	if (avail < b - a + PREALLOC_SLACK)
		return;
	d->prealloc = fallocate(tmp, 0, (off_t)a, (off_t)(b - a)) == 0;
}

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR && !pass_stop)
		;
}

/* Moves one chunk. Returns 0 done, -EBADE / -EAGAIN retry later, -errno. */
static int move_chunk(struct defrag *d, int orig, int tmp, uint64_t off,
		      uint64_t len, uint64_t size, uint64_t root, uint64_t ino)
{
	struct relink_items items = { 0 };
	int64_t r;
	int ret;

	if (d->fs.kind == FS_EXT4) {
		/*
		 * The donor is the temporary file: its blocks for the chunk
		 * only allocated (in one piece if the allocator can; for the
		 * whole file up front when there is room, see defrag_fd), the
		 * kernel copies the data itself, under both inodes' locks,
		 * then swaps the blocks. It goes EXT4_MOVE_STEP at a time, so
		 * that a writer waits for one step, not the chunk. The old
		 * blocks, now the donor's, are punched out after each chunk.
		 * A failed call may have swapped part of the range: those old
		 * blocks are punched out too; the original is whole either
		 * way.
		 */
		uint64_t b = d->fs.block_size, moved, at;

		if (!d->prealloc &&
		    fallocate(tmp, 0, (off_t)off, (off_t)len) < 0)
			return -errno;
		ret = 0;
		for (at = off; at < off + len && ret == 0; at += EXT4_MOVE_STEP) {
			uint64_t n = off + len - at < EXT4_MOVE_STEP ?
					     off + len - at : EXT4_MOVE_STEP;

			moved = 0;
			ret = ext4_move_extent(orig, tmp, at / b, at / b,
					       (n + b - 1) / b, &moved);
			if (ret == -EBUSY) {
				/*
				 * Dirty pages in the step: written back, then
				 * once more (a sync per step would make the
				 * writer wait on journal commits).
				 */
				d->st.bytes_moved += moved * b;
				moved = 0;
				if (fdatasync(orig) < 0) {
					ret = -errno;
					break;
				}
				ret = ext4_move_extent(orig, tmp, at / b,
						       at / b, (n + b - 1) / b,
						       &moved);
			}
			if (ret == -ENODATA)
				ret = 0;	/* the step ends in a hole */
			d->st.bytes_moved += moved * b;
		}
		(void)fallocate(tmp, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				(off_t)off, (off_t)len);
		if (ret == -EBUSY)
			ret = -EAGAIN;	/* written meanwhile: later */
		return ret;
	}
	/* Before the move: which old extents the chunk used. */
	/* On error no relink: the move still works. */
	if (d->fs.kind == FS_BTRFS)
		(void)relink_items_read(d->relink, root, ino, off, off + len,
					&items);
	else if (d->mapped)
		(void)relink_items_fiemap(orig, off, off + len, &items);
	ret = copy_chunk(d, orig, tmp, off, len);
	if (ret < 0)
		goto out;
	r = share_chunk(d, tmp, orig, off, len, size);
	if (r < 0) {
		ret = (int)r;
		goto out;
	}
	d->st.bytes_moved += (uint64_t)r;
	if (items.n) {
		struct relink_stats rs = { 0 };

		ret = relink_range(d->relink, &items, tmp, 0, root, ino,
				   d->fill_fd, d->fill_fd >= 0 ? &d->fill_end :
								 NULL, &rs);
		d->st.bytes_filled += rs.bytes_filled;
		d->st.bytes_relinked += rs.bytes_relinked;
		d->st.refs_relinked += rs.refs_relinked;
		d->st.refs_busy += rs.refs_busy;
		d->st.refs_pinned += rs.refs_pinned;
		d->st.bytes_pinned += rs.bytes_pinned;
		d->st.errors += rs.errors;
	}
	if (d->fs.kind == FS_BTRFS)
		(void)syncfs(orig);	/* a commit frees the old extents */
out:
	relink_items_release(&items);
	return ret;
}

/*
 * XFS: the other files that share the file's blocks (reflink backups) are
 * found by a walk of the scope (--scope, else the file's mount), so that
 * they follow each chunk onto the new copy (physmap.h).
 */
static void map_referrers(struct defrag *d, int orig, const char *path,
			  uint64_t size)
{
	struct physmap *m;
	char *root = NULL;
	int ret;

	d->mapped = false;
	if (d->fs.kind != FS_XFS)
		return;
	if (!d->o->scope) {
		ret = mount_root(path, &root);
		if (ret < 0) {
			log_warn("cannot find the mount of '%s': %s, its reflinked copies keep the old blocks",
				 path, strerror(-ret));
			d->st.errors++;
			return;
		}
	}
	ret = physmap_build(orig, 0, size, d->o->scope ? d->o->scope : root,
			    &pass_stop, &d->pm, &m);
	d->st.files_mapped = d->pm.files;
	if (ret < 0 && ret != -EINTR) {
		log_warn("cannot map the reflinked copies of '%s' under '%s': %s, they keep the old blocks",
			 path, d->o->scope ? d->o->scope : root,
			 strerror(-ret));
		d->st.errors++;
	} else if (ret == 0) {
		relink_use_map(d->relink, m);
		d->mapped = true;
	}
	free(root);
}

/*
 * @name in @dfd, which the walk found to be @walked: opened there, not
 * following a symlink, and left alone if it is another file by now.
 */
static void defrag_file(struct defrag *d, int dfd, const char *name,
			const char *path, const struct stat *walked)
{
	int orig, flags, ret;

	d->st.files++;
	flags = d->fs.kind == FS_EXT4 ? O_RDWR : O_RDONLY;
	orig = openat(dfd, name, flags | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC |
					 O_NOATIME);
	if (orig < 0 && errno == EPERM)
		orig = openat(dfd, name,
			      flags | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (orig < 0) {
		if (errno == ENOENT) {
			d->st.files_vanished++;
		} else if (errno == ELOOP) {
			log_info("'%s' was replaced by a symlink since the walk, skipping",
				 path);
			d->st.files_replaced++;
		} else {
			log_warn("cannot open '%s': %s, skipping", path,
				 strerror(errno));
			d->st.errors++;
		}
		return;
	}
	ret = engine_check_walked(orig, walked);
	if (ret == -ESTALE) {
		log_info("'%s' was replaced since the walk, skipping", path);
		d->st.files_replaced++;
	} else if (ret == 0) {
		defrag_fd(d, orig, path);
	} else {
		d->st.files_vanished++;
	}
	close(orig);
}

/*
 * Moves the fragmented @chunks of @orig (@size bytes, inode @ino of @root on
 * btrfs) through @tmp. Changed chunks are retried after the others, RETRIES
 * times, then skipped.
 */
static void move_chunks(struct defrag *d, int orig, int tmp,
			struct chunk_state *chunks, size_t nchunks,
			uint64_t size, uint64_t root, uint64_t ino,
			const char *path)
{
	const struct defrag_opts *o = d->o;
	size_t i;
	int pass;

	for (pass = 0; pass < RETRIES && !pass_stop; pass++) {
		bool again = false;

		for (i = 0; i < nchunks && !pass_stop; i++) {
			struct chunk_state *c = &chunks[i];
			int ret;

			if (c->done)
				continue;
			d->st.chunks++;
			ret = move_chunk(d, orig, tmp, c->off, c->len,
					 size, root, ino);
			c->tries++;
			if (ret == 0) {
				c->done = true;
				atomic_fetch_add(&d->pst.bytes_seen, c->len);
			} else if (ret == -EBADE || ret == -EAGAIN) {
				d->st.chunks_retried++;
				again = true;
			} else {
				if (ret == -ENOSPC || ret == -EDQUOT)
					log_warn("no space for a %llu-byte chunk of '%s', skipping the file",
						 (unsigned long long)c->len,
						 path);
				else
					log_warn("cannot move %llu bytes at %llu of '%s': %s, skipping",
						 (unsigned long long)c->len,
						 (unsigned long long)c->off,
						 path, strerror(-ret));
				d->st.errors++;
				c->done = true;
				if (ret == -ENOSPC || ret == -EDQUOT)
					goto skip_rest;
			}
			if (o->delay_ms)
				sleep_ms(o->delay_ms);
		}
		if (!again)
			break;
		sleep_ms(o->delay_ms > 100 ? o->delay_ms : 100);
	}
skip_rest:
	for (i = 0; i < nchunks; i++)
		if (!chunks[i].done) {
			d->st.chunks_skipped++;
			chunks[i].done = true;
			if (!pass_stop)
				log_warn("'%s' kept changing at %llu (+%llu bytes) during defrag, skipping that chunk",
					 path, (unsigned long long)chunks[i].off,
					 (unsigned long long)chunks[i].len);
		}
}

void defrag_fd(struct defrag *d, int orig, const char *path)
{
	const struct defrag_opts *o = d->o;
	struct chunk_state *chunks = NULL;
	size_t nchunks = 0, cap = 0;
	uint64_t size, data = 0, root = 0, ino = 0;
	int64_t before, after;
	int tmp = -1;
	struct stat st;

	if (fstat(orig, &st) < 0 || !S_ISREG(st.st_mode)) {
		d->st.files_skipped++;
		return;
	}
	size = (uint64_t)st.st_size;
	before = count_extents(orig, 0, size, &data);
	if (before < 0) {
		log_warn("cannot map the extents of '%s': %s, skipping", path,
			 strerror((int)-before));
		d->st.errors++;
		goto out;
	}
	d->st.extents_before += (uint64_t)before;
	d->st.bytes += size;
	atomic_fetch_add(&d->pst.files_seen, 1);
	if (!fragmented(d, before, data)) {
		d->st.extents_after += (uint64_t)before;
		atomic_fetch_add(&d->pst.bytes_seen, size);
		goto out;
	}
	d->st.files_fragmented++;
	if (o->dry_run) {
		if (!o->json) {
			size_t ecap = 4 * strlen(path) + 1;
			char *esc = xmalloc(ecap);

			/* One line a file, whatever its name holds. */
			printf("%s: %lld extents, %.1f MiB\n",
			       log_escape(esc, ecap, path), (long long)before,
			       (double)size / (1 << 20));
			free(esc);
		}
		d->st.extents_after += (uint64_t)before;
		atomic_fetch_add(&d->pst.bytes_seen, size);
		goto out;
	}
	if (d->fs.kind == FS_BTRFS && btrfs_file_root(orig, &root, &ino) < 0)
		root = 0;
	tmp = open_tmp(d, path);
	if (tmp < 0) {
		log_warn("cannot create a temporary file beside '%s': %s, skipping",
			 path, strerror(-tmp));
		d->st.errors++;
		goto out;
	}
	/* Only fragmented chunks move: a contiguous one stays put. */
	for (uint64_t off = 0; off < size; off += o->chunk) {
		uint64_t len = size - off < o->chunk ? size - off : o->chunk;
		uint64_t cdata = 0;
		int64_t n = count_extents(orig, off, off + len, &cdata);

		if (n < 0 || !fragmented(d, n, cdata))
			continue;
		chunks = grow_array(chunks, &cap, nchunks + 1,
				    sizeof(*chunks));
		chunks[nchunks++] = (struct chunk_state){ off, len, 0, false };
	}
	prealloc_copy(d, tmp, chunks, nchunks);
	/*
	 * btrfs: reflink backups taken before the file was overwritten map
	 * the old extents otherwise; what they still hold of them is copied
	 * once into a file of its own, so that the old extents are freed.
	 */
	d->fill_fd = -1;
	d->fill_end = 0;
	if (d->fs.kind == FS_BTRFS && root && o->rewrite_backups) {
		d->fill_fd = open_tmp(d, path);
		if (d->fill_fd < 0)
			d->fill_fd = -1;
	}
	map_referrers(d, orig, path, size);
	move_chunks(d, orig, tmp, chunks, nchunks, size, root, ino, path);
	d->st.files_defragged++;
	relink_reset(d->relink);
	d->mapped = false;
	if (d->fill_fd >= 0)
		close(d->fill_fd);	/* the holders keep what they share */
	d->fill_fd = -1;
	close(tmp);	/* its references go; the original keeps the data */
	tmp = -1;
	after = count_extents(orig, 0, size, NULL);
	d->st.extents_after += after < 0 ? (uint64_t)before : (uint64_t)after;
	log_info("'%s': %lld extents before, %lld after", path,
		 (long long)before, (long long)after);
out:
	free(chunks);
	if (tmp >= 0)
		close(tmp);
}

struct defrag *defrag_new(const struct defrag_opts *o, int mount_fd,
			  const struct fs_info *fs, const char *tmp_dir)
{
	struct defrag *d = xcalloc(1, sizeof(*d));

	d->o = o;
	d->mount_fd = mount_fd;
	d->fs = *fs;
	d->tmp_dir = tmp_dir;
	d->fill_fd = -1;
	d->relink = relink_new(mount_fd, fs->block_size, o->skip_snapshots,
			       DOMAIN_NONE, &pass_stop);
	if (!d->relink || posix_memalign((void **)&d->buf, 4096, COPY_BUF)) {
		relink_free(d->relink);
		free(d);
		return NULL;
	}
	return d;
}

const struct defrag_stats *defrag_get_stats(const struct defrag *d)
{
	return &d->st;
}

const struct engine_stats *defrag_progress(const struct defrag *d)
{
	return &d->pst;
}

static int defrag_walked(void *arg, int dfd, const char *name,
			 const char *path, const struct stat *sb)
{
	struct defrag *d = arg;

	if (pass_stop)
		return -EINTR;
	defrag_file(d, dfd, name, path, sb);
	return 0;
}

int defrag_tree(struct defrag *d, const char *path, struct walk_opts *w)
{
	struct walk_stats ws = { 0 };
	struct statx stx;
	int ret;

	if (statx(AT_FDCWD, path, 0, STATX_MNT_ID, &stx) < 0)
		return -errno;
	w->mnt_id = (int)stx.stx_mnt_id;
	ret = walk_tree(path, w, &ws, defrag_walked, d);
	d->st.files_special += ws.special;
	d->st.too_deep += ws.too_deep;
	return ret;
}

struct defrag *defrag_free(struct defrag *d)
{
	if (!d)
		return NULL;
	d->relink = relink_free(d->relink);
	free(d->buf);
	free(d);
	return NULL;
}

bool defrag_fragmented(const struct defrag_opts *o, uint64_t extents,
		       uint64_t bytes)
{
	double mib = (double)bytes / (1 << 20);

	return extents > 1 && mib / (double)extents < o->min_extent_mib;
}

