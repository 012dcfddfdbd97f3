/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef DEDUPD_PHYS_H
#define DEDUPD_PHYS_H

#include <stdbool.h>
#include <stdint.h>

struct engine;

/*
 * Physical extents already hashed in this pass, so that a reflinked copy or
 * a snapshot of indexed data costs nothing. Only extents FIEMAP flags as
 * shared go in: an unshared extent cannot be met twice. Costs one small
 * entry per shared extent, freed at the end of the pass.
 *
 * Returns true if [@physical, +@length) was seen already; else records it.
 */
bool phys_seen_check_add(struct engine *e, uint64_t physical, uint64_t length);

#endif
