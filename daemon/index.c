// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Opening a filesystem's index. See index.h.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "daemon/index.h"
#include "daemon/log.h"

const char *const index_result_name[] = {
	[HASHDB_OPENED] = "opened",
	[HASHDB_CREATED] = "created",
	[HASHDB_REBUILT] = "rebuilt",
	[HASHDB_RESIZED] = "resized",
};

int fs_used_bytes(int fd, uint64_t *ret)
{
	struct statvfs sv;

	/* On btrfs, statfs counts what the last commit freed. */
	(void)syncfs(fd);
	if (fstatvfs(fd, &sv) < 0)
		return -errno;
	*ret = (uint64_t)(sv.f_blocks - sv.f_bfree) * sv.f_frsize;
	return 0;
}

int mkdir_p(const char *dir, mode_t mode)
{
	char tmp[PATH_MAX];
	char *p;

	if (snprintf(tmp, sizeof(tmp), "%s", dir) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	for (p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(tmp, mode) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

static uint64_t default_db_size(int fd, uint32_t blksz)
{
	uint64_t used = 0, size = 16ULL << 20;

	if (fs_used_bytes(fd, &used) < 0)
		return size;
	while (size < (1ULL << 30) && size < used / blksz * HASHDB_CELL_SIZE)
		size <<= 1;
	return size;
}

int index_default_path(const struct engine *e, const char *state_dir,
		       char *ret_path, size_t len)
{
	char uuid[40];
	int ret;

	fs_uuid_format(e->fs.uuid, uuid);
	if (snprintf(ret_path, len, "%s/%s", state_dir, uuid) >= (int)len)
		return -ENAMETOOLONG;
	ret = mkdir_p(ret_path, 0700);
	if (ret < 0)
		return ret;
	if (strlen(ret_path) + sizeof("/index") > len)
		return -ENAMETOOLONG;
	strcat(ret_path, "/index");
	return 0;
}

int index_open_at(struct engine *e, int fd, const char *path,
		  uint64_t db_size)
{
	int ret, res;

	res = hashdb_open(path, e->fs.uuid, db_size, &e->db);
	if (!db_size && (res == HASHDB_CREATED || res == HASHDB_REBUILT)) {
		/* A new index: size it to the filesystem, not the minimum. */
		e->db = hashdb_close(e->db);
		ret = hashdb_open(path, e->fs.uuid,
				  default_db_size(fd, e->blksz), &e->db);
		if (ret < 0)
			res = ret;
	}
	return res;
}

int index_open(struct engine *e, int fd, const char *state_dir,
	       const char *db_path, uint64_t db_size, char *ret_path,
	       size_t len)
{
	int ret, res;

	if (db_path) {
		snprintf(ret_path, len, "%s", db_path);
	} else {
		ret = index_default_path(e, state_dir, ret_path, len);
		if (ret < 0) {
			log_error("cannot create '%s': %s (use --db PATH)",
				  ret_path, strerror(-ret));
			return ret;
		}
	}
	res = index_open_at(e, fd, ret_path, db_size);
	if (res == -EWOULDBLOCK) {
		log_error("index '%s' is in use by another dedupd", ret_path);
		return res;
	}
	if (res < 0) {
		log_error("cannot open index '%s': %s", ret_path,
			  strerror(-res));
		return res;
	}
	if (res == HASHDB_REBUILT)
		log_warn("index '%s' was damaged or belongs to another filesystem, rebuilding it",
			 ret_path);
	else if (res == HASHDB_RESIZED)
		log_info("index '%s' resized: starting it afresh", ret_path);
	return res;
}
