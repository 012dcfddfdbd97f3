// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * btrfs find-new. See btrfs.h.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/btrfs.h>
#include <linux/btrfs_tree.h>

#include "ioctl-compat/btrfs.h"

/*
 * TREE_SEARCH_V2 result buffer: holds any item of the largest node size
 * (64 KiB, less the node header) with its search header, so a search never
 * fails with EOVERFLOW.
 */
#define SEARCH_BUF_SIZE (64 * 1024)

/* Item layouts read here (the structs are packed: read fields by offset). */
#define FILE_EXTENT_MIN_LEN offsetof(struct btrfs_file_extent_item, disk_bytenr)
#define ROOT_ITEM_MIN_LEN offsetof(struct btrfs_root_item, generation_v2)

/*
 * A walk over the items of one tree in [min key, max key], batch by batch.
 * The key in args is where the next batch starts.
 */
struct search {
	int fd;
	struct btrfs_ioctl_search_args_v2 *args; /* with SEARCH_BUF_SIZE */
	uint32_t min_type; /* of the range, for jumps to another objectid */
	uint32_t idx, count; /* next item, items in the batch */
	size_t off; /* of the next item's header in args->buf */
	struct btrfs_ioctl_search_header last; /* last item taken */
	bool moved; /* the key was set past the batch already */
	bool done; /* nothing left in the range */
};

static int search_init(struct search *s, int fd,
		       const struct btrfs_ioctl_search_key *key)
{
	memset(s, 0, sizeof(*s));
	s->args = calloc(1, sizeof(*s->args) + SEARCH_BUF_SIZE);
	if (!s->args)
		return -ENOMEM;
	s->fd = fd;
	s->args->key = *key;
	s->min_type = key->min_type;
	return 0;
}

static void search_fini(struct search *s)
{
	free(s->args);
	s->args = NULL;
}

/* (o1, t1, f1) compared with (o2, t2, f2), as btrfs orders keys. */
static int key_cmp(uint64_t o1, uint32_t t1, uint64_t f1, uint64_t o2,
		   uint32_t t2, uint64_t f2)
{
	if (o1 != o2)
		return o1 < o2 ? -1 : 1;
	if (t1 != t2)
		return t1 < t2 ? -1 : 1;
	if (f1 != f2)
		return f1 < f2 ? -1 : 1;
	return 0;
}

/* Makes the next batch start at (@objectid, @type, @offset). */
static void search_restart_at(struct search *s, uint64_t objectid,
			      uint32_t type, uint64_t offset)
{
	struct btrfs_ioctl_search_key *key = &s->args->key;

	if (key_cmp(objectid, type, offset, key->max_objectid, key->max_type,
		    key->max_offset) > 0) {
		s->done = true;
		return;
	}
	key->min_objectid = objectid;
	key->min_type = type;
	key->min_offset = offset;
	s->moved = true;
}

/*
 * Makes the next batch start right after the last item taken: the kernel does
 * not move the key in args, and the next key after (o, t, f) is (o, t, f + 1),
 * carrying into the type (a byte in the tree) and then the objectid.
 */
static void search_advance(struct search *s)
{
	const struct btrfs_ioctl_search_header *sh = &s->last;

	if (sh->offset < UINT64_MAX)
		search_restart_at(s, sh->objectid, sh->type, sh->offset + 1);
	else if (sh->type < UINT8_MAX)
		search_restart_at(s, sh->objectid, sh->type + 1, 0);
	else if (sh->objectid < UINT64_MAX)
		search_restart_at(s, sh->objectid + 1, 0, 0);
	else
		s->done = true;
}

/*
 * Makes the next batch start at the first key of objectid @objectid + 1 in
 * the range, if the current batch does not get there anyway.
 */
static void search_skip_objectid(struct search *s, uint64_t objectid)
{
	if (s->idx < s->count)
		return; /* the batch goes on: its items are skipped one by one */
	if (objectid != s->last.objectid)
		return;
	if (objectid == UINT64_MAX)
		s->done = true;
	else
		search_restart_at(s, objectid + 1, s->min_type, 0);
}

