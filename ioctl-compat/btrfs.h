/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef DEDUPD_IOCTL_BTRFS_H
#define DEDUPD_IOCTL_BTRFS_H

/*
 * btrfs "find-new": which files had data written since a saved transaction id
 * (generation), the way `btrfs subvolume find-new` answers it, so that the
 * watch daemon can catch up on what it missed while it was not running.
 *
 * Save btrfs_fs_generation() when the files are known to be hashed; later,
 * btrfs_subvols_changed() from that generation names the subvolumes to look
 * into and btrfs_find_new() the inodes in each; btrfs_open_inode() opens them.
 *
 * What find-new does not see: data that is still dirty in the page cache (it
 * gets its extent items, and its generation, at writeback); truncation, hole
 * punching with the no-holes feature, unlink and rename (no new extent item);
 * reflink copies and our own dedupes (a cloned extent item keeps the
 * generation of its source), whose data is shared already.
 *
 * Tree searches need CAP_SYS_ADMIN, opening by handle CAP_DAC_READ_SEARCH.
 */

#include <stdint.h>

/* FILEID_BTRFS_WITHOUT_PARENT: {le64 objectid, le64 root, le32 generation} */
#define BTRFS_FID_TYPE 0x4d
#define BTRFS_FID_LEN 20

/*
 * The generation of the last committed transaction of the filesystem @fd is
 * on (any fd on it): everything the kernel writes into a tree after this call
 * gets a larger generation, so this is the @min_gen for a later
 * btrfs_subvols_changed() or btrfs_find_new() that must see those writes.
 *
 * It is read from the extent tree's ROOT_ITEM, which only a commit rewrites.
 * BTRFS_IOC_FS_INFO's generation is not used first because it is the open
 * transaction's id while one is open (then writes still to come in that
 * transaction would get the same generation and be missed); when the tree
 * search is refused (no CAP_SYS_ADMIN) or finds no extent tree, FS_INFO's
 * generation minus 1 is returned instead: just as safe, but one less than
 * needed when no transaction is open (that transaction's files are found
 * again).
 *
 * Returns 0 and sets *@ret_gen, -EOPNOTSUPP if the kernel cannot tell
 * (FS_INFO without BTRFS_FS_INFO_FLAG_GENERATION, before Linux 5.15), or
 * -errno (-ENOTTY: not btrfs).
 */
int btrfs_fs_generation(int fd, uint64_t *ret_gen);

/*
 * Called for each subvolume changed after the generation given: @root_id is
 * its id (5 for the top level), @generation that of its tree's last committed
 * change. Returns 0 to go on, anything else to stop.
 */
typedef int (*btrfs_subvol_cb)(void *arg, uint64_t root_id,
			       uint64_t generation);

/*
 * Lists the subvolumes and snapshots of the filesystem @fd is on (any fd on
 * it) whose tree was changed by a transaction committed after @min_gen, in
 * ascending id order (top level, 5, first), from their ROOT_ITEMs in the root
 * tree. Deleted subvolumes not yet cleaned up are skipped, except one deleted
 * in the still open transaction (btrfs_find_new() on it gives -ENOENT). A
 * subvolume changed only in the open transaction is not listed (its ROOT_ITEM
 * is written at commit): it will be from a btrfs_fs_generation() taken now.
 * A new snapshot is listed but has no new data to find.
 *
 * Returns 0, the callback's non-zero value, or -errno (-EPERM without
 * CAP_SYS_ADMIN).
 */
int btrfs_subvols_changed(int fd, uint64_t min_gen, btrfs_subvol_cb cb,
			  void *arg);

/*
 * Called once per inode written after the generation given, in ascending
 * inode order. Returns 0 to go on, anything else to stop.
 */
typedef int (*btrfs_new_cb)(void *arg, uint64_t root_id, uint64_t ino);

/*
 * Finds the inodes of subvolume @root_id (on the filesystem @fd is on) that
 * have a file extent item (regular, preallocated or inline, holes too) whose
 * generation is > @min_gen. Extent items are inserted at writeback, into the
 * tree in memory: data written back but not yet committed is found too.
 *
 * Returns 0, the callback's non-zero value, or -errno (-ENOENT: no such
 * subvolume, or one being deleted; -EPERM without CAP_SYS_ADMIN).
 */
int btrfs_find_new(int fd, uint64_t root_id, uint64_t min_gen, btrfs_new_cb cb,
		   void *arg);

