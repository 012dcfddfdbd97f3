/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef DEDUPD_QUEUE_H
#define DEDUPD_QUEUE_H

/*
 * The watch daemon's coalescing queue: files named by events, one entry per
 * file handle, taken up once settled. Not thread-safe: the caller locks.
 *
 * Each queued file carries a tag, the caller's "everything before this is
 * done" mark when the file was queued (on btrfs a transaction id); the
 * least tag of what is queued or in flight bounds a checkpoint.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ioctl-compat/handle.h"

struct queue_timing {
	double settle;		/* no write for this long */
	double min_age;		/* and this long since the first write */
	double reexamine;	/* and this long since it was last taken up */
};

struct queue_entry;

struct wqueue {
	struct queue_entry *map;
	size_t nqueued;		/* waiting to be taken up */
	size_t nflight;		/* taken, not yet done */
};

/* A file taken up: its handle and where an event last saw it. */
struct wqueue_item {
	struct file_id_handle h;
	struct file_id_handle dir;	/* its directory; len 0: not known */
	char *name;			/* its name there, or NULL; the
					 * taker frees it */
};

/*
 * Notes a write to the file @h at @now; queues it with @tag if it waits
 * for nothing yet. @dir and @name, if not NULL, say where the file is (the
 * event's directory and name); the last ones given are kept, which costs
 * the queued file their bytes.
 */
void wqueue_note(struct wqueue *q, const struct file_id_handle *h,
		 const struct file_id_handle *dir, const char *name,
		 double now, uint64_t tag);

/*
 * Takes up to @max settled files: copies their handles and locations to
 * @out and marks them in flight. Forgets files done long enough ago to be
 * taken again at once. Returns how many were taken.
 */
size_t wqueue_take(struct wqueue *q, const struct queue_timing *t, double now,
		   struct wqueue_item *out, size_t max);

/*
 * The files of the last wqueue_take are done (at @now), or, if @stopped,
 * not done: they wait again with the tags they had.
 */
void wqueue_done(struct wqueue *q, double now, bool stopped);

/* When the next file is due, or forgotten; INFINITY if never. */
double wqueue_next_due(const struct wqueue *q, const struct queue_timing *t);

/* The least of @floor and the tags of the files queued or in flight. */
uint64_t wqueue_floor(const struct wqueue *q, uint64_t floor);

/* Frees every entry. */
void wqueue_fini(struct wqueue *q);

#endif
