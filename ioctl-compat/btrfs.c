// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * btrfs find-new, file extent items and extent backrefs. See btrfs.h.
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
#include <sys/stat.h>
#include <linux/btrfs.h>
#include <linux/btrfs_tree.h>

#include "ioctl-compat/btrfs.h"
#include "ioctl-compat/btrfs-decode.h"
#include "ioctl-compat/btrfs-search.h"

/* Item layouts read here (the structs are packed: read fields by offset). */
#define FILE_EXTENT_MIN_LEN offsetof(struct btrfs_file_extent_item, disk_bytenr)

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
/* The largest root item generation, or the last item's field. */
struct found_u64 {
	uint64_t v;
	bool found;
};

static int take_max_generation(void *arg,
			       const struct btrfs_ioctl_search_header *sh,
			       const uint8_t *item)
{
	struct found_u64 *m = arg;
	uint64_t g = root_item_generation(item);

	(void)sh;
	if (!m->found || g > m->v)
		m->v = g;
	m->found = true;
	return 0;
}

/*
 * The value @take finds in the ROOT_ITEMs of trees [@lo, @hi]. Returns 0,
 * -ENOENT if there are none, or -errno.
 */
static int root_items(int fd, uint64_t lo, uint64_t hi, tree_item_cb take,
		      uint64_t *ret_v)
{
	/* Every offset: a snapshot's is its otransid. */
	const struct btrfs_ioctl_search_key key =
		search_key(BTRFS_ROOT_TREE_OBJECTID, lo, hi,
			   BTRFS_ROOT_ITEM_KEY, BTRFS_ROOT_ITEM_KEY);
	struct found_u64 m = { 0 };
	int ret;

	ret = tree_search_each(fd, &key, ROOT_ITEM_MIN_LEN, take, &m);
	if (ret < 0)
		return ret;
	if (!m.found)
		return -ENOENT;
	*ret_v = m.v;
	return 0;
}

static int extent_tree_generation(int fd, uint64_t *ret_gen)
{
	/* Several with extent-tree-v2 (one per global root id): take the max. */
	return root_items(fd, BTRFS_EXTENT_TREE_OBJECTID,
			  BTRFS_EXTENT_TREE_OBJECTID, take_max_generation,
			  ret_gen);
}

static int take_last_snapshot(void *arg,
			      const struct btrfs_ioctl_search_header *sh,
			      const uint8_t *item)
{
	struct found_u64 *m = arg;

	(void)sh;
	m->v = get_le64(item, offsetof(struct btrfs_root_item, last_snapshot));
	m->found = true;
	return 0;
}

