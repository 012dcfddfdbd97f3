// SPDX-License-Identifier: GPL-2.0-or-later
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "daemon/service/sdnotify.h"

int sd_notify_send(const char *state)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *addr = getenv("NOTIFY_SOCKET");
	size_t state_len, addr_len;
	socklen_t sa_len;
	ssize_t n;
	int fd, ret;

	if (!addr)
		return 0;
	if (!state || !*state || !*addr)
		return -EINVAL;
	/* systemd also knows "vsock:CID:PORT"; a daemon on a host needs not. */
	if (addr[0] != '/' && addr[0] != '@')
		return -EAFNOSUPPORT;
	addr_len = strlen(addr);
	if (addr_len > sizeof(sa.sun_path) - (addr[0] == '/'))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, addr, addr_len);
	sa_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + addr_len);
	if (addr[0] == '@')
		/* An abstract name is the bytes after a NUL, not terminated. */
		sa.sun_path[0] = '\0';
	else
		sa_len++;	/* the path's NUL */

	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	state_len = strlen(state);
	n = sendto(fd, state, state_len, MSG_NOSIGNAL,
		   (const struct sockaddr *)&sa, sa_len);
	if (n < 0)
		ret = -errno;
	else if ((size_t)n != state_len)	/* cannot happen: a datagram */
		ret = -EMSGSIZE;
	else
		ret = 1;
	close(fd);
	return ret;
}
