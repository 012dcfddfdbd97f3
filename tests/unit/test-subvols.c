// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The subvolume registry and the root tree records it is fed from, against
 * a fake kernel: a root tree of N subvolumes (ROOT_ITEM, ROOT_BACKREF and
 * ROOT_REF items, other trees' root items, a free space cache inode), each
 * item in a leaf of a given transid, served the way BTRFS_IOC_TREE_SEARCH_V2
 * does (whole-key range, transid filter on the leaf, nr_items and buffer
 * limits). Counts the searches: a reopen with nothing changed must cost O(1)
 * of them, not O(N).
 * Wraps: ioctl.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/btrfs.h>
#include <linux/btrfs_tree.h>

#include <cmocka.h>

#include "daemon/engine/subvols.h"
#include "ioctl-compat/btrfs-subvol.h"
#include "tests/unit/fake-search.h"

#define MAX_SUBVOLS 4096
#define FS_GEN 100 /* the filesystem's generation in most tests */

int __wrap_ioctl(int fd, unsigned long request, ...);

struct fake_subvol {
	uint64_t id, offset, parent_id, gen, ctransid, flags;
	uint32_t refs;
	uint8_t uuid[16], parent_uuid[16], received_uuid[16];
	uint64_t leaf;		/* transid of the leaf of its ROOT_ITEM */
	uint64_t backref_leaf;	/* of its ROOT_BACKREF and ROOT_REF */
	uint32_t len;		/* of its ROOT_ITEM; 0: the full size */
	bool stale_v2;		/* generation_v2 != generation */
	bool gone;		/* dropped by the cleaner: no items */
};

enum item_kind { RAW, ROOT, BACKREF, REF, TREE_ROOT };

struct fake_item {
	FAKE_KEY;
	enum item_kind kind;
	const struct fake_subvol *sv;
};

static struct {
	struct fake_subvol sv[MAX_SUBVOLS]; /* in ascending id order */
	unsigned int n;
	uint64_t fs_gen;
	unsigned int max_per_call; /* 0: no limit but nr_items and buffer */
	int fail_errno; /* non-zero: every search fails */

	struct fake_item *items; /* built from sv[] at each search */
	unsigned int nitems;

	int calls;		/* every ioctl */
	int subvol_searches;	/* searches of the subvolume range */
	uint64_t last_min_transid; /* of the last subvolume search */
	struct btrfs_ioctl_search_key first_key; /* of the first one */
} k;

static char dir[64], path[96], tmpath[112];

static const uint8_t FS_A[16] = { 0xaa, 1, 2, 3 };
static const uint8_t FS_B[16] = { 0xbb, 1, 2, 3 };

static void make_uuid(uint64_t id, uint8_t uuid[16])
{
	uint64_t le = htole64(id);

	memset(uuid, 0xc5, 16);
	memcpy(uuid, &le, sizeof(le));
}

static struct fake_subvol *find_sv(uint64_t id)
{
	for (unsigned int i = 0; i < k.n; i++)
		if (k.sv[i].id == id)
			return &k.sv[i];
	fail_msg("no subvolume %llu", (unsigned long long)id);
	abort();
}

/* Adds subvolume @id in @parent_id, a snapshot of @source_id if non-zero. */
static struct fake_subvol *add_sv(uint64_t id, uint64_t parent_id,
				  uint64_t source_id, uint64_t gen)
{
	struct fake_subvol *sv;

	assert_true(k.n < MAX_SUBVOLS);
	assert_true(k.n == 0 || k.sv[k.n - 1].id < id);
	sv = &k.sv[k.n++];
	memset(sv, 0, sizeof(*sv));
	sv->id = id;
	sv->offset = source_id ? gen : 0; /* snapshots: the creating transid */
	sv->parent_id = parent_id;
	sv->gen = gen;
	sv->ctransid = gen;
	sv->refs = 1;
	sv->leaf = gen;
	sv->backref_leaf = gen;
	make_uuid(id, sv->uuid);
	if (source_id)
		make_uuid(source_id, sv->parent_uuid);
	return sv;
}

/*
 * A filesystem of generation FS_GEN: the top level, subvolume 256 and @n
 * snapshots of it (257 ...), all written before FS_GEN.
 */
static void populate(unsigned int n)
{
	k.fs_gen = FS_GEN;
	add_sv(5, 0, 0, 50);
	add_sv(256, 5, 0, 20);
	for (unsigned int i = 0; i < n; i++)
		add_sv(257 + i, 5, 256, 21 + i % 70);
}

static void add_item(uint64_t objectid, uint32_t type, uint64_t offset,
		     uint64_t transid, uint32_t len, enum item_kind kind,
		     const struct fake_subvol *sv)
{
	k.items[k.nitems++] = (struct fake_item){
		.objectid = objectid,
		.type = type,
		.offset = offset,
		.transid = transid,
		.len = len,
		.kind = kind,
		.sv = sv,
	};
}

/* The root tree as sv[] and fs_gen have it now. */
static void build_tree(void)
{
	free(k.items);
	k.items = calloc(3 * k.n + 8, sizeof(*k.items));
	assert_non_null(k.items);
	k.nitems = 0;
	/* The extent and csum trees: their leaf is rewritten every commit. */
	add_item(BTRFS_EXTENT_TREE_OBJECTID, BTRFS_ROOT_ITEM_KEY, 0, k.fs_gen,
		 sizeof(struct btrfs_root_item), TREE_ROOT, NULL);
	add_item(BTRFS_CSUM_TREE_OBJECTID, BTRFS_ROOT_ITEM_KEY, 0, k.fs_gen,
		 sizeof(struct btrfs_root_item), TREE_ROOT, NULL);
	/* A free space cache inode, numbered among the subvolumes. */
	add_item(300000, BTRFS_INODE_ITEM_KEY, 0, k.fs_gen, 160, RAW, NULL);
	add_item(300000, BTRFS_EXTENT_DATA_KEY, 0, k.fs_gen, 53, RAW, NULL);
	for (unsigned int i = 0; i < k.n; i++) {
		const struct fake_subvol *sv = &k.sv[i];

		if (sv->gone)
			continue;
		add_item(sv->id, BTRFS_ROOT_ITEM_KEY, sv->offset, sv->leaf,
			 sv->len ? sv->len : sizeof(struct btrfs_root_item),
			 ROOT, sv);
		if (sv->parent_id) {
			/* Ref and backref carry the name: 18 + 6 bytes. */
			add_item(sv->id, BTRFS_ROOT_BACKREF_KEY, sv->parent_id,
				 sv->backref_leaf, 24, BACKREF, sv);
			add_item(sv->parent_id, BTRFS_ROOT_REF_KEY, sv->id,
				 sv->backref_leaf, 24, REF, sv);
		}
	}
	qsort(k.items, k.nitems, sizeof(*k.items), fake_item_cmp);
}

static void put64(uint8_t *p, size_t off, uint64_t v)
{
	v = htole64(v);
	memcpy(p + off, &v, sizeof(v));
}

static void fill_item(const void *item, uint8_t *p)
{
	const struct fake_item *it = item;
	uint8_t full[sizeof(struct btrfs_root_item)];
	const struct fake_subvol *sv = it->sv;
	uint32_t refs;

	memset(p, 0x5a, it->len);
	if (it->kind == TREE_ROOT) {
		put64(p, offsetof(struct btrfs_root_item, generation),
		      k.fs_gen);
		return;
	}
	if (it->kind != ROOT)
		return;
	memset(full, 0x5a, sizeof(full));
	put64(full, offsetof(struct btrfs_root_item, generation), sv->gen);
	put64(full, offsetof(struct btrfs_root_item, generation_v2),
	      sv->stale_v2 ? sv->gen - 1 : sv->gen);
	put64(full, offsetof(struct btrfs_root_item, flags), sv->flags);
	refs = htole32(sv->refs);
	memcpy(full + offsetof(struct btrfs_root_item, refs), &refs,
	       sizeof(refs));
	memcpy(full + offsetof(struct btrfs_root_item, uuid), sv->uuid, 16);
	memcpy(full + offsetof(struct btrfs_root_item, parent_uuid),
	       sv->parent_uuid, 16);
	memcpy(full + offsetof(struct btrfs_root_item, received_uuid),
	       sv->received_uuid, 16);
	put64(full, offsetof(struct btrfs_root_item, ctransid), sv->ctransid);
	memcpy(p, full, it->len);
}

static int fake_search(struct btrfs_ioctl_search_args_v2 *args)
{
	struct btrfs_ioctl_search_key *sk = &args->key;
	struct fake_table t = {
		.size = sizeof(struct fake_item),
		.max_per_call = k.max_per_call,
		.fill = fill_item,
	};

	if (sk->tree_id != BTRFS_ROOT_TREE_OBJECTID) {
		errno = ENOENT;
		return -1;
	}
	if (sk->min_objectid == BTRFS_FS_TREE_OBJECTID ||
	    sk->min_objectid >= BTRFS_FIRST_FREE_OBJECTID) {
		if (k.subvol_searches++ == 0)
			k.first_key = *sk;
		k.last_min_transid = sk->min_transid;
	}
	build_tree();
	t.items = k.items;
	t.n = k.nitems;
	fake_search_answer(&t, args);
	return 0;
}

int __wrap_ioctl(int fd, unsigned long request, ...)
{
	void *argp;
	va_list ap;

	va_start(ap, request);
	argp = va_arg(ap, void *);
	va_end(ap);
	assert_int_equal(fd, 3);
	k.calls++;
	if (k.fail_errno) {
		errno = k.fail_errno;
		return -1;
	}
	if (request == BTRFS_IOC_TREE_SEARCH_V2)
		return fake_search(argp);
	if (request == BTRFS_IOC_FS_INFO) {
		struct btrfs_ioctl_fs_info_args *fi = argp;

		memset(fi, 0, sizeof(*fi));
		fi->flags = BTRFS_FS_INFO_FLAG_GENERATION;
		fi->generation = k.fs_gen + 1; /* the open transaction */
		return 0;
	}
	errno = ENOTTY;
	return -1;
}

static int setup(void **state)
{
	(void)state;
	memset(&k, 0, sizeof(k));
	snprintf(dir, sizeof(dir), "/tmp/test-subvols.XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/subvols", dir);
	snprintf(tmpath, sizeof(tmpath), "%s.tmp", path);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	(void)unlink(path);
	(void)unlink(tmpath);
	assert_int_equal(rmdir(dir), 0);
	free(k.items);
	k.items = NULL;
	return 0;
}

static void reset_counts(void)
{
	k.calls = 0;
	k.subvol_searches = 0;
	k.last_min_transid = 0;
}

static struct subvols *open_ok(const uint8_t *fs, struct subvols_stats *st)
{
	struct subvols *s = NULL;

	assert_int_equal(subvols_open(path, 3, fs, &s, st), 0);
	assert_non_null(s);
	return s;
}

/* What a children walk saw. */
static struct {
	unsigned int n;
	uint64_t sum;
	uint8_t parent_uuid[16];
	unsigned int stop_at;
} kids;

static int kid_cb(void *arg, const struct btrfs_subvol_rec *r)
{
	assert_ptr_equal(arg, &kids);
	assert_memory_equal(r->parent_uuid, kids.parent_uuid, 16);
	kids.n++;
	kids.sum += r->id;
	return kids.n == kids.stop_at ? 7 : 0;
}

static unsigned int count_children(const struct subvols *s, uint64_t id)
{
	memset(&kids, 0, sizeof(kids));
	make_uuid(id, kids.parent_uuid);
	assert_int_equal(subvols_children(s, kids.parent_uuid, kid_cb, &kids),
			 0);
	return kids.n;
}

static const struct btrfs_subvol_rec *by_uuid_of(const struct subvols *s,
						 uint64_t id)
{
	uint8_t uuid[16];

	make_uuid(id, uuid);
	return subvols_by_uuid(s, uuid);
}

static off_t file_size(void)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	return st.st_size;
}

