// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Filesystem probe. See fsprobe.h.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <linux/btrfs.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <linux/types.h>

#include "ioctl-compat/fsprobe.h"

#ifndef XFS_SUPER_MAGIC
#define XFS_SUPER_MAGIC 0x58465342
#endif

/* Linux 6.5; Debian 12's headers are from 6.1. */
#ifndef FS_IOC_GETFSUUID
struct fsuuid2 {
	__u8 len;
	__u8 uuid[16];
};
#define FS_IOC_GETFSUUID _IOR(0x15, 0, struct fsuuid2)
#endif

/*
 * XFS_IOC_FSGEOMETRY (v5, Linux 5.1) from xfsprogs' xfs_fs.h, defined here so
 * that the build does not need xfslibs-dev. Only uuid and flags are read.
 */
struct dedupd_xfs_geom {
	__u32 blocksize;
	__u32 rtextsize;
	__u32 agblocks;
	__u32 agcount;
	__u32 logblocks;
	__u32 sectsize;
	__u32 inodesize;
	__u32 imaxpct;
	__u64 datablocks;
	__u64 rtblocks;
	__u64 rtextents;
	__u64 logstart;
	unsigned char uuid[16];
	__u32 sunit;
	__u32 swidth;
	__s32 version;
	__u32 flags;
	__u32 logsectsize;
	__u32 rtsectsize;
	__u32 dirblocksize;
	__u32 logsunit;
	__u32 sick;
	__u32 checked;
	__u64 reserved[17];
};
_Static_assert(sizeof(struct dedupd_xfs_geom) == 256, "xfs_fsop_geom v5");
#define DEDUPD_XFS_IOC_FSGEOMETRY _IOR('X', 126, struct dedupd_xfs_geom)
#define DEDUPD_XFS_GEOM_FLAGS_REFLINK (1u << 20)

static void set_kind(struct fs_info *info, unsigned long magic)
{
	static const struct {
		unsigned long magic;
		enum fs_kind kind;
		const char *name;
	} kinds[] = {
		{ BTRFS_SUPER_MAGIC, FS_BTRFS, "btrfs" },
		{ XFS_SUPER_MAGIC, FS_XFS, "xfs" },
		{ EXT4_SUPER_MAGIC, FS_EXT4, "ext4" },
		{ TMPFS_MAGIC, FS_TMPFS, "tmpfs" },
	};

	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		if (kinds[i].magic == magic) {
			info->kind = kinds[i].kind;
			snprintf(info->name, sizeof(info->name), "%s",
				 kinds[i].name);
			return;
		}
	}
	info->kind = FS_OTHER;
	/* Every magic number is 32 bits: "0x" and 8 digits fit. */
	snprintf(info->name, sizeof(info->name), "0x%x", (uint32_t)magic);
}

/* Returns true and fills @uuid if the generic uuid ioctl (6.5+) answered. */
static bool get_generic_uuid(int fd, uint8_t uuid[16])
{
	struct fsuuid2 u = { .len = 0 };

	if (ioctl(fd, FS_IOC_GETFSUUID, &u) < 0)
		return false;
	if (u.len == 0 || u.len > sizeof(u.uuid))
		return false;
	memset(uuid, 0, 16);
	memcpy(uuid, u.uuid, u.len);
	return true;
}

/*
 * A zero-length dedupe of a file onto itself touches no data. The VFS answers
 * it once it knows the filesystem has a remap method at all: -EOPNOTSUPP (or
 * -EINVAL) means no dedupe here, 0 means the method exists (which XFS has
 * even without reflink). Returns 1, 0, or -1 when the answer says nothing
 * (e.g. -EPERM, -EROFS) and the filesystem type must decide.
 */
static int try_dedupe(int fd)
{
	struct {
		struct file_dedupe_range range;
		struct file_dedupe_range_info info;
	} args = {
		.range = { .src_offset = 0, .src_length = 0, .dest_count = 1 },
		.info = { .dest_fd = fd, .dest_offset = 0 },
	};
	int err;

	if (ioctl(fd, FIDEDUPERANGE, &args) < 0)
		err = errno;
	else if (args.info.status == FILE_DEDUPE_RANGE_SAME)
		return 1;
	else if (args.info.status < 0)
		err = -args.info.status;
	else
		return -1;

	if (err == EOPNOTSUPP || err == EINVAL)
		return 0;
	return -1;
}

int fs_probe(int fd, unsigned int flags, struct fs_info *ret)
{
	struct fs_info info = { .kind = FS_OTHER };
	struct dedupd_xfs_geom geom;
	bool xfs_geom = false, xfs_reflink = false;
	struct statfs sfs;
	struct stat st;
	int dedupe;

	if (!ret || (flags & ~FS_PROBE_NO_UUID_IOCTL))
		return -EINVAL;
	if (fstatfs(fd, &sfs) < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		return -errno;

	set_kind(&info, (unsigned long)sfs.f_type);
	info.block_size = (uint32_t)sfs.f_bsize;

	if (info.kind == FS_BTRFS && !(flags & FS_PROBE_NO_UUID_IOCTL)) {
		struct btrfs_ioctl_fs_info_args fi;

		memset(&fi, 0, sizeof(fi));
		if (ioctl(fd, BTRFS_IOC_FS_INFO, &fi) == 0) {
			memcpy(info.uuid, fi.fsid, sizeof(info.uuid));
			info.has_uuid = true;
		}
	} else if (info.kind == FS_XFS) {
		/* Asked even without the uuid: it alone knows about reflink. */
		memset(&geom, 0, sizeof(geom));
		if (ioctl(fd, DEDUPD_XFS_IOC_FSGEOMETRY, &geom) == 0) {
			xfs_geom = true;
			xfs_reflink = geom.flags &
				      DEDUPD_XFS_GEOM_FLAGS_REFLINK;
			if (!(flags & FS_PROBE_NO_UUID_IOCTL)) {
				memcpy(info.uuid, geom.uuid, sizeof(info.uuid));
				info.has_uuid = true;
			}
		}
	}
	if (!info.has_uuid && !(flags & FS_PROBE_NO_UUID_IOCTL))
		info.has_uuid = get_generic_uuid(fd, info.uuid);
	if (!info.has_uuid) {
		_Static_assert(sizeof(sfs.f_fsid) <= sizeof(info.uuid),
			       "f_fsid fits");
		memset(info.uuid, 0, sizeof(info.uuid));
		memcpy(info.uuid, &sfs.f_fsid, sizeof(sfs.f_fsid));
	}

	info.can_reflink = info.kind == FS_BTRFS ||
			   (info.kind == FS_XFS && xfs_reflink);
	dedupe = S_ISREG(st.st_mode) ? try_dedupe(fd) : -1;
	if (dedupe < 0)
		info.can_dedupe = info.can_reflink;
	else if (dedupe == 1 && info.kind == FS_XFS && xfs_geom)
		/*
		 * The VFS answers a zero-length dedupe before asking the
		 * filesystem: XFS without reflink says yes too (measured on
		 * 6.18). Its geometry knows better.
		 */
		info.can_dedupe = xfs_reflink;
	else
		info.can_dedupe = dedupe;

	*ret = info;
	return 0;
}

void fs_uuid_format(const uint8_t uuid[16], char *buf)
{
	snprintf(buf, 37,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
		 "%02x%02x%02x%02x%02x%02x",
		 uuid[0], uuid[1], uuid[2], uuid[3], uuid[4], uuid[5], uuid[6],
		 uuid[7], uuid[8], uuid[9], uuid[10], uuid[11], uuid[12],
		 uuid[13], uuid[14], uuid[15]);
}
