/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef DEDUPD_WATCH_H
#define DEDUPD_WATCH_H

/*
 * The watch daemon's pieces that other commands share: where its control
 * socket is, and how to talk to it.
 */

#include <stddef.h>

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

#endif
