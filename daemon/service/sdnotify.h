/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef DEDUPD_SDNOTIFY_H
#define DEDUPD_SDNOTIFY_H

/*
 * The service manager's notification protocol (sd_notify(3)) without
 * libsystemd: one datagram to the AF_UNIX socket named by $NOTIFY_SOCKET.
 */

/*
 * Sends @state, e.g. "READY=1", "RELOADING=1", "STOPPING=1" or
 * "STATUS=...", newline-separated assignments in one datagram. Returns 1
 * if sent, 0 if not under a service manager ($NOTIFY_SOCKET unset), or
 * -errno: -EINVAL for an empty @state or $NOTIFY_SOCKET, -EAFNOSUPPORT for
 * an address that is neither a path nor '@' (abstract), -ENAMETOOLONG.
 * $NOTIFY_SOCKET is left set; only the main process may notify anyway
 * (NotifyAccess=main).
 */
int sd_notify_send(const char *state);

#endif
