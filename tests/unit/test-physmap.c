// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Unit tests for daemon/engine/physmap.c: FIEMAP and the walk are replaced by
 * fake maps of real temporary files (known by inode), so that the pieces
 * kept, their clipping and the bytes counted as held can be checked.
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

#include "daemon/engine/physmap.h"
#include "daemon/engine/walk.h"
#include "ioctl-compat/fiemap.h"

#define KiB 1024ULL
#define MiB (1024ULL * 1024)

/* A file of the test: its path, inode and fake extents. */
struct fake_file {
	char path[64];
	ino_t ino;
	struct extent ext[4];
	int n;
};

static struct fake_file files[4];
static int nfiles, walks;

struct fiemap_iter {
	const struct fake_file *f;
	int i;
};

int __wrap_fiemap_iter_open(int fd, uint64_t start, uint64_t end,
			    unsigned int flags, struct fiemap_iter **ret_it);
int __wrap_fiemap_iter_next(struct fiemap_iter *it, struct extent *ret_ext);
struct fiemap_iter *__wrap_fiemap_iter_free(struct fiemap_iter *it);
int __wrap_walk_tree(const char *root, const struct walk_opts *o,
		     struct walk_stats *st, walk_fn fn, void *arg);

int __wrap_fiemap_iter_open(int fd, uint64_t start, uint64_t end,
			    unsigned int flags, struct fiemap_iter **ret_it)
{
	struct stat sb;

	(void)start;
	(void)end;
	(void)flags;
	if (fstat(fd, &sb) < 0)
		return -errno;
	for (int i = 0; i < nfiles; i++)
		if (files[i].ino == sb.st_ino) {
			*ret_it = calloc(1, sizeof(**ret_it));
			(*ret_it)->f = &files[i];
			return 0;
		}
	return -EOPNOTSUPP;
}

int __wrap_fiemap_iter_next(struct fiemap_iter *it, struct extent *ret_ext)
{
	if (it->i >= it->f->n)
		return 0;
	*ret_ext = it->f->ext[it->i++];
	return 1;
}

struct fiemap_iter *__wrap_fiemap_iter_free(struct fiemap_iter *it)
{
	free(it);
	return NULL;
}

/* The walk meets every file of the test, the original among them. */
int __wrap_walk_tree(const char *root, const struct walk_opts *o,
		     struct walk_stats *st, walk_fn fn, void *arg)
{
	(void)root;
	(void)o;
	(void)st;
	walks++;
	for (int i = 0; i < nfiles; i++) {
		struct stat sb;
		int ret;

		if (lstat(files[i].path, &sb) < 0)
			return -errno;
		sb.st_size = (off_t)(64 * MiB);
		ret = fn(arg, AT_FDCWD, files[i].path, files[i].path, &sb);
		if (ret)
			return ret;
	}
	return 0;
}

static struct fake_file *add_file(void)
{
	struct fake_file *f = &files[nfiles++];
	struct stat sb;
	int fd;

	strcpy(f->path, "/tmp/dedupd-test-physmap-XXXXXX");
	fd = mkstemp(f->path);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &sb), 0);
	close(fd);
	f->ino = sb.st_ino;
	f->n = 0;
	return f;
}

static void add_ext(struct fake_file *f, uint64_t logical, uint64_t physical,
		    uint64_t length, uint32_t flags)
{
	f->ext[f->n++] = (struct extent){ logical, physical, length, flags };
}

static int teardown(void **state)
{
	(void)state;
	for (int i = 0; i < nfiles; i++)
		unlink(files[i].path);
	nfiles = 0;
	walks = 0;
	return 0;
}

struct got {
	uint32_t file[8];
	uint64_t logical[8], physical[8], len[8];
	int n;
};

static int collect(void *arg, uint32_t file, uint64_t logical,
		   uint64_t physical, uint64_t len)
{
	struct got *g = arg;

	g->file[g->n] = file;
	g->logical[g->n] = logical;
	g->physical[g->n] = physical;
	g->len[g->n++] = len;
	return 0;
}

