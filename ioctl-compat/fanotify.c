// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * fanotify in FID mode. See fanotify.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <sys/fanotify.h>

#include "ioctl-compat/fanotify.h"

/* For headers older than the kernels that have these (4.20 to 5.17). */
#ifndef FAN_MARK_FILESYSTEM
#define FAN_MARK_FILESYSTEM 0x00000100
#endif
#ifndef FAN_REPORT_FID
#define FAN_REPORT_FID 0x00000200
#endif
#ifndef FAN_REPORT_DIR_FID
#define FAN_REPORT_DIR_FID 0x00000400
#endif
#ifndef FAN_REPORT_NAME
#define FAN_REPORT_NAME 0x00000800
#endif
#ifndef FAN_REPORT_TARGET_FID
#define FAN_REPORT_TARGET_FID 0x00001000
#endif
#ifndef FAN_REPORT_DFID_NAME_TARGET
#define FAN_REPORT_DFID_NAME_TARGET                              \
	(FAN_REPORT_DIR_FID | FAN_REPORT_NAME | FAN_REPORT_FID | \
	 FAN_REPORT_TARGET_FID)
#endif
#ifndef FAN_EVENT_INFO_TYPE_FID
#define FAN_EVENT_INFO_TYPE_FID 1
#endif
#ifndef FAN_EVENT_INFO_TYPE_DFID_NAME
#define FAN_EVENT_INFO_TYPE_DFID_NAME 2
#endif
#ifndef FAN_EVENT_INFO_TYPE_DFID
#define FAN_EVENT_INFO_TYPE_DFID 3
#endif
#ifndef FAN_EVENT_INFO_TYPE_OLD_DFID_NAME
#define FAN_EVENT_INFO_TYPE_OLD_DFID_NAME 10
#endif
#ifndef FAN_EVENT_INFO_TYPE_NEW_DFID_NAME
#define FAN_EVENT_INFO_TYPE_NEW_DFID_NAME 12
#endif

/* The layout of an info record that names a file, as the kernel writes it. */
#define INFO_HDR_LEN sizeof(struct fanotify_event_info_header)
#define FID_FSID_OFF offsetof(struct fanotify_event_info_fid, fsid)
#define FID_HANDLE_OFF offsetof(struct fanotify_event_info_fid, handle)
#define FH_BYTES_OFF \
	(FID_HANDLE_OFF + offsetof(struct file_handle, handle_bytes))
#define FH_TYPE_OFF (FID_HANDLE_OFF + offsetof(struct file_handle, handle_type))
#define FH_DATA_OFF (FID_HANDLE_OFF + sizeof(struct file_handle))

