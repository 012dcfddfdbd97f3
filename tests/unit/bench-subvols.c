// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Benchmark of the subvolume registry on a real btrfs filesystem: first fill,
 * reopen with nothing changed, refresh after one new snapshot, lookups; and a
 * check of every record against libbtrfsutil's view.
 *
 *   bench-subvols MOUNT SOURCE NEWSNAP [LOOKUPS [DIR]]
 *
 * MOUNT is any path on the filesystem, SOURCE a subvolume to snapshot to
 * NEWSNAP (which must not exist) between the reopen and the refresh,
 * LOOKUPS the number of random lookups by UUID and by id (default 1000000),
 * DIR where the temporary registry file goes (default $TMPDIR or /tmp).
 * Prints "name value unit" lines. The first fill runs on whatever cache it
 * finds: drop caches before for a cold figure; reopen_cold drops them
 * itself. Root only (tree searches, dropping caches).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <malloc.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <linux/btrfs.h>
#include <linux/btrfs_tree.h>

#include <btrfsutil.h>

#include "daemon/engine/subvols.h"
#include "ioctl-compat/btrfs-subvol.h"

#define ROUNDS 5

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return v[n / 2];
}

/* Drops clean caches, if allowed: true if done. */
static bool drop_caches(void)
{
	int fd = open("/proc/sys/vm/drop_caches", O_WRONLY | O_CLOEXEC);
	bool ok;

	if (fd < 0)
		return false;
	sync();
	ok = write(fd, "3", 1) == 1;
	close(fd);
	return ok;
}

static void die(const char *what, int err)
{
	fprintf(stderr, "bench-subvols: %s: %s\n", what, strerror(err));
	exit(1);
}

static void die_util(const char *what, enum btrfs_util_error err)
{
	fprintf(stderr, "bench-subvols: %s: %s\n", what,
		btrfs_util_strerror(err));
	exit(1);
}

/* Every subvolume's id and UUID, in a growing array. */
struct all {
	uint64_t *ids;
	uint8_t (*uuids)[16];
	size_t n, cap;
};

static int collect(void *arg, const struct btrfs_subvol_rec *r)
{
	struct all *a = arg;

	if (a->n == a->cap) {
		a->cap = a->cap ? 2 * a->cap : 1024;
		a->ids = realloc(a->ids, a->cap * sizeof(*a->ids));
		a->uuids = realloc(a->uuids, a->cap * sizeof(*a->uuids));
		if (!a->ids || !a->uuids)
			die("realloc", ENOMEM);
	}
	a->ids[a->n] = r->id;
	memcpy(a->uuids[a->n], r->uuid, 16);
	a->n++;
	return 0;
}

static int count_cb(void *arg, const struct btrfs_subvol_rec *r)
{
	(void)r;
	++*(size_t *)arg;
	return 0;
}

static struct subvols *open_or_die(const char *path, int fd,
				   const uint8_t *fs_uuid,
				   struct subvols_stats *st)
{
	struct subvols *s;
	int ret = subvols_open(path, fd, fs_uuid, &s, st);

	if (ret < 0)
		die("subvols_open", -ret);
	return s;
}

/* libbtrfsutil's view of every subvolume below the top level, timed. */
static double check_with_libbtrfsutil(int fd, const struct subvols *s,
				      size_t *ret_n, size_t *ret_bad)
{
	struct btrfs_util_subvolume_iterator *it;
	struct btrfs_util_subvolume_info info;
	enum btrfs_util_error err;
	size_t n = 0, bad = 0;
	double t0 = now();

	err = btrfs_util_create_subvolume_iterator_fd(
		fd, BTRFS_FS_TREE_OBJECTID, 0, &it);
	if (err)
		die_util("subvolume iterator", err);
	while (!(err = btrfs_util_subvolume_iterator_next_info(it, NULL,
							       &info))) {
		const struct btrfs_subvol_rec *r;

		n++;
		if (!s)
			continue;
		r = subvols_by_id(s, info.id);
		if (!r || r->parent_id != info.parent_id ||
		    r->generation != info.generation ||
		    r->ctransid != info.ctransid || r->flags != info.flags ||
		    memcmp(r->uuid, info.uuid, 16) ||
		    memcmp(r->parent_uuid, info.parent_uuid, 16) ||
		    memcmp(r->received_uuid, info.received_uuid, 16) ||
		    subvols_by_uuid(s, info.uuid) != r) {
			if (bad++ < 5)
				fprintf(stderr,
					"bench-subvols: subvolume %" PRIu64
					" differs from libbtrfsutil's\n",
					info.id);
		}
	}
	if (err != BTRFS_UTIL_ERROR_STOP_ITERATION)
		die_util("subvolume iterator", err);
	btrfs_util_destroy_subvolume_iterator(it);
	*ret_n = n;
	*ret_bad = bad;
	return now() - t0;
}

