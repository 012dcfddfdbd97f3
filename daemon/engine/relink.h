/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef DEDUPD_RELINK_H
#define DEDUPD_RELINK_H

/*
 * The relocation primitive's second half, on btrfs: once a file's range has
 * moved (deduped onto another file, or onto a contiguous copy), every other
 * reference to the old data (read-only and writable snapshots, reflinked
 * copies, in any subvolume, inside the PATHs given or not) is deduped onto
 * the same new place, so that the old extents are really freed. Shared by
 * scan, the watch daemon's rounds, the relocation of unique remainders and
 * defrag.
 *
 * The referrers are found with LOGICAL_INO_V2 at the first and the last
 * block of each old item (offsets not ignored: the kernel answers only the
 * items covering that byte, with the file offset where it sits); each
 * referrer's items over the range are then read once, and a referrer is
 * deduped only where it maps exactly the bytes the original mapped, up to
 * DEDUPE_MAX_DESTS destinations a call, read-only fds. A referrer that maps
 * the old extents otherwise (a snapshot taken before the original was
 * overwritten, a writable snapshot that diverged) is left alone for the
 * rest of the file and counted as pinned. Memory per call is bounded by
 * the holders of one range, never snapshots x extents.
 */

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daemon/common/util.h"

/*
 * One file extent item of the original, cut to the range that moves. On
 * XFS, one FIEMAP extent: bytenr is its address, extent_offset 0, and
 * shared says whether another file maps it too.
 */
struct relink_item {
	uint64_t file_off, len, bytenr, extent_offset;
	bool shared;
};

/* The original's items over [start, end) before the move. */
struct relink_items {
	struct relink_item *v;
	size_t n, cap;
	uint64_t start, end;
};

struct relink_stats {
	uint64_t bytes_relinked, refs_relinked;
	uint64_t refs_busy;	/* roots being sent (EAGAIN) */
	uint64_t refs_pinned;	/* referrers that could not move */
	uint64_t bytes_pinned;	/* what they map of the range */
	uint64_t bytes_filled;	/* old data copied for partial holders */
	uint64_t errors;
};

struct relink_ctx;

/*
 * A relinker for the filesystem of @mount_fd (kept open by the caller).
 * With @skip_readonly, read-only subvolumes are never deduped into: their
 * references stay, and count as pinned. When *@stop (if not NULL) is set,
 * what is left of a range is left alone. Referrers outside the @domain
 * of the file whose data moved (another owner, another subvolume) are
 * never deduped into either: they stay, pinned. Returns NULL on
 * allocation failure.
 */
struct relink_ctx *relink_new(int mount_fd, uint32_t block_size,
			      bool skip_readonly, enum dedupe_domain domain,
			      const volatile sig_atomic_t *stop);

/* NULL-safe; returns NULL. */
struct relink_ctx *relink_free(struct relink_ctx *r);

/*
 * --domain: whether every file referring to the extent at disk address
 * @bytenr (LOGICAL_INO_V2) is in the domain of @fd, the file whose data it
 * is, so that deduping another file of that domain onto it makes nothing
 * shared across domains. False when the referrers cannot be listed.
 */
bool relink_extent_in_domain(struct relink_ctx *d, int fd, uint64_t bytenr);

/*
 * Forgets the referrers left alone, closes their fds and frees the map
 * (per file).
 */
void relink_reset(struct relink_ctx *r);

/*
 * Reads into @items the uncompressed, non-inline data items of inode @ino
 * of subvolume @root over [@start, @end), cut to it; @items is reset first.
 * Returns 0 or -errno (-EPERM without CAP_SYS_ADMIN).
 */
int relink_items_read(struct relink_ctx *r, uint64_t root, uint64_t ino,
		      uint64_t start, uint64_t end, struct relink_items *items);

/*
 * XFS: reads into @items the data extents of @fd over [@start, @end) by
 * FIEMAP (written back first); @items is reset first. Returns 0 or -errno.
 */
