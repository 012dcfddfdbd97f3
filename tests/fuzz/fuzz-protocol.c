// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Fuzzes the control socket's text (daemon/common/protocol.c): the input is what a
 * client wrote to the daemon (NUL-terminated where the daemon does it:
 * embedded NULs end it early), and also an answer the client reads.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/common/protocol.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proto_scan s;
	const char *body;
	char *buf;
	size_t len;
	int rc = -1;

	/* Exactly as long as the request, to catch a read past its NUL. */
	buf = malloc(size + 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	len = strlen(buf);

	if (proto_scan_answer(buf, &rc, &body) == 1) {
		if (rc < 0 || rc > 255 || body < buf || body > buf + len)
			abort();
	}

	if (proto_request_kind(buf) == PROTO_SCAN &&
	    proto_scan_parse(buf, &s) == 0) {
		if (s.min_size < 1)
			abort();
		for (size_t i = 0; i < s.npaths; i++)
			if (s.paths[i][0] != '/' || s.paths[i] < buf ||
			    s.paths[i] + strlen(s.paths[i]) > buf + len)
				abort();
		for (size_t i = 0; i < s.nexcludes; i++)
			if (s.excludes[i] < buf ||
			    s.excludes[i] + strlen(s.excludes[i]) > buf + len)
				abort();
		proto_scan_free(&s);
	}
	free(buf);
	return 0;
}
