/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef DEDUPD_IOCTL_BTRFS_CSUM_H
#define DEDUPD_IOCTL_BTRFS_CSUM_H

/*
 * btrfs data checksums: the csum tree (tree 7) keeps one checksum of every
 * data sector that has one, in items keyed (EXTENT_CSUM, EXTENT_CSUM,
 * logical bytenr), each holding the csums of consecutive sectors from that
 * address on. A file's uncompressed extent at FIEMAP's fe_physical (btrfs's
 * logical address) has its sectors' csums there; compressed extents' csums
 * are of the compressed bytes, and nodatasum files, inline and preallocated
 * extents have none.
 *
 * The csums are read with TREE_SEARCH_V2 (CAP_SYS_ADMIN), a window of
 * logical addresses at a time. BTRFS_IOC_GET_CSUMS (per file, unprivileged)
 * is not in Linux 6.18, and its interface is not settled: not used.
 */

#include <stdbool.h>
#include <stdint.h>

#define BTRFS_CSUM_MAX_SIZE 32

struct btrfs_csum_info {
	uint16_t type;		/* BTRFS_CSUM_TYPE_*: crc32c, xxhash, ... */
	uint16_t size;		/* bytes per sector: 4, 8 or 32 */
	uint32_t sectorsize;
	uint32_t nodesize;
};

/*
 * The csum type, size, sector and node size of the btrfs @fd is on, from
 * BTRFS_IOC_FS_INFO. Returns 0, -EOPNOTSUPP for a kernel that does not say
 * (before 5.5) or an unknown type, or -errno (-ENOTTY: not btrfs).
 */
int btrfs_csum_info(int fd, struct btrfs_csum_info *ret);

/*
 * The csums of the sectors of logical addresses [start, start + len), as far
 * as the csum tree has them. Owned by the caller: zero it before the first
 * btrfs_csums_read(), free it with btrfs_csum_window_free().
 */
struct btrfs_csum_window {
	uint64_t start, len;	/* sector-aligned */
	uint16_t csum_size;
	uint32_t sectorsize;
	uint8_t *csums;		/* len / sectorsize csums of csum_size */
	uint8_t *have;		/* bit i: sector i has its csum */
	size_t cap;		/* sectors the buffers hold */
	uint64_t bytes_read;	/* item bytes the searches returned, in all */
};

/*
 * Fills @w with the csums of [@start, @start + @len) (sector-aligned, @len
 * at least one sector) from the csum tree of the filesystem @fd is on, in
 * tree blocks written after @min_transid - 1 (0: all): an item written
 * before is left out, as if it had none. Returns 0, or -errno (-EPERM
 * without CAP_SYS_ADMIN, -ENOMEM; @w is then empty).
 */
int btrfs_csums_read(int fd, const struct btrfs_csum_info *ci, uint64_t start,
		     uint64_t len, uint64_t min_transid,
		     struct btrfs_csum_window *w);

/*
 * Takes the csum item at key offset @item_start, of @item_len bytes, into @w:
 * the csums of the sectors it shares with the window. Pure (the decoder that
 * btrfs_csums_read() and the fuzzer share): an item that is not a whole
 * number of csums, or not sector-aligned, is ignored.
 */
void btrfs_csum_item_apply(struct btrfs_csum_window *w, uint64_t item_start,
			   const uint8_t *item, uint32_t item_len);

/* The csum of the sector at @logical, or NULL if @w has none for it. */
const uint8_t *btrfs_csum_get(const struct btrfs_csum_window *w,
			      uint64_t logical);

void btrfs_csum_window_free(struct btrfs_csum_window *w);

#endif
