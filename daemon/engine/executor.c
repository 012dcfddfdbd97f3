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
 * more than it writes.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uthash.h>

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

struct op {
	uint32_t src_id;
	uint64_t src_off;
	uint64_t len;
	struct file_job *dst;
	uint64_t dst_off;
	bool alias;		/* relinks another name of deduped data */
	int8_t plan;		/* 1 follow, -1 pinned, 0 ask when run */
	uint32_t others;	/* files in other subvolumes that follow */
	size_t cand;		/* in e->budget, if others */
};

/* Ranges of files whose data moved in this batch (deduped or relocated). */
struct moved {
	uint32_t id;
	uint64_t off, len;
};

struct moved_list {
	struct moved *v;
	size_t n, cap;
};

static void add_moved(struct moved_list *m, uint32_t id, uint64_t off,
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

	if (x->src_id != y->src_id)
		return x->src_id < y->src_id ? -1 : 1;
	if (x->src_off != y->src_off)
		return x->src_off < y->src_off ? -1 : 1;
	if (x->len != y->len)
		return x->len < y->len ? -1 : 1;
	return 0;
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
 * --domain: a source whose extents other files share may be shared with
 * another domain's file (a reflink made by another user, a snapshot in
 * another subvolume): deduping onto it would share the data with that
 * file. Only sources whose every referrer is in their domain serve; on
 * XFS, which cannot name them, a shared source does not.
 */
