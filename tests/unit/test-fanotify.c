// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The fanotify event decoder on buffers laid out by hand the way the kernel
 * writes them, and fan_open() / fan_mark_filesystem() against fake syscalls.
 * One test uses the real kernel on a scratch directory under /tmp and skips
 * without CAP_SYS_ADMIN or FID support there.
 * Wraps: fanotify_init, fanotify_mark (real on request).
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/fanotify.h>

#include <cmocka.h>

#include "ioctl-compat/fanotify.h"

/* Newer than the 6.1 headers: kernels 6.14+ may send them. */
#ifndef FAN_EVENT_INFO_TYPE_RANGE
#define FAN_EVENT_INFO_TYPE_RANGE 6
#endif
#ifndef FAN_EVENT_INFO_TYPE_MNT
#define FAN_EVENT_INFO_TYPE_MNT 7
#endif

int __real_fanotify_init(unsigned int flags, unsigned int event_f_flags);
int __wrap_fanotify_init(unsigned int flags, unsigned int event_f_flags);
int __real_fanotify_mark(int fd, unsigned int flags, uint64_t mask, int dirfd,
			 const char *path);
int __wrap_fanotify_mark(int fd, unsigned int flags, uint64_t mask, int dirfd,
			 const char *path);

static struct {
	bool real; /* pass through to the kernel */
	int fail_errno; /* the next call fails with it */
	int calls;
	unsigned int init_flags, event_f_flags;
	int mark_fd, mark_dirfd;
	unsigned int mark_flags;
	uint64_t mark_mask;
	const char *mark_path;
} k;

int __wrap_fanotify_init(unsigned int flags, unsigned int event_f_flags)
{
	if (k.real)
		return __real_fanotify_init(flags, event_f_flags);
	k.calls++;
	k.init_flags = flags;
	k.event_f_flags = event_f_flags;
	if (k.fail_errno) {
		errno = k.fail_errno;
		return -1;
	}
	return 42;
}

int __wrap_fanotify_mark(int fd, unsigned int flags, uint64_t mask, int dirfd,
			 const char *path)
{
	if (k.real)
		return __real_fanotify_mark(fd, flags, mask, dirfd, path);
	k.calls++;
	k.mark_fd = fd;
	k.mark_flags = flags;
	k.mark_mask = mask;
	k.mark_dirfd = dirfd;
	k.mark_path = path;
	if (k.fail_errno) {
		errno = k.fail_errno;
		return -1;
	}
	return 0;
}

static int reset(void **state)
{
	(void)state;
	memset(&k, 0, sizeof(k));
	return 0;
}

/* ---- building event buffers the way the kernel lays them out ---- */

/* Records are 4-byte multiples (FANOTIFY_EVENT_ALIGN), not 8-aligned. */
#define REC_ALIGN 4
#define FSID0 0x11223344u
#define FSID1 0xa0b0c0d0u
#define FSID ((uint64_t)FSID1 << 32 | FSID0)

struct ebuf {
	uint8_t b[8192];
	size_t len;
	size_t ev_start; /* of the event being built */
};

static void put(struct ebuf *e, const void *src, size_t n)
{
	assert_true(e->len + n <= sizeof(e->b));
	if (n == 0)
		return;
	memcpy(e->b + e->len, src, n);
	e->len += n;
}

static void pad(struct ebuf *e, size_t n)
{
	assert_true(e->len + n <= sizeof(e->b));
	memset(e->b + e->len, 0, n);
	e->len += n;
}

static void ev_begin(struct ebuf *e, uint64_t mask, int32_t fd, int32_t pid)
{
	struct fanotify_event_metadata md = {
		.event_len = FAN_EVENT_METADATA_LEN, /* set by ev_end() */
		.vers = FANOTIFY_METADATA_VERSION,
		.metadata_len = FAN_EVENT_METADATA_LEN,
		.mask = mask,
		.fd = fd,
		.pid = pid,
	};

	e->ev_start = e->len;
	put(e, &md, sizeof(md));
}

static void ev_end(struct ebuf *e)
{
	uint32_t event_len = (uint32_t)(e->len - e->ev_start);

	memcpy(e->b + e->ev_start +
		       offsetof(struct fanotify_event_metadata, event_len),
	       &event_len, sizeof(event_len));
}

static void set_rec_len(struct ebuf *e, size_t rec, uint16_t len)
{
	memcpy(e->b + rec + offsetof(struct fanotify_event_info_header, len),
	       &len, sizeof(len));
}

/*
 * Appends an info record naming a file: header, fsid, struct file_handle
 * with @hbytes bytes of @h, then @name with its NUL if any, padded. Returns
 * the record's offset.
 */
static size_t ev_fid(struct ebuf *e, uint8_t info_type, int32_t htype,
		     uint32_t hbytes, const void *h, const char *name)
{
	struct fanotify_event_info_header hdr = { .info_type = info_type };
	__kernel_fsid_t fsid = { .val = { (int)FSID0, (int)FSID1 } };
	struct file_handle fh = { .handle_bytes = hbytes,
				  .handle_type = htype };
	size_t rec = e->len, len;

	put(e, &hdr, sizeof(hdr));
	put(e, &fsid, sizeof(fsid));
	put(e, &fh, sizeof(fh));
	put(e, h, hbytes);
	if (name)
		put(e, name, strlen(name) + 1);
	len = e->len - rec;
	pad(e, (REC_ALIGN - len % REC_ALIGN) % REC_ALIGN);
	set_rec_len(e, rec, (uint16_t)(e->len - rec));
	return rec;
}