static struct physmap *build(struct fake_file *self)
{
	struct physmap_stats st = { 0 };
	struct physmap *m = NULL;
	int fd = open(self->path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(physmap_build(fd, 0, 64 * MiB, "/tmp", NULL, &st, &m),
			 0);
	close(fd);
	assert_non_null(m);
	return m;
}

/* A file that shares nothing costs no walk, and has no referrers. */
static void unshared_file_walks_nothing(void **state)
{
	struct fake_file *self = add_file(), *other = add_file();
	struct physmap *m;
	struct got g = { 0 };

	(void)state;
	add_ext(self, 0, 1 * MiB, 64 * KiB, 0);
	add_ext(other, 0, 1 * MiB, 64 * KiB, EXTENT_SHARED);
	m = build(self);
	assert_int_equal(walks, 0);
	assert_int_equal(physmap_refs(m, 1 * MiB, 64 * KiB, collect, &g), 0);
	assert_int_equal(g.n, 0);
	physmap_free(m);
}

/*
 * Pieces are kept only where they lie on the original's shared blocks,
 * clipped to them, given in order of address; unshared extents, holes,
 * encoded data and the original itself are left out; the bytes held count
 * each block once.
 */
static void pieces_on_shared_blocks(void **state)
{
	struct fake_file *self = add_file(), *a = add_file(), *b = add_file(),
			 *c = add_file();
	struct physmap *m;
	struct got g = { 0 };

	(void)state;
	add_ext(self, 0, 1 * MiB, 64 * KiB, EXTENT_SHARED);
	add_ext(self, 64 * KiB, 5 * MiB, 64 * KiB, 0);
	add_ext(self, 128 * KiB, 8 * MiB, 16 * KiB, EXTENT_SHARED);
	/* a: 32 KiB inside the first shared extent */
	add_ext(a, 100 * KiB, 1 * MiB + 16 * KiB, 32 * KiB, EXTENT_SHARED);
	/* b: from before it to past its start */
	add_ext(b, 0, 1 * MiB - 512 * KiB, 528 * KiB, EXTENT_SHARED);
	/* c: unshared, encoded and holes over the same blocks count not */
	add_ext(c, 0, 1 * MiB, 64 * KiB, 0);
	add_ext(c, 64 * KiB, 1 * MiB, 64 * KiB,
		EXTENT_SHARED | EXTENT_ENCODED);
	add_ext(c, 128 * KiB, 0, 64 * KiB, EXTENT_HOLE | EXTENT_SHARED);
	m = build(self);
	assert_int_equal(walks, 1);

	/* b holds [1 MiB, +16 KiB), a [1 MiB + 16 KiB, +32 KiB) */
	assert_int_equal(physmap_refs(m, 1 * MiB, 64 * KiB, collect, &g),
			 48 * KiB);
	assert_int_equal(g.n, 2);
	assert_string_equal(physmap_path(m, g.file[0]), b->path);
	assert_int_equal(g.physical[0], 1 * MiB);
	assert_int_equal(g.len[0], 16 * KiB);
	assert_int_equal(g.logical[0], 512 * KiB);
	assert_string_equal(physmap_path(m, g.file[1]), a->path);
	assert_int_equal(g.physical[1], 1 * MiB + 16 * KiB);
	assert_int_equal(g.len[1], 32 * KiB);
	assert_int_equal(g.logical[1], 100 * KiB);

	/* a query inside a piece is clipped to it */
	g.n = 0;
	assert_int_equal(physmap_refs(m, 1 * MiB + 20 * KiB, 8 * KiB, collect,
				      &g),
			 8 * KiB);
	assert_int_equal(g.n, 1);
	assert_int_equal(g.logical[0], 104 * KiB);

	/* shared, but with no one the walk met: nothing held */
	g.n = 0;
	assert_int_equal(physmap_refs(m, 8 * MiB, 16 * KiB, collect, &g), 0);
	assert_int_equal(g.n, 0);
	physmap_free(m);
}

/* Two files on the same blocks: both given, the blocks counted once. */
static void overlapping_holders_count_once(void **state)
{
	struct fake_file *self = add_file(), *a = add_file(), *b = add_file();
	struct physmap *m;
	struct got g = { 0 };

	(void)state;
	add_ext(self, 0, 1 * MiB, 64 * KiB, EXTENT_SHARED);
	add_ext(a, 0, 1 * MiB, 64 * KiB, EXTENT_SHARED);
	add_ext(b, 4 * KiB, 1 * MiB + 8 * KiB, 8 * KiB, EXTENT_SHARED);
	m = build(self);
	assert_int_equal(physmap_refs(m, 1 * MiB, 64 * KiB, collect, &g),
			 64 * KiB);
	assert_int_equal(g.n, 2);
	/* from a later start, a piece that began earlier is still found */
	g.n = 0;
	assert_int_equal(physmap_refs(m, 1 * MiB + 60 * KiB, 4 * KiB, collect,
				      &g),
			 4 * KiB);
	assert_int_equal(g.n, 1);
	assert_int_equal(g.logical[0], 60 * KiB);
	physmap_free(m);
}

/* A callback that stops the lookup: its value comes back. */
static int stop_at_first(void *arg, uint32_t file, uint64_t logical,
			 uint64_t physical, uint64_t len)
{
	(void)arg;
	(void)file;
	(void)logical;
	(void)physical;
	(void)len;
	return -EINTR;
}

static void callback_stops(void **state)
{
	struct fake_file *self = add_file(), *a = add_file();
	struct physmap *m;

	(void)state;
	add_ext(self, 0, 1 * MiB, 64 * KiB, EXTENT_SHARED);
	add_ext(a, 0, 1 * MiB, 64 * KiB, EXTENT_SHARED);
	m = build(self);
	assert_int_equal(physmap_refs(m, 1 * MiB, 64 * KiB, stop_at_first,
				      NULL),
			 -EINTR);
	physmap_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(unshared_file_walks_nothing, teardown),
		cmocka_unit_test_teardown(pieces_on_shared_blocks, teardown),
		cmocka_unit_test_teardown(overlapping_holders_count_once,
					  teardown),
		cmocka_unit_test_teardown(callback_stops, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
