// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Unit tests for daemon/engine/hasher.c and the engine's open of walked files
 * (engine_open_walked, pass_add_paths), on real files in a temporary
 * directory: what the walk found is replaced just before the file is
 * opened, or the file grows or shrinks while it is read. openat64 and
 * pread64 are wrapped so that the change lands exactly in that window,
 * every time: no timing.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "daemon/engine/engine.h"
#include "daemon/engine/pass.h"
#include "daemon/engine/walk.h"

#define FILE_LEN (256 * 1024)

/* What to do to the victim, just before it is opened or first read. */
enum hostile {
	NONE,
	SWAP_SYMLINK,		/* the name becomes a symlink to "other" */
	SWAP_FIFO,		/* the name becomes a FIFO */
	SWAP_RENAME,		/* another file is renamed over it */
	SWAP_DIR_SYMLINK,	/* its directory becomes a symlink */
	SHRINK,			/* truncated to half while read */
	GROW,			/* appended to while read */
};

#define DIR_TEMPLATE "/tmp/dedupd-test-hasher-XXXXXX"
static char dir[sizeof(DIR_TEMPLATE)];
static enum hostile hostile;
static int fired;		/* times the change was made */
static struct engine e;
static char db_path[600];

static void path_of(char *buf, size_t len, const char *rel)
{
	snprintf(buf, len, "%s/%s", dir, rel);
}

static void write_file(const char *rel, uint64_t len, unsigned int seed)
{
	char p[600];
	uint8_t buf[4096];
	int fd;

	path_of(p, sizeof(p), rel);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	srand(seed);
	for (uint64_t off = 0; off < len; off += sizeof(buf)) {
		for (size_t i = 0; i < sizeof(buf); i++)
			buf[i] = (uint8_t)rand();
		assert_int_equal(write(fd, buf, sizeof(buf)),
				 (ssize_t)sizeof(buf));
	}
	close(fd);
}

static void make_hostile(void)
{
	char v[600], o[600], d[600];

	fired++;
	path_of(v, sizeof(v), "sub/victim");
	path_of(o, sizeof(o), "other");
	switch (hostile) {
	case SWAP_SYMLINK:
		assert_int_equal(unlink(v), 0);
		assert_int_equal(symlink(o, v), 0);
		break;
	case SWAP_FIFO:
		assert_int_equal(unlink(v), 0);
		assert_int_equal(mkfifo(v, 0600), 0);
		break;
	case SWAP_RENAME:
		path_of(o, sizeof(o), "sub/new");
		write_file("sub/new", FILE_LEN, 7);
		assert_int_equal(rename(o, v), 0);
		break;
	case SWAP_DIR_SYMLINK:
		/* elsewhere/victim: another file by the same name */
		path_of(d, sizeof(d), "sub");
		path_of(o, sizeof(o), "sub.old");
		assert_int_equal(rename(d, o), 0);
		path_of(o, sizeof(o), "elsewhere");
		assert_int_equal(symlink(o, d), 0);
		break;
	case SHRINK:
		assert_int_equal(truncate(v, FILE_LEN / 2), 0);
		break;
	case GROW: {
		int fd = open(v, O_WRONLY | O_APPEND);

		assert_true(fd >= 0);
		assert_int_equal(write(fd, "more", 4), 4);
		close(fd);
		break;
	}
	default:
		break;
	}
}

static bool ends_with(const char *s, const char *end)
{
	size_t n = strlen(s), m = strlen(end);

	return n >= m && !strcmp(s + n - m, end);
}

/* "sub/victim", by path or by name in its directory ("elsewhere/victim"
 * is another file). */
static bool is_victim(int dfd, const char *name)
{
	char link[64], target[4096];
	ssize_t n;

	if (strchr(name, '/'))
		return ends_with(name, "/sub/victim");
	if (strcmp(name, "victim") || dfd == AT_FDCWD)
		return false;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", dfd);
	n = readlink(link, target, sizeof(target) - 1);
	target[n > 0 ? n : 0] = '\0';
	return ends_with(target, "/sub");
}

int __real_openat64(int dfd, const char *name, int flags, ...);
int __wrap_openat64(int dfd, const char *name, int flags, ...);
int __wrap_openat64(int dfd, const char *name, int flags, ...)
{
	mode_t mode = 0;
	va_list ap;

	if (flags & (O_CREAT | O_TMPFILE)) {
		va_start(ap, flags);
		mode = va_arg(ap, mode_t);
		va_end(ap);
	}
	/* Between the walk and the open: the window the tests aim at. */
	if (hostile >= SWAP_SYMLINK && hostile <= SWAP_DIR_SYMLINK &&
	    !fired && is_victim(dfd, name))
		make_hostile();
	return __real_openat64(dfd, name, flags, mode);
}