static bool source_in_domain(struct engine *e, int src, uint64_t off,
			     uint64_t len)
{
	struct fiemap_iter *it;
	struct extent x;
	bool ok = true;
	int r;

	if (e->domain == DOMAIN_NONE)
		return true;
	if (fiemap_iter_open(src, off, off + len, 0, &it) < 0)
		return false;
	while (ok && (r = fiemap_iter_next(it, &x)) == 1) {
		if (!(x.flags & EXTENT_SHARED))
			continue;
		ok = e->relink && !(x.flags & EXTENT_ENCODED) &&
		     relink_extent_in_domain(e->relink, src, x.physical);
	}
	if (r < 0)
		ok = false;
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
 * After [dst_off, +len) of @o's destination was deduped onto the source at
 * @src_off: the parts of it in shared extents may have other names
 * (snapshots, reflinks) that still pin the old extent. Record where they
 * went, for those names to follow.
 */
static void record_relinks(struct engine *e, const struct op *o,
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

static int relink_cmp(const void *a, const void *b)
{
	const struct relink *x = a, *y = b;

	return x->physical < y->physical ? -1 : x->physical > y->physical;
}

/*
 * Ops that dedupe each alias of @job onto where its data went. Relinks are
 * disjoint: each range of an extent is claimed and deduped once.
 */
static void alias_ops(struct engine *e, struct file_job *job, struct op **ops,
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

/* Whether any extent of @job over [off, +len) is shared with another file. */
static bool range_shared(const struct file_job *job, uint64_t off,
			 uint64_t len)
{
	for (size_t i = 0; i < job->nextents; i++) {
		const struct extent *x = &job->extents[i];

		if (x->logical < off + len && x->logical + x->length > off &&
		    (x->flags & EXTENT_SHARED))
			return true;
	}
	return false;
}

/* btrfs: the items of @job over [off, +len). Returns whether there are any. */
static bool job_items(struct engine *e, struct file_job *job, uint64_t off,
		      uint64_t len, struct relink_items *items)
{
	items->n = 0;
	if (!job->root &&
	    btrfs_file_root(job->fd, &job->root, &job->ino) < 0)
		job->root = 0;
	return job->root &&
	       relink_items_read(e->relink, job->root, job->ino, off,
				 off + len, items) == 0 &&
	       items->n;
}

/*
 * btrfs: the items of @job over [off, +len) before they move, so that its
 * other referrers follow (relink.h). Read whether or not FIEMAP called the
 * extents shared when the file was hashed (one tree search): a snapshot
 * may be taken before the move (see may_have_referrers). Returns whether
 * there is anything to follow.
 */
static bool old_items(struct engine *e, struct file_job *job, uint64_t off,
		      uint64_t len, struct relink_items *items)
{
	items->n = 0;
	if (!e->relink)
		return false;
	return job_items(e, job, off, len, items);
}

/*
 * After [off, +len) of @job moved: whether another file may still refer to
 * its old data, i.e. whether looking for referrers (LOGICAL_INO_V2, the
 * costly part) is worth it. FIEMAP's shared flag is as of the hashing. A
 * snapshot of the file's subvolume committed since (between hashing and
 * executing the batch, or while the dedupe waited for that commit) shows
 * in the subvolume's last_snapshot, read now, after the move: a
 * transaction later than the one committed before hashing. (A reflink of
 * the file made meanwhile does not: in watch it raises events of its own,
 * and any later pass finds it as a duplicate.)
 */
static bool may_have_referrers(struct engine *e, const struct file_job *job,
			       uint64_t off, uint64_t len)
{
	uint64_t last;

	if (!job->gen || range_shared(job, off, len))
		return true;
	return btrfs_root_last_snapshot(e->mount_fd, job->root, &last) < 0 ||
	       last > job->gen;
}

/*
 * After [off, +moved) of @job moved to @src at @src_off: its other
 * referrers follow.
 */
static void follow_referrers(struct engine *e, struct file_job *job,
			     struct relink_items *items, uint64_t off,
			     uint64_t moved, int src, uint64_t src_off)
{
	struct relink_stats rs = { 0 };

	while (items->n &&
	       items->v[items->n - 1].file_off >= off + moved)
		items->n--;	/* the kernel shared less than asked */
	if (items->n) {
		struct relink_item *last = &items->v[items->n - 1];

		if (last->file_off + last->len > off + moved)
			last->len = off + moved - last->file_off;
	}
	items->end = off + moved;
	(void)relink_range(e->relink, items, src,
			   (int64_t)src_off - (int64_t)off, job->root,
			   job->ino, -1, NULL, &rs);
	atomic_fetch_add(&e->st.bytes_relinked, rs.bytes_relinked);
	atomic_fetch_add(&e->st.refs_relinked, rs.refs_relinked);
	atomic_fetch_add(&e->st.refs_pinned, rs.refs_pinned + rs.refs_busy);
	atomic_fetch_add(&e->st.bytes_pinned, rs.bytes_pinned);
	atomic_fetch_add(&e->st.errors, rs.errors);
}

/*
 * Deduping a range that other files refer to frees its old extent only if
 * they all follow. If some cannot (a read-only snapshot with
 * --snapshots=skip, a holder that maps the extent otherwise, one whose
 * metadata would cost more than the data freed), the dedupe would free
 * nothing and still rewrite the file's metadata, in every snapshot that
 * shares its leaves: leave the range alone, counted as pinned (a dry run of
 * the relinker, relink_would_follow).
 */
static bool worth_deduping(struct engine *e, const struct op *o,
			   uint64_t len, const struct relink_items *items)
{
	struct relink_stats rs = { 0 };

	if (o->plan)
		return o->plan > 0;	/* plan_metadata() asked */
	if (!may_have_referrers(e, o->dst, o->dst_off, len) ||
	    relink_would_follow(e->relink, items, o->dst->root, o->dst->ino,
				&rs, NULL))
		return true;
	atomic_fetch_add(&e->st.refs_pinned, rs.refs_pinned);
	atomic_fetch_add(&e->st.bytes_pinned, rs.bytes_pinned);
	atomic_fetch_add(&e->st.errors, rs.errors);
	return false;
}

/*
 * Before a batch runs: for each range to dedupe whose data other files
 * share, whether its referrers can all follow (a dry run of the relinker)
 * and, for those in other subvolumes, whether the data freed pays for the
 * metadata their move costs, weighed over the whole batch per leaf
 * (metabudget.h). The file's own subvolume pays too: it shares its leaves
 * with its snapshots. A range that could not free its extent, or would
 * cost more than it frees, is pinned (counted) and left alone.
 */
static void plan_metadata(struct engine *e, struct op *ops, size_t n)
{
	struct relink_items items = { 0 };
	struct relink_files others = { 0 };
	bool any = false;
	size_t i;

	if (!e->budget)
		return;
	for (i = 0; i < n; i++) {
		struct op *o = &ops[i];
		struct relink_stats rs = { 0 };

		o->plan = 0;
		if (o->alias ||
		    !old_items(e, o->dst, o->dst_off, o->len, &items) ||
		    !may_have_referrers(e, o->dst, o->dst_off, o->len))
			continue;
		others.n = 0;
		if (!relink_would_follow(e->relink, &items, o->dst->root,
					 o->dst->ino, &rs, &others)) {
			o->plan = -1;
			atomic_fetch_add(&e->st.refs_pinned, rs.refs_pinned);
			atomic_fetch_add(&e->st.bytes_pinned, rs.bytes_pinned);
			atomic_fetch_add(&e->st.errors, rs.errors);
			continue;
		}
		o->plan = 1;
		o->others = (uint32_t)others.n;
		if (!others.n)
			continue;
		relink_files_add(&others, o->dst->root, o->dst->ino);
		o->cand = metabudget_add(e->budget, o->len,
					 (const uint64_t (*)[2])others.v,
					 others.n);
		any = true;
	}
	relink_items_release(&items);
	free(others.v);
	if (!any)
		return;
	metabudget_decide(e->budget);
	for (i = 0; i < n; i++) {
		struct op *o = &ops[i];

		if (o->plan <= 0 || !o->others ||
		    metabudget_ok(e->budget, o->cand))
			continue;
		o->plan = -1;
		atomic_fetch_add(&e->st.refs_pinned, o->others);
		atomic_fetch_add(&e->st.bytes_pinned, o->len * o->others);
	}
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
	if (!source_in_domain(e, src, src_off, o->len)) {
		/* Shared with another domain: one of the copies serves. */
		for (stand_in = 0; stand_in < n; stand_in++)
			if (!ops[stand_in].alias &&
			    source_in_domain(e, ops[stand_in].dst->fd,
					     ops[stand_in].dst_off, o->len))
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
		follow[i] = !live[i]->alias &&
			    old_items(e, live[i]->dst, live[i]->dst_off,
				      o->len, &items[i]);
		if (follow[i] && !worth_deduping(e, live[i], o->len,
						 &items[i])) {
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
	for (i = 0; i < nd; i++) {
		if (dests[i].status == 0 && dests[i].bytes) {
			atomic_fetch_add(live[i]->alias ?
						 &e->st.bytes_relinked :
						 &e->st.bytes_deduped,
					 dests[i].bytes);
			add_done(live[i]->dst, live[i]->dst_off,
				 dests[i].bytes);
			/* A relink or a re-run moves a range whose old place
			 * the original dedupe recorded, with this source. */
			if (!live[i]->alias)
				record_relinks(e, live[i], src_off,
					       dests[i].bytes);
			add_moved(moved, live[i]->dst->file_id,
				  live[i]->dst_off, dests[i].bytes);
			if (follow[i] &&
			    may_have_referrers(e, live[i]->dst,
					       live[i]->dst_off,
					       dests[i].bytes)) {
				follow_referrers(e, live[i]->dst, &items[i],
						 live[i]->dst_off,
						 dests[i].bytes, src, src_off);
				if (live[i]->plan > 0 && live[i]->others)
					metabudget_spend(e->budget,
							 live[i]->cand);
			}
		} else if (dests[i].status == -EBADE ||
			   (dests[i].status == -EINVAL &&
			    (shrank_under(src, src_off, o->len) ||
			     shrank_under(dests[i].fd, dests[i].offset,
					  o->len)))) {
			/* Changed since hashing: the kernel kept both. */
			atomic_fetch_add(&e->st.differs, 1);
		} else if (dests[i].status == -EIO) {
			log_warn("cannot compare '%s' at %llu (%llu bytes) with its copy: %s, skipping",
				 live[i]->dst->path,
				 (unsigned long long)live[i]->dst_off,
				 (unsigned long long)o->len,
				 strerror(-dests[i].status));
			atomic_fetch_add(&e->st.errors, 1);
		} else if (dests[i].status < 0) {
			log_debug("dedupe onto '%s' at %llu, %llu bytes: %s",
				  live[i]->dst->path,
				  (unsigned long long)live[i]->dst_off,
				  (unsigned long long)o->len,
				  strerror(-dests[i].status));
		}
	}
out:
	for (i = 0; i < nd; i++)
		relink_items_release(&items[i]);
}


/* Copies [off, +len) of @job into @tmp at the same offset. */
static int copy_range(int from, int to, uint64_t off, uint64_t len,
		      uint8_t *buf)
{
	while (len) {
		size_t want = len < COPY_BUF ? len : COPY_BUF;
		ssize_t got = pread(from, buf, want, (off_t)off);
		ssize_t put;

		if (got < 0)
			return -errno;
		if ((size_t)got != want)
			return -ESTALE;
		put = pwrite(to, buf, want, (off_t)off);
		if (put < 0)
			return -errno;
		if ((size_t)put != want)
			return -ENOSPC;
		off += want;
		len -= want;
	}
	return 0;
}


/* @all: the items of every move of @moves that is still on. */
static void gather_items(const struct byte_range *moves,
			 const struct relink_items *items, size_t n,
			 struct relink_items *all)
{
	all->n = 0;
	for (size_t i = 0; i < n; i++) {
		if (!moves[i].len)
			continue;
		all->v = grow_array(all->v, &all->cap, all->n + items[i].n,
				    sizeof(*all->v));
		memcpy(all->v + all->n, items[i].v,
		       items[i].n * sizeof(*all->v));
		all->n += items[i].n;
	}
}

/*
 * Whether relocating @move pays for the leaves its referrers in other
 * subvolumes (@others), and the file's own, would copy (metabudget.h);
 * when not, they count as pinned in @rs.
 */
static bool moves_pay(struct engine *e, const struct file_job *job,
		      const struct byte_range *move, struct relink_files *others,
		      struct relink_stats *rs)
{
	size_t n = others->n;

	if (!e->budget || !n)
		return true;
	relink_files_add(others, job->root, job->ino);
	if (metabudget_single(e->budget, move->len,
			      (const uint64_t (*)[2])others->v, others->n))
		return true;
	rs->refs_pinned += n;
	rs->bytes_pinned += move->len * n;
	return false;
}

/*
 * btrfs: drops (len 0) each remainder in @moves whose move would not free
 * its old extents: one the file or another holder still maps beyond what
 * moves (relink_frees_extents; files deduped from this one in @ops follow
 * it, follow_moves), or one that may be shared (may_have_referrers)
 * whose referrers cannot all follow (relink_would_follow, counted as
 * pinned). Dropping one may make another of the same extent useless:
 * repeated until nothing changes. Fills @items with each remaining move's
 * old items, for its referrers to follow; without items (no
 * CAP_SYS_ADMIN) FIEMAP's view is taken as it is.
 */
static void keep_moves_that_free(struct engine *e, struct file_job *job,
				 struct byte_range *moves,
				 struct relink_items *items, size_t n,
				 const struct op *ops, size_t nops)
{
	struct relink_items all = { 0 };
	struct relink_files followers = { 0 }, others = { 0 };
	bool *followed = xcalloc(n, sizeof(*followed));
	bool changed = true;
	size_t i;

	for (i = 0; i < n; i++)
		(void)job_items(e, job, moves[i].off, moves[i].len, &items[i]);
	/*
	 * Files deduped from this one in this batch follow what moves of it
	 * (follow_moves): their references to its old extents do not count.
	 */
	for (i = 0; i < nops; i++) {
		struct file_job *d = ops[i].dst;

		if (ops[i].src_id != job->file_id || d == job)
			continue;
		if (!d->root && btrfs_file_root(d->fd, &d->root, &d->ino) < 0)
			d->root = 0;
		if (d->root)
			relink_files_add(&followers, d->root, d->ino);
	}
	while (changed) {
		changed = false;
		gather_items(moves, items, n, &all);
		for (i = 0; i < n; i++) {
			struct relink_stats rs = { 0 };

			if (!moves[i].len || !items[i].n)
				continue;
			if (!relink_frees_extents(e->relink, &items[i], &all,
						  &followers)) {
				log_debug("relocation of '%s' at %llu +%llu would not free its extent, skipping",
					  job->path,
					  (unsigned long long)moves[i].off,
					  (unsigned long long)moves[i].len);
				moves[i].len = 0;
				changed = true;
				continue;
			}
			if (followed[i] ||
			    !may_have_referrers(e, job, moves[i].off,
						moves[i].len))
				continue;
			followed[i] = true;	/* asked once */
			others.n = 0;
			if (!relink_would_follow(e->relink, &items[i],
						 job->root, job->ino, &rs,
						 &others) ||
			    !moves_pay(e, job, &moves[i], &others, &rs)) {
				moves[i].len = 0;
				changed = true;
				atomic_fetch_add(&e->st.refs_pinned,
						 rs.refs_pinned);
				atomic_fetch_add(&e->st.bytes_pinned,
						 rs.bytes_pinned);
				atomic_fetch_add(&e->st.errors, rs.errors);
			}
		}
	}
	/*
	 * Kept for the moves whose range was not shared when the file was
	 * hashed too: a snapshot taken since, or until the move, follows it
	 * (may_have_referrers, asked again after the move).
	 */
	for (i = 0; i < n; i++)
		if (!moves[i].len)
			items[i].n = 0;
	relink_items_release(&all);
	free(followers.v);
	free(others.v);
	free(followed);
}

static void relocate(struct engine *e, struct file_job *job, uint8_t *buf,
		     struct moved_list *moved, const struct op *ops,
		     size_t nops)
{
	struct byte_range *moves = NULL;
	struct relink_items *items = NULL;
	size_t cap = 0, n, i;
	int tmp, ret = 0;

	/* Shared extents too when their referrers follow (all of them). */
	n = plan_relocation(job, e->relink && !e->skip_snapshots, &moves,
			    &cap);
	if (!n)
		goto out;
	tmp = open(e->tmp_dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (tmp < 0) {
		log_debug("cannot create a temporary file in '%s': %s",
			  e->tmp_dir, strerror(errno));
		goto out;
	}
	/* Before the move: which old extents it frees, who must follow. */
	items = xcalloc(n, sizeof(*items));
	if (e->relink)
		keep_moves_that_free(e, job, moves, items, n, ops, nops);
	for (i = 0; i < n && !ret; i++)
		if (moves[i].len)
			ret = copy_range(job->fd, tmp, moves[i].off,
					 moves[i].len, buf);
	if (ret) {
		if (ret == -ENOSPC || ret == -EDQUOT)
			log_warn("no space to relocate %s of '%s', skipping",
				 "the rest", job->path);
		else
			log_debug("cannot relocate '%s': %s", job->path,
				  strerror(-ret));
		goto out_close;
	}
	for (i = 0; i < n; i++) {
		int64_t r;

		if (!moves[i].len)
			continue;
		r = dedupe_range(tmp, moves[i].off, moves[i].len, job->fd,
				 moves[i].off, e->blksz);
		atomic_fetch_add(&e->st.dedupe_calls, 1);
		if (r > 0) {
			atomic_fetch_add(&e->st.bytes_relocated, (uint64_t)r);
			add_moved(moved, job->file_id, moves[i].off,
				  (uint64_t)r);
			if (items[i].n &&
			    may_have_referrers(e, job, moves[i].off,
					       (uint64_t)r))
				follow_referrers(e, job, &items[i],
						 moves[i].off, (uint64_t)r,
						 tmp, moves[i].off);
		} else if (r == -EBADE)
			atomic_fetch_add(&e->st.differs, 1);
	}
out_close:
	/*
	 * Drop the copy's own references now: the original and its
	 * referrers hold what moved; the rest goes with the file.
	 */
	(void)ftruncate(tmp, 0);
	close(tmp);
out:
	if (items)
		for (i = 0; i < n; i++)
			relink_items_release(&items[i]);
	free(items);
	free(moves);
}

/* Groups @ops by source range and runs the groups, largest gain first. */
static void run_ops(struct engine *e, struct src_file **cache,
		    struct moved_list *moved, struct op *ops, size_t nops)
{
	struct group *groups = NULL;
	size_t ngroups = 0, cap_groups = 0, i, j;

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
	for (i = 0; i < ngroups; i++)
		run_group(e, cache, moved, &ops[groups[i].first], groups[i].n);
	free(groups);
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
static void follow_moves(struct engine *e, struct src_file **cache,
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
		run_ops(e, cache, &next, *ops + n, *nops - n);
		first = n;
		moved->n = 0;
		for (i = 0; i < next.n; i++)
			add_moved(moved, next.v[i].id, next.v[i].off,
				  next.v[i].len);
	}
	free(next.v);
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
	plan_metadata(e, ops, n1);
	run_ops(e, &cache, &moved, ops, n1);

	/* Then the other names of what was deduped: snapshots, reflinks. */
	if (e->relinks.n > e->relinks.sorted) {
		qsort(e->relinks.v, e->relinks.n, sizeof(*e->relinks.v),
		      relink_cmp);
		e->relinks.sorted = e->relinks.n;
	}
	for (i = 0; i < njobs; i++)
		if (jobs[i].hashed && jobs[i].naliases)
			alias_ops(e, &jobs[i], &ops, &nops, &cap_ops);
	run_ops(e, &cache, &moved, ops + n1, nops - n1);

	if (e->fs.kind == FS_BTRFS && e->tmp_dir) {
		buf = xmalloc(COPY_BUF);
		for (i = 0; i < njobs; i++)
			if (jobs[i].ndone)
				relocate(e, &jobs[i], buf, &moved, ops, nops);
		free(buf);
	}
	follow_moves(e, &cache, &ops, &nops, &cap_ops, &moved);
	if (e->relink)
		relink_reset(e->relink);
	if (e->budget)
		metabudget_end_batch(e->budget);
	close_sources(&cache);
	free(moved.v);
	free(ops);
}
