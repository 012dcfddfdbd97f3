/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef DEDUPD_PROTOCOL_H
#define DEDUPD_PROTOCOL_H

/*
 * The text of the control socket's protocol (see watch.h), both ways:
 * what a request is and what a "scan" request asks (the daemon's side), and
 * what the answer to a scan says (the client's side). No I/O: a peer's
 * bytes in, plain values out, so that a hostile peer meets this code only.
 *
 * A scan request is "scan\n" followed by one option a line:
 *
 *	dry-run | json | no-wait | min-size N | exclude GLOB | path /ABS/PATH
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum proto_request_kind {
	PROTO_UNKNOWN = 0,
	PROTO_PING,		/* "ping": answered "pong" */
	PROTO_STATUS,		/* "status": answered with JSON */
	PROTO_CHECKPOINT,	/* "checkpoint": answered "ok" */
	PROTO_SCAN,		/* "scan\n" and its lines */
};

/*
 * What the NUL-terminated request @req asks for: a scan if it starts with
 * "scan\n", else its first line (up to '\r' or '\n') names it. Returns an
 * enum proto_request_kind; PROTO_UNKNOWN also for a NULL @req.
 */
enum proto_request_kind proto_request_kind(const char *req);

/* A parsed scan request. */
struct proto_scan {
	bool dry_run;
	bool json;
	bool no_wait;
	uint64_t min_size;	/* at least 1 */
	char **excludes;	/* point into the request text */
	size_t nexcludes;
	char **paths;		/* absolute; point into the request text */
	size_t npaths;
};

/*
 * Parses the scan request @buf (NUL-terminated, split in place: the strings
 * of *@ret point into it, and must not outlive it). Returns 0 and fills
 * *@ret (free with proto_scan_free()), or -EINVAL for a line it does not
 * know or a min-size that is not a number (*@ret untouched).
 */
int proto_scan_parse(char *buf, struct proto_scan *ret);

/* Frees the arrays of @s (not the strings); NULL-safe; zeroes *@s. */
void proto_scan_free(struct proto_scan *s);

/*
 * Reads the daemon's answer to a scan: "rc N\n" then the body. Returns 1
 * and sets *@ret_rc (0 to 255) and *@ret_body (the text after the first
 * line, "" if none, pointing into @answer), or 0 if @answer does not start
 * that way (e.g. empty: the daemon died before answering).
 */
int proto_scan_answer(const char *answer, int *ret_rc,
		      const char **ret_body);

#endif
