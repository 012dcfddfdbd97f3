// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Microbenchmark of hashdb: fill an index with random hashes, time inserts,
 * lookups (hits and misses), sync, close and reopen.
 *
 *   bench-hashdb [SIZE [INSERTS [DIR]]]
 *
 * SIZE is the table budget (suffix K, M or G; default 1G), INSERTS the
 * number of random hashes (default 80% of the cells), DIR where the
 * temporary index goes (default $TMPDIR or /tmp). Prints "name value unit"
 * lines. After the measured phase, 2 x cells more hashes saturate the
 * table, as a long-running daemon's is. Cold-cache reopen times are the caller's business (drop caches,
 * then time a reopen): this times hashdb_open() on whatever cache it finds.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hashdb/hashdb.h"

#define BENCH_FILES 64

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

static int parse_size(const char *s, uint64_t *ret)
{
	char *end;
	uint64_t v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -EINVAL;
	switch (*end) {
	case 'k':
	case 'K':
		v <<= 10;
		end++;
		break;
	case 'm':
	case 'M':
		v <<= 20;
		end++;
		break;
	case 'g':
	case 'G':
		v <<= 30;
		end++;
		break;
	}
	if (*end)
		return -EINVAL;
	*ret = v;
	return 0;
}

static void print_rate(const char *name, uint64_t n, double seconds)
{
	printf("%s %.0f ops/s\n", name, seconds > 0 ? (double)n / seconds : 0);
}

