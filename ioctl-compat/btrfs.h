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
 * Opens inode @ino of subvolume @root_id read-only, with @flags (no access
 * mode: O_NOATIME, O_NOFOLLOW, ...) added to O_RDONLY | O_CLOEXEC, through
 * @mount_fd (any fd on a mount of the filesystem, whatever subvolume it
 * shows). Directories and other file types open too: check what you got.
 *
 * Returns an fd, -ESTALE if the inode or the subvolume is gone, -EINVAL if
 * @flags has an access mode, or -errno (-EPERM without CAP_DAC_READ_SEARCH).
 */
int btrfs_open_inode(int mount_fd, uint64_t root_id, uint64_t ino, int flags);

#endif