/* Appends a record of @len bytes (header included) that is not a fid. */
static void ev_info(struct ebuf *e, uint8_t info_type, uint16_t len)
{
	struct fanotify_event_info_header hdr = {
		.info_type = info_type,
		.len = len,
	};

	assert_true(len >= sizeof(hdr));
	assert_true(e->len + len <= sizeof(e->b));
	put(e, &hdr, sizeof(hdr));
	memset(e->b + e->len, 0x77, len - sizeof(hdr));
	e->len += len - sizeof(hdr);
}

/* A heap copy of exactly @e's bytes, for ASan to guard its end. */
static uint8_t *exact_copy(const struct ebuf *e)
{
	uint8_t *p = malloc(e->len);

	assert_non_null(p);
	memcpy(p, e->b, e->len);
	return p;
}

/* XFS: 64-bit inode number + generation; btrfs: ino, root, gen. */
static const uint8_t dir_h[12] = { 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4 };
static const uint8_t file_h[12] = { 0x83, 0, 0, 0, 0, 0, 0, 0, 5, 6, 7, 8 };
static const uint8_t btrfs_h[20] = { 0x01, 0x01, 0, 0, 0, 0, 0, 0, 0x05, 0x01,
				     0,	   0,	 0, 0, 0, 0, 7, 0, 0,	 0 };
#define XFS_TYPE 0x81
#define BTRFS_TYPE 0x4d

/* A MODIFY or CLOSE_WRITE as FAN_REPORT_DFID_NAME_TARGET reports it. */
static void add_file_event(struct ebuf *e, uint64_t mask, int32_t pid,
			   const uint8_t *h, uint32_t hbytes)
{
	ev_begin(e, mask, FAN_NOFD, pid);
	ev_fid(e, FAN_EVENT_INFO_TYPE_DFID_NAME, XFS_TYPE, sizeof(dir_h), dir_h,
	       "f");
	ev_fid(e, FAN_EVENT_INFO_TYPE_FID, XFS_TYPE, hbytes, h, NULL);
	ev_end(e);
}

static void expect_event(struct fan_iter *it, uint64_t mask, int32_t pid,
			 const uint8_t *h, uint32_t hbytes, int32_t htype)
{
	struct fan_event ev;
	uint8_t zeros[FILE_HANDLE_MAX] = { 0 };

	memset(&ev, 0xa5, sizeof(ev));
	assert_int_equal(fan_iter_next(it, &ev), 1);
	assert_int_equal(ev.mask, mask);
	assert_int_equal(ev.pid, pid);
	assert_int_equal(ev.fsid, FSID);
	assert_true(ev.has_handle);
	assert_int_equal(ev.handle.type, htype);
	assert_int_equal(ev.handle.len, hbytes);
	assert_memory_equal(ev.handle.data, h, hbytes);
	/* Nothing left over past the handle. */
	assert_memory_equal(ev.handle.data + hbytes, zeros,
			    FILE_HANDLE_MAX - hbytes);
}

/* Expects an event without a handle, e.g. overflow. */
static void expect_no_handle(struct fan_iter *it, uint64_t mask, int32_t pid,
			     uint64_t fsid)
{
	struct fan_event ev, zero;

	memset(&ev, 0xa5, sizeof(ev));
	memset(&zero, 0, sizeof(zero));
	assert_int_equal(fan_iter_next(it, &ev), 1);
	assert_int_equal(ev.mask, mask);
	assert_int_equal(ev.pid, pid);
	assert_int_equal(ev.fsid, fsid);
	assert_false(ev.has_handle);
	assert_memory_equal(&ev.handle, &zero.handle, sizeof(ev.handle));
}

/* Expects 0, twice: the end stays the end. */
static void expect_end(struct fan_iter *it)
{
	struct fan_event ev, before;

	memset(&ev, 0x5a, sizeof(ev));
	before = ev;
	assert_int_equal(fan_iter_next(it, &ev), 0);
	assert_int_equal(fan_iter_next(it, &ev), 0);
	assert_memory_equal(&ev, &before, sizeof(ev));
}

/* Expects -EINVAL with *ret untouched, then the end. */
static void expect_malformed(struct fan_iter *it)
{
	struct fan_event ev, before;

	memset(&ev, 0x5a, sizeof(ev));
	before = ev;
	assert_int_equal(fan_iter_next(it, &ev), -EINVAL);
	assert_memory_equal(&ev, &before, sizeof(ev));
	expect_end(it);
}

/* ---- the decoder ---- */

static void modify_reports_the_file(void **state)
{
	static struct ebuf e;
	struct fan_iter it;

	(void)state;
	memset(&e, 0, sizeof(e));
	add_file_event(&e, FAN_MODIFY, 1234, file_h, sizeof(file_h));
	fan_iter_init(&it, e.b, e.len);
	/* The FID record's handle, not the directory's. */
	expect_event(&it, FAN_MODIFY, 1234, file_h, sizeof(file_h), XFS_TYPE);
	expect_end(&it);
}

