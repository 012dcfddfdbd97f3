/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef DEDUPD_LOG_H
#define DEDUPD_LOG_H

/*
 * Logging for the program: stderr (journald takes it from there), quiet by
 * default. Only daemon/ logs.
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

#define log_error(...) log_msg(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)

#endif
