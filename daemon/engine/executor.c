// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Execute a batch's runs through FIDEDUPERANGE.
 *
 * Runs are cut into chunks of at most CHUNK_LEN (writers to a range block
 * while the kernel compares it), then chunks with the same source range are
 * grouped so that one call serves up to DEDUPE_MAX_DESTS destinations.
 * Groups go largest gain first. On btrfs, an extent that was only partly
 * deduped is freed only once the rest of it is gone too: its unique remainder
 * is copied into an O_TMPFILE and deduped onto the original when that frees
 * more than it writes (executor-relocate.c). Whether a range's referrers
 * can follow and pay for their metadata is executor-meta.c's; the other
 * names of what moved, executor-follow.c's.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uthash.h>

#include "daemon/engine/executor-internal.h"
#include "daemon/engine/engine.h"
#include "daemon/common/log.h"
#include "daemon/engine/metabudget.h"
#include "daemon/engine/plan.h"
#include "daemon/engine/relink.h"
#include "daemon/common/util.h"
#include "ioctl-compat/btrfs.h"
#include "ioctl-compat/dedupe.h"

#define CHUNK_LEN (16ULL << 20)
#define COPY_BUF (1u << 20)

void executor_add_moved(struct moved_list *m, uint32_t id, uint64_t off,
			uint64_t len)
{
	m->v = grow_array(m->v, &m->cap, m->n + 1, sizeof(*m->v));
	m->v[m->n++] = (struct moved){ id, off, len };
}

struct src_file {
	uint32_t id;
	int fd;			/* < 0: cannot be opened */
	UT_hash_handle hh;
};

static int op_cmp_source(const void *a, const void *b)
{
	const struct op *x = a, *y = b;
	int cmp;

	if ((cmp = cmp_u64(x->src_id, y->src_id)) ||
	    (cmp = cmp_u64(x->src_off, y->src_off)))
		return cmp;
	return cmp_u64(x->len, y->len);
}

struct group {
	size_t first, n;
	uint64_t gain;
};

static int group_cmp_gain(const void *a, const void *b)
{
	const struct group *x = a, *y = b;

	if (x->gain != y->gain)
		return x->gain > y->gain ? -1 : 1;
	return x->first < y->first ? -1 : 1;
}

static int source_fd(struct engine *e, struct src_file **cache, uint32_t id)
{
	struct src_file *s;

	HASH_FIND(hh, *cache, &id, sizeof(id), s);
	if (s)
		return s->fd;
	s = xcalloc(1, sizeof(*s));
	s->id = id;
	s->fd = engine_open_file(e, id);
	HASH_ADD(hh, *cache, id, sizeof(s->id), s);
	return s->fd;
}

static void close_sources(struct src_file **cache)
{
	struct src_file *s, *tmp;

	HASH_ITER(hh, *cache, s, tmp) {
		HASH_DEL(*cache, s);
		if (s->fd >= 0)
			close(s->fd);
		free(s);
	}
}

static void add_done(struct file_job *job, uint64_t off, uint64_t len)
{
	job->done = grow_array(job->done, &job->cap_done, job->ndone + 1,
			       sizeof(*job->done));
	job->done[job->ndone++] = (struct byte_range){ off, len };
}

/* The extent of @job holding byte @off, or NULL. */
static const struct extent *job_extent_at(const struct file_job *job,
					  uint64_t off)
{
	size_t lo = 0, hi = job->nextents;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		const struct extent *x = &job->extents[mid];

		if (off < x->logical)
			hi = mid;
		else if (off >= x->logical + x->length)
			lo = mid + 1;
		else
			return x;
	}
	return NULL;
}

/* The first extent of @fd over [off, +len), if it is data. */
static bool extent_of(int fd, uint64_t off, uint64_t len, struct extent *x)
{
	struct fiemap_iter *it;
	bool ok;

	if (fiemap_iter_open(fd, off, off + len, 0, &it) < 0)
		return false;
	ok = fiemap_iter_next(it, x) == 1 && !(x->flags & EXTENT_HOLE);
	fiemap_iter_free(it);
	return ok;
}