static void create_reports_the_target(void **state)
{
	static struct ebuf e;
	struct fan_iter it;

	(void)state;
	memset(&e, 0, sizeof(e));
	/* A dirent event: the parent and name, then the child (TARGET_FID). */
	ev_begin(&e, FAN_CREATE, FAN_NOFD, 77);
	ev_fid(&e, FAN_EVENT_INFO_TYPE_DFID_NAME, BTRFS_TYPE, sizeof(btrfs_h),
	       btrfs_h, "new-file.dat");
	ev_fid(&e, FAN_EVENT_INFO_TYPE_FID, BTRFS_TYPE, sizeof(btrfs_h) - 4,
	       btrfs_h + 4, NULL);
	ev_end(&e);
	ev_begin(&e, FAN_MOVED_TO, FAN_NOFD, 78);
	ev_fid(&e, FAN_EVENT_INFO_TYPE_DFID_NAME, BTRFS_TYPE, sizeof(btrfs_h),
	       btrfs_h, "g");
	ev_fid(&e, FAN_EVENT_INFO_TYPE_FID, BTRFS_TYPE, sizeof(btrfs_h),
	       btrfs_h, NULL);
	ev_end(&e);
	fan_iter_init(&it, e.b, e.len);
	expect_event(&it, FAN_CREATE, 77, btrfs_h + 4, sizeof(btrfs_h) - 4,
		     BTRFS_TYPE);
	expect_event(&it, FAN_MOVED_TO, 78, btrfs_h, sizeof(btrfs_h),
		     BTRFS_TYPE);
	expect_end(&it);
}

/* Reads the next event, which must have a handle, into *@ev. */
static void next_event(struct fan_iter *it, struct fan_event *ev)
{
	memset(ev, 0xa5, sizeof(*ev));
	assert_int_equal(fan_iter_next(it, ev), 1);
	assert_true(ev->has_handle);
}

static void expect_no_name(const struct fan_event *ev)
{
	struct fan_event zero;

	memset(&zero, 0, sizeof(zero));
	assert_false(ev->has_name);
	assert_memory_equal(&ev->dir, &zero.dir, sizeof(ev->dir));
	assert_memory_equal(ev->name, zero.name, sizeof(ev->name));
}

static void events_say_where_the_file_is(void **state)
{
	static struct ebuf e;
	char longest[FAN_NAME_MAX + 2];
	struct fan_event ev;
	struct fan_iter it;

	(void)state;
	memset(&e, 0, sizeof(e));
	memset(longest, 'n', sizeof(longest));
	longest[FAN_NAME_MAX] = '\0';
	/* 1: a write: its directory and name */
	add_file_event(&e, FAN_MODIFY, 1, file_h, sizeof(file_h));
	/* 2: a rename reported with OLD and NEW: where it went */
	ev_begin(&e, FAN_MOVED_TO, FAN_NOFD, 2);
	ev_fid(&e, FAN_EVENT_INFO_TYPE_OLD_DFID_NAME, XFS_TYPE, sizeof(file_h),
	       file_h, "old");
	ev_fid(&e, FAN_EVENT_INFO_TYPE_NEW_DFID_NAME, XFS_TYPE, sizeof(dir_h),
	       dir_h, "new");
	ev_fid(&e, FAN_EVENT_INFO_TYPE_FID, XFS_TYPE, sizeof(file_h), file_h,
	       NULL);
	ev_end(&e);
	/* 3: the longest name */
	ev_begin(&e, FAN_CLOSE_WRITE, FAN_NOFD, 3);
	ev_fid(&e, FAN_EVENT_INFO_TYPE_DFID_NAME, XFS_TYPE, sizeof(dir_h),
	       dir_h, longest);
	ev_fid(&e, FAN_EVENT_INFO_TYPE_FID, XFS_TYPE, sizeof(file_h), file_h,
	       NULL);
	ev_end(&e);
	/* 4: no name: DFID only */
	ev_begin(&e, FAN_MODIFY, FAN_NOFD, 4);
	ev_fid(&e, FAN_EVENT_INFO_TYPE_DFID, XFS_TYPE, sizeof(dir_h), dir_h,
	       NULL);
	ev_fid(&e, FAN_EVENT_INFO_TYPE_FID, XFS_TYPE, sizeof(file_h), file_h,
	       NULL);
	ev_end(&e);
	/* 5: an empty name */
	ev_begin(&e, FAN_MODIFY, FAN_NOFD, 5);
	ev_fid(&e, FAN_EVENT_INFO_TYPE_DFID_NAME, XFS_TYPE, sizeof(dir_h),
	       dir_h, "");
	ev_fid(&e, FAN_EVENT_INFO_TYPE_FID, XFS_TYPE, sizeof(file_h), file_h,
	       NULL);
	ev_end(&e);
	/* 6: a name one byte too long, 7: one with no NUL in its record */
	longest[FAN_NAME_MAX] = 'n';
	longest[FAN_NAME_MAX + 1] = '\0';
	ev_begin(&e, FAN_MODIFY, FAN_NOFD, 6);
	ev_fid(&e, FAN_EVENT_INFO_TYPE_DFID_NAME, XFS_TYPE, sizeof(dir_h),
	       dir_h, longest);
	ev_fid(&e, FAN_EVENT_INFO_TYPE_FID, XFS_TYPE, sizeof(file_h), file_h,
	       NULL);
	ev_end(&e);
	ev_begin(&e, FAN_MODIFY, FAN_NOFD, 7);
	ev_fid(&e, FAN_EVENT_INFO_TYPE_DFID_NAME, XFS_TYPE, sizeof(dir_h),
	       dir_h, "abcd");
	/* the record ends "abcd\0" + 3 bytes of padding: no NUL left */
	memset(e.b + e.len - 4, 'x', 4);
	ev_fid(&e, FAN_EVENT_INFO_TYPE_FID, XFS_TYPE, sizeof(file_h), file_h,
	       NULL);
	ev_end(&e);

	fan_iter_init(&it, e.b, e.len);
	next_event(&it, &ev);
	assert_true(ev.has_name);
	assert_int_equal(ev.dir.type, XFS_TYPE);
	assert_int_equal(ev.dir.len, sizeof(dir_h));
	assert_memory_equal(ev.dir.data, dir_h, sizeof(dir_h));
	assert_string_equal(ev.name, "f");
	next_event(&it, &ev);
	assert_true(ev.has_name);
	assert_memory_equal(ev.dir.data, dir_h, sizeof(dir_h));
	assert_string_equal(ev.name, "new");
	next_event(&it, &ev);
	assert_true(ev.has_name);
	assert_int_equal(strlen(ev.name), FAN_NAME_MAX);
	for (int i = 4; i <= 7; i++) {
		next_event(&it, &ev);
		assert_int_equal(ev.pid, i);
		expect_no_name(&ev);
	}
	expect_end(&it);
}

