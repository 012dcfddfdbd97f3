// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * btrfs find-new and file extent items against a fake kernel that serves a
 * sorted table of tree items the way BTRFS_IOC_TREE_SEARCH_V2 does (key range
 * compared as whole keys, transid filter on the item's leaf, nr_items and
 * buffer limits), answers BTRFS_IOC_FS_INFO and BTRFS_IOC_INO_LOOKUP, and
 * lists extent references as BTRFS_IOC_LOGICAL_INO_V2 does.
 * Wraps: ioctl, open_by_handle_at, fstat64 (what fstat() links to with
 * _FILE_OFFSET_BITS=64).
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <linux/btrfs.h>
#include <linux/btrfs_tree.h>

#include <cmocka.h>

#include "ioctl-compat/btrfs.h"
#include "tests/unit/fake-search.h"

#define MAX_ITEMS 4096
#define MAX_CALLS 32
#define MAX_SEEN 64
#define OLD 10 /* min_gen in most tests */

int __wrap_ioctl(int fd, unsigned long request, ...);
int __wrap_open_by_handle_at(int mount_fd, struct file_handle *fh, int flags);
int __wrap_fstat64(int fd, struct stat *st);

enum item_kind { RAW, EXTENT, ROOT, REF };

struct fake_item {
	FAKE_KEY;
	enum item_kind kind;
	uint64_t gen; /* EXTENT, ROOT: the item's generation field */
	uint8_t extent_type; /* EXTENT */
	uint64_t bytes; /* EXTENT: num_bytes, or ram_bytes if inline */
	uint64_t disk_bytenr, disk_num_bytes, extent_offset; /* EXTENT */
	uint8_t compression; /* EXTENT */
	uint32_t refs; /* ROOT */
	uint64_t flags; /* ROOT */
	uint64_t last_snapshot; /* ROOT */
	const char *name; /* REF */
};

static struct {
	uint64_t tree_id; /* the only tree there is */
	struct fake_item item[MAX_ITEMS];
	unsigned int n;
	unsigned int max_per_call; /* 0: no limit but nr_items and buffer */
	int fail_at; /* call number (1-based) that fails */
	int fail_errno;
	uint32_t bogus_len; /* non-zero: first header claims this length */
	uint64_t fs_gen; /* FS_INFO */
	int fs_info_no_gen; /* an old kernel: flag not known */

	int calls;
	struct {
		int fd;
		unsigned long request;
		struct btrfs_ioctl_search_key key;
		uint64_t buf_size;
		uint64_t fi_flags;
	} call[MAX_CALLS];

	/* open_by_handle_at */
	int open_calls;
	int open_mount_fd, open_flags;
	unsigned int open_bytes;
	int open_type;
	uint8_t open_handle[BTRFS_FID_LEN];
	int open_errno; /* non-zero: fail */

	/* INO_LOOKUP: the subvolume of every fd */
	uint64_t fd_root;
	uint64_t lookup_objectid, lookup_treeid; /* as asked */
	/* fstat */
	uint64_t st_ino;
	int fstat_errno; /* non-zero: fail */
	int fstat_calls;

	/*
	 * LOGICAL_INO_V2: ref i is ref[i] for i < 16, else made up: (root
	 * 1000 + i, inode 257, offset i * 4096). None: ENOENT.
	 */
	uint32_t nrefs;
	struct {
		uint64_t root, ino, offset;
	} ref[16];
	uint32_t bogus_elem_cnt; /* non-zero: answer this elem_cnt */
	struct {
		uint64_t logical, size, flags, reserved[3];
	} loi[MAX_CALLS];
	int loi_calls;
} k;

/* What the callbacks saw. */
static struct {
	unsigned int n;
	uint64_t root[MAX_SEEN], id[MAX_SEEN], gen[MAX_SEEN];
	unsigned int stop_at; /* 1-based callback that returns stop_value */
	int stop_value;
} seen;

static struct fake_item *add_item(uint64_t objectid, uint32_t type,
				  uint64_t offset, uint64_t transid,
				  uint32_t len)
{
	struct fake_item *it;

	assert_true(k.n < MAX_ITEMS);
	if (k.n > 0) {
		const struct fake_item *p = &k.item[k.n - 1];

		assert_true(fake_key_cmp(p->objectid, p->type, p->offset, objectid,
				    type, offset) < 0);
	}
	it = &k.item[k.n++];
	*it = (struct fake_item){
		.objectid = objectid,
		.type = type,
		.offset = offset,
		.transid = transid,
		.len = len,
	};
	return it;
}

/* A file extent item written in @gen, in a leaf last written in @transid. */
static void add_extent(uint64_t ino, uint64_t offset, uint64_t transid,
		       uint64_t gen, uint8_t type)
{
	uint32_t len = type == BTRFS_FILE_EXTENT_INLINE ?
			       21 + 5 : /* odd: the next header is unaligned */
			       sizeof(struct btrfs_file_extent_item);
	struct fake_item *it =
		add_item(ino, BTRFS_EXTENT_DATA_KEY, offset, transid, len);

	it->kind = EXTENT;
	it->gen = gen;
	it->extent_type = type;
}

static void add_root(uint64_t id, uint64_t offset, uint64_t transid,
		     uint64_t gen, uint32_t refs, uint64_t flags)
{
	struct fake_item *it = add_item(id, BTRFS_ROOT_ITEM_KEY, offset,
					transid,
					sizeof(struct btrfs_root_item));

	it->kind = ROOT;
	it->gen = gen;
	it->refs = refs;
	it->flags = flags;
}

static void fill_item(const void *item, uint8_t *p)
{
	const struct fake_item *it = item;
	uint64_t le64;
	uint32_t le32;

	memset(p, 0xa5, it->len);
	if (it->kind == EXTENT) {
		le64 = htole64(it->gen);
		memcpy(p + offsetof(struct btrfs_file_extent_item, generation),
		       &le64, sizeof(le64));
		p[offsetof(struct btrfs_file_extent_item, type)] =
			it->extent_type;
		le64 = htole64(it->bytes);
		memcpy(p + offsetof(struct btrfs_file_extent_item, ram_bytes),
		       &le64, sizeof(le64));
		p[offsetof(struct btrfs_file_extent_item, compression)] =
			it->compression;
		if (it->len >= sizeof(struct btrfs_file_extent_item)) {
			memcpy(p + offsetof(struct btrfs_file_extent_item,
					    num_bytes),
			       &le64, sizeof(le64));
			le64 = htole64(it->disk_bytenr);
			memcpy(p + offsetof(struct btrfs_file_extent_item,
					    disk_bytenr),
			       &le64, sizeof(le64));
			le64 = htole64(it->disk_num_bytes);
			memcpy(p + offsetof(struct btrfs_file_extent_item,
					    disk_num_bytes),
			       &le64, sizeof(le64));
			le64 = htole64(it->extent_offset);
			memcpy(p + offsetof(struct btrfs_file_extent_item,
					    offset),
			       &le64, sizeof(le64));
		}
	} else if (it->kind == REF) {
		uint16_t le16 = htole16((uint16_t)strlen(it->name));

		memcpy(p + offsetof(struct btrfs_inode_ref, name_len), &le16,
		       sizeof(le16));
		memcpy(p + sizeof(struct btrfs_inode_ref), it->name,
		       strlen(it->name));
	} else if (it->kind == ROOT) {
		le64 = htole64(it->gen);
		memcpy(p + offsetof(struct btrfs_root_item, generation), &le64,
		       sizeof(le64));
		le64 = htole64(it->flags);
		memcpy(p + offsetof(struct btrfs_root_item, flags), &le64,
		       sizeof(le64));
		le32 = htole32(it->refs);
		memcpy(p + offsetof(struct btrfs_root_item, refs), &le32,
		       sizeof(le32));
		le64 = htole64(it->last_snapshot);
		memcpy(p + offsetof(struct btrfs_root_item, last_snapshot),
		       &le64, sizeof(le64));
	}
}

static int fake_search(struct btrfs_ioctl_search_args_v2 *args)
{
	const struct fake_table t = {
		.items = k.item,
		.size = sizeof(k.item[0]),
		.n = k.n,
		.max_per_call = k.max_per_call,
		.bogus_len = k.bogus_len,
		.fill = fill_item,
	};

	if (args->key.tree_id != k.tree_id) {
		errno = ENOENT;
		return -1;
	}
	fake_search_answer(&t, args);
	return 0;
}

static void ref_of(uint32_t i, uint64_t *root, uint64_t *ino, uint64_t *off)
{
	if (i < 16) {
		*root = k.ref[i].root;
		*ino = k.ref[i].ino;
		*off = k.ref[i].offset;
	} else {
		*root = 1000 + i;
		*ino = 257;
		*off = i * 4096ULL;
	}
}

