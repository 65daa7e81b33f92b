/*
 * test_seq.c — modular sequence arithmetic (RFC 9293 section 3.4), with the
 * numbers chosen around the 2^32 wrap where plain comparisons go wrong.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "engine/seq.h"

/* Half of the sequence space: the largest distance that still orders. */
#define SEQ_HALF 0x80000000u
#define SEQ_TOP 0xffffffffu

static void test_lt_across_wrap(void **state)
{
	(void)state;
	assert_true(seq_lt(0xfffffff0u, 0x10));
	assert_false(seq_lt(0x10, 0xfffffff0u));
	assert_true(seq_lt(SEQ_TOP, 0));
	assert_false(seq_lt(0, SEQ_TOP));
	assert_false(seq_lt(5, 5));
	assert_true(seq_lt(1, 2));
}

static void test_leq_gt_geq(void **state)
{
	(void)state;
	assert_true(seq_leq(7, 7));
	assert_true(seq_leq(SEQ_TOP, 0));
	assert_false(seq_leq(0, SEQ_TOP));
	assert_true(seq_gt(0, SEQ_TOP));
	assert_false(seq_gt(SEQ_TOP, 0));
	assert_false(seq_gt(9, 9));
	assert_true(seq_geq(9, 9));
	assert_true(seq_geq(3, 0xfffffffdu));
	assert_false(seq_geq(0xfffffffdu, 3));
}

/* Distances below 2^31 order correctly in both directions; at exactly 2^31
 * the order is undefined (RFC 1982 section 3.2) and both reads say "less". */
static void test_half_space(void **state)
{
	(void)state;
	assert_true(seq_lt(0, SEQ_HALF - 1));
	assert_false(seq_lt(SEQ_HALF - 1, 0));
	assert_true(seq_lt(SEQ_HALF + 1, 0));
	assert_true(seq_lt(0, SEQ_HALF));
	assert_true(seq_lt(SEQ_HALF, 0));
}

static void test_in_window_across_wrap(void **state)
{
	uint32_t lo = 0xfffffff0u, hi = 0x10;

	(void)state;
	assert_true(seq_in(lo, lo, hi));
	assert_true(seq_in(SEQ_TOP, lo, hi));
	assert_true(seq_in(0, lo, hi));
	assert_true(seq_in(hi - 1, lo, hi));
	assert_false(seq_in(hi, lo, hi)); /* hi is excluded */
	assert_false(seq_in(lo - 1, lo, hi));
	assert_false(seq_in(SEQ_HALF, lo, hi));
}

static void test_in_empty_window(void **state)
{
	(void)state;
	/* A zero window accepts nothing through seq_in (RFC 9293 3.10.7.4
	 * treats that case separately). */
	assert_false(seq_in(100, 100, 100));
	assert_false(seq_in(0, 0, 0));
	assert_false(seq_in(SEQ_TOP, SEQ_TOP, SEQ_TOP));
}

static void test_between_inclusive(void **state)
{
	uint32_t lo = 0xfffffffeu, hi = 2;

	(void)state;
	assert_true(seq_between(lo, lo, hi));
	assert_true(seq_between(hi, lo, hi));
	assert_true(seq_between(0, lo, hi));
	assert_false(seq_between(hi + 1, lo, hi));
	assert_false(seq_between(lo - 1, lo, hi));
	assert_true(seq_between(100, 100, 100));
	assert_false(seq_between(101, 100, 100));
}

static void test_max_min(void **state)
{
	(void)state;
	assert_int_equal(seq_max(SEQ_TOP, 1), 1);
	assert_int_equal(seq_max(1, SEQ_TOP), 1);
	assert_int_equal(seq_min(SEQ_TOP, 1), SEQ_TOP);
	assert_int_equal(seq_min(1, SEQ_TOP), SEQ_TOP);
	assert_int_equal(seq_max(40, 41), 41);
	assert_int_equal(seq_min(40, 41), 40);
	assert_int_equal(seq_max(77, 77), 77);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_lt_across_wrap),  cmocka_unit_test(test_leq_gt_geq),
	    cmocka_unit_test(test_half_space),	    cmocka_unit_test(test_in_window_across_wrap),
	    cmocka_unit_test(test_in_empty_window), cmocka_unit_test(test_between_inclusive),
	    cmocka_unit_test(test_max_min),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
