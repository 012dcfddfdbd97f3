/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef DEDUPD_INDEX_H
#define DEDUPD_INDEX_H

/* Opening a filesystem's index, for scan and watch alike. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "daemon/engine/engine.h"

#define STATE_DIR "/var/lib/dedupd"

/* index_open()'s result beyond enum hashdb_open_result: see index.c. */
#define INDEX_REKEYED 4

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

/* Logs what index_open_at()'s result @res for @path means, if anything. */
void index_say(const struct engine *e, const char *path, int res);

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

/*
 * From now on, a SIGBUS on the mapping of an index opened here marks it lost
 * (index_lost) instead of killing the process. For the programs' main();
 * libdedupd leaves its host's signals alone.
 */
void index_guard_sigbus(void);

/*
 * Saves e->db behind the work it records: the deduped filesystem commits
 * first (syncfs of e->mount_fd), then the index is synced. A file the index
 * calls done is not hashed again while it is unchanged, and a dedupe changes
 * neither its size nor its times; so an index that reached the disk before
 * the dedupes it drove were committed would, after a power cut, leave those
 * duplicates for good. Returns 0, or -errno from syncing the index.
 */
int index_save(struct engine *e);

/*
 * Closes e->db (NULL-safe), as hashdb_close() does (after a syncfs of the
 * deduped filesystem, as index_save() does), after index_lost() says
 * whether it is still worth saving: a lost index is closed without a word,
 * and its file emptied so that the next open rebuilds it.
 */
void index_close(struct engine *e, const char *path);

/*
 * Whether e->db was lost: a write to its mapping raised SIGBUS (its
 * filesystem had no room: full, or its blocks shared with a snapshot), so
 * the mapping was swapped for anonymous memory and the process went on.
 * Logs one line the first time it answers true for this index. Then close
 * it with index_close() and open it afresh later.
 */
bool index_lost(struct engine *e, const char *path);

/*
 * Replaces a lost e->db by a new, empty index at @path (the old file is
 * unlinked first; its blocks go once it is closed). The caller holds
 * e->db_lock. Returns an enum hashdb_open_result, or -errno with e->db
 * still the old one (which keeps working, in memory).
 */
int index_reopen(struct engine *e, int fd, const char *path,
		 uint64_t db_size);

/* Used bytes of @fd's filesystem, after a syncfs. Returns 0 or -errno. */
int fs_used_bytes(int fd, uint64_t *ret);

/* mkdir -p; the last component gets @mode. Returns 0 or -errno. */
int mkdir_p(const char *dir, mode_t mode);

#endif