ssize_t __real_pread64(int fd, void *buf, size_t len, off_t off);
ssize_t __wrap_pread64(int fd, void *buf, size_t len, off_t off);
ssize_t __wrap_pread64(int fd, void *buf, size_t len, off_t off)
{
	/* While the file is read: after its size and cookie were taken. */
	if ((hostile == SHRINK || hostile == GROW) && !fired)
		make_hostile();
	return __real_pread64(fd, buf, len, off);
}

static void on_alarm(int sig)
{
	(void)sig;
	fail_msg("blocked: a FIFO was opened for reading without O_NONBLOCK");
}

static int setup(void **state)
{
	struct statx stx;
	char p[600];
	int root_fd;

	(void)state;
	memcpy(dir, DIR_TEMPLATE, sizeof(DIR_TEMPLATE));
	if (!mkdtemp(dir))
		return -1;
	path_of(p, sizeof(p), "sub");
	assert_int_equal(mkdir(p, 0755), 0);
	path_of(p, sizeof(p), "elsewhere");
	assert_int_equal(mkdir(p, 0755), 0);
	write_file("sub/victim", FILE_LEN, 1);
	write_file("other", FILE_LEN, 1);	/* the same data */
	write_file("elsewhere/victim", FILE_LEN, 1);

	memset(&e, 0, sizeof(e));
	root_fd = open(dir, O_RDONLY | O_DIRECTORY);
	assert_true(root_fd >= 0);
	e.fs.kind = FS_OTHER;
	e.fs.block_size = 4096;
	e.min_size = 1;
	e.threads = 1;
	assert_int_equal(statx(root_fd, "", AT_EMPTY_PATH, STATX_MNT_ID, &stx),
			 0);
	e.mnt_id = (int)stx.stx_mnt_id;
	engine_init(&e, root_fd);
	snprintf(db_path, sizeof(db_path), "%s.index", dir);
	assert_true(hashdb_open(db_path, e.fs.uuid, 0, &e.db) >= 0);
	hostile = NONE;
	fired = 0;
	signal(SIGALRM, on_alarm);
	alarm(10);
	return 0;
}

static int teardown(void **state)
{
	char cmd[1400];
	int root_fd = e.mount_fd;

	(void)state;
	alarm(0);
	e.db = hashdb_close(e.db);
	engine_fini(&e);
	close(root_fd);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s'", dir, db_path);
	return system(cmd);
}

/* What the walk saw at @rel. */
static void walked(const char *rel, struct stat *sb)
{
	char p[600];

	path_of(p, sizeof(p), rel);
	assert_int_equal(lstat(p, sb), 0);
}

/* Hashes @rel as `dedupd scan` does: by path, after the walk saw @sb. */
static void hash_by_path(const char *rel, const struct stat *sb,
			 struct file_job *job)
{
	static uint8_t buf[1 << 20] __attribute__((aligned(4096)));
	char p[600];

	path_of(p, sizeof(p), rel);
	memset(job, 0, sizeof(*job));
	job->path = strdup(p);
	job->fd = -1;
	job->walked_dev = (uint64_t)sb->st_dev;
	job->walked_ino = (uint64_t)sb->st_ino;
	engine_hash_file(&e, job, buf, sizeof(buf));
}

#define ST(x) ((uint64_t)atomic_load(&e.st.x))

/* Left alone: not hashed, nothing to dedupe, its fd closed. */
static void assert_left_alone(struct file_job *job)
{
	assert_false(job->hashed);
	assert_int_equal(job->nruns, 0);
	assert_int_equal(job->fd, -1);
	assert_int_equal(ST(files_scanned), 0);
	file_job_release(job);
}

static void unchanged_file_is_hashed(void **state)
{
	struct file_job job;
	struct stat sb;

	(void)state;
	walked("other", &sb);
	hash_by_path("other", &sb, &job);
	file_job_release(&job);
	walked("sub/victim", &sb);
	hash_by_path("sub/victim", &sb, &job);
	/* the control: same data as "other", so it matches it */
	assert_true(job.hashed);
	assert_true(job.nruns > 0);
	assert_int_equal(ST(files_scanned), 2);
	assert_int_equal(ST(files_replaced) + ST(files_changed), 0);
	file_job_release(&job);
}

static void symlink_swapped_in_before_open(void **state)
{
	struct file_job job;
	struct stat sb;

	(void)state;
	walked("sub/victim", &sb);
	hostile = SWAP_SYMLINK;
	hash_by_path("sub/victim", &sb, &job);
	assert_int_equal(fired, 1);
	assert_int_equal(ST(files_replaced), 1);
	assert_int_equal(ST(bytes_hashed), 0);
	assert_left_alone(&job);
}

static void directory_swapped_for_symlink(void **state)
{
	struct file_job job;
	struct stat sb;

	(void)state;
	/* O_NOFOLLOW guards the last component only: the inode check
	 * catches "elsewhere/victim" reached through "sub". */
	walked("sub/victim", &sb);
	hostile = SWAP_DIR_SYMLINK;
	hash_by_path("sub/victim", &sb, &job);
	assert_int_equal(fired, 1);
	assert_int_equal(ST(files_replaced), 1);
	assert_int_equal(ST(bytes_hashed), 0);
	assert_left_alone(&job);
}