/*
 * Whether [dst_off, +len) of the destination already is the source's data
 * on disk (a reflink, a snapshot, an earlier pass). Only an extent FIEMAP
 * called shared can be, so others cost nothing to check. An alias op's
 * destination is mapped afresh: the relocation primitive may have moved it
 * onto this source since the walk (relink.h).
 */
static bool already_shared(int src_fd, uint64_t src_off, uint64_t len,
			   const struct op *o)
{
	const struct extent *dx = job_extent_at(o->dst, o->dst_off);
	struct extent sx, fresh;

	if (!dx || !(dx->flags & EXTENT_SHARED))
		return false;
	if (o->alias) {
		if (!extent_of(o->dst->fd, o->dst_off, len, &fresh))
			return false;
		dx = &fresh;
	}
	if (dx->logical > o->dst_off ||
	    dx->logical + dx->length < o->dst_off + len)
		return false;
	return extent_of(src_fd, src_off, len, &sx) &&
	       sx.logical == src_off && sx.length >= len &&
	       sx.physical == dx->physical + (o->dst_off - dx->logical);
}

/*
 * Whether [@off, +@len) of @fd now passes its end: the file shrank since it
 * was hashed, and the kernel refused the range (EINVAL) rather than
 * compare it.
 */
static bool shrank_under(int fd, uint64_t off, uint64_t len)
{
	struct stat st;

	return fstat(fd, &st) == 0 && (uint64_t)st.st_size < off + len;
}

/*
 * The outcome of one destination of a dedupe of @len bytes from @src at
 * @src_off: counted; what moved is recorded, and its referrers follow.
 */
static void dest_done(struct engine *e, struct moved_list *moved,
		      const struct op *op, const struct dedupe_dest *dest,
		      bool follow, struct relink_items *items, int src,
		      uint64_t src_off, uint64_t len)
{
	if (dest->status == 0 && dest->bytes) {
		atomic_fetch_add(op->alias ? &e->st.bytes_relinked :
					     &e->st.bytes_deduped,
				 dest->bytes);
		add_done(op->dst, op->dst_off, dest->bytes);
		/* A relink or a re-run moves a range whose old place
		 * the original dedupe recorded, with this source. */
		if (!op->alias)
			executor_record_relinks(e, op, src_off, dest->bytes);
		executor_add_moved(moved, op->dst->file_id, op->dst_off,
				   dest->bytes);
		if (follow &&
		    executor_may_have_referrers(e, op->dst, op->dst_off,
						dest->bytes)) {
			executor_follow_referrers(e, op->dst, items,
						  op->dst_off, dest->bytes, src,
						  src_off);
			if (op->plan > 0 && op->others)
				metabudget_spend(e->budget, op->cand);
		}
	} else if (dest->status == -EBADE ||
		   (dest->status == -EINVAL &&
		    (shrank_under(src, src_off, len) ||
		     shrank_under(dest->fd, dest->offset, len)))) {
		/* Changed since hashing: the kernel kept both. */
		atomic_fetch_add(&e->st.differs, 1);
	} else if (dest->status == -EIO) {
		log_warn("cannot compare '%s' at %llu (%llu bytes) with its "
			 "copy: %s, skipping",
			 op->dst->path, (unsigned long long)op->dst_off,
			 (unsigned long long)len, strerror(-dest->status));
		atomic_fetch_add(&e->st.errors, 1);
	} else if (dest->status < 0) {
		log_debug("dedupe onto '%s' at %llu, %llu bytes: %s",
			  op->dst->path, (unsigned long long)op->dst_off,
			  (unsigned long long)len, strerror(-dest->status));
	}
}

static void run_group(struct engine *e, struct src_file **cache,
		      struct moved_list *moved, struct op *ops, size_t n)
{
	struct dedupe_dest dests[DEDUPE_MAX_DESTS];
	struct op *live[DEDUPE_MAX_DESTS];
	struct relink_items items[DEDUPE_MAX_DESTS];
	bool follow[DEDUPE_MAX_DESTS];
	const struct op *o = &ops[0];
	unsigned int nd = 0;
	uint64_t src_off = o->src_off;
	size_t i, stand_in = n;
	int64_t ret;
	int src;

