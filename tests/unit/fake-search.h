/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef DEDUPD_TEST_FAKE_SEARCH_H
#define DEDUPD_TEST_FAKE_SEARCH_H

/*
 * A fake BTRFS_IOC_TREE_SEARCH_V2, shared by the unit tests that serve a
 * table of tree items (test-btrfs.c, test-subvols.c): the items' key order,
 * and the answer built the way the kernel builds it (key range compared as
 * whole keys, transid filter on the item's leaf, nr_items and buffer
 * limits). A test's item type starts with FAKE_KEY; it keeps its own
 * checks of the search (which tree, what it counts) and fills the items'
 * bodies.
 */

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <linux/btrfs.h>

#define FAKE_KEY_FIELDS                                                    \
	uint64_t objectid, offset;                                         \
	uint32_t type;                                                     \
	uint64_t transid; /* of the leaf holding it */                    \
	uint32_t len;

struct fake_key {
	FAKE_KEY_FIELDS
};

/* The first member of a test's item: it->objectid, and &it->key. */
#define FAKE_KEY                                                           \
	union {                                                            \
		struct fake_key key;                                       \
		struct {                                                   \
			FAKE_KEY_FIELDS                                    \
		};                                                         \
	}

static inline int fake_key_cmp(uint64_t o1, uint32_t t1, uint64_t f1,
			       uint64_t o2, uint32_t t2, uint64_t f2)
{
	if (o1 != o2)
		return o1 < o2 ? -1 : 1;
	if (t1 != t2)
		return t1 < t2 ? -1 : 1;
	if (f1 != f2)
		return f1 < f2 ? -1 : 1;
	return 0;
}

/* For qsort() of items that start with FAKE_KEY. */
static inline int fake_item_cmp(const void *a, const void *b)
{
	const struct fake_key *x = a, *y = b;

	return fake_key_cmp(x->objectid, x->type, x->offset, y->objectid,
			    y->type, y->offset);
}

struct fake_table {
	const void *items;	/* sorted by key, each starting with FAKE_KEY */
	size_t size;		/* of one item */
	unsigned int n;
	unsigned int max_per_call; /* 0: no limit but nr_items and buffer */
	uint32_t bogus_len;	/* non-zero: the first header claims it */
	void (*fill)(const void *item, uint8_t *p); /* its len bytes */
};

/* Answers @args from @t as the kernel does; sets args->key.nr_items. */
static inline void fake_search_answer(const struct fake_table *t,
				      struct btrfs_ioctl_search_args_v2 *args)
{
	struct btrfs_ioctl_search_key *sk = &args->key;
	uint32_t out = 0;
	size_t off = 0;

	for (unsigned int i = 0; i < t->n; i++) {
		const struct fake_key *it =
			(const void *)((const char *)t->items + i * t->size);
		struct btrfs_ioctl_search_header sh;

		if (out >= sk->nr_items ||
		    (t->max_per_call && out >= t->max_per_call))
			break;
		if (fake_key_cmp(it->objectid, it->type, it->offset,
				 sk->min_objectid, sk->min_type,
				 sk->min_offset) < 0 ||
		    fake_key_cmp(it->objectid, it->type, it->offset,
				 sk->max_objectid, sk->max_type,
				 sk->max_offset) > 0)
			continue;
		if (it->transid < sk->min_transid ||
		    it->transid > sk->max_transid)
			continue;
		if (sizeof(sh) + it->len > args->buf_size - off)
			break; /* full: the kernel stops here */
		sh = (struct btrfs_ioctl_search_header){
			.transid = it->transid,
			.objectid = it->objectid,
			.offset = it->offset,
			.type = it->type,
			.len = t->bogus_len && out == 0 ? t->bogus_len :
							  it->len,
		};
		memcpy(args->buf + off, &sh, sizeof(sh));
		off += sizeof(sh);
		t->fill(it, args->buf + off);
		off += it->len;
		out++;
	}
	sk->nr_items = out;
}

#endif