static ino_t file_ino(void)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return st.st_ino;
}

/* ---- the records from the root tree -------------------------------------- */

static struct {
	unsigned int n;
	struct btrfs_subvol_rec r[64];
	unsigned int stop_at;
} recs;

static int rec_cb(void *arg, const struct btrfs_subvol_rec *r)
{
	assert_ptr_equal(arg, &recs);
	assert_true(recs.n < 64);
	recs.r[recs.n++] = *r;
	return recs.n == recs.stop_at ? 42 : 0;
}

static void records_from_root_items(void **state)
{
	struct fake_subvol *sv;
	uint8_t uuid[16];

	(void)state;
	memset(&recs, 0, sizeof(recs));
	k.fs_gen = FS_GEN;
	add_sv(5, 0, 0, 50);
	add_sv(256, 5, 0, 20)->ctransid = 33;
	sv = add_sv(257, 256, 256, 21);	/* a snapshot, inside 256 */
	sv->flags = BTRFS_ROOT_SUBVOL_RDONLY;
	memset(sv->received_uuid, 0x77, 16);
	add_sv(258, 5, 0, 22)->len =
		offsetof(struct btrfs_root_item, generation_v2);
	add_sv(259, 5, 0, 23)->stale_v2 = true;
	add_sv(260, 5, 0, 24)->refs = 0;	/* being deleted */
	add_sv(261, 5, 0, 25)->flags = BTRFS_ROOT_SUBVOL_DEAD;
	add_sv(262, 5, 0, 26)->gone = true;
	add_sv(263, 5, 0, 27)->len = 100;	/* too short to be one */
	/* Three items a batch: a backref comes in the batch after its item. */
	k.max_per_call = 3;

	assert_int_equal(btrfs_subvol_recs(3, 0, rec_cb, &recs), 0);
	assert_int_equal(recs.n, 7);
	assert_int_equal(recs.r[0].id, 5);
	assert_int_equal(recs.r[0].parent_id, 0);
	assert_int_equal(recs.r[0].generation, 50);

	assert_int_equal(recs.r[1].id, 256);
	assert_int_equal(recs.r[1].parent_id, 5);
	assert_int_equal(recs.r[1].ctransid, 33);
	make_uuid(256, uuid);
	assert_memory_equal(recs.r[1].uuid, uuid, 16);

	assert_int_equal(recs.r[2].id, 257);
	assert_int_equal(recs.r[2].parent_id, 256);
	assert_int_equal(recs.r[2].generation, 21);
	assert_int_equal(recs.r[2].flags, BTRFS_ROOT_SUBVOL_RDONLY);
	assert_memory_equal(recs.r[2].parent_uuid, uuid, 16);
	memset(uuid, 0x77, 16);
	assert_memory_equal(recs.r[2].received_uuid, uuid, 16);

	/* Written by an old kernel: no UUIDs to trust. */
	memset(uuid, 0, 16);
	assert_int_equal(recs.r[3].id, 258);
	assert_int_equal(recs.r[3].generation, 22);
	assert_memory_equal(recs.r[3].uuid, uuid, 16);
	assert_int_equal(recs.r[3].ctransid, 0);
	assert_int_equal(recs.r[4].id, 259);
	assert_memory_equal(recs.r[4].uuid, uuid, 16);
	assert_memory_equal(recs.r[4].parent_uuid, uuid, 16);

	/* Being deleted: flagged dead, whichever way it shows. */
	assert_int_equal(recs.r[5].id, 260);
	assert_true(recs.r[5].flags & BTRFS_ROOT_SUBVOL_DEAD);
	assert_int_equal(recs.r[6].id, 261);
	assert_true(recs.r[6].flags & BTRFS_ROOT_SUBVOL_DEAD);
	assert_false(recs.r[1].flags & BTRFS_ROOT_SUBVOL_DEAD);

	/* The range and the filter. */
	assert_int_equal(k.first_key.tree_id, BTRFS_ROOT_TREE_OBJECTID);
	assert_int_equal(k.first_key.min_objectid, BTRFS_FS_TREE_OBJECTID);
	assert_int_equal(k.first_key.min_type, BTRFS_ROOT_ITEM_KEY);
	assert_int_equal(k.first_key.min_transid, 1);
	assert_true(k.subvol_searches > 5);

	/* The callback's value stops the walk. */
	memset(&recs, 0, sizeof(recs));
	recs.stop_at = 2;
	assert_int_equal(btrfs_subvol_recs(3, 0, rec_cb, &recs), 42);
	assert_int_equal(recs.n, 2);

	/* Only leaves written after min_gen; parent_id 0 if its isn't. */
	memset(&recs, 0, sizeof(recs));
	k.max_per_call = 0;
	find_sv(257)->leaf = 60;
	find_sv(257)->gen = 60;
	find_sv(258)->backref_leaf = 60; /* moved: seen with its item only */
	reset_counts();
	assert_int_equal(btrfs_subvol_recs(3, 50, rec_cb, &recs), 0);
	assert_int_equal(recs.n, 1);
	assert_int_equal(recs.r[0].id, 257);
	assert_int_equal(recs.r[0].parent_id, 0);
	assert_int_equal(recs.r[0].generation, 60);
	assert_int_equal(k.last_min_transid, 51);
	assert_int_equal(k.subvol_searches, 2); /* a batch, an empty one */

	k.fail_errno = EPERM;
	assert_int_equal(btrfs_subvol_recs(3, 0, rec_cb, &recs), -EPERM);
	assert_int_equal(btrfs_subvol_recs(3, 0, NULL, &recs), -EINVAL);
	k.fail_errno = 0;
	reset_counts();
	assert_int_equal(btrfs_subvol_recs(3, UINT64_MAX, rec_cb, &recs), 0);
	assert_int_equal(k.calls, 0);
}

