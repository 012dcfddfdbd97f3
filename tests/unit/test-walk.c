// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Unit tests for daemon/engine/walk.c on a real temporary tree; statx is wrapped so
 * that directories named "othermount" and "selfbind" look like other
 * mounts: "othermount" one of another directory (fstat gives another inode
 * for it), "selfbind" one of itself, which an fd reopened by handle is not.
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
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>

#include "daemon/engine/walk.h"

int __real_statx(int dirfd, const char *path, int flags, unsigned int mask,
		 struct statx *stx);
int __wrap_statx(int dirfd, const char *path, int flags, unsigned int mask,
		 struct statx *stx);

int __real_fstat64(int fd, struct stat *sb);
int __wrap_fstat64(int fd, struct stat *sb);
int __real_open_by_handle_at(int mount_fd, struct file_handle *fh, int flags);
int __wrap_open_by_handle_at(int mount_fd, struct file_handle *fh, int flags);

static int reopened[64];	/* fds opened by handle: on the walk's mount */

static void fd_target(int fd, char *target, size_t len)
{
	char link[64];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, target, len - 1);
	target[n > 0 ? n : 0] = '\0';
}

int __wrap_statx(int dirfd, const char *path, int flags, unsigned int mask,
		 struct statx *stx)
{
	char target[4096];

	memset(stx, 0, sizeof(*stx));
	fd_target(dirfd, target, sizeof(target));
	stx->stx_mnt_id = 1;
	if (strstr(target, "othermount"))
		stx->stx_mnt_id = 99;
	/* (a flag left by a closed fd only makes "selfbind" ours at once) */
	if (strstr(target, "selfbind") &&
	    !(dirfd >= 0 && dirfd < 64 && reopened[dirfd]))
		stx->stx_mnt_id = 99;
	(void)path;
	(void)flags;
	(void)mask;
	return 0;
}

int __wrap_fstat64(int fd, struct stat *sb)
{
	char target[4096];
	int ret = __real_fstat64(fd, sb);

	fd_target(fd, target, sizeof(target));
	if (!ret && strstr(target, "othermount"))
		sb->st_ino += 1000;	/* a mount of another directory */
	return ret;
}

int __wrap_open_by_handle_at(int mount_fd, struct file_handle *fh, int flags)
{
	int fd = __real_open_by_handle_at(mount_fd, fh, flags);

	if (fd >= 0 && fd < 64)
		reopened[fd] = 1;
	return fd;
}

static char root[] = "/tmp/dedupd-test-walk-XXXXXX";

struct seen {
	char names[32][256];
	uint64_t sizes[32];
	int n;
};

/* Also checks that @name in @dfd is the file @path names. */
static int collect(void *arg, int dfd, const char *name, const char *path,
		   const struct stat *sb)
{
	struct seen *s = arg;
	uint64_t size = (uint64_t)sb->st_size;
	struct stat a, b;

	assert_int_equal(fstatat(dfd, name, &a, AT_SYMLINK_NOFOLLOW), 0);
	assert_int_equal(stat(path, &b), 0);
	assert_true(a.st_ino == b.st_ino && a.st_dev == b.st_dev);
	assert_true(a.st_ino == sb->st_ino && a.st_dev == sb->st_dev);
	assert_int_equal((uint64_t)a.st_size, size);
	snprintf(s->names[s->n], sizeof(s->names[0]), "%s",
		 path + strlen(root));
	s->sizes[s->n++] = size;
	return 0;
}

static int stop_at_two(void *arg, int dfd, const char *name,
		       const char *path, const struct stat *sb)
{
	int *n = arg;

	(void)dfd;
	(void)name;
	(void)path;
	(void)sb;
	return ++*n == 2 ? -42 : 0;
}

static void mkfile(const char *rel, size_t size)
{
	char p[512], buf[100] = { 0 };
	int fd;

	snprintf(p, sizeof(p), "%s/%s", root, rel);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	while (size) {
		size_t n = size < sizeof(buf) ? size : sizeof(buf);

		assert_int_equal(write(fd, buf, n), (ssize_t)n);
		size -= n;
	}
	close(fd);
}

static void mkd(const char *rel)
{
	char p[512];

	snprintf(p, sizeof(p), "%s/%s", root, rel);
	assert_int_equal(mkdir(p, 0755), 0);
}

/* A bound unix socket at @rel (it stays after the fd is closed). */
static int mksocket(const char *rel)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0), ret;

	if (fd < 0)
		return -1;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s", root, rel);
	ret = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	close(fd);
	return ret;
}

