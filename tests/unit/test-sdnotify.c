// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Unit tests for daemon/service/sdnotify.c: a datagram socket stands in for the
 * service manager, bound to a path in a temporary directory or to an
 * abstract name.
 */
#include <errno.h>
#include <setjmp.h>
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

#include "daemon/service/sdnotify.h"

static char dir[] = "/tmp/dedupd-test-sdnotify-XXXXXX";

static int setup(void **state)
{
	(void)state;
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[600];

	(void)state;
	unsetenv("NOTIFY_SOCKET");
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd);
}

/* Binds a datagram socket to @name: a path, or '@' for an abstract name. */
static int bind_listener(const char *name)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t len = strlen(name);
	socklen_t sa_len;
	int fd;

	assert_true(len < sizeof(sa.sun_path));
	memcpy(sa.sun_path, name, len);
	sa_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
	if (name[0] == '@')
		sa.sun_path[0] = '\0';
	else
		sa_len++;
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sa_len), 0);
	return fd;
}

/* The next datagram on @fd, which must be waiting already. */
static void expect_datagram(int fd, const char *want)
{
	char buf[256];
	ssize_t n;

	n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
	assert_true(n >= 0);
	buf[n] = '\0';
	assert_string_equal(buf, want);
	n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
	assert_int_equal(n, -1);	/* exactly one */
	assert_int_equal(errno, EAGAIN);
}

static void sends_to_a_path(void **state)
{
	char name[200];
	int fd;

	(void)state;
	snprintf(name, sizeof(name), "%s/notify", dir);
	fd = bind_listener(name);
	assert_int_equal(setenv("NOTIFY_SOCKET", name, 1), 0);
	assert_int_equal(sd_notify_send("READY=1"), 1);
	expect_datagram(fd, "READY=1");
	assert_int_equal(sd_notify_send("STATUS=watching 2 filesystems\n"
					"READY=1"), 1);
	expect_datagram(fd, "STATUS=watching 2 filesystems\nREADY=1");
	close(fd);

	/* nobody bound there any more */
	assert_int_equal(unlink(name), 0);
	assert_int_equal(sd_notify_send("READY=1"), -ENOENT);
}

static void sends_to_an_abstract_name(void **state)
{
	char name[100];
	int fd;

	(void)state;
	snprintf(name, sizeof(name), "@dedupd-test-sdnotify-%d", getpid());
	fd = bind_listener(name);
	assert_int_equal(setenv("NOTIFY_SOCKET", name, 1), 0);
	assert_int_equal(sd_notify_send("READY=1"), 1);
	expect_datagram(fd, "READY=1");
	close(fd);
}

static void unset_means_no_service_manager(void **state)
{
	(void)state;
	assert_int_equal(unsetenv("NOTIFY_SOCKET"), 0);
	assert_int_equal(sd_notify_send("READY=1"), 0);
}

static void bad_addresses_and_states(void **state)
{
	char name[300];

	(void)state;
	assert_int_equal(setenv("NOTIFY_SOCKET", "", 1), 0);
	assert_int_equal(sd_notify_send("READY=1"), -EINVAL);
	assert_int_equal(setenv("NOTIFY_SOCKET", "relative/path", 1), 0);
	assert_int_equal(sd_notify_send("READY=1"), -EAFNOSUPPORT);
	assert_int_equal(setenv("NOTIFY_SOCKET", "vsock:2:1234", 1), 0);
	assert_int_equal(sd_notify_send("READY=1"), -EAFNOSUPPORT);

	/* sun_path holds 108 bytes: a path's NUL counts, an abstract not */
	memset(name, 'x', sizeof(name));
	name[0] = '/';
	name[108] = '\0';
	assert_int_equal(setenv("NOTIFY_SOCKET", name, 1), 0);
	assert_int_equal(sd_notify_send("READY=1"), -ENAMETOOLONG);
	name[107] = '\0';
	assert_int_equal(setenv("NOTIFY_SOCKET", name, 1), 0);
	assert_int_equal(sd_notify_send("READY=1"), -ENOENT);
	name[0] = '@';
	name[107] = 'x';
	name[108] = 'x';
	name[109] = '\0';
	assert_int_equal(setenv("NOTIFY_SOCKET", name, 1), 0);
	assert_int_equal(sd_notify_send("READY=1"), -ENAMETOOLONG);
	name[108] = '\0';
	assert_int_equal(setenv("NOTIFY_SOCKET", name, 1), 0);
	assert_int_equal(sd_notify_send("READY=1"), -ECONNREFUSED);

	assert_int_equal(setenv("NOTIFY_SOCKET", "/run/nothing", 1), 0);
	assert_int_equal(sd_notify_send(""), -EINVAL);
	assert_int_equal(sd_notify_send(NULL), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(sends_to_a_path),
		cmocka_unit_test(sends_to_an_abstract_name),
		cmocka_unit_test(unset_means_no_service_manager),
		cmocka_unit_test(bad_addresses_and_states),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