/* ---- the registry -------------------------------------------------------- */

static void first_fill_and_lookups(void **state)
{
	const struct btrfs_subvol_rec *r;
	struct subvols_stats st;
	struct subvols *s;
	uint8_t uuid[16];

	(void)state;
	populate(2000);
	s = open_ok(FS_A, &st);
	assert_true(st.created);
	assert_false(st.rebuilt);
	assert_null(st.why);
	assert_int_equal(st.loaded, 0);
	assert_int_equal(st.updated, 2002);
	assert_int_equal(st.generation, FS_GEN);
	assert_int_equal(subvols_count(s), 2002);
	/* One walk of the whole root tree, ~100 subvolumes a search. */
	assert_int_equal(k.first_key.min_transid, 1);
	assert_true(k.subvol_searches >= 10 && k.subvol_searches <= 40);

	r = subvols_by_id(s, 256);
	assert_non_null(r);
	assert_int_equal(r->parent_id, 5);
	assert_int_equal(r->generation, 20);
	make_uuid(256, uuid);
	assert_memory_equal(r->uuid, uuid, 16);
	assert_ptr_equal(subvols_by_uuid(s, uuid), r);
	r = by_uuid_of(s, 1500);
	assert_non_null(r);
	assert_int_equal(r->id, 1500);
	assert_memory_equal(r->parent_uuid, uuid, 16);
	assert_ptr_equal(subvols_by_id(s, 1500), r);
	assert_non_null(subvols_by_id(s, 5));
	assert_null(subvols_by_id(s, 7));		/* the csum tree */
	assert_null(subvols_by_id(s, 300000));	/* a free space inode */
	assert_null(subvols_by_id(s, 9999));
	assert_null(by_uuid_of(s, 9999));
	memset(uuid, 0, sizeof(uuid));
	assert_null(subvols_by_uuid(s, uuid));

	assert_int_equal(count_children(s, 256), 2000);
	assert_int_equal(kids.sum, 2000ULL * (257 + 2256) / 2);
	assert_int_equal(count_children(s, 300), 0);
	memset(&kids, 0, sizeof(kids));
	make_uuid(256, kids.parent_uuid);
	kids.stop_at = 3;
	assert_int_equal(subvols_children(s, kids.parent_uuid, kid_cb, &kids),
			 7);
	assert_int_equal(kids.n, 3);

	assert_null(subvols_close(s));
	assert_int_equal(file_size(), 64 + 2002 * 88);
	assert_int_equal(access(tmpath, F_OK), -1);
	assert_null(subvols_close(NULL));
}