/* Called for each new extent item of an inode: file bytes [@off, +@len). */
typedef int (*btrfs_range_cb)(void *arg, uint64_t off, uint64_t len);

/*
 * Reports, in file offset order, the ranges of inode @ino of subvolume
 * @root_id whose extent items are of a generation after @min_gen: what was
 * written since (regular, prealloc, inline and hole items alike). A range
 * shared by clone or dedupe keeps its source's generation and is not
 * reported. Needs CAP_SYS_ADMIN. Returns 0, the callback's non-zero value,
 * or -errno.
 */
int btrfs_inode_new_ranges(int fd, uint64_t root_id, uint64_t ino,
			   uint64_t min_gen, btrfs_range_cb cb, void *arg);

/*
 * Writes into @buf (at least BTRFS_FID_LEN bytes) the file handle of inode
 * @ino of subvolume @root_id with generation 0, which btrfs's
 * open_by_handle_at() accepts whatever the inode's generation is. It is not
 * the handle name_to_handle_at() gives (that carries the inode's generation):
 * to compare with those, open the file and ask for its handle.
 *
 * Returns BTRFS_FID_LEN and sets *@ret_type to BTRFS_FID_TYPE, or -EINVAL.
 */
int btrfs_handle_make(uint64_t root_id, uint64_t ino, void *buf,
		      int32_t *ret_type);

/*
 * Where inode @ino of subvolume @root_id is: the inode of its directory
 * (*@ret_dir) and its name there, from its first INODE_REF item (a file
 * with hard links has more; the first will do). @name gets the name and a
 * NUL (@len bytes at most). Needs CAP_SYS_ADMIN. Returns 0, -ENOENT if
 * there is none (the inode is gone, or is the subvolume's root),
 * -ENAMETOOLONG if the name does not fit, -EINVAL, or -errno.
 */
int btrfs_inode_parent(int fd, uint64_t root_id, uint64_t ino,
		       uint64_t *ret_dir, char *name, size_t len);

/*
 * Opens inode @ino of subvolume @root_id read-only, with @flags (no access
 * mode: O_NOATIME, O_NOFOLLOW, ...) added to O_RDONLY | O_CLOEXEC, through
 * @mount_fd (any fd on a mount of the filesystem, whatever subvolume it
 * shows). Directories and other file types open too: check what you got.
 *
 * Returns an fd, -ESTALE if the inode or the subvolume is gone, -EINVAL if
 * @flags has an access mode, or -errno (-EPERM without CAP_DAC_READ_SEARCH).
 */
int btrfs_open_inode(int mount_fd, uint64_t root_id, uint64_t ino, int flags);

/* One file extent item of an inode (BTRFS_EXTENT_DATA_KEY). */
struct btrfs_file_extent {
	uint64_t file_off;	/* key offset: where the item starts */
	uint64_t num_bytes;	/* file bytes it covers (inline: ram_bytes) */
	uint64_t disk_bytenr;	/* the extent's address; 0: hole or inline */
	uint64_t disk_num_bytes; /* the extent's size on disk; 0 if inline */
	uint64_t extent_offset;	/* where in the extent the item's data starts */
	uint64_t generation;	/* transaction that wrote the extent */
	uint8_t type;		/* BTRFS_FILE_EXTENT_INLINE, _REG, _PREALLOC */
	uint8_t compression;	/* 0 none, 1 zlib, 2 lzo, 3 zstd */
};

/*
 * Called for each extent item reported by btrfs_file_extents(); @fe is only
 * valid during the call. Returns 0 to go on, anything else to stop.
 */
typedef int (*btrfs_extent_cb)(void *arg, const struct btrfs_file_extent *fe);

/*
 * Reports, in file offset order, the file extent items of inode @ino of
 * subvolume @root_id that overlap the bytes [@start, @end): those whose key
 * offset is in the range and, first, the item starting before @start that
 * reaches into it, if any. Holes have an item (disk_bytenr 0) only without the
 * no-holes feature; a gap between items reads as zeros. Items are what is
 * written back: data still dirty in the page cache is not there yet.
 *
 * The search starts at @start, not at the inode's first item. The item before
 * @start is looked for only when none starts exactly at @start: in the 1 MiB
 * before it (one search), then by one-item searches further back (about
 * log2 of the distance in MiB, times 1.5).
 *
 * Needs CAP_SYS_ADMIN. Returns 0 (also for an empty range), the callback's
 * non-zero value, or -errno (-EINVAL: no callback or root 0; -ENOENT: no such
 * subvolume; -EPERM).
 */