static void overflow_has_no_handle(void **state)
{
	static struct ebuf e;
	struct fan_iter it;

	(void)state;
	memset(&e, 0, sizeof(e));
	ev_begin(&e, FAN_Q_OVERFLOW, FAN_NOFD, 0);
	ev_end(&e);
	add_file_event(&e, FAN_CLOSE_WRITE, 9, file_h, sizeof(file_h));
	fan_iter_init(&it, e.b, e.len);
	expect_no_handle(&it, FAN_Q_OVERFLOW, 0, 0);
	expect_event(&it, FAN_CLOSE_WRITE, 9, file_h, sizeof(file_h), XFS_TYPE);
	expect_end(&it);
}

static void events_back_to_back(void **state)
{
	static struct ebuf e;
	struct fan_iter it;

	(void)state;
	memset(&e, 0, sizeof(e));
	add_file_event(&e, FAN_MODIFY, 10, file_h, sizeof(file_h));
	add_file_event(&e, FAN_CLOSE_WRITE | FAN_MODIFY, 11, dir_h, 8);
	fan_iter_init(&it, e.b, e.len);
	expect_event(&it, FAN_MODIFY, 10, file_h, sizeof(file_h), XFS_TYPE);
	expect_event(&it, FAN_CLOSE_WRITE | FAN_MODIFY, 11, dir_h, 8, XFS_TYPE);
	expect_end(&it);

	/* Empty and NULL buffers hold nothing. */
	fan_iter_init(&it, e.b, 0);
	expect_end(&it);
	fan_iter_init(&it, NULL, 100);
	expect_end(&it);
}

static void truncated_event(void **state)
{
	static struct ebuf e;
	struct fan_iter it;

	(void)state;
	memset(&e, 0, sizeof(e));
	add_file_event(&e, FAN_MODIFY, 10, file_h, sizeof(file_h));
	add_file_event(&e, FAN_MODIFY, 11, file_h, sizeof(file_h));

	/* The second event's event_len runs past what read() returned. */
	fan_iter_init(&it, e.b, e.len - 1);
	expect_event(&it, FAN_MODIFY, 10, file_h, sizeof(file_h), XFS_TYPE);
	expect_malformed(&it);

	/* Fewer bytes than the metadata. */
	fan_iter_init(&it, e.b, FAN_EVENT_METADATA_LEN - 1);
	expect_malformed(&it);
}

/* Rewrites the metadata of the event at the start of @e with @md. */
static void set_md(struct ebuf *e, const struct fanotify_event_metadata *md)
{
	memcpy(e->b, md, sizeof(*md));
}

static void bad_metadata(void **state)
{
	static struct ebuf e;
	struct fanotify_event_metadata good, md;
	struct fan_iter it;

	(void)state;
	memset(&e, 0, sizeof(e));
	add_file_event(&e, FAN_MODIFY, 10, file_h, sizeof(file_h));
	memcpy(&good, e.b, sizeof(good));

	/* event_len shorter than the metadata: no way forward. */
	md = good;
	md.event_len = 8;
	set_md(&e, &md);
	fan_iter_init(&it, e.b, e.len);
	expect_malformed(&it);
	md.event_len = 0;
	set_md(&e, &md);
	fan_iter_init(&it, e.b, e.len);
	expect_malformed(&it);

	/* Another ABI version. */
	md = good;
	md.vers = FANOTIFY_METADATA_VERSION + 1;
	set_md(&e, &md);
	fan_iter_init(&it, e.b, e.len);
	expect_malformed(&it);

	/* metadata_len too short, or past the event. */
	md = good;
	md.metadata_len = 16;
	set_md(&e, &md);
	fan_iter_init(&it, e.b, e.len);
	expect_malformed(&it);
	md.metadata_len = (uint16_t)(good.event_len + 4);
	set_md(&e, &md);
	fan_iter_init(&it, e.b, e.len);
	expect_malformed(&it);

	set_md(&e, &good);
	fan_iter_init(&it, e.b, e.len);
	expect_event(&it, FAN_MODIFY, 10, file_h, sizeof(file_h), XFS_TYPE);
	expect_end(&it);
}

