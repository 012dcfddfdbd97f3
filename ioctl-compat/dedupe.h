/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef DEDUPD_IOCTL_DEDUPE_H
#define DEDUPD_IOCTL_DEDUPE_H

/*
 * FIDEDUPERANGE, policy-free. The kernel locks both ranges, compares the
 * bytes and only then shares the extents: this is the only call in dedupd
 * that changes a user file.
 *
 * Kernel rules this wrapper enforces (see KERNEL-NOTES.md):
 *  - offsets must be block-aligned, else the kernel answers -EINVAL;
 *  - the length must be a multiple of the block size, unless the range ends
 *    at EOF in the source and in every destination (the tail rule);
 *  - at most 1 GiB per call (the VFS caps it);
 *  - at most DEDUPE_MAX_DESTS destinations per call (one page of args);
 *  - bytes_deduped echoes the requested length even when the kernel rounded
 *    it down, so it is never trusted past the length this wrapper submitted.
 */

#include <stdint.h>

#define DEDUPE_MAX_DESTS 127
#define DEDUPE_MAX_LEN (1ULL << 30)

struct dedupe_dest {
	int fd;			/* opened O_RDONLY: a write-mode fd raises CLOSE_WRITE */
	uint64_t offset;
	/* filled in by dedupe_submit() */
	int status;		/* 0 shared, -EBADE data differ, or -errno */
	uint64_t bytes;		/* bytes now shared at this destination */
};

/*
 * Submits one FIDEDUPERANGE call: [@src_off, @src_off + @len) of @src onto
 * each of the @ndests destinations. The length is first clipped to
 * DEDUPE_MAX_LEN, then rounded down to @blksz unless the range ends at EOF in
 * the source and in every destination (the sizes are read with fstat).
 *
 * Returns the length submitted (> 0), 0 if alignment left nothing to submit
 * (no call is made), or -errno if the arguments are invalid (-EINVAL: an
 * unaligned offset, @ndests 0 or over DEDUPE_MAX_DESTS, @blksz not a power of
 * two) or the call itself failed; on a failed call every dest->status is set
 * to that -errno and every dest->bytes to 0.
 */
int64_t dedupe_submit(int src, uint64_t src_off, uint64_t len,
		      struct dedupe_dest *dests, unsigned int ndests,
		      uint32_t blksz);

/*
 * One destination. Returns the bytes now shared (> 0), 0 if alignment left
 * nothing to submit, -EBADE if the data differ, or -errno.
 */
int64_t dedupe_range(int src, uint64_t src_off, uint64_t len, int dst,
		     uint64_t dst_off, uint32_t blksz);

#endif
