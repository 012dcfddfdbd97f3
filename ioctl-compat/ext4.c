// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * ext4 EXT4_IOC_MOVE_EXT. See ext4.h.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/types.h>

#include "ioctl-compat/ext4.h"

/*
 * fs/ext4/ext4.h struct move_extent: not in the uapi headers of Linux 6.1
 * (<linux/ext4.h> does not exist there), so defined here under a name of our
 * own that a newer header cannot clash with.
 */
struct ext4_move_extent_args {
	__u32 reserved;		/* must be 0 */
	__u32 donor_fd;
	__u64 orig_start;	/* in blocks */
	__u64 donor_start;	/* in blocks */
	__u64 len;		/* in blocks */
	__u64 moved_len;	/* out: blocks */
};

_Static_assert(sizeof(struct ext4_move_extent_args) == 40,
	       "struct move_extent is 40 bytes");

#define EXT4_MOVE_EXT_IOC _IOWR('f', 15, struct ext4_move_extent_args)

int ext4_move_extent(int orig_fd, int donor_fd, uint64_t orig_start,
		     uint64_t donor_start, uint64_t len, uint64_t *ret_moved)
{
	struct ext4_move_extent_args me;

	if (orig_fd < 0 || donor_fd < 0)
		return -EBADF;
	if (!ret_moved)
		return -EINVAL;
	memset(&me, 0, sizeof(me));
	me.donor_fd = (__u32)donor_fd;
	me.orig_start = orig_start;
	me.donor_start = donor_start;
	me.len = len;
	if (ioctl(orig_fd, EXT4_MOVE_EXT_IOC, &me) < 0)
		return -errno;
	*ret_moved = me.moved_len;
	return 0;
}
