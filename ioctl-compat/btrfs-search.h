/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef DEDUPD_IOCTL_BTRFS_SEARCH_H
#define DEDUPD_IOCTL_BTRFS_SEARCH_H
/*
 * Internal to ioctl-compat: the BTRFS_IOC_TREE_SEARCH_V2 item iterator that
 * btrfs.c and btrfs-subvol.c share, and little-endian field readers for the
 * packed on-disk items it returns.
 */
#include <endian.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <linux/btrfs.h>
#include <linux/btrfs_tree.h>

/*
 * TREE_SEARCH_V2 result buffer: holds any item of the largest node size
 * (64 KiB, less the node header) with its search header, so a search never
 * fails with EOVERFLOW.
 */
#define SEARCH_BUF_SIZE (64 * 1024)

/* A ROOT_ITEM this short is from before the v2 fields; shorter is damaged. */
#define ROOT_ITEM_MIN_LEN offsetof(struct btrfs_root_item, generation_v2)

/*
 * A walk over the items of one tree in [min key, max key], batch by batch.
 * The key in args is where the next batch starts.
 */
struct tree_search {
	int fd;
	struct btrfs_ioctl_search_args_v2 *args; /* with SEARCH_BUF_SIZE */
	uint32_t min_type; /* of the range, for jumps to another objectid */
	uint32_t idx, count; /* next item, items in the batch */
	size_t off; /* of the next item's header in args->buf */
	struct btrfs_ioctl_search_header last; /* last item taken */
	bool moved; /* the key was set past the batch already */
	bool done; /* nothing left in the range */
};

static inline uint64_t get_le64(const uint8_t *p, size_t off)
{
	uint64_t v;

	memcpy(&v, p + off, sizeof(v));
	return le64toh(v);
}

static inline uint32_t get_le32(const uint8_t *p, size_t off)
{
	uint32_t v;

	memcpy(&v, p + off, sizeof(v));
	return le32toh(v);
}

/*
 * Decodes the item at *@off in the @size bytes of a TREE_SEARCH_V2 result
 * buffer: copies its header into *@ret_sh, points *@ret_item at its sh.len
 * bytes (unaligned) and moves *@off past them. Pure: tree_search_next()
 * calls it on what the kernel wrote. Returns 0, or -EIO if the header or the
 * item runs past @size (nothing is changed then).
 */
int tree_search_decode(const uint8_t *buf, size_t size, size_t *off,
		       struct btrfs_ioctl_search_header *ret_sh,
		       const uint8_t **ret_item);

/*
 * The key of a search of tree @tree over objectids [@min_obj, @max_obj] and
 * item types [@min_type, @max_type]: every offset, every tree block (callers
 * narrow min_transid and the offsets where they need to).
 */
static inline struct btrfs_ioctl_search_key
search_key(uint64_t tree, uint64_t min_obj, uint64_t max_obj,
	   uint32_t min_type, uint32_t max_type)
{
	return (struct btrfs_ioctl_search_key){
		.tree_id = tree,
		.min_objectid = min_obj,
		.max_objectid = max_obj,
		.min_type = min_type,
		.max_type = max_type,
		.max_offset = UINT64_MAX,
		.max_transid = UINT64_MAX,
	};
}

/*
 * The root tree's items of every subvolume, from ROOT_ITEM to @max_type, in
 * tree blocks written after @min_gen (which is not UINT64_MAX): a block
 * older than min_gen + 1 cannot hold an item written later.
 */
static inline struct btrfs_ioctl_search_key
subvol_roots_key(uint32_t max_type, uint64_t min_gen)
{
	struct btrfs_ioctl_search_key key =
		search_key(BTRFS_ROOT_TREE_OBJECTID, BTRFS_FS_TREE_OBJECTID,
			   BTRFS_LAST_FREE_OBJECTID, BTRFS_ROOT_ITEM_KEY,
			   max_type);

	key.min_transid = min_gen + 1;
	return key;
}

/* Starts a walk over [@key min, @key max] of @key->tree_id. 0 or -ENOMEM. */
int tree_search_init(struct tree_search *s, int fd,
		     const struct btrfs_ioctl_search_key *key);
void tree_search_fini(struct tree_search *s);

/*
 * Takes the next item: returns 1 and sets *@ret_sh and *@ret_item (its
 * sh.len bytes, unaligned), 0 at the end of the range, or -errno.
 */
int tree_search_next(struct tree_search *s,
		     struct btrfs_ioctl_search_header *ret_sh,
		     const uint8_t **ret_item);

/*
 * What tree_search_each() calls on an item: returns 0 to go on, or non-zero
 * to stop the walk (then returned).
 */
typedef int (*tree_item_cb)(void *arg,
			    const struct btrfs_ioctl_search_header *sh,
			    const uint8_t *item);

/*
 * Walks the range of @key, calling @cb on each item of type @key->min_type
 * at least @min_len bytes long (the range compares whole keys, so other
 * types lie between). Returns what @cb returned if it stopped the walk, 0 at
 * the end of the range, or -errno.
 */
int tree_search_each(int fd, const struct btrfs_ioctl_search_key *key,
		     uint32_t min_len, tree_item_cb cb, void *arg);

/* Makes the next batch start at (@objectid, @type, @offset). */
void tree_search_restart_at(struct tree_search *s, uint64_t objectid,
			    uint32_t type, uint64_t offset);

/*
 * Makes the next batch start at the first key of objectid @objectid + 1 in
 * the range, if the current batch does not get there anyway.
 */
void tree_search_skip_objectid(struct tree_search *s, uint64_t objectid);

#endif
