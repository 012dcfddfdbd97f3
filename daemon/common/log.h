/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef DEDUPD_LOG_H
#define DEDUPD_LOG_H

#include <stddef.h>

/*
 * Logging for the program: stderr (journald takes it from there), quiet by
 * default. Only daemon/ logs; built into libdedupd, it is silent unless
 * the caller installs a sink.
 */

enum log_level {
	LOG_LVL_ERROR = 0,
	LOG_LVL_WARN = 1,
	LOG_LVL_INFO = 2,
	LOG_LVL_DEBUG = 3,
};

extern int log_level;

void log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Called before a log line is written: erases the progress bar. */
extern void (*log_hook)(void);

/*
 * When set, lines go to it (without the "dedupd: " prefix) instead of
 * stderr: libdedupd's dedupd_set_log(). The library's default level is -1:
 * nothing.
 */
extern void (*log_sink)(int level, const char *line, void *arg);
extern void *log_sink_arg;

/*
 * Copies @src into @dst (@cap bytes, at least 1), NUL-terminated, with
 * control characters and backslashes escaped (\n, \t, \r, \\, \xNN):
 * a file name holding a newline cannot split a line or forge one. What
 * does not fit is cut at a whole escape. Returns @dst. Every log line
 * goes through it.
 */
char *log_escape(char *dst, size_t cap, const char *src);

#define log_error(...) log_msg(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)

#endif
