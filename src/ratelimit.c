/*
 * ratelimit -- token bucket; see ratelimit.h.
 */
#include "ratelimit.h"

#define RATELIMIT_NANO 1000000000ull

static void
ratelimit_refill(struct ratelimit *rl, uint64_t now_ns)
{
	uint64_t cap = rl->burst * RATELIMIT_NANO, dt, add;

	if (now_ns <= rl->last_ns)
		return;
	dt = now_ns - rl->last_ns;
	rl->last_ns = now_ns;
	/* Guard the product: a long pause simply fills the bucket. */
	if (rl->rate != 0 && dt > cap / rl->rate) {
		rl->nanotokens = cap;
		return;
	}
	add = rl->rate * dt;
	rl->nanotokens = rl->nanotokens + add > cap ? cap
						    : rl->nanotokens + add;
}

void
ratelimit_init(struct ratelimit *rl, uint64_t rate, uint64_t burst,
    uint64_t now_ns)
{
	rl->rate = rate;
	rl->burst = burst;
	rl->nanotokens = burst * RATELIMIT_NANO;
	rl->last_ns = now_ns;
}

void
ratelimit_set(struct ratelimit *rl, uint64_t rate, uint64_t burst,
    uint64_t now_ns)
{
	ratelimit_refill(rl, now_ns);
	rl->rate = rate;
	rl->burst = burst;
	if (rl->nanotokens > burst * RATELIMIT_NANO)
		rl->nanotokens = burst * RATELIMIT_NANO;
}

int
ratelimit_take(struct ratelimit *rl, uint64_t now_ns)
{
	ratelimit_refill(rl, now_ns);
	if (rl->nanotokens < RATELIMIT_NANO)
		return 0;
	rl->nanotokens -= RATELIMIT_NANO;
	return 1;
}
