// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The TREE_SEARCH_V2 item iterator. See btrfs-search.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/ioctl.h>

#include "ioctl-compat/btrfs-search.h"

int tree_search_init(struct tree_search *s, int fd,
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

void tree_search_fini(struct tree_search *s)
{
	free(s->args);
	s->args = NULL;
}

/* (o1, t1, f1) compared with (o2, t2, f2), as btrfs orders keys. */
static int key_cmp(uint64_t o1, uint32_t t1, uint64_t f1, uint64_t o2,
		   uint32_t t2, uint64_t f2)
{
	int c = (o1 > o2) - (o1 < o2);

	if (!c)
		c = (t1 > t2) - (t1 < t2);
	if (!c)
		c = (f1 > f2) - (f1 < f2);
	return c;
}

/* Makes the next batch start at (@objectid, @type, @offset). */
void tree_search_restart_at(struct tree_search *s, uint64_t objectid,
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
static void tree_search_advance(struct tree_search *s)
{
	const struct btrfs_ioctl_search_header *sh = &s->last;

	if (sh->offset < UINT64_MAX)
		tree_search_restart_at(s, sh->objectid, sh->type, sh->offset + 1);
	else if (sh->type < UINT8_MAX)
		tree_search_restart_at(s, sh->objectid, sh->type + 1, 0);
	else if (sh->objectid < UINT64_MAX)
		tree_search_restart_at(s, sh->objectid + 1, 0, 0);
	else
		s->done = true;
}

/*
 * Makes the next batch start at the first key of objectid @objectid + 1 in
 * the range, if the current batch does not get there anyway.
 */
void tree_search_skip_objectid(struct tree_search *s, uint64_t objectid)
{
	if (s->idx < s->count)
		return; /* the batch goes on: its items are skipped one by one */
	if (objectid != s->last.objectid)
		return;
	if (objectid == UINT64_MAX)
		s->done = true;
	else
		tree_search_restart_at(s, objectid + 1, s->min_type, 0);
}

/*
 * Takes the next item: returns 1 and sets *@ret_sh and *@ret_item (its
 * sh.len bytes, unaligned), 0 at the end of the range, or -errno.
 */
int tree_search_next(struct tree_search *s,
		     struct btrfs_ioctl_search_header *ret_sh,
		     const uint8_t **ret_item)
{
	struct btrfs_ioctl_search_args_v2 *args = s->args;
	int ret;

	while (s->idx >= s->count) {
		if (s->idx > 0 && !s->moved)
			tree_search_advance(s);
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

	ret = tree_search_decode((const uint8_t *)args->buf, SEARCH_BUF_SIZE,
				 &s->off, ret_sh, ret_item);
	if (ret < 0)
		return ret;
	s->idx++;
	s->last = *ret_sh;
	return 1;
}

int tree_search_decode(const uint8_t *buf, size_t size, size_t *off,
		       struct btrfs_ioctl_search_header *ret_sh,
		       const uint8_t **ret_item)
{
	struct btrfs_ioctl_search_header sh;
	size_t at = *off;

	/* Headers follow items of any length: copy, do not cast. */
	if (at > size || size - at < sizeof(sh))
		return -EIO;
	memcpy(&sh, buf + at, sizeof(sh));
	at += sizeof(sh);
	if (sh.len > size - at)
		return -EIO;
	*ret_sh = sh;
	*ret_item = buf + at;
	*off = at + sh.len;
	return 0;
}

int tree_search_each(int fd, const struct btrfs_ioctl_search_key *key,
		     uint32_t min_len, tree_item_cb cb, void *arg)
{
	struct btrfs_ioctl_search_header sh;
	const uint8_t *item;
	struct tree_search s;
	int ret;

	ret = tree_search_init(&s, fd, key);
	if (ret < 0)
		return ret;
	while ((ret = tree_search_next(&s, &sh, &item)) > 0) {
		if (sh.type != key->min_type || sh.len < min_len)
			continue;
		ret = cb(arg, &sh, item);
		if (ret != 0)
			break;
	}
	tree_search_fini(&s);
	return ret;
}
