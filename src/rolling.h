/*
 * rolling -- the rolling 5-minute figures: the fraction of time at the
 * configured maximum concurrency, and the mean pending count (SPEC 5).
 *
 * A pure core with injected time. The shell calls rolling_sample() about
 * every ROLLING_PERIOD_NS with the current level and pending count; the
 * core keeps the last ROLLING_SAMPLES slots (600 x 500 ms = 5 min), one per
 * period since the origin. A late call fills every slot it skipped with
 * the values it is given (the values at the late sample: the shell samples
 * on its timer only, never per command, so a loop stalled for longer than
 * a period blurs those slots), and a slot already filled is overwritten, so
 * the window is always the last 5 minutes of slots whatever the timer does.
 * Before 5 minutes have passed, the figures cover the slots filled so far.
 */
#ifndef PODPULSE_ROLLING_H
#define PODPULSE_ROLLING_H

#include <stdint.h>

#define ROLLING_SAMPLES 600
#define ROLLING_PERIOD_NS 500000000ull

struct rolling {
	uint64_t origin_ns;
	uint64_t next_slot; /* index of the next slot to fill */
	uint32_t pending[ROLLING_SAMPLES];
	uint8_t full[ROLLING_SAMPLES];
	uint64_t sum_pending; /* over the filled slots */
	uint32_t sum_full;
	uint32_t filled;
};

void rolling_init(struct rolling *r, uint64_t now_ns);

/* at_max: level >= the configured maximum (0 when none is configured). */
void rolling_sample(struct rolling *r, uint64_t now_ns, uint32_t pending,
    int at_max);

double rolling_full_fraction(const struct rolling *r);
double rolling_mean_pending(const struct rolling *r);

#endif