static int setup(void **state)
{
	char p[512];

	(void)state;
	if (!mkdtemp(root))
		return -1;
	mkd("a");
	mkd("a/b");
	mkd("othermount");
	mkd("selfbind");
	mkd("selfbind/sub");
	mkd("cache");
	mkfile("top", 10);
	mkfile("empty", 0);
	mkfile("a/one", 300);
	mkfile("a/b/two.log", 20);
	mkfile("a/b/three", 5);
	mkfile("othermount/hidden", 50);
	mkfile("selfbind/s1", 60);
	mkfile("selfbind/sub/s2", 70);
	mkfile("cache/c1", 50);
	snprintf(p, sizeof(p), "%s/a/link", root);
	if (symlink("/etc/passwd", p))
		return -1;
	snprintf(p, sizeof(p), "%s/fifo", root);
	if (mkfifo(p, 0600))
		return -1;
	return mksocket("a/sock");
}

static int teardown(void **state)
{
	char cmd[600];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	return system(cmd);
}

static int has(const struct seen *s, const char *name)
{
	for (int i = 0; i < s->n; i++)
		if (!strcmp(s->names[i], name))
			return 1;
	return 0;
}

static void walks_regular_files_on_one_mount(void **state)
{
	struct walk_opts o = { .mnt_id = 1, .min_size = 1 };
	struct walk_stats st = { 0 };
	struct seen s = { .n = 0 };

	(void)state;
	assert_int_equal(walk_tree(root, &o, &st, collect, &s), 0);
	assert_int_equal(s.n, 5);
	assert_true(has(&s, "/top"));
	assert_true(has(&s, "/a/one"));
	assert_true(has(&s, "/a/b/two.log"));
	assert_true(has(&s, "/a/b/three"));
	assert_true(has(&s, "/cache/c1"));
	assert_false(has(&s, "/othermount/hidden"));	/* other mount */
	assert_false(has(&s, "/selfbind/s1"));		/* not asked to */
	assert_false(has(&s, "/a/link"));		/* symlink */
	assert_false(has(&s, "/empty"));		/* empty file */
	assert_int_equal(st.other_mounts, 2);
	assert_int_equal(st.small, 1);
	assert_int_equal(st.special, 2);	/* fifo, a/sock: not opened */
	assert_int_equal(st.too_deep, 0);
}

static void under_a_bind_mount_of_itself(void **state)
{
	struct walk_opts o = { .mnt_id = 1, .min_size = 1,
			       .under_self_binds = true };
	struct walk_stats st = { 0 };
	struct seen s = { .n = 0 };
	struct file_handle *fh;
	int mnt, fd;

	(void)state;
	/* Reopening by handle needs CAP_DAC_READ_SEARCH. */
	fh = calloc(1, sizeof(*fh) + MAX_HANDLE_SZ);
	assert_non_null(fh);
	fh->handle_bytes = MAX_HANDLE_SZ;
	assert_int_equal(name_to_handle_at(AT_FDCWD, root, fh, &mnt, 0), 0);
	fd = __real_open_by_handle_at(AT_FDCWD, fh, O_RDONLY);
	free(fh);
	if (fd < 0)
		skip();
	close(fd);

	assert_int_equal(walk_tree(root, &o, &st, collect, &s), 0);
	assert_int_equal(s.n, 7);
	assert_true(has(&s, "/selfbind/s1"));
	assert_true(has(&s, "/selfbind/sub/s2"));
	assert_false(has(&s, "/othermount/hidden"));	/* another dir's */
	assert_int_equal(st.other_mounts, 1);
}

static void excludes_and_min_size(void **state)
{
	char glob[600];
	char *ex[2] = { "*.log", glob };
	struct walk_opts o = { .mnt_id = 1, .min_size = 10, .excludes = ex,
			       .nexcludes = 2 };
	struct walk_stats st = { 0 };
	struct seen s = { .n = 0 };

	(void)state;
	snprintf(glob, sizeof(glob), "%s/cache", root);
	assert_int_equal(walk_tree(root, &o, &st, collect, &s), 0);
	assert_int_equal(s.n, 2);
	assert_true(has(&s, "/top"));
	assert_true(has(&s, "/a/one"));
	assert_int_equal(st.excluded, 2);	/* two.log, cache/ */
	assert_int_equal(st.small, 2);		/* three, empty */
}

static void callback_stops_the_walk(void **state)
{
	struct walk_opts o = { .mnt_id = 1, .min_size = 1 };
	struct walk_stats st = { 0 };
	int n = 0;

	(void)state;
	assert_int_equal(walk_tree(root, &o, &st, stop_at_two, &n), -42);
	assert_int_equal(n, 2);
}

