// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The metadata cost of a dedupe on btrfs, per leaf first touched. See
 * metabudget.h.
 */
#include <stdlib.h>
#include <string.h>

#include <uthash.h>

#include "daemon/engine/metabudget.h"
#include "daemon/common/util.h"

/*
 * Inode numbers per group: a 16 KiB leaf holds the inode, inode ref and
 * extent items of about 16 to 40 small files. An estimate, not a
 * measurement: snapshots.sh's 3-snapshot case (0a2ffbd), following every
 * reference, grew metadata by 18.9 MiB, which is about one 16 KiB leaf per
 * 16 inodes per snapshot if every group of the copy was touched in each.
 */
#define GROUP_SHIFT 4
/* Past this many groups remembered, the pass forgets them (memory bound). */
#define TOUCHED_MAX (1u << 20)

struct group {
	uint64_t key[2];	/* root, inode >> GROUP_SHIFT */
	bool touched;		/* in this pass, by a candidate that went */
	uint64_t paid;		/* this batch: shares of the live candidates */
	UT_hash_handle hh;
};

struct candidate {
	uint64_t gain;
	struct group **g;	/* its groups, each once */
	size_t n;
	bool ok;
};

struct metabudget {
	uint64_t leaf_cost;
	struct group *groups;
	size_t ngroups;
	struct candidate *c;
	size_t nc, cap;
};

struct metabudget *metabudget_new(uint64_t leaf_cost)
{
	struct metabudget *b = calloc(1, sizeof(*b));

	if (b)
		b->leaf_cost = leaf_cost;
	return b;
}

static void free_groups(struct metabudget *b)
{
	struct group *g, *tmp;

	HASH_ITER(hh, b->groups, g, tmp) {
		HASH_DEL(b->groups, g);
		free(g);
	}
	b->ngroups = 0;
}

void metabudget_end_batch(struct metabudget *b)
{
	struct group *g, *tmp;

	for (size_t i = 0; i < b->nc; i++)
		free(b->c[i].g);
	b->nc = 0;
	/* Groups no candidate went through are forgotten. */
	HASH_ITER(hh, b->groups, g, tmp) {
		g->paid = 0;
		if (!g->touched) {
			HASH_DEL(b->groups, g);
			free(g);
			b->ngroups--;
		}
	}
	if (b->ngroups > TOUCHED_MAX)
		free_groups(b);
}

void metabudget_reset(struct metabudget *b)
{
	metabudget_end_batch(b);
	free_groups(b);
}

struct metabudget *metabudget_free(struct metabudget *b)
{
	if (!b)
		return NULL;
	metabudget_reset(b);
	free(b->c);
	free(b);
	return NULL;
}

static struct group *group_get(struct metabudget *b, const uint64_t file[2])
{
	uint64_t key[2] = { file[0], file[1] >> GROUP_SHIFT };
	struct group *g;

	HASH_FIND(hh, b->groups, key, sizeof(key), g);
	if (!g) {
		g = xcalloc(1, sizeof(*g));
		memcpy(g->key, key, sizeof(key));
		HASH_ADD(hh, b->groups, key, sizeof(g->key), g);
		b->ngroups++;
	}
	return g;
}

/* The distinct groups of @files, into @c. */
static void candidate_groups(struct metabudget *b, struct candidate *c,
			     const uint64_t (*files)[2], size_t n)
{
	c->g = xcalloc(n ? n : 1, sizeof(*c->g));
	c->n = 0;
	for (size_t i = 0; i < n; i++) {
		struct group *g = group_get(b, files[i]);
		size_t j;

		for (j = 0; j < c->n && c->g[j] != g; j++)
			;
		if (j == c->n)
			c->g[c->n++] = g;
	}
}

size_t metabudget_add(struct metabudget *b, uint64_t gain,
		      const uint64_t (*files)[2], size_t n)
{
	struct candidate *c;

	b->c = grow_array(b->c, &b->cap, b->nc + 1, sizeof(*b->c));
	c = &b->c[b->nc];
	c->gain = gain;
	c->ok = true;
	candidate_groups(b, c, files, n);
	return b->nc++;
}

void metabudget_decide(struct metabudget *b)
{
	bool changed = true;

	while (changed) {
		changed = false;
		for (size_t i = 0; i < b->nc; i++)
			for (size_t j = 0; j < b->c[i].n; j++)
				b->c[i].g[j]->paid = 0;
		for (size_t i = 0; i < b->nc; i++) {
			const struct candidate *c = &b->c[i];

			if (!c->ok)
				continue;
			for (size_t j = 0; j < c->n; j++)
				c->g[j]->paid += c->gain / c->n;
		}
		for (size_t i = 0; i < b->nc; i++) {
			struct candidate *c = &b->c[i];

			if (!c->ok)
				continue;
			for (size_t j = 0; j < c->n; j++) {
				const struct group *g = c->g[j];

				if (!g->touched && g->paid < b->leaf_cost) {
					c->ok = false;
					changed = true;
					break;
				}
			}
		}
	}
}

bool metabudget_ok(const struct metabudget *b, size_t id)
{
	return id < b->nc && b->c[id].ok;
}

void metabudget_spend(struct metabudget *b, size_t id)
{
	if (id >= b->nc)
		return;
	for (size_t j = 0; j < b->c[id].n; j++)
		b->c[id].g[j]->touched = true;
}

bool metabudget_single(struct metabudget *b, uint64_t gain,
		       const uint64_t (*files)[2], size_t n)
{
	struct candidate c = { .gain = gain };
	uint64_t cost = 0;
	bool ok;

	candidate_groups(b, &c, files, n);
	for (size_t j = 0; j < c.n; j++)
		if (!c.g[j]->touched)
			cost += b->leaf_cost;
	ok = gain >= cost;
	if (ok)
		for (size_t j = 0; j < c.n; j++)
			c.g[j]->touched = true;
	free(c.g);
	return ok;
}