int btrfs_root_last_snapshot(int fd, uint64_t root_id, uint64_t *ret_transid)
{
	if (!ret_transid)
		return -EINVAL;
	return root_items(fd, root_id, root_id, take_last_snapshot,
			  ret_transid);
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

struct changed_ctx {
	uint64_t min_gen;
	btrfs_subvol_cb subvol_cb;
	btrfs_range_cb range_cb;
	void *arg;
};

static int take_changed_root(void *arg,
			     const struct btrfs_ioctl_search_header *sh,
			     const uint8_t *item)
{
	const struct changed_ctx *c = arg;
	uint64_t gen;

	if (sh->objectid != BTRFS_FS_TREE_OBJECTID &&
	    sh->objectid < BTRFS_FIRST_FREE_OBJECTID)
		return 0;
	gen = root_item_generation(item);
	if (gen <= c->min_gen || root_item_deleted(item))
		return 0;
	return c->subvol_cb(c->arg, sh->objectid, gen);
}

int btrfs_subvols_changed(int fd, uint64_t min_gen, btrfs_subvol_cb cb,
			  void *arg)
{
	/*
	 * A root tree block older than min_gen + 1 cannot hold a ROOT_ITEM
	 * written later. The range also holds the other trees' ROOT_ITEMs
	 * (objectids 6 to 255) and other item types between: filtered.
	 */
	const struct btrfs_ioctl_search_key key =
		subvol_roots_key(BTRFS_ROOT_ITEM_KEY, min_gen);
	struct changed_ctx c = { .min_gen = min_gen, .subvol_cb = cb,
				 .arg = arg };

	if (!cb)
		return -EINVAL;
	if (min_gen == UINT64_MAX)
		return 0;
	return tree_search_each(fd, &key, ROOT_ITEM_MIN_LEN, take_changed_root,
				&c);
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
	struct btrfs_ioctl_search_key key =
		search_key(root_id, BTRFS_FIRST_FREE_OBJECTID,
			   BTRFS_LAST_FREE_OBJECTID, BTRFS_EXTENT_DATA_KEY,
			   BTRFS_EXTENT_DATA_KEY);
	struct btrfs_ioctl_search_header sh;
	const uint8_t *item;
	uint64_t reported = 0; /* inode numbers start at 256 */
	struct tree_search s;
	int ret;

	if (!cb || root_id == 0)
		return -EINVAL;
	if (min_gen == UINT64_MAX)
		return 0;
	key.min_transid = min_gen + 1;
	ret = tree_search_init(&s, fd, &key);
	if (ret < 0)
		return ret;
	while ((ret = tree_search_next(&s, &sh, &item)) > 0) {
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
			tree_search_skip_objectid(&s, reported);
	}
	tree_search_fini(&s);
	return ret;
}

static int take_new_range(void *arg,
			  const struct btrfs_ioctl_search_header *sh,
			  const uint8_t *item)
{
	const struct changed_ctx *c = arg;
	uint64_t len;
	uint8_t type;

	if (get_le64(item, offsetof(struct btrfs_file_extent_item,
				    generation)) <= c->min_gen)
		return 0;
	memcpy(&type, item + offsetof(struct btrfs_file_extent_item, type), 1);
	if (type == BTRFS_FILE_EXTENT_INLINE) {
		len = get_le64(item, offsetof(struct btrfs_file_extent_item,
					      ram_bytes));
	} else {
		if (sh->len < sizeof(struct btrfs_file_extent_item))
			return 0;
		len = get_le64(item, offsetof(struct btrfs_file_extent_item,
					      num_bytes));
	}
	return c->range_cb(c->arg, sh->offset, len);
}

int btrfs_inode_new_ranges(int fd, uint64_t root_id, uint64_t ino,
			   uint64_t min_gen, btrfs_range_cb cb, void *arg)
{
	struct btrfs_ioctl_search_key key =
		search_key(root_id, ino, ino, BTRFS_EXTENT_DATA_KEY,
			   BTRFS_EXTENT_DATA_KEY);
	struct changed_ctx c = { .min_gen = min_gen, .range_cb = cb,
				 .arg = arg };

	if (!cb || root_id == 0)
		return -EINVAL;
	if (min_gen == UINT64_MAX)
		return 0;
	key.min_transid = min_gen + 1;
	return tree_search_each(fd, &key, FILE_EXTENT_MIN_LEN, take_new_range,
				&c);
}

struct parent_ctx {
	uint64_t ino, dir;
	char *name;
	size_t len;
};

/* Returns 0 to go on, 1 once the name is in, or -ENAMETOOLONG. */
static int take_parent(void *arg, const struct btrfs_ioctl_search_header *sh,
		       const uint8_t *item)
{
	struct parent_ctx *c = arg;
	const uint8_t *ref_name;
	uint32_t n;

	/* The subvolume's root directory refers to itself as "..". */
	if (sh->offset == c->ino)
		return 0;
	n = btrfs_inode_ref_name(item, sh->len, &ref_name);
	if (n == 0)
		return 0;
	if (n >= c->len)
		return -ENAMETOOLONG;
	memcpy(c->name, ref_name, n);
	c->name[n] = '\0';
	c->dir = sh->offset;
	return 1;
}

int btrfs_inode_parent(int fd, uint64_t root_id, uint64_t ino,
		       uint64_t *ret_dir, char *name, size_t len)
{
	const struct btrfs_ioctl_search_key key =
		search_key(root_id, ino, ino, BTRFS_INODE_REF_KEY,
			   BTRFS_INODE_REF_KEY);
	struct parent_ctx c = { .ino = ino, .name = name, .len = len };
	int ret;

	if (!ret_dir || !name || !len || root_id == 0)
		return -EINVAL;
	ret = tree_search_each(fd, &key, 0, take_parent, &c);
	if (ret == 0)
		return -ENOENT;		/* none in the range */
	if (ret < 0)
		return ret;
	*ret_dir = c.dir;
	return 0;
}

uint32_t btrfs_inode_ref_name(const uint8_t *item, uint32_t len,
			      const uint8_t **ret_name)
{
	const uint32_t ref_len = sizeof(struct btrfs_inode_ref);
	uint16_t n;

	if (len < ref_len)
		return 0;
	memcpy(&n, item + offsetof(struct btrfs_inode_ref, name_len),
	       sizeof(n));
	n = le16toh(n);
	if (n == 0 || n > len - ref_len)
		return 0;
	*ret_name = item + ref_len;
	return n;
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

/* A 64-bit field of the struct btrfs_file_extent_item at @item. */
#define FILE_EXTENT_GET(item, field) \
	get_le64(item, offsetof(struct btrfs_file_extent_item, field))

bool btrfs_file_extent_decode(const struct btrfs_ioctl_search_header *sh,
			      const uint8_t *item,
			      struct btrfs_file_extent *fe)
{
	if (sh->type != BTRFS_EXTENT_DATA_KEY || sh->len < FILE_EXTENT_MIN_LEN)
		return false;
	memset(fe, 0, sizeof(*fe));
	fe->file_off = sh->offset;
	fe->generation = FILE_EXTENT_GET(item, generation);
	fe->type = item[offsetof(struct btrfs_file_extent_item, type)];
	fe->compression =
		item[offsetof(struct btrfs_file_extent_item, compression)];
	/* Inline data starts where disk_bytenr would: no address, no offset. */
	if (fe->type == BTRFS_FILE_EXTENT_INLINE) {
		fe->num_bytes = FILE_EXTENT_GET(item, ram_bytes);
		return true;
	}
	if (sh->len < sizeof(struct btrfs_file_extent_item))
		return false;
	fe->num_bytes = FILE_EXTENT_GET(item, num_bytes);
	fe->disk_bytenr = FILE_EXTENT_GET(item, disk_bytenr);
	fe->disk_num_bytes = FILE_EXTENT_GET(item, disk_num_bytes);
	fe->extent_offset = FILE_EXTENT_GET(item, offset);
	return true;
}

/*
 * Where the first extent item of inode @ino with a key offset in [@lo, @hi]
 * starts, by a search for one item. Returns 1 and sets *@ret_off, 0 if there
 * is none, or -errno.
 */
static int extent_probe(int fd, struct btrfs_ioctl_search_args_v2 *args,
			uint64_t root_id, uint64_t ino, uint64_t lo,
			uint64_t hi, uint64_t *ret_off)
{
	struct btrfs_ioctl_search_header sh;
	const uint8_t *item;
	size_t off = 0;

	memset(&args->key, 0, sizeof(args->key));
	args->key.tree_id = root_id;
	args->key.min_objectid = ino;
	args->key.max_objectid = ino;
	args->key.min_type = BTRFS_EXTENT_DATA_KEY;
	args->key.max_type = BTRFS_EXTENT_DATA_KEY;
	args->key.min_offset = lo;
	args->key.max_offset = hi;
	args->key.max_transid = UINT64_MAX;
	args->key.nr_items = 1;
	args->buf_size = SEARCH_BUF_SIZE;
	if (ioctl(fd, BTRFS_IOC_TREE_SEARCH_V2, args) < 0)
		return -errno;
	if (args->key.nr_items == 0)
		return 0;
	if (tree_search_decode((const uint8_t *)args->buf, SEARCH_BUF_SIZE,
			       &off, &sh, &item) < 0)
		return -EIO;
	/* The bisection in extent_before() needs an item in the range. */
	if (sh.objectid != ino || sh.type != BTRFS_EXTENT_DATA_KEY ||
	    sh.offset < lo || sh.offset > hi)
		return -EIO;
	*ret_off = sh.offset;
	return 1;
}

/*
 * The last extent item of inode @ino with a key offset in [@lo, @hi], read
 * forward. Returns 1 and sets *@ret_fe and *@ret_valid, 0 if there is none,
 * or -errno.
 */
struct last_ctx {
	struct btrfs_file_extent *fe;
	bool *valid;
	int found;
};

static int take_last(void *arg, const struct btrfs_ioctl_search_header *sh,
		     const uint8_t *item)
{
	struct last_ctx *c = arg;

	*c->valid = btrfs_file_extent_decode(sh, item, c->fe);
	c->found = 1;
	return 0;
}

static int extent_last(int fd, uint64_t root_id, uint64_t ino, uint64_t lo,
		       uint64_t hi, struct btrfs_file_extent *ret_fe,
		       bool *ret_valid)
{
	struct btrfs_ioctl_search_key key =
		search_key(root_id, ino, ino, BTRFS_EXTENT_DATA_KEY,
			   BTRFS_EXTENT_DATA_KEY);
	struct last_ctx c = { .fe = ret_fe, .valid = ret_valid };
	int ret;

	key.min_offset = lo;
	key.max_offset = hi;
	ret = tree_search_each(fd, &key, 0, take_last, &c);
	return ret < 0 ? ret : c.found;
}

/*
 * A window this wide is read whole: with items at 4 KiB boundaries at least,
 * that is at most 256 items, 22 KiB, one search.
 */
#define BEFORE_SCAN (1024 * 1024)

/*
 * The last extent item of inode @ino with a key offset below @start.
 * TREE_SEARCH only walks forward, and reading every item from offset 0 on
 * costs as much as the file is fragmented. Instead, the BEFORE_SCAN bytes
 * before @start are read; if they hold no item start, windows further back,
 * each 4 times as wide, are probed for one item until one is found; the range
 * from that item to the window's end (the windows after it were empty) is
 * then halved down to BEFORE_SCAN bytes by one-item probes, and read.
 * Returns 1 and sets *@ret_fe and *@ret_valid, 0 if there is no such item, or
 * -errno.
 */
static int extent_before(int fd, uint64_t root_id, uint64_t ino, uint64_t start,
			 struct btrfs_file_extent *ret_fe, bool *ret_valid)
{
	struct btrfs_ioctl_search_args_v2 *args = NULL;
	uint64_t width = BEFORE_SCAN, lo, hi = start, off = 0, mid;
	int ret;

	if (start == 0)
		return 0;
	/* No item starts in [hi, start). */
	for (;;) {
		lo = width < start ? start - width : 0;
		if (hi - lo <= BEFORE_SCAN) {
			ret = extent_last(fd, root_id, ino, lo, hi - 1, ret_fe,
					  ret_valid);
			if (ret != 0)
				goto out;
		} else {
			if (!args) {
				args = calloc(1,
					      sizeof(*args) + SEARCH_BUF_SIZE);
				if (!args)
					return -ENOMEM;
			}
			ret = extent_probe(fd, args, root_id, ino, lo, hi - 1,
					   &off);
			if (ret < 0)
				goto out;
			if (ret > 0)
				break;
		}
		if (lo == 0)
			goto out; /* ret is 0 */
		hi = lo;
		width = width > start / 4 ? start : width * 4;
	}
	/* An item starts at off, the last one before start in [off, hi). */
	lo = off;
	while (hi - lo > BEFORE_SCAN) {
		mid = lo + (hi - lo) / 2;
		ret = extent_probe(fd, args, root_id, ino, mid, hi - 1, &off);
		if (ret < 0)
			goto out;
		if (ret > 0)
			lo = off;
		else
			hi = mid;
	}
	ret = extent_last(fd, root_id, ino, lo, hi - 1, ret_fe, ret_valid);
out:
	free(args);
	return ret;
}

int btrfs_file_extents(int fd, uint64_t root_id, uint64_t ino, uint64_t start,
		       uint64_t end, btrfs_extent_cb cb, void *arg)
{
	struct btrfs_ioctl_search_key key =
		search_key(root_id, ino, ino, BTRFS_EXTENT_DATA_KEY,
			   BTRFS_EXTENT_DATA_KEY);
	struct btrfs_ioctl_search_header sh;
	struct btrfs_file_extent fe;
	const uint8_t *item;
	struct tree_search s;
	bool valid;
	int ret, stop = 0;

	if (!cb || root_id == 0)
		return -EINVAL;
	if (end <= start)
		return 0;
	key.min_offset = start;
	key.max_offset = end - 1;
	ret = tree_search_init(&s, fd, &key);
	if (ret < 0)
		return ret;
	/*
	 * The first batch is in before the item before @start is looked for:
	 * an item starting right at @start (the usual case when @start is an
	 * extent boundary) makes that look-up needless. The batch stays in
	 * s.args meanwhile.
	 */
	ret = tree_search_next(&s, &sh, &item);
	if (ret >= 0 && start > 0 && (ret == 0 || sh.offset != start)) {
		int found = extent_before(fd, root_id, ino, start, &fe, &valid);

		if (found < 0) {
			ret = found;
			goto out;
		}
		/* fe.file_off < start: the difference cannot wrap. */
		if (found && valid && fe.num_bytes > start - fe.file_off) {
			stop = cb(arg, &fe);
			if (stop != 0)
				goto out;
		}
	}
	while (ret > 0) {
		if (sh.objectid == ino && btrfs_file_extent_decode(&sh, item, &fe)) {
			stop = cb(arg, &fe);
			if (stop != 0)
				goto out;
		}
		ret = tree_search_next(&s, &sh, &item);
	}
out:
	tree_search_fini(&s);
	if (stop != 0)
		return stop;
	return ret < 0 ? ret : 0;
}

int btrfs_file_root(int fd, uint64_t *ret_root, uint64_t *ret_ino)
{
	struct btrfs_ioctl_ino_lookup_args args;
	struct stat st;

	if (!ret_root || !ret_ino)
		return -EINVAL;
	/*
	 * Tree id 0 asks for the subvolume of @fd; for its root directory's
	 * inode the kernel answers before it checks for CAP_SYS_ADMIN (Linux
	 * 4.18 and later; before, it needs the capability).
	 */
	memset(&args, 0, sizeof(args));
	args.objectid = BTRFS_FIRST_FREE_OBJECTID;
	if (ioctl(fd, BTRFS_IOC_INO_LOOKUP, &args) < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		return -errno;
	*ret_root = args.treeid;
	*ret_ino = st.st_ino;
	return 0;
}

/* LOGICAL_INO_V2 result buffer: the first size, and the kernel's limit. */
#define REFS_BUF_MIN (64 * 1024)
#define REFS_BUF_MAX (16 * 1024 * 1024)

/*
 * The references to the extent at @bytenr, into a buffer of @size bytes.
 * Returns 0 and sets *@ret_dc (to free), 1 and sets *@ret_size to the size to
 * try next if the buffer was too small, or -errno.
 */
static int logical_ino(int fd, uint64_t bytenr, uint64_t flags, uint32_t size,
		       struct btrfs_data_container **ret_dc, uint32_t *ret_size)
{
	struct btrfs_ioctl_logical_ino_args loi;
	struct btrfs_data_container *dc;
	int ret;

	dc = calloc(1, size);
	if (!dc)
		return -ENOMEM;
	memset(&loi, 0, sizeof(loi));
	loi.logical = bytenr;
	loi.size = size;
	loi.flags = flags;
	loi.inodes = (uintptr_t)dc;
	if (ioctl(fd, BTRFS_IOC_LOGICAL_INO_V2, &loi) < 0) {
		int err = -errno;

		free(dc);
		return err;
	}
	ret = btrfs_refs_check(dc, size, ret_size);
	if (ret == 0)
		*ret_dc = dc;
	else
		free(dc);
	return ret;
}

int btrfs_refs_check(const struct btrfs_data_container *dc, uint32_t size,
		     uint32_t *ret_size)
{
	uint64_t want, next;

	if (size < sizeof(*dc))
		return -EIO;
	/* A count to index with: check it. */
	if (dc->elem_cnt % 3 != 0 ||
	    dc->elem_cnt > (size - sizeof(*dc)) / sizeof(dc->val[0]))
		return -EIO;
	if (dc->elem_missed == 0)
		return 0;
	if (size >= REFS_BUF_MAX)
		return -E2BIG;
	/* More references may come before the next call: room to spare. */
	want = (uint64_t)size + dc->bytes_missing;
	next = (uint64_t)size * 4;
	if (next < want)
		next = want;
	*ret_size = next < REFS_BUF_MAX ? (uint32_t)next : REFS_BUF_MAX;
	return 1;
}

int btrfs_refs_walk(const struct btrfs_data_container *dc, btrfs_ref_cb cb,
		    void *arg)
{
	int ret = 0;

	/* Triples (inode, key offset, root): fs/btrfs build_ino_list(). */
	for (uint32_t i = 0; i < dc->elem_cnt; i += 3) {
		ret = cb(arg, dc->val[i + 2], dc->val[i], dc->val[i + 1]);
		if (ret != 0)
			break;
	}
	return ret;
}

static int extent_refs(int fd, uint64_t bytenr, uint64_t flags,
		       btrfs_ref_cb cb, void *arg)
{
	struct btrfs_data_container *dc = NULL;
	uint32_t size = REFS_BUF_MIN;
	int ret;

	if (!cb)
		return -EINVAL;
	while ((ret = logical_ino(fd, bytenr, flags, size, &dc, &size)) > 0)
		;
	if (ret < 0 || !dc)
		return ret < 0 ? ret : -EIO; /* !dc: for the compiler */
	ret = btrfs_refs_walk(dc, cb, arg);
	free(dc);
	return ret;
}

int btrfs_extent_refs(int fd, uint64_t bytenr, btrfs_ref_cb cb, void *arg)
{
	return extent_refs(fd, bytenr, BTRFS_LOGICAL_INO_ARGS_IGNORE_OFFSET, cb,
			   arg);
}

int btrfs_extent_refs_at(int fd, uint64_t logical, btrfs_ref_cb cb, void *arg)
{
	return extent_refs(fd, logical, 0, cb, arg);
}

int btrfs_subvol_readonly(int fd)
{
	uint64_t flags = 0;

	/* GETFLAGS answers for the subvolume of any inode (unlike SETFLAGS). */
	if (ioctl(fd, BTRFS_IOC_SUBVOL_GETFLAGS, &flags) < 0)
		return -errno;
	return (flags & BTRFS_SUBVOL_RDONLY) ? 1 : 0;
}