static void reopen_costs_no_search_per_subvolume(void **state)
{
	struct subvols_stats st;
	struct subvols *s;
	ino_t ino;

	(void)state;
	populate(2000);
	s = open_ok(FS_A, &st);
	assert_null(subvols_close(s));
	ino = file_ino();

	reset_counts();
	s = open_ok(FS_A, &st);
	assert_false(st.created);
	assert_false(st.rebuilt);
	assert_int_equal(st.loaded, 2002);
	assert_int_equal(st.updated, 0);
	/* The generation, and one empty search from it on. */
	assert_int_equal(k.subvol_searches, 1);
	assert_int_equal(k.last_min_transid, FS_GEN + 1);
	assert_true(k.calls <= 3);
	assert_int_equal(by_uuid_of(s, 2256)->id, 2256);
	assert_int_equal(subvols_by_id(s, 1000)->parent_id, 5);
	assert_int_equal(count_children(s, 256), 2000);
	/* Nothing changed: nothing written. */
	assert_null(subvols_close(s));
	assert_int_equal(file_ino(), ino);

	/* Written on request all the same. */
	s = open_ok(FS_A, &st);
	assert_int_equal(subvols_save(s), 0);
	assert_true(file_ino() != ino);
	assert_null(subvols_close(s));
}

static void incremental_update(void **state)
{
	struct subvols_stats st;
	struct fake_subvol *sv;
	struct subvols *s;

	(void)state;
	populate(500);
	assert_null(subvols_close(open_ok(FS_A, &st)));

	/* Transactions 101 to 110. */
	k.fs_gen = 110;
	add_sv(757, 5, 256, 105);			/* a new snapshot */
	sv = find_sv(300);				/* written to */
	sv->gen = sv->ctransid = sv->leaf = 107;
	sv = find_sv(301);				/* made read-only */
	sv->flags = BTRFS_ROOT_SUBVOL_RDONLY;
	sv->leaf = 108;
	find_sv(302)->leaf = 108;			/* shares that leaf */
	sv = find_sv(303);				/* received */
	memset(sv->received_uuid, 0x31, 16);
	sv->leaf = 109;

	reset_counts();
	s = open_ok(FS_A, &st);
	assert_int_equal(st.loaded, 502);
	assert_int_equal(st.updated, 4);
	assert_int_equal(st.generation, 110);
	assert_int_equal(k.subvol_searches, 2);
	assert_int_equal(k.last_min_transid, FS_GEN + 1);
	assert_int_equal(subvols_count(s), 503);
	assert_int_equal(by_uuid_of(s, 757)->id, 757);
	assert_int_equal(subvols_by_id(s, 757)->parent_id, 5);
	assert_int_equal(count_children(s, 256), 501);
	assert_int_equal(subvols_by_id(s, 300)->generation, 107);
	assert_int_equal(subvols_by_id(s, 300)->ctransid, 107);
	/* Its backref did not change: its parent is kept. */
	assert_int_equal(subvols_by_id(s, 300)->parent_id, 5);
	assert_int_equal(subvols_by_id(s, 301)->flags,
			 BTRFS_ROOT_SUBVOL_RDONLY);
	assert_int_equal(subvols_by_id(s, 303)->received_uuid[0], 0x31);

	/* Nothing new: one search from 111. */
	reset_counts();
	assert_int_equal(subvols_refresh(s, 3), 0);
	assert_int_equal(k.subvol_searches, 1);
	assert_int_equal(k.last_min_transid, 111);

	/* One more snapshot, of a snapshot, and one of 256. */
	k.fs_gen = 112;
	add_sv(758, 5, 757, 112);
	add_sv(759, 5, 256, 112);
	assert_int_equal(subvols_refresh(s, 3), 2);
	assert_int_equal(count_children(s, 757), 1);
	assert_int_equal(kids.sum, 758);
	assert_int_equal(count_children(s, 256), 502);
	assert_null(subvols_close(s));

	/* Saved as updated. */
	reset_counts();
	s = open_ok(FS_A, &st);
	assert_int_equal(st.loaded, 505);
	assert_int_equal(st.updated, 0);
	assert_int_equal(k.last_min_transid, 113);
	assert_int_equal(count_children(s, 757), 1);
	assert_null(subvols_close(s));
}

