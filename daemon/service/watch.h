/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef DEDUPD_SERVICE_WATCH_H
#define DEDUPD_SERVICE_WATCH_H

/* The daemon's commands. Each returns an exit status (enum exit_code). */
int cmd_watch(int argc, char **argv);
int cmd_status(int argc, char **argv);

#endif
