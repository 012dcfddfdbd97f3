// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * File handles on real files in a scratch directory under /tmp (open needs
 * CAP_DAC_READ_SEARCH: those tests skip without it).
 * Wraps: name_to_handle_at, real unless a test asks for an oversized handle.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "ioctl-compat/handle.h"

int __real_name_to_handle_at(int dirfd, const char *name,
			     struct file_handle *fh, int *mnt_id, int flags);
int __wrap_name_to_handle_at(int dirfd, const char *name,
			     struct file_handle *fh, int *mnt_id, int flags);

static unsigned int fake_handle_bytes; /* 0: the real call */
static int last_flags;

int __wrap_name_to_handle_at(int dirfd, const char *name,
			     struct file_handle *fh, int *mnt_id, int flags)
{
	last_flags = flags;
	if (!fake_handle_bytes)
		return __real_name_to_handle_at(dirfd, name, fh, mnt_id, flags);
	assert_true(fh->handle_bytes >= fake_handle_bytes);
	fh->handle_bytes = fake_handle_bytes;
	fh->handle_type = 1;
	memset(fh->f_handle, 0x42, fake_handle_bytes);
	*mnt_id = 1;
	return 0;
}

static const char content[] = "dedupd handle test\n";

struct scratch {
	char dir[64];
	int dirfd;
};

static int setup(void **state)
{
	struct scratch *s = calloc(1, sizeof(*s));
	int fd;

	if (!s)
		return -1;
	snprintf(s->dir, sizeof(s->dir), "/tmp/dedupd-handle-XXXXXX");
	if (!mkdtemp(s->dir))
		return -1;
	s->dirfd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->dirfd < 0)
		return -1;
	fd = openat(s->dirfd, "f", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
		    0644);
	if (fd < 0 || write(fd, content, sizeof(content)) != sizeof(content))
		return -1;
	close(fd);
	if (symlinkat("f", s->dirfd, "l") < 0)
		return -1;
	fake_handle_bytes = 0;
	*state = s;
	return 0;
}

static int teardown(void **state)
{
	struct scratch *s = *state;

	(void)unlinkat(s->dirfd, "f", 0);
	(void)unlinkat(s->dirfd, "l", 0);
	(void)unlinkat(s->dirfd, "g", 0);
	close(s->dirfd);
	(void)rmdir(s->dir);
	free(s);
	return 0;
}

/* Opens @h, skipping the test when we lack CAP_DAC_READ_SEARCH. */
static int open_or_skip(int mount_fd, const struct file_id_handle *h, int flags)
{
	int fd = file_handle_open(mount_fd, h, flags);

	if (fd == -EPERM)
		skip();
	return fd;
}