/* fs/btrfs/ioctl.c btrfs_ioctl_logical_to_ino(), backref.c build_ino_list() */
static int fake_logical_ino(struct btrfs_ioctl_logical_ino_args *loi)
{
	struct btrfs_data_container *dc =
		(struct btrfs_data_container *)(uintptr_t)loi->inodes;
	uint64_t size = loi->size < 16 * 1024 * 1024 ? loi->size :
						       16 * 1024 * 1024;
	const uint32_t c = 3 * sizeof(uint64_t);

	if (k.loi_calls < MAX_CALLS) {
		k.loi[k.loi_calls].logical = loi->logical;
		k.loi[k.loi_calls].size = loi->size;
		k.loi[k.loi_calls].flags = loi->flags;
		memcpy(k.loi[k.loi_calls].reserved, loi->reserved,
		       sizeof(loi->reserved));
	}
	k.loi_calls++;
	if (k.nrefs == 0) {
		errno = ENOENT;
		return -1;
	}
	assert_true(size >= sizeof(*dc));
	memset(dc, 0, sizeof(*dc));
	dc->bytes_left = (uint32_t)(size - sizeof(*dc));
	for (uint32_t i = 0; i < k.nrefs; i++) {
		uint64_t root, ino, off;

		if (dc->bytes_left < c) {
			dc->bytes_missing += c - dc->bytes_left;
			dc->bytes_left = 0;
			dc->elem_missed += 3;
			continue;
		}
		ref_of(i, &root, &ino, &off);
		dc->bytes_left -= c;
		dc->val[dc->elem_cnt] = ino;
		dc->val[dc->elem_cnt + 1] = off;
		dc->val[dc->elem_cnt + 2] = root;
		dc->elem_cnt += 3;
	}
	if (k.bogus_elem_cnt)
		dc->elem_cnt = k.bogus_elem_cnt;
	return 0;
}

int __wrap_fstat64(int fd, struct stat *st)
{
	(void)fd;
	k.fstat_calls++;
	if (k.fstat_errno) {
		errno = k.fstat_errno;
		return -1;
	}
	memset(st, 0, sizeof(*st));
	st->st_mode = S_IFREG | 0644;
	st->st_ino = k.st_ino;
	return 0;
}

int __wrap_ioctl(int fd, unsigned long request, ...)
{
	void *argp;
	va_list ap;

	va_start(ap, request);
	argp = va_arg(ap, void *);
	va_end(ap);

	if (k.calls < MAX_CALLS) {
		k.call[k.calls].fd = fd;
		k.call[k.calls].request = request;
		if (request == BTRFS_IOC_TREE_SEARCH_V2) {
			struct btrfs_ioctl_search_args_v2 *a = argp;

			k.call[k.calls].key = a->key;
			k.call[k.calls].buf_size = a->buf_size;
		} else if (request == BTRFS_IOC_FS_INFO) {
			struct btrfs_ioctl_fs_info_args *fi = argp;

			k.call[k.calls].fi_flags = fi->flags;
		}
	}
	k.calls++;
	if (k.calls == k.fail_at) {
		errno = k.fail_errno;
		return -1;
	}
	if (request == BTRFS_IOC_TREE_SEARCH_V2)
		return fake_search(argp);
	if (request == BTRFS_IOC_LOGICAL_INO_V2)
		return fake_logical_ino(argp);
	if (request == BTRFS_IOC_INO_LOOKUP) {
		struct btrfs_ioctl_ino_lookup_args *a = argp;

		k.lookup_objectid = a->objectid;
		k.lookup_treeid = a->treeid;
		if (a->treeid == 0)
			a->treeid = k.fd_root;
		a->name[0] = '\0';
		return 0;
	}
	if (request == BTRFS_IOC_FS_INFO) {
		struct btrfs_ioctl_fs_info_args *fi = argp;
		uint64_t flags_in = fi->flags;

		memset(fi, 0, sizeof(*fi));
		if ((flags_in & BTRFS_FS_INFO_FLAG_GENERATION) &&
		    !k.fs_info_no_gen) {
			fi->flags |= BTRFS_FS_INFO_FLAG_GENERATION;
			fi->generation = k.fs_gen;
		}
		return 0;
	}
	errno = ENOTTY;
	return -1;
}

int __wrap_open_by_handle_at(int mount_fd, struct file_handle *fh, int flags)
{
	k.open_calls++;
	k.open_mount_fd = mount_fd;
	k.open_flags = flags;
	k.open_bytes = fh->handle_bytes;
	k.open_type = fh->handle_type;
	assert_true(fh->handle_bytes <= sizeof(k.open_handle));
	memcpy(k.open_handle, fh->f_handle, fh->handle_bytes);
	if (k.open_errno) {
		errno = k.open_errno;
		return -1;
	}
	return 42;
}

static int record(uint64_t root, uint64_t id, uint64_t gen)
{
	assert_true(seen.n < MAX_SEEN);
	seen.root[seen.n] = root;
	seen.id[seen.n] = id;
	seen.gen[seen.n] = gen;
	seen.n++;
	if (seen.n == seen.stop_at)
		return seen.stop_value;
	return 0;
}

static int new_cb(void *arg, uint64_t root_id, uint64_t ino)
{
	assert_ptr_equal(arg, &seen);
	return record(root_id, ino, 0);
}

static int subvol_cb(void *arg, uint64_t root_id, uint64_t generation)
{
	assert_ptr_equal(arg, &seen);
	return record(0, root_id, generation);
}

static int reset(void **state)
{
	(void)state;
	memset(&k, 0, sizeof(k));
	memset(&seen, 0, sizeof(seen));
	return 0;
}

static void expect_seen(const uint64_t *ids, unsigned int n)
{
	assert_int_equal(seen.n, n);
	for (unsigned int i = 0; i < n; i++)
		assert_int_equal(seen.id[i], ids[i]);
}

static void expect_search_from(int call, uint64_t objectid, uint32_t type,
			       uint64_t offset)
{
	assert_true(call < k.calls);
	assert_true(k.call[call].request == BTRFS_IOC_TREE_SEARCH_V2);
	assert_int_equal(k.call[call].key.min_objectid, objectid);
	assert_int_equal(k.call[call].key.min_type, type);
	assert_int_equal(k.call[call].key.min_offset, offset);
}

static struct {
	unsigned int n;
	uint64_t off[16], len[16];
} ranges;

static int range_cb(void *arg, uint64_t off, uint64_t len)
{
	(void)arg;
	assert_true(ranges.n < 16);
	ranges.off[ranges.n] = off;
	ranges.len[ranges.n++] = len;
	return ranges.n == 3 ? 42 : 0;
}

static void inode_new_ranges_of_one_inode(void **state)
{
	const struct btrfs_ioctl_search_key *key;

	(void)state;
	memset(&ranges, 0, sizeof(ranges));
	k.tree_id = 258;
	add_extent(300, 0, 12, OLD, BTRFS_FILE_EXTENT_REG);	/* old */
	k.item[k.n - 1].bytes = 8192;
	add_extent(300, 8192, 12, OLD + 1, BTRFS_FILE_EXTENT_REG);
	k.item[k.n - 1].bytes = 4096;
	add_extent(300, 12288, 12, OLD, BTRFS_FILE_EXTENT_REG); /* old */
	k.item[k.n - 1].bytes = 4096;
	add_extent(300, 16384, 12, OLD + 3, BTRFS_FILE_EXTENT_PREALLOC);
	k.item[k.n - 1].bytes = 65536;

	assert_int_equal(btrfs_inode_new_ranges(5, 258, 300, OLD, range_cb,
						NULL), 0);
	assert_int_equal(ranges.n, 2);
	assert_int_equal(ranges.off[0], 8192);
	assert_int_equal(ranges.len[0], 4096);
	assert_int_equal(ranges.off[1], 16384);
	assert_int_equal(ranges.len[1], 65536);
	key = &k.call[0].key;
	assert_int_equal(key->tree_id, 258);
	assert_int_equal(key->min_objectid, 300);
	assert_int_equal(key->max_objectid, 300);
	assert_int_equal(key->min_type, BTRFS_EXTENT_DATA_KEY);
	assert_int_equal(key->max_type, BTRFS_EXTENT_DATA_KEY);
	assert_int_equal(key->min_transid, OLD + 1);

	/* An inline extent counts its ram_bytes; a stop value comes back. */
	add_extent(300, 131072, 12, OLD + 1, BTRFS_FILE_EXTENT_INLINE);
	k.item[k.n - 1].bytes = 100;
	memset(&ranges, 0, sizeof(ranges));
	k.calls = 0;
	assert_int_equal(btrfs_inode_new_ranges(5, 258, 300, OLD, range_cb,
						NULL), 42);
	assert_int_equal(ranges.n, 3);
	assert_int_equal(ranges.len[2], 100);

	k.fail_at = k.calls + 1;
	k.fail_errno = EPERM;
	assert_int_equal(btrfs_inode_new_ranges(5, 258, 300, OLD, range_cb,
						NULL), -EPERM);
	assert_int_equal(btrfs_inode_new_ranges(5, 0, 300, OLD, range_cb,
						NULL), -EINVAL);
}

