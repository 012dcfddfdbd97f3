/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef DEDUPD_PHYS_H
#define DEDUPD_PHYS_H

#include <stdbool.h>
#include <stdint.h>

struct engine;

struct byte_range;

/*
 * Physical extents already hashed in this pass, so that a reflinked copy or
 * a snapshot of indexed data costs nothing. Only extents FIEMAP flags as
 * shared go in: an unshared extent cannot be met twice. Costs 16 bytes per
 * shared extent, freed at the end of the pass.
 *
 * Claims [@physical, +@length): writes to @out (room for @max) the pieces of
 * it not seen before, as offsets relative to @physical, in order, and
 * records all of it as seen. Returns the number of pieces: 0 when all of it
 * was seen (a snapshot's file that was partly overwritten refers to pieces
 * of the old extent, the snapshot to all of it).
 */
size_t phys_seen_claim(struct engine *e, uint64_t physical, uint64_t length,
		       struct byte_range *out, size_t max);

#endif
