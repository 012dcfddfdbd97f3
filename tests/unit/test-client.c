// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Unit tests for daemon/common/client.c: a thread on a socket in a temporary
 * directory stands in for the daemon, records the request and answers a
 * canned reply.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>

#include "daemon/common/client.h"

static char dir[] = "/tmp/dedupd-test-client-XXXXXX";
static char sock[sizeof(dir) + 16];

struct fake_daemon {
	int fd;
	const char *reply;
	char request[4096];
	size_t len;
	pthread_t tid;
};

static int setup(void **state)
{
	(void)state;
	if (!mkdtemp(dir))
		return -1;
	snprintf(sock, sizeof(sock), "%s/sock", dir);
	return 0;
}

static int teardown(void **state)
{
	char cmd[600];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd);
}

/* One client: read its request to EOF, answer, close. */
static void *serve_one(void *arg)
{
	struct fake_daemon *fd = arg;
	int c = accept(fd->fd, NULL, NULL);
	ssize_t n;

	if (c < 0)
		return NULL;
	while ((n = read(c, fd->request + fd->len,
			 sizeof(fd->request) - 1 - fd->len)) > 0)
		fd->len += (size_t)n;
	fd->request[fd->len] = '\0';
	if (fd->reply)
		(void)!write(c, fd->reply, strlen(fd->reply));
	close(c);
	return NULL;
}

static void fake_start(struct fake_daemon *fd, const char *reply)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	memset(fd, 0, sizeof(*fd));
	fd->reply = reply;
	strcpy(sa.sun_path, sock);
	(void)unlink(sock);
	fd->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd->fd >= 0);
	assert_int_equal(bind(fd->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd->fd, 4), 0);
	assert_int_equal(pthread_create(&fd->tid, NULL, serve_one, fd), 0);
}

static void fake_stop(struct fake_daemon *fd)
{
	pthread_join(fd->tid, NULL);
	close(fd->fd);
	(void)unlink(sock);
}

static void request_answer_roundtrip(void **state)
{
	struct fake_daemon fd;
	char *answer = NULL;

	(void)state;
	fake_start(&fd, "pong\n");
	assert_int_equal(watch_request(sock, "ping\n", &answer), 0);
	fake_stop(&fd);
	assert_string_equal(fd.request, "ping\n");
	assert_string_equal(answer, "pong\n");
	free(answer);
}

static void no_daemon_is_enoent(void **state)
{
	char *answer = (char *)"untouched";

	(void)state;
	(void)unlink(sock);
	assert_int_equal(watch_request(sock, "ping\n", &answer), -ENOENT);
	assert_string_equal(answer, "untouched");
}

static void scan_request_text(void **state)
{
	char *excl[] = { "*.tmp" };
	const char *paths[] = { dir, "/" };
	struct watch_scan r = {
		.json = true, .no_wait = true, .min_size = 4096,
		.excludes = excl, .nexcludes = 1,
		.paths = paths, .npaths = 2,
	};
	struct fake_daemon fd;
	char want[1024], *body = NULL;
	int rc = -1;

	(void)state;
	fake_start(&fd, "rc 0\nqueued 7\n");
	assert_int_equal(watch_scan_request(sock, &r, NULL, &rc, &body), 1);
	fake_stop(&fd);
	snprintf(want, sizeof(want),
		 "scan\njson\nno-wait\nmin-size 4096\nexclude *.tmp\n"
		 "path %s\npath /\n", dir);
	assert_string_equal(fd.request, want);
	assert_int_equal(rc, 0);
	assert_string_equal(body, "queued 7\n");
	free(body);
}