/*
 * Takes the next item: returns 1 and sets *@ret_sh and *@ret_item (its
 * sh.len bytes, unaligned), 0 at the end of the range, or -errno.
 */
static int search_next(struct search *s,
		       struct btrfs_ioctl_search_header *ret_sh,
		       const uint8_t **ret_item)
{
	struct btrfs_ioctl_search_args_v2 *args = s->args;

	while (s->idx >= s->count) {
		if (s->idx > 0 && !s->moved)
			search_advance(s);
		s->moved = false;
		if (s->done)
			return 0;
		args->key.nr_items = UINT32_MAX;
		args->buf_size = SEARCH_BUF_SIZE;
		if (ioctl(s->fd, BTRFS_IOC_TREE_SEARCH_V2, args) < 0)
			return -errno;
		/* An empty batch: nothing is left from the key on. */
		if (args->key.nr_items == 0) {
			s->done = true;
			return 0;
		}
		s->count = args->key.nr_items;
		s->idx = 0;
		s->off = 0;
	}

	/* Headers follow items of any length: copy, do not cast. */
	if (SEARCH_BUF_SIZE - s->off < sizeof(*ret_sh))
		return -EIO;
	memcpy(ret_sh, args->buf + s->off, sizeof(*ret_sh));
	s->off += sizeof(*ret_sh);
	if (ret_sh->len > SEARCH_BUF_SIZE - s->off)
		return -EIO;
	*ret_item = args->buf + s->off;
	s->off += ret_sh->len;
	s->idx++;
	s->last = *ret_sh;
	return 1;
}

static uint64_t get_le64(const uint8_t *p, size_t off)
{
	uint64_t v;

	memcpy(&v, p + off, sizeof(v));
	return le64toh(v);
}

static uint32_t get_le32(const uint8_t *p, size_t off)
{
	uint32_t v;

	memcpy(&v, p + off, sizeof(v));
	return le32toh(v);
}

/* The transaction that last changed the tree, as of its last commit. */
static uint64_t root_item_generation(const uint8_t *item)
{
	return get_le64(item, offsetof(struct btrfs_root_item, generation));
}

/* Deleted: no refs left, waiting for the cleaner to drop the tree. */
static bool root_item_deleted(const uint8_t *item)
{
	uint64_t flags =
		get_le64(item, offsetof(struct btrfs_root_item, flags));

	return get_le32(item, offsetof(struct btrfs_root_item, refs)) == 0 ||
	       (flags & BTRFS_ROOT_SUBVOL_DEAD);
}

/* Generation of the extent tree's root at its last commit; -ENOENT if none. */
static int extent_tree_generation(int fd, uint64_t *ret_gen)
{
	const struct btrfs_ioctl_search_key key = {
		.tree_id = BTRFS_ROOT_TREE_OBJECTID,
		.min_objectid = BTRFS_EXTENT_TREE_OBJECTID,
		.max_objectid = BTRFS_EXTENT_TREE_OBJECTID,
		.min_type = BTRFS_ROOT_ITEM_KEY,
		.max_type = BTRFS_ROOT_ITEM_KEY,
		.max_offset = UINT64_MAX,
		.max_transid = UINT64_MAX,
	};
	struct btrfs_ioctl_search_header sh;
	const uint8_t *item;
	struct search s;
	uint64_t gen = 0;
	bool found = false;
	int ret;

	ret = search_init(&s, fd, &key);
	if (ret < 0)
		return ret;
	/* Several with extent-tree-v2 (one per global root id): take the max. */
	while ((ret = search_next(&s, &sh, &item)) > 0) {
		uint64_t g;

		if (sh.type != BTRFS_ROOT_ITEM_KEY ||
		    sh.len < ROOT_ITEM_MIN_LEN)
			continue;
		g = root_item_generation(item);
		if (!found || g > gen)
			gen = g;
		found = true;
	}
	search_fini(&s);
	if (ret < 0)
		return ret;
	if (!found)
		return -ENOENT;
	*ret_gen = gen;
	return 0;
}