	src = source_fd(e, cache, o->src_id);
	if (src < 0)
		return;
	if (!executor_source_in_domain(e, src, src_off, o->len)) {
		/* Shared with another domain: one of the copies serves. */
		for (stand_in = 0; stand_in < n; stand_in++)
			if (!ops[stand_in].alias &&
			    executor_source_in_domain(e, ops[stand_in].dst->fd,
						      ops[stand_in].dst_off,
						      o->len))
				break;
		if (stand_in == n)
			return;
		src = ops[stand_in].dst->fd;
		src_off = ops[stand_in].dst_off;
	}
	for (i = 0; i < n; i++) {
		if (i == stand_in)
			continue;
		if (already_shared(src, src_off, o->len, &ops[i])) {
			atomic_fetch_add(&e->st.bytes_already_shared,
					 ops[i].len);
			continue;
		}
		live[nd] = &ops[i];
		dests[nd++] = (struct dedupe_dest){ .fd = ops[i].dst->fd,
						    .offset = ops[i].dst_off };
	}
	if (!nd)
		return;
	memset(items, 0, sizeof(items[0]) * nd);
	for (i = 0; i < nd;) {
		follow[i] =
			!live[i]->alias &&
			executor_old_items(e, live[i]->dst, live[i]->dst_off,
					   o->len, &items[i]);
		if (follow[i] &&
		    !executor_worth_deduping(e, live[i], o->len, &items[i])) {
			relink_items_release(&items[i]);
			nd--;
			live[i] = live[nd];
			dests[i] = dests[nd];
			continue;
		}
		i++;
	}
	if (!nd)
		return;
	ret = dedupe_submit(src, src_off, o->len, dests, nd, e->blksz);
	atomic_fetch_add(&e->st.dedupe_calls, 1);
	if (ret <= 0) {
		if (ret == -EIO) {
			/* A bad block in the source: the kernel's compare
			 * could not read it. Nothing changed; drop it. */
			log_warn("cannot compare '%s' at %llu (%llu bytes) with its copy: %s, skipping",
				 live[0]->dst->path,
				 (unsigned long long)live[0]->dst_off,
				 (unsigned long long)o->len,
				 strerror((int)-ret));
			atomic_fetch_add(&e->st.errors, 1);
		} else if (ret < 0) {
			log_debug("dedupe from file %u at %llu, %llu bytes: %s",
				  o->src_id, (unsigned long long)src_off,
				  (unsigned long long)o->len, strerror((int)-ret));
		}
		goto out;
	}
	for (i = 0; i < nd; i++)
		dest_done(e, moved, live[i], &dests[i], follow[i], &items[i],
			  src, src_off, o->len);
out:
	for (i = 0; i < nd; i++)
		relink_items_release(&items[i]);
}


/* Groups @ops by source range and runs the groups, largest gain first. */
#define PREFETCH_AHEAD (64ULL << 20)
#define PREFETCH_STEP (128u << 10)

/*
 * POSIX_FADV_WILLNEED reads ahead at most the device's readahead window
 * (128 KiB by default) a call: asked for a step at a time.
 */
static void prefetch_range(int fd, uint64_t off, uint64_t len)
{
	for (uint64_t at = 0; at < len; at += PREFETCH_STEP)
		(void)posix_fadvise(fd, (off_t)(off + at),
				    (off_t)(len - at < PREFETCH_STEP ?
						    len - at : PREFETCH_STEP),
				    POSIX_FADV_WILLNEED);
}

/*
 * Keyed by csums, the hasher did not read the data: the kernel's compare
 * would, a folio at a time without readahead (about 50 MB/s cold on btrfs).
 * Asked for ahead of their group's turn, both sides come in large reads
 * while the groups before are compared. Returns the bytes asked for.
 */
static uint64_t prefetch_group(struct engine *e, struct src_file **cache,
			       const struct op *ops, size_t n)
{
	int src;

	if (!e->csum.on)
		return 0;
	src = source_fd(e, cache, ops[0].src_id);
	if (src >= 0)
		prefetch_range(src, ops[0].src_off, ops[0].len);
	for (size_t i = 0; i < n; i++)
		prefetch_range(ops[i].dst->fd, ops[i].dst_off, ops[i].len);
	return ops[0].len * (n + 1);
}

