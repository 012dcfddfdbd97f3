// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * File handles. See handle.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>

#include "ioctl-compat/handle.h"

/* struct file_handle followed by the largest handle the kernel hands out. */
union handle_buf {
	struct file_handle fh;
	unsigned char bytes[sizeof(struct file_handle) + MAX_HANDLE_SZ];
};

int file_handle_get(int dirfd, const char *name, struct file_id_handle *ret,
		    int *ret_mnt_id)
{
	union handle_buf buf;
	int mnt_id, flags = 0;

	if (!name || !ret)
		return -EINVAL;
	if (name[0] == '\0')
		flags |= AT_EMPTY_PATH;

	memset(&buf, 0, sizeof(buf));
	buf.fh.handle_bytes = MAX_HANDLE_SZ;
	/* No AT_SYMLINK_FOLLOW: a symlink is named, not its target. */
	if (name_to_handle_at(dirfd, name, &buf.fh, &mnt_id, flags) < 0)
		return -errno;
	if (buf.fh.handle_bytes > FILE_HANDLE_MAX)
		return -EOVERFLOW;

	ret->type = buf.fh.handle_type;
	ret->len = buf.fh.handle_bytes;
	memset(ret->data, 0, sizeof(ret->data));
	memcpy(ret->data, buf.fh.f_handle, buf.fh.handle_bytes);
	if (ret_mnt_id)
		*ret_mnt_id = mnt_id;
	return 0;
}

int file_handle_open(int mount_fd, const struct file_id_handle *h, int flags)
{
	union handle_buf buf;
	int fd;

	if (!h || h->len > FILE_HANDLE_MAX)
		return -EINVAL;

	memset(&buf, 0, sizeof(buf));
	buf.fh.handle_bytes = h->len;
	buf.fh.handle_type = h->type;
	memcpy(buf.fh.f_handle, h->data, h->len);
	fd = open_by_handle_at(mount_fd, &buf.fh, flags | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	return fd;
}
