// SPDX-License-Identifier: GPL-2.0-or-later
#include <stdarg.h>
#include <stdio.h>

#include "daemon/log.h"

int log_level = LOG_LVL_WARN;
void (*log_hook)(void);

void log_msg(enum log_level level, const char *fmt, ...)
{
	static const char *const prefix[] = {
		[LOG_LVL_ERROR] = "",
		[LOG_LVL_WARN] = "warning: ",
		[LOG_LVL_INFO] = "",
		[LOG_LVL_DEBUG] = "debug: ",
	};
	char line[1024];
	va_list ap;

	if ((int)level > log_level)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (log_hook)
		log_hook();
	/* One write per line, so that threads do not interleave. */
	fprintf(stderr, "dedupd: %s%s\n", prefix[level], line);
}