static void a_file_as_root_and_a_missing_root(void **state)
{
	struct walk_opts o = { .mnt_id = 1, .min_size = 1 };
	struct walk_stats st = { 0 };
	struct seen s = { .n = 0 };
	char p[512];

	(void)state;
	snprintf(p, sizeof(p), "%s/a/one", root);
	assert_int_equal(walk_tree(p, &o, &st, collect, &s), 0);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.sizes[0], 300);
	snprintf(p, sizeof(p), "%s/nonexistent", root);
	assert_int_equal(walk_tree(p, &o, &st, collect, &s), -ENOENT);
}

/*
 * @n nested directories "d" under @top, with a file "f" of 10 bytes in the
 * ones at the depths in @files (1 is the first "d").
 */
static void make_chain(const char *top, int n, const int *files, int nfiles)
{
	int fd = open(top, O_RDONLY | O_DIRECTORY), next;

	assert_true(fd >= 0);
	for (int depth = 1; depth <= n; depth++) {
		assert_int_equal(mkdirat(fd, "d", 0755), 0);
		next = openat(fd, "d", O_RDONLY | O_DIRECTORY);
		assert_true(next >= 0);
		close(fd);
		fd = next;
		for (int i = 0; i < nfiles; i++) {
			if (files[i] == depth) {
				int f = openat(fd, "f", O_WRONLY | O_CREAT,
					       0644);

				assert_true(f >= 0);
				assert_int_equal(write(f, "0123456789", 10),
						 10);
				close(f);
			}
		}
	}
	close(fd);
}

static int count_fds(void)
{
	int n = 0;

	for (int fd = 0; fd < 4096; fd++)
		if (fcntl(fd, F_GETFD) >= 0)
			n++;
	return n;
}

static int count_files(void *arg, int dfd, const char *name,
		       const char *path, const struct stat *sb)
{
	(void)dfd;
	(void)name;
	(void)path;
	(void)sb;
	++*(int *)arg;
	return 0;
}

/*
 * A chain of directories deeper than the walk goes: cut at max_depth and
 * counted once, the files above it walked, and no more fds than levels.
 */
static void deep_chain_is_cut_and_counted(void **state)
{
	const int files[] = { 1, 3, 4, 20 };
	struct walk_opts o = { .mnt_id = 1, .min_size = 1, .max_depth = 3 };
	struct walk_stats st = { 0 };
	char top[600];
	int n = 0;

	(void)state;
	snprintf(top, sizeof(top), "%s/chain", root);
	mkd("chain");
	make_chain(top, 30, files, 4);
	assert_int_equal(walk_tree(top, &o, &st, count_files, &n), 0);
	assert_int_equal(n, 2);			/* d/f, d/d/d/f */
	assert_int_equal(st.too_deep, 1);	/* d/d/d/d, not beneath */
	assert_int_equal(st.dirs, 4);		/* chain and three levels */
}

/* The default bound: a chain past WALK_MAX_DEPTH with an fd limit of
 * WALK_MAX_DEPTH + 64, which an unbounded walk would run out of. */
static void default_bound_within_the_fd_limit(void **state)
{
	const int files[] = { WALK_MAX_DEPTH, WALK_MAX_DEPTH + 1 };
	struct walk_opts o = { .mnt_id = 1, .min_size = 1 };
	struct walk_stats st = { 0 };
	struct rlimit old, rl;
	char top[600];
	int n = 0, fds;

	(void)state;
	snprintf(top, sizeof(top), "%s/longchain", root);
	mkd("longchain");
	make_chain(top, WALK_MAX_DEPTH + 100, files, 2);
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	rl = old;
	rl.rlim_cur = WALK_MAX_DEPTH + 64;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
	fds = count_fds();
	assert_int_equal(walk_tree(top, &o, &st, count_files, &n), 0);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
	assert_int_equal(n, 1);			/* at WALK_MAX_DEPTH */
	assert_int_equal(st.too_deep, 1);
	assert_int_equal(st.errors, 0);		/* no EMFILE on the way */
	assert_int_equal(count_fds(), fds);	/* all closed again */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(walks_regular_files_on_one_mount),
		cmocka_unit_test(under_a_bind_mount_of_itself),
		cmocka_unit_test(excludes_and_min_size),
		cmocka_unit_test(callback_stops_the_walk),
		cmocka_unit_test(a_file_as_root_and_a_missing_root),
		cmocka_unit_test(deep_chain_is_cut_and_counted),
		cmocka_unit_test(default_bound_within_the_fd_limit),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
