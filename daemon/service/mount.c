// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * dedupd watch: the private mount. A btrfs filesystem mark must sit on the
 * top level (subvolid=5); when the given mount is a subvolume, the top level
 * is mounted for the daemon alone, detached.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/engine/index.h"
#include "daemon/service/internal.h"
#include "ioctl-compat/fsprobe.h"

/* The source device of mount @mnt_id, from /proc/self/mountinfo. */
static char *mount_source(int mnt_id)
{
	FILE *fp = fopen("/proc/self/mountinfo", "re");
	char *line = NULL, *ret = NULL;
	size_t cap = 0;

	if (!fp)
		return NULL;
	while (getline(&line, &cap, fp) > 0) {
		char *sep, src[PATH_MAX];
		int id;

		if (sscanf(line, "%d", &id) != 1 || id != mnt_id)
			continue;
		sep = strstr(line, " - ");
		if (sep && sscanf(sep + 3, "%*s %4095s", src) == 1)
			ret = xstrdup(src);
		break;
	}
	free(line);
	fclose(fp);
	return ret;
}

/*
 * A btrfs filesystem mark must sit on the top level (subvolid=5). It is
 * mounted detached (fsopen, fsmount): attached nowhere, in no namespace,
 * gone with its last fd. A mount namespace of our own would have held a
 * copy of every other mount of the host that existed then (where / is
 * private, unmounting them elsewhere does not reach it), keeping their
 * filesystems alive after their owners unmounted them.
 */
int mount_top_level(struct wfs *f)
{
	char dir[64], *src;
	int fs, mfd = -1, ret = 0;
	struct statx stx;

	src = mount_source(f->e.mnt_id);
	if (!src)
		return -ENODEV;
	fs = fsopen("btrfs", FSOPEN_CLOEXEC);
	if (fs < 0 ||
	    fsconfig(fs, FSCONFIG_SET_STRING, "source", src, 0) < 0 ||
	    fsconfig(fs, FSCONFIG_SET_STRING, "subvolid", "5", 0) < 0 ||
	    fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0 ||
	    (mfd = fsmount(fs, FSMOUNT_CLOEXEC,
			   MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV |
			   MOUNT_ATTR_NOEXEC | MOUNT_ATTR_NOATIME)) < 0 ||
	    statx(mfd, "", AT_EMPTY_PATH, STATX_MNT_ID, &stx) < 0)
		ret = -errno;
	if (fs >= 0)
		close(fs);
	free(src);
	if (ret < 0) {
		if (mfd >= 0)
			close(mfd);
		return ret;
	}
	snprintf(dir, sizeof(dir), "/proc/self/fd/%d", mfd);
	f->top_dir = xstrdup(dir);
	f->top_mfd = mfd;
	f->top_mnt_id = (int)stx.stx_mnt_id;
	return 0;
}
