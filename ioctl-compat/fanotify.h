/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef DEDUPD_IOCTL_FANOTIFY_H
#define DEDUPD_IOCTL_FANOTIFY_H

/*
 * A feed of written files from fanotify in FID mode: one filesystem-wide mark,
 * events that name the file by its handle (no fds, no paths), decoded from the
 * buffer read(2) fills without trusting its alignment or its lengths.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/fanotify.h>

#include "ioctl-compat/handle.h"

/*
 * What a write looks like: data written through an fd (MODIFY), a writable fd
 * closed (CLOSE_WRITE, also for mmap stores, seen only then), a file created
 * or moved into place (CREATE, MOVED_TO: the name of a new file to look at).
 */
#define FAN_WATCH_EVENTS \
	(FAN_CLOSE_WRITE | FAN_MODIFY | FAN_CREATE | FAN_MOVED_TO)

/* The longest name a DFID_NAME record carries (NAME_MAX). */
#define FAN_NAME_MAX 255

/* fan_open() flags */
/* No FAN_UNLIMITED_QUEUE: the kernel's max_queued_events applies. */
#define FAN_OPEN_BOUNDED_QUEUE 0x1u

/*
 * Creates a notification group that reports file handles:
 *   fanotify_init(FAN_CLASS_NOTIF | FAN_CLOEXEC | FAN_NONBLOCK |
 *                 FAN_REPORT_DFID_NAME_TARGET [| FAN_UNLIMITED_QUEUE],
 *                 O_RDONLY | O_LARGEFILE | O_CLOEXEC)
 * FAN_UNLIMITED_QUEUE is passed unless @flags has FAN_OPEN_BOUNDED_QUEUE.
 * Returns the fd (non-blocking, close-on-exec; the caller closes it),
 * -EINVAL for unknown @flags or a kernel older than 5.17 (no TARGET_FID),
 * -EPERM without CAP_SYS_ADMIN, or -errno.
 */
int fan_open(unsigned int flags);

/*
 * Marks the whole filesystem that @path is on:
 *   fanotify_mark(@fan_fd, FAN_MARK_ADD | FAN_MARK_FILESYSTEM, @mask,
 *                 AT_FDCWD, @path)
 * Marking again adds @mask to the existing mark. Returns 0, -EINVAL if @path
 * is NULL, -EXDEV on a btrfs subvolume mount other than subvolid=5 (mark
 * that one: it sees every subvolume), -ENODEV or -EOPNOTSUPP if the
 * filesystem cannot report file handles, or -errno.
 */
int fan_mark_filesystem(int fan_fd, const char *path, uint64_t mask);

/* One decoded event. */
struct fan_event {
	uint64_t mask; /* FAN_* bits; FAN_Q_OVERFLOW for an overflow */
	int32_t pid; /* the process that caused it */
	/*
	 * The two 32-bit words of __kernel_fsid_t, val[0] in the low half:
	 * from the FID record, else from the first directory fid record,
	 * else 0.
	 */
	uint64_t fsid;
	/*
	 * false for an overflow, or an event without a usable object fid
	 * (none, empty, longer than FILE_HANDLE_MAX, or info records that
	 * cannot be walked): the file written is then unknown.
	 */
	bool has_handle;
	/*
	 * The object's own fid (FAN_EVENT_INFO_TYPE_FID): the file written,
	 * created or moved in, not its directory. Zeroed without has_handle.
	 */
	struct file_id_handle handle;
	/*
	 * Where the object is: the fid of its directory and its name there,
	 * from the first DFID_NAME or NEW_DFID_NAME record. false without
	 * one, or when its handle is not usable (as for has_handle) or its
	 * name is empty, longer than NAME_MAX or not NUL-terminated within
	 * the record; dir and name are then zeroed.
	 */
	bool has_name;
	struct file_id_handle dir;
	char name[FAN_NAME_MAX + 1];
};

/*
 * Iterates over a buffer filled by read(2) on the fanotify fd. A plain value:
 * nothing to free; the buffer must outlive it.
 */
struct fan_iter {
	const uint8_t *p; /* the next event */
	size_t left; /* bytes from p to the end of the buffer */
};

/* Starts iterating over the @len bytes at @buf (no alignment needed). */
void fan_iter_init(struct fan_iter *it, const void *buf, size_t len);

/*
 * Decodes the next event. Returns 1 and fills *@ret, 0 at the end of the
 * buffer, -EINVAL for NULL arguments or a malformed event (event_len shorter
 * than the metadata or past the end of the buffer, metadata_len outside
 * [metadata size, event_len], or vers != FANOTIFY_METADATA_VERSION): the
 * iterator then stops, returning 0 from then on. *@ret is untouched unless 1
 * is returned.
 *
 * Info records other than FAN_EVENT_INFO_TYPE_FID and the first DFID_NAME
 * or NEW_DFID_NAME (DFID, OLD_DFID_NAME, PIDFD, ERROR...) are skipped by
 * their len; a PIDFD
 * record's fd is not closed (fan_open() never asks for one). If the event
 * carries an fd (metadata fd >= 0: a group in FD mode), it is closed. Never
 * reads beyond event_len or the buffer.
 */
int fan_iter_next(struct fan_iter *it, struct fan_event *ret);

#endif
