/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef DEDUPD_SUBVOLS_H
#define DEDUPD_SUBVOLS_H

/*
 * The subvolume registry of a btrfs filesystem: every subvolume's id, UUID,
 * parent and received UUIDs, generation and flags, kept in a file and
 * updated incrementally, so that neither a start nor a lookup costs time
 * that grows with the number of subvolumes not involved (DESIGN.md,
 * invariant 7).
 *
 *   open      O(N) to load the file (a sequential read, no ioctl per
 *             subvolume) + O(changed) to update it: a root tree search for
 *             the ROOT_ITEMs in leaves written since the saved generation.
 *             The first fill, or a rebuild, is one search of the whole root
 *             tree.
 *   lookups   O(1) by id and by UUID (hash tables), O(children) for the
 *             snapshots of a subvolume (a list per parent UUID).
 *   memory    about 250 bytes per subvolume (the 88-byte record, two hash
 *             handles of 56 bytes, sibling links, allocator overhead and
 *             hash buckets) and about 100 per subvolume that has snapshots;
 *             the file takes 88 bytes per subvolume.
 *
 * Deleted subvolumes: a search sees one whose deletion is under way (refs 0,
 * its tree not yet dropped by the cleaner) and the update drops it. One
 * deleted and cleaned up entirely between two updates (e.g. while the daemon
 * was not running) leaves no trace to search for: its record lingers,
 * costing memory only, until a user finds the subvolume gone (ENOENT or
 * ESTALE on use) and calls subvols_forget(). Subvolume ids are not reused
 * while the filesystem is mounted; one reused after a remount arrives with a
 * new UUID and replaces the old record.
 *
 * Not thread-safe: the caller locks. A record returned stays valid until the
 * next subvols_refresh(), subvols_forget() or subvols_close().
 *
 * The file: a 64-byte header (magic, checksum, version, record size,
 * filesystem UUID, generation, count) and the records, little-endian; the
 * checksum (xxh64) covers all but the magic and itself. A file that fails
 * any check is rebuilt from the filesystem, never trusted.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ioctl-compat/btrfs-subvol.h"

struct subvols;

struct subvols_stats {
	size_t loaded;		/* records read from the file */
	size_t updated;		/* records added, changed or dropped since */
	bool created;		/* there was no file */
	bool rebuilt;		/* the file was rejected: see why */
	const char *why;	/* for a log line, if rebuilt: "bad checksum" */
	uint64_t generation;	/* the registry is up to date as of this */
	double seconds;		/* spent in subvols_open() */
};

/*
 * Opens the registry file @path (created by the first subvols_save()) for
 * the btrfs filesystem @fd is on (any fd on it), whose UUID is @fs_uuid.
 * Loads it, unless its magic, version, size, checksum or filesystem UUID is
 * wrong or its generation is ahead of the filesystem's (a file from another
 * filesystem, or from before a restore): then it starts empty, as it does
 * without a file. Then updates it from the filesystem: only the subvolumes
 * whose ROOT_ITEM changed after the generation the registry was saved at are
 * read, all of them if it starts empty.
 *
 * Returns 0 and sets *@ret (free with subvols_close()) and, if @ret_stats is
 * not NULL, *@ret_stats; or -errno: from reading the file (not -ENOENT: no
 * file is an empty registry), or from the search (-EPERM without
 * CAP_SYS_ADMIN, -ENOTTY: not btrfs).
 */
int subvols_open(const char *path, int fd, const uint8_t fs_uuid[16],
		 struct subvols **ret, struct subvols_stats *ret_stats);

/*
 * The same incremental update, later: reads the subvolumes whose ROOT_ITEM
 * changed since the last update. A subvolume created or changed in the
 * transaction still open is seen by the update after its commit.
 *
 * Returns the number of records added, changed or dropped, or -errno (some
 * records may have been updated, and the next update reads them again).
 */
int subvols_refresh(struct subvols *s, int fd);

/* The record of subvolume @id, or NULL if unknown. O(1). */
const struct btrfs_subvol_rec *subvols_by_id(const struct subvols *s,
					     uint64_t id);

/*
 * The record of the subvolume whose UUID is @uuid, or NULL if unknown or all
 * zero. O(1).
 */
const struct btrfs_subvol_rec *subvols_by_uuid(const struct subvols *s,
					       const uint8_t uuid[16]);

/*
 * Calls @cb for each subvolume whose parent_uuid is @uuid (the snapshots of
 * that subvolume, which need not be known itself), in no particular order;
 * @cb must not change the registry. O(number of such snapshots).
 *
 * Returns 0 or the callback's non-zero value, which stops the walk.
 */
int subvols_children(const struct subvols *s, const uint8_t uuid[16],
		     btrfs_subvol_rec_cb cb, void *arg);

/* Drops the record of subvolume @id, found deleted by its user. */
void subvols_forget(struct subvols *s, uint64_t id);

/* The number of records. */
size_t subvols_count(const struct subvols *s);

/*
 * Writes the registry to its file atomically (a temporary file, fsync,
 * rename, fsync of the directory), mode 0600. Returns 0 or -errno; the old
 * file, if any, is left intact on failure.
 */
int subvols_save(struct subvols *s);

/*
 * Saves the registry if it changed since it was loaded or saved (a failure
 * is not reported: call subvols_save() first to know), frees it and returns
 * NULL. NULL-safe.
 */
struct subvols *subvols_close(struct subvols *s);

#endif
