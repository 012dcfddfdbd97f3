// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * btrfs data checksums from the csum tree. See btrfs-csum.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/btrfs.h>
#include <linux/btrfs_tree.h>

#include "ioctl-compat/btrfs-csum.h"
#include "ioctl-compat/btrfs-search.h"

int btrfs_csum_info(int fd, struct btrfs_csum_info *ret)
{
	static const uint16_t sizes[] = { 4, 8, 32, 32 };
	struct btrfs_ioctl_fs_info_args fi;

	memset(&fi, 0, sizeof(fi));
	fi.flags = BTRFS_FS_INFO_FLAG_CSUM_INFO;
	if (ioctl(fd, BTRFS_IOC_FS_INFO, &fi) < 0)
		return -errno;
	if (!(fi.flags & BTRFS_FS_INFO_FLAG_CSUM_INFO) ||
	    fi.csum_type >= sizeof(sizes) / sizeof(sizes[0]) ||
	    fi.csum_size != sizes[fi.csum_type] || !fi.sectorsize ||
	    !fi.nodesize)
		return -EOPNOTSUPP;
	ret->type = fi.csum_type;
	ret->size = fi.csum_size;
	ret->sectorsize = fi.sectorsize;
	ret->nodesize = fi.nodesize;
	return 0;
}

void btrfs_csum_item_apply(struct btrfs_csum_window *w, uint64_t item_start,
			   const uint8_t *item, uint32_t item_len)
{
	uint64_t n, span, first, last, i;

	if (!w->csum_size || !w->sectorsize || item_len % w->csum_size ||
	    item_start % w->sectorsize)
		return;
	n = item_len / w->csum_size;	/* sectors the item covers */
	span = n * w->sectorsize;
	if (item_start > UINT64_MAX - span ||
	    item_start >= w->start + w->len || item_start + span <= w->start)
		return;
	first = item_start < w->start ?
			(w->start - item_start) / w->sectorsize : 0;
	last = (w->start + w->len - item_start) / w->sectorsize;
	if (last > n)
		last = n;
	for (i = first; i < last; i++) {
		uint64_t s = (item_start + i * w->sectorsize - w->start) /
			     w->sectorsize;

		memcpy(w->csums + s * w->csum_size, item + i * w->csum_size,
		       w->csum_size);
		w->have[s / 8] |= (uint8_t)(1u << (s % 8));
	}
}

const uint8_t *btrfs_csum_get(const struct btrfs_csum_window *w,
			      uint64_t logical)
{
	uint64_t s;

	if (logical < w->start || logical >= w->start + w->len)
		return NULL;
	s = (logical - w->start) / w->sectorsize;
	if (!(w->have[s / 8] & (1u << (s % 8))))
		return NULL;
	return w->csums + s * w->csum_size;
}

void btrfs_csum_window_free(struct btrfs_csum_window *w)
{
	free(w->csums);
	free(w->have);
	memset(w, 0, sizeof(*w));
}

/* Sizes @w's buffers for @sectors and empties it. 0 or -ENOMEM. */
static int window_reset(struct btrfs_csum_window *w, uint64_t sectors,
			uint16_t csum_size)
{
	if (sectors > w->cap || csum_size != w->csum_size) {
		uint8_t *c = realloc(w->csums, sectors * csum_size);
		uint8_t *h;

		if (!c)
			return -ENOMEM;
		w->csums = c;
		h = realloc(w->have, sectors / 8 + 1);
		if (!h)
			return -ENOMEM;
		w->have = h;
		w->cap = sectors;
	}
	w->csum_size = csum_size;
	memset(w->have, 0, sectors / 8 + 1);
	return 0;
}

static int take_csum_item(void *arg, const struct btrfs_ioctl_search_header *sh,
			  const uint8_t *item)
{
	struct btrfs_csum_window *w = arg;

	w->bytes_read += sh->len;
	btrfs_csum_item_apply(w, sh->offset, item, sh->len);
	return 0;
}

int btrfs_csums_read(int fd, const struct btrfs_csum_info *ci, uint64_t start,
		     uint64_t len, uint64_t min_transid,
		     struct btrfs_csum_window *w)
{
	/* An item is at most a node's worth of csums: one that covers
	 * @start begins at most this far before it. */
	uint64_t reach = (uint64_t)ci->nodesize / ci->size * ci->sectorsize;
	struct btrfs_ioctl_search_key key =
		search_key(BTRFS_CSUM_TREE_OBJECTID, BTRFS_EXTENT_CSUM_OBJECTID,
			   BTRFS_EXTENT_CSUM_OBJECTID, BTRFS_EXTENT_CSUM_KEY,
			   BTRFS_EXTENT_CSUM_KEY);
	int ret;

	if (!len || start % ci->sectorsize || len % ci->sectorsize)
		return -EINVAL;
	w->start = start;
	w->len = 0;
	w->sectorsize = ci->sectorsize;
	ret = window_reset(w, len / ci->sectorsize, ci->size);
	if (ret < 0)
		return ret;
	w->len = len;
	key.min_offset = start > reach ? start - reach : 0;
	key.max_offset = start + len - 1;
	key.min_transid = min_transid;
	ret = tree_search_each(fd, &key, 0, take_csum_item, w);
	if (ret < 0) {
		w->len = 0;
		return ret;
	}
	return 0;
}
