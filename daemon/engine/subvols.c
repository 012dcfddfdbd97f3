// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The subvolume registry. See subvols.h.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/btrfs_tree.h>

#include <uthash.h>
#include <xxhash.h>

#include "daemon/engine/subvols.h"
#include "daemon/common/util.h"
#include "ioctl-compat/btrfs.h"

#define SUBVOLS_MAGIC "DDSUBVOL"
#define SUBVOLS_VERSION 1

/* The file's layout, little-endian. */
#define HDR_MAGIC 0		/* 8 bytes */
#define HDR_CHECKSUM 8		/* xxh64 of bytes HDR_VERSION to the end */
#define HDR_VERSION 16		/* le32 */
#define HDR_REC_SIZE 20		/* le32: REC_SIZE */
#define HDR_FS_UUID 24		/* 16 bytes */
#define HDR_GENERATION 40	/* le64 */
#define HDR_COUNT 48		/* le64 */
#define HDR_SIZE 64		/* 8 bytes reserved, zero */

#define REC_ID 0
#define REC_PARENT_ID 8
#define REC_GENERATION 16
#define REC_CTRANSID 24
#define REC_FLAGS 32
#define REC_UUID 40
#define REC_PARENT_UUID 56
#define REC_RECEIVED_UUID 72
#define REC_SIZE 88

struct subvol_family;

struct subvol_entry {
	struct btrfs_subvol_rec rec;
	UT_hash_handle hh_id;		/* key rec.id */
	UT_hash_handle hh_uuid;		/* key rec.uuid, if in_uuid_map */
	struct subvol_family *family;	/* that of rec.parent_uuid, or NULL */
	struct subvol_entry *prev_sibling, *next_sibling;
	bool in_uuid_map;
};

/* The snapshots of one subvolume: those with its UUID as parent_uuid. */
struct subvol_family {
	uint8_t parent_uuid[16];	/* the key */
	UT_hash_handle hh;
	struct subvol_entry *first;
};

struct subvols {
	char *path;
	uint8_t fs_uuid[16];
	uint64_t generation;	/* up to date as of this */
	struct subvol_entry *by_id, *by_uuid;
	struct subvol_family *families;
	size_t count;
	bool dirty;		/* changed since loaded or saved */
};

static const uint8_t zero_uuid[16];

static bool uuid_is_zero(const uint8_t uuid[16])
{
	return memcmp(uuid, zero_uuid, 16) == 0;
}

/* ---- the maps ------------------------------------------------------------ */

static struct subvol_entry *find_id(const struct subvols *s, uint64_t id)
{
	struct subvol_entry *e;

	HASH_FIND(hh_id, s->by_id, &id, sizeof(id), e);
	return e;
}

static void link_uuid(struct subvols *s, struct subvol_entry *e)
{
	struct subvol_entry *old;

	if (uuid_is_zero(e->rec.uuid))
		return;
	/* UUIDs are unique: a duplicate is a stale record, the newer wins. */
	HASH_FIND(hh_uuid, s->by_uuid, e->rec.uuid, 16, old);
	if (old) {
		HASH_DELETE(hh_uuid, s->by_uuid, old);
		old->in_uuid_map = false;
	}
	HASH_ADD(hh_uuid, s->by_uuid, rec.uuid, 16, e);
	e->in_uuid_map = true;
}

static void unlink_uuid(struct subvols *s, struct subvol_entry *e)
{
	if (!e->in_uuid_map)
		return;
	HASH_DELETE(hh_uuid, s->by_uuid, e);
	e->in_uuid_map = false;
}

static void link_family(struct subvols *s, struct subvol_entry *e)
{
	struct subvol_family *f;

	if (uuid_is_zero(e->rec.parent_uuid))
		return;
	HASH_FIND(hh, s->families, e->rec.parent_uuid, 16, f);
	if (!f) {
		f = xcalloc(1, sizeof(*f));
		memcpy(f->parent_uuid, e->rec.parent_uuid, 16);
		HASH_ADD(hh, s->families, parent_uuid, 16, f);
	}
	e->family = f;
	e->prev_sibling = NULL;
	e->next_sibling = f->first;
	if (f->first)
		f->first->prev_sibling = e;
	f->first = e;
}

