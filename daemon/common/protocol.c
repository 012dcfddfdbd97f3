// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The control socket's protocol text, parsed. See protocol.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/common/protocol.h"
#include "daemon/common/util.h"

enum proto_request_kind proto_request_kind(const char *req)
{
	size_t n;

	if (!req)
		return PROTO_UNKNOWN;
	if (!strncmp(req, "scan\n", 5))
		return PROTO_SCAN;
	n = strcspn(req, "\r\n");
	if (n == 4 && !strncmp(req, "ping", 4))
		return PROTO_PING;
	if (n == 6 && !strncmp(req, "status", 6))
		return PROTO_STATUS;
	if (n == 10 && !strncmp(req, "checkpoint", 10))
		return PROTO_CHECKPOINT;
	return PROTO_UNKNOWN;
}

/* Decimal digits only, no sign, no overflow. Returns 0 or -EINVAL. */
static int parse_count(const char *s, uint64_t *ret)
{
	uint64_t v = 0;

	if (!*s)
		return -EINVAL;
	for (; *s; s++) {
		unsigned int d = (unsigned int)(*s - '0');

		if (d > 9 || v > (UINT64_MAX - d) / 10)
			return -EINVAL;
		v = v * 10 + d;
	}
	*ret = v;
	return 0;
}

static void push(char ***arr, size_t *n, char *s)
{
	*arr = xrealloc(*arr, (*n + 1) * sizeof(**arr));
	(*arr)[(*n)++] = s;
}

int proto_scan_parse(char *buf, struct proto_scan *ret)
{
	struct proto_scan s = { .min_size = 1 };
	char *line, *save = NULL;

	if (!buf || !ret)
		return -EINVAL;
	for (line = strtok_r(buf, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		if (!strcmp(line, "scan"))
			continue;
		if (!strcmp(line, "dry-run")) {
			s.dry_run = true;
		} else if (!strcmp(line, "json")) {
			s.json = true;
		} else if (!strcmp(line, "no-wait")) {
			s.no_wait = true;
		} else if (!strncmp(line, "min-size ", 9)) {
			if (parse_count(line + 9, &s.min_size) < 0)
				goto out_invalid;
			if (!s.min_size)
				s.min_size = 1;
		} else if (!strncmp(line, "exclude ", 8)) {
			push(&s.excludes, &s.nexcludes, line + 8);
		} else if (!strncmp(line, "path /", 6)) {
			push(&s.paths, &s.npaths, line + 5);
		} else {
			goto out_invalid;
		}
	}
	*ret = s;
	return 0;

out_invalid:
	proto_scan_free(&s);
	return -EINVAL;
}

void proto_scan_free(struct proto_scan *s)
{
	if (!s)
		return;
	free(s->excludes);
	free(s->paths);
	memset(s, 0, sizeof(*s));
}

int proto_scan_answer(const char *answer, int *ret_rc, const char **ret_body)
{
	const char *p, *nl;
	int rc = 0;

	if (!answer || strncmp(answer, "rc ", 3))
		return 0;
	p = answer + 3;
	if (*p < '0' || *p > '9')
		return 0;
	for (; *p >= '0' && *p <= '9'; p++) {
		rc = rc * 10 + (*p - '0');
		if (rc > 255)
			return 0;
	}
	if (*p != '\n' && *p != '\0')
		return 0;
	nl = strchr(answer, '\n');
	*ret_rc = rc;
	*ret_body = nl ? nl + 1 : answer + strlen(answer);
	return 1;
}
