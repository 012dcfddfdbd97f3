// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * FIDEDUPERANGE wrapper. See dedupe.h for the rules it enforces.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <linux/fs.h>

#include "ioctl-compat/dedupe.h"

/* The kernel takes loff_t: offset + length must stay below 2^63. */
static bool range_fits(uint64_t off, uint64_t len)
{
	return off <= (uint64_t)INT64_MAX && len <= (uint64_t)INT64_MAX - off;
}

static void dests_fail(struct dedupe_dest *dests, unsigned int ndests, int err)
{
	for (unsigned int i = 0; i < ndests; i++) {
		dests[i].status = err;
		dests[i].bytes = 0;
	}
}

/*
 * Returns 1 if [off, off + len) ends exactly at the end of @fd, 0 if not, or
 * -errno.
 */
static int ends_at_eof(int fd, uint64_t off, uint64_t len)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	return st.st_size >= 0 && off + len == (uint64_t)st.st_size;
}

/*
 * The kernel accepts a partial last block only when the range ends at EOF in
 * the source and in the destination; anywhere else it silently rounds the
 * length down yet reports the requested length as deduped. So keep the tail
 * only when it ends at EOF everywhere, else round down here.
 * Returns the length to submit, or -errno.
 */
static int64_t align_length(int src, uint64_t src_off, uint64_t len,
			    const struct dedupe_dest *dests,
			    unsigned int ndests, uint32_t blksz, bool clipped)
{
	uint64_t aligned = len & ~((uint64_t)blksz - 1);
	int ret;

	if (aligned == len || clipped)
		return (int64_t)aligned;

	ret = ends_at_eof(src, src_off, len);
	if (ret <= 0)
		return ret < 0 ? ret : (int64_t)aligned;
	for (unsigned int i = 0; i < ndests; i++) {
		ret = ends_at_eof(dests[i].fd, dests[i].offset, len);
		if (ret <= 0)
			return ret < 0 ? ret : (int64_t)aligned;
	}
	return (int64_t)len;
}

int64_t dedupe_submit(int src, uint64_t src_off, uint64_t len,
		      struct dedupe_dest *dests, unsigned int ndests,
		      uint32_t blksz)
{
	struct file_dedupe_range *args;
	bool clipped = false;
	int64_t ret;

	if (!dests || ndests == 0)
		return -EINVAL;
	if (ndests > DEDUPE_MAX_DESTS || blksz == 0 ||
	    (blksz & (blksz - 1)) != 0) {
		ret = -EINVAL;
		goto out_fail;
	}

	if (len > DEDUPE_MAX_LEN) {
		len = DEDUPE_MAX_LEN;
		clipped = true;
	}

	if (src_off % blksz != 0 || !range_fits(src_off, len)) {
		ret = -EINVAL;
		goto out_fail;
	}
	for (unsigned int i = 0; i < ndests; i++) {
		if (dests[i].offset % blksz != 0 ||
		    !range_fits(dests[i].offset, len)) {
			ret = -EINVAL;
			goto out_fail;
		}
	}

	ret = align_length(src, src_off, len, dests, ndests, blksz, clipped);
	if (ret < 0)
		goto out_fail;
	len = (uint64_t)ret;
	if (len == 0) {
		dests_fail(dests, ndests, 0);
		return 0;
	}

	args = calloc(1, sizeof(*args) + ndests * sizeof(args->info[0]));
	if (!args) {
		ret = -ENOMEM;
		goto out_fail;
	}
	args->src_offset = src_off;
	args->src_length = len;
	args->dest_count = (uint16_t)ndests;
	for (unsigned int i = 0; i < ndests; i++) {
		args->info[i].dest_fd = dests[i].fd;
		args->info[i].dest_offset = dests[i].offset;
	}

	if (ioctl(src, FIDEDUPERANGE, args) < 0) {
		ret = -errno;
		goto out_free;
	}

	for (unsigned int i = 0; i < ndests; i++) {
		const struct file_dedupe_range_info *info = &args->info[i];

		dests[i].bytes = 0;
		if (info->status == FILE_DEDUPE_RANGE_SAME) {
			dests[i].status = 0;
			/* bytes_deduped echoes the request: never trust more */
			dests[i].bytes = info->bytes_deduped < len ?
						 info->bytes_deduped :
						 len;
		} else if (info->status == FILE_DEDUPE_RANGE_DIFFERS) {
			dests[i].status = -EBADE;
		} else if (info->status < 0) {
			dests[i].status = info->status;
		} else {
			dests[i].status = -EIO; /* unknown positive status */
		}
	}
	free(args);
	return (int64_t)len;

out_free:
	free(args);
out_fail:
	dests_fail(dests, ndests, (int)ret);
	return ret;
}

int64_t dedupe_range(int src, uint64_t src_off, uint64_t len, int dst,
		     uint64_t dst_off, uint32_t blksz)
{
	struct dedupe_dest dest = { .fd = dst, .offset = dst_off };
	int64_t ret;

	ret = dedupe_submit(src, src_off, len, &dest, 1, blksz);
	if (ret <= 0)
		return ret;
	if (dest.status < 0)
		return dest.status;
	return (int64_t)dest.bytes;
}
