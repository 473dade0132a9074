/*
 * timeutil -- RFC 3339 timestamps in UTC with milliseconds, and the
 * clocks the shells read.
 *
 * Formatting and parsing are pure; timeutil_wall_ms() and
 * timeutil_mono_ns() are the only two clock reads in podpulse, so every
 * core receives time as an argument.
 */
#ifndef PODPULSE_TIMEUTIL_H
#define PODPULSE_TIMEUTIL_H

#include <stddef.h>
#include <stdint.h>

/* "2026-11-22T19:08:14.123Z" plus NUL. */
#define TIMEUTIL_RFC3339_LEN 32

/* Format Unix ms as RFC 3339 UTC with milliseconds. */
void timeutil_rfc3339_format(int64_t unix_ms, char out[TIMEUTIL_RFC3339_LEN]);

/*
 * Parse RFC 3339 ("2026-11-22T19:08:14Z", "...14.5+01:00", 't'/'z' and a
 * space for 'T' accepted) into Unix ms. Returns 0, or -1 when malformed.
 */
int timeutil_rfc3339_parse(const char *s, int64_t *unix_ms);

int64_t timeutil_wall_ms(void);
uint64_t timeutil_mono_ns(void);

#endif
