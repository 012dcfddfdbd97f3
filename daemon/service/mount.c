// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * dedupd watch: the private mount. A btrfs filesystem mark must sit on the
 * top level (subvolid=5); when the given mount is a subvolume, the top level
 * is mounted in a mount namespace of the daemon's own.
 */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>

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
 * A btrfs filesystem mark must sit on the top level (subvolid=5): mount it
 * privately, in a mount namespace of our own that dies with us.
 */
int mount_top_level(struct wfs *f, const char *run_dir)
{
	char uuid[40], dir[PATH_MAX + 48], *src;
	int ret;

	src = mount_source(f->e.mnt_id);
	if (!src)
		return -ENODEV;
	if (!W.unshared) {
		if (unshare(CLONE_NEWNS) < 0 ||
		    mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0) {
			ret = -errno;
			free(src);
			return ret;
		}
		W.unshared = true;
	}
	fs_uuid_format(f->e.fs.uuid, uuid);
	snprintf(dir, sizeof(dir), "%s/top-%s", run_dir, uuid);
	ret = mkdir_p(dir, 0700);
	if (ret == 0 && mount(src, dir, "btrfs",
			      MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME,
			      "subvolid=5") < 0)
		ret = -errno;
	free(src);
	if (ret < 0)
		return ret;
	f->top_dir = xstrdup(dir);
	return 0;
}