static void find_new_filters_by_generation(void **state)
{
	static const uint64_t want[] = { 257, 258, 259, 261 };
	const struct btrfs_ioctl_search_key *key;

	(void)state;
	k.tree_id = 257;
	add_item(256, BTRFS_INODE_ITEM_KEY, 0, 12, 160);
	add_item(256, BTRFS_DIR_INDEX_KEY, 2, 12, 40);
	/* In a new leaf, but written before min_gen. */
	add_extent(256, 0, 12, 5, BTRFS_FILE_EXTENT_REG);
	add_item(257, BTRFS_INODE_ITEM_KEY, 0, 12, 160);
	add_extent(257, 0, 12, OLD + 1, BTRFS_FILE_EXTENT_REG);
	add_extent(258, 0, 12, 12, BTRFS_FILE_EXTENT_INLINE);
	add_extent(259, 0, 12, OLD, BTRFS_FILE_EXTENT_REG); /* not after */
	add_extent(259, 4096, 12, OLD + 1, BTRFS_FILE_EXTENT_PREALLOC);
	/* Too short to be a file extent item. */
	add_item(260, BTRFS_EXTENT_DATA_KEY, 0, 12, 20);
	add_extent(260, 4096, 12, OLD, BTRFS_FILE_EXTENT_INLINE);
	add_extent(261, 0, 12, OLD + 2, BTRFS_FILE_EXTENT_REG);
	/* In a leaf the kernel skips: old. */
	add_extent(262, 0, OLD, OLD, BTRFS_FILE_EXTENT_REG);

	assert_int_equal(btrfs_find_new(7, 257, OLD, new_cb, &seen), 0);
	expect_seen(want, 4);
	for (unsigned int i = 0; i < seen.n; i++)
		assert_int_equal(seen.root[i], 257);

	assert_int_equal(k.calls, 2);
	assert_int_equal(k.call[0].fd, 7);
	key = &k.call[0].key;
	assert_int_equal(key->tree_id, 257);
	assert_int_equal(key->min_objectid, BTRFS_FIRST_FREE_OBJECTID);
	assert_int_equal(key->max_objectid, BTRFS_LAST_FREE_OBJECTID);
	assert_int_equal(key->min_type, BTRFS_EXTENT_DATA_KEY);
	assert_int_equal(key->max_type, BTRFS_EXTENT_DATA_KEY);
	assert_int_equal(key->min_offset, 0);
	assert_int_equal(key->max_offset, UINT64_MAX);
	assert_int_equal(key->min_transid, OLD + 1);
	assert_int_equal(key->max_transid, UINT64_MAX);
	assert_true(k.call[0].buf_size >= 64 * 1024);
	/* 261 was reported from the last item: the second call skips it. */
	expect_search_from(1, 262, BTRFS_EXTENT_DATA_KEY, 0);
}

static void find_new_one_callback_per_inode(void **state)
{
	static const uint64_t want[] = { 300, 301, 302 };

	(void)state;
	k.tree_id = 5;
	for (unsigned int i = 0; i < 1000; i++)
		add_extent(300, i * 4096ULL, 20, i % 3 ? 20 : 5,
			   BTRFS_FILE_EXTENT_REG);
	for (unsigned int i = 0; i < 3; i++)
		add_extent(301, i * 4096ULL, 20, 20, BTRFS_FILE_EXTENT_REG);
	/* Many new items in many batches, the first new one late. */
	for (unsigned int i = 0; i < 250; i++)
		add_extent(302, i * 4096ULL, 20, i < 230 ? 5 : 20,
			   BTRFS_FILE_EXTENT_REG);
	k.max_per_call = 100;

	assert_int_equal(btrfs_find_new(3, 5, OLD, new_cb, &seen), 0);
	expect_seen(want, 3);
	/*
	 * 300 is reported from the first batch: the rest of its items are
	 * not fetched, the next batch starts at the next inode.
	 */
	expect_search_from(0, BTRFS_FIRST_FREE_OBJECTID, BTRFS_EXTENT_DATA_KEY,
			   0);
	expect_search_from(1, 301, BTRFS_EXTENT_DATA_KEY, 0);
	/* 301 and the first 97 of 302 (old), then on after the last one. */
	expect_search_from(2, 302, BTRFS_EXTENT_DATA_KEY, 96 * 4096 + 1);
	expect_search_from(3, 302, BTRFS_EXTENT_DATA_KEY, 196 * 4096 + 1);
	/* 302 reported in that batch, which ended inside 302: skip it. */
	expect_search_from(4, 303, BTRFS_EXTENT_DATA_KEY, 0);
	assert_int_equal(k.calls, 5);
}

static void find_new_key_advances_with_carry(void **state)
{
	static const uint64_t want[] = { 257, 258 };

	(void)state;
	k.tree_id = 5;
	/* The last possible offset: carries into the type. */
	add_extent(256, UINT64_MAX, 20, 5, BTRFS_FILE_EXTENT_REG);
	/* The last type in a range that spans objectids: carries further. */
	add_item(256, UINT8_MAX, UINT64_MAX, 20, 8);
	add_item(257, BTRFS_INODE_ITEM_KEY, 0, 20, 160);
	add_extent(257, 0, 20, 20, BTRFS_FILE_EXTENT_REG);
	add_extent(258, 8192, 20, 20, BTRFS_FILE_EXTENT_REG);
	k.max_per_call = 1;

	assert_int_equal(btrfs_find_new(3, 5, OLD, new_cb, &seen), 0);
	expect_seen(want, 2);
	expect_search_from(1, 256, BTRFS_EXTENT_DATA_KEY + 1, 0);
	expect_search_from(2, 257, 0, 0);
	expect_search_from(3, 257, BTRFS_INODE_ITEM_KEY, 1);
	expect_search_from(4, 258, BTRFS_EXTENT_DATA_KEY, 0);
	expect_search_from(5, 259, BTRFS_EXTENT_DATA_KEY, 0);
	assert_int_equal(k.calls, 6);
}

static int count_cb(void *arg, uint64_t root_id, uint64_t ino)
{
	uint64_t *next = arg;

	(void)root_id;
	assert_int_equal(ino, *next);
	(*next)++;
	return 0;
}

static void find_new_many_batches(void **state)
{
	const unsigned int n = 3000; /* 58 bytes each: about 170 KiB */
	uint64_t next = 256;

	(void)state;
	k.tree_id = 5;
	for (unsigned int i = 0; i < n; i++)
		add_extent(256 + i, 0, 20, 20, BTRFS_FILE_EXTENT_INLINE);

	assert_int_equal(btrfs_find_new(3, 5, OLD, count_cb, &next), 0);
	assert_int_equal(next, 256 + n);
	/* Filled buffers, then the empty answer that ends the search. */
	assert_true(k.calls >= 3);
	for (int i = 1; i < k.calls; i++)
		assert_true(k.call[i].key.min_objectid >
			    k.call[i - 1].key.min_objectid);
}

static void find_new_stop_value_returned(void **state)
{
	static const uint64_t want[] = { 256, 257 };

	(void)state;
	k.tree_id = 5;
	for (unsigned int i = 0; i < 4; i++)
		add_extent(256 + i, 0, 20, 20, BTRFS_FILE_EXTENT_REG);
	seen.stop_at = 2;
	seen.stop_value = 7;
	assert_int_equal(btrfs_find_new(3, 5, OLD, new_cb, &seen), 7);
	expect_seen(want, 2);
	assert_int_equal(k.calls, 1);

	/* A negative value is the callback's too, returned as it is. */
	memset(&seen, 0, sizeof(seen));
	seen.stop_at = 1;
	seen.stop_value = -ECANCELED;
	assert_int_equal(btrfs_find_new(3, 5, OLD, new_cb, &seen), -ECANCELED);
	assert_int_equal(seen.n, 1);
}

static void find_new_errors_propagate(void **state)
{
	static const uint64_t want[] = { 256, 257 };

	(void)state;
	k.tree_id = 5;
	for (unsigned int i = 0; i < 4; i++)
		add_extent(256 + i, 0, 20, 20, BTRFS_FILE_EXTENT_REG);
	k.fail_at = 1;
	k.fail_errno = EPERM;
	assert_int_equal(btrfs_find_new(3, 5, OLD, new_cb, &seen), -EPERM);
	assert_int_equal(seen.n, 0);

	/* After some callbacks: the error still comes out. */
	k.calls = 0;
	k.max_per_call = 2;
	k.fail_at = 2;
	k.fail_errno = EIO;
	assert_int_equal(btrfs_find_new(3, 5, OLD, new_cb, &seen), -EIO);
	expect_seen(want, 2);

	/* No such tree. */
	k.calls = 0;
	k.fail_at = 0;
	assert_int_equal(btrfs_find_new(3, 999, OLD, new_cb, &seen), -ENOENT);

	/* A header that runs past the buffer. */
	k.calls = 0;
	k.bogus_len = 70000;
	assert_int_equal(btrfs_find_new(3, 5, OLD, new_cb, &seen), -EIO);
	expect_seen(want, 2);
}

