/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef DEDUPD_PLAN_H
#define DEDUPD_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "daemon/engine.h"

/*
 * btrfs frees a compressed extent only whole: cut from job->runs the parts
 * that would dedupe part of one of the job's EXTENT_ENCODED extents, at block
 * boundaries; runs left empty are dropped.
 */
void plan_trim_encoded(struct file_job *job, uint32_t blksz);

/*
 * A range deduped onto another range of the same file must not overlap it:
 * shorten such runs, and drop runs onto themselves.
 */
void plan_trim_self_overlap(struct file_job *job, uint32_t blksz);

/*
 * The unique remainder of each partly deduped data extent of @job (not
 * shared, encoded, inline or of unknown place) where moving it frees more
 * than it writes: the extent's deduped bytes exceed the rest. Sorts
 * job->done. Writes the ranges to *@out (grown as needed, *@cap its
 * capacity) and returns how many.
 */
size_t plan_relocation(struct file_job *job, struct byte_range **out,
		       size_t *cap);

#endif
