// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Fuzzes the decoding of BTRFS_IOC_TREE_SEARCH_V2 and LOGICAL_INO_V2
 * results (ioctl-compat/btrfs-search.c, btrfs.c, btrfs-subvol.c, and the
 * csum tree's items in btrfs-csum.c), two ways,
 * by the input's first byte:
 *
 *  even: the rest is one result buffer, fed to the pure decoders
 *        (tree_search_decode and the item decoders, btrfs_refs_check and
 *        btrfs_refs_walk);
 *  odd:  the next byte picks a call of btrfs.h or btrfs-subvol.h, two le64
 *        give its arguments, and the rest is what a hostile kernel answers
 *        to the ioctls it makes (ioctl is wrapped), one after the other:
 *          TREE_SEARCH_V2  le16 nr_items, le16 n, n bytes of buffer
 *          LOGICAL_INO_V2  le32 n, n bytes of struct btrfs_data_container
 *          FS_INFO         le64 flags, le64 generation
 *        and, once the input is used up, nothing found.
 */
#include <endian.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <linux/btrfs.h>

#include "ioctl-compat/btrfs-csum.h"
#include "ioctl-compat/btrfs-decode.h"
#include "ioctl-compat/btrfs-search.h"
#include "ioctl-compat/btrfs-subvol.h"
#include "ioctl-compat/btrfs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int __real_ioctl(int fd, unsigned long request, ...);
int __wrap_ioctl(int fd, unsigned long request, ...);

#define FAKE_FD 1000	/* the only fd the fake kernel answers for */

static struct {
	const uint8_t *p;
	size_t left;
} in;

static uint64_t take(size_t len)
{
	uint64_t v = 0;
	size_t n = len < in.left ? len : in.left;

	memcpy(&v, in.p, n);
	in.p += n;
	in.left -= n;
	return le64toh(v);
}

static void take_into(void *dst, size_t room, size_t len)
{
	size_t n = len < in.left ? len : in.left;

	memcpy(dst, in.p, n < room ? n : room);
	in.p += n;
	in.left -= n;
}

int __wrap_ioctl(int fd, unsigned long request, ...)
{
	va_list ap;
	void *argp;

	va_start(ap, request);
	argp = va_arg(ap, void *);
	va_end(ap);
	if (fd != FAKE_FD)
		return __real_ioctl(fd, request, argp);

	if (request == BTRFS_IOC_TREE_SEARCH_V2) {
		struct btrfs_ioctl_search_args_v2 *a = argp;
		uint64_t nr = take(2), n = take(2);

		a->key.nr_items = (uint32_t)nr;
		take_into(a->buf, a->buf_size, n);
		return 0;
	}
	if (request == BTRFS_IOC_LOGICAL_INO_V2) {
		struct btrfs_ioctl_logical_ino_args *a = argp;
		uint64_t n = take(4);

		take_into((void *)(uintptr_t)a->inodes, a->size, n);
		return 0;
	}
	if (request == BTRFS_IOC_FS_INFO) {
		struct btrfs_ioctl_fs_info_args *a = argp;

		a->flags = take(8);
		a->generation = take(8);
		return 0;
	}
	errno = ENOTTY;
	return -1;
}

static int ranges_seen(void *arg, uint64_t off, uint64_t len)
{
	(void)off;
	(void)len;
	++*(uint64_t *)arg;
	return 0;
}

static int extent_seen(void *arg, const struct btrfs_file_extent *fe)
{
	(void)fe;
	++*(uint64_t *)arg;
	return 0;
}

static int new_seen(void *arg, uint64_t root_id, uint64_t ino)
{
	(void)root_id;
	(void)ino;
	++*(uint64_t *)arg;
	return 0;
}

static int ref_seen(void *arg, uint64_t root_id, uint64_t ino, uint64_t off)
{
	(void)root_id;
	(void)ino;
	(void)off;
	++*(uint64_t *)arg;
	return 0;
}

static int rec_seen(void *arg, const struct btrfs_subvol_rec *r)
{
	(void)r;
	++*(uint64_t *)arg;
	return 0;
}

/* A window of csums read from what the fake kernel answers, then all of it
 * looked up: within its buffers, or ASan says. */
static int csums(uint64_t a, uint64_t b)
{
	static const uint16_t sizes[] = { 4, 8, 32, 32 };
	struct btrfs_csum_info ci = {
		.type = (uint16_t)(b % 4), .size = sizes[b % 4],
		.sectorsize = 4096, .nodesize = 16384,
	};
	struct btrfs_csum_window w = { 0 };
	uint64_t start = a / 4096 * 4096, len = 4096 * (1 + (b >> 8) % 512);
	int ret = btrfs_csums_read(FAKE_FD, &ci, start, len, b >> 20, &w);

	for (uint64_t off = 0; ret == 0 && off < len; off += 4096) {
		const uint8_t *c = btrfs_csum_get(&w, start + off);

		if (c && (c < w.csums || c + ci.size > w.csums + w.cap * ci.size))
			abort();
	}
	btrfs_csum_window_free(&w);
	return ret;
}

static void hostile_kernel(uint8_t call, uint64_t a, uint64_t b)
{
	uint64_t n = 0, v = 0;
	char name[300];
	int ret = 0;

	switch (call % 11) {
	case 0:
		ret = btrfs_file_extents(FAKE_FD, 5, 257, a, b, extent_seen,
					 &n);
		break;
	case 1:
		ret = btrfs_find_new(FAKE_FD, 5, a, new_seen, &n);
		break;
	case 2:
		ret = btrfs_subvols_changed(FAKE_FD, a, new_seen, &n);
		break;
	case 3:
		ret = btrfs_inode_new_ranges(FAKE_FD, 5, 257, a, ranges_seen,
					     &n);
		break;
	case 4: {
		size_t len = 1 + b % sizeof(name);

		memset(name, 'x', sizeof(name));
		ret = btrfs_inode_parent(FAKE_FD, 5, 257, &v, name, len);
		if (ret == 0 && strnlen(name, len) >= len)
			abort();
		break;
	}
	case 5:
		ret = btrfs_extent_refs(FAKE_FD, a, ref_seen, &n);
		break;
	case 6:
		ret = btrfs_extent_refs_at(FAKE_FD, a, ref_seen, &n);
		break;
	case 7:
		ret = btrfs_root_last_snapshot(FAKE_FD, a, &v);
		break;
	case 8:
		ret = btrfs_fs_generation(FAKE_FD, &v);
		break;
	case 9:
		ret = csums(a, b);
		break;
	default:
		ret = btrfs_subvol_recs(FAKE_FD, a, rec_seen, &n);
		break;
	}
	/* The callbacks never stop a walk: 0 or -errno. */
	if (ret > 0)
		abort();
}

static void buffer(const uint8_t *data, size_t size)
{
	struct btrfs_ioctl_search_header sh;
	struct btrfs_data_container *dc;
	struct btrfs_file_extent fe;
	const uint8_t *item, *name;
	uint8_t *buf;
	size_t off = 0, items = 0;
	uint32_t len, next;
	uint64_t refs = 0;

	/* Exactly as long as the input, to catch a read past it. */
	buf = malloc(size ? size : 1);
	if (!buf)
		return;
	memcpy(buf, data, size);
	while (tree_search_decode(buf, size, &off, &sh, &item) == 0) {
		if (off > size || item < buf || item + sh.len > buf + size ||
		    ++items > size / sizeof(sh))
			abort();
		(void)btrfs_file_extent_decode(&sh, item, &fe);
		sh.type = BTRFS_EXTENT_DATA_KEY;
		(void)btrfs_file_extent_decode(&sh, item, &fe);
		len = btrfs_inode_ref_name(item, sh.len, &name);
		if (len && (name < item || name + len > item + sh.len))
			abort();
	}
	free(buf);

	/* The same bytes as a reference list, in a buffer of their size. */
	len = (uint32_t)(size < (1u << 24) ? size : (1u << 24));
	dc = malloc(len ? len : 1);
	if (!dc)
		return;
	memcpy(dc, data, len);
	switch (btrfs_refs_check(dc, len, &next)) {
	case 0:
		if (btrfs_refs_walk(dc, ref_seen, &refs) != 0 ||
		    refs * 3 != dc->elem_cnt)
			abort();
		break;
	case 1:
		if (next <= len || next > (16u << 20))
			abort();
		break;
	}
	free(dc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t call;
	uint64_t a, b;

	if (size < 1)
		return 0;
	if (!(data[0] & 1)) {
		buffer(data + 1, size - 1);
		return 0;
	}
	in.p = data + 1;
	in.left = size - 1;
	call = (uint8_t)take(1);
	a = take(8);
	b = take(8);
	hostile_kernel(call, a, b);
	return 0;
}
