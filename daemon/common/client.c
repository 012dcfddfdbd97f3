// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The client side of the daemon's control socket, for `dedupd scan`,
 * `dedupd status`, `dedupd ctl` and libdedupd. See client.h.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "daemon/common/client.h"
#include "daemon/common/protocol.h"
#include "daemon/common/util.h"

const char *watch_socket_path(const char *opt)
{
	const char *env = getenv("DEDUPD_SOCKET");

	if (opt)
		return opt;
	return env && *env ? env : WATCH_SOCKET;
}

int watch_request_stop(const char *sock_path, const char *req,
		       char **ret_answer, const volatile sig_atomic_t *stop)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char *buf = NULL;
	size_t len = 0, cap = 0;
	int fd, ret = 0;

	if (strlen(sock_path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, sock_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		ret = -errno;
		close(fd);
		return ret;
	}
	ret = write_full(fd, req, strlen(req));
	if (ret < 0) {
		close(fd);
		return ret;
	}
	(void)shutdown(fd, SHUT_WR);
	for (;;) {
		ssize_t n;

		buf = grow_array(buf, &cap, len + 4097, 1);
		n = read(fd, buf + len, 4096);
		if (n < 0 && errno == EINTR) {
			if (stop && *stop) {
				ret = -EINTR;
				break;
			}
			continue;
		}
		if (n < 0) {
			ret = -errno;
			break;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	if (ret < 0) {
		free(buf);
		return ret;
	}
	buf[len] = '\0';
	*ret_answer = buf;
	return 0;
}

int watch_request(const char *sock_path, const char *req, char **ret_answer)
{
	return watch_request_stop(sock_path, req, ret_answer, NULL);
}

int watch_scan_request(const char *sock_path, const struct watch_scan *r,
		       const volatile sig_atomic_t *stop, int *ret_rc,
		       char **ret_body)
{
	char *req = NULL, *reply = NULL;
	const char *body;
	size_t len = 0, i;
	FILE *m;
	int code, ret;

	m = open_memstream(&req, &len);
	if (!m)
		return -ENOMEM;
	fputs("scan\n", m);
	if (r->dry_run)
		fputs("dry-run\n", m);
	if (r->json)
		fputs("json\n", m);
	if (r->no_wait)
		fputs("no-wait\n", m);
	fprintf(m, "min-size %llu\n",
		(unsigned long long)(r->min_size ? r->min_size : 1));
	for (i = 0; i < r->nexcludes; i++) {
		if (strchr(r->excludes[i], '\n'))
			goto local;
		fprintf(m, "exclude %s\n", r->excludes[i]);
	}
	for (i = 0; i < r->npaths; i++) {
		char *abs = realpath(r->paths[i], NULL);

		if (!abs || strchr(abs, '\n')) {
			free(abs);
			goto local;
		}
		fprintf(m, "path %s\n", abs);
		free(abs);
	}
	if (fclose(m))
		goto local_closed;
	m = NULL;
	ret = watch_request_stop(sock_path, req, &reply, stop);
	free(req);
	if (ret == -EINTR)
		return ret;
	if (ret < 0)
		return 0;	/* no daemon */
	/* A daemon that died before answering leaves an empty answer. */
	if (!proto_scan_answer(reply, &code, &body) || code == 255) {
		free(reply);
		return 0;	/* not its filesystem */
	}
	*ret_body = xstrdup(body);
	*ret_rc = code;
	free(reply);
	return 1;
local:
	fclose(m);
local_closed:
	free(req);
	return 0;
}
