// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * fs_probe() against faked fstatfs/fstat/ioctl answers.
 * Wraps: fstatfs64, fstat64 (what fstatfs()/fstat() link to with
 * _FILE_OFFSET_BITS=64), ioctl.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <linux/btrfs.h>
#include <linux/fs.h>
#include <linux/magic.h>

#include <cmocka.h>

#include "ioctl-compat/fsprobe.h"

/* The numbers the kernel expects, spelled independently of fsprobe.c. */
#define XFS_MAGIC 0x58465342
#define XFS_GEOM_IOC _IOC(_IOC_READ, 'X', 126, 256)
#define XFS_GEOM_FLAGS_OFF 92 /* offsetof(struct xfs_fsop_geom, flags) */
#define XFS_GEOM_UUID_OFF 64
#define XFS_REFLINK (1u << 20)
#define GETFSUUID_IOC _IOC(_IOC_READ, 0x15, 0, 17)

int __wrap_fstatfs64(int fd, struct statfs *buf);
int __wrap_fstat64(int fd, struct stat *st);
int __wrap_ioctl(int fd, unsigned long request, ...);

static const uint8_t UUID_A[16] = { 0xd2, 0xef, 0xe9, 0xab, 0x45, 0xdb,
				    0x48, 0x98, 0x8c, 0x75, 0x45, 0x3b,
				    0x40, 0xd7, 0x29, 0x8f };
static const uint8_t UUID_B[16] = { 0x1b, 0x97, 0x03, 0xa1, 0xd4, 0x9d,
				    0x47, 0x9b, 0x8c, 0x4e, 0xbd, 0x61,
				    0x99, 0x09, 0xb0, 0x5c };
/* f_fsid {0x11223344, 0x55667788}, little-endian, padded with zeros */
static const uint8_t FSID_UUID[16] = { 0x44, 0x33, 0x22, 0x11,
				       0x88, 0x77, 0x66, 0x55 };

static struct {
	int statfs_errno;
	long f_type;
	long f_bsize;
	int stat_errno;
	mode_t mode;

	int btrfs_errno;
	uint8_t btrfs_fsid[16];
	int xfs_errno;
	uint8_t xfs_uuid[16];
	uint32_t xfs_flags;
	int getfsuuid_errno;
	uint8_t getfsuuid_len;
	uint8_t getfsuuid[16];
	int dedupe_errno;
	int32_t dedupe_status;

	int btrfs_calls, xfs_calls, getfsuuid_calls, dedupe_calls, other_calls;
	int fd_seen;
	struct file_dedupe_range dedupe_seen;
	struct file_dedupe_range_info dedupe_info_seen;
} f;

int __wrap_fstatfs64(int fd, struct statfs *buf)
{
	f.fd_seen = fd;
	if (f.statfs_errno) {
		errno = f.statfs_errno;
		return -1;
	}
	memset(buf, 0, sizeof(*buf));
	buf->f_type = f.f_type;
	buf->f_bsize = f.f_bsize;
	buf->f_fsid.__val[0] = 0x11223344;
	buf->f_fsid.__val[1] = 0x55667788;
	return 0;
}

int __wrap_fstat64(int fd, struct stat *st)
{
	(void)fd;
	if (f.stat_errno) {
		errno = f.stat_errno;
		return -1;
	}
	memset(st, 0, sizeof(*st));
	st->st_mode = f.mode;
	return 0;
}

static int fail_with(int err)
{
	errno = err;
	return -1;
}

int __wrap_ioctl(int fd, unsigned long request, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, request);
	arg = va_arg(ap, void *);
	va_end(ap);
	assert_int_equal(fd, 7);

	if (request == BTRFS_IOC_FS_INFO) {
		struct btrfs_ioctl_fs_info_args *fi = arg;

		f.btrfs_calls++;
		if (f.btrfs_errno)
			return fail_with(f.btrfs_errno);
		memcpy(fi->fsid, f.btrfs_fsid, sizeof(fi->fsid));
		return 0;
	}
	if (request == XFS_GEOM_IOC) {
		uint8_t *geom = arg;

		f.xfs_calls++;
		if (f.xfs_errno)
			return fail_with(f.xfs_errno);
		memcpy(geom + XFS_GEOM_UUID_OFF, f.xfs_uuid, 16);
		memcpy(geom + XFS_GEOM_FLAGS_OFF, &f.xfs_flags, 4);
		return 0;
	}
	if (request == GETFSUUID_IOC) {
		uint8_t *u = arg;

		f.getfsuuid_calls++;
		if (f.getfsuuid_errno)
			return fail_with(f.getfsuuid_errno);
		u[0] = f.getfsuuid_len;
		memcpy(u + 1, f.getfsuuid, 16);
		return 0;
	}
	if (request == FIDEDUPERANGE) {
		struct file_dedupe_range *r = arg;

		f.dedupe_calls++;
		f.dedupe_seen = *r;
		f.dedupe_info_seen = r->info[0];
		if (f.dedupe_errno)
			return fail_with(f.dedupe_errno);
		r->info[0].status = f.dedupe_status;
		return 0;
	}
	f.other_calls++;
	return fail_with(ENOTTY);
}