static void deleted_subvolumes(void **state)
{
	struct subvols *s;
	struct fake_subvol *sv;

	(void)state;
	populate(100);
	s = open_ok(FS_A, NULL);
	assert_int_equal(count_children(s, 256), 100);

	k.fs_gen = 120;
	sv = find_sv(260);		/* deletion under way */
	sv->refs = 0;
	sv->flags |= BTRFS_ROOT_SUBVOL_DEAD;
	sv->leaf = 115;
	sv = find_sv(261);		/* the same, refs 0 only */
	sv->refs = 0;
	sv->leaf = 116;
	find_sv(262)->gone = true;	/* cleaned up already: no trace */
	assert_int_equal(subvols_refresh(s, 3), 2);
	assert_null(subvols_by_id(s, 260));
	assert_null(by_uuid_of(s, 260));
	assert_null(subvols_by_id(s, 261));
	assert_int_equal(subvols_count(s), 100);
	assert_int_equal(count_children(s, 256), 98);

	/* It lingers until its user finds it gone. */
	assert_non_null(subvols_by_id(s, 262));
	subvols_forget(s, 262);
	assert_null(subvols_by_id(s, 262));
	assert_null(by_uuid_of(s, 262));
	assert_int_equal(count_children(s, 256), 97);
	subvols_forget(s, 262);
	subvols_forget(s, 12345);
	assert_int_equal(subvols_count(s), 99);

	/* Its last snapshot gone, a parent's list goes too. */
	add_sv(400, 5, 300, 121);
	k.fs_gen = 121;
	assert_int_equal(subvols_refresh(s, 3), 1);
	assert_int_equal(count_children(s, 300), 1);
	subvols_forget(s, 400);
	assert_int_equal(count_children(s, 300), 0);
	assert_null(subvols_close(s));

	s = open_ok(FS_A, NULL);
	assert_int_equal(subvols_count(s), 99);
	assert_null(subvols_by_id(s, 262));
	assert_null(subvols_close(s));
}

