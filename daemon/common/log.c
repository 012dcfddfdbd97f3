// SPDX-License-Identifier: GPL-2.0-or-later
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "daemon/common/log.h"

#ifdef DEDUPD_LIBRARY
/* libdedupd never prints on its own: see dedupd_set_log(). */
int log_level = -1;
#else
int log_level = LOG_LVL_WARN;
#endif
void (*log_hook)(void);
void (*log_sink)(int level, const char *line, void *arg);
void *log_sink_arg;

char *log_escape(char *dst, size_t cap, const char *src)
{
	static const char hex[] = "0123456789abcdef";
	static const char plain[] = "\n\t\r\\", escaped[] = "ntr\\";
	size_t o = 0;

	for (const unsigned char *p = (const unsigned char *)src; *p; p++) {
		const char *c = strchr(plain, *p);
		char e[4];
		size_t n = 2;

		e[0] = '\\';
		if (c) {
			e[1] = escaped[c - plain];
		} else if (*p >= 0x20 && *p != 0x7f) {
			e[0] = (char)*p;
			n = 1;
		} else {
			e[1] = 'x';
			e[2] = hex[*p >> 4];
			e[3] = hex[*p & 0xf];
			n = 4;
		}
		if (o + n >= cap)
			break;
		memcpy(dst + o, e, n);
		o += n;
	}
	dst[o] = '\0';
	return dst;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	void (*sink)(int, const char *, void *) = log_sink;
	char raw[4096], line[4 * sizeof(raw)];	/* a PATH_MAX path fits */
	va_list ap;

	if ((int)level > log_level)
		return;
	va_start(ap, fmt);
	vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	log_escape(line, sizeof(line), raw);
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
