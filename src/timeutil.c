/*
 * timeutil -- RFC 3339 in UTC with milliseconds, and the two clock reads.
 *
 * Conversions between Unix time and the civil calendar are done here with
 * plain integer arithmetic (the proleptic Gregorian days-from-civil and
 * civil-from-days algorithms), not with gmtime_r()/timegm(): glibc's
 * versions take a lock and may read TZ and /etc/localtime on first use,
 * which a pure core must not do, and the same arithmetic in both
 * directions makes format and parse exact inverses. The unit tests check
 * the formatter against gmtime_r() over a wide range.
 *
 * Formatting floors (not truncates) toward negative infinity, so 1969
 * instants print correctly: -1 ms is 1969-12-31T23:59:59.999Z. RFC 3339
 * has four-digit years only, so instants outside years 0000..9999 are
 * clamped to the nearest representable one rather than printing an
 * invalid timestamp.
 *
 * Parsing is strict: "YYYY-MM-DD" 'T' "HH:MM:SS" ['.' digits] ('Z' |
 * '+HH:MM' | '-HH:MM'), with 't', 'z' and a space also accepted for 'T'
 * and 'Z' (RFC 3339 section 5.6 allows that). Every field has exactly its
 * digits, ranges are checked (days per month including leap years), a
 * fraction of any length is truncated to milliseconds, and anything left
 * over is an error. A leap second (":60") is accepted and read as
 * ":59.999" of the same minute: Unix time has no 61st second, and
 * clamping keeps instants in order without spilling into the next minute.
 *
 * The clocks: timeutil_mono_ns() reads CLOCK_MONOTONIC, the clock libuv's
 * uv_hrtime() reads on Linux, so the daemon can mix the two freely.
 */
#include "timeutil.h"

#include <time.h>

#define TIMEUTIL_MS_PER_DAY INT64_C(86400000)
/* 0000-01-01T00:00:00.000Z and 9999-12-31T23:59:59.999Z. */
#define TIMEUTIL_MIN_MS INT64_C(-62167219200000)
#define TIMEUTIL_MAX_MS INT64_C(253402300799999)

struct timeutil_civil {
	int64_t year;
	int month;	/* 1..12 */
	int day;	/* 1..31 */
};

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant). */
static int64_t
timeutil_days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* The inverse of timeutil_days_from_civil(). */
static void
timeutil_civil_from_days(int64_t z, struct timeutil_civil *c)
{
	int64_t era, doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	c->day = (int)(doy - (153 * mp + 2) / 5 + 1);
	c->month = (int)(mp < 10 ? mp + 3 : mp - 9);
	c->year = yoe + era * 400 + (c->month <= 2);
}

static int64_t
timeutil_floor_div(int64_t a, int64_t b)
{
	int64_t q;

	q = a / b;
	if (a % b != 0 && (a < 0) != (b < 0))
		q--;
	return q;
}

/* Write v as exactly width decimal digits followed by sep; returns the end. */
static char *
timeutil_put(char *p, int64_t v, int width, char sep)
{
	int i;

	for (i = width - 1; i >= 0; i--) {
		p[i] = (char)('0' + v % 10);
		v /= 10;
	}
	p[width] = sep;
	return p + width + 1;
}

void
timeutil_rfc3339_format(int64_t unix_ms, char out[TIMEUTIL_RFC3339_LEN])
{
	struct timeutil_civil c;
	int64_t days, ms;
	char *p = out;

	/* The clamp keeps every field in range for its fixed width. */
	if (unix_ms < TIMEUTIL_MIN_MS)
		unix_ms = TIMEUTIL_MIN_MS;
	if (unix_ms > TIMEUTIL_MAX_MS)
		unix_ms = TIMEUTIL_MAX_MS;
	days = timeutil_floor_div(unix_ms, TIMEUTIL_MS_PER_DAY);
	ms = unix_ms - days * TIMEUTIL_MS_PER_DAY;
	timeutil_civil_from_days(days, &c);

	p = timeutil_put(p, c.year, 4, '-');
	p = timeutil_put(p, c.month, 2, '-');
	p = timeutil_put(p, c.day, 2, 'T');
	p = timeutil_put(p, ms / 3600000, 2, ':');
	p = timeutil_put(p, ms / 60000 % 60, 2, ':');
	p = timeutil_put(p, ms / 1000 % 60, 2, '.');
	p = timeutil_put(p, ms % 1000, 3, 'Z');
	*p = '\0';
}

