/*
 * test_rolling -- the 5-minute window with injected time: filling,
 * wrapping, late timers, stalls longer than the window.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "rolling.h"

#define P ROLLING_PERIOD_NS
#define T0 1000000007ull

static void
test_empty(void **state)
{
	struct rolling r;

	rolling_init(&r, T0);
	assert_true(rolling_full_fraction(&r) == 0);
	assert_true(rolling_mean_pending(&r) == 0);
}

static void
test_partial_window(void **state)
{
	struct rolling r;
	uint64_t i;

	rolling_init(&r, T0);
	/* 10 samples: 4 at max, pending 0..9. */
	for (i = 0; i < 10; i++)
		rolling_sample(&r, T0 + i * P + 1000, (uint32_t)i, i < 4);
	assert_int_equal(r.filled, 10);
	assert_true(rolling_full_fraction(&r) == 0.4);
	assert_true(rolling_mean_pending(&r) == 4.5);
	/* A second sample in the same slot replaces it. */
	rolling_sample(&r, T0 + 9 * P + 2000, 19, 1);
	assert_int_equal(r.filled, 10);
	assert_true(rolling_full_fraction(&r) == 0.5);
	assert_true(rolling_mean_pending(&r) == 5.5);
}

static void
test_wraps_to_last_five_minutes(void **state)
{
	struct rolling r;
	uint64_t i;

	rolling_init(&r, T0);
	/* 5 minutes full with pending 10, then 2.5 minutes idle. */
	for (i = 0; i < ROLLING_SAMPLES; i++)
		rolling_sample(&r, T0 + i * P, 10, 1);
	assert_true(rolling_full_fraction(&r) == 1.0);
	for (i = ROLLING_SAMPLES; i < ROLLING_SAMPLES * 3 / 2; i++)
		rolling_sample(&r, T0 + i * P, 0, 0);
	assert_int_equal(r.filled, ROLLING_SAMPLES);
	assert_true(rolling_full_fraction(&r) == 0.5);
	assert_true(rolling_mean_pending(&r) == 5.0);
}

static void
test_late_timer_fills_skipped_slots(void **state)
{
	struct rolling r;

	rolling_init(&r, T0);
	rolling_sample(&r, T0, 2, 0);
	/* The timer fires 10 periods late: slots 1..10 take these values. */
	rolling_sample(&r, T0 + 10 * P, 4, 1);
	assert_int_equal(r.filled, 11);
	assert_true(rolling_mean_pending(&r) == (2.0 + 40.0) / 11);
	assert_true(rolling_full_fraction(&r) == 10.0 / 11);
}

static void
test_stall_longer_than_window(void **state)
{
	struct rolling r;
	uint64_t i;

	rolling_init(&r, T0);
	for (i = 0; i < 50; i++)
		rolling_sample(&r, T0 + i * P, 100, 1);
	rolling_sample(&r, T0 + 5000 * P, 1, 0);
	assert_int_equal(r.filled, ROLLING_SAMPLES);
	assert_true(rolling_mean_pending(&r) == 1.0);
	assert_true(rolling_full_fraction(&r) == 0.0);
	/* A time before the origin counts as the origin's slot. */
	rolling_init(&r, T0);
	rolling_sample(&r, 5, 3, 1);
	assert_true(rolling_mean_pending(&r) == 3.0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_partial_window),
		cmocka_unit_test(test_wraps_to_last_five_minutes),
		cmocka_unit_test(test_late_timer_fills_skipped_slots),
		cmocka_unit_test(test_stall_longer_than_window),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
