/*
 * test_retry -- the retry core: which answers are retried, the backoff
 * schedule and its jitter, Retry-After in both forms, and the give-up
 * point of a cycle.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>

#include "retry.h"

#define MS 1000000ull
#define S 1000000000ull

static const struct retry_policy policy = { 250 * MS, 30 * S, 8 };

/* A small deterministic generator, so jitter is tested over many draws. */
static uint64_t
xorshift(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

static void
test_classify(void **state)
{
	static const long ok[] = { 200, 201, 202, 204, 299 };
	static const long retry[] = { 0, 100, 301, 304, 408, 429, 500, 502,
		503, 504, 599 };
	static const long reject[] = { 400, 401, 403, 404, 409, 410, 413,
		422, 499 };
	size_t i;

	for (i = 0; i < sizeof ok / sizeof ok[0]; i++)
		assert_int_equal(retry_classify(ok[i]), RETRY_CLASS_OK);
	for (i = 0; i < sizeof retry / sizeof retry[0]; i++)
		if (retry_classify(retry[i]) != RETRY_CLASS_RETRY)
			fail_msg("status %ld: expected retry", retry[i]);
	for (i = 0; i < sizeof reject / sizeof reject[0]; i++)
		if (retry_classify(reject[i]) != RETRY_CLASS_REJECT)
			fail_msg("status %ld: expected reject", reject[i]);
}

/* The delay after n failures lies in [max(base, d/2), d]. */
static void
test_backoff_bounds(void **state)
{
	uint64_t x = 88172645463325252ull, d, want_hi, want_lo, got;
	unsigned n;
	int i;

	for (n = 1; n <= 20; n++) {
		want_hi = policy.base_ns;
		for (i = 1; i < (int)n && want_hi < policy.max_ns; i++)
			want_hi *= 2;
		if (want_hi > policy.max_ns)
			want_hi = policy.max_ns;
		want_lo = want_hi / 2 < policy.base_ns ? policy.base_ns :
		    want_hi / 2;
		for (i = 0; i < 1000; i++) {
			got = retry_backoff(&policy, n, xorshift(&x));
			if (got < want_lo || got > want_hi)
				fail_msg("failures %u: delay %llu outside "
				    "[%llu, %llu]", n, (unsigned long long)got,
				    (unsigned long long)want_lo,
				    (unsigned long long)want_hi);
		}
	}
	/* The extremes of the random source reach the extremes. */
	assert_int_equal(retry_backoff(&policy, 1, 0), 250 * MS);
	assert_int_equal(retry_backoff(&policy, 3, 0), 500 * MS);
	assert_int_equal(retry_backoff(&policy, 3, 500 * MS), 1000 * MS);
	assert_int_equal(retry_backoff(&policy, 30, 0), 15 * S);
	d = retry_backoff(&policy, 1000000, UINT64_MAX);
	assert_true(d >= 15 * S && d <= 30 * S);
}

/* Jitter really spreads: draws cover both halves of the range. */
static void
test_jitter_spreads(void **state)
{
	uint64_t x = 42, got, lo = UINT64_MAX, hi = 0;
	int i;

	for (i = 0; i < 2000; i++) {
		got = retry_backoff(&policy, 4, xorshift(&x));
		lo = got < lo ? got : lo;
		hi = got > hi ? got : hi;
	}
	/* d = 2s: the range is [1s, 2s]. */
	assert_true(lo < 1100 * MS);
	assert_true(hi > 1900 * MS);
}

static void
test_retry_after_seconds(void **state)
{
	uint64_t d = 1;

	assert_int_equal(retry_after_parse("120", 0, &d), 0);
	assert_int_equal(d, 120 * S);
	assert_int_equal(retry_after_parse(" 0 ", 0, &d), 0);
	assert_int_equal(d, 0);
	assert_int_equal(retry_after_parse("99999999999", 0, &d), 0);
	assert_int_equal(d, RETRY_AFTER_MAX_NS);
	assert_int_equal(retry_after_parse("-1", 0, &d), -1);
	assert_int_equal(retry_after_parse("1.5", 0, &d), -1);
	assert_int_equal(retry_after_parse("", 0, &d), -1);
	assert_int_equal(retry_after_parse("soon", 0, &d), -1);
}

static void
test_retry_after_date(void **state)
{
	/* Sun, 06 Nov 1994 08:49:37 GMT is 784111777. */
	const int64_t t = 784111777ll * 1000;
	uint64_t d = 1;

	assert_int_equal(retry_after_parse("Sun, 06 Nov 1994 08:49:37 GMT",
	    t - 5000, &d), 0);
	assert_int_equal(d, 5 * S);
	assert_int_equal(retry_after_parse("Sun, 06 Nov 1994 08:49:37 GMT",
	    t - 1500, &d), 0);
	assert_int_equal(d, 1500 * MS);
	/* In the past: now. */
	assert_int_equal(retry_after_parse("Sun, 06 Nov 1994 08:49:37 GMT",
	    t + 1000, &d), 0);
	assert_int_equal(d, 0);
	/* Far future: capped. */
	assert_int_equal(retry_after_parse("Fri, 01 Jan 2100 00:00:00 GMT",
	    t, &d), 0);
	assert_int_equal(d, RETRY_AFTER_MAX_NS);
	assert_int_equal(retry_after_parse("Sun, 06 Xyz 1994 08:49:37 GMT",
	    t, &d), -1);
	assert_int_equal(retry_after_parse("Sun, 06 Nov 1994 08:49:37 UTC",
	    t, &d), -1);
	assert_int_equal(retry_after_parse("Sun, 06 Nov 1994 25:49:37 GMT",
	    t, &d), -1);
	assert_int_equal(retry_after_parse("Sunday, 06-Nov-94 08:49:37 GMT",
	    t, &d), -1);
}

static void
test_decide(void **state)
{
	uint64_t d;

	assert_int_equal(retry_decide(&policy, 200, 0, 0, 0, &d), RETRY_DONE);
	assert_int_equal(d, 0);
	assert_int_equal(retry_decide(&policy, 400, 0, 0, 0, &d),
	    RETRY_REJECTED);
	assert_int_equal(retry_decide(&policy, 503, 1, 0, 0, &d), RETRY_AGAIN);
	assert_int_equal(d, 250 * MS);
	/* Retry-After longer than the backoff wins ... */
	assert_int_equal(retry_decide(&policy, 429, 1, 7 * S, 0, &d),
	    RETRY_AGAIN);
	assert_int_equal(d, 7 * S);
	/* ... a shorter one does not shorten it. */
	assert_int_equal(retry_decide(&policy, 429, 3, 1 * MS, 0, &d),
	    RETRY_AGAIN);
	assert_int_equal(d, 500 * MS);
	/* Connection errors (no status) are retried. */
	assert_int_equal(retry_decide(&policy, 0, 2, 0, 0, &d), RETRY_AGAIN);
}

/* Attempts 1..7 fail and retry; the 8th failure ends the cycle. */
static void
test_give_up_point(void **state)
{
	unsigned failures;
	uint64_t d;

	for (failures = 1; failures < policy.max_attempts; failures++)
		if (retry_decide(&policy, 503, failures, 0, 0, &d) !=
		    RETRY_AGAIN)
			fail_msg("gave up after %u failures, expected 8",
			    failures);
	assert_int_equal(retry_decide(&policy, 503, 8, 0, 0, &d),
	    RETRY_GIVE_UP);
	assert_int_equal(d, policy.max_ns);
	assert_int_equal(retry_decide(&policy, 0, 9, 0, 0, &d),
	    RETRY_GIVE_UP);
	/* A rejection is never a give-up, whatever the count. */
	assert_int_equal(retry_decide(&policy, 404, 8, 0, 0, &d),
	    RETRY_REJECTED);
}

static void
test_small_policy(void **state)
{
	const struct retry_policy p = { 5 * MS, 5 * MS, 1 };
	uint64_t d;

	assert_int_equal(retry_backoff(&p, 1, 12345), 5 * MS);
	assert_int_equal(retry_backoff(&p, 50, 12345), 5 * MS);
	assert_int_equal(retry_decide(&p, 500, 1, 0, 0, &d), RETRY_GIVE_UP);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_classify),
		cmocka_unit_test(test_backoff_bounds),
		cmocka_unit_test(test_jitter_spreads),
		cmocka_unit_test(test_retry_after_seconds),
		cmocka_unit_test(test_retry_after_date),
		cmocka_unit_test(test_decide),
		cmocka_unit_test(test_give_up_point),
		cmocka_unit_test(test_small_policy),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
