// SPDX-License-Identifier: GPL-2.0-or-later
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "daemon/common/util.h"

int parse_size(const char *s, uint64_t *ret)
{
	unsigned long long v;
	unsigned int shift = 0;
	char *end;

	if (!s || !isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -ERANGE;
	switch (toupper((unsigned char)*end)) {
	case '\0':
		break;
	case 'K':
		shift = 10;
		break;
	case 'M':
		shift = 20;
		break;
	case 'G':
		shift = 30;
		break;
	case 'T':
		shift = 40;
		break;
	default:
		return -EINVAL;
	}
	if (*end) {
		end++;
		if (!strcasecmp(end, "iB") || !strcasecmp(end, "B"))
			end += strlen(end);
	}
	if (*end)
		return -EINVAL;
	if (shift && v > (~0ULL >> shift))
		return -ERANGE;
	*ret = v << shift;
	return 0;
}

char *fmt_bytes(uint64_t bytes, char *buf, size_t len)
{
	static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double v = (double)bytes;
	unsigned int i = 0;

	while (v >= 1024 && i < 4) {
		v /= 1024;
		i++;
	}
	if (i == 0)
		snprintf(buf, len, "%llu B", (unsigned long long)bytes);
	else
		snprintf(buf, len, "%.1f %s", v, unit[i]);
	return buf;
}

double now_sec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void out_of_memory(size_t n)
{
#ifndef DEDUPD_LIBRARY	/* a library never prints */
	fprintf(stderr, "dedupd: out of memory allocating %zu bytes\n", n);
#else
	(void)n;
#endif
	abort();
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p)
		out_of_memory(n);
	return p;
}

void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (!p)
		out_of_memory(n * size);
	return p;
}

void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		out_of_memory(n);
	return p;
}

char *xstrdup(const char *s)
{
	char *p = strdup(s);

	if (!p)
		out_of_memory(strlen(s) + 1);
	return p;
}

void *grow_array(void *p, size_t *cap, size_t need, size_t size)
{
	size_t n = *cap ? *cap : 16;

	if (need <= *cap)
		return p;
	while (n < need)
		n *= 2;
	p = xrealloc(p, n * size);
	*cap = n;
	return p;
}

int parse_snapshots_mode(const char *s, bool *ret_skip)
{
	if (!strcmp(s, "follow"))
		*ret_skip = false;
	else if (!strcmp(s, "skip"))
		*ret_skip = true;
	else
		return -EINVAL;
	return 0;
}

int parse_domain(const char *s, enum dedupe_domain *ret)
{
	if (!strcmp(s, "none"))
		*ret = DOMAIN_NONE;
	else if (!strcmp(s, "owner"))
		*ret = DOMAIN_OWNER;
	else if (!strcmp(s, "subvolume"))
		*ret = DOMAIN_SUBVOLUME;
	else
		return -EINVAL;
	return 0;
}

int mount_root(const char *path, char **ret_root)
{
	struct statx stx;
	char *p, *slash;
	int mnt;

	p = realpath(path, NULL);
	if (!p)
		return -errno;
	if (statx(AT_FDCWD, p, 0, STATX_MNT_ID, &stx) < 0)
		goto fail;
	mnt = (int)stx.stx_mnt_id;
	for (;;) {
		slash = strrchr(p, '/');
		if (!slash || slash == p) {	/* the parent is / */
			if (statx(AT_FDCWD, "/", 0, STATX_MNT_ID, &stx) < 0)
				goto fail;
			if ((int)stx.stx_mnt_id == mnt)
				p[1] = '\0';
			break;
		}
		*slash = '\0';
		if (statx(AT_FDCWD, p, 0, STATX_MNT_ID, &stx) < 0)
			goto fail;
		if ((int)stx.stx_mnt_id != mnt) {
			*slash = '/';	/* the parent is another mount */
			break;
		}
	}
	*ret_root = p;
	return 0;
fail:
	free(p);
	return -errno;
}

int write_full(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int commit_file(FILE *fp, const char *tmp, const char *path)
{
	int ret = 0;

	if (ferror(fp))
		ret = -EIO;	/* a write through @fp failed */
	else if (fflush(fp) || fsync(fileno(fp)))
		ret = -errno;
	if (fclose(fp) && !ret)
		ret = -errno;
	if (!ret && rename(tmp, path) < 0)
		ret = -errno;
	if (ret)
		(void)unlink(tmp);
	return ret;
}
