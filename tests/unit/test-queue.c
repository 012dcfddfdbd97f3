// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The watch daemon's coalescing queue: settle, minimum age, re-examination,
 * in-flight files written again, tags for the checkpoint, forgetting.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "daemon/service/queue.h"

static const struct queue_timing T = { .settle = 5, .min_age = 0,
				       .reexamine = 30 };

static struct file_id_handle H(uint8_t n)
{
	struct file_id_handle h = { .type = 0x4d, .len = 20 };

	memset(h.data, n, h.len);
	return h;
}

static size_t take(struct wqueue *q, const struct queue_timing *t, double now,
		   struct wqueue_item *out)
{
	return wqueue_take(q, t, now, out, 16);
}

static void writes_coalesce_per_file(void **state)
{
	struct wqueue q = { 0 };
	struct file_id_handle a = H(1), b = H(2);
	struct wqueue_item out[16];

	(void)state;
	wqueue_note(&q, &a, NULL, NULL, 100, 7);
	wqueue_note(&q, &a, NULL, NULL, 101, 8);
	wqueue_note(&q, &b, NULL, NULL, 102, 8);
	wqueue_note(&q, &a, NULL, NULL, 103, 9);
	assert_int_equal(q.nqueued, 2);
	/* a's last write at 103: settled at 108; b at 107. */
	assert_true(wqueue_next_due(&q, &T) == 107);
	assert_int_equal(take(&q, &T, 106.9, out), 0);
	assert_int_equal(take(&q, &T, 107, out), 1);
	assert_memory_equal(&out[0], &b, sizeof(b));
	assert_int_equal(q.nqueued, 1);
	assert_int_equal(q.nflight, 1);
	/* The first tag stays: writes after it came later. */
	assert_int_equal(wqueue_floor(&q, 100), 7);
	wqueue_done(&q, 107.5, false);
	assert_int_equal(q.nflight, 0);
	assert_int_equal(take(&q, &T, 108, out), 1);
	assert_memory_equal(&out[0], &a, sizeof(a));
	wqueue_done(&q, 108.5, false);
	assert_int_equal(wqueue_floor(&q, 100), 100);
	wqueue_fini(&q);
	assert_null(q.map);
}

static void min_age_and_reexamine(void **state)
{
	const struct queue_timing t = { .settle = 1, .min_age = 10,
					.reexamine = 30 };
	struct wqueue q = { 0 };
	struct file_id_handle a = H(1);
	struct wqueue_item out[16];

	(void)state;
	wqueue_note(&q, &a, NULL, NULL, 0, 1);
	assert_int_equal(take(&q, &t, 5, out), 0);	/* settled, too young */
	assert_true(wqueue_next_due(&q, &t) == 10);
	assert_int_equal(take(&q, &t, 10, out), 1);
	wqueue_done(&q, 10, false);
	/* Written again at once: not before 30 s after the last take-up. */
	wqueue_note(&q, &a, NULL, NULL, 11, 2);
	assert_int_equal(take(&q, &t, 25, out), 0);
	assert_true(wqueue_next_due(&q, &t) == 40);
	assert_int_equal(take(&q, &t, 40, out), 1);
	wqueue_done(&q, 40, false);
	wqueue_fini(&q);
}

static void written_while_in_flight(void **state)
{
	struct wqueue q = { 0 };
	struct file_id_handle a = H(1);
	struct wqueue_item out[16];

	(void)state;
	wqueue_note(&q, &a, NULL, NULL, 0, 5);
	assert_int_equal(take(&q, &T, 5, out), 1);
	/* A write while it is hashed: queued again, but not taken twice. */
	wqueue_note(&q, &a, NULL, NULL, 6, 9);
	assert_int_equal(q.nqueued, 1);
	assert_int_equal(take(&q, &T, 100, out), 0);
	/* Until done, the older tag bounds the checkpoint. */
	assert_int_equal(wqueue_floor(&q, 50), 5);
	wqueue_done(&q, 7, false);
	/* The hashing may have missed the write: its tag stays the older. */
	assert_int_equal(wqueue_floor(&q, 50), 5);
	assert_int_equal(q.nqueued, 1);
	assert_int_equal(take(&q, &T, 37, out), 1);
	wqueue_done(&q, 37, false);
	assert_int_equal(wqueue_floor(&q, 50), 50);
	wqueue_fini(&q);
}