static void fifo_swapped_in_never_blocks(void **state)
{
	struct file_job job;
	struct stat sb;

	(void)state;
	walked("sub/victim", &sb);
	hostile = SWAP_FIFO;
	hash_by_path("sub/victim", &sb, &job);	/* SIGALRM if it blocks */
	assert_int_equal(fired, 1);
	assert_int_equal(ST(files_replaced), 1);
	assert_left_alone(&job);
}

static void another_file_renamed_over(void **state)
{
	struct file_job job;
	struct stat sb;

	(void)state;
	walked("sub/victim", &sb);
	hostile = SWAP_RENAME;
	hash_by_path("sub/victim", &sb, &job);
	assert_int_equal(fired, 1);
	assert_int_equal(ST(files_replaced), 1);
	assert_int_equal(ST(bytes_hashed), 0);
	assert_left_alone(&job);
}

/* A copy of the victim is hashed first: without the checks, it would match. */
static void changed_while_read(enum hostile how)
{
	struct file_job job;
	struct hashdb_file rec;
	struct stat sb;

	walked("other", &sb);
	hash_by_path("other", &sb, &job);
	assert_true(job.hashed);
	file_job_release(&job);

	walked("sub/victim", &sb);
	hostile = how;
	hash_by_path("sub/victim", &sb, &job);
	assert_int_equal(fired, 1);
	assert_int_equal(ST(files_changed), 1);
	assert_int_equal(ST(files_scanned), 1);	/* "other" only */
	assert_false(job.hashed);
	assert_int_equal(job.nruns, 0);		/* nothing to dedupe */
	assert_int_equal(job.fd, -1);
	/* not recorded as indexed: the next pass reads it again */
	assert_int_equal(hashdb_file_get(e.db, job.file_id, &rec), 0);
	assert_int_equal(rec.cookie, 0);
	file_job_release(&job);
}

static void shrinks_while_read(void **state)
{
	(void)state;
	changed_while_read(SHRINK);
}

static void grows_while_read(void **state)
{
	(void)state;
	changed_while_read(GROW);
}

static void open_walked_checks_the_inode(void **state)
{
	struct stat sb;
	int dfd, fd;
	char p[600];

	(void)state;
	path_of(p, sizeof(p), "sub");
	dfd = open(p, O_RDONLY | O_DIRECTORY);
	assert_true(dfd >= 0);
	walked("sub/victim", &sb);
	fd = engine_open_walked(dfd, "victim", &sb);
	assert_true(fd >= 0);
	close(fd);

	hostile = SWAP_RENAME;	/* another inode, a regular file too */
	assert_int_equal(engine_open_walked(dfd, "victim", &sb), -ESTALE);
	walked("sub/victim", &sb);
	fired = 0;
	hostile = SWAP_SYMLINK;
	assert_int_equal(engine_open_walked(dfd, "victim", &sb), -ESTALE);
	path_of(p, sizeof(p), "sub/victim");
	assert_int_equal(unlink(p), 0);
	assert_int_equal(mkfifo(p, 0600), 0);
	assert_int_equal(engine_open_walked(dfd, "victim", &sb), -ESTALE);
	assert_int_equal(unlink(p), 0);
	assert_int_equal(engine_open_walked(dfd, "victim", &sb), -ENOENT);
	close(dfd);
}

/* The daemon's and libdedupd's way: files opened where the walk is. */
static void walk_then_open_in_a_pass(enum hostile how)
{
	struct walk_opts wo = { .min_size = 1 };
	struct walk_stats ws = { 0 };
	struct pass p;
	size_t failed = 0;

	hostile = how;
	e.dry_run = true;	/* the executor is not the point */
	pass_init(&p, &e);
	assert_int_equal(pass_add_paths(&p, (char *[]){ dir }, 1, &wo, &ws,
					 &failed), 0);
	pass_finish(&p);
	pass_fini(&p);
	assert_int_equal(fired, 1);
	assert_int_equal(ST(files_replaced), 1);
	/* "other" and "elsewhere/victim": the rest of the walk goes on */
	assert_int_equal(ST(files_scanned), 2);
}

static void pass_leaves_a_symlink_swapped_in(void **state)
{
	(void)state;
	walk_then_open_in_a_pass(SWAP_SYMLINK);
}

static void pass_leaves_a_fifo_swapped_in(void **state)
{
	(void)state;
	walk_then_open_in_a_pass(SWAP_FIFO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(unchanged_file_is_hashed),
		T(symlink_swapped_in_before_open),
		T(directory_swapped_for_symlink),
		T(fifo_swapped_in_never_blocks),
		T(another_file_renamed_over),
		T(shrinks_while_read),
		T(grows_while_read),
		T(open_walked_checks_the_inode),
		T(pass_leaves_a_symlink_swapped_in),
		T(pass_leaves_a_fifo_swapped_in),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
