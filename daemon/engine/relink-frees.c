// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Whether a move frees the extents it leaves (relink_frees_extents(),
 * relink.h): every reference to them must map only what moves, or follow.
 */
#include <stdlib.h>

#include "daemon/engine/relink-internal.h"
#include "daemon/common/util.h"
#include "ioctl-compat/btrfs.h"

/* The extent ranges that a move covers, and whether a referrer strays. */
struct extent_check {
	const struct relink_items *c;	/* everything that moves */
	uint64_t bytenr;
	uint64_t (*refs)[3];	/* root, ino, item offset */
	size_t n, cap;
	bool stray;
};

#define RELINK_CHECK_REFS 4096

static int check_collect(void *arg, uint64_t root, uint64_t ino,
			 uint64_t offset)
{
	struct extent_check *x = arg;

	if (x->n >= RELINK_CHECK_REFS)
		return 1;	/* too many to look at: not worth it */
	x->refs = grow_array(x->refs, &x->cap, x->n + 1, sizeof(*x->refs));
	x->refs[x->n][0] = root;
	x->refs[x->n][1] = ino;
	x->refs[x->n++][2] = offset;
	return 0;
}

/* Whether [a, b) of the extent is mapped by the move's items. */
static bool in_move(const struct extent_check *x, uint64_t a, uint64_t b)
{
	while (a < b) {
		uint64_t next = a;

		for (size_t i = 0; i < x->c->n; i++) {
			const struct relink_item *it = &x->c->v[i];

			if (it->bytenr == x->bytenr && it->extent_offset <= a &&
			    it->extent_offset + it->len > a &&
			    it->extent_offset + it->len > next)
				next = it->extent_offset + it->len;
		}
		if (next == a)
			return false;
		a = next;
	}
	return true;
}

static int check_ref_item(void *arg, const struct btrfs_file_extent *fe)
{
	struct extent_check *x = arg;

	if (fe->disk_bytenr == x->bytenr &&
	    !in_move(x, fe->extent_offset, fe->extent_offset + fe->num_bytes)) {
		x->stray = true;
		return 1;
	}
	return 0;
}

void relink_files_add(struct relink_files *f, uint64_t root, uint64_t ino)
{
	for (size_t i = 0; i < f->n; i++)
		if (f->v[i][0] == root && f->v[i][1] == ino)
			return;
	f->v = grow_array(f->v, &f->cap, f->n + 1, sizeof(*f->v));
	f->v[f->n][0] = root;
	f->v[f->n++][1] = ino;
}

static bool is_follower(const struct relink_files *f, uint64_t root,
			uint64_t ino)
{
	for (size_t i = 0; f && i < f->n; i++)
		if (f->v[i][0] == root && f->v[i][1] == ino)
			return true;
	return false;
}

bool relink_frees_extents(struct relink_ctx *d, const struct relink_items *c,
			  const struct relink_items *moving,
			  const struct relink_files *followers)
{
	struct extent_check x = { .c = moving };
	bool frees = c->n > 0;

	for (size_t i = 0; i < c->n && frees && !relink_stopped(d); i++) {
		bool seen = false;

		for (size_t k = 0; k < i && !seen; k++)
			seen = c->v[k].bytenr == c->v[i].bytenr;
		if (seen)
			continue;
		x.bytenr = c->v[i].bytenr;
		x.n = 0;
		x.stray = false;
		if (btrfs_extent_refs(d->mount_fd, x.bytenr, check_collect,
				      &x) != 0) {
			frees = false;
			break;
		}
		for (size_t k = 0; k < x.n && !x.stray; k++)
			if (!is_follower(followers, x.refs[k][0],
					 x.refs[k][1]) &&
			    btrfs_file_extents(d->mount_fd, x.refs[k][0],
					       x.refs[k][1], x.refs[k][2],
					       x.refs[k][2] + 1, check_ref_item,
					       &x) < 0)
				x.stray = true;
		frees = !x.stray;
	}
	free(x.refs);
	return frees;
}
