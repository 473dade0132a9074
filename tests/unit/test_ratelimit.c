/*
 * test_ratelimit -- the token bucket with injected time.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "ratelimit.h"

#define S 1000000000ull
#define T0 (5 * S)

static int
burst(struct ratelimit *rl, uint64_t now, int n)
{
	int ok = 0;

	while (n-- > 0)
		ok += ratelimit_take(rl, now);
	return ok;
}

static void
test_150_in_one_instant(void **state)
{
	struct ratelimit rl;

	ratelimit_init(&rl, 100, 100, T0);
	assert_int_equal(burst(&rl, T0, 150), 100);
	assert_int_equal(ratelimit_take(&rl, T0), 0);
}

static void
test_refill_is_continuous_and_capped(void **state)
{
	struct ratelimit rl;

	ratelimit_init(&rl, 100, 100, T0);
	assert_int_equal(burst(&rl, T0, 100), 100);
	/* 10 ms: one token. 9.99 ms: none. */
	assert_int_equal(burst(&rl, T0 + S / 100 - 1, 5), 0);
	assert_int_equal(burst(&rl, T0 + S / 100, 5), 1);
	/* 150 requests spread evenly over one second: 100 + 100 refilled,
	 * minus what was already spent, so all are accepted after a rest. */
	assert_int_equal(burst(&rl, T0 + 2 * S, 1000), 100);
	/* An hour of silence fills the bucket to burst, no more. */
	assert_int_equal(burst(&rl, T0 + 3600 * S, 1000), 100);
	/* A clock that goes backwards adds nothing. */
	assert_int_equal(burst(&rl, T0, 10), 0);
}

static void
test_rate_over_a_second(void **state)
{
	struct ratelimit rl;
	uint64_t t;
	int ok = 0;

	/* 150 requests evenly over 1 s at 50/s with burst 50: 50 + 50. */
	ratelimit_init(&rl, 50, 50, T0);
	for (t = 0; t < 150; t++)
		ok += ratelimit_take(&rl, T0 + t * S / 150);
	assert_in_range(ok, 99, 100);
}

static void
test_set(void **state)
{
	struct ratelimit rl;

	ratelimit_init(&rl, 100, 100, T0);
	ratelimit_set(&rl, 5, 5, T0);
	assert_int_equal(burst(&rl, T0, 10), 5);
	assert_int_equal(burst(&rl, T0 + S, 10), 5);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_150_in_one_instant),
		cmocka_unit_test(test_refill_is_continuous_and_capped),
		cmocka_unit_test(test_rate_over_a_second),
		cmocka_unit_test(test_set),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
