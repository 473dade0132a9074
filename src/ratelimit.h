/*
 * ratelimit -- a token bucket with injected time (the download-metrics
 * intake's http.download_metrics_rps, SPEC 6).
 *
 * The bucket holds at most `burst` tokens and gains `rate` tokens per
 * second, continuously; a request takes one token or is refused. Tokens
 * are counted in nano-tokens (tokens x 1e9), so refilling is exact integer
 * arithmetic: rate x elapsed_ns nano-tokens.
 */
#ifndef PODPULSE_RATELIMIT_H
#define PODPULSE_RATELIMIT_H

#include <stdint.h>

struct ratelimit {
	uint64_t rate;	     /* tokens per second */
	uint64_t burst;	     /* tokens */
	uint64_t nanotokens; /* tokens x 1e9 */
	uint64_t last_ns;
};

/* Starts full. */
void ratelimit_init(struct ratelimit *rl, uint64_t rate, uint64_t burst,
    uint64_t now_ns);

/* Change the rate and burst (reload), keeping the tokens up to burst. */
void ratelimit_set(struct ratelimit *rl, uint64_t rate, uint64_t burst,
    uint64_t now_ns);

/* Take a token: 1 when allowed, 0 when refused. */
int ratelimit_take(struct ratelimit *rl, uint64_t now_ns);

#endif