int fan_open(unsigned int flags)
{
	unsigned int init_flags = FAN_CLASS_NOTIF | FAN_CLOEXEC | FAN_NONBLOCK |
				  FAN_REPORT_DFID_NAME_TARGET;
	int fd;

	if (flags & ~FAN_OPEN_BOUNDED_QUEUE)
		return -EINVAL;
	/*
	 * The default queue drops everything past max_queued_events (16384)
	 * and leaves one FAN_Q_OVERFLOW: a full rescan. Unlimited costs
	 * kernel memory per pending event, and needs CAP_SYS_ADMIN.
	 */
	if (!(flags & FAN_OPEN_BOUNDED_QUEUE))
		init_flags |= FAN_UNLIMITED_QUEUE;
	/* event_f_flags only matter in FD mode; FID mode opens nothing. */
	fd = fanotify_init(init_flags, O_RDONLY | O_LARGEFILE | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	return fd;
}

int fan_mark_filesystem(int fan_fd, const char *path, uint64_t mask)
{
	if (!path)
		return -EINVAL;
	if (fanotify_mark(fan_fd, FAN_MARK_ADD | FAN_MARK_FILESYSTEM, mask,
			  AT_FDCWD, path) < 0)
		return -errno;
	return 0;
}

void fan_iter_init(struct fan_iter *it, const void *buf, size_t len)
{
	if (!it)
		return;
	it->p = buf;
	it->left = buf ? len : 0;
}

static bool is_dir_fid(uint8_t info_type)
{
	return info_type == FAN_EVENT_INFO_TYPE_DFID_NAME ||
	       info_type == FAN_EVENT_INFO_TYPE_DFID ||
	       info_type == FAN_EVENT_INFO_TYPE_OLD_DFID_NAME ||
	       info_type == FAN_EVENT_INFO_TYPE_NEW_DFID_NAME;
}

static uint64_t read_fsid(const uint8_t *rec)
{
	__kernel_fsid_t fsid;

	memcpy(&fsid, rec + FID_FSID_OFF, sizeof(fsid));
	return (uint64_t)(uint32_t)fsid.val[1] << 32 | (uint32_t)fsid.val[0];
}

/*
 * Decodes the file handle in the FID record @rec of @len bytes into *@ret.
 * Returns false if there is none to use: a record too short for its
 * handle, or a handle that is empty (FILEID_INVALID: an event on no inode)
 * or does not fit in struct file_id_handle.
 */
static bool read_handle(const uint8_t *rec, size_t len,
			struct file_id_handle *ret)
{
	uint32_t bytes;
	int32_t type;

	if (len < FH_DATA_OFF)
		return false;
	memcpy(&bytes, rec + FH_BYTES_OFF, sizeof(bytes));
	memcpy(&type, rec + FH_TYPE_OFF, sizeof(type));
	if (bytes == 0 || bytes > FILE_HANDLE_MAX || bytes > len - FH_DATA_OFF)
		return false;
	ret->type = type;
	ret->len = bytes;
	memcpy(ret->data, rec + FH_DATA_OFF, bytes);
	return true;
}

/*
 * Decodes the directory handle and the name after it in the DFID_NAME
 * record @rec of @len bytes. Returns false if either is not usable.
 */
static bool read_dir_name(const uint8_t *rec, size_t len, struct fan_event *ev)
{
	const uint8_t *name, *nul;
	size_t room;

	if (!read_handle(rec, len, &ev->dir))
		return false;
	name = rec + FH_DATA_OFF + ev->dir.len;
	room = len - FH_DATA_OFF - ev->dir.len;
	nul = memchr(name, '\0', room < sizeof(ev->name) ? room :
						 sizeof(ev->name));
	if (!nul || nul == name)
		return false;
	memcpy(ev->name, name, (size_t)(nul - name) + 1);
	return true;
}

/*
 * Walks the info records in the @len bytes at @info. Returns false if a
 * record's len is shorter than its header or runs past the event: the
 * records after it cannot be found, and what came before is suspect.
 */
static bool read_info(const uint8_t *info, size_t len, struct fan_event *ev)
{
	bool have_fid = false, have_fsid = false, have_name = false;

	while (len > 0) {
		struct fanotify_event_info_header hdr;

		if (len < INFO_HDR_LEN)
			return false;
		memcpy(&hdr, info, sizeof(hdr));
		if (hdr.len < INFO_HDR_LEN || hdr.len > len)
			return false;

		/* The first FID record names the object; the kernel sends one. */
		if (hdr.info_type == FAN_EVENT_INFO_TYPE_FID && !have_fid) {
			have_fid = true;
			if (hdr.len >= FID_HANDLE_OFF) {
				ev->fsid = read_fsid(info);
				have_fsid = true;
			}
			ev->has_handle =
				read_handle(info, hdr.len, &ev->handle);
		} else if (is_dir_fid(hdr.info_type)) {
			if (!have_fsid && hdr.len >= FID_HANDLE_OFF) {
				/* Same filesystem: the object's fsid until
				 * it comes. */
				ev->fsid = read_fsid(info);
				have_fsid = true;
			}
			/* Where it is now (a rename's NEW, not its OLD). */
			if (!have_name &&
			    (hdr.info_type == FAN_EVENT_INFO_TYPE_DFID_NAME ||
			     hdr.info_type ==
				     FAN_EVENT_INFO_TYPE_NEW_DFID_NAME)) {
				have_name = true;
				ev->has_name = read_dir_name(info, hdr.len, ev);
			}
		}
		info += hdr.len;
		len -= hdr.len;
	}
	return true;
}

int fan_iter_next(struct fan_iter *it, struct fan_event *ret)
{
	struct fanotify_event_metadata md;
	struct fan_event ev;

	if (!it || !ret)
		return -EINVAL;
	if (it->left == 0)
		return 0;
	if (it->left < FAN_EVENT_METADATA_LEN)
		goto malformed;
	memcpy(&md, it->p, sizeof(md));
	if (md.event_len < FAN_EVENT_METADATA_LEN || md.event_len > it->left ||
	    md.vers != FANOTIFY_METADATA_VERSION ||
	    md.metadata_len < FAN_EVENT_METADATA_LEN ||
	    md.metadata_len > md.event_len)
		goto malformed;

	memset(&ev, 0, sizeof(ev));
	ev.mask = md.mask;
	ev.pid = md.pid;
	/* An overflow has no info records; a kernel that sent some is ignored. */
	if (!(md.mask & FAN_Q_OVERFLOW) &&
	    !read_info(it->p + md.metadata_len, md.event_len - md.metadata_len,
		       &ev)) {
		ev.fsid = 0;
		ev.has_handle = false;
		ev.has_name = false;
	}
	if (!ev.has_handle)
		memset(&ev.handle, 0, sizeof(ev.handle));
	if (!ev.has_name) {
		memset(&ev.dir, 0, sizeof(ev.dir));
		memset(ev.name, 0, sizeof(ev.name));
	}
	/* FD mode: the kernel opened the file for us; nobody else will close it. */
	if (md.fd >= 0)
		(void)close(md.fd);

	it->p += md.event_len;
	it->left -= md.event_len;
	*ret = ev;
	return 1;

malformed:
	/* Without a trustworthy event_len there is no next event to find. */
	it->left = 0;
	return -EINVAL;
}
