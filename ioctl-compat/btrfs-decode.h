/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef DEDUPD_IOCTL_BTRFS_DECODE_H
#define DEDUPD_IOCTL_BTRFS_DECODE_H
/*
 * Internal to ioctl-compat, its unit tests and fuzzers: the decoders of
 * btrfs.c, apart from the ioctls whose results they read, so that any bytes
 * can be fed to them. Pure: no I/O, no allocation. The ioctl paths call
 * these same functions.
 */
#include <stdbool.h>
#include <stdint.h>
#include <linux/btrfs.h>

#include "ioctl-compat/btrfs.h"

/*
 * Decodes the file extent item @item of header @sh (its sh->len bytes)
 * into *@fe. Returns false for another item type or an item too short for
 * its type (*@fe is then partly written).
 */
bool btrfs_file_extent_decode(const struct btrfs_ioctl_search_header *sh,
			      const uint8_t *item,
			      struct btrfs_file_extent *fe);

/*
 * The name of the first reference in the INODE_REF item @item of @len
 * bytes. Returns its length (at least 1) and points *@ret_name at it (not
 * NUL-terminated), or 0 if the item is too short for its header, the name
 * is empty or runs past the item.
 */
uint32_t btrfs_inode_ref_name(const uint8_t *item, uint32_t len,
			      const uint8_t **ret_name);

/*
 * Checks the LOGICAL_INO_V2 result that the kernel wrote into the @size
 * bytes at @dc. Returns 0 if it holds every reference (elem_cnt values,
 * a whole number of triples, within @size); 1 if the kernel missed some,
 * with *@ret_size set to the buffer size to try next (at most the kernel's
 * limit, 16 MiB); -E2BIG if @size was that limit already; -EIO if elem_cnt
 * is not a multiple of 3 or does not fit in @size, or @size is smaller than
 * the container's header.
 */
int btrfs_refs_check(const struct btrfs_data_container *dc, uint32_t size,
		     uint32_t *ret_size);

/*
 * Calls @cb(@arg, root, inode, offset) for each triple of a result that
 * btrfs_refs_check() accepted (0), in the kernel's order. Returns 0 or the
 * callback's non-zero value.
 */
int btrfs_refs_walk(const struct btrfs_data_container *dc, btrfs_ref_cb cb,
		    void *arg);

#endif
