/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef DEDUPD_WATCH_H
#define DEDUPD_WATCH_H

/*
 * The watch daemon's pieces that other commands share: where its control
 * socket is, and how to talk to it (client.c: the client side only, so that
 * libdedupd carries no daemon).
 *
 * The protocol: the client connects, writes one request and shuts its side
 * down; the daemon answers and closes. Requests: "ping", "status",
 * "checkpoint", and "scan" (below). The answer to a scan starts with
 * "rc N\n" (an exit status; 255: the daemon does not watch that filesystem)
 * followed by the report, or one line saying what went wrong.
 */

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WATCH_SOCKET "/run/dedupd/dedupd.sock"
#define WATCH_CONFIG "/etc/dedupd.conf"

/* The socket path: @opt if given, else $DEDUPD_SOCKET, else WATCH_SOCKET. */
const char *watch_socket_path(const char *opt);

/*
 * Sends one request line @req to the daemon at @sock_path and reads the
 * whole answer into a malloc'd string (*@ret_answer). Returns 0, -ENOENT or
 * -ECONNREFUSED when no daemon listens there, or -errno.
 */
int watch_request(const char *sock_path, const char *req, char **ret_answer);

/*
 * The same; a signal that interrupts the wait while *@stop is set makes it
 * return -EINTR (the daemon carries on with the request). @stop may be NULL.
 */
int watch_request_stop(const char *sock_path, const char *req,
		       char **ret_answer, const volatile sig_atomic_t *stop);

/* A "scan" request: dedupe these paths now, ahead of the daemon's queue. */
struct watch_scan {
	bool dry_run;
	bool json;		/* the report as one JSON object */
	bool no_wait;		/* answered "rc 0\nqueued N" at once */
	uint64_t min_size;	/* 0: 1 */
	char *const *excludes;
	size_t nexcludes;
	const char *const *paths;	/* made absolute here */
	size_t npaths;
};

/*
 * Hands @r to the daemon at @sock_path. Returns 1 when the daemon took it:
 * *@ret_rc is its exit status (EXIT_OK, EXIT_INTERRUPTED, ...) and
 * *@ret_body (malloc'd) the rest of its answer: the report, "queued N",
 * or one line saying what went wrong. Returns 0 when no daemon takes it
 * (none answers, it does not watch the paths' filesystem, or a path or glob
 * holds a newline, which the protocol cannot carry, or a path does not
 * resolve): then the caller does the work. Returns -EINTR as
 * watch_request_stop() does, or -ENOMEM.
 */
int watch_scan_request(const char *sock_path, const struct watch_scan *r,
		       const volatile sig_atomic_t *stop, int *ret_rc,
		       char **ret_body);

#endif