static void find_new_bad_arguments(void **state)
{
	(void)state;
	k.tree_id = 5;
	add_extent(256, 0, 20, 20, BTRFS_FILE_EXTENT_REG);
	assert_int_equal(btrfs_find_new(3, 5, OLD, NULL, NULL), -EINVAL);
	assert_int_equal(btrfs_find_new(3, 0, OLD, new_cb, &seen), -EINVAL);
	/* Nothing can be newer: no search at all. */
	assert_int_equal(btrfs_find_new(3, 5, UINT64_MAX, new_cb, &seen), 0);
	assert_int_equal(k.calls, 0);
	assert_int_equal(seen.n, 0);
}

/* A root tree: other trees, subvolumes, snapshots, deleted ones. */
static void add_root_tree(void)
{
	k.tree_id = BTRFS_ROOT_TREE_OBJECTID;
	add_root(BTRFS_EXTENT_TREE_OBJECTID, 0, 30, 30, 1, 0);
	add_root(BTRFS_DEV_TREE_OBJECTID, 0, 30, 29, 1, 0);
	add_root(BTRFS_FS_TREE_OBJECTID, 0, 30, 20, 1, 0);
	add_item(BTRFS_ROOT_TREE_DIR_OBJECTID, BTRFS_DIR_ITEM_KEY, 1, 30, 37);
	add_root(BTRFS_CSUM_TREE_OBJECTID, 0, 30, 30, 1, 0);
	add_root(256, 0, 30, 15, 1, 0); /* not changed since */
	add_item(256, BTRFS_ROOT_BACKREF_KEY, 5, 30, 20);
	add_root(257, 0, 30, 16, 1, 0);
	add_item(257, BTRFS_ROOT_BACKREF_KEY, 5, 30, 20);
	add_root(258, 0, 30, 30, 0, 0); /* deleted */
	/* A snapshot: its key offset is the transid it was taken in. */
	add_root(259, 17, 30, 17, 1, BTRFS_ROOT_SUBVOL_RDONLY);
	add_root(260, 0, 30, 18, 1, BTRFS_ROOT_SUBVOL_DEAD); /* deleting */
	/* A free space cache inode: not a root. */
	add_item(261, BTRFS_INODE_ITEM_KEY, 0, 30, 160);
	/* A ROOT_ITEM of the old, shorter format. */
	add_item(262, BTRFS_ROOT_ITEM_KEY, 0, 30,
		 offsetof(struct btrfs_root_item, generation_v2));
	k.item[k.n - 1].kind = ROOT;
	k.item[k.n - 1].gen = 19;
	k.item[k.n - 1].refs = 1;
	add_root(263, 0, 14, 14, 1, 0); /* in a leaf the kernel skips */
	add_root(BTRFS_DATA_RELOC_TREE_OBJECTID, 0, 30, 30, 1, 0);
}

static void subvols_changed_lists_subvolumes(void **state)
{
	static const uint64_t want[] = { 5, 257, 259, 262 };
	static const uint64_t want_gen[] = { 20, 16, 17, 19 };
	const struct btrfs_ioctl_search_key *key;

	(void)state;
	add_root_tree();
	assert_int_equal(btrfs_subvols_changed(4, 15, subvol_cb, &seen), 0);
	expect_seen(want, 4);
	for (unsigned int i = 0; i < 4; i++)
		assert_int_equal(seen.gen[i], want_gen[i]);

	assert_int_equal(k.call[0].fd, 4);
	key = &k.call[0].key;
	assert_int_equal(key->tree_id, BTRFS_ROOT_TREE_OBJECTID);
	assert_int_equal(key->min_objectid, BTRFS_FS_TREE_OBJECTID);
	assert_int_equal(key->max_objectid, BTRFS_LAST_FREE_OBJECTID);
	assert_int_equal(key->min_type, BTRFS_ROOT_ITEM_KEY);
	assert_int_equal(key->max_type, BTRFS_ROOT_ITEM_KEY);
	assert_int_equal(key->min_transid, 16);
	assert_true(k.call[0].buf_size >= 64 * 1024);
}

static void subvols_changed_across_calls(void **state)
{
	static const uint64_t want[] = { 5, 257, 259, 262 };

	(void)state;
	add_root_tree();
	k.max_per_call = 2;
	assert_int_equal(btrfs_subvols_changed(4, 15, subvol_cb, &seen), 0);
	expect_seen(want, 4);
	/* Each call starts right after the last key of the one before. */
	expect_search_from(1, BTRFS_ROOT_TREE_DIR_OBJECTID, BTRFS_DIR_ITEM_KEY,
			   2);
	expect_search_from(2, 256, BTRFS_ROOT_ITEM_KEY, 1);
	expect_search_from(3, 257, BTRFS_ROOT_ITEM_KEY, 1);
}

static void subvols_changed_stop_and_errors(void **state)
{
	static const uint64_t want[] = { 5, 257 };

	(void)state;
	add_root_tree();
	seen.stop_at = 2;
	seen.stop_value = 1;
	assert_int_equal(btrfs_subvols_changed(4, 15, subvol_cb, &seen), 1);
	expect_seen(want, 2);

	memset(&seen, 0, sizeof(seen));
	k.calls = 0;
	k.fail_at = 1;
	k.fail_errno = EPERM;
	assert_int_equal(btrfs_subvols_changed(4, 15, subvol_cb, &seen),
			 -EPERM);
	assert_int_equal(seen.n, 0);

	/* All of them. */
	k.calls = 0;
	k.fail_at = 0;
	assert_int_equal(btrfs_subvols_changed(4, 0, subvol_cb, &seen), 0);
	assert_int_equal(seen.n, 6);

	k.calls = 0;
	assert_int_equal(btrfs_subvols_changed(4, 0, NULL, NULL), -EINVAL);
	assert_int_equal(btrfs_subvols_changed(4, UINT64_MAX, subvol_cb, &seen),
			 0);
	assert_int_equal(k.calls, 0);
}

static void fs_generation_from_extent_root(void **state)
{
	uint64_t gen = 0;

	(void)state;
	add_root_tree();
	k.fs_gen = 31; /* a transaction is open */
	assert_int_equal(btrfs_fs_generation(4, &gen), 0);
	assert_int_equal(gen, 30);
	assert_int_equal(k.calls, 2); /* the item, then the empty answer */
	assert_int_equal(k.call[0].key.tree_id, BTRFS_ROOT_TREE_OBJECTID);
	assert_int_equal(k.call[0].key.min_objectid,
			 BTRFS_EXTENT_TREE_OBJECTID);
	assert_int_equal(k.call[0].key.max_objectid,
			 BTRFS_EXTENT_TREE_OBJECTID);

	/* extent-tree-v2: one per global root id, the newest counts. */
	reset(NULL);
	k.tree_id = BTRFS_ROOT_TREE_OBJECTID;
	add_root(BTRFS_EXTENT_TREE_OBJECTID, 0, 40, 39, 1, 0);
	add_root(BTRFS_EXTENT_TREE_OBJECTID, 1, 40, 40, 1, 0);
	add_root(BTRFS_EXTENT_TREE_OBJECTID, 2, 40, 38, 1, 0);
	assert_int_equal(btrfs_fs_generation(4, &gen), 0);
	assert_int_equal(gen, 40);
}

static void fs_generation_falls_back_to_fs_info(void **state)
{
	uint64_t gen = 1234;

	(void)state;
	add_root_tree();
	k.fs_gen = 31;
	/* No CAP_SYS_ADMIN: the open transaction's id, less one. */
	k.fail_at = 1;
	k.fail_errno = EPERM;
	assert_int_equal(btrfs_fs_generation(4, &gen), 0);
	assert_int_equal(gen, 30);
	assert_int_equal(k.calls, 2);
	assert_true(k.call[1].request == BTRFS_IOC_FS_INFO);
	assert_int_equal(k.call[1].fi_flags, BTRFS_FS_INFO_FLAG_GENERATION);

	/* No extent tree ROOT_ITEM. */
	reset(NULL);
	k.tree_id = BTRFS_ROOT_TREE_OBJECTID;
	add_root(BTRFS_FS_TREE_OBJECTID, 0, 40, 39, 1, 0);
	k.fs_gen = 41;
	assert_int_equal(btrfs_fs_generation(4, &gen), 0);
	assert_int_equal(gen, 40);

	/* A kernel without the generation in FS_INFO. */
	k.fs_info_no_gen = 1;
	gen = 1234;
	assert_int_equal(btrfs_fs_generation(4, &gen), -EOPNOTSUPP);
	assert_int_equal(gen, 1234);
}

