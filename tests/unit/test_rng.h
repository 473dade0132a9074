/*
 * test_rng -- the one pseudo-random generator of the unit tests.
 *
 * splitmix64: tiny, fast, and the same sequence on every machine, so a
 * randomized test that fails fails again with the same seed.
 */
#ifndef PODPULSE_TEST_RNG_H
#define PODPULSE_TEST_RNG_H

#include <stdint.h>

static inline uint64_t
test_rng_next(uint64_t *state)
{
	uint64_t z;

	z = (*state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Uniform enough in [0, n); 0 when n is 0. */
static inline uint64_t
test_rng_below(uint64_t *state, uint64_t n)
{
	return n == 0 ? 0 : test_rng_next(state) % n;
}

#endif
