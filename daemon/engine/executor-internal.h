/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef DEDUPD_EXECUTOR_INTERNAL_H
#define DEDUPD_EXECUTOR_INTERNAL_H

/*
 * What the executor's files share (executor.c, executor-meta.c,
 * executor-follow.c, executor-relocate.c): the ops of a batch and the
 * ranges that moved. Not for use outside them; engine_execute() (engine.h)
 * is the executor's one entry.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daemon/engine/engine.h"
#include "daemon/engine/relink.h"

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

struct src_file;

/* executor.c */
void executor_add_moved(struct moved_list *m, uint32_t id, uint64_t off,
			uint64_t len);
/* Groups @ops by source range and runs the groups, largest gain first. */
void executor_run_ops(struct engine *e, struct src_file **cache,
		      struct moved_list *moved, struct op *ops, size_t nops);

/* executor-meta.c: whether referrers follow, and pay for their metadata. */
bool executor_source_in_domain(struct engine *e, int src, uint64_t off,
			       uint64_t len);
bool executor_job_items(struct engine *e, struct file_job *job, uint64_t off,
			uint64_t len, struct relink_items *items);
bool executor_old_items(struct engine *e, struct file_job *job, uint64_t off,
			uint64_t len, struct relink_items *items);
bool executor_may_have_referrers(struct engine *e, const struct file_job *job,
				 uint64_t off, uint64_t len);
void executor_follow_referrers(struct engine *e, struct file_job *job,
			       struct relink_items *items, uint64_t off,
			       uint64_t moved, int src, uint64_t src_off);
bool executor_worth_deduping(struct engine *e, const struct op *o, uint64_t len,
			     const struct relink_items *items);
void executor_plan_metadata(struct engine *e, struct op *ops, size_t n);

/* executor-follow.c: the other names of what moved follow it. */
void executor_record_relinks(struct engine *e, const struct op *o,
			     uint64_t src_off, uint64_t len);
int executor_relink_cmp(const void *a, const void *b);
void executor_alias_ops(struct engine *e, struct file_job *job, struct op **ops,
			size_t *nops, size_t *cap);
void executor_follow_moves(struct engine *e, struct src_file **cache,
			   struct op **ops, size_t *nops, size_t *cap,
			   struct moved_list *moved);

/* executor-relocate.c: a deduped extent's unique remainder moves too. */
void executor_relocate(struct engine *e, struct file_job *job, uint8_t *buf,
		       struct moved_list *moved, const struct op *ops,
		       size_t nops);

#endif
