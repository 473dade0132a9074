/*
 * rolling -- the 600-slot ring behind the 5-minute figures; see rolling.h.
 *
 * Sums are kept incrementally (subtract the slot's old value, add the
 * new), so a sample and a scrape are O(1); a stall longer than the window
 * writes at most ROLLING_SAMPLES slots.
 */
#include "rolling.h"

#include <string.h>

void
rolling_init(struct rolling *r, uint64_t now_ns)
{
	memset(r, 0, sizeof(*r));
	r->origin_ns = now_ns;
}

static void
rolling_put(struct rolling *r, uint64_t slot, uint32_t pending, int full)
{
	size_t i = (size_t)(slot % ROLLING_SAMPLES);

	if (slot >= ROLLING_SAMPLES || r->filled > i) {
		r->sum_pending -= r->pending[i];
		r->sum_full -= r->full[i];
	}
	r->pending[i] = pending;
	r->full[i] = full ? 1 : 0;
	r->sum_pending += pending;
	r->sum_full += r->full[i];
	if (r->filled < ROLLING_SAMPLES && slot >= r->filled)
		r->filled = (uint32_t)(slot + 1 < ROLLING_SAMPLES
			? slot + 1
			: ROLLING_SAMPLES);
}

void
rolling_sample(struct rolling *r, uint64_t now_ns, uint32_t pending, int at_max)
{
	uint64_t slot, from;

	if (now_ns < r->origin_ns)
		now_ns = r->origin_ns;
	slot = (now_ns - r->origin_ns) / ROLLING_PERIOD_NS;
	if (slot < r->next_slot) {
		/* Same slot again: the latest values win. */
		rolling_put(r, slot, pending, at_max);
		return;
	}
	from = r->next_slot;
	if (slot - from >= ROLLING_SAMPLES)
		from = slot - ROLLING_SAMPLES + 1;
	for (; from <= slot; from++)
		rolling_put(r, from, pending, at_max);
	r->next_slot = slot + 1;
}

double
rolling_full_fraction(const struct rolling *r)
{
	return r->filled == 0 ? 0 : (double)r->sum_full / r->filled;
}

double
rolling_mean_pending(const struct rolling *r)
{
	return r->filled == 0 ? 0 : (double)r->sum_pending / r->filled;
}
