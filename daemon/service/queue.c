// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The coalescing queue of the watch daemon. See queue.h.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <uthash.h>

#include "daemon/service/queue.h"
#include "daemon/common/util.h"

struct queue_entry {
	struct file_id_handle h;	/* the key, zero-padded */
	struct file_id_handle dir;	/* where last seen; len 0: not known */
	char *name;
	UT_hash_handle hh;
	double first, last;	/* first and last write since queued */
	double taken;		/* when last taken up, 0: never */
	uint64_t tag;		/* when queued */
	uint64_t flight_tag;	/* the tag it was taken with */
	bool queued;		/* waiting to be taken up */
	bool in_flight;
};

void wqueue_note(struct wqueue *q, const struct file_id_handle *h,
		 const struct file_id_handle *dir, const char *name,
		 double now, uint64_t tag)
{
	struct file_id_handle key;
	struct queue_entry *p;

	memset(&key, 0, sizeof(key));
	key.type = h->type;
	key.len = h->len < FILE_HANDLE_MAX ? h->len : FILE_HANDLE_MAX;
	memcpy(key.data, h->data, key.len);
	HASH_FIND(hh, q->map, &key, sizeof(key), p);
	if (!p) {
		p = xcalloc(1, sizeof(*p));
		p->h = key;
		HASH_ADD(hh, q->map, h, sizeof(p->h), p);
	}
	if (!p->queued) {
		p->queued = true;
		p->first = now;
		p->tag = tag;
		q->nqueued++;
	}
	p->last = now;
	if (dir && name && dir->len <= FILE_HANDLE_MAX) {
		if (!p->name || strcmp(p->name, name)) {
			free(p->name);
			p->name = xstrdup(name);
		}
		p->dir = *dir;
	}
}

static void entry_free(struct queue_entry *p)
{
	free(p->name);
	free(p);
}

static double due_time(const struct queue_entry *p,
		       const struct queue_timing *t)
{
	double d = p->last + t->settle;

	if (p->first + t->min_age > d)
		d = p->first + t->min_age;
	if (p->taken && p->taken + t->reexamine > d)
		d = p->taken + t->reexamine;
	return d;
}

size_t wqueue_take(struct wqueue *q, const struct queue_timing *t, double now,
		   struct wqueue_item *out, size_t max)
{
	struct queue_entry *p, *tmp;
	size_t n = 0;

	HASH_ITER(hh, q->map, p, tmp) {
		if (!p->queued) {
			/* Forgotten once it may be taken again at once. */
			if (!p->in_flight && now - p->taken >= t->reexamine) {
				HASH_DEL(q->map, p);
				entry_free(p);
			}
			continue;
		}
		if (n == max || p->in_flight || due_time(p, t) > now)
			continue;
		p->queued = false;
		p->in_flight = true;
		p->flight_tag = p->tag;
		q->nqueued--;
		out[n].h = p->h;
		out[n].dir = p->dir;
		out[n].name = p->name ? xstrdup(p->name) : NULL;
		n++;
	}
	q->nflight += n;
	return n;
}

void wqueue_done(struct wqueue *q, double now, bool stopped)
{
	struct queue_entry *p, *tmp;

	HASH_ITER(hh, q->map, p, tmp) {
		if (!p->in_flight)
			continue;
		p->in_flight = false;
		p->taken = now;
		if (stopped && !p->queued) {
			/* Not done: still owed, for the checkpoint. */
			p->queued = true;
			p->first = p->last = now;
			p->tag = p->flight_tag;
			q->nqueued++;
		} else if (p->queued && p->flight_tag < p->tag) {
			/* Written again while in flight, and maybe not done. */
			p->tag = p->flight_tag;
		}
	}
	q->nflight = 0;
}

double wqueue_next_due(const struct wqueue *q, const struct queue_timing *t)
{
	const struct queue_entry *p, *tmp;
	double next = INFINITY;

	HASH_ITER(hh, q->map, p, tmp) {
		double d;

		if (p->in_flight)
			continue;
		d = p->queued ? due_time(p, t) : p->taken + t->reexamine;
		if (d < next)
			next = d;
	}
	return next;
}

uint64_t wqueue_floor(const struct wqueue *q, uint64_t floor)
{
	const struct queue_entry *p, *tmp;

	HASH_ITER(hh, q->map, p, tmp) {
		if (p->queued && p->tag < floor)
			floor = p->tag;
		if (p->in_flight && p->flight_tag < floor)
			floor = p->flight_tag;
	}
	return floor;
}

void wqueue_fini(struct wqueue *q)
{
	struct queue_entry *p, *tmp;

	HASH_ITER(hh, q->map, p, tmp) {
		HASH_DEL(q->map, p);
		entry_free(p);
	}
	memset(q, 0, sizeof(*q));
}