static void roundtrip(void **state)
{
	struct scratch *s = *state;
	struct file_id_handle h;
	struct stat want, got;
	struct statx stx;
	char buf[64];
	int mnt_id = -1, fd;

	assert_int_equal(file_handle_get(s->dirfd, "f", &h, &mnt_id), 0);
	assert_int_equal(last_flags, 0);
	assert_true(h.len > 0 && h.len <= FILE_HANDLE_MAX);
	assert_int_equal(statx(s->dirfd, "f", AT_SYMLINK_NOFOLLOW, STATX_MNT_ID,
			       &stx),
			 0);
	assert_true(stx.stx_mask & STATX_MNT_ID);
	assert_int_equal(mnt_id, stx.stx_mnt_id);

	fd = open_or_skip(s->dirfd, &h, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(fcntl(fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
	assert_int_equal(fstatat(s->dirfd, "f", &want, 0), 0);
	assert_int_equal(fstat(fd, &got), 0);
	assert_int_equal(got.st_ino, want.st_ino);
	assert_int_equal(got.st_dev, want.st_dev);
	assert_int_equal(read(fd, buf, sizeof(buf)), sizeof(content));
	assert_memory_equal(buf, content, sizeof(content));
	/* flags reach open_by_handle_at: O_RDONLY cannot write */
	assert_int_equal(write(fd, "x", 1), -1);
	close(fd);

	/* NULL mount id is fine. */
	assert_int_equal(file_handle_get(s->dirfd, "f", &h, NULL), 0);
}

static void empty_name_names_the_fd(void **state)
{
	struct scratch *s = *state;
	struct file_id_handle by_name, by_fd;
	int fd;

	assert_int_equal(file_handle_get(s->dirfd, "f", &by_name, NULL), 0);
	fd = openat(s->dirfd, "f", O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	memset(&by_fd, 0xa5, sizeof(by_fd));
	assert_int_equal(file_handle_get(fd, "", &by_fd, NULL), 0);
	assert_int_equal(last_flags, AT_EMPTY_PATH);
	close(fd);
	assert_int_equal(by_fd.type, by_name.type);
	assert_int_equal(by_fd.len, by_name.len);
	assert_memory_equal(by_fd.data, by_name.data, sizeof(by_fd.data));
}

static void symlink_not_followed(void **state)
{
	struct scratch *s = *state;
	struct file_id_handle file, link;
	struct stat st;
	int fd;

	assert_int_equal(file_handle_get(s->dirfd, "f", &file, NULL), 0);
	assert_int_equal(file_handle_get(s->dirfd, "l", &link, NULL), 0);
	assert_true(file.len != link.len ||
		    memcmp(file.data, link.data, file.len) != 0);
	fd = open_or_skip(s->dirfd, &link, O_PATH | O_NOFOLLOW);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	close(fd);
}

static void missing_file(void **state)
{
	struct scratch *s = *state;
	struct file_id_handle h, before;
	int mnt_id = 12345;

	memset(&h, 0x5a, sizeof(h));
	before = h;
	assert_int_equal(file_handle_get(s->dirfd, "nope", &h, &mnt_id),
			 -ENOENT);
	assert_memory_equal(&h, &before, sizeof(h));
	assert_int_equal(mnt_id, 12345);
	assert_int_equal(file_handle_get(-1, "", &h, NULL), -EBADF);
	assert_int_equal(file_handle_get(s->dirfd, NULL, &h, NULL), -EINVAL);
}

static void deleted_file_is_stale(void **state)
{
	struct scratch *s = *state;
	struct file_id_handle h;
	int fd;

	fd = openat(s->dirfd, "g", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
		    0644);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(file_handle_get(s->dirfd, "g", &h, NULL), 0);
	fd = open_or_skip(s->dirfd, &h, O_RDONLY);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(unlinkat(s->dirfd, "g", 0), 0);
	assert_int_equal(file_handle_open(s->dirfd, &h, O_RDONLY), -ESTALE);
}

static void oversized_handle(void **state)
{
	struct scratch *s = *state;
	struct file_id_handle h, before;
	int mnt_id = 12345;

	memset(&h, 0x5a, sizeof(h));
	before = h;
	fake_handle_bytes = FILE_HANDLE_MAX + 1;
	assert_int_equal(file_handle_get(s->dirfd, "f", &h, &mnt_id),
			 -EOVERFLOW);
	assert_memory_equal(&h, &before, sizeof(h));
	assert_int_equal(mnt_id, 12345);

	/* Exactly FILE_HANDLE_MAX fits. */
	fake_handle_bytes = FILE_HANDLE_MAX;
	assert_int_equal(file_handle_get(s->dirfd, "f", &h, &mnt_id), 0);
	assert_int_equal(h.len, FILE_HANDLE_MAX);
	assert_int_equal(h.type, 1);
	assert_int_equal(h.data[FILE_HANDLE_MAX - 1], 0x42);
	assert_int_equal(mnt_id, 1);

	h.len = FILE_HANDLE_MAX + 1;
	assert_int_equal(file_handle_open(s->dirfd, &h, O_RDONLY), -EINVAL);
	assert_int_equal(file_handle_open(s->dirfd, NULL, O_RDONLY), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(empty_name_names_the_fd, setup,
						teardown),
		cmocka_unit_test_setup_teardown(symlink_not_followed, setup,
						teardown),
		cmocka_unit_test_setup_teardown(missing_file, setup, teardown),
		cmocka_unit_test_setup_teardown(deleted_file_is_stale, setup,
						teardown),
		cmocka_unit_test_setup_teardown(oversized_handle, setup,
						teardown),
	};

	return cmocka_run_group_tests_name("handle", tests, NULL, NULL);
}
