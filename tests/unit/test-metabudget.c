// SPDX-License-Identifier: GPL-2.0-or-later
/* Unit tests for daemon/engine/metabudget.c: leaves paid per group. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "daemon/engine/metabudget.h"

#define LEAF 32768

/* Many small files in one group of inodes, in 3 snapshots: together they
 * pay for each snapshot's leaf. */
static void test_dense_group_pays(void **state)
{
	struct metabudget *b = metabudget_new(LEAF);
	size_t id[16];

	(void)state;
	for (uint64_t i = 0; i < 16; i++) {
		uint64_t files[4][2] = {
			{ 5, 256 + i }, { 300, 256 + i }, { 301, 256 + i },
			{ 302, 256 + i },
		};

		/* 64 KiB each: 16 KiB a group, 16 of them per group */
		id[i] = metabudget_add(b, 65536, files, 4);
	}
	metabudget_decide(b);
	for (int i = 0; i < 16; i++)
		assert_true(metabudget_ok(b, id[i]));
	metabudget_free(b);
}

/* One file in 100 snapshots: its gain cannot pay for 101 leaves. */
static void test_many_snapshots_do_not_pay(void **state)
{
	struct metabudget *b = metabudget_new(LEAF);
	uint64_t files[101][2];
	size_t id;

	(void)state;
	for (int i = 0; i < 101; i++) {
		files[i][0] = 5 + (uint64_t)i;
		files[i][1] = 257;
	}
	id = metabudget_add(b, 1 << 20, (const uint64_t (*)[2])files, 101);
	metabudget_decide(b);
	assert_false(metabudget_ok(b, id));
	/* 100 MiB does pay */
	metabudget_end_batch(b);
	id = metabudget_add(b, 100 << 20, (const uint64_t (*)[2])files, 101);
	metabudget_decide(b);
	assert_true(metabudget_ok(b, id));
	metabudget_free(b);
}

/* Groups a candidate went through cost nothing to the next ones. */
static void test_touched_groups_are_free(void **state)
{
	struct metabudget *b = metabudget_new(LEAF);
	uint64_t big[2][2] = { { 5, 300 }, { 400, 300 } };
	uint64_t small[2][2] = { { 5, 301 }, { 400, 302 } };
	size_t id;

	(void)state;
	id = metabudget_add(b, 4096, small, 2);
	metabudget_decide(b);
	assert_false(metabudget_ok(b, id));	/* 4 KiB for two leaves */
	metabudget_end_batch(b);

	id = metabudget_add(b, 1 << 20, big, 2);
	metabudget_decide(b);
	assert_true(metabudget_ok(b, id));
	metabudget_spend(b, id);
	metabudget_end_batch(b);

	/* inodes 301 and 302 share the group of 300 (16 inodes a group) */
	id = metabudget_add(b, 4096, small, 2);
	metabudget_decide(b);
	assert_true(metabudget_ok(b, id));
	metabudget_free(b);
}

/* A candidate that cannot go takes its share away from the others. */
static void test_fixpoint(void **state)
{
	struct metabudget *b = metabudget_new(LEAF);
	uint64_t shared_and_lone[2][2] = { { 5, 16 }, { 6, 16 } };
	uint64_t shared_only[1][2] = { { 5, 16 } };
	size_t a, c;

	(void)state;
	/* a: 40 KiB over two groups, 20 KiB each; group (6, 1) gets only
	 * that: a fails, and with it c's group (5, 1) has 20 KiB only. */
	a = metabudget_add(b, 40960, shared_and_lone, 2);
	c = metabudget_add(b, 20480, shared_only, 1);
	metabudget_decide(b);
	assert_false(metabudget_ok(b, a));
	assert_false(metabudget_ok(b, c));
	metabudget_free(b);
}

/* A relocation decided alone spends what it pays for. */
static void test_single(void **state)
{
	struct metabudget *b = metabudget_new(LEAF);
	uint64_t files[2][2] = { { 5, 32 }, { 7, 32 } };

	(void)state;
	assert_false(metabudget_single(b, 8192, files, 2));
	assert_true(metabudget_single(b, 65536, files, 2));
	assert_true(metabudget_single(b, 1, files, 2));	/* now free */
	metabudget_reset(b);
	assert_false(metabudget_single(b, 1, files, 2));
	metabudget_free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dense_group_pays),
		cmocka_unit_test(test_many_snapshots_do_not_pay),
		cmocka_unit_test(test_touched_groups_are_free),
		cmocka_unit_test(test_fixpoint),
		cmocka_unit_test(test_single),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
