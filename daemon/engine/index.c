// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Opening a filesystem's index. See index.h.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "daemon/engine/index.h"
#include "daemon/common/log.h"

const char *const index_result_name[] = {
	[HASHDB_OPENED] = "opened",
	[HASHDB_CREATED] = "created",
	[HASHDB_REBUILT] = "rebuilt",
	[HASHDB_RESIZED] = "resized",
	[INDEX_REKEYED] = "rekeyed",
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


/*
 * A write to the index's mapping that the filesystem cannot back raises
 * SIGBUS: btrfs answers ENOSPC at the page fault when it is full, and a
 * snapshot of the index's subvolume makes even a NOCOW file copy its blocks
 * on write. Rather than die, the handler swaps the whole mapping for
 * anonymous memory (the write then lands there, and so do all later ones)
 * and marks the index lost; the thread that checkpoints it finds out
 * (index_lost), drops it and opens it afresh. A SIGBUS anywhere else gets
 * the default action.
 */
#define GUARD_SLOTS 64

static struct {
	struct hashdb *_Atomic db;
	volatile sig_atomic_t lost;
	bool said;
} guard[GUARD_SLOTS];

static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	for (size_t i = 0; i < GUARD_SLOTS; i++) {
		struct hashdb *db = atomic_load(&guard[i].db);
		char *at = si->si_addr, *a;
		void *addr;
		size_t len;

		if (!db)
			continue;
		hashdb_mapping(db, &addr, &len);
		a = addr;
		if (at < a || at >= a + len)
			continue;
		if (mmap(addr, len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1,
			 0) == MAP_FAILED)
			break;
		guard[i].lost = 1;
		return;
	}
	signal(sig, SIG_DFL);	/* the fault repeats, and kills */
}

static void guard_install(void)
{
	struct sigaction sa = { .sa_sigaction = on_sigbus,
				.sa_flags = SA_SIGINFO | SA_NODEFER };

	sigemptyset(&sa.sa_mask);
	(void)sigaction(SIGBUS, &sa, NULL);
}

static atomic_bool guard_enabled;

void index_guard_sigbus(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	(void)pthread_once(&once, guard_install);
	atomic_store(&guard_enabled, true);
}

static void guard_add(struct hashdb *db)
{
	if (!atomic_load(&guard_enabled))
		return;
	for (size_t i = 0; i < GUARD_SLOTS; i++) {
		struct hashdb *none = NULL;

		if (atomic_compare_exchange_strong(&guard[i].db, &none, db)) {
			guard[i].lost = 0;
			guard[i].said = false;
			return;
		}
	}
	/* More indexes open than slots: this one is not guarded. */
}

static size_t guard_slot(const struct hashdb *db)
{
	for (size_t i = 0; i < GUARD_SLOTS; i++)
		if (atomic_load(&guard[i].db) == db)
			return i;
	return GUARD_SLOTS;
}

bool index_lost(struct engine *e, const char *path)
{
	size_t i = e->db ? guard_slot(e->db) : GUARD_SLOTS;

	if (i == GUARD_SLOTS || !guard[i].lost)
		return false;
	if (!guard[i].said) {
		guard[i].said = true;
		log_error("index '%s' lost: its filesystem had no room for a write to it (SIGBUS), dropping it; it is rebuilt when it can be",
			  path);
	}
	return true;
}

int index_reopen(struct engine *e, int fd, const char *path,
		 uint64_t db_size)
{
	struct hashdb *old = e->db;
	size_t i = old ? guard_slot(old) : GUARD_SLOTS;
	int res;

	/* A new file: the old one keeps its lock until it is closed. */
	if (unlink(path) < 0 && errno != ENOENT)
		return -errno;
	e->db = NULL;
	res = index_open_at(e, fd, path, db_size);
	if (res < 0) {
		e->db = old;
		return res;
	}
	if (i < GUARD_SLOTS)
		atomic_store(&guard[i].db, NULL);
	(void)hashdb_close(old);
	return res;
}

int index_save(struct engine *e)
{
	/*
	 * The index's own fsync commits nothing else: on another filesystem
	 * it cannot, and on the same btrfs it goes to the log tree, which
	 * carries that file only. A power cut would then keep the index and
	 * lose the dedupes of the running transaction.
	 */
	if (e->mount_fd >= 0)
		(void)syncfs(e->mount_fd);
	return hashdb_sync(e->db);
}

void index_close(struct engine *e, const char *path)
{
	size_t i;
	bool lost;

	if (!e->db)
		return;
	i = guard_slot(e->db);
	lost = i < GUARD_SLOTS && guard[i].lost;
	if (!lost && e->mount_fd >= 0)
		(void)syncfs(e->mount_fd);	/* as index_save() */
	if (i < GUARD_SLOTS)
		atomic_store(&guard[i].db, NULL);
	e->db = hashdb_close(e->db);	/* a lost one saves into nothing */
	if (lost && path && truncate(path, 0) < 0)	/* rebuilt at next open */
		log_warn("index %s: cannot empty it (%s); it is checked when "
			 "next opened", path, strerror(errno));
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

/*
 * The index's block keys must be made as this pass makes them: from csums of
 * the filesystem's type, or by reading (csums.h). Keys of another kind never
 * match (a file indexed by reading would not match its copy keyed by csum),
 * so such an index starts afresh: INDEX_REKEYED. With csums that costs
 * little, the csum tree being 0.1% of the data.
 */
static int check_key_kind(struct engine *e, const char *path, int res)
{
	uint32_t want = e->csum.on ? 1u + e->csum.ci.type : 0;
	struct hashdb_stats st;
	int ret;

	if (hashdb_key_kind(e->db) == want)
		return res;
	hashdb_get_stats(e->db, &st);
	if (st.files) {
		e->db = hashdb_close(e->db);
		if (unlink(path) < 0)
			return -errno;
		ret = hashdb_open(path, e->fs.uuid, st.budget, &e->db);
		if (ret < 0)
			return ret;
		res = INDEX_REKEYED;
	}
	/* In the header now: a crash before the next sync keeps it. */
	hashdb_set_key_kind(e->db, want);
	ret = hashdb_sync(e->db);
	return ret < 0 ? ret : res;
}

int index_open_at(struct engine *e, int fd, const char *path,
		  uint64_t db_size)
{
	struct stat st;
	int ret, res;

	/* A new index is sized to the filesystem from the start: a crash
	 * must not leave it at the minimum size. */
	if (!db_size && stat(path, &st) < 0 && errno == ENOENT)
		db_size = default_db_size(fd, e->blksz);
	res = hashdb_open(path, e->fs.uuid, db_size, &e->db);
	if (!db_size && (res == HASHDB_CREATED || res == HASHDB_REBUILT)) {
		/* A new index: size it to the filesystem, not the minimum. */
		e->db = hashdb_close(e->db);
		ret = hashdb_open(path, e->fs.uuid,
				  default_db_size(fd, e->blksz), &e->db);
		if (ret < 0)
			res = ret;
	}
	if (res >= 0)
		res = check_key_kind(e, path, res);
	if (res >= 0)
		guard_add(e->db);
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
	index_say(e, ret_path, res);
	return res;
}

void index_say(const struct engine *e, const char *path, int res)
{
	if (res == HASHDB_REBUILT)
		log_warn("index '%s' was damaged or belongs to another filesystem, rebuilding it",
			 path);
	else if (res == HASHDB_RESIZED)
		log_info("index '%s' resized: starting it afresh", path);
	else if (res == INDEX_REKEYED)
		log_info("index '%s' was keyed %s: starting it afresh", path,
			 e->csum.on ? "by reading" : "by csums");
}
