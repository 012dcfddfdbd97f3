/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef DEDUPD_COMMANDS_H
#define DEDUPD_COMMANDS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>


/* Each returns an exit status (enum exit_code). */
int cmd_scan(int argc, char **argv);
int cmd_defrag(int argc, char **argv);
int cmd_ctl(int argc, char **argv);
int cmd_watch(int argc, char **argv);
int cmd_status(int argc, char **argv);


#endif