static void handle_bytes_past_record(void **state)
{
	static struct ebuf e;
	struct file_handle fh;
	struct fan_iter it;
	size_t rec;

	(void)state;
	memset(&e, 0, sizeof(e));
	/* handle_bytes says 16, the record holds 12. */
	ev_begin(&e, FAN_MODIFY, FAN_NOFD, 10);
	rec = ev_fid(&e, FAN_EVENT_INFO_TYPE_FID, XFS_TYPE, sizeof(file_h),
		     file_h, NULL);
	ev_end(&e);
	memcpy(&fh,
	       e.b + rec + offsetof(struct fanotify_event_info_fid, handle),
	       sizeof(fh));
	fh.handle_bytes = 16;
	memcpy(e.b + rec + offsetof(struct fanotify_event_info_fid, handle),
	       &fh, sizeof(fh));
	/* The next event does not suffer: the record's len still frames it. */
	add_file_event(&e, FAN_MODIFY, 11, file_h, sizeof(file_h));

	/* A FID record too short for struct file_handle, fsid intact. */
	ev_begin(&e, FAN_CLOSE_WRITE, FAN_NOFD, 12);
	rec = ev_fid(&e, FAN_EVENT_INFO_TYPE_FID, XFS_TYPE, 0, NULL, NULL);
	set_rec_len(&e, rec,
		    (uint16_t)offsetof(struct fanotify_event_info_fid, handle));
	e.len = rec + offsetof(struct fanotify_event_info_fid, handle);
	ev_end(&e);

	/* A FID record too short for its fsid. */
	ev_begin(&e, FAN_CLOSE_WRITE, FAN_NOFD, 13);
	ev_info(&e, FAN_EVENT_INFO_TYPE_FID, 8);
	ev_end(&e);

	fan_iter_init(&it, e.b, e.len);
	expect_no_handle(&it, FAN_MODIFY, 10, FSID);
	expect_event(&it, FAN_MODIFY, 11, file_h, sizeof(file_h), XFS_TYPE);
	expect_no_handle(&it, FAN_CLOSE_WRITE, 12, FSID);
	expect_no_handle(&it, FAN_CLOSE_WRITE, 13, 0);
	expect_end(&it);
}

static void oversized_handle(void **state)
{
	static struct ebuf e;
	uint8_t big[FILE_HANDLE_MAX + 8];
	struct fan_iter it;

	(void)state;
	for (unsigned int i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i + 1);
	memset(&e, 0, sizeof(e));
	add_file_event(&e, FAN_MODIFY, 10, big, FILE_HANDLE_MAX + 1);
	add_file_event(&e, FAN_MODIFY, 11, big, FILE_HANDLE_MAX);
	/* An inode-less event: FILEID_INVALID, zero bytes. */
	add_file_event(&e, FAN_MODIFY, 12, big, 0);
	fan_iter_init(&it, e.b, e.len);
	expect_no_handle(&it, FAN_MODIFY, 10, FSID);
	/* Exactly FILE_HANDLE_MAX fits. */
	expect_event(&it, FAN_MODIFY, 11, big, FILE_HANDLE_MAX, XFS_TYPE);
	expect_no_handle(&it, FAN_MODIFY, 12, FSID);
	expect_end(&it);
}

static void other_info_skipped(void **state)
{
	static struct ebuf e;
	struct fan_iter it;

	(void)state;
	memset(&e, 0, sizeof(e));
	ev_begin(&e, FAN_MODIFY, FAN_NOFD, 10);
	ev_info(&e, FAN_EVENT_INFO_TYPE_PIDFD,
		sizeof(struct fanotify_event_info_pidfd));
	ev_fid(&e, FAN_EVENT_INFO_TYPE_OLD_DFID_NAME, XFS_TYPE, sizeof(dir_h),
	       dir_h, "old");
	ev_fid(&e, FAN_EVENT_INFO_TYPE_NEW_DFID_NAME, XFS_TYPE, sizeof(dir_h),
	       dir_h, "new-name");
	ev_fid(&e, FAN_EVENT_INFO_TYPE_DFID, XFS_TYPE, sizeof(dir_h), dir_h,
	       NULL);
	ev_info(&e, FAN_EVENT_INFO_TYPE_ERROR,
		sizeof(struct fanotify_event_info_error));
	ev_info(&e, FAN_EVENT_INFO_TYPE_RANGE, 24);
	ev_info(&e, FAN_EVENT_INFO_TYPE_MNT, 16);
	ev_info(&e, 200, 4); /* a type from the future, header only */
	ev_fid(&e, FAN_EVENT_INFO_TYPE_FID, XFS_TYPE, sizeof(file_h), file_h,
	       NULL);
	/* Only the first FID names the object. */
	ev_fid(&e, FAN_EVENT_INFO_TYPE_FID, XFS_TYPE, sizeof(dir_h), dir_h,
	       NULL);
	ev_end(&e);

	/* Only directory fids: the fsid, no handle. */
	ev_begin(&e, FAN_CREATE, FAN_NOFD, 11);
	ev_fid(&e, FAN_EVENT_INFO_TYPE_DFID_NAME, XFS_TYPE, sizeof(dir_h),
	       dir_h, "x");
	ev_end(&e);

	fan_iter_init(&it, e.b, e.len);
	expect_event(&it, FAN_MODIFY, 10, file_h, sizeof(file_h), XFS_TYPE);
	expect_no_handle(&it, FAN_CREATE, 11, FSID);
	expect_end(&it);
}

