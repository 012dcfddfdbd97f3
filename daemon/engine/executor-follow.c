// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The other names of data that moved (executor-internal.h): the snapshots
 * and reflinks of a deduped range (aliases) follow it, and files deduped
 * from a range that moved since follow its new place (executor_follow_moves).
 */
#include <stdlib.h>

#include "daemon/engine/executor-internal.h"
#include "daemon/common/util.h"

/*
 * After [dst_off, +len) of @o's destination was deduped onto the source at
 * @src_off: the parts of it in shared extents may have other names
 * (snapshots, reflinks) that still pin the old extent. Record where they
 * went, for those names to follow.
 */
void executor_record_relinks(struct engine *e, const struct op *o,
			     uint64_t src_off, uint64_t len)
{
	const struct file_job *job = o->dst;
	uint64_t lo = o->dst_off, hi = o->dst_off + len;
	struct relink_map *m = &e->relinks;

	for (size_t i = 0; i < job->nextents; i++) {
		const struct extent *x = &job->extents[i];
		uint64_t a = x->logical > lo ? x->logical : lo;
		uint64_t b = x->logical + x->length < hi ?
				     x->logical + x->length : hi;

		if (a >= b || !(x->flags & EXTENT_SHARED) ||
		    (x->flags & (EXTENT_ENCODED | EXTENT_UNKNOWN |
				 EXTENT_DELALLOC | EXTENT_INLINE)))
			continue;
		m->v = grow_array(m->v, &m->cap, m->n + 1, sizeof(*m->v));
		m->v[m->n++] = (struct relink){
			.physical = x->physical + (a - x->logical),
			.len = b - a,
			.src_id = o->src_id,
			.src_off = src_off + (a - lo),
		};
	}
}

int executor_relink_cmp(const void *a, const void *b)
{
	const struct relink *x = a, *y = b;

	return x->physical < y->physical ? -1 : x->physical > y->physical;
}

/*
 * Ops that dedupe each alias of @job onto where its data went. Relinks are
 * disjoint: each range of an extent is claimed and deduped once.
 */
void executor_alias_ops(struct engine *e, struct file_job *job, struct op **ops,
			size_t *nops, size_t *cap)
{
	struct relink_map *m = &e->relinks;

	for (size_t i = 0; i < job->naliases; i++) {
		const struct alias *al = &job->aliases[i];
		uint64_t end = al->physical + al->len;
		size_t lo = 0, hi = m->n;

		while (lo < hi) {	/* the first relink ending after it */
			size_t mid = (lo + hi) / 2;

			if (m->v[mid].physical + m->v[mid].len <= al->physical)
				lo = mid + 1;
			else
				hi = mid;
		}
		for (; lo < m->n && m->v[lo].physical < end; lo++) {
			struct relink *r = &m->v[lo];
			uint64_t a = r->physical > al->physical ?
					     r->physical : al->physical;
			uint64_t b = r->physical + r->len < end ?
					     r->physical + r->len : end;

			if (a >= b)
				continue;
			r->claimed += b - a;
			*ops = grow_array(*ops, cap, *nops + 1, sizeof(**ops));
			(*ops)[(*nops)++] = (struct op){
				.src_id = r->src_id,
				.src_off = r->src_off + (a - r->physical),
				.len = b - a,
				.dst = job,
				.dst_off = al->logical + (a - al->physical),
				.alias = true,
			};
		}
	}
}

static int moved_cmp(const void *a, const void *b)
{
	const struct moved *x = a, *y = b;

	if (x->id != y->id)
		return x->id < y->id ? -1 : 1;
	return x->off < y->off ? -1 : x->off > y->off;
}

#define FOLLOW_ROUNDS 4

/*
 * A range that moved in this batch (deduped onto another file, or
 * relocated) may already have served as the source of another file's
 * dedupe: that file still holds the old extent, which stays pinned. Dedupe
 * it again from the same offsets, which now are the data's new place; that
 * moves it in turn, so repeat for what depended on it, a few rounds at most.
 * With every block indexed this is rare: a source range is never itself a
 * duplicate. It comes with relocation and with sampling.
 */
void executor_follow_moves(struct engine *e, struct src_file **cache,
			   struct op **ops, size_t *nops, size_t *cap,
			   struct moved_list *moved)
{
	struct moved_list next = { 0 };
	size_t first = 0, round, i, n;

	for (round = 0; round < FOLLOW_ROUNDS && moved->n; round++) {
		n = *nops;
		qsort(moved->v, moved->n, sizeof(*moved->v), moved_cmp);
		for (i = first; i < n; i++) {
			struct op o = (*ops)[i];
			uint64_t end = o.src_off + o.len;
			size_t lo = 0, hi = moved->n;

			while (lo < hi) {	/* first move of the source ending after */
				size_t mid = (lo + hi) / 2;
				const struct moved *m = &moved->v[mid];

				if (m->id < o.src_id ||
				    (m->id == o.src_id &&
				     m->off + m->len <= o.src_off))
					lo = mid + 1;
				else
					hi = mid;
			}
			for (; lo < moved->n && moved->v[lo].id == o.src_id &&
			       moved->v[lo].off < end;
			     lo++) {
				const struct moved *m = &moved->v[lo];
				uint64_t a = m->off > o.src_off ? m->off :
								  o.src_off;
				uint64_t b = m->off + m->len < end ?
						     m->off + m->len : end;

				*ops = grow_array(*ops, cap, *nops + 1,
						  sizeof(**ops));
				(*ops)[(*nops)++] = (struct op){
					.src_id = o.src_id,
					.src_off = a,
					.len = b - a,
					.dst = o.dst,
					.dst_off = o.dst_off + (a - o.src_off),
					.alias = true,
				};
			}
		}
		if (*nops == n)
			break;
		next.n = 0;
		executor_run_ops(e, cache, &next, *ops + n, *nops - n);
		first = n;
		moved->n = 0;
		for (i = 0; i < next.n; i++)
			executor_add_moved(moved, next.v[i].id, next.v[i].off,
					   next.v[i].len);
	}
	free(next.v);
}
