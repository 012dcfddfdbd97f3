// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Writes a seed for fuzz-hashdb: a small index made by the real code (a few
 * files, cells and digests, one file forgotten), in the fuzzer's input
 * format (hashdb-input.h): its header page, its size, and its non-zero
 * bytes as chunks.
 *
 * usage: mkseed-hashdb OUTPUT
 */
#include <endian.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hashdb/hashdb.h"
#include "tests/fuzz/hashdb-input.h"

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static void make_index(const char *path)
{
	struct hashdb *db;
	uint32_t id[3];

	if (hashdb_open(path, fuzz_hashdb_uuid, 0, &db) != HASHDB_CREATED)
		die("hashdb_open");
	for (uint32_t i = 0; i < 3; i++) {
		uint8_t handle[20];

		memset(handle, (int)(0x40 + i), sizeof(handle));
		if (hashdb_file_add(db, 0x4d, handle, sizeof(handle),
				    &id[i]) != 1 ||
		    hashdb_file_set_cookie(db, id[i], 1000 + i, 65536) != 0 ||
		    hashdb_file_set_gen(db, id[i], 7) != 0)
			die("hashdb_file_add");
		for (uint64_t b = 0; b < 8; b++) {
			uint64_t hash = (0x1234567ULL + i * 8 + b) << 40;

			if (hashdb_lookup_insert(db, hash, hashdb_loc(id[i], b),
						 NULL) < 0)
				die("hashdb_lookup_insert");
		}
		if (hashdb_digest_insert(db, 0xabcdef00ULL << 32 | i,
					 id[i]) != 0)
			die("hashdb_digest_insert");
	}
	if (hashdb_file_forget(db, id[1]) != 0 || hashdb_sync(db) != 0)
		die("hashdb_file_forget");
	hashdb_close(db);
}

static void put_le32(FILE *out, uint32_t v)
{
	v = htole32(v);
	fwrite(&v, sizeof(v), 1, out);
}

int main(int argc, char **argv)
{
	char dir[] = "/tmp/dedupd-mkseed-XXXXXX", path[64];
	uint8_t *file;
	struct stat st;
	FILE *out;
	size_t at;
	int fd;

	if (argc != 2) {
		fprintf(stderr, "usage: mkseed-hashdb OUTPUT\n");
		return 2;
	}
	if (!mkdtemp(dir))
		die("mkdtemp");
	snprintf(path, sizeof(path), "%s/index", dir);
	make_index(path);

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0)
		die(path);
	file = malloc((size_t)st.st_size);
	if (!file || read(fd, file, (size_t)st.st_size) != st.st_size)
		die("read");
	close(fd);
	unlink(path);
	rmdir(dir);

	out = fopen(argv[1], "w");
	if (!out)
		die(argv[1]);
	fwrite(file, 1, FUZZ_HASHDB_PAGE, out);
	put_le32(out, (uint32_t)(st.st_size / FUZZ_HASHDB_PAGE - 1));
	/* Runs of non-zero bytes, at most 0xffff each. */
	at = FUZZ_HASHDB_PAGE;
	while (at < (size_t)st.st_size) {
		size_t end = at;

		if (!file[at]) {
			at++;
			continue;
		}
		while (end < (size_t)st.st_size && end - at < 0xffff &&
		       (file[end] || (end + 1 < (size_t)st.st_size &&
				      file[end + 1])))
			end++;
		put_le32(out, (uint32_t)at);
		fputc((int)((end - at) & 0xff), out);
		fputc((int)((end - at) >> 8), out);
		fwrite(file + at, 1, end - at, out);
		at = end;
	}
	free(file);
	if (fclose(out) != 0)
		die(argv[1]);
	return 0;
}