static void uuid_changes_are_rekeyed(void **state)
{
	struct subvols *s;
	struct fake_subvol *sv;

	(void)state;
	populate(20);
	add_sv(300, 5, 0, 30)->stale_v2 = true;	/* no UUID yet */
	s = open_ok(FS_A, NULL);
	assert_non_null(subvols_by_id(s, 300));
	assert_null(by_uuid_of(s, 300));

	/* An id reused after a remount: a new subvolume, a new UUID. */
	k.fs_gen = 130;
	sv = find_sv(270);
	make_uuid(9270, sv->uuid);
	memset(sv->parent_uuid, 0, 16);
	sv->leaf = sv->gen = 125;
	sv = find_sv(300);		/* rewritten by a newer kernel */
	sv->stale_v2 = false;
	sv->leaf = sv->gen = 126;
	assert_int_equal(subvols_refresh(s, 3), 2);
	assert_null(by_uuid_of(s, 270));
	assert_int_equal(by_uuid_of(s, 9270)->id, 270);
	assert_int_equal(by_uuid_of(s, 300)->id, 300);
	assert_int_equal(count_children(s, 256), 19);
	assert_null(subvols_close(s));
}

static void corrupt_file(long off, uint8_t xor_mask)
{
	int fd = open(path, O_RDWR | O_CLOEXEC);
	uint8_t b;

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &b, 1, off), 1);
	b ^= xor_mask;
	assert_int_equal(pwrite(fd, &b, 1, off), 1);
	close(fd);
}

