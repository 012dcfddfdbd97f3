/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef DEDUPD_PROGRESS_H
#define DEDUPD_PROGRESS_H

#include <stdint.h>

struct engine_stats;

/*
 * A progress bar on stderr, redrawn four times a second by its own thread:
 * files, bytes hashed, MB/s and ETA against @total_bytes (0: unknown).
 * Does nothing unless stderr is a terminal.
 */
void progress_start(const struct engine_stats *st, uint64_t total_bytes);
void progress_stop(void);

#endif
