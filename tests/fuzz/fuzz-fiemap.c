// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Fuzzes the decoding of FIEMAP results (ioctl-compat/fiemap-decode.h), as
 * fiemap_iter_next() drives it: the input is the range asked for and the
 * batches the kernel answered with, one after the other.
 *
 *	le64 start, le64 length (the end saturates at 2^64 - 1)
 *	u8   batch capacity - 1 (the iterator's is 512; small ones make more
 *	     batches out of fewer bytes)
 *	then per batch: le32 fm_mapped_extents, and that many struct
 *	fiemap_extent (at most the capacity; zeros past the input's end)
 *
 * When the input is used up, the kernel answers with empty batches. What
 * comes out must tile [start, end) in order, without gaps or overlaps.
 */
#include <endian.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ioctl-compat/fiemap-decode.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct input {
	const uint8_t *p;
	size_t left;
};

/* Copies up to @len bytes of input into @dst, zeros for the rest. */
static void take(struct input *in, void *dst, size_t len)
{
	size_t n = len < in->left ? len : in->left;

	memcpy(dst, in->p, n);
	memset((uint8_t *)dst + n, 0, len - n);
	in->p += n;
	in->left -= n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = { data, size };
	struct fiemap_cursor c;
	struct extent ext;
	struct fiemap *fm;
	uint64_t start, len, end, pos, loaded = 0, yields = 0;
	unsigned int capacity;
	uint8_t cap;
	uint32_t mapped;
	int ret;

	take(&in, &start, sizeof(start));
	take(&in, &len, sizeof(len));
	take(&in, &cap, sizeof(cap));
	start = le64toh(start);
	len = le64toh(len);
	end = start + len < start ? UINT64_MAX : start + len;
	capacity = (unsigned int)cap % 32 + 1;

	fm = calloc(1, sizeof(*fm) + capacity * sizeof(fm->fm_extents[0]));
	if (!fm)
		return 0;
	fiemap_cursor_init(&c, start, end);
	pos = start;
	while ((ret = fiemap_cursor_next(&c, fm, &ext)) != 0) {
		if (ret == -EAGAIN) {
			/* The kernel is asked from pos on. */
			if (c.pos != pos)
				abort();
			take(&in, &mapped, sizeof(mapped));
			fm->fm_mapped_extents = le32toh(mapped);
			fm->fm_extent_count = capacity;
			fm->fm_start = pos;
			fm->fm_length = end - pos;
			for (unsigned int i = 0;
			     i < capacity && i < fm->fm_mapped_extents; i++)
				take(&in, &fm->fm_extents[i],
				     sizeof(fm->fm_extents[i]));
			loaded += fm->fm_mapped_extents < capacity ?
					  fm->fm_mapped_extents :
					  capacity;
			fiemap_cursor_load(&c, fm, capacity);
			continue;
		}
		if (ret != 1)
			abort();
		/* In order, no gap, no overlap, nothing empty, nothing past end. */
		if (ext.logical != pos || ext.length == 0 ||
		    ext.length > end - pos)
			abort();
		if ((ext.flags & EXTENT_HOLE) &&
		    (ext.flags != EXTENT_HOLE || ext.physical != 0))
			abort();
		pos += ext.length;
		/* A hole before each extent, the extent, a last hole. */
		if (++yields > 2 * loaded + 2)
			abort();
	}
	if (pos != end)
		abort();
	free(fm);
	return 0;
}
