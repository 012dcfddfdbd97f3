// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Subvolume records from the root tree. See btrfs-subvol.h.
 */
#include <endian.h>
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/btrfs.h>
#include <linux/btrfs_tree.h>

#include "ioctl-compat/btrfs-subvol.h"

/*
 * TREE_SEARCH_V2 result buffer: holds any item of the largest node size
 * (64 KiB, less the node header) with its search header, so a search never
 * fails with EOVERFLOW; ~110 subvolumes' items per call.
 */
#define SEARCH_BUF_SIZE (64 * 1024)

/* Item layouts read here (the structs are packed: read fields by offset). */
#define ROOT_ITEM_MIN_LEN offsetof(struct btrfs_root_item, generation_v2)
#define ROOT_ITEM_V2_LEN offsetof(struct btrfs_root_item, otransid)

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

/* Fills *@r from a ROOT_ITEM of @len bytes (at least ROOT_ITEM_MIN_LEN). */
static void parse_root_item(uint64_t id, const uint8_t *item, uint32_t len,
			    struct btrfs_subvol_rec *r)
{
	uint64_t gen =
		get_le64(item, offsetof(struct btrfs_root_item, generation));

	memset(r, 0, sizeof(*r));
	r->id = id;
	r->generation = gen;
	r->flags = get_le64(item, offsetof(struct btrfs_root_item, flags));
	if (get_le32(item, offsetof(struct btrfs_root_item, refs)) == 0)
		r->flags |= BTRFS_ROOT_SUBVOL_DEAD;
	/*
	 * A kernel that does not know the v2 fields leaves generation_v2
	 * behind when it rewrites the item: the kernel then trusts none of
	 * them (btrfs_read_root_item()), nor do we.
	 */
	if (len < ROOT_ITEM_V2_LEN ||
	    get_le64(item, offsetof(struct btrfs_root_item, generation_v2)) !=
		    gen)
		return;
	memcpy(r->uuid, item + offsetof(struct btrfs_root_item, uuid),
	       sizeof(r->uuid));
	memcpy(r->parent_uuid,
	       item + offsetof(struct btrfs_root_item, parent_uuid),
	       sizeof(r->parent_uuid));
	memcpy(r->received_uuid,
	       item + offsetof(struct btrfs_root_item, received_uuid),
	       sizeof(r->received_uuid));
	r->ctransid =
		get_le64(item, offsetof(struct btrfs_root_item, ctransid));
}

static bool is_subvol_id(uint64_t id)
{
	return id == BTRFS_FS_TREE_OBJECTID ||
	       (id >= BTRFS_FIRST_FREE_OBJECTID &&
		id <= BTRFS_LAST_FREE_OBJECTID);
}

/*
 * Makes the next batch start right after the key of @sh: the kernel does not
 * move the key in args, and the next key after (o, t, f) is (o, t, f + 1),
 * carrying into the type (a byte in the tree) and then the objectid. Returns
 * false if no key is left in the range.
 */
static bool key_advance(struct btrfs_ioctl_search_key *key,
			const struct btrfs_ioctl_search_header *sh)
{
	uint64_t o = sh->objectid, f = sh->offset;
	uint32_t t = sh->type;

	if (f < UINT64_MAX) {
		f++;
	} else if (t < UINT8_MAX) {
		t++;
		f = 0;
	} else if (o < UINT64_MAX) {
		o++;
		t = 0;
		f = 0;
	} else {
		return false;
	}
	if (o > key->max_objectid ||
	    (o == key->max_objectid &&
	     (t > key->max_type ||
	      (t == key->max_type && f > key->max_offset))))
		return false;
	key->min_objectid = o;
	key->min_type = t;
	key->min_offset = f;
	return true;
}

int btrfs_subvol_recs(int fd, uint64_t min_gen, btrfs_subvol_rec_cb cb,
		      void *arg)
{
	/*
	 * A subvolume's ROOT_ITEM (132) comes right before its ROOT_BACKREF
	 * (144). The range compares whole keys: it also holds ROOT_REFs,
	 * other trees' ROOT_ITEMs (6 to 255), the free space cache's inodes:
	 * skipped by type and id.
	 */
	const struct btrfs_ioctl_search_key init = {
		.tree_id = BTRFS_ROOT_TREE_OBJECTID,
		.min_objectid = BTRFS_FS_TREE_OBJECTID,
		.max_objectid = BTRFS_LAST_FREE_OBJECTID,
		.min_type = BTRFS_ROOT_ITEM_KEY,
		.max_type = BTRFS_ROOT_BACKREF_KEY,
		.max_offset = UINT64_MAX,
		.min_transid = min_gen + 1,
		.max_transid = UINT64_MAX,
	};
	struct btrfs_ioctl_search_args_v2 *args;
	struct btrfs_ioctl_search_header sh;
	struct btrfs_subvol_rec rec;
	bool pending = false; /* rec waits for its ROOT_BACKREF */
	int ret = 0;

	if (!cb)
		return -EINVAL;
	if (min_gen == UINT64_MAX)
		return 0;
	args = calloc(1, sizeof(*args) + SEARCH_BUF_SIZE);
	if (!args)
		return -ENOMEM;
	args->key = init;
	for (;;) {
		size_t off = 0;

		args->key.nr_items = UINT32_MAX;
		args->buf_size = SEARCH_BUF_SIZE;
		if (ioctl(fd, BTRFS_IOC_TREE_SEARCH_V2, args) < 0) {
			ret = -errno;
			goto out_free;
		}
		/* An empty batch: nothing is left from the key on. */
		if (args->key.nr_items == 0)
			break;
		for (uint32_t i = 0; i < args->key.nr_items; i++) {
			const uint8_t *item;

			/* Headers follow items of any length: copy. */
			if (SEARCH_BUF_SIZE - off < sizeof(sh)) {
				ret = -EIO;
				goto out_free;
			}
			memcpy(&sh, args->buf + off, sizeof(sh));
			off += sizeof(sh);
			if (sh.len > SEARCH_BUF_SIZE - off) {
				ret = -EIO;
				goto out_free;
			}
			item = args->buf + off;
			off += sh.len;

			if (pending && sh.objectid != rec.id) {
				pending = false;
				ret = cb(arg, &rec);
				if (ret != 0)
					goto out_free;
			}
			if (!is_subvol_id(sh.objectid))
				continue;
			if (sh.type == BTRFS_ROOT_ITEM_KEY &&
			    sh.len >= ROOT_ITEM_MIN_LEN) {
				parse_root_item(sh.objectid, item, sh.len,
						&rec);
				pending = true;
			} else if (sh.type == BTRFS_ROOT_BACKREF_KEY &&
				   pending) {
				/* One per subvolume: it has one name. */
				rec.parent_id = sh.offset;
			}
		}
		if (!key_advance(&args->key, &sh))
			break;
	}
	if (pending)
		ret = cb(arg, &rec);
out_free:
	free(args);
	return ret;
}