static void bad_info_header(void **state)
{
	static struct ebuf e;
	struct fan_iter it;
	uint8_t *exact;
	size_t rec;

	(void)state;
	memset(&e, 0, sizeof(e));
	/* len shorter than the header: the walk cannot go on. */
	ev_begin(&e, FAN_MODIFY, FAN_NOFD, 10);
	ev_fid(&e, FAN_EVENT_INFO_TYPE_FID, XFS_TYPE, sizeof(file_h), file_h,
	       NULL);
	rec = e.len;
	ev_info(&e, FAN_EVENT_INFO_TYPE_PIDFD, 8);
	set_rec_len(&e, rec, 2);
	ev_end(&e);
	/* len past the end of the event (but inside the buffer). */
	ev_begin(&e, FAN_MODIFY, FAN_NOFD, 11);
	rec = ev_fid(&e, FAN_EVENT_INFO_TYPE_FID, XFS_TYPE, sizeof(file_h),
		     file_h, NULL);
	set_rec_len(&e, rec, (uint16_t)(e.len - rec + 4));
	ev_end(&e);
	/* A stray byte after the last record, too few for a header. */
	ev_begin(&e, FAN_MODIFY, FAN_NOFD, 12);
	ev_fid(&e, FAN_EVENT_INFO_TYPE_FID, XFS_TYPE, sizeof(file_h), file_h,
	       NULL);
	pad(&e, 1);
	ev_end(&e);
	add_file_event(&e, FAN_MODIFY, 13, file_h, sizeof(file_h));

	fan_iter_init(&it, e.b, e.len);
	expect_no_handle(&it, FAN_MODIFY, 10, 0);
	expect_no_handle(&it, FAN_MODIFY, 11, 0);
	expect_no_handle(&it, FAN_MODIFY, 12, 0);
	expect_event(&it, FAN_MODIFY, 13, file_h, sizeof(file_h), XFS_TYPE);
	expect_end(&it);

	/*
	 * The last record of the last event claims more than is left: in a
	 * buffer of exactly read()'s size, ASan sees any byte read past it.
	 */
	memset(&e, 0, sizeof(e));
	ev_begin(&e, FAN_MODIFY, FAN_NOFD, 14);
	ev_fid(&e, FAN_EVENT_INFO_TYPE_DFID_NAME, XFS_TYPE, sizeof(dir_h),
	       dir_h, "f");
	rec = ev_fid(&e, FAN_EVENT_INFO_TYPE_FID, XFS_TYPE, sizeof(file_h),
		     file_h, NULL);
	set_rec_len(&e, rec, (uint16_t)(e.len - rec + 8));
	ev_end(&e);
	exact = exact_copy(&e);
	fan_iter_init(&it, exact, e.len);
	expect_no_handle(&it, FAN_MODIFY, 14, 0);
	expect_end(&it);
	free(exact);

	/* Likewise a stray byte, too few for a header, at the very end. */
	memset(&e, 0, sizeof(e));
	ev_begin(&e, FAN_MODIFY, FAN_NOFD, 15);
	ev_fid(&e, FAN_EVENT_INFO_TYPE_FID, XFS_TYPE, sizeof(file_h), file_h,
	       NULL);
	pad(&e, 1);
	ev_end(&e);
	exact = exact_copy(&e);
	fan_iter_init(&it, exact, e.len);
	expect_no_handle(&it, FAN_MODIFY, 15, 0);
	expect_end(&it);
	free(exact);
}

static void unaligned_buffer(void **state)
{
	static struct ebuf e;
	static uint8_t shifted[sizeof(e.b) + 8];
	struct fan_iter it;

	(void)state;
	memset(&e, 0, sizeof(e));
	add_file_event(&e, FAN_MODIFY, 10, file_h, sizeof(file_h));
	ev_begin(&e, FAN_CREATE, FAN_NOFD, 11);
	ev_fid(&e, FAN_EVENT_INFO_TYPE_DFID_NAME, XFS_TYPE, sizeof(dir_h),
	       dir_h, "abc"); /* 3 + NUL + 12-byte handle: 4-aligned only */
	ev_fid(&e, FAN_EVENT_INFO_TYPE_FID, BTRFS_TYPE, sizeof(btrfs_h),
	       btrfs_h, NULL);
	ev_end(&e);
	ev_begin(&e, FAN_Q_OVERFLOW, FAN_NOFD, 0);
	ev_end(&e);
	/* UBSan's alignment check catches a cast-and-dereference. */
	for (size_t off = 1; off < 8; off++) {
		memcpy(shifted + off, e.b, e.len);
		fan_iter_init(&it, shifted + off, e.len);
		expect_event(&it, FAN_MODIFY, 10, file_h, sizeof(file_h),
			     XFS_TYPE);
		expect_event(&it, FAN_CREATE, 11, btrfs_h, sizeof(btrfs_h),
			     BTRFS_TYPE);
		expect_no_handle(&it, FAN_Q_OVERFLOW, 0, 0);
		expect_end(&it);
	}
}

