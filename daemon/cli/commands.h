/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef DEDUPD_COMMANDS_H
#define DEDUPD_COMMANDS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct engine_stats;
struct hashdb_stats;

/* Each returns an exit status (enum exit_code). */
int cmd_scan(int argc, char **argv);
int cmd_watch(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_defrag(int argc, char **argv);
int cmd_ctl(int argc, char **argv);


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

#endif