static void unlink_family(struct subvols *s, struct subvol_entry *e)
{
	struct subvol_family *f = e->family;

	if (!f)
		return;
	if (e->prev_sibling)
		e->prev_sibling->next_sibling = e->next_sibling;
	else
		f->first = e->next_sibling;
	if (e->next_sibling)
		e->next_sibling->prev_sibling = e->prev_sibling;
	e->family = NULL;
	e->prev_sibling = e->next_sibling = NULL;
	if (!f->first) {
		HASH_DELETE(hh, s->families, f);
		free(f);
	}
}

static void drop_entry(struct subvols *s, struct subvol_entry *e)
{
	unlink_family(s, e);
	unlink_uuid(s, e);
	HASH_DELETE(hh_id, s->by_id, e);
	free(e);
	s->count--;
	s->dirty = true;
}

static void drop_all(struct subvols *s)
{
	struct subvol_entry *e, *tmp;

	HASH_ITER(hh_id, s->by_id, e, tmp) {
		unlink_family(s, e);
		unlink_uuid(s, e);
		HASH_DELETE(hh_id, s->by_id, e);
		free(e);
	}
	s->count = 0;
}

static bool rec_equal(const struct btrfs_subvol_rec *a,
		      const struct btrfs_subvol_rec *b)
{
	return a->id == b->id && a->parent_id == b->parent_id &&
	       a->generation == b->generation && a->ctransid == b->ctransid &&
	       a->flags == b->flags && !memcmp(a->uuid, b->uuid, 16) &&
	       !memcmp(a->parent_uuid, b->parent_uuid, 16) &&
	       !memcmp(a->received_uuid, b->received_uuid, 16);
}

/* Adds or replaces the record of r->id. Returns whether anything changed. */
static bool put_rec(struct subvols *s, const struct btrfs_subvol_rec *r)
{
	struct subvol_entry *e = find_id(s, r->id);

	if (e && rec_equal(&e->rec, r))
		return false;
	if (!e) {
		e = xcalloc(1, sizeof(*e));
		e->rec.id = r->id;
		HASH_ADD(hh_id, s->by_id, rec.id, sizeof(e->rec.id), e);
		s->count++;
	}
	if (memcmp(e->rec.uuid, r->uuid, 16) || !e->in_uuid_map) {
		unlink_uuid(s, e);
		memcpy(e->rec.uuid, r->uuid, 16);
		link_uuid(s, e);
	}
	if (memcmp(e->rec.parent_uuid, r->parent_uuid, 16) || !e->family) {
		unlink_family(s, e);
		memcpy(e->rec.parent_uuid, r->parent_uuid, 16);
		link_family(s, e);
	}
	e->rec = *r;
	s->dirty = true;
	return true;
}

/* ---- updates from the filesystem ----------------------------------------- */

struct merge {
	struct subvols *s;
	size_t updated;
};

static int merge_rec(void *arg, const struct btrfs_subvol_rec *r)
{
	struct merge *m = arg;
	struct subvol_entry *e = find_id(m->s, r->id);
	struct btrfs_subvol_rec rec;

	if (r->flags & BTRFS_ROOT_SUBVOL_DEAD) {
		if (e) {
			drop_entry(m->s, e);
			m->updated++;
		}
		return 0;
	}
	rec = *r;
	/* Its ROOT_BACKREF was not in a leaf written since: unchanged. */
	if (e && rec.parent_id == 0)
		rec.parent_id = e->rec.parent_id;
	if (put_rec(m->s, &rec))
		m->updated++;
	return 0;
}

/*
 * Reads what changed after s->generation; @gen, the filesystem's generation,
 * taken before: what a commit writes after it has a larger one and is found
 * by the next update (again, maybe: no matter).
 */
