/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef DEDUPD_IOCTL_FSPROBE_H
#define DEDUPD_IOCTL_FSPROBE_H

/*
 * What filesystem a path is on and what it can do, probed once.
 */

#include <stdbool.h>
#include <stdint.h>

enum fs_kind {
	FS_OTHER = 0,
	FS_BTRFS,
	FS_XFS,
	FS_EXT4,
	FS_TMPFS,
};

struct fs_info {
	enum fs_kind kind;
	char name[16];		/* "btrfs", "xfs", "ext4", "tmpfs" or "0x<magic>" */
	uint32_t block_size;	/* the dedupe granularity (sector size) */
	uint8_t uuid[16];	/* filesystem UUID, or f_fsid padded with 0 */
	bool has_uuid;		/* false when only f_fsid was available */
	bool can_dedupe;	/* FIDEDUPERANGE can share data here */
	bool can_reflink;	/* the filesystem shares extents at all */
};

/* Force-fallback flags, so that tests reach every path. */
#define FS_PROBE_NO_UUID_IOCTL 1u	/* use f_fsid, not the fs's own uuid ioctl */

/*
 * Probes the filesystem holding @fd (a file or a directory). can_dedupe is
 * decided by a zero-length FIDEDUPERANGE of the file onto itself when @fd is a
 * regular file, else by filesystem type (btrfs yes; XFS when its geometry
 * says reflink; everything else no).
 * Returns 0 and fills *@ret, or -errno (*@ret untouched).
 */
int fs_probe(int fd, unsigned int flags, struct fs_info *ret);

/* Formats @uuid as the usual 36-character string into @buf (>= 37 bytes). */
void fs_uuid_format(const uint8_t uuid[16], char *buf);

#endif