static void scan_report_and_errors(void **state)
{
	const char *paths[] = { "." };
	struct watch_scan r = { .paths = paths, .npaths = 1 };
	struct fake_daemon fd;
	char *body = NULL;
	int rc = -1;

	(void)state;
	/* The report follows the rc line; min-size 0 goes out as 1. */
	fake_start(&fd, "rc 130\n{\"files_seen\":3}\n");
	assert_int_equal(watch_scan_request(sock, &r, NULL, &rc, &body), 1);
	fake_stop(&fd);
	assert_non_null(strstr(fd.request, "min-size 1\n"));
	assert_null(strstr(fd.request, "\njson\n"));	/* the line */
	assert_int_equal(rc, 130);
	assert_string_equal(body, "{\"files_seen\":3}\n");
	free(body);

	/* Not its filesystem, or a daemon that died: do it yourself. */
	body = NULL;
	rc = -1;
	fake_start(&fd, "rc 255\nnot watched\n");
	assert_int_equal(watch_scan_request(sock, &r, NULL, &rc, &body), 0);
	fake_stop(&fd);
	fake_start(&fd, NULL);
	assert_int_equal(watch_scan_request(sock, &r, NULL, &rc, &body), 0);
	fake_stop(&fd);
	assert_null(body);
	assert_int_equal(rc, -1);
	/* No daemon at all. */
	assert_int_equal(watch_scan_request(sock, &r, NULL, &rc, &body), 0);
}

static void unsendable_paths_stay_local(void **state)
{
	char nl[sizeof(dir) + 16];
	const char *missing[] = { "/nonexistent/dedupd-test" };
	const char *paths[] = { nl };
	char *excl[] = { "a\nb" };
	struct watch_scan r = { .paths = missing, .npaths = 1 };
	char *body = NULL;
	int rc = -1;
	FILE *f;

	(void)state;
	/* No daemon is even asked: nothing listens, and none is needed. */
	assert_int_equal(watch_scan_request(sock, &r, NULL, &rc, &body), 0);
	snprintf(nl, sizeof(nl), "%s/a\nb", dir);
	f = fopen(nl, "w");
	assert_non_null(f);
	fclose(f);
	r.paths = paths;
	assert_int_equal(watch_scan_request(sock, &r, NULL, &rc, &body), 0);
	r.paths = (const char *const[]){ dir };
	r.excludes = excl;
	r.nexcludes = 1;
	assert_int_equal(watch_scan_request(sock, &r, NULL, &rc, &body), 0);
	assert_null(body);
}

static volatile sig_atomic_t stop_flag;

static void on_alarm(int sig)
{
	(void)sig;
	stop_flag = 1;
}

/* A daemon that takes its time: the waiting client can be interrupted. */
static void interrupted_wait(void **state)
{
	struct sigaction sa = { .sa_handler = on_alarm }, old;
	const char *paths[] = { "/" };
	struct watch_scan r = { .paths = paths, .npaths = 1 };
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	char *body = NULL;
	int lfd, rc = -1;

	(void)state;
	strcpy(addr.sun_path, sock);
	(void)unlink(sock);
	/* Listening, never accepting: the request sits in the backlog. */
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(lfd >= 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	assert_int_equal(listen(lfd, 4), 0);
	sigemptyset(&sa.sa_mask);	/* no SA_RESTART */
	assert_int_equal(sigaction(SIGALRM, &sa, &old), 0);
	stop_flag = 0;
	alarm(1);
	assert_int_equal(watch_scan_request(sock, &r, &stop_flag, &rc, &body),
			 -EINTR);
	assert_int_equal(stop_flag, 1);
	assert_null(body);
	(void)sigaction(SIGALRM, &old, NULL);
	close(lfd);
	(void)unlink(sock);
}

static void socket_path_precedence(void **state)
{
	(void)state;
	unsetenv("DEDUPD_SOCKET");
	assert_string_equal(watch_socket_path(NULL), WATCH_SOCKET);
	setenv("DEDUPD_SOCKET", "/x/sock", 1);
	assert_string_equal(watch_socket_path(NULL), "/x/sock");
	assert_string_equal(watch_socket_path("/y"), "/y");
	setenv("DEDUPD_SOCKET", "", 1);
	assert_string_equal(watch_socket_path(NULL), WATCH_SOCKET);
	unsetenv("DEDUPD_SOCKET");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(request_answer_roundtrip),
		cmocka_unit_test(no_daemon_is_enoent),
		cmocka_unit_test(scan_request_text),
		cmocka_unit_test(scan_report_and_errors),
		cmocka_unit_test(unsendable_paths_stay_local),
		cmocka_unit_test(interrupted_wait),
		cmocka_unit_test(socket_path_precedence),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
