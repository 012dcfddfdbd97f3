// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Unit tests for ioctl-compat/btrfs-csum.c: csum items taken into a window
 * of logical addresses, whatever their overlap with it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ioctl-compat/btrfs-csum.h"

#define SS 4096
#define CS 4	/* crc32c */

/* A window of @sectors sectors at @start, empty. */
static void window(struct btrfs_csum_window *w, uint64_t start,
		   uint64_t sectors)
{
	memset(w, 0, sizeof(*w));
	w->start = start;
	w->len = sectors * SS;
	w->csum_size = CS;
	w->sectorsize = SS;
	w->cap = sectors;
	w->csums = calloc(sectors, CS);
	w->have = calloc(sectors / 8 + 1, 1);
	assert_non_null(w->csums);
	assert_non_null(w->have);
}

/* An item of @n csums, csum i holding bytes 4 * (@first + i) + 0..3. */
static uint8_t *item(uint32_t first, uint32_t n)
{
	uint8_t *p = malloc((size_t)n * CS);

	assert_non_null(p);
	for (uint32_t i = 0; i < n * CS; i++)
		p[i] = (uint8_t)(first * CS + i);
	return p;
}

/* The csum at sector @s of the item model above, starting at sector 0. */
static void assert_csum(const struct btrfs_csum_window *w, uint64_t logical,
			uint32_t sector)
{
	const uint8_t *c = btrfs_csum_get(w, logical);

	assert_non_null(c);
	for (int i = 0; i < CS; i++)
		assert_int_equal(c[i], (uint8_t)(sector * CS + i));
}

/* An item that begins before the window and ends inside it: only the
 * sectors the two share are taken. */
static void test_item_before_window(void **state)
{
	struct btrfs_csum_window w;
	uint8_t *it = item(0, 16);	/* sectors 0-15 at logical 0 */

	(void)state;
	window(&w, 10 * SS, 8);	/* sectors 10-17 */
	btrfs_csum_item_apply(&w, 0, it, 16 * CS);
	for (uint32_t s = 10; s < 16; s++)
		assert_csum(&w, (uint64_t)s * SS, s);
	assert_null(btrfs_csum_get(&w, 16 * SS));	/* in, none */
	assert_null(btrfs_csum_get(&w, 9 * SS));	/* out */
	assert_null(btrfs_csum_get(&w, 18 * SS));	/* out */
	free(it);
	btrfs_csum_window_free(&w);
}

/* An item that runs past the window's end is cut there. */
static void test_item_past_window(void **state)
{
	struct btrfs_csum_window w;
	uint8_t *it = item(0, 64);	/* sectors 4-67 at logical 4 * SS */

	(void)state;
	window(&w, 0, 8);
	btrfs_csum_item_apply(&w, 4 * SS, it, 64 * CS);
	for (uint32_t s = 0; s < 4; s++)
		assert_null(btrfs_csum_get(&w, (uint64_t)s * SS));
	for (uint32_t s = 4; s < 8; s++)
		assert_csum(&w, (uint64_t)s * SS, s - 4);
	free(it);
	btrfs_csum_window_free(&w);
}

/* Items that are not a whole number of csums, not sector-aligned, wholly
 * outside, or would wrap the address space change nothing. */
static void test_bad_items_ignored(void **state)
{
	struct btrfs_csum_window w;
	uint8_t *it = item(0, 8);

	(void)state;
	window(&w, 8 * SS, 8);
	btrfs_csum_item_apply(&w, 8 * SS, it, 8 * CS - 1);
	btrfs_csum_item_apply(&w, 8 * SS + 1, it, 8 * CS);
	btrfs_csum_item_apply(&w, 16 * SS, it, 8 * CS);
	btrfs_csum_item_apply(&w, 0, it, 8 * CS);
	btrfs_csum_item_apply(&w, UINT64_MAX / SS * SS, it, 8 * CS);
	for (uint32_t s = 0; s < 8; s++)
		assert_null(btrfs_csum_get(&w, (uint64_t)(8 + s) * SS));
	free(it);
	btrfs_csum_window_free(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_item_before_window),
		cmocka_unit_test(test_item_past_window),
		cmocka_unit_test(test_bad_items_ignored),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
