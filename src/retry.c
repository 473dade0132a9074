/*
 * retry -- when to try a report again; see retry.h.
 */
#include "retry.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum retry_class
retry_classify(long status)
{
	if (status >= 200 && status <= 299)
		return RETRY_CLASS_OK;
	if (status == 408 || status == 429)
		return RETRY_CLASS_RETRY;
	if (status >= 400 && status <= 499)
		return RETRY_CLASS_REJECT;
	return RETRY_CLASS_RETRY;
}

uint64_t
retry_backoff(const struct retry_policy *p, unsigned failures, uint64_t rnd)
{
	uint64_t d = p->base_ns, lo, span;
	unsigned i;

	for (i = 1; i < failures && d < p->max_ns; i++)
		d = d > p->max_ns / 2 ? p->max_ns : d * 2;
	if (d > p->max_ns)
		d = p->max_ns;
	lo = d / 2 < p->base_ns ? p->base_ns : d / 2;
	if (lo >= d)
		return d;
	span = d - lo + 1;
	return lo + rnd % span;
}

static const char *const retry_months[12] = { "Jan", "Feb", "Mar", "Apr",
	"May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };

/* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" -> Unix seconds. */
static int
retry_http_date(const char *s, int64_t *unix_s)
{
	char wday[4], mon[4], zone[4];
	int day, year, hh, mm, ss, n = 0, m;
	struct tm tm;

	if (sscanf(s, "%3s %d %3s %d %d:%d:%d %3s%n", wday, &day, mon, &year,
	    &hh, &mm, &ss, zone, &n) != 8 || s[n] != '\0')
		return -1;
	if (strlen(wday) != 3 || strcmp(zone, "GMT") != 0)
		return -1;
	for (m = 0; m < 12 && strcmp(mon, retry_months[m]) != 0; m++)
		;
	if (m == 12 || day < 1 || day > 31 || year < 1970 || hh > 23 ||
	    mm > 59 || ss > 60 || hh < 0 || mm < 0 || ss < 0)
		return -1;
	memset(&tm, 0, sizeof tm);
	tm.tm_year = year - 1900;
	tm.tm_mon = m;
	tm.tm_mday = day;
	tm.tm_hour = hh;
	tm.tm_min = mm;
	tm.tm_sec = ss;
	*unix_s = (int64_t)timegm(&tm);
	return 0;
}

int
retry_after_parse(const char *value, int64_t now_wall_ms, uint64_t *delay_ns)
{
	const char *p;
	char *end;
	unsigned long long secs;
	int64_t when_s, diff_ms;
	char date[64];

	while (*value == ' ' || *value == '\t')
		value++;
	snprintf(date, sizeof date, "%s", value);
	for (end = date + strlen(date); end > date && isspace((unsigned char)
	    end[-1]); end--)
		end[-1] = '\0';
	if (isdigit((unsigned char)date[0])) {
		for (p = date; isdigit((unsigned char)*p); p++)
			;
		if (*p != '\0')
			return -1;
		secs = strtoull(date, &end, 10);
		if (secs > RETRY_AFTER_MAX_NS / 1000000000ull)
			secs = RETRY_AFTER_MAX_NS / 1000000000ull;
		*delay_ns = (uint64_t)secs * 1000000000ull;
		return 0;
	}
	/* Skip "Sun," so sscanf sees "Sun 06 Nov ...". */
	if (strlen(date) < 5 || date[3] != ',')
		return -1;
	date[3] = ' ';
	if (retry_http_date(date, &when_s) != 0)
		return -1;
	diff_ms = when_s * 1000 - now_wall_ms;
	if (diff_ms <= 0)
		*delay_ns = 0;
	else if ((uint64_t)diff_ms >= RETRY_AFTER_MAX_NS / 1000000ull)
		*delay_ns = RETRY_AFTER_MAX_NS;
	else
		*delay_ns = (uint64_t)diff_ms * 1000000ull;
	return 0;
}

enum retry_verdict
retry_decide(const struct retry_policy *p, long status, unsigned failures,
    uint64_t retry_after_ns, uint64_t rnd, uint64_t *delay_ns)
{
	uint64_t d;

	*delay_ns = 0;
	switch (retry_classify(status)) {
	case RETRY_CLASS_OK:
		return RETRY_DONE;
	case RETRY_CLASS_REJECT:
		return RETRY_REJECTED;
	default:
		break;
	}
	if (retry_after_ns > RETRY_AFTER_MAX_NS)
		retry_after_ns = RETRY_AFTER_MAX_NS;
	if (failures >= p->max_attempts) {
		*delay_ns = retry_after_ns > p->max_ns ? retry_after_ns :
		    p->max_ns;
		return RETRY_GIVE_UP;
	}
	d = retry_backoff(p, failures, rnd);
	*delay_ns = retry_after_ns > d ? retry_after_ns : d;
	return RETRY_AGAIN;
}