/* FS_INFO's generation, less one: see btrfs.h. */
static int fs_info_generation(int fd, uint64_t *ret_gen)
{
	struct btrfs_ioctl_fs_info_args fi;

	memset(&fi, 0, sizeof(fi));
	fi.flags = BTRFS_FS_INFO_FLAG_GENERATION;
	if (ioctl(fd, BTRFS_IOC_FS_INFO, &fi) < 0)
		return -errno;
	/* Older kernels leave the flags they do not know unset. */
	if (!(fi.flags & BTRFS_FS_INFO_FLAG_GENERATION))
		return -EOPNOTSUPP;
	*ret_gen = fi.generation > 0 ? fi.generation - 1 : 0;
	return 0;
}

int btrfs_fs_generation(int fd, uint64_t *ret_gen)
{
	int ret;

	if (!ret_gen)
		return -EINVAL;
	ret = extent_tree_generation(fd, ret_gen);
	if (ret == -EPERM || ret == -ENOENT)
		ret = fs_info_generation(fd, ret_gen);
	return ret;
}

int btrfs_subvols_changed(int fd, uint64_t min_gen, btrfs_subvol_cb cb,
			  void *arg)
{
	/*
	 * A root tree block older than min_gen + 1 cannot hold a ROOT_ITEM
	 * written later. The range also holds the other trees' ROOT_ITEMs
	 * (objectids 6 to 255) and other item types between: filtered below.
	 */
	const struct btrfs_ioctl_search_key key = {
		.tree_id = BTRFS_ROOT_TREE_OBJECTID,
		.min_objectid = BTRFS_FS_TREE_OBJECTID,
		.max_objectid = BTRFS_LAST_FREE_OBJECTID,
		.min_type = BTRFS_ROOT_ITEM_KEY,
		.max_type = BTRFS_ROOT_ITEM_KEY,
		.max_offset = UINT64_MAX,
		.min_transid = min_gen + 1,
		.max_transid = UINT64_MAX,
	};
	struct btrfs_ioctl_search_header sh;
	const uint8_t *item;
	struct search s;
	int ret;

	if (!cb)
		return -EINVAL;
	if (min_gen == UINT64_MAX)
		return 0;
	ret = search_init(&s, fd, &key);
	if (ret < 0)
		return ret;
	while ((ret = search_next(&s, &sh, &item)) > 0) {
		uint64_t gen;

		if (sh.type != BTRFS_ROOT_ITEM_KEY ||
		    sh.len < ROOT_ITEM_MIN_LEN)
			continue;
		if (sh.objectid != BTRFS_FS_TREE_OBJECTID &&
		    sh.objectid < BTRFS_FIRST_FREE_OBJECTID)
			continue;
		gen = root_item_generation(item);
		if (gen <= min_gen || root_item_deleted(item))
			continue;
		ret = cb(arg, sh.objectid, gen);
		if (ret != 0)
			break;
	}
	search_fini(&s);
	return ret;
}

int btrfs_find_new(int fd, uint64_t root_id, uint64_t min_gen, btrfs_new_cb cb,
		   void *arg)
{
	/*
	 * min_transid skips tree blocks not written after min_gen, but a block
	 * written since holds old items too: each item's own generation (the
	 * transaction that wrote its extent) decides. Inodes' other items
	 * (INODE_ITEM, DIR_INDEX, ...) sort in between and are skipped.
	 */
	const struct btrfs_ioctl_search_key key = {
		.tree_id = root_id,
		.min_objectid = BTRFS_FIRST_FREE_OBJECTID,
		.max_objectid = BTRFS_LAST_FREE_OBJECTID,
		.min_type = BTRFS_EXTENT_DATA_KEY,
		.max_type = BTRFS_EXTENT_DATA_KEY,
		.max_offset = UINT64_MAX,
		.min_transid = min_gen + 1,
		.max_transid = UINT64_MAX,
	};
	struct btrfs_ioctl_search_header sh;
	const uint8_t *item;
	uint64_t reported = 0; /* inode numbers start at 256 */
	struct search s;
	int ret;

	if (!cb || root_id == 0)
		return -EINVAL;
	if (min_gen == UINT64_MAX)
		return 0;
	ret = search_init(&s, fd, &key);
	if (ret < 0)
		return ret;
	while ((ret = search_next(&s, &sh, &item)) > 0) {
		if (sh.type != BTRFS_EXTENT_DATA_KEY ||
		    sh.len < FILE_EXTENT_MIN_LEN || sh.objectid == reported)
			goto next;
		if (get_le64(item, offsetof(struct btrfs_file_extent_item,
					    generation)) <= min_gen)
			goto next;
		ret = cb(arg, root_id, sh.objectid);
		if (ret != 0)
			break;
		reported = sh.objectid;
next:
		/* A big file's other extent items need not be fetched. */
		if (reported != 0)
			search_skip_objectid(&s, reported);
	}
	search_fini(&s);
	return ret;
}