static void stopped_round_stays_owed(void **state)
{
	struct wqueue q = { 0 };
	struct file_id_handle a = H(1), b = H(2);
	struct wqueue_item out[16];

	(void)state;
	wqueue_note(&q, &a, NULL, NULL, 0, 3);
	wqueue_note(&q, &b, NULL, NULL, 0, 4);
	assert_int_equal(take(&q, &T, 10, out), 2);
	wqueue_done(&q, 11, true);
	assert_int_equal(q.nqueued, 2);
	assert_int_equal(q.nflight, 0);
	assert_int_equal(wqueue_floor(&q, 99), 3);
	wqueue_fini(&q);
}

static void forgotten_after_reexamine(void **state)
{
	struct wqueue q = { 0 };
	struct file_id_handle a = H(1);
	struct wqueue_item out[16];

	(void)state;
	wqueue_note(&q, &a, NULL, NULL, 0, 1);
	assert_int_equal(take(&q, &T, 5, out), 1);
	wqueue_done(&q, 5, false);
	assert_non_null(q.map);
	assert_true(wqueue_next_due(&q, &T) == 35);
	assert_int_equal(take(&q, &T, 34, out), 0);
	assert_non_null(q.map);
	assert_int_equal(take(&q, &T, 35, out), 0);
	assert_null(q.map);	/* memory follows recent writes only */
	assert_true(isinf(wqueue_next_due(&q, &T)));
	wqueue_fini(&q);
}

static void take_respects_max(void **state)
{
	struct wqueue q = { 0 };
	struct file_id_handle h;
	struct wqueue_item out[16];

	(void)state;
	for (uint8_t i = 0; i < 40; i++) {
		h = H(i);
		wqueue_note(&q, &h, NULL, NULL, 0, i);
	}
	assert_int_equal(q.nqueued, 40);
	assert_int_equal(wqueue_take(&q, &T, 10, out, 16), 16);
	assert_int_equal(q.nqueued, 24);
	wqueue_done(&q, 12, false);
	/* Handles differing only past their length are one file. */
	h = H(200);
	wqueue_note(&q, &h, NULL, NULL, 13, 1);
	assert_int_equal(q.nqueued, 25);
	h.data[25] = 0x77;
	wqueue_note(&q, &h, NULL, NULL, 14, 1);
	assert_int_equal(q.nqueued, 25);
	wqueue_fini(&q);
}

static void the_last_location_is_taken(void **state)
{
	struct wqueue q = { 0 };
	struct file_id_handle a = H(1), b = H(2), d1 = H(7), d2 = H(8);
	struct wqueue_item out[16];

	(void)state;
	wqueue_note(&q, &a, &d1, "first", 0, 1);
	wqueue_note(&q, &a, NULL, NULL, 1, 1);	/* no name: kept */
	wqueue_note(&q, &b, NULL, NULL, 1, 1);
	assert_int_equal(take(&q, &T, 6, out), 2);
	for (int i = 0; i < 2; i++) {
		if (!memcmp(&out[i].h, &a, sizeof(a))) {
			assert_memory_equal(&out[i].dir, &d1, sizeof(d1));
			assert_string_equal(out[i].name, "first");
		} else {
			assert_int_equal(out[i].dir.len, 0);
			assert_null(out[i].name);
		}
		free(out[i].name);
	}
	/* Renamed while in flight: the next take-up has the new place. */
	wqueue_note(&q, &a, &d2, "second", 7, 2);
	wqueue_done(&q, 7, false);
	assert_int_equal(take(&q, &T, 40, out), 1);
	assert_memory_equal(&out[0].dir, &d2, sizeof(d2));
	assert_string_equal(out[0].name, "second");
	free(out[0].name);
	wqueue_done(&q, 40, false);
	wqueue_fini(&q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(writes_coalesce_per_file),
		cmocka_unit_test(min_age_and_reexamine),
		cmocka_unit_test(written_while_in_flight),
		cmocka_unit_test(stopped_round_stays_owed),
		cmocka_unit_test(forgotten_after_reexamine),
		cmocka_unit_test(take_respects_max),
		cmocka_unit_test(the_last_location_is_taken),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
