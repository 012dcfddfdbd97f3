// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * btrfs: the relocation of a file's unique remainders (executor-internal.h):
 * what was left of an extent partly deduped is copied into an O_TMPFILE and
 * deduped onto the original, when that frees the old extent; its referrers
 * follow.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/engine/executor-internal.h"
#include "daemon/common/log.h"
#include "daemon/engine/metabudget.h"
#include "daemon/engine/plan.h"
#include "daemon/common/util.h"
#include "ioctl-compat/btrfs.h"
#include "ioctl-compat/dedupe.h"

#define COPY_BUF (1u << 20)

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
 * it, executor_follow_moves), or one that may be shared
 * (executor_may_have_referrers) whose referrers cannot all follow
 * (relink_would_follow, counted as pinned). Dropping one may make another
 * of the same extent useless: repeated until nothing changes. Fills @items
 * with each remaining move's old items, for its referrers to follow;
 * without items (no CAP_SYS_ADMIN) FIEMAP's view is taken as it is.
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
		(void)executor_job_items(e, job, moves[i].off, moves[i].len,
					 &items[i]);
	/*
	 * Files deduped from this one in this batch follow what moves of it
	 * (executor_follow_moves): their references to its old extents do not
	 * count.
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
			    !executor_may_have_referrers(e, job, moves[i].off,
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
	 * (executor_may_have_referrers, asked again after the move).
	 */
	for (i = 0; i < n; i++)
		if (!moves[i].len)
			items[i].n = 0;
	relink_items_release(&all);
	free(followers.v);
	free(others.v);
	free(followed);
}

void executor_relocate(struct engine *e, struct file_job *job, uint8_t *buf,
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
			executor_add_moved(moved, job->file_id, moves[i].off,
					   (uint64_t)r);
			if (items[i].n &&
			    executor_may_have_referrers(e, job, moves[i].off,
							(uint64_t)r))
				executor_follow_referrers(
					e, job, &items[i], moves[i].off,
					(uint64_t)r, tmp, moves[i].off);
		} else if (r == -EBADE)
			atomic_fetch_add(&e->st.differs, 1);
	}
out_close:
	/*
	 * Drop the copy's own references now: the original and its
	 * referrers hold what moved; the rest goes with the file.
	 */
	if (ftruncate(tmp, 0) < 0)
		log_debug("relocate: truncating the copy: %s", strerror(errno));
	close(tmp);
out:
	if (items)
		for (i = 0; i < n; i++)
			relink_items_release(&items[i]);
	free(items);
	free(moves);
}