int relink_items_fiemap(int fd, uint64_t start, uint64_t end,
			struct relink_items *items);

struct physmap;

/*
 * XFS, which cannot name the referrers of a block: relink_range() takes
 * them from @m (physmap.h), the map of the file being worked on, which
 * the relinker owns from now on and frees at relink_reset().
 */
void relink_use_map(struct relink_ctx *r, struct physmap *m);

/* A set of files, by subvolume and inode. */
struct relink_files {
	uint64_t (*v)[2];
	size_t n, cap;
};

/* Adds (@root, @ino) to @f (once). */
void relink_files_add(struct relink_files *f, uint64_t root, uint64_t ino);

/*
 * btrfs frees an extent only when no byte of it is referenced: whether
 * every reference to each extent that @items (the original's items over a
 * range about to move) touch, in any file, the original included, maps
 * only bytes of it that @moving (everything about to move, @items
 * included) maps, or comes from a file of @followers (which the caller
 * moves along). Then the moves, referrers following, free those extents;
 * an extent that the original still maps elsewhere, or that a snapshot
 * holds more of (taken before part of it was overwritten), would stay, and
 * the move would cost space for nothing. Asked before data is written for
 * a move (the relocation of a remainder); extents with more than a few
 * thousand references are not looked into (false).
 */
bool relink_frees_extents(struct relink_ctx *r, const struct relink_items *items,
			  const struct relink_items *moving,
			  const struct relink_files *followers);

/* Frees what @items holds. */
void relink_items_release(struct relink_items *items);

/*
 * After the original (inode @self_ino of @self_root) moved @items' range:
 * the bytes it had at offset t are now at t + @src_delta of @src (open
 * read-only). Dedupes @src onto every other referrer of @items' old data
 * that maps them as the original did.
 *
 * Partial holders: with @fill_end non-NULL, a referrer that maps the old
 * extents otherwise (a reflink backup taken before the original was
 * overwritten) is not left alone: the stretches that map as the original
 * did follow it, and the old bytes it maps otherwise are copied once into
 * @fill_fd (a temporary file of ours, written from *@fill_end on, which is
 * advanced) and deduped onto every referrer that maps them, so that no
 * reference to the old extents is left. The caller decides whether the
 * write is worth it. Without, such a referrer is left alone for the rest
 * of the file and counted as pinned.
 *
 * Adds to @st. Returns 0, or -EAGAIN if a referrer was busy (a root being
 * sent): retry later.
 */
int relink_range(struct relink_ctx *r, const struct relink_items *items,
		 int src, int64_t src_delta, uint64_t self_root,
		 uint64_t self_ino, int fill_fd, uint64_t *fill_end,
		 struct relink_stats *st);

/*
 * Whether every other referrer of @items' old data (the original: inode
 * @self_ino of @self_root) maps it as the original does and can be opened,
 * so that relink_range() would leave none of them behind: asked before
 * data is written for a move (the relocation of a shared remainder), so
 * that a move that would free nothing costs no space either. Changes
 * nothing; a root being sent is found only by the move. When not, adds
 * the referrers that would stay to @st. If @others is not NULL, the files
 * in other subvolumes that would follow are appended to it (root, inode;
 * a file may come more than once), for the caller to weigh their
 * metadata (metabudget.h).
 */
bool relink_would_follow(struct relink_ctx *r, const struct relink_items *items,
			 uint64_t self_root, uint64_t self_ino,
			 struct relink_stats *st, struct relink_files *others);

/*
 * The caller weighs the metadata that moving references in other
 * subvolumes costs (the engine's metabudget) before it moves anything:
 * the relinker then lets every referrer that can follow, follow. Without
 * it (defrag), a range is followed in other subvolumes only when it frees
 * more than an estimate per reference.
 */
void relink_metadata_by_caller(struct relink_ctx *r);

#endif