static int reset(void **state)
{
	(void)state;
	memset(&f, 0, sizeof(f));
	f.f_bsize = 4096;
	f.mode = S_IFREG | 0644;
	memcpy(f.btrfs_fsid, UUID_A, 16);
	memcpy(f.xfs_uuid, UUID_B, 16);
	f.getfsuuid_len = 16;
	memcpy(f.getfsuuid, UUID_B, 16);
	return 0;
}

static void probe_ok(unsigned int flags, struct fs_info *info)
{
	memset(info, 0xa5, sizeof(*info));
	assert_int_equal(fs_probe(7, flags, info), 0);
	assert_int_equal(f.fd_seen, 7);
	assert_int_equal(f.other_calls, 0);
}

static void btrfs_file(void **state)
{
	struct fs_info info;

	(void)state;
	f.f_type = BTRFS_SUPER_MAGIC;
	probe_ok(0, &info);
	assert_int_equal(info.kind, FS_BTRFS);
	assert_string_equal(info.name, "btrfs");
	assert_int_equal(info.block_size, 4096);
	assert_true(info.has_uuid);
	assert_memory_equal(info.uuid, UUID_A, 16);
	assert_true(info.can_dedupe);
	assert_true(info.can_reflink);
	assert_int_equal(f.btrfs_calls, 1);
	assert_int_equal(f.getfsuuid_calls, 0);
	/* The dedupe probe: zero bytes of the file onto itself. */
	assert_int_equal(f.dedupe_calls, 1);
	assert_int_equal(f.dedupe_seen.src_offset, 0);
	assert_int_equal(f.dedupe_seen.src_length, 0);
	assert_int_equal(f.dedupe_seen.dest_count, 1);
	assert_int_equal(f.dedupe_info_seen.dest_fd, 7);
	assert_int_equal(f.dedupe_info_seen.dest_offset, 0);
}

static void btrfs_forced_fsid(void **state)
{
	struct fs_info info;

	(void)state;
	f.f_type = BTRFS_SUPER_MAGIC;
	f.f_bsize = 16384;
	probe_ok(FS_PROBE_NO_UUID_IOCTL, &info);
	assert_int_equal(info.kind, FS_BTRFS);
	assert_int_equal(info.block_size, 16384);
	assert_false(info.has_uuid);
	assert_memory_equal(info.uuid, FSID_UUID, 16);
	assert_int_equal(f.btrfs_calls, 0);
	assert_int_equal(f.getfsuuid_calls, 0);
	assert_true(info.can_reflink);
}

static void btrfs_uuid_fallbacks(void **state)
{
	struct fs_info info;

	(void)state;
	f.f_type = BTRFS_SUPER_MAGIC;
	f.btrfs_errno = EPERM;
	probe_ok(0, &info);
	assert_true(info.has_uuid);
	assert_memory_equal(info.uuid, UUID_B, 16); /* FS_IOC_GETFSUUID */
	assert_int_equal(f.getfsuuid_calls, 1);

	f.getfsuuid_errno = ENOTTY; /* before Linux 6.5 */
	probe_ok(0, &info);
	assert_false(info.has_uuid);
	assert_memory_equal(info.uuid, FSID_UUID, 16);
	assert_int_equal(info.kind, FS_BTRFS);
	assert_true(info.can_dedupe);
}

static void btrfs_dir_decided_by_type(void **state)
{
	struct fs_info info;

	(void)state;
	f.f_type = BTRFS_SUPER_MAGIC;
	f.mode = S_IFDIR | 0755;
	probe_ok(0, &info);
	assert_true(info.can_dedupe);
	assert_true(info.can_reflink);
	assert_int_equal(f.dedupe_calls, 0);
}

