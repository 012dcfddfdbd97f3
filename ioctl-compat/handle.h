/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef DEDUPD_IOCTL_HANDLE_H
#define DEDUPD_IOCTL_HANDLE_H

/*
 * File handles (name_to_handle_at / open_by_handle_at): a name for a file
 * that survives renames and, on btrfs, says which subvolume it is in.
 */

#include <stdint.h>

#define FILE_HANDLE_MAX 40	/* btrfs 20 bytes, XFS 12-24, ext4 8 */

struct file_id_handle {
	int32_t type;
	uint32_t len;		/* bytes used in data[] */
	uint8_t data[FILE_HANDLE_MAX];
};

/*
 * Gets the handle of @name relative to @dirfd (AT_EMPTY_PATH if @name is "").
 * Does not follow symlinks. Returns 0, -EOVERFLOW if the handle is longer
 * than FILE_HANDLE_MAX, or -errno. *@ret_mnt_id may be NULL.
 */
int file_handle_get(int dirfd, const char *name, struct file_id_handle *ret,
		    int *ret_mnt_id);

/*
 * Opens the file @h names, through any fd on the same mount (@mount_fd).
 * Needs CAP_DAC_READ_SEARCH. Returns an fd, -ESTALE if the file is gone, or
 * -errno.
 */
int file_handle_open(int mount_fd, const struct file_id_handle *h, int flags);

#endif
