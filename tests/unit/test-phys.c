// SPDX-License-Identifier: GPL-2.0-or-later
/* Unit tests for the pass's physical-extent map (daemon/engine/engine.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "daemon/engine/engine.h"
#include "daemon/engine/phys.h"

#define BS 4096u
#define MB (1ULL << 20)

static int setup(void **state)
{
	static struct engine e;

	memset(&e, 0, sizeof(e));
	e.fs.block_size = BS;
	engine_init(&e, -1);
	*state = &e;
	return 0;
}

static int teardown(void **state)
{
	struct engine *e = *state;

	e->mount_fd = -1;
	engine_fini(e);
	return 0;
}

static void first_claim_gets_all_second_nothing(void **state)
{
	struct engine *e = *state;
	struct byte_range p[8];

	assert_int_equal(phys_seen_claim(e, 100 * MB, 8 * MB, p, 8), 1);
	assert_int_equal(p[0].off, 0);
	assert_int_equal(p[0].len, 8 * MB);
	assert_int_equal(phys_seen_claim(e, 100 * MB, 8 * MB, p, 8), 0);
	/* a piece inside it: nothing either */
	assert_int_equal(phys_seen_claim(e, 102 * MB, 1 * MB, p, 8), 0);
}

static void pieces_then_whole_gets_the_gap(void **state)
{
	struct engine *e = *state;
	struct byte_range p[8];

	/* a file overwrote 1 MiB in the middle: it refers to two pieces */
	assert_int_equal(phys_seen_claim(e, 200 * MB, 3 * MB, p, 8), 1);
	assert_int_equal(phys_seen_claim(e, 204 * MB, 4 * MB, p, 8), 1);
	/* the snapshot refers to all 8 MiB: only the gap is new */
	assert_int_equal(phys_seen_claim(e, 200 * MB, 8 * MB, p, 8), 1);
	assert_int_equal(p[0].off, 3 * MB);
	assert_int_equal(p[0].len, 1 * MB);
}

static void eof_clipped_lengths_stay_aligned(void **state)
{
	struct engine *e = *state;
	struct byte_range p[8];

	/* a 5000-byte file's extent is two blocks on disk */
	assert_int_equal(phys_seen_claim(e, 300 * MB, 5000, p, 8), 1);
	assert_int_equal(p[0].len, 5000);
	/* a longer file sharing those two blocks and one more */
	assert_int_equal(phys_seen_claim(e, 300 * MB, 3 * BS, p, 8), 1);
	assert_int_equal(p[0].off, 2 * BS);
	assert_int_equal(p[0].len, BS);
}

static void many_pending_ranges_merge(void **state)
{
	struct engine *e = *state;
	struct byte_range p[8];
	uint64_t i;

	/* more than the pending buffer holds, every other block */
	for (i = 0; i < 2000; i++)
		assert_int_equal(phys_seen_claim(e, 400 * MB + 2 * i * BS, BS,
						 p, 8), 1);
	for (i = 0; i < 2000; i++)
		assert_int_equal(phys_seen_claim(e, 400 * MB + 2 * i * BS, BS,
						 p, 8), 0);
	/* a range over three of them has two gaps */
	assert_int_equal(phys_seen_claim(e, 400 * MB, 5 * BS, p, 8), 2);
	assert_int_equal(p[0].off, BS);
	assert_int_equal(p[1].off, 3 * BS);
}

static void too_many_pieces_claims_whole(void **state)
{
	struct engine *e = *state;
	struct byte_range p[2];

	for (uint64_t i = 0; i < 8; i++)
		(void)phys_seen_claim(e, 600 * MB + 2 * i * BS, BS, p, 2);
	/* 8 holes do not fit in 2 pieces: hash all of it */
	assert_int_equal(phys_seen_claim(e, 600 * MB, 16 * BS, p, 2), 1);
	assert_int_equal(p[0].off, 0);
	assert_int_equal(p[0].len, 16 * BS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(first_claim_gets_all_second_nothing),
		cmocka_unit_test(pieces_then_whole_gets_the_gap),
		cmocka_unit_test(eof_clipped_lengths_stay_aligned),
		cmocka_unit_test(many_pending_ranges_merge),
		cmocka_unit_test(too_many_pieces_claims_whole),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
