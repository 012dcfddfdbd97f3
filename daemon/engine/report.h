/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef DEDUPD_REPORT_H
#define DEDUPD_REPORT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct engine_stats;
struct hashdb_stats;
struct defrag_stats;

/* What a scan reports, for `dedupd scan` and the daemon's hand-off. */
struct scan_report_args {
	const struct engine_stats *st;
	const struct hashdb_stats *ix;
	const char *fs_name, *index_result;
	bool dry_run, json;
	int64_t freed;
	double secs;
};

/* Prints the report: one JSON object, or lines for a person. */
void scan_report(FILE *out, const struct scan_report_args *r);

/* The report of a defrag over @fs_name, as scan_report(). */
void defrag_report(FILE *out, const struct defrag_stats *s,
		   const char *fs_name, bool dry_run, bool json, double secs);

#endif