void executor_run_ops(struct engine *e, struct src_file **cache,
		      struct moved_list *moved, struct op *ops, size_t nops)
{
	struct group *groups = NULL;
	size_t ngroups = 0, cap_groups = 0, i, j;
	uint64_t ahead = 0;

	if (!nops)
		return;		/* ops may be NULL: qsort must not see it */
	qsort(ops, nops, sizeof(*ops), op_cmp_source);
	for (i = 0; i < nops; i = j) {
		for (j = i + 1; j < nops && j - i < DEDUPE_MAX_DESTS &&
				!op_cmp_source(&ops[i], &ops[j]);
		     j++)
			;
		groups = grow_array(groups, &cap_groups, ngroups + 1,
				    sizeof(*groups));
		groups[ngroups++] = (struct group){ i, j - i,
						    ops[i].len * (j - i) };
	}
	qsort(groups, ngroups, sizeof(*groups), group_cmp_gain);
	for (i = 0, j = 0; i < ngroups; i++) {
		const struct op *g = &ops[groups[i].first];

		/* the groups up to PREFETCH_AHEAD bytes ahead are asked for */
		for (; j < ngroups && (j <= i || ahead < PREFETCH_AHEAD); j++)
			ahead += prefetch_group(e, cache,
						&ops[groups[j].first],
						groups[j].n);
		run_group(e, cache, moved, &ops[groups[i].first], groups[i].n);
		if (e->csum.on)
			ahead -= g->len * (groups[i].n + 1);
	}
	free(groups);
}

void engine_execute(struct engine *e, struct file_job *jobs, size_t njobs)
{
	struct src_file *cache = NULL;
	struct moved_list moved = { 0 };
	struct op *ops = NULL;
	size_t nops = 0, cap_ops = 0, n1, i, j;
	uint8_t *buf;

	if (e->dry_run)
		return;
	for (i = 0; i < njobs; i++) {
		struct file_job *job = &jobs[i];

		if (!job->hashed)
			continue;
		for (j = 0; j < job->nruns; j++) {
			const struct match_run *r = &job->runs[j];
			uint64_t done = 0;

			while (done < r->len) {
				uint64_t len = r->len - done;

				if (len > CHUNK_LEN)
					len = CHUNK_LEN;
				ops = grow_array(ops, &cap_ops, nops + 1,
						 sizeof(*ops));
				ops[nops++] = (struct op){
					.src_id = r->src_id,
					.src_off = r->src_blk * e->blksz + done,
					.len = len,
					.dst = job,
					.dst_off = r->dst_blk * e->blksz + done,
				};
				done += len;
			}
		}
	}
	n1 = nops;
	executor_plan_metadata(e, ops, n1);
	executor_run_ops(e, &cache, &moved, ops, n1);

	/* Then the other names of what was deduped: snapshots, reflinks. */
	if (e->relinks.n > e->relinks.sorted) {
		qsort(e->relinks.v, e->relinks.n, sizeof(*e->relinks.v),
		      executor_relink_cmp);
		e->relinks.sorted = e->relinks.n;
	}
	for (i = 0; i < njobs; i++)
		if (jobs[i].hashed && jobs[i].naliases)
			executor_alias_ops(e, &jobs[i], &ops, &nops, &cap_ops);
	executor_run_ops(e, &cache, &moved, ops + n1, nops - n1);

	if (e->fs.kind == FS_BTRFS && e->tmp_dir) {
		buf = xmalloc(COPY_BUF);
		for (i = 0; i < njobs; i++)
			if (jobs[i].ndone)
				executor_relocate(e, &jobs[i], buf, &moved, ops,
						  nops);
		free(buf);
	}
	executor_follow_moves(e, &cache, &ops, &nops, &cap_ops, &moved);
	if (e->relink)
		relink_reset(e->relink);
	if (e->budget)
		metabudget_end_batch(e->budget);
	close_sources(&cache);
	free(moved.v);
	free(ops);
}