static void dedupe_probe_inconclusive_uses_type(void **state)
{
	struct fs_info info;

	(void)state;
	f.f_type = BTRFS_SUPER_MAGIC;
	f.dedupe_status = -EPERM; /* not allowed: says nothing */
	probe_ok(0, &info);
	assert_true(info.can_dedupe);

	f.f_type = EXT4_SUPER_MAGIC;
	probe_ok(0, &info);
	assert_false(info.can_dedupe);

	f.f_type = BTRFS_SUPER_MAGIC;
	f.dedupe_status = 0;
	f.dedupe_errno = EROFS;
	probe_ok(0, &info);
	assert_true(info.can_dedupe);
	assert_int_equal(f.dedupe_calls, 3);
}

static void dedupe_probe_says_no(void **state)
{
	struct fs_info info;

	(void)state;
	f.f_type = BTRFS_SUPER_MAGIC;
	f.dedupe_errno = EOPNOTSUPP;
	probe_ok(0, &info);
	assert_false(info.can_dedupe);
	assert_true(info.can_reflink);

	f.dedupe_errno = 0;
	f.dedupe_status = -EINVAL;
	probe_ok(0, &info);
	assert_false(info.can_dedupe);
}

static void xfs_reflink_dir(void **state)
{
	struct fs_info info;

	(void)state;
	f.f_type = XFS_MAGIC;
	f.mode = S_IFDIR | 0755;
	f.xfs_flags = XFS_REFLINK | 0xff;
	probe_ok(0, &info);
	assert_int_equal(info.kind, FS_XFS);
	assert_string_equal(info.name, "xfs");
	assert_true(info.has_uuid);
	assert_memory_equal(info.uuid, UUID_B, 16);
	assert_true(info.can_dedupe);
	assert_true(info.can_reflink);
	assert_int_equal(f.xfs_calls, 1);
	assert_int_equal(f.dedupe_calls, 0);
}

static void xfs_without_reflink(void **state)
{
	struct fs_info info;

	(void)state;
	f.f_type = XFS_MAGIC;
	f.xfs_flags = ~XFS_REFLINK;
	f.mode = S_IFDIR | 0755;
	probe_ok(0, &info);
	assert_false(info.can_dedupe);
	assert_false(info.can_reflink);

	/* The VFS says yes to a zero-length dedupe here: geometry wins. */
	f.mode = S_IFREG | 0644;
	f.dedupe_status = 0;
	probe_ok(0, &info);
	assert_int_equal(f.dedupe_calls, 1);
	assert_false(info.can_dedupe);
	assert_false(info.can_reflink);

	/* Geometry unavailable: the probe is all there is. */
	f.xfs_errno = ENOTTY;
	probe_ok(0, &info);
	assert_true(info.can_dedupe);
	assert_false(info.can_reflink);
	assert_true(info.has_uuid); /* from FS_IOC_GETFSUUID */
	assert_int_equal(f.getfsuuid_calls, 1);
}

static void xfs_forced_fsid_still_reads_geometry(void **state)
{
	struct fs_info info;

	(void)state;
	f.f_type = XFS_MAGIC;
	f.xfs_flags = XFS_REFLINK;
	f.mode = S_IFDIR | 0755;
	probe_ok(FS_PROBE_NO_UUID_IOCTL, &info);
	assert_false(info.has_uuid);
	assert_memory_equal(info.uuid, FSID_UUID, 16);
	assert_int_equal(f.xfs_calls, 1);
	assert_int_equal(f.getfsuuid_calls, 0);
	assert_true(info.can_reflink);
	assert_true(info.can_dedupe);
}

static void ext4_and_tmpfs(void **state)
{
	struct fs_info info;

	(void)state;
	f.f_type = EXT4_SUPER_MAGIC;
	f.f_bsize = 1024;
	f.dedupe_errno = EOPNOTSUPP;
	probe_ok(0, &info);
	assert_int_equal(info.kind, FS_EXT4);
	assert_string_equal(info.name, "ext4");
	assert_int_equal(info.block_size, 1024);
	assert_true(info.has_uuid);
	assert_memory_equal(info.uuid, UUID_B, 16);
	assert_false(info.can_dedupe);
	assert_false(info.can_reflink);
	assert_int_equal(f.btrfs_calls + f.xfs_calls, 0);

	f.f_type = TMPFS_MAGIC;
	f.getfsuuid_errno = ENOTTY;
	probe_ok(0, &info);
	assert_int_equal(info.kind, FS_TMPFS);
	assert_string_equal(info.name, "tmpfs");
	assert_false(info.has_uuid);
	assert_memory_equal(info.uuid, FSID_UUID, 16);
	assert_false(info.can_dedupe);
}

