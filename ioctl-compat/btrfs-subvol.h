/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef DEDUPD_IOCTL_BTRFS_SUBVOL_H
#define DEDUPD_IOCTL_BTRFS_SUBVOL_H

/*
 * The subvolumes of a btrfs filesystem as records (id, UUIDs, parent,
 * generations, flags) read from their ROOT_ITEMs in the root tree, all of
 * them or only those in tree leaves written after a given generation: the
 * raw material of an incrementally updated registry (daemon/subvols.h).
 *
 * One TREE_SEARCH_V2 walk serves both the first fill (@min_gen 0) and the
 * updates, rather than libbtrfsutil's iterator: the iterator reads each
 * subvolume's ROOT_ITEM with a search of its own (one ioctl per subvolume
 * where this takes one per ~100) and cannot skip what did not change.
 *
 * Tree searches need CAP_SYS_ADMIN.
 */

#include <stdint.h>

struct btrfs_subvol_rec {
	uint64_t id;		/* 5 for the top level, else >= 256 */
	uint64_t parent_id;	/* the subvolume containing it (its
				 * ROOT_BACKREF), 0 if unknown: see below */
	uint64_t generation;	/* of its tree's last committed change */
	uint64_t ctransid;	/* of the last change to one of its inodes */
	uint64_t flags;		/* root item flags: BTRFS_ROOT_SUBVOL_RDONLY,
				 * BTRFS_ROOT_SUBVOL_DEAD (see below) */
	uint8_t uuid[16];	/* all zero when not known (see below) */
	uint8_t parent_uuid[16];	/* of the snapshot's source, or zero */
	uint8_t received_uuid[16];	/* set by btrfs receive, or zero */
};

/* Returns 0 to go on, anything else to stop. */
typedef int (*btrfs_subvol_rec_cb)(void *arg, const struct btrfs_subvol_rec *r);

/*
 * Reports, in ascending id order, the subvolumes (the top level, 5, and ids
 * 256 and up) of the filesystem @fd is on (any fd on it) whose ROOT_ITEM sits
 * in a root tree leaf written after @min_gen; @min_gen 0 reports all.
 *
 * Every change to a ROOT_ITEM rewrites its leaf, so every subvolume changed
 * after @min_gen in any field is reported: created, written to (generation,
 * ctransid), snapshotted, received, made read-only or writable (a flag
 * change moves no generation in the item: filtering on the item's own
 * generation would miss it), being deleted. So are the unchanged ones that
 * share a leaf with those (tens per leaf): the caller compares. A search from
 * a recent generation costs a few leaves, whatever the number of
 * subvolumes; one with nothing changed returns nothing in one ioctl.
 *
 * A subvolume being deleted (refs 0, or flag BTRFS_ROOT_SUBVOL_DEAD: the
 * cleaner has yet to drop its tree) is reported with BTRFS_ROOT_SUBVOL_DEAD
 * set, so that a registry can drop it. One whose ROOT_ITEM is gone already
 * is not reported: a search cannot see what is no longer there.
 *
 * parent_id comes from the subvolume's ROOT_BACKREF when that is in a leaf
 * written after @min_gen too (always for a new one, and with @min_gen 0);
 * else it did not change and parent_id is 0. The UUIDs and ctransid are zero
 * in a ROOT_ITEM last written by a kernel older than 3.6 (too short, or
 * generation_v2 stale), until the kernel rewrites it.
 *
 * Returns 0, the callback's non-zero value, or -errno (-EPERM without
 * CAP_SYS_ADMIN, -ENOTTY: not btrfs).
 */
int btrfs_subvol_recs(int fd, uint64_t min_gen, btrfs_subvol_rec_cb cb,
		      void *arg);

#endif