static void fs_generation_errors(void **state)
{
	uint64_t gen = 1234;

	(void)state;
	add_root_tree();
	k.fail_at = 1;
	k.fail_errno = ENOTTY; /* not btrfs */
	assert_int_equal(btrfs_fs_generation(4, &gen), -ENOTTY);
	assert_int_equal(gen, 1234);
	assert_int_equal(k.calls, 1);
	assert_int_equal(btrfs_fs_generation(4, NULL), -EINVAL);
}

static struct fake_item *root_item_of(uint64_t id)
{
	for (unsigned int i = 0; i < k.n; i++)
		if (k.item[i].objectid == id &&
		    k.item[i].type == BTRFS_ROOT_ITEM_KEY)
			return &k.item[i];
	fail();
	return NULL;
}

static void root_last_snapshot(void **state)
{
	uint64_t t = 1234;

	(void)state;
	add_root_tree();
	root_item_of(256)->last_snapshot = 25;
	root_item_of(259)->last_snapshot = 28;	/* a snapshot's own */
	root_item_of(262)->last_snapshot = 22;	/* the old format has it */
	assert_int_equal(btrfs_root_last_snapshot(4, 256, &t), 0);
	assert_int_equal(t, 25);
	assert_int_equal(k.call[0].key.tree_id, BTRFS_ROOT_TREE_OBJECTID);
	assert_int_equal(k.call[0].key.min_objectid, 256);
	assert_int_equal(k.call[0].key.max_objectid, 256);
	assert_int_equal(k.call[0].key.min_type, BTRFS_ROOT_ITEM_KEY);
	assert_int_equal(k.call[0].key.max_type, BTRFS_ROOT_ITEM_KEY);
	assert_int_equal(btrfs_root_last_snapshot(4, 257, &t), 0);
	assert_int_equal(t, 0);	/* never snapshotted */
	assert_int_equal(btrfs_root_last_snapshot(4, 259, &t), 0);
	assert_int_equal(t, 28);	/* keyed by its otransid */
	assert_int_equal(btrfs_root_last_snapshot(4, 262, &t), 0);
	assert_int_equal(t, 22);

	t = 1234;
	assert_int_equal(btrfs_root_last_snapshot(4, 999, &t), -ENOENT);
	assert_int_equal(btrfs_root_last_snapshot(4, 261, &t), -ENOENT);
	assert_int_equal(t, 1234);
	assert_int_equal(btrfs_root_last_snapshot(4, 256, NULL), -EINVAL);
	k.calls = 0;
	k.fail_at = 1;
	k.fail_errno = EPERM;
	assert_int_equal(btrfs_root_last_snapshot(4, 256, &t), -EPERM);
	assert_int_equal(t, 1234);
}

static void add_ref(uint64_t ino, uint64_t dir, const char *name)
{
	struct fake_item *it =
		add_item(ino, BTRFS_INODE_REF_KEY, dir, 20,
			 (uint32_t)(sizeof(struct btrfs_inode_ref) +
				    strlen(name)));

	it->kind = REF;
	it->name = name;
}

static void inode_parent_from_inode_ref(void **state)
{
	char name[16];
	uint64_t dir = 0;

	(void)state;
	k.tree_id = 5;
	add_ref(256, 256, "..");	/* the subvolume's root */
	add_item(300, BTRFS_INODE_ITEM_KEY, 0, 20,
		 sizeof(struct btrfs_inode_item));
	add_ref(300, 257, "file.dat");
	add_ref(300, 260, "second-link");
	add_ref(301, 257, "name-of-16-bytes");
	add_ref(301, 258, "never-looked-at");
	assert_int_equal(btrfs_inode_parent(3, 5, 300, &dir, name,
					    sizeof(name)), 0);
	assert_int_equal(dir, 257);
	assert_string_equal(name, "file.dat");
	/* only INODE_REF items of that inode were asked for */
	assert_int_equal(k.call[0].key.min_objectid, 300);
	assert_int_equal(k.call[0].key.max_objectid, 300);
	assert_int_equal(k.call[0].key.min_type, BTRFS_INODE_REF_KEY);
	assert_int_equal(k.call[0].key.max_type, BTRFS_INODE_REF_KEY);
	assert_int_equal(btrfs_inode_parent(3, 5, 256, &dir, name,
					    sizeof(name)), -ENOENT);
	assert_int_equal(btrfs_inode_parent(3, 5, 302, &dir, name,
					    sizeof(name)), -ENOENT);
	assert_int_equal(btrfs_inode_parent(3, 5, 301, &dir, name,
					    sizeof(name)), -ENAMETOOLONG);
	assert_int_equal(btrfs_inode_parent(3, 6, 300, &dir, name,
					    sizeof(name)), -ENOENT);
	assert_int_equal(btrfs_inode_parent(3, 0, 300, &dir, name,
					    sizeof(name)), -EINVAL);
	assert_int_equal(btrfs_inode_parent(3, 5, 300, NULL, name,
					    sizeof(name)), -EINVAL);
}

static void handle_layout(void **state)
{
	static const uint8_t want[BTRFS_FID_LEN] = {
		0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01, /* ino */
		0x03, 0x01, 0, 0, 0, 0, 0, 0, /* root 259 */
		0, 0, 0, 0, /* generation */
	};
	uint8_t buf[BTRFS_FID_LEN + 4];
	int32_t type = -1;

	(void)state;
	memset(buf, 0xee, sizeof(buf));
	assert_int_equal(btrfs_handle_make(259, 0x0102030405060708ULL, buf,
					   &type),
			 BTRFS_FID_LEN);
	assert_int_equal(type, 0x4d);
	assert_memory_equal(buf, want, sizeof(want));
	assert_int_equal(buf[BTRFS_FID_LEN], 0xee); /* nothing past it */

	type = -1;
	assert_int_equal(btrfs_handle_make(259, 256, NULL, &type), -EINVAL);
	assert_int_equal(type, -1);
	assert_int_equal(btrfs_handle_make(259, 256, buf, NULL), -EINVAL);
}

static void open_inode_by_gen0_handle(void **state)
{
	static const uint8_t want[BTRFS_FID_LEN] = {
		0x01, 0x01, 0, 0, 0, 0, 0, 0, /* ino 257 */
		0x05, 0, 0, 0, 0, 0, 0, 0, /* root 5 */
		0, 0, 0, 0,
	};

	(void)state;
	assert_int_equal(btrfs_open_inode(9, 5, 257, O_NOATIME), 42);
	assert_int_equal(k.open_calls, 1);
	assert_int_equal(k.open_mount_fd, 9);
	assert_int_equal(k.open_flags, O_RDONLY | O_CLOEXEC | O_NOATIME);
	assert_int_equal(k.open_bytes, BTRFS_FID_LEN);
	assert_int_equal(k.open_type, BTRFS_FID_TYPE);
	assert_memory_equal(k.open_handle, want, sizeof(want));

	k.open_errno = ESTALE;
	assert_int_equal(btrfs_open_inode(9, 5, 257, 0), -ESTALE);

	/* Read-only: no access mode may be added. */
	k.open_calls = 0;
	assert_int_equal(btrfs_open_inode(9, 5, 257, O_RDWR), -EINVAL);
	assert_int_equal(btrfs_open_inode(9, 5, 257, O_WRONLY), -EINVAL);
	assert_int_equal(k.open_calls, 0);
}

/* ---- btrfs_file_extents ---- */

#define KB 1024ULL
#define MB (1024 * KB)

static struct {
	unsigned int n;
	struct btrfs_file_extent fe[64];
	unsigned int stop_at; /* 1-based callback that returns stop_value */
	int stop_value;
	unsigned int total; /* callbacks, also past fe[] */
} fes;

static int fe_cb(void *arg, const struct btrfs_file_extent *fe)
{
	assert_ptr_equal(arg, &fes);
	if (fes.n < 64)
		fes.fe[fes.n++] = *fe;
	fes.total++;
	if (fes.total == fes.stop_at)
		return fes.stop_value;
	return 0;
}

/* A file extent item of inode @ino at @off, written in transaction 20. */
static struct fake_item *add_fe(uint64_t ino, uint64_t off, uint8_t type,
				uint64_t bytes, uint64_t bytenr, uint64_t eoff)
{
	struct fake_item *it;

	add_extent(ino, off, 20, 20, type);
	it = &k.item[k.n - 1];
	it->bytes = bytes;
	it->disk_bytenr = bytenr;
	it->disk_num_bytes = bytenr ? 128 * MB : 0;
	it->extent_offset = eoff;
	return it;
}

static void expect_fe(unsigned int i, uint64_t off, uint64_t bytes,
		      uint64_t bytenr, uint64_t eoff)
{
	assert_true(i < fes.n);
	assert_int_equal(fes.fe[i].file_off, off);
	assert_int_equal(fes.fe[i].num_bytes, bytes);
	assert_int_equal(fes.fe[i].disk_bytenr, bytenr);
	assert_int_equal(fes.fe[i].extent_offset, eoff);
}