static int
timeutil_is_leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int
timeutil_days_in_month(int64_t y, int m)
{
	static const int days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31,
		30, 31 };

	if (m == 2 && timeutil_is_leap(y))
		return 29;
	return days[m - 1];
}

/* Read exactly n decimal digits at *sp. Returns the value, or -1. */
static int
timeutil_digits(const char **sp, int n)
{
	const char *s = *sp;
	int i, v = 0;

	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*sp = s + n;
	return v;
}

/* Read the separator c at *sp. Returns 0, or -1. */
static int
timeutil_expect(const char **sp, char c)
{
	if (**sp != c)
		return -1;
	(*sp)++;
	return 0;
}

/* Read an optional fraction; returns its milliseconds (truncated) or -1. */
static int
timeutil_fraction(const char **sp)
{
	const char *s = *sp;
	int ms = 0, n = 0;

	if (*s != '.')
		return 0;
	s++;
	while (*s >= '0' && *s <= '9') {
		if (n < 3)
			ms = ms * 10 + (*s - '0');
		n++;
		s++;
	}
	if (n == 0)
		return -1;
	for (; n < 3; n++)
		ms *= 10;
	*sp = s;
	return ms;
}

/* Read 'Z' or "+HH:MM"/"-HH:MM". Returns 0 and the offset in ms, or -1. */
static int
timeutil_offset(const char **sp, int64_t *offset_ms)
{
	const char *s = *sp;
	int sign, h, m;

	if (*s == 'Z' || *s == 'z') {
		*offset_ms = 0;
		*sp = s + 1;
		return 0;
	}
	if (*s != '+' && *s != '-')
		return -1;
	sign = *s++ == '-' ? -1 : 1;
	if ((h = timeutil_digits(&s, 2)) < 0 || h > 23 ||
	    timeutil_expect(&s, ':') != 0 ||
	    (m = timeutil_digits(&s, 2)) < 0 || m > 59)
		return -1;
	*offset_ms = sign * ((int64_t)h * 60 + m) * 60000;
	*sp = s;
	return 0;
}

int
timeutil_rfc3339_parse(const char *s, int64_t *unix_ms)
{
	int y, mo, d, h, mi, sec, ms;
	int64_t offset_ms, t;

	if (s == NULL)
		return -1;
	if ((y = timeutil_digits(&s, 4)) < 0 || timeutil_expect(&s, '-') ||
	    (mo = timeutil_digits(&s, 2)) < 1 || mo > 12 ||
	    timeutil_expect(&s, '-') ||
	    (d = timeutil_digits(&s, 2)) < 1 ||
	    d > timeutil_days_in_month(y, mo))
		return -1;
	if (*s != 'T' && *s != 't' && *s != ' ')
		return -1;
	s++;
	if ((h = timeutil_digits(&s, 2)) < 0 || h > 23 ||
	    timeutil_expect(&s, ':') ||
	    (mi = timeutil_digits(&s, 2)) < 0 || mi > 59 ||
	    timeutil_expect(&s, ':') ||
	    (sec = timeutil_digits(&s, 2)) < 0 || sec > 60)
		return -1;
	if ((ms = timeutil_fraction(&s)) < 0 ||
	    timeutil_offset(&s, &offset_ms) != 0 || *s != '\0')
		return -1;

	if (sec == 60) {
		sec = 59;
		ms = 999;
	}
	t = timeutil_days_from_civil(y, mo, d) * TIMEUTIL_MS_PER_DAY;
	t += (((int64_t)h * 60 + mi) * 60 + sec) * 1000 + ms;
	*unix_ms = t - offset_ms;
	return 0;
}

int64_t
timeutil_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t
timeutil_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