static bool fd_is_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

static void event_fd_closed(void **state)
{
	static struct ebuf e;
	struct fan_iter it;
	int fd, fd2;

	(void)state;
	fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	fd2 = open("/dev/null", O_RDONLY | O_CLOEXEC);
	assert_true(fd2 >= 0);

	/* FD mode: an fd and no info records. */
	memset(&e, 0, sizeof(e));
	ev_begin(&e, FAN_CLOSE_WRITE, fd, 10);
	ev_end(&e);
	fan_iter_init(&it, e.b, e.len);
	expect_no_handle(&it, FAN_CLOSE_WRITE, 10, 0);
	expect_end(&it);
	assert_false(fd_is_open(fd));
	assert_true(fd_is_open(fd2));

	/* A malformed event's fd is not trusted, so not closed. */
	memset(&e, 0, sizeof(e));
	ev_begin(&e, FAN_CLOSE_WRITE, fd2, 10);
	ev_end(&e);
	fan_iter_init(&it, e.b, e.len - 1);
	expect_malformed(&it);
	assert_true(fd_is_open(fd2));
	close(fd2);
}

static void iter_bad_arguments(void **state)
{
	static struct ebuf e;
	struct fan_iter it;
	struct fan_event ev;

	(void)state;
	memset(&e, 0, sizeof(e));
	add_file_event(&e, FAN_MODIFY, 10, file_h, sizeof(file_h));
	fan_iter_init(NULL, e.b, e.len);
	fan_iter_init(&it, e.b, e.len);
	assert_int_equal(fan_iter_next(NULL, &ev), -EINVAL);
	assert_int_equal(fan_iter_next(&it, NULL), -EINVAL);
	/* Neither consumed the event. */
	expect_event(&it, FAN_MODIFY, 10, file_h, sizeof(file_h), XFS_TYPE);
	expect_end(&it);
}

/* ---- the syscalls ---- */

static const unsigned int base_init_flags = FAN_CLASS_NOTIF | FAN_CLOEXEC |
					    FAN_NONBLOCK |
					    FAN_REPORT_DFID_NAME_TARGET;

static void open_unlimited_by_default(void **state)
{
	(void)state;
	assert_int_equal(fan_open(0), 42);
	assert_int_equal(k.calls, 1);
	assert_int_equal(k.init_flags, base_init_flags | FAN_UNLIMITED_QUEUE);
	assert_int_equal(k.event_f_flags, O_RDONLY | O_LARGEFILE | O_CLOEXEC);
	assert_true(k.init_flags & FAN_REPORT_TARGET_FID);
	assert_true(k.init_flags & FAN_REPORT_FID);
	assert_true(k.init_flags & FAN_REPORT_DIR_FID);
	assert_true(k.init_flags & FAN_REPORT_NAME);
}

static void open_bounded(void **state)
{
	(void)state;
	assert_int_equal(fan_open(FAN_OPEN_BOUNDED_QUEUE), 42);
	assert_int_equal(k.init_flags, base_init_flags);
	assert_false(k.init_flags & FAN_UNLIMITED_QUEUE);
	assert_int_equal(k.event_f_flags, O_RDONLY | O_LARGEFILE | O_CLOEXEC);
}

static void open_errors(void **state)
{
	(void)state;
	k.fail_errno = EPERM;
	assert_int_equal(fan_open(0), -EPERM);
	k.fail_errno = EINVAL; /* before 5.17: no FAN_REPORT_TARGET_FID */
	assert_int_equal(fan_open(FAN_OPEN_BOUNDED_QUEUE), -EINVAL);
	assert_int_equal(k.calls, 2);
	/* Unknown flags never reach the kernel. */
	k.fail_errno = 0;
	assert_int_equal(fan_open(0x2), -EINVAL);
	assert_int_equal(fan_open(~0u), -EINVAL);
	assert_int_equal(k.calls, 2);
}

static void mark_filesystem(void **state)
{
	(void)state;
	assert_int_equal(fan_mark_filesystem(7, "/mnt/x", FAN_WATCH_EVENTS), 0);
	assert_int_equal(k.calls, 1);
	assert_int_equal(k.mark_fd, 7);
	assert_int_equal(k.mark_flags, FAN_MARK_ADD | FAN_MARK_FILESYSTEM);
	assert_int_equal(k.mark_mask, FAN_CLOSE_WRITE | FAN_MODIFY |
					      FAN_CREATE | FAN_MOVED_TO);
	assert_int_equal(k.mark_dirfd, AT_FDCWD);
	assert_string_equal(k.mark_path, "/mnt/x");

	/* The mask goes through as given, upper bits included. */
	assert_int_equal(fan_mark_filesystem(7, "/", FAN_MODIFY | FAN_ONDIR),
			 0);
	assert_int_equal(k.mark_mask, FAN_MODIFY | FAN_ONDIR);
}