/* Opens a damaged file: rebuilt from a full search, then saved whole. */
static void expect_rebuilt(const uint8_t *fs, const char *why)
{
	struct subvols_stats st;
	struct subvols *s;

	reset_counts();
	s = open_ok(fs, &st);
	assert_true(st.rebuilt);
	assert_false(st.created);
	assert_string_equal(st.why, why);
	assert_int_equal(st.loaded, 0);
	assert_int_equal(st.updated, 52);
	assert_int_equal(k.first_key.min_transid, 1);
	assert_int_equal(subvols_count(s), 52);
	assert_int_equal(count_children(s, 256), 50);
	assert_null(subvols_close(s));
	assert_int_equal(file_size(), 64 + 52 * 88);
}

static void damaged_file_is_rebuilt(void **state)
{
	struct subvols_stats st;
	int fd;

	(void)state;
	populate(50);
	assert_null(subvols_close(open_ok(FS_A, &st)));

	corrupt_file(64 + 10 * 88 + 45, 0x01);	/* a UUID */
	expect_rebuilt(FS_A, "bad checksum");
	corrupt_file(40, 0x80);			/* the generation */
	expect_rebuilt(FS_A, "bad checksum");
	corrupt_file(0, 0xff);
	expect_rebuilt(FS_A, "not a subvolume registry");
	corrupt_file(16, 0x02);
	expect_rebuilt(FS_A, "unknown version");
	assert_int_equal(truncate(path, 64 + 52 * 88 - 1), 0);
	expect_rebuilt(FS_A, "truncated");
	/* A count that would have it read terabytes. */
	corrupt_file(48 + 5, 0x10);
	expect_rebuilt(FS_A, "truncated");
	assert_int_equal(truncate(path, 10), 0);
	expect_rebuilt(FS_A, "not a subvolume registry");
	fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	assert_true(fd >= 0);
	close(fd);
	expect_rebuilt(FS_A, "not a subvolume registry");

	/* Then it is trusted again. */
	assert_null(subvols_close(open_ok(FS_A, &st)));
	assert_int_equal(st.loaded, 52);
	assert_false(st.rebuilt);
}

