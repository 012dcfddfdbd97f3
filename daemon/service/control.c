// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * dedupd watch: the control socket. The main thread accepts a client,
 * reads its request (status, ping, checkpoint, or a scan handed over) and
 * answers it; a scan is queued for the worker, who answers when done.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "daemon/common/client.h"
#include "daemon/common/log.h"
#include "daemon/engine/index.h"
#include "daemon/service/internal.h"
#include "ioctl-compat/fsprobe.h"

void free_request(struct request *r)
{
	if (r->fd >= 0)
		close(r->fd);
	proto_scan_free(&r->scan);
	free(r->buf);
	free(r);
}

void answer(int fd, const char *text)
{
	size_t len = strlen(text);

	if (fd < 0)
		return;	/* a no-wait request: nobody listens */
	while (len) {
		ssize_t n = write(fd, text, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;	/* the client went away: fine */
		text += n;
		len -= (size_t)n;
	}
}

int listen_socket(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char dir[PATH_MAX], *slash, *answer;
	int fd, ret;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		ret = mkdir_p(dir, 0700);
		if (ret < 0)
			return ret;
	}
	/* A live daemon answers; a dead one left its socket behind. */
	if (watch_request(path, "ping\n", &answer) == 0) {
		free(answer);
		return -EADDRINUSE;
	}
	(void)unlink(path);
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    chmod(path, 0600) < 0 || listen(fd, 16) < 0) {
		ret = -errno;
		close(fd);
		return ret;
	}
	return fd;
}

#define REQUEST_MAX (256 << 10)

/* Parses a "scan" request; answers and frees it on error. */
static void queue_scan(int fd, char *buf)
{
	struct request *r = xcalloc(1, sizeof(*r));
	char msg[PATH_MAX + 128];
	int i;

	r->fd = fd;
	r->buf = buf;
	if (proto_scan_parse(buf, &r->scan) < 0) {
		answer(fd, "rc 2\nbad request to the daemon\n");
		free_request(r);
		return;
	}
	/* All on one filesystem we watch, or the client scans itself. */
	for (size_t k = 0; k < r->scan.npaths; k++) {
		struct fs_info fs;
		struct wfs *f = NULL;
		int pfd = open(r->scan.paths[k],
			       O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOFOLLOW);
		int err = pfd < 0 ? -errno : fs_probe(pfd, 0, &fs);

		if (err < 0) {
			snprintf(msg, sizeof(msg),
				 "rc 1\ncannot open '%s': %s\n",
				 r->scan.paths[k], strerror(-err));
			if (pfd >= 0)
				close(pfd);
			answer(fd, msg);
			free_request(r);
			return;
		}
		close(pfd);
		for (i = 0; i < W.nfs; i++)
			if (!memcmp(W.fs[i].e.fs.uuid, fs.uuid, 16))
				f = &W.fs[i];
		if (!f || (r->f && r->f != f)) {
			answer(fd, "rc 255\nnot watched\n");
			free_request(r);
			return;
		}
		r->f = f;
	}
	if (!r->scan.npaths) {
		answer(fd, "rc 2\nno path to scan\n");
		free_request(r);
		return;
	}
	r->id = ++W.last_request_id;
	if (r->scan.no_wait) {
		snprintf(msg, sizeof(msg), "rc 0\nqueued %llu\n",
			 (unsigned long long)r->id);
		answer(fd, msg);
		close(fd);
		r->fd = -1;
		log_info("request %llu queued: %zu path%s, first '%s'",
			 (unsigned long long)r->id, r->scan.npaths,
			 r->scan.npaths == 1 ? "" : "s", r->scan.paths[0]);
	}
	pthread_mutex_lock(&W.lock);
	*W.requests_tail = r;
	W.requests_tail = &r->next;
	pthread_mutex_unlock(&W.lock);
	pthread_cond_broadcast(&W.cond);
}

void serve_client(int lfd)
{
	struct timeval tv = { .tv_sec = 2 };
	struct ucred cred;
	socklen_t cl = sizeof(cred);
	char *req = NULL, *reply = NULL;
	size_t len = 0, cap = 0;
	int fd;

	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return;
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) < 0 ||
	    (cred.uid != 0 && cred.uid != geteuid())) {
		close(fd);
		return;
	}
	/* The client writes its request and shuts its side down. */
	for (;;) {
		ssize_t n;

		req = grow_array(req, &cap, len + 4097, 1);
		n = read(fd, req + len, 4096);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
		if (len > REQUEST_MAX)
			break;
	}
	if (!len || len > REQUEST_MAX) {
		free(req);
		close(fd);
		return;
	}
	req[len] = '\0';
	switch (proto_request_kind(req)) {
	case PROTO_SCAN:
		queue_scan(fd, req);	/* answered by the worker */
		return;
	case PROTO_STATUS:
		reply = status_json();
		break;
	case PROTO_PING:
		reply = xstrdup("pong\n");
		break;
	case PROTO_CHECKPOINT:
		pthread_mutex_lock(&W.lock);
		for (int i = 0; i < W.nfs; i++)
			W.fs[i].checkpoint_now = true;
		pthread_mutex_unlock(&W.lock);
		pthread_cond_broadcast(&W.cond);
		reply = xstrdup("ok\n");
		break;
	default:
		reply = xstrdup("error: unknown request\n");
		break;
	}
	if (reply)
		answer(fd, reply);
	free(reply);
	free(req);
	close(fd);
}
