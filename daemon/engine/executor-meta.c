// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The executor's checks before a range moves (executor-internal.h):
 * --domain, whether other files may refer to its old data, whether they can
 * all follow it (a dry run of the relinker), and whether the batch's moves
 * pay for the metadata their referrers in other subvolumes cost
 * (metabudget.h); then, after the move, they follow.
 */
#include <stdlib.h>

#include "daemon/engine/executor-internal.h"
#include "daemon/engine/metabudget.h"
#include "daemon/common/util.h"
#include "ioctl-compat/btrfs.h"

/*
 * --domain: a source whose extents other files share may be shared with
 * another domain's file (a reflink made by another user, a snapshot in
 * another subvolume): deduping onto it would share the data with that
 * file. Only sources whose every referrer is in their domain serve; on
 * XFS, which cannot name them, a shared source does not.
 */
bool executor_source_in_domain(struct engine *e, int src, uint64_t off,
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
bool executor_job_items(struct engine *e, struct file_job *job, uint64_t off,
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
 * may be taken before the move (see executor_may_have_referrers). Returns
 * whether there is anything to follow.
 */
bool executor_old_items(struct engine *e, struct file_job *job, uint64_t off,
			uint64_t len, struct relink_items *items)
{
	items->n = 0;
	if (!e->relink)
		return false;
	return executor_job_items(e, job, off, len, items);
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
bool executor_may_have_referrers(struct engine *e, const struct file_job *job,
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
void executor_follow_referrers(struct engine *e, struct file_job *job,
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
bool executor_worth_deduping(struct engine *e, const struct op *o, uint64_t len,
			     const struct relink_items *items)
{
	struct relink_stats rs = { 0 };

	if (o->plan)
		return o->plan > 0; /* executor_plan_metadata() asked */
	if (!executor_may_have_referrers(e, o->dst, o->dst_off, len) ||
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
void executor_plan_metadata(struct engine *e, struct op *ops, size_t n)
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
		    !executor_old_items(e, o->dst, o->dst_off, o->len,
					&items) ||
		    !executor_may_have_referrers(e, o->dst, o->dst_off, o->len))
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
