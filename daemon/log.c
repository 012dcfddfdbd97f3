// SPDX-License-Identifier: GPL-2.0-or-later
#include <stdarg.h>
#include <stdio.h>

#include "daemon/log.h"

#ifdef DEDUPD_LIBRARY
/* libdedupd never prints on its own: see dedupd_set_log(). */
int log_level = -1;
#else
int log_level = LOG_LVL_WARN;
#endif
void (*log_hook)(void);
void (*log_sink)(int level, const char *line, void *arg);
void *log_sink_arg;

void log_msg(enum log_level level, const char *fmt, ...)
{
	void (*sink)(int, const char *, void *) = log_sink;
	char line[1024];
	va_list ap;

	if ((int)level > log_level)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (sink) {
		sink((int)level, line, log_sink_arg);
		return;
	}
#ifndef DEDUPD_LIBRARY
	{
		static const char *const prefix[] = {
			[LOG_LVL_ERROR] = "",
			[LOG_LVL_WARN] = "warning: ",
			[LOG_LVL_INFO] = "",
			[LOG_LVL_DEBUG] = "debug: ",
		};

		if (log_hook)
			log_hook();
		/* One write per line, so that threads do not interleave. */
		fprintf(stderr, "dedupd: %s%s\n", prefix[level], line);
	}
#endif
}
