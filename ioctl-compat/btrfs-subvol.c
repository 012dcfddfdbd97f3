// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Subvolume records from the root tree. See btrfs-subvol.h.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <linux/btrfs.h>
#include <linux/btrfs_tree.h>

#include "ioctl-compat/btrfs-subvol.h"
#include "ioctl-compat/btrfs-search.h"

/* Item layouts read here (the structs are packed: read fields by offset). */
#define ROOT_ITEM_V2_LEN offsetof(struct btrfs_root_item, otransid)

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

int btrfs_subvol_recs(int fd, uint64_t min_gen, btrfs_subvol_rec_cb cb,
		      void *arg)
{
	/*
	 * A subvolume's ROOT_ITEM (132) comes right before its ROOT_BACKREF
	 * (144). The range compares whole keys: it also holds ROOT_REFs,
	 * other trees' ROOT_ITEMs (6 to 255), the free space cache's inodes:
	 * skipped by type and id.
	 */
	const struct btrfs_ioctl_search_key init =
		subvol_roots_key(BTRFS_ROOT_BACKREF_KEY, min_gen);
	struct btrfs_ioctl_search_header sh;
	struct btrfs_subvol_rec rec;
	struct tree_search ts;
	const uint8_t *item;
	bool pending = false; /* rec waits for its ROOT_BACKREF */
	int ret;

	if (!cb)
		return -EINVAL;
	if (min_gen == UINT64_MAX)
		return 0;
	ret = tree_search_init(&ts, fd, &init);
	if (ret < 0)
		return ret;
	while ((ret = tree_search_next(&ts, &sh, &item)) > 0) {
		if (pending && sh.objectid != rec.id) {
			pending = false;
			ret = cb(arg, &rec);
			if (ret != 0)
				goto out;
		}
		if (!is_subvol_id(sh.objectid))
			continue;
		if (sh.type == BTRFS_ROOT_ITEM_KEY &&
		    sh.len >= ROOT_ITEM_MIN_LEN) {
			parse_root_item(sh.objectid, item, sh.len, &rec);
			pending = true;
		} else if (sh.type == BTRFS_ROOT_BACKREF_KEY && pending) {
			/* One per subvolume: it has one name. */
			rec.parent_id = sh.offset;
		}
	}
	if (ret == 0 && pending)
		ret = cb(arg, &rec);
out:
	tree_search_fini(&ts);
	return ret;
}