static int update(struct subvols *s, int fd, uint64_t gen, size_t *ret_updated)
{
	struct merge m = { .s = s };
	int ret;

	ret = btrfs_subvol_recs(fd, s->generation, merge_rec, &m);
	if (ret < 0)
		return ret;
	/*
	 * Saved with the records only when they changed: a newer generation
	 * alone would spare the next search a few leaves, not worth writing
	 * the file for.
	 */
	if (gen > s->generation)
		s->generation = gen;
	*ret_updated = m.updated;
	return 0;
}

/* ---- the file ------------------------------------------------------------ */

static uint64_t get_le64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return le64toh(v);
}

static uint32_t get_le32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return le32toh(v);
}

static void put_le64(uint8_t *p, uint64_t v)
{
	v = htole64(v);
	memcpy(p, &v, sizeof(v));
}

static void put_le32(uint8_t *p, uint32_t v)
{
	v = htole32(v);
	memcpy(p, &v, sizeof(v));
}

static uint64_t checksum(const uint8_t *buf, size_t len)
{
	return XXH64(buf + HDR_VERSION, len - HDR_VERSION, 0);
}

/*
 * Reads the file @fd, of @size bytes, into a new buffer: all of it if its
 * header's count matches its size, else its header only (then rejected
 * without reading what may be a huge damaged file). Returns 0, or -errno.
 */
static int read_file(int fd, uint64_t size, uint8_t **ret_buf, size_t *ret_len)
{
	uint8_t hdr[HDR_SIZE];
	size_t len = 0, done = 0;
	uint8_t *buf;

	if (size >= HDR_SIZE) {
		ssize_t n = pread(fd, hdr, HDR_SIZE, 0);

		if (n < 0)
			return -errno;
		if (n == HDR_SIZE) {
			uint64_t count = get_le64(hdr + HDR_COUNT);

			len = HDR_SIZE;
			if (count <= (SIZE_MAX - HDR_SIZE) / REC_SIZE &&
			    size == HDR_SIZE + count * REC_SIZE)
				len = (size_t)size;
		}
	}
	buf = xmalloc(len ? len : 1);
	while (done < len) {
		ssize_t n = pread(fd, buf + done, len - done, (off_t)done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int err = -errno;

			free(buf);
			return err;
		}
		if (n == 0)
			break; /* shrunk meanwhile: the size check fails */
		done += (size_t)n;
	}
	*ret_buf = buf;
	*ret_len = done;
	return 0;
}

/*
 * Loads the records of @buf into the empty registry @s. Returns NULL, or why
 * the file is not to be trusted (@s is left empty then).
 */
static const char *parse_file(struct subvols *s, const uint8_t *buf, size_t len,
			      uint64_t fs_gen)
{
	uint64_t count;

	if (len < HDR_SIZE || memcmp(buf + HDR_MAGIC, SUBVOLS_MAGIC, 8))
		return "not a subvolume registry";
	if (get_le32(buf + HDR_VERSION) != SUBVOLS_VERSION ||
	    get_le32(buf + HDR_REC_SIZE) != REC_SIZE)
		return "unknown version";
	count = get_le64(buf + HDR_COUNT);
	if (count > (SIZE_MAX - HDR_SIZE) / REC_SIZE ||
	    len != HDR_SIZE + count * REC_SIZE)
		return "truncated";
	if (get_le64(buf + HDR_CHECKSUM) != checksum(buf, len))
		return "bad checksum";
	if (memcmp(buf + HDR_FS_UUID, s->fs_uuid, 16))
		return "of another filesystem";
	if (get_le64(buf + HDR_GENERATION) > fs_gen)
		return "newer than the filesystem";
	for (size_t i = 0; i < count; i++) {
		const uint8_t *p = buf + HDR_SIZE + i * REC_SIZE;
		struct btrfs_subvol_rec r;

		memset(&r, 0, sizeof(r));
		r.id = get_le64(p + REC_ID);
		r.parent_id = get_le64(p + REC_PARENT_ID);
		r.generation = get_le64(p + REC_GENERATION);
		r.ctransid = get_le64(p + REC_CTRANSID);
		r.flags = get_le64(p + REC_FLAGS);
		memcpy(r.uuid, p + REC_UUID, 16);
		memcpy(r.parent_uuid, p + REC_PARENT_UUID, 16);
		memcpy(r.received_uuid, p + REC_RECEIVED_UUID, 16);
		if (r.id == 0 || find_id(s, r.id)) {
			drop_all(s);
			return "duplicate record";
		}
		put_rec(s, &r);
	}
	s->generation = get_le64(buf + HDR_GENERATION);
	return NULL;
}

