// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * A libdedupd client for the integration tests (060, 061): only the public
 * header, linked against the built or installed library.
 *
 *   lib-dedupe [OPTION]... PATH...   dedupe PATHs, print the statistics as
 *                                    one JSON object; exit 0, or 1 with a
 *                                    line on stderr
 *	--index PATH    the index (default: the daemon's)
 *	--state-dir DIR
 *	--socket PATH
 *	--no-daemon     DEDUPD_NO_DAEMON
 *	--keep-index    DEDUPD_KEEP_INDEX, and one call per PATH
 *	--log           dedupd_set_log() to stdout, debug level, "log: " lines
 *
 *   lib-dedupe --api TMPFS_DIR DIR OTHER_FS_DIR
 *                                    argument and error checks of the API
 *                                    (DIR on btrfs or XFS, OTHER_FS_DIR on
 *                                    another one); exit 0 when all pass
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dedupd.h>

static int failures;

#define CHECK(cond)                                                          \
	do {                                                                 \
		if (!(cond)) {                                               \
			fprintf(stderr, "lib-dedupe: %s:%d: check failed: %s\n", \
				__FILE__, __LINE__, #cond);                  \
			failures++;                                          \
		}                                                            \
	} while (0)

static void print_stats(const struct dedupd *d)
{
	struct dedupd_stats st;

	CHECK(dedupd_get_stats(d, &st, sizeof(st)) == (int)sizeof(st));
	printf("{\"served_by\":\"%s\",\"calls\":%llu,\"calls_daemon\":%llu,"
	       "\"files_seen\":%llu,\"files_scanned\":%llu,"
	       "\"files_unchanged\":%llu,\"bytes_hashed\":%llu,"
	       "\"bytes_duplicate\":%llu,\"bytes_deduped\":%llu,"
	       "\"bytes_freed\":%lld,\"errors\":%llu}\n",
	       dedupd_served_by(d) ? dedupd_served_by(d) : "",
	       (unsigned long long)st.calls,
	       (unsigned long long)st.calls_daemon,
	       (unsigned long long)st.files_seen,
	       (unsigned long long)st.files_scanned,
	       (unsigned long long)st.files_unchanged,
	       (unsigned long long)st.bytes_hashed,
	       (unsigned long long)st.bytes_duplicate,
	       (unsigned long long)st.bytes_deduped,
	       (long long)st.bytes_freed, (unsigned long long)st.errors);
}

static int log_lines;

static void log_to_stdout(int level, const char *line, void *arg)
{
	(void)arg;
	log_lines++;
	printf("log: %d %s\n", level, line);
}

static int api_checks(const char *tmpfs_dir, const char *dir,
		      const char *other_dir)
{
	struct dedupd_options o = DEDUPD_OPTIONS_INIT;
	struct dedupd_stats st;
	const char *paths[1];
	struct dedupd *d;
	int err = 0;

	CHECK(!strcmp(dedupd_version(), DEDUPD_VERSION_STRING));
	CHECK(dedupd_strerror(-EOPNOTSUPP) && dedupd_strerror(-ENOENT) &&
	      dedupd_strerror(-EWOULDBLOCK) && dedupd_strerror(-12345));
	CHECK(dedupd_close(NULL) == NULL);
	CHECK(dedupd_errmsg(NULL) == NULL);
	CHECK(dedupd_get_stats(NULL, &st, sizeof(st)) == -EINVAL);

	d = dedupd_open(NULL, NULL, &err);
	CHECK(!d && err == -EINVAL);
	o.size = 0;
	err = 0;
	d = dedupd_open(dir, &o, &err);
	CHECK(!d && err == -EINVAL);
	err = 0;
	d = dedupd_open(tmpfs_dir, NULL, &err);
	CHECK(!d && err == -EOPNOTSUPP);
	err = 0;
	d = dedupd_open("/nonexistent/dedupd-test", NULL, &err);
	CHECK(!d && err == -ENOENT);
	CHECK(dedupd_open("/nonexistent/dedupd-test", NULL, NULL) == NULL);

	/* An older caller's smaller options: the rest are defaults. */
	o.size = offsetof(struct dedupd_options, state_dir);
	o.flags = DEDUPD_NO_DAEMON | DEDUPD_NO_CONFIG;
	o.index_path = "/nonexistent/dedupd-test/index";
	err = 0;
	d = dedupd_open(dir, &o, &err);
	CHECK(d && err == 0);
	if (!d)
		return 1;
	CHECK(dedupd_served_by(d) == NULL);
	CHECK(dedupd_dedupe_paths(d, NULL, 0) == -EINVAL);
	CHECK(dedupd_errmsg(d) != NULL);
	paths[0] = NULL;
	CHECK(dedupd_dedupe_paths(d, paths, 1) == -EINVAL);
	paths[0] = other_dir;
	CHECK(dedupd_dedupe_paths(d, paths, 1) == -EXDEV);
	CHECK(dedupd_errmsg(d) && strstr(dedupd_errmsg(d), other_dir));
	paths[0] = "/nonexistent/dedupd-test";
	CHECK(dedupd_dedupe_paths(d, paths, 1) == -ENOENT);
	/* The index cannot be made: an error, not a crash or a message. */
	paths[0] = dir;
	err = dedupd_dedupe_paths(d, paths, 1);
	CHECK(err == -ENOENT);
	CHECK(dedupd_errmsg(d) && strstr(dedupd_errmsg(d), "index"));
	/* A smaller statistics struct gets its first fields only. */
	memset(&st, 0xff, sizeof(st));
	CHECK(dedupd_get_stats(d, &st, sizeof(uint64_t)) ==
	      (int)sizeof(uint64_t));
	CHECK(st.calls == 0 && st.calls_daemon == UINT64_MAX);
	CHECK(dedupd_close(d) == NULL);
	if (!failures)
		printf("api checks passed\n");
	return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
	struct dedupd_options o = DEDUPD_OPTIONS_INIT;
	struct dedupd *d;
	int i, err = 0;

	if (argc == 5 && !strcmp(argv[1], "--api"))
		return api_checks(argv[2], argv[3], argv[4]);
	for (i = 1; i < argc && !strncmp(argv[i], "--", 2); i++) {
		if (!strcmp(argv[i], "--index") && i + 1 < argc)
			o.index_path = argv[++i];
		else if (!strcmp(argv[i], "--state-dir") && i + 1 < argc)
			o.state_dir = argv[++i];
		else if (!strcmp(argv[i], "--socket") && i + 1 < argc)
			o.socket_path = argv[++i];
		else if (!strcmp(argv[i], "--no-daemon"))
			o.flags |= DEDUPD_NO_DAEMON;
		else if (!strcmp(argv[i], "--keep-index"))
			o.flags |= DEDUPD_KEEP_INDEX;
		else if (!strcmp(argv[i], "--log"))
			dedupd_set_log(log_to_stdout, NULL, DEDUPD_LOG_DEBUG);
		else {
			fprintf(stderr, "lib-dedupe: bad option %s\n", argv[i]);
			return 2;
		}
	}
	if (i >= argc) {
		fprintf(stderr, "lib-dedupe: no PATH\n");
		return 2;
	}
	o.flags |= DEDUPD_NO_CONFIG;
	d = dedupd_open(argv[i], &o, &err);
	if (!d) {
		fprintf(stderr, "lib-dedupe: %s: %s\n", argv[i],
			dedupd_strerror(err));
		return 1;
	}
	if (o.flags & DEDUPD_KEEP_INDEX) {
		for (; i < argc && !err; i++)
			err = dedupd_dedupe_paths(d,
				(const char *const *)argv + i, 1);
	} else {
		err = dedupd_dedupe_paths(d, (const char *const *)argv + i,
					  (size_t)(argc - i));
	}
	if (err < 0) {
		fprintf(stderr, "lib-dedupe: %s\n", dedupd_errmsg(d));
		dedupd_close(d);
		return 1;
	}
	print_stats(d);
	if (log_lines)
		printf("log lines: %d\n", log_lines);
	d = dedupd_close(d);
	return failures ? 1 : 0;
}