int btrfs_file_extents(int fd, uint64_t root_id, uint64_t ino, uint64_t start,
		       uint64_t end, btrfs_extent_cb cb, void *arg);

/*
 * The subvolume id and inode number of the file @fd: BTRFS_IOC_INO_LOOKUP
 * with tree id 0 and the subvolume's root directory as inode answers the
 * subvolume of @fd without CAP_SYS_ADMIN; fstat() gives the inode. Returns 0
 * and sets *@ret_root and *@ret_ino, or -errno (-ENOTTY: not btrfs).
 */
int btrfs_file_root(int fd, uint64_t *ret_root, uint64_t *ret_ino);

/*
 * Called once per file extent item that refers to the extent asked about:
 * an item of inode @ino of subvolume @root_id. @offset is that item's key
 * offset, the file offset where the item starts; the item maps its bytes to
 * the extent's from its extent_offset on, so the extent's byte 0 would be at
 * @offset - extent_offset (read the item with btrfs_file_extents() for that).
 * The kernel does NOT subtract it (measured on Linux 6.18: a clone of extent
 * bytes [40960, +64 KiB) to file offset 1 MiB is reported at 1 MiB). An inode
 * with several items on one extent (partly overwritten, or cloned within the
 * file) is reported once per item. Returns 0 to go on, anything else to stop.
 */
typedef int (*btrfs_ref_cb)(void *arg, uint64_t root_id, uint64_t ino,
			    uint64_t offset);

/*
 * Every reference to the data extent that holds disk address @bytenr (an
 * extent's disk_bytenr, or any address inside the extent) from the file
 * extent items of all subvolumes and snapshots, by BTRFS_IOC_LOGICAL_INO_V2
 * with BTRFS_LOGICAL_INO_ARGS_IGNORE_OFFSET. The kernel walks the backrefs
 * including the transaction still open: a clone just made is listed. Each
 * snapshot sharing the item's leaf counts: 1 file in 1004 subvolumes gave
 * 1004 references in 1-2 ms, 2504 in 4-5 ms, 294169 (292 items of one
 * extent times 1004) in 19 ms (Linux 6.18, loop device, warm).
 *
 * The result buffer starts at 64 KiB (2730 references) and grows, 4 times or
 * to what the kernel said is missing if more, up to 16 MiB (the kernel's
 * maximum: 699050 references) while the kernel reports missed ones. Beyond
 * that -E2BIG is returned and the callback is not called. The callback is
 * called for each reference once the whole list is in; the buffer is freed
 * before return.
 *
 * Needs CAP_SYS_ADMIN. Returns 0, the callback's non-zero value, or -errno
 * (-ENOENT: no data extent there, e.g. a metadata block; -ENOTTY: no
 * LOGICAL_INO_V2, before Linux 4.15; -EPERM; -ENOMEM; -E2BIG; -EINVAL: no
 * callback).
 */
int btrfs_extent_refs(int fd, uint64_t bytenr, btrfs_ref_cb cb, void *arg);

/*
 * The references that map the one byte at disk address @logical: like
 * btrfs_extent_refs() but without IGNORE_OFFSET, so the kernel keeps only
 * the file extent items whose range of the extent covers that byte, and
 * @offset in the callback is the file offset where that byte sits in the
 * holder (the item's key offset plus the byte's distance from the item's
 * start in the extent). For a file mapped the same way in 1,000 snapshots
 * that is 1,000 references, however many other items use the extent. The
 * kernel still walks every backref of the extent to filter them. Same
 * buffer, errors and return values as btrfs_extent_refs().
 */
int btrfs_extent_refs_at(int fd, uint64_t logical, btrfs_ref_cb cb, void *arg);

/*
 * The transaction of the last snapshot taken of subvolume @root_id of the
 * filesystem @fd is on (its ROOT_ITEM's last_snapshot; 0: never), as of
 * the last commit: a snapshot is made in a commit, so once its ioctl has
 * returned this shows it. Needs CAP_SYS_ADMIN. Returns 0, -ENOENT (no such
 * subvolume), or -errno.
 */
int btrfs_root_last_snapshot(int fd, uint64_t root_id, uint64_t *ret_transid);

/*
 * Whether the subvolume that the file @fd is in is read-only
 * (BTRFS_IOC_SUBVOL_GETFLAGS, unprivileged). Returns 1, 0, or -errno
 * (-ENOTTY: not btrfs).
 */
int btrfs_subvol_readonly(int fd);

#endif
