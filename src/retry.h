/*
 * retry -- when to try a report again, and whether to (SPEC section 3).
 *
 * A pure core: no I/O, no clock, no random source of its own. The caller
 * passes the outcome of an attempt, the wall clock (for an HTTP-date
 * Retry-After) and a random number; retry answers with a verdict and a
 * delay.
 *
 * Which outcomes are retried: a transport failure (no connection, reset,
 * timeout), 408, 429 and every 5xx. Any other 4xx is a rejection: the
 * server read the report and refuses it, so sending it again cannot help.
 * 1xx and 3xx (curl does not follow redirects here) count as failures
 * worth retrying, as they say nothing about the report.
 *
 * The delay after failed attempt n (1-based) is drawn uniformly from
 * [d/2, d] where d = min(retry_max, retry_base * 2^(n-1)), and never
 * below retry_base: "equal jitter", which spreads a fleet of daemons
 * coming back after one outage while keeping the growth. A Retry-After
 * from the server is a floor: the delay is the larger of the two, capped
 * at RETRY_AFTER_MAX so a broken header cannot park a report for days.
 * After max_attempts failures the cycle is over (RETRY_GIVE_UP): the
 * caller keeps the report and starts a new cycle after retry_max.
 */
#ifndef PODPULSE_RETRY_H
#define PODPULSE_RETRY_H

#include <stdint.h>

#define RETRY_AFTER_MAX_NS (3600ull * 1000000000ull)

struct retry_policy {
	uint64_t base_ns;
	uint64_t max_ns;
	unsigned max_attempts;
};

enum retry_class {
	RETRY_CLASS_OK,		/* 2xx: delivered */
	RETRY_CLASS_RETRY,	/* transport error, 408, 429, 5xx, 1xx, 3xx */
	RETRY_CLASS_REJECT	/* any other 4xx */
};

enum retry_verdict {
	RETRY_DONE,		/* delivered */
	RETRY_AGAIN,		/* try again after *delay_ns */
	RETRY_GIVE_UP,		/* cycle over; keep the report */
	RETRY_REJECTED		/* drop it: the server refuses it */
};

/* status 0 means no HTTP answer (a transport error). */
enum retry_class retry_classify(long status);

/* The backoff before attempt n+1 after n failures; rnd is any 64 bits. */
uint64_t retry_backoff(const struct retry_policy *p, unsigned failures,
    uint64_t rnd);

/*
 * Parse a Retry-After value: delta-seconds or an HTTP-date (IMF-fixdate,
 * "Sun, 06 Nov 1994 08:49:37 GMT"). A date in the past is 0. Returns 0
 * with *delay_ns set, or -1 when the value is neither.
 */
int retry_after_parse(const char *value, int64_t now_wall_ms,
    uint64_t *delay_ns);

/*
 * Decide after an attempt. failures counts the failed attempts of this
 * cycle, this one included when it failed (the caller increments it on
 * RETRY_CLASS_RETRY before calling). retry_after_ns is 0 when the answer
 * had no usable Retry-After.
 */
enum retry_verdict retry_decide(const struct retry_policy *p, long status,
    unsigned failures, uint64_t retry_after_ns, uint64_t rnd,
    uint64_t *delay_ns);

#endif