static void file_of_another_filesystem_is_rebuilt(void **state)
{
	struct subvols_stats st;

	(void)state;
	populate(50);
	assert_null(subvols_close(open_ok(FS_A, &st)));
	expect_rebuilt(FS_B, "of another filesystem");
	assert_null(subvols_close(open_ok(FS_B, &st)));
	assert_int_equal(st.loaded, 52);

	/* The filesystem went back in time (restored): not trusted. */
	k.fs_gen = FS_GEN - 10;
	expect_rebuilt(FS_B, "newer than the filesystem");
}

static void errors_leave_out_params_alone(void **state)
{
	struct subvols *s = (struct subvols *)&k, *t;
	struct subvols_stats st = { .loaded = 77 };

	(void)state;
	populate(10);
	k.fail_errno = EPERM;
	assert_int_equal(subvols_open(path, 3, FS_A, &s, &st), -EPERM);
	assert_ptr_equal(s, &k);
	assert_int_equal(st.loaded, 77);
	assert_int_equal(access(path, F_OK), -1);
	k.fail_errno = 0;
	assert_int_equal(subvols_open(NULL, 3, FS_A, &s, &st), -EINVAL);
	assert_int_equal(subvols_open(path, 3, NULL, &s, &st), -EINVAL);
	assert_int_equal(subvols_open(path, 3, FS_A, NULL, &st), -EINVAL);

	/* Not a file it can read: an error, not a rebuild. */
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(subvols_open(path, 3, FS_A, &s, &st), -EISDIR);
	assert_ptr_equal(s, &k);
	assert_int_equal(rmdir(path), 0);

	/* A failed refresh keeps what it had, and is done again later. */
	t = open_ok(FS_A, NULL);
	k.fs_gen = 140;
	add_sv(500, 5, 256, 135);
	k.fail_errno = EIO;
	assert_int_equal(subvols_refresh(t, 3), -EIO);
	assert_int_equal(subvols_count(t), 12);
	k.fail_errno = 0;
	reset_counts();
	assert_int_equal(subvols_refresh(t, 3), 1);
	assert_int_equal(k.last_min_transid, FS_GEN + 1);
	assert_int_equal(subvols_count(t), 13);

	/* A save that cannot write leaves the old file. */
	assert_int_equal(subvols_save(t), 0);
	assert_int_equal(mkdir(tmpath, 0700), 0);
	subvols_forget(t, 500);
	assert_int_equal(subvols_save(t), -EISDIR);
	assert_int_equal(rmdir(tmpath), 0);
	assert_int_equal(file_size(), 64 + 13 * 88);
	assert_null(subvols_close(t));
	assert_int_equal(file_size(), 64 + 12 * 88);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(records_from_root_items, setup,
						teardown),
		cmocka_unit_test_setup_teardown(first_fill_and_lookups, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			reopen_costs_no_search_per_subvolume, setup, teardown),
		cmocka_unit_test_setup_teardown(incremental_update, setup,
						teardown),
		cmocka_unit_test_setup_teardown(deleted_subvolumes, setup,
						teardown),
		cmocka_unit_test_setup_teardown(uuid_changes_are_rekeyed, setup,
						teardown),
		cmocka_unit_test_setup_teardown(damaged_file_is_rebuilt, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			file_of_another_filesystem_is_rebuilt, setup, teardown),
		cmocka_unit_test_setup_teardown(errors_leave_out_params_alone,
						setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
