/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef DEDUPD_PLAN_H
#define DEDUPD_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daemon/engine/engine.h"

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

/* Relocate at most this many bytes for each byte a relocation gains. */
#define RELOCATE_MAX_RATIO 8

/*
 * The unique remainder of each partly deduped data extent of @job (not
 * encoded, inline or of unknown place; shared ones only with @shared_ok,
 * when the other referrers follow the move): moving it frees the whole
 * old extent. Taken when the remainder is at most RELOCATE_MAX_RATIO times
 * the bytes deduped in that extent (the net gain). Sorts
 * job->done. Writes the ranges to *@out (grown as needed, *@cap its
 * capacity) and returns how many.
 */
size_t plan_relocation(struct file_job *job, bool shared_ok,
		       struct byte_range **out, size_t *cap);

#endif