int main(int argc, char **argv)
{
	static const uint8_t uuid[16] = "dedupd-bench-db";
	const char *dir = getenv("TMPDIR");
	struct hashdb_stats st;
	struct hashdb *db;
	uint64_t size = 1ULL << 30, inserts = 0, seed, i, hits, sink = 0;
	uint32_t ids[BENCH_FILES];
	char path[4096];
	double t0, t;
	int fd, ret;

	if (argc > 1 && parse_size(argv[1], &size) < 0) {
		fprintf(stderr, "bench-hashdb: bad size '%s'\n", argv[1]);
		return 2;
	}
	if (argc > 2 && parse_size(argv[2], &inserts) < 0) {
		fprintf(stderr, "bench-hashdb: bad count '%s'\n", argv[2]);
		return 2;
	}
	if (argc > 3)
		dir = argv[3];
	if (!dir || !*dir)
		dir = "/tmp";
	snprintf(path, sizeof(path), "%s/bench-hashdb-XXXXXX", dir);
	fd = mkstemp(path);
	if (fd < 0) {
		fprintf(stderr, "bench-hashdb: '%s': %s\n", path,
			strerror(errno));
		return 1;
	}
	close(fd);
	unlink(path);

	t0 = now();
	ret = hashdb_open(path, uuid, size, &db);
	t = now() - t0;
	if (ret != HASHDB_CREATED) {
		fprintf(stderr, "bench-hashdb: open '%s': %s\n", path,
			ret < 0 ? strerror(-ret) : "not created");
		return 1;
	}
	hashdb_get_stats(db, &st);
	printf("size %" PRIu64 " bytes\n", size);
	printf("file_bytes %" PRIu64 " bytes\n", st.file_bytes);
	printf("cells %" PRIu64 " cells\n", st.cells);
	printf("create_time %.3f ms\n", t * 1e3);
	if (!inserts)
		inserts = st.cells / 10 * 8;

	for (i = 0; i < BENCH_FILES; i++) {
		uint64_t handle = i + 1;

		if (hashdb_file_add(db, 1, &handle, sizeof(handle), &ids[i]) <
		    0) {
			fprintf(stderr, "bench-hashdb: file_add failed\n");
			return 1;
		}
	}

	seed = 1;
	t0 = now();
	for (i = 0; i < inserts; i++) {
		uint64_t loc =
			hashdb_loc(ids[i % BENCH_FILES], i / BENCH_FILES);

		(void)hashdb_lookup_insert(db, splitmix64(&seed), loc, NULL);
	}
	t = now() - t0;
	printf("inserts %" PRIu64 " hashes\n", inserts);
	print_rate("insert_rate", inserts, t);

	hashdb_get_stats(db, &st);
	printf("cells_used %" PRIu64 " cells\n", st.cells_used);
	printf("fill %.1f %%\n",
	       100.0 * (double)st.cells_used / (double)st.cells);
	printf("evictions %" PRIu64 " cells\n", st.evictions);
	printf("sampled_out %" PRIu64 " hashes\n", st.sampled_out);
	printf("sample_bits %u bits\n", st.sample_bits);
	printf("bytes_per_block_table %.2f bytes\n",
	       (double)(st.cells * HASHDB_CELL_SIZE) / (double)st.cells_used);
	printf("bytes_per_block_file %.2f bytes\n",
	       (double)st.file_bytes / (double)st.cells_used);

	seed = 1;
	hits = 0;
	t0 = now();
	for (i = 0; i < inserts; i++) {
		uint64_t loc;

		if (hashdb_lookup(db, splitmix64(&seed), &loc) == 1) {
			hits++;
			sink += loc;
		}
	}
	t = now() - t0;
	print_rate("lookup_hit_rate", inserts, t);
	printf("lookup_hit_ratio %.2f %%\n",
	       100.0 * (double)hits / (double)inserts);

	seed = 2;
	hits = 0;
	t0 = now();
	for (i = 0; i < inserts; i++) {
		uint64_t loc;

		if (hashdb_lookup(db, splitmix64(&seed), &loc) == 1) {
			hits++;
			sink += loc;
		}
	}
	t = now() - t0;
	print_rate("lookup_miss_rate", inserts, t);
	printf("lookup_miss_false_hits %" PRIu64 " lookups\n", hits);

	/*
	 * Keep the data coming (2 x cells more hashes): sampling rises and
	 * the table stays full, which is where a daemon spends its life.
	 */
	seed = 3;
	t0 = now();
	for (i = 0; i < 2 * st.cells; i++) {
		uint64_t loc =
			hashdb_loc(ids[i % BENCH_FILES], i / BENCH_FILES);

		(void)hashdb_lookup_insert(db, splitmix64(&seed), loc, NULL);
	}
	t = now() - t0;
	print_rate("saturated_insert_rate", 2 * st.cells, t);
	hashdb_get_stats(db, &st);
	printf("saturated_fill %.2f %%\n",
	       100.0 * (double)st.cells_used / (double)st.cells);
	printf("saturated_sample_bits %u bits\n", st.sample_bits);
	printf("saturated_bytes_per_block_table %.2f bytes\n",
	       (double)(st.cells * HASHDB_CELL_SIZE) / (double)st.cells_used);
	printf("saturated_bytes_per_block_file %.2f bytes\n",
	       (double)st.file_bytes / (double)st.cells_used);

	t0 = now();
	ret = hashdb_sync(db);
	t = now() - t0;
	if (ret < 0)
		fprintf(stderr, "bench-hashdb: sync: %s\n", strerror(-ret));
	printf("sync_time %.3f ms\n", t * 1e3);
	t0 = now();
	hashdb_close(db);
	printf("close_time %.3f ms\n", (now() - t0) * 1e3);

	t0 = now();
	ret = hashdb_open(path, uuid, 0, &db);
	t = now() - t0;
	if (ret != HASHDB_OPENED) {
		fprintf(stderr, "bench-hashdb: reopen '%s': %s\n", path,
			ret < 0 ? strerror(-ret) : "not reopened as is");
		unlink(path);
		return 1;
	}
	printf("reopen_time %.3f ms\n", t * 1e3);

	/* The first lookups after a reopen fault pages in. */
	seed = 1;
	hits = 0;
	t0 = now();
	for (i = 0; i < 100000 && i < inserts; i++)
		hits += (uint64_t)hashdb_lookup(db, splitmix64(&seed), NULL);
	t = now() - t0;
	print_rate("lookup_after_reopen_rate", i, t);
	printf("lookup_after_reopen_hit_ratio %.2f %%\n",
	       100.0 * (double)hits / (double)(i ? i : 1));

	hashdb_close(db);
	unlink(path);
	return sink == 1 ? 3 : 0;
}
