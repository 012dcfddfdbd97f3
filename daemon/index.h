/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef DEDUPD_INDEX_H
#define DEDUPD_INDEX_H

/* Opening a filesystem's index, for scan and watch alike. */

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "daemon/engine.h"

#define STATE_DIR "/var/lib/dedupd"

extern const char *const index_result_name[];

/*
 * Opens e->fs's index (e->db): @db_path, or <@state_dir>/<fs-uuid>/index
 * (the directory made mode 0700). @db_size 0: keep an existing index's size;
 * a new one is sized to the filesystem @fd is on. The path used is copied to
 * @ret_path. Logs what went wrong or was rebuilt. Returns an enum
 * hashdb_open_result, or -errno (-EWOULDBLOCK: another dedupd holds it).
 */
int index_open(struct engine *e, int fd, const char *state_dir,
	       const char *db_path, uint64_t db_size, char *ret_path,
	       size_t len);

/*
 * The default index of e->fs: <@state_dir>/<fs-uuid>/index, into @ret_path;
 * makes the directory (mode 0700). Returns 0, or -errno (@ret_path then
 * names the directory that could not be made). Logs nothing.
 */
int index_default_path(const struct engine *e, const char *state_dir,
		       char *ret_path, size_t len);

/*
 * index_open() at @path, without logging: an enum hashdb_open_result, or
 * -errno (-EWOULDBLOCK: another dedupd holds it).
 */
int index_open_at(struct engine *e, int fd, const char *path,
		  uint64_t db_size);

/* Used bytes of @fd's filesystem, after a syncfs. Returns 0 or -errno. */
int fs_used_bytes(int fd, uint64_t *ret);

/* mkdir -p; the last component gets @mode. Returns 0 or -errno. */
int mkdir_p(const char *dir, mode_t mode);

#endif