static void getfsuuid_length_checked(void **state)
{
	static const uint8_t short_uuid[16] = { 0x1b, 0x97, 0x03, 0xa1 };
	struct fs_info info;

	(void)state;
	f.f_type = EXT4_SUPER_MAGIC;
	f.getfsuuid_len = 4;
	probe_ok(0, &info);
	assert_true(info.has_uuid);
	assert_memory_equal(info.uuid, short_uuid, 16);

	f.getfsuuid_len = 0;
	probe_ok(0, &info);
	assert_false(info.has_uuid);
	assert_memory_equal(info.uuid, FSID_UUID, 16);

	f.getfsuuid_len = 17;
	probe_ok(0, &info);
	assert_false(info.has_uuid);
}

static void other_filesystem(void **state)
{
	struct fs_info info;

	(void)state;
	f.f_type = 0x6969; /* NFS */
	f.getfsuuid_errno = ENOTTY;
	probe_ok(0, &info);
	assert_int_equal(info.kind, FS_OTHER);
	assert_string_equal(info.name, "0x6969");
	assert_false(info.has_uuid);
	/* A file decides by the probe... */
	assert_true(info.can_dedupe);
	assert_false(info.can_reflink);

	/* ...a directory by type. */
	f.mode = S_IFDIR | 0755;
	f.f_type = 0xf2f52010; /* F2FS */
	probe_ok(0, &info);
	assert_string_equal(info.name, "0xf2f52010");
	assert_false(info.can_dedupe);
}

static void errors_leave_result_untouched(void **state)
{
	struct fs_info info, before;

	(void)state;
	memset(&info, 0x5a, sizeof(info));
	before = info;
	f.f_type = BTRFS_SUPER_MAGIC;
	f.statfs_errno = EBADF;
	assert_int_equal(fs_probe(7, 0, &info), -EBADF);
	f.statfs_errno = 0;
	f.stat_errno = EIO;
	assert_int_equal(fs_probe(7, 0, &info), -EIO);
	f.stat_errno = 0;
	assert_int_equal(fs_probe(7, 0x80, &info), -EINVAL);
	assert_int_equal(fs_probe(7, 0, NULL), -EINVAL);
	assert_memory_equal(&info, &before, sizeof(info));
}

static void uuid_formatted(void **state)
{
	char buf[40];

	(void)state;
	memset(buf, 'x', sizeof(buf));
	fs_uuid_format(UUID_A, buf);
	assert_string_equal(buf, "d2efe9ab-45db-4898-8c75-453b40d7298f");
	fs_uuid_format(FSID_UUID, buf);
	assert_string_equal(buf, "44332211-8877-6655-0000-000000000000");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(btrfs_file, reset),
		cmocka_unit_test_setup(btrfs_forced_fsid, reset),
		cmocka_unit_test_setup(btrfs_uuid_fallbacks, reset),
		cmocka_unit_test_setup(btrfs_dir_decided_by_type, reset),
		cmocka_unit_test_setup(dedupe_probe_inconclusive_uses_type,
				       reset),
		cmocka_unit_test_setup(dedupe_probe_says_no, reset),
		cmocka_unit_test_setup(xfs_reflink_dir, reset),
		cmocka_unit_test_setup(xfs_without_reflink, reset),
		cmocka_unit_test_setup(xfs_forced_fsid_still_reads_geometry,
				       reset),
		cmocka_unit_test_setup(ext4_and_tmpfs, reset),
		cmocka_unit_test_setup(getfsuuid_length_checked, reset),
		cmocka_unit_test_setup(other_filesystem, reset),
		cmocka_unit_test_setup(errors_leave_result_untouched, reset),
		cmocka_unit_test_setup(uuid_formatted, reset),
	};

	return cmocka_run_group_tests_name("fsprobe", tests, NULL, NULL);
}