static int fe_reset(void **state)
{
	reset(state);
	memset(&fes, 0, sizeof(fes));
	return 0;
}

static void file_extents_decodes_items(void **state)
{
	const struct btrfs_ioctl_search_key *key;
	struct fake_item *it;

	(void)state;
	k.tree_id = 258;
	add_fe(299, 0, BTRFS_FILE_EXTENT_REG, 4 * KB, 1 * MB, 0);
	add_item(300, BTRFS_INODE_ITEM_KEY, 0, 20, 160);
	it = add_fe(300, 0, BTRFS_FILE_EXTENT_REG, 8 * KB, 13631488, 0);
	it->gen = 17;
	add_fe(300, 8 * KB, BTRFS_FILE_EXTENT_REG, 4 * KB, 0, 0); /* hole */
	add_fe(300, 12 * KB, BTRFS_FILE_EXTENT_PREALLOC, 52 * KB, 20 * MB,
	       4 * KB);
	it = add_fe(300, 64 * KB, BTRFS_FILE_EXTENT_REG, 128 * KB, 30 * MB, 0);
	it->compression = 3; /* zstd */
	it->disk_num_bytes = 4 * KB;
	add_fe(301, 0, BTRFS_FILE_EXTENT_REG, 4 * KB, 2 * MB, 0);

	assert_int_equal(btrfs_file_extents(5, 258, 300, 0, UINT64_MAX, fe_cb,
					    &fes),
			 0);
	assert_int_equal(fes.n, 4);
	expect_fe(0, 0, 8 * KB, 13631488, 0);
	assert_int_equal(fes.fe[0].generation, 17);
	assert_int_equal(fes.fe[0].type, BTRFS_FILE_EXTENT_REG);
	assert_int_equal(fes.fe[0].disk_num_bytes, 128 * MB);
	assert_int_equal(fes.fe[0].compression, 0);
	expect_fe(1, 8 * KB, 4 * KB, 0, 0);
	assert_int_equal(fes.fe[1].disk_num_bytes, 0);
	expect_fe(2, 12 * KB, 52 * KB, 20 * MB, 4 * KB);
	assert_int_equal(fes.fe[2].type, BTRFS_FILE_EXTENT_PREALLOC);
	assert_int_equal(fes.fe[2].generation, 20);
	expect_fe(3, 64 * KB, 128 * KB, 30 * MB, 0);
	assert_int_equal(fes.fe[3].compression, 3);
	assert_int_equal(fes.fe[3].disk_num_bytes, 4 * KB);

	/* From offset 0: nothing before to look for. */
	assert_int_equal(k.calls, 2);
	assert_int_equal(k.call[0].fd, 5);
	key = &k.call[0].key;
	assert_int_equal(key->tree_id, 258);
	assert_int_equal(key->min_objectid, 300);
	assert_int_equal(key->max_objectid, 300);
	assert_int_equal(key->min_type, BTRFS_EXTENT_DATA_KEY);
	assert_int_equal(key->max_type, BTRFS_EXTENT_DATA_KEY);
	assert_int_equal(key->min_offset, 0);
	assert_int_equal(key->max_offset, UINT64_MAX - 1);
	assert_int_equal(key->min_transid, 0);
	assert_int_equal(key->max_transid, UINT64_MAX);
}

static void file_extents_item_before_start(void **state)
{
	(void)state;
	k.tree_id = 5;
	add_fe(300, 0, BTRFS_FILE_EXTENT_REG, 128 * KB, 10 * MB, 0);
	add_fe(300, 128 * KB, BTRFS_FILE_EXTENT_REG, 1 * MB, 20 * MB, 64 * KB);
	add_fe(300, 1152 * KB, BTRFS_FILE_EXTENT_REG, 4 * KB, 30 * MB, 0);

	/* Starts inside the second item: it comes first. */
	assert_int_equal(btrfs_file_extents(3, 5, 300, 256 * KB,
					    1152 * KB + 1, fe_cb, &fes),
			 0);
	assert_int_equal(fes.n, 2);
	expect_fe(0, 128 * KB, 1 * MB, 20 * MB, 64 * KB);
	expect_fe(1, 1152 * KB, 4 * KB, 30 * MB, 0);
	assert_int_equal(k.call[0].key.min_offset, 256 * KB);
	assert_int_equal(k.call[0].key.max_offset, 1152 * KB);
	/* Then the MiB before start, read whole (from 0, here). */
	assert_int_equal(k.call[1].key.min_offset, 0);
	assert_int_equal(k.call[1].key.max_offset, 256 * KB - 1);

	/* An item starts right at start: no look back. */
	fe_reset(NULL);
	k.tree_id = 5;
	add_fe(300, 0, BTRFS_FILE_EXTENT_REG, 128 * KB, 10 * MB, 0);
	add_fe(300, 128 * KB, BTRFS_FILE_EXTENT_REG, 1 * MB, 20 * MB, 64 * KB);
	assert_int_equal(btrfs_file_extents(3, 5, 300, 128 * KB, 256 * KB,
					    fe_cb, &fes),
			 0);
	assert_int_equal(fes.n, 1);
	expect_fe(0, 128 * KB, 1 * MB, 20 * MB, 64 * KB);
	for (int i = 0; i < k.calls; i++)
		assert_true(k.call[i].key.min_offset >= 128 * KB);

	/* The item before ends at start or before (no-holes gap): not it. */
	fe_reset(NULL);
	k.tree_id = 5;
	add_fe(300, 0, BTRFS_FILE_EXTENT_REG, 4 * KB, 10 * MB, 0);
	add_fe(300, 64 * KB, BTRFS_FILE_EXTENT_REG, 4 * KB, 11 * MB, 0);
	assert_int_equal(btrfs_file_extents(3, 5, 300, 4 * KB, 64 * KB, fe_cb,
					    &fes),
			 0);
	assert_int_equal(btrfs_file_extents(3, 5, 300, 8 * KB, 64 * KB + 1,
					    fe_cb, &fes),
			 0);
	assert_int_equal(fes.n, 1);
	expect_fe(0, 64 * KB, 4 * KB, 11 * MB, 0);
}

static void file_extents_item_far_before_start(void **state)
{
	unsigned int probes = 0;

	(void)state;
	k.tree_id = 5;
	/* A 1 GiB hole item (no no-holes), then data. */
	add_fe(300, 0, BTRFS_FILE_EXTENT_REG, 1024 * MB, 0, 0);
	add_fe(300, 1024 * MB, BTRFS_FILE_EXTENT_REG, 4 * KB, 10 * MB, 0);
	assert_int_equal(btrfs_file_extents(3, 5, 300, 700 * MB, 701 * MB,
					    fe_cb, &fes),
			 0);
	assert_int_equal(fes.n, 1);
	expect_fe(0, 0, 1024 * MB, 0, 0);
	/* Probes for one item, not a read of everything before. */
	assert_true(k.calls <= MAX_CALLS);
	for (int i = 0; i < k.calls; i++)
		if (k.call[i].key.nr_items == 1)
			probes++;
	assert_true(probes > 0);
	assert_true(k.calls < 30);
}

static void file_extents_many_items_before_start(void **state)
{
	(void)state;
	k.tree_id = 5;
	for (unsigned int i = 0; i < 3000; i++)
		add_fe(300, i * 4 * KB, BTRFS_FILE_EXTENT_REG, 4 * KB,
		       100 * MB + i * 4 * KB, 0);

	/* Inside the item at 10 MiB. */
	assert_int_equal(btrfs_file_extents(3, 5, 300, 10 * MB + 2 * KB,
					    10 * MB + 6 * KB, fe_cb, &fes),
			 0);
	assert_int_equal(fes.n, 2);
	expect_fe(0, 10 * MB, 4 * KB, 110 * MB, 0);
	expect_fe(1, 10 * MB + 4 * KB, 4 * KB, 110 * MB + 4 * KB, 0);
	/* The MiB before is read, not the 10 before it. */
	for (int i = 0; i < k.calls; i++)
		assert_true(k.call[i].key.min_offset >= 9 * MB);
	assert_true(k.calls <= 5);

	/* Past the end, with batches of 100 items: nothing, soon. */
	fe_reset(NULL);
	k.tree_id = 5;
	for (unsigned int i = 0; i < 3000; i++)
		add_fe(300, i * 4 * KB, BTRFS_FILE_EXTENT_REG, 4 * KB,
		       100 * MB + i * 4 * KB, 0);
	k.max_per_call = 100;
	assert_int_equal(btrfs_file_extents(3, 5, 300, 1024 * MB,
					    UINT64_MAX, fe_cb, &fes),
			 0);
	assert_int_equal(fes.n, 0);
	assert_true(k.calls < 30);

	/* Just past the last item: it ends at start, not reported. */
	fe_reset(NULL);
	k.tree_id = 5;
	for (unsigned int i = 0; i < 3000; i++)
		add_fe(300, i * 4 * KB, BTRFS_FILE_EXTENT_REG, 4 * KB,
		       100 * MB + i * 4 * KB, 0);
	k.max_per_call = 100;
	assert_int_equal(btrfs_file_extents(3, 5, 300, 3000 * 4 * KB - 1,
					    UINT64_MAX, fe_cb, &fes),
			 0);
	assert_int_equal(fes.n, 1);
	expect_fe(0, 2999 * 4 * KB, 4 * KB, 100 * MB + 2999 * 4 * KB, 0);
}