int btrfs_inode_new_ranges(int fd, uint64_t root_id, uint64_t ino,
			   uint64_t min_gen, btrfs_range_cb cb, void *arg)
{
	const struct btrfs_ioctl_search_key key = {
		.tree_id = root_id,
		.min_objectid = ino,
		.max_objectid = ino,
		.min_type = BTRFS_EXTENT_DATA_KEY,
		.max_type = BTRFS_EXTENT_DATA_KEY,
		.max_offset = UINT64_MAX,
		.min_transid = min_gen + 1,
		.max_transid = UINT64_MAX,
	};
	struct btrfs_ioctl_search_header sh;
	const uint8_t *item;
	struct search s;
	int ret;

	if (!cb || root_id == 0)
		return -EINVAL;
	if (min_gen == UINT64_MAX)
		return 0;
	ret = search_init(&s, fd, &key);
	if (ret < 0)
		return ret;
	while ((ret = search_next(&s, &sh, &item)) > 0) {
		uint64_t len;
		uint8_t type;

		if (sh.type != BTRFS_EXTENT_DATA_KEY || sh.objectid != ino ||
		    sh.len < FILE_EXTENT_MIN_LEN)
			continue;
		if (get_le64(item, offsetof(struct btrfs_file_extent_item,
					    generation)) <= min_gen)
			continue;
		memcpy(&type, item + offsetof(struct btrfs_file_extent_item,
					      type), 1);
		if (type == BTRFS_FILE_EXTENT_INLINE) {
			len = get_le64(item, offsetof(struct btrfs_file_extent_item,
						      ram_bytes));
		} else {
			if (sh.len < sizeof(struct btrfs_file_extent_item))
				continue;
			len = get_le64(item, offsetof(struct btrfs_file_extent_item,
						      num_bytes));
		}
		ret = cb(arg, sh.offset, len);
		if (ret != 0)
			break;
	}
	search_fini(&s);
	return ret;
}

int btrfs_handle_make(uint64_t root_id, uint64_t ino, void *buf,
		      int32_t *ret_type)
{
	uint64_t le_ino = htole64(ino), le_root = htole64(root_id);
	uint32_t le_gen = 0;
	uint8_t *p = buf;

	if (!buf || !ret_type)
		return -EINVAL;
	/* fs/btrfs/export.h struct btrfs_fid, packed. */
	memcpy(p, &le_ino, sizeof(le_ino));
	memcpy(p + 8, &le_root, sizeof(le_root));
	memcpy(p + 16, &le_gen, sizeof(le_gen));
	*ret_type = BTRFS_FID_TYPE;
	return BTRFS_FID_LEN;
}

/* struct file_handle followed by a btrfs handle. */
union fid_handle {
	struct file_handle fh;
	unsigned char bytes[sizeof(struct file_handle) + BTRFS_FID_LEN];
};

int btrfs_open_inode(int mount_fd, uint64_t root_id, uint64_t ino, int flags)
{
	union fid_handle h;
	int32_t type;
	int fd, len;

	if (flags & O_ACCMODE)
		return -EINVAL;
	memset(&h, 0, sizeof(h));
	len = btrfs_handle_make(root_id, ino, h.fh.f_handle, &type);
	if (len < 0)
		return len;
	h.fh.handle_bytes = (unsigned int)len;
	h.fh.handle_type = type;
	/* Generation 0: btrfs_get_dentry() checks it only when non-zero. */
	fd = open_by_handle_at(mount_fd, &h.fh, O_RDONLY | O_CLOEXEC | flags);
	if (fd < 0)
		return -errno;
	return fd;
}