int main(int argc, char **argv)
{
	const char *tmpdir = getenv("TMPDIR");
	struct btrfs_ioctl_fs_info_args fi;
	struct subvols_stats st;
	struct all all = { 0 };
	struct subvols *s;
	struct stat sb;
	double t0, t, v[ROUNDS];
	uint64_t lookups = 1000000, seed = 1, sink = 0, new_id, i;
	size_t heap0, n_util, bad, kids;
	char dir[4096], path[4200];
	int fd, ret;
	enum btrfs_util_error err;

	if (argc < 4) {
		fprintf(stderr,
			"usage: bench-subvols MOUNT SOURCE NEWSNAP [LOOKUPS [DIR]]\n");
		return 2;
	}
	if (argc > 4)
		lookups = strtoull(argv[4], NULL, 10);
	if (argc > 5)
		tmpdir = argv[5];
	if (!tmpdir || !*tmpdir)
		tmpdir = "/tmp";
	snprintf(dir, sizeof(dir), "%s/bench-subvols-XXXXXX", tmpdir);
	if (!mkdtemp(dir))
		die(dir, errno);
	snprintf(path, sizeof(path), "%s/subvols", dir);

	fd = open(argv[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		die(argv[1], errno);
	memset(&fi, 0, sizeof(fi));
	if (ioctl(fd, BTRFS_IOC_FS_INFO, &fi) < 0)
		die("BTRFS_IOC_FS_INFO", errno);

	/* First fill, on the cache as found, then warm. */
	t0 = now();
	s = open_or_die(path, fd, fi.fsid, &st);
	t = now() - t0;
	printf("subvolumes %zu subvolumes\n", subvols_count(s));
	printf("first_fill %.3f ms\n", t * 1e3);
	t0 = now();
	ret = subvols_save(s);
	if (ret < 0)
		die("subvols_save", -ret);
	printf("save %.3f ms\n", (now() - t0) * 1e3);
	s = subvols_close(s);
	if (stat(path, &sb) < 0)
		die(path, errno);
	printf("file_bytes %lld bytes\n", (long long)sb.st_size);
	for (int r = 0; r < ROUNDS; r++) {
		unlink(path);
		t0 = now();
		s = open_or_die(path, fd, fi.fsid, &st);
		v[r] = now() - t0;
		s = subvols_close(s);
	}
	printf("first_fill_warm %.3f ms\n", median(v, ROUNDS) * 1e3);

	/* libbtrfsutil's enumeration, for comparison (warm). */
	for (int r = 0; r < ROUNDS; r++)
		v[r] = check_with_libbtrfsutil(fd, NULL, &n_util, &bad);
	printf("libbtrfsutil_enumeration %.3f ms\n", median(v, ROUNDS) * 1e3);

	/* Reopen with nothing changed. */
	for (int r = 0; r < ROUNDS; r++) {
		t0 = now();
		s = open_or_die(path, fd, fi.fsid, &st);
		v[r] = now() - t0;
		if (st.rebuilt || st.created || st.updated > st.loaded)
			fprintf(stderr,
				"bench-subvols: reopen not incremental\n");
		s = subvols_close(s);
	}
	printf("reopen %.3f ms\n", median(v, ROUNDS) * 1e3);
	printf("reopen_updated %zu records\n", st.updated);
	if (drop_caches()) {
		t0 = now();
		s = open_or_die(path, fd, fi.fsid, &st);
		printf("reopen_cold %.3f ms\n", (now() - t0) * 1e3);
		s = subvols_close(s);
	}

	heap0 = mallinfo2().uordblks;
	s = open_or_die(path, fd, fi.fsid, &st);
	printf("bytes_per_subvolume %.0f bytes\n",
	       (double)(mallinfo2().uordblks - heap0) /
		       (double)subvols_count(s));

	/* One new snapshot, then a refresh. */
	err = btrfs_util_create_snapshot(argv[2], argv[3], 0, NULL, NULL);
	if (err)
		die_util("snapshot", err);
	err = btrfs_util_subvolume_id(argv[3], &new_id);
	if (err)
		die_util("subvolume id", err);
	t0 = now();
	ret = subvols_refresh(s, fd);
	t = now() - t0;
	if (ret < 0)
		die("subvols_refresh", -ret);
	printf("refresh_new_snapshot %.3f ms\n", t * 1e3);
	printf("refresh_updated %d records\n", ret);
	printf("refresh_found_new %d bool\n", subvols_by_id(s, new_id) != NULL);

	/* Every record against libbtrfsutil's. */
	check_with_libbtrfsutil(fd, s, &n_util, &bad);
	printf("libbtrfsutil_subvolumes %zu subvolumes\n", n_util);
	printf("records_differing %zu records\n",
	       bad + (n_util + 1 != subvols_count(s)));

	/* Lookups, by UUID and by id, in random order. */
	ret = btrfs_subvol_recs(fd, 0, collect, &all);
	if (ret < 0)
		die("btrfs_subvol_recs", -ret);
	t0 = now();
	for (i = 0; i < lookups; i++) {
		const struct btrfs_subvol_rec *r = subvols_by_uuid(
			s, all.uuids[splitmix64(&seed) % all.n]);

		sink += r ? r->id : 1;
	}
	t = now() - t0;
	printf("lookup_uuid %.1f ns\n", t * 1e9 / (double)lookups);
	t0 = now();
	for (i = 0; i < lookups; i++) {
		const struct btrfs_subvol_rec *r =
			subvols_by_id(s, all.ids[splitmix64(&seed) % all.n]);

		sink += r ? r->generation : 1;
	}
	t = now() - t0;
	printf("lookup_id %.1f ns\n", t * 1e9 / (double)lookups);

	/* The snapshots of SOURCE. */
	{
		const struct btrfs_subvol_rec *src;
		uint64_t src_id;

		err = btrfs_util_subvolume_id(argv[2], &src_id);
		if (err)
			die_util("subvolume id", err);
		src = subvols_by_id(s, src_id);
		kids = 0;
		t0 = now();
		if (src)
			(void)subvols_children(s, src->uuid, count_cb, &kids);
		printf("children %zu subvolumes\n", kids);
		printf("children_walk %.3f ms\n", (now() - t0) * 1e3);
	}

	s = subvols_close(s);
	unlink(path);
	rmdir(dir);
	free(all.ids);
	free(all.uuids);
	close(fd);
	return sink == 1 ? 3 : 0;
}