static void mark_errors(void **state)
{
	(void)state;
	k.fail_errno = EXDEV; /* btrfs, not the subvolid=5 mount */
	assert_int_equal(fan_mark_filesystem(7, "/mnt/sub", FAN_MODIFY),
			 -EXDEV);
	k.fail_errno = ENOENT;
	assert_int_equal(fan_mark_filesystem(7, "/nope", FAN_MODIFY), -ENOENT);
	assert_int_equal(k.calls, 2);
	assert_int_equal(fan_mark_filesystem(7, NULL, FAN_MODIFY), -EINVAL);
	assert_int_equal(k.calls, 2);
}

/* ---- the real kernel ---- */

struct seen {
	uint64_t mask; /* of our own events on the file */
	int events;
};

static void collect(int fan_fd, const struct file_handle *want,
		    struct seen *seen)
{
	static uint8_t buf[64 * 1024];
	struct fan_event ev;
	struct fan_iter it;
	ssize_t n;
	int ret;

	/* Events are queued before the syscall that caused them returns. */
	while ((n = read(fan_fd, buf, sizeof(buf))) > 0) {
		fan_iter_init(&it, buf, (size_t)n);
		while ((ret = fan_iter_next(&it, &ev)) == 1) {
			assert_false(ev.mask & FAN_Q_OVERFLOW);
			if (ev.pid != getpid() || !ev.has_handle)
				continue;
			if (ev.handle.type != want->handle_type ||
			    ev.handle.len != want->handle_bytes ||
			    memcmp(ev.handle.data, want->f_handle,
				   want->handle_bytes) != 0)
				continue;
			seen->mask |= ev.mask;
			seen->events++;
		}
		assert_int_equal(ret, 0);
	}
	assert_int_equal(n, -1);
	assert_int_equal(errno, EAGAIN);
}

static void real_kernel(void **state)
{
	union {
		struct file_handle fh;
		uint8_t bytes[sizeof(struct file_handle) + MAX_HANDLE_SZ];
	} want;
	char dir[] = "/tmp/dedupd-fanotify-XXXXXX";
	char path[sizeof(dir) + 2];
	struct seen seen = { 0 };
	int fan_fd, fd, ret, mnt_id;

	(void)state;
	k.real = true;
	fan_fd = fan_open(0);
	if (fan_fd == -EPERM) {
		print_message("no CAP_SYS_ADMIN, skipping\n");
		skip();
	}
	assert_true(fan_fd >= 0);
	assert_int_equal(fcntl(fan_fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
	assert_true(fcntl(fan_fd, F_GETFL) & O_NONBLOCK);

	assert_non_null(mkdtemp(dir));
	ret = fan_mark_filesystem(fan_fd, dir, FAN_WATCH_EVENTS);
	if (ret < 0) {
		print_message("mark on %s: %s, skipping\n", dir,
			      strerror(-ret));
		close(fan_fd);
		(void)rmdir(dir);
		skip();
	}

	snprintf(path, sizeof(path), "%s/f", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "x\n", 2), 2);
	close(fd);

	memset(&want, 0, sizeof(want));
	want.fh.handle_bytes = MAX_HANDLE_SZ;
	assert_int_equal(
		name_to_handle_at(AT_FDCWD, path, &want.fh, &mnt_id, 0), 0);
	collect(fan_fd, &want.fh, &seen);
	(void)unlink(path);
	(void)rmdir(dir);
	close(fan_fd);

	/* Same-object events may merge: look at what arrived in all. */
	assert_true(seen.events >= 1);
	assert_int_equal(seen.mask & FAN_WATCH_EVENTS,
			 FAN_CREATE | FAN_MODIFY | FAN_CLOSE_WRITE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(modify_reports_the_file, reset),
		cmocka_unit_test_setup(create_reports_the_target, reset),
		cmocka_unit_test_setup(events_say_where_the_file_is, reset),
		cmocka_unit_test_setup(overflow_has_no_handle, reset),
		cmocka_unit_test_setup(events_back_to_back, reset),
		cmocka_unit_test_setup(truncated_event, reset),
		cmocka_unit_test_setup(bad_metadata, reset),
		cmocka_unit_test_setup(handle_bytes_past_record, reset),
		cmocka_unit_test_setup(oversized_handle, reset),
		cmocka_unit_test_setup(other_info_skipped, reset),
		cmocka_unit_test_setup(bad_info_header, reset),
		cmocka_unit_test_setup(unaligned_buffer, reset),
		cmocka_unit_test_setup(event_fd_closed, reset),
		cmocka_unit_test_setup(iter_bad_arguments, reset),
		cmocka_unit_test_setup(open_unlimited_by_default, reset),
		cmocka_unit_test_setup(open_bounded, reset),
		cmocka_unit_test_setup(open_errors, reset),
		cmocka_unit_test_setup(mark_filesystem, reset),
		cmocka_unit_test_setup(mark_errors, reset),
		cmocka_unit_test_setup_teardown(real_kernel, reset, reset),
	};

	return cmocka_run_group_tests_name("fanotify", tests, NULL, NULL);
}