static uint64_t xorshift(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

/* Random layouts and ranges against the plain definition of overlap. */
static void file_extents_random_ranges(void **state)
{
	static const uint64_t sizes[] = { 4 * KB, 8 * KB, 128 * KB, 1 * MB,
					  3 * MB, 128 * MB, 1024 * MB };
	uint64_t x = 88172645463325252ULL, off = 0, file_end;

	(void)state;
	k.tree_id = 5;
	add_fe(299, 0, BTRFS_FILE_EXTENT_REG, 4 * KB, 1 * MB, 0);
	for (unsigned int i = 0; i < 400; i++) {
		uint64_t len = sizes[xorshift(&x) % 7];

		if (xorshift(&x) % 5 == 0)
			off += sizes[xorshift(&x) % 7]; /* a gap */
		add_fe(300, off, BTRFS_FILE_EXTENT_REG, len, i + 1, 0);
		off += len;
	}
	add_fe(301, 0, BTRFS_FILE_EXTENT_REG, 4 * KB, 1 * MB, 0);
	file_end = off;
	k.max_per_call = 150;

	for (unsigned int r = 0; r < 500; r++) {
		uint64_t start = xorshift(&x) % (file_end + 8 * MB);
		uint64_t end = start + 1 + xorshift(&x) % (64 * MB);
		unsigned int want = 0;

		if (r % 50 == 0)
			start = 0;
		memset(&fes, 0, sizeof(fes));
		assert_int_equal(btrfs_file_extents(3, 5, 300, start, end,
						    fe_cb, &fes),
				 0);
		for (unsigned int i = 0; i < k.n; i++) {
			const struct fake_item *it = &k.item[i];

			if (it->objectid != 300 || it->offset >= end ||
			    it->offset + it->bytes <= start)
				continue;
			assert_true(want < fes.total);
			if (want < 64) {
				assert_int_equal(fes.fe[want].file_off,
						 it->offset);
				assert_int_equal(fes.fe[want].disk_bytenr,
						 it->disk_bytenr);
			}
			want++;
		}
		assert_int_equal(fes.total, want);
	}
}

static void file_extents_inline_and_stop(void **state)
{
	struct fake_item *it;

	(void)state;
	k.tree_id = 5;
	it = add_fe(300, 0, BTRFS_FILE_EXTENT_INLINE, 100, 0, 0);
	it->compression = 1;
	assert_int_equal(btrfs_file_extents(3, 5, 300, 50, 4 * KB, fe_cb,
					    &fes),
			 0);
	assert_int_equal(fes.n, 1);
	expect_fe(0, 0, 100, 0, 0);
	assert_int_equal(fes.fe[0].type, BTRFS_FILE_EXTENT_INLINE);
	assert_int_equal(fes.fe[0].compression, 1);
	assert_int_equal(fes.fe[0].disk_num_bytes, 0);
	assert_int_equal(fes.fe[0].generation, 20);

	/* The item before start can stop the walk too. */
	fe_reset(NULL);
	k.tree_id = 5;
	for (unsigned int i = 0; i < 3; i++)
		add_fe(300, i * 4 * KB, BTRFS_FILE_EXTENT_REG, 4 * KB,
		       10 * MB + i * 4 * KB, 0);
	fes.stop_at = 1;
	fes.stop_value = 9;
	assert_int_equal(btrfs_file_extents(3, 5, 300, 2 * KB, 12 * KB,
					    fe_cb, &fes),
			 9);
	assert_int_equal(fes.n, 1);
	expect_fe(0, 0, 4 * KB, 10 * MB, 0);

	memset(&fes, 0, sizeof(fes));
	fes.stop_at = 2;
	fes.stop_value = -ECANCELED;
	assert_int_equal(btrfs_file_extents(3, 5, 300, 2 * KB, 12 * KB,
					    fe_cb, &fes),
			 -ECANCELED);
	assert_int_equal(fes.n, 2);
	expect_fe(1, 4 * KB, 4 * KB, 10 * MB + 4 * KB, 0);
}

static void file_extents_errors(void **state)
{
	(void)state;
	k.tree_id = 5;
	add_fe(300, 0, BTRFS_FILE_EXTENT_REG, 4 * KB, 10 * MB, 0);
	/* Too short for a regular extent item: skipped. */
	add_item(300, BTRFS_EXTENT_DATA_KEY, 4 * KB, 20, 30);
	add_fe(300, 8 * KB, BTRFS_FILE_EXTENT_REG, 4 * KB, 11 * MB, 0);

	assert_int_equal(btrfs_file_extents(3, 5, 300, 0, 1 * MB, fe_cb,
					    &fes),
			 0);
	assert_int_equal(fes.n, 2);
	expect_fe(1, 8 * KB, 4 * KB, 11 * MB, 0);

	memset(&fes, 0, sizeof(fes));
	k.calls = 0;
	k.fail_at = 1;
	k.fail_errno = EPERM;
	assert_int_equal(btrfs_file_extents(3, 5, 300, 0, 1 * MB, fe_cb,
					    &fes),
			 -EPERM);
	assert_int_equal(fes.n, 0);

	/* The look back fails. */
	k.calls = 0;
	k.fail_at = 2;
	k.fail_errno = EIO;
	assert_int_equal(btrfs_file_extents(3, 5, 300, 2 * KB, 1 * MB, fe_cb,
					    &fes),
			 -EIO);
	assert_int_equal(fes.n, 0);

	k.calls = 0;
	k.fail_at = 0;
	assert_int_equal(btrfs_file_extents(3, 999, 300, 0, 1 * MB, fe_cb,
					    &fes),
			 -ENOENT);
	k.calls = 0;
	assert_int_equal(btrfs_file_extents(3, 5, 300, 0, 1 * MB, NULL, NULL),
			 -EINVAL);
	assert_int_equal(btrfs_file_extents(3, 0, 300, 0, 1 * MB, fe_cb,
					    &fes),
			 -EINVAL);
	/* Empty ranges: no search at all. */
	assert_int_equal(btrfs_file_extents(3, 5, 300, 4 * KB, 4 * KB, fe_cb,
					    &fes),
			 0);
	assert_int_equal(btrfs_file_extents(3, 5, 300, 8 * KB, 4 * KB, fe_cb,
					    &fes),
			 0);
	assert_int_equal(k.calls, 0);
	assert_int_equal(fes.n, 0);
}

/* ---- btrfs_file_root ---- */

static void file_root_from_ino_lookup_and_fstat(void **state)
{
	uint64_t root = 1, ino = 2;

	(void)state;
	k.fd_root = 259;
	k.st_ino = 1234;
	assert_int_equal(btrfs_file_root(7, &root, &ino), 0);
	assert_int_equal(root, 259);
	assert_int_equal(ino, 1234);
	assert_int_equal(k.call[0].fd, 7);
	assert_true(k.call[0].request == BTRFS_IOC_INO_LOOKUP);
	/* Tree 0: "the fd's"; the root directory: no CAP_SYS_ADMIN needed. */
	assert_int_equal(k.lookup_treeid, 0);
	assert_int_equal(k.lookup_objectid, BTRFS_FIRST_FREE_OBJECTID);

	root = 1;
	ino = 2;
	k.fail_at = k.calls + 1;
	k.fail_errno = ENOTTY; /* not btrfs */
	assert_int_equal(btrfs_file_root(7, &root, &ino), -ENOTTY);
	assert_int_equal(root, 1);
	assert_int_equal(ino, 2);

	k.fail_at = 0;
	k.fstat_errno = EBADF;
	assert_int_equal(btrfs_file_root(7, &root, &ino), -EBADF);
	assert_int_equal(root, 1);
	assert_int_equal(ino, 2);

	assert_int_equal(btrfs_file_root(7, NULL, &ino), -EINVAL);
	assert_int_equal(btrfs_file_root(7, &root, NULL), -EINVAL);
}

/* ---- btrfs_extent_refs ---- */

static struct {
	uint32_t n;
	uint64_t root[16], ino[16], off[16];
	uint32_t stop_at;
	int stop_value;
	uint32_t bad; /* made-up refs not as ref_of() says */
} refs;

static int ref_cb(void *arg, uint64_t root_id, uint64_t ino, uint64_t offset)
{
	uint64_t r, i, o;

	assert_ptr_equal(arg, &refs);
	if (refs.n < 16) {
		refs.root[refs.n] = root_id;
		refs.ino[refs.n] = ino;
		refs.off[refs.n] = offset;
	} else {
		ref_of(refs.n, &r, &i, &o);
		if (r != root_id || i != ino || o != offset)
			refs.bad++;
	}
	refs.n++;
	if (refs.n == refs.stop_at)
		return refs.stop_value;
	return 0;
}

static int refs_reset(void **state)
{
	reset(state);
	memset(&refs, 0, sizeof(refs));
	return 0;
}

static void extent_refs_triples(void **state)
{
	static const uint64_t reserved0[3];

	(void)state;
	k.nrefs = 3;
	k.ref[0].root = 256;
	k.ref[0].ino = 257;
	k.ref[0].offset = 0;
	k.ref[1].root = 259;
	k.ref[1].ino = 257;
	k.ref[1].offset = 28672;
	k.ref[2].root = 5;
	k.ref[2].ino = 300;
	k.ref[2].offset = 1 * MB;

	assert_int_equal(btrfs_extent_refs(4, 137756672, ref_cb, &refs), 0);
	assert_int_equal(refs.n, 3);
	for (unsigned int i = 0; i < 3; i++) {
		assert_int_equal(refs.root[i], k.ref[i].root);
		assert_int_equal(refs.ino[i], k.ref[i].ino);
		assert_int_equal(refs.off[i], k.ref[i].offset);
	}
	assert_int_equal(k.loi_calls, 1);
	assert_int_equal(k.call[0].fd, 4);
	assert_true(k.call[0].request == BTRFS_IOC_LOGICAL_INO_V2);
	assert_int_equal(k.loi[0].logical, 137756672);
	assert_int_equal(k.loi[0].size, 64 * KB);
	assert_int_equal(k.loi[0].flags, BTRFS_LOGICAL_INO_ARGS_IGNORE_OFFSET);
	assert_memory_equal(k.loi[0].reserved, reserved0, sizeof(reserved0));

	/* A stop value comes back at once. */
	memset(&refs, 0, sizeof(refs));
	refs.stop_at = 2;
	refs.stop_value = -ECANCELED;
	assert_int_equal(btrfs_extent_refs(4, 137756672, ref_cb, &refs),
			 -ECANCELED);
	assert_int_equal(refs.n, 2);
}

static void extent_refs_at_keeps_offsets(void **state)
{
	(void)state;
	k.nrefs = 2;
	k.ref[0].root = 256;
	k.ref[0].ino = 257;
	k.ref[0].offset = 8192;
	k.ref[1].root = 300;
	k.ref[1].ino = 258;
	k.ref[1].offset = 1 * MB + 8192;
	assert_int_equal(btrfs_extent_refs_at(4, 137756672 + 8192, ref_cb,
					      &refs), 0);
	assert_int_equal(refs.n, 2);
	assert_int_equal(refs.root[1], 300);
	assert_int_equal(refs.ino[1], 258);
	assert_int_equal(refs.off[1], 1 * MB + 8192);
	assert_int_equal(k.loi_calls, 1);
	assert_int_equal(k.loi[0].logical, 137756672 + 8192);
	/* Offsets not ignored: only items covering that byte, at its offset. */
	assert_int_equal(k.loi[0].flags, 0);
}

static void extent_refs_buffer_grows(void **state)
{
	(void)state;
	/* 64 KiB holds 2730: 4 times as much is enough. */
	k.nrefs = 5000;
	assert_int_equal(btrfs_extent_refs(4, 1 * MB, ref_cb, &refs), 0);
	assert_int_equal(refs.n, 5000);
	assert_int_equal(refs.bad, 0);
	assert_int_equal(k.loi_calls, 2);
	assert_int_equal(k.loi[0].size, 64 * KB);
	assert_int_equal(k.loi[1].size, 256 * KB);

	/* More missing than 4 times: what the kernel said. */
	refs_reset(NULL);
	k.nrefs = 30000;
	assert_int_equal(btrfs_extent_refs(4, 1 * MB, ref_cb, &refs), 0);
	assert_int_equal(refs.n, 30000);
	assert_int_equal(refs.bad, 0);
	assert_int_equal(k.loi_calls, 2);
	assert_int_equal(k.loi[1].size, 16 + 30000 * 24);

	/* The most 16 MiB holds. */
	refs_reset(NULL);
	k.nrefs = 699050;
	assert_int_equal(btrfs_extent_refs(4, 1 * MB, ref_cb, &refs), 0);
	assert_int_equal(refs.n, 699050);
	assert_int_equal(refs.bad, 0);
	assert_int_equal(k.loi_calls, 2);
	assert_int_equal(k.loi[1].size, 16 * MB);
}

static void extent_refs_too_many(void **state)
{
	(void)state;
	k.nrefs = 699051;
	assert_int_equal(btrfs_extent_refs(4, 1 * MB, ref_cb, &refs), -E2BIG);
	assert_int_equal(refs.n, 0);
	assert_int_equal(k.loi_calls, 2);
	assert_int_equal(k.loi[1].size, 16 * MB);
}

static void extent_refs_errors(void **state)
{
	(void)state;
	/* No data extent there. */
	assert_int_equal(btrfs_extent_refs(4, 1 * MB, ref_cb, &refs), -ENOENT);

	k.nrefs = 3;
	k.fail_at = k.calls + 1;
	k.fail_errno = EPERM;
	assert_int_equal(btrfs_extent_refs(4, 1 * MB, ref_cb, &refs), -EPERM);

	/* The bigger call fails: nothing reported. */
	k.nrefs = 5000;
	k.fail_at = k.calls + 2;
	k.fail_errno = ENOMEM;
	assert_int_equal(btrfs_extent_refs(4, 1 * MB, ref_cb, &refs), -ENOMEM);
	assert_int_equal(refs.n, 0);

	/* Counts that cannot be. */
	k.fail_at = 0;
	k.nrefs = 3;
	k.bogus_elem_cnt = 4;
	assert_int_equal(btrfs_extent_refs(4, 1 * MB, ref_cb, &refs), -EIO);
	k.bogus_elem_cnt = 3 * 2731;
	assert_int_equal(btrfs_extent_refs(4, 1 * MB, ref_cb, &refs), -EIO);
	assert_int_equal(refs.n, 0);

	k.calls = 0;
	assert_int_equal(btrfs_extent_refs(4, 1 * MB, NULL, NULL), -EINVAL);
	assert_int_equal(k.calls, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(find_new_filters_by_generation, reset),
		cmocka_unit_test_setup(inode_new_ranges_of_one_inode, reset),
		cmocka_unit_test_setup(find_new_one_callback_per_inode, reset),
		cmocka_unit_test_setup(find_new_key_advances_with_carry, reset),
		cmocka_unit_test_setup(find_new_many_batches, reset),
		cmocka_unit_test_setup(find_new_stop_value_returned, reset),
		cmocka_unit_test_setup(find_new_errors_propagate, reset),
		cmocka_unit_test_setup(find_new_bad_arguments, reset),
		cmocka_unit_test_setup(inode_parent_from_inode_ref, reset),
		cmocka_unit_test_setup(subvols_changed_lists_subvolumes, reset),
		cmocka_unit_test_setup(subvols_changed_across_calls, reset),
		cmocka_unit_test_setup(subvols_changed_stop_and_errors, reset),
		cmocka_unit_test_setup(fs_generation_from_extent_root, reset),
		cmocka_unit_test_setup(fs_generation_falls_back_to_fs_info,
				       reset),
		cmocka_unit_test_setup(fs_generation_errors, reset),
		cmocka_unit_test_setup(root_last_snapshot, reset),
		cmocka_unit_test_setup(handle_layout, reset),
		cmocka_unit_test_setup(open_inode_by_gen0_handle, reset),
		cmocka_unit_test_setup(file_extents_decodes_items, fe_reset),
		cmocka_unit_test_setup(file_extents_item_before_start,
				       fe_reset),
		cmocka_unit_test_setup(file_extents_item_far_before_start,
				       fe_reset),
		cmocka_unit_test_setup(file_extents_many_items_before_start,
				       fe_reset),
		cmocka_unit_test_setup(file_extents_random_ranges, fe_reset),
		cmocka_unit_test_setup(file_extents_inline_and_stop, fe_reset),
		cmocka_unit_test_setup(file_extents_errors, fe_reset),
		cmocka_unit_test_setup(file_root_from_ino_lookup_and_fstat,
				       reset),
		cmocka_unit_test_setup(extent_refs_triples, refs_reset),
		cmocka_unit_test_setup(extent_refs_at_keeps_offsets, refs_reset),
		cmocka_unit_test_setup(extent_refs_buffer_grows, refs_reset),
		cmocka_unit_test_setup(extent_refs_too_many, refs_reset),
		cmocka_unit_test_setup(extent_refs_errors, refs_reset),
	};

	return cmocka_run_group_tests_name("btrfs", tests, NULL, NULL);
}