/*
 * Loads the file, if any and trusted. Returns 0 and sets *@ret_why (NULL if
 * loaded, else why not; "" for no file), or -errno.
 */
static int load(struct subvols *s, uint64_t fs_gen, const char **ret_why)
{
	struct stat st;
	uint8_t *buf = NULL;
	size_t len = 0;
	int fd, ret;

	fd = open(s->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		if (errno != ENOENT)
			return -errno;
		*ret_why = "";
		return 0;
	}
	if (fstat(fd, &st) < 0) {
		ret = -errno;
		close(fd);
		return ret;
	}
	ret = read_file(fd, (uint64_t)st.st_size, &buf, &len);
	close(fd);
	if (ret < 0)
		return ret;
	*ret_why = parse_file(s, buf, len, fs_gen);
	free(buf);
	return 0;
}

/* Makes a rename in the directory of @path durable. */
static int sync_dir_of(const char *path)
{
	char *dir = xstrdup(path), *slash = strrchr(dir, '/');
	int fd, ret = 0;

	if (!slash)
		strcpy(dir, ".");
	else if (slash == dir)
		slash[1] = '\0';
	else
		*slash = '\0';
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(dir);
	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

int subvols_save(struct subvols *s)
{
	struct subvol_entry *e, *tmp;
	size_t len, tmplen, i = 0;
	uint8_t *buf;
	char *tmpath;
	int fd, ret;

	if (!s)
		return -EINVAL;
	len = HDR_SIZE + s->count * REC_SIZE;
	buf = xcalloc(1, len);
	memcpy(buf + HDR_MAGIC, SUBVOLS_MAGIC, 8);
	put_le32(buf + HDR_VERSION, SUBVOLS_VERSION);
	put_le32(buf + HDR_REC_SIZE, REC_SIZE);
	memcpy(buf + HDR_FS_UUID, s->fs_uuid, 16);
	put_le64(buf + HDR_GENERATION, s->generation);
	put_le64(buf + HDR_COUNT, s->count);
	HASH_ITER(hh_id, s->by_id, e, tmp) {
		uint8_t *p = buf + HDR_SIZE + i++ * REC_SIZE;

		put_le64(p + REC_ID, e->rec.id);
		put_le64(p + REC_PARENT_ID, e->rec.parent_id);
		put_le64(p + REC_GENERATION, e->rec.generation);
		put_le64(p + REC_CTRANSID, e->rec.ctransid);
		put_le64(p + REC_FLAGS, e->rec.flags);
		memcpy(p + REC_UUID, e->rec.uuid, 16);
		memcpy(p + REC_PARENT_UUID, e->rec.parent_uuid, 16);
		memcpy(p + REC_RECEIVED_UUID, e->rec.received_uuid, 16);
	}
	put_le64(buf + HDR_CHECKSUM, checksum(buf, len));

	tmplen = strlen(s->path) + sizeof(".tmp");
	tmpath = xmalloc(tmplen);
	snprintf(tmpath, tmplen, "%s.tmp", s->path);
	fd = open(tmpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
		  0600);
	if (fd < 0) {
		ret = -errno;
		goto out_free;
	}
	ret = write_full(fd, buf, len);
	if (!ret && fsync(fd) < 0)
		ret = -errno;
	if (close(fd) < 0 && !ret)
		ret = -errno;
	if (!ret && rename(tmpath, s->path) < 0)
		ret = -errno;
	if (ret) {
		(void)unlink(tmpath);
		goto out_free;
	}
	s->dirty = false;
	ret = sync_dir_of(s->path);
out_free:
	free(tmpath);
	free(buf);
	return ret;
}

/* ---- the API ------------------------------------------------------------- */

static struct subvols *free_subvols(struct subvols *s)
{
	drop_all(s);
	free(s->path);
	free(s);
	return NULL;
}

int subvols_open(const char *path, int fd, const uint8_t fs_uuid[16],
		 struct subvols **ret, struct subvols_stats *ret_stats)
{
	struct subvols_stats st = { 0 };
	double t0 = now_sec();
	const char *why = NULL;
	struct subvols *s;
	uint64_t fs_gen;
	int err;

	if (!path || !fs_uuid || !ret)
		return -EINVAL;
	err = btrfs_fs_generation(fd, &fs_gen);
	if (err < 0)
		return err;
	s = xcalloc(1, sizeof(*s));
	s->path = xstrdup(path);
	memcpy(s->fs_uuid, fs_uuid, 16);
	err = load(s, fs_gen, &why);
	if (err < 0)
		goto out_free;
	if (why) {
		st.created = !*why;
		st.rebuilt = !!*why;
		st.why = *why ? why : NULL;
		s->generation = 0;
		s->dirty = true; /* the file is to be written, even empty */
	} else {
		st.loaded = s->count;
		s->dirty = false;
	}
	err = update(s, fd, fs_gen, &st.updated);
	if (err < 0)
		goto out_free;
	st.generation = s->generation;
	st.seconds = now_sec() - t0;
	*ret = s;
	if (ret_stats)
		*ret_stats = st;
	return 0;

out_free:
	free_subvols(s);
	return err;
}

int subvols_refresh(struct subvols *s, int fd)
{
	size_t updated = 0;
	uint64_t gen;
	int ret;

	if (!s)
		return -EINVAL;
	ret = btrfs_fs_generation(fd, &gen);
	if (ret < 0)
		return ret;
	ret = update(s, fd, gen, &updated);
	if (ret < 0)
		return ret;
	return updated > INT_MAX ? INT_MAX : (int)updated;
}

const struct btrfs_subvol_rec *subvols_by_id(const struct subvols *s,
					     uint64_t id)
{
	struct subvol_entry *e = find_id(s, id);

	return e ? &e->rec : NULL;
}

const struct btrfs_subvol_rec *subvols_by_uuid(const struct subvols *s,
					       const uint8_t uuid[16])
{
	struct subvol_entry *e;

	if (uuid_is_zero(uuid))
		return NULL;
	HASH_FIND(hh_uuid, s->by_uuid, uuid, 16, e);
	return e ? &e->rec : NULL;
}

int subvols_children(const struct subvols *s, const uint8_t uuid[16],
		     btrfs_subvol_rec_cb cb, void *arg)
{
	const struct subvol_family *f;
	const struct subvol_entry *e;
	int ret;

	if (uuid_is_zero(uuid))
		return 0;
	HASH_FIND(hh, s->families, uuid, 16, f);
	if (!f)
		return 0;
	for (e = f->first; e; e = e->next_sibling) {
		ret = cb(arg, &e->rec);
		if (ret != 0)
			return ret;
	}
	return 0;
}

void subvols_forget(struct subvols *s, uint64_t id)
{
	struct subvol_entry *e = find_id(s, id);

	if (e)
		drop_entry(s, e);
}

size_t subvols_count(const struct subvols *s)
{
	return s->count;
}

struct subvols *subvols_close(struct subvols *s)
{
	if (!s)
		return NULL;
	if (s->dirty)
		(void)subvols_save(s);
	return free_subvols(s);
}
