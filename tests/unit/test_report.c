/*
 * test_report -- the report bodies (SPEC 3), the rounding that keeps
 * boot + idle + active == metric_duration exact, the wall-clock anchor
 * that keeps interval bounds contiguous, the UTF-8-safe setup-log tail,
 * and the RFC 3339 formatter and parser of timeutil they rely on.
 *
 * Every body is printed and parsed back (cJSON_PrintUnformatted, then
 * cJSON_Parse), so what is checked is what a receiver would see.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <time.h>

#include <cmocka.h>

#include "test_rng.h"
#include "monitor.h"
#include "report.h"
#include "status.h"
#include "timeutil.h"
#include "xmalloc.h"

#define NS_PER_MS UINT64_C(1000000)
#define NS_PER_S UINT64_C(1000000000)

/* ---------------------------------------------------------------------
 * JSON helpers: each asserts presence and type, and says which field.
 */

/* Print, parse back, and free the original. */
static cJSON *
json_reparse(cJSON *doc)
{
	char *text;
	cJSON *back;

	assert_non_null(doc);
	text = cJSON_PrintUnformatted(doc);
	assert_non_null(text);
	back = cJSON_Parse(text);
	if (back == NULL)
		fail_msg("body does not parse back: %s", text);
	cJSON_free(text);
	cJSON_Delete(doc);
	return back;
}

static const cJSON *
json_field(const cJSON *obj, const char *name)
{
	const cJSON *v;

	v = cJSON_GetObjectItemCaseSensitive(obj, name);
	if (v == NULL)
		fail_msg("field \"%s\" missing", name);
	return v;
}

static double
json_number(const cJSON *obj, const char *name)
{
	const cJSON *v = json_field(obj, name);

	if (!cJSON_IsNumber(v))
		fail_msg("field \"%s\": expected a number", name);
	return v->valuedouble;
}

static void
json_check_int(const cJSON *obj, const char *name, double expected)
{
	double got = json_number(obj, name);

	if (got != floor(got))
		fail_msg("field \"%s\": expected an integer, got %.17g", name,
		    got);
	if (got != expected)
		fail_msg("field \"%s\": expected %.17g, got %.17g", name,
		    expected, got);
}

/* A seconds value with ms precision, compared in whole ms. */
static void
json_check_ms(const cJSON *obj, const char *name, int64_t expected_ms)
{
	double got = json_number(obj, name);
	int64_t got_ms = (int64_t)llround(got * 1000.0);

	if (got_ms != expected_ms || fabs(got * 1000.0 - (double)got_ms) > 1e-6)
		fail_msg("field \"%s\": expected %lld ms, got %.17g s", name,
		    (long long)expected_ms, got);
}

static void
json_check_double(const cJSON *obj, const char *name, double expected)
{
	double got = json_number(obj, name);

	if (fabs(got - expected) > 1e-12 * (fabs(expected) + 1))
		fail_msg("field \"%s\": expected %.17g, got %.17g", name,
		    expected, got);
}

static const char *
json_string(const cJSON *obj, const char *name)
{
	const cJSON *v = json_field(obj, name);

	if (!cJSON_IsString(v))
		fail_msg("field \"%s\": expected a string", name);
	return v->valuestring;
}

static void
json_check_string(const cJSON *obj, const char *name, const char *expected)
{
	const char *got = json_string(obj, name);

	if (strcmp(got, expected) != 0)
		fail_msg("field \"%s\": expected \"%s\", got \"%s\"", name,
		    expected, got);
}

static void
json_check_bool(const cJSON *obj, const char *name, int expected)
{
	const cJSON *v = json_field(obj, name);

	if (!cJSON_IsBool(v))
		fail_msg("field \"%s\": expected a boolean", name);
	if (!cJSON_IsTrue(v) != !expected)
		fail_msg("field \"%s\": expected %s", name,
		    expected ? "true" : "false");
}

static void
json_check_absent(const cJSON *obj, const char *name)
{
	if (cJSON_GetObjectItemCaseSensitive(obj, name) != NULL)
		fail_msg("field \"%s\": expected absent, is present", name);
}

/* obj has exactly these members, in this order, each a string. */
static void
json_check_kv(const cJSON *obj, const char *name, const struct report_kv *kv,
    size_t n)
{
	const cJSON *o = json_field(obj, name), *c;
	size_t i = 0;

	if (!cJSON_IsObject(o))
		fail_msg("field \"%s\": expected an object", name);
	cJSON_ArrayForEach(c, o) {
		if (i >= n)
			fail_msg("%s: unexpected member \"%s\"", name,
			    c->string);
		if (strcmp(c->string, kv[i].key) != 0)
			fail_msg("%s[%zu]: expected key \"%s\", got \"%s\"",
			    name, i, kv[i].key, c->string);
		if (!cJSON_IsString(c) || strcmp(c->valuestring,
		    kv[i].value) != 0)
			fail_msg("%s.%s: expected \"%s\"", name, kv[i].key,
			    kv[i].value);
		i++;
	}
	if (i != n)
		fail_msg("%s: expected %zu members, got %zu", name, n, i);
}

/* obj's member names are exactly `names` (any order). */
static void
json_check_names(const cJSON *obj, const char *const *names, size_t n)
{
	const cJSON *c;
	size_t i, count = 0;

	cJSON_ArrayForEach(c, obj) {
		for (i = 0; i < n; i++) {
			if (strcmp(c->string, names[i]) == 0)
				break;
		}
		if (i == n)
			fail_msg("unexpected field \"%s\"", c->string);
		count++;
	}
	for (i = 0; i < n; i++)
		json_field(obj, names[i]);
	if (count != n)
		fail_msg("expected %zu fields, got %zu (duplicates?)", n,
		    count);
}

/* ---------------------------------------------------------------------
 * Fixtures.
 */

static const struct report_kv test_instance_md[] = {
	{ "pod_name", "model-7f9c-abcde" },
	{ "pod_namespace", "models" },
	{ "node_name", "gpu-node-3" },
	{ "zone", "eu-west-1b" },
};

static const struct report_kv test_runtime_md[] = {
	{ "cog_version", "0.14.1" },
	{ "cog_version_override", "" },
	{ "pod_name", "model-7f9c-abcde" },
};

static struct report_identity
test_identity(void)
{
	struct report_identity id;

	memset(&id, 0, sizeof id);
	id.instance_id = "model-7f9c-abcde";
	id.deployment_key = "acme/llama:prod";
	id.docker_image_uri = "r8.im/acme/llama@sha256:0123";
	id.hardware = "gpu-a100-large";
	id.compute_unit = "gpu";
	id.compute_unit_count = 2;
	id.version = "v42";
	id.run_id = "0123456789abcdef0123456789abcdef";
	id.instance_metadata = test_instance_md;
	id.instance_metadata_len = 4;
	id.runtime_metadata = test_runtime_md;
	id.runtime_metadata_len = 3;
	return id;
}

/* Wall time 2026-11-22T19:08:14.123Z at monotonic 5 s. */
#define TEST_ANCHOR_MONO (5 * NS_PER_S)
#define TEST_ANCHOR_WALL INT64_C(1795374494123)

static const struct report_clock test_clock = { TEST_ANCHOR_MONO,
	TEST_ANCHOR_WALL };

/* ---------------------------------------------------------------------
 * timeutil
 */

static void
check_format(int64_t ms, const char *expected)
{
	char out[TIMEUTIL_RFC3339_LEN];

	timeutil_rfc3339_format(ms, out);
	if (strcmp(out, expected) != 0)
		fail_msg("format(%lld): expected %s, got %s", (long long)ms,
		    expected, out);
}

static void
check_parse(const char *s, int64_t expected)
{
	int64_t got = INT64_MIN;

	if (timeutil_rfc3339_parse(s, &got) != 0)
		fail_msg("parse(\"%s\"): expected %lld, got an error", s,
		    (long long)expected);
	if (got != expected)
		fail_msg("parse(\"%s\"): expected %lld, got %lld", s,
		    (long long)expected, (long long)got);
}

static void
check_reject(const char *s)
{
	int64_t got = 12345;
	int rc;

	rc = timeutil_rfc3339_parse(s, &got);
	if (s == NULL)
		s = "(null)";
	if (rc != -1)
		fail_msg("parse(\"%s\"): expected an error, got %lld", s,
		    (long long)got);
	if (got != 12345)
		fail_msg("parse(\"%s\"): wrote %lld on error", s,
		    (long long)got);
}

static void
test_time_format_known(void **state)
{
	(void)state;
	check_format(0, "1970-01-01T00:00:00.000Z");
	check_format(1, "1970-01-01T00:00:00.001Z");
	check_format(TEST_ANCHOR_WALL, "2026-11-22T19:08:14.123Z");
	check_format(951782400000, "2000-02-29T00:00:00.000Z");
	check_format(1709251199999, "2024-02-29T23:59:59.999Z");
	check_format(INT64_C(253402300799999), "9999-12-31T23:59:59.999Z");
	check_format(INT64_C(-62167219200000), "0000-01-01T00:00:00.000Z");
}

static void
test_time_format_negative(void **state)
{
	(void)state;
	/* Floor division: 1969 instants, not "-0.001" garbage. */
	check_format(-1, "1969-12-31T23:59:59.999Z");
	check_format(-999, "1969-12-31T23:59:59.001Z");
	check_format(-1000, "1969-12-31T23:59:59.000Z");
	check_format(-1001, "1969-12-31T23:59:58.999Z");
	check_format(-86400000, "1969-12-31T00:00:00.000Z");
	check_format(-86400001, "1969-12-30T23:59:59.999Z");
	check_format(INT64_C(-2208988800000), "1900-01-01T00:00:00.000Z");
}

static void
test_time_format_clamps(void **state)
{
	(void)state;
	/* RFC 3339 has four-digit years: out-of-range instants clamp. */
	check_format(INT64_MAX, "9999-12-31T23:59:59.999Z");
	check_format(INT64_C(253402300800000), "9999-12-31T23:59:59.999Z");
	check_format(INT64_MIN, "0000-01-01T00:00:00.000Z");
	check_format(INT64_C(-62167219200001), "0000-01-01T00:00:00.000Z");
}

/* The calendar arithmetic agrees with the C library's gmtime_r. */
static void
test_time_format_matches_gmtime(void **state)
{
	char out[TIMEUTIL_RFC3339_LEN], want[64];
	uint64_t rng = 0x1234567;
	int64_t sec, ms;
	struct tm tm;
	time_t t;

	(void)state;
	for (sec = INT64_C(-62167219200); sec <= INT64_C(253402300799);
	    sec += 3000000 + (int64_t)test_rng_below(&rng, 400000)) {
		ms = (int64_t)test_rng_below(&rng, 1000);
		t = (time_t)sec;
		assert_non_null(gmtime_r(&t, &tm));
		snprintf(want, sizeof want,
		    "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
		    tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
		    tm.tm_sec, (int)ms);
		timeutil_rfc3339_format(sec * 1000 + ms, out);
		if (strcmp(out, want) != 0)
			fail_msg("format(%lld): expected %s, got %s",
			    (long long)(sec * 1000 + ms), want, out);
	}
}

static void
test_time_roundtrip(void **state)
{
	char out[TIMEUTIL_RFC3339_LEN];
	const int64_t lo = INT64_C(-62167219200000);
	const int64_t hi = INT64_C(253402300799999);
	uint64_t rng = 42;
	int64_t ms;
	int i;

	(void)state;
	for (i = 0; i < 200000; i++) {
		if (i < 4000)
			ms = (int64_t)i * 997 - 2000000;	/* around 1970 */
		else
			ms = lo + (int64_t)test_rng_below(&rng,
			    (uint64_t)(hi - lo + 1));
		timeutil_rfc3339_format(ms, out);
		check_parse(out, ms);
	}
	check_parse("1970-01-01T00:00:00Z", 0);
	check_parse("0000-01-01T00:00:00Z", INT64_C(-62167219200000));
	check_parse("9999-12-31T23:59:59.999Z", INT64_C(253402300799999));
}

static void
test_time_parse_leap_years(void **state)
{
	(void)state;
	check_parse("2024-02-29T00:00:00Z", 1709164800000);
	check_reject("2023-02-29T00:00:00Z");
	check_parse("2023-02-28T23:59:59.999Z", 1677628799999);
	check_parse("2000-02-29T00:00:00Z", 951782400000);
	check_reject("1900-02-29T00:00:00Z");
	check_reject("2100-02-29T00:00:00Z");
	check_parse("2400-02-29T00:00:00Z", INT64_C(13574563200000));
	check_reject("2024-02-30T00:00:00Z");
	check_reject("2023-04-31T00:00:00Z");
	check_reject("2023-06-31T00:00:00Z");
	check_reject("2023-09-31T00:00:00Z");
	check_reject("2023-11-31T00:00:00Z");
	check_parse("2023-12-31T00:00:00Z", 1703980800000);
	check_parse("2023-01-31T00:00:00Z", 1675123200000);
	check_reject("2023-01-32T00:00:00Z");
	check_reject("2023-13-01T00:00:00Z");
	check_reject("2023-00-01T00:00:00Z");
	check_reject("2023-01-00T00:00:00Z");
}

static void
test_time_parse_offsets(void **state)
{
	(void)state;
	check_parse("2026-11-22T20:08:14.123+01:00", TEST_ANCHOR_WALL);
	check_parse("2026-11-22T13:38:14.123-05:30", TEST_ANCHOR_WALL);
	check_parse("2026-11-22T19:08:14.123+00:00", TEST_ANCHOR_WALL);
	check_parse("2026-11-22T19:08:14.123-00:00", TEST_ANCHOR_WALL);
	/* Crossing midnight and a year boundary. */
	check_parse("2027-01-01T01:30:00+02:00", 1798759800000);
	check_parse("2026-12-31T23:30:00Z", 1798759800000);
	check_parse("2026-12-31T20:30:00-03:00", 1798759800000);
	check_parse("2026-11-23T18:59:14.123+23:51", TEST_ANCHOR_WALL);
	/* Lower case and space, as RFC 3339 5.6 allows. */
	check_parse("2026-11-22t19:08:14.123z", TEST_ANCHOR_WALL);
	check_parse("2026-11-22 19:08:14.123Z", TEST_ANCHOR_WALL);
	check_parse("2026-11-22 20:08:14.123+01:00", TEST_ANCHOR_WALL);
	/* Before 1970. */
	check_parse("1969-12-31T23:00:00-01:00", 0);
	check_parse("1970-01-01T00:00:00+01:00", -3600000);
}

static void
test_time_parse_fractions(void **state)
{
	(void)state;
	check_parse("2026-11-22T19:08:14Z", TEST_ANCHOR_WALL - 123);
	check_parse("2026-11-22T19:08:14.1Z", TEST_ANCHOR_WALL - 23);
	check_parse("2026-11-22T19:08:14.12Z", TEST_ANCHOR_WALL - 3);
	check_parse("2026-11-22T19:08:14.123Z", TEST_ANCHOR_WALL);
	/* Longer fractions truncate to ms, never round up. */
	check_parse("2026-11-22T19:08:14.1239Z", TEST_ANCHOR_WALL);
	check_parse("2026-11-22T19:08:14.123999999999999999999Z",
	    TEST_ANCHOR_WALL);
	check_parse("2026-11-22T19:08:14.000000001Z", TEST_ANCHOR_WALL - 123);
	check_parse("1969-12-31T23:59:59.5Z", -500);
	check_parse("1969-12-31T23:59:59.9999Z", -1);
	check_reject("2026-11-22T19:08:14.Z");
	check_reject("2026-11-22T19:08:14.+01:00");
	check_reject("2026-11-22T19:08:14,5Z");
}

static void
test_time_parse_leap_second(void **state)
{
	(void)state;
	/* Read as :59.999 of the same minute (see timeutil.c). */
	check_parse("2016-12-31T23:59:60Z", 1483228799999);
	check_parse("2016-12-31T23:59:60.5Z", 1483228799999);
	check_parse("2016-12-31T23:59:59.999Z", 1483228799999);
	check_parse("2017-01-01T00:59:60+01:00", 1483228799999);
	check_reject("2016-12-31T23:59:61Z");
}

static void
test_time_parse_garbage(void **state)
{
	static const char *const bad[] = {
		"", "Z", "2026", "2026-11", "2026-11-22", "2026-11-22T",
		"2026-11-22T19", "2026-11-22T19:08", "2026-11-22T19:08Z",
		"2026-11-22T19:08:14", "2026-11-22T19:08:14.123",
		"2026-11-22T19:08:14ZZ", "2026-11-22T19:08:14Z ",
		" 2026-11-22T19:08:14Z", "2026-11-22T19:08:14Z\n",
		"2026-11-22T19:08:14+01", "2026-11-22T19:08:14+0100",
		"2026-11-22T19:08:14+01:0", "2026-11-22T19:08:14+1:00",
		"2026-11-22T19:08:14+01:00Z", "2026-11-22T19:08:14+24:00",
		"2026-11-22T19:08:14+01:60", "2026-11-22T19:08:14 Z",
		"2026-11-22X19:08:14Z", "2026-11-22TT19:08:14Z",
		"2026/11/22T19:08:14Z", "2026-11-22T19.08.14Z",
		"26-11-22T19:08:14Z", "02026-11-22T19:08:14Z",
		"2026-1-22T19:08:14Z", "2026-11-2T19:08:14Z",
		"2026-11-22T9:08:14Z", "2026-11-22T19:8:14Z",
		"2026-11-22T19:08:4Z", "2026-11-22T24:00:00Z",
		"2026-11-22T23:60:00Z", "2026-11-22T19:08:14.12aZ",
		"+2026-11-22T19:08:14Z", "-2026-11-22T19:08:14Z",
		"2026-11-22T19:08:14UTC", "2026-11-22T19:08:14GMT",
		"1795374494123", "now", "2026-11-22T19:08:14.-1Z",
		"2026-11-22T19:08:-4Z", "2026-11-22T19:08:14\xef\xbc\xba",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
		check_reject(bad[i]);
	check_reject(NULL);
}

static void
test_time_clocks(void **state)
{
	uint64_t a, b;
	int64_t w;

	(void)state;
	a = timeutil_mono_ns();
	b = timeutil_mono_ns();
	assert_true(b >= a);
	w = timeutil_wall_ms();
	/* After 2020-01-01 and before 2200: a plausible Unix ms clock. */
	assert_in_range(w, INT64_C(1577836800000), INT64_C(7258118400000));
}

/* ---------------------------------------------------------------------
 * report_round_ms
 */

static void
check_round(const uint64_t parts[3], uint64_t duration)
{
	uint64_t out[3], target, sum;
	int i;

	report_round_ms(parts, duration, out);
	target = (duration + NS_PER_MS / 2) / NS_PER_MS;
	sum = out[0] + out[1] + out[2];
	if (sum != target)
		fail_msg("round(%llu, %llu, %llu / %llu): sum %llu, expected "
		    "%llu", (unsigned long long)parts[0],
		    (unsigned long long)parts[1], (unsigned long long)parts[2],
		    (unsigned long long)duration, (unsigned long long)sum,
		    (unsigned long long)target);
	if (parts[0] + parts[1] + parts[2] != duration)
		return;
	for (i = 0; i < 3; i++) {
		int64_t diff = (int64_t)(out[i] * NS_PER_MS) -
		    (int64_t)parts[i];

		if (diff <= -(int64_t)NS_PER_MS || diff >= (int64_t)NS_PER_MS)
			fail_msg("round part %d: %llu ns became %llu ms", i,
			    (unsigned long long)parts[i],
			    (unsigned long long)out[i]);
	}
}

static void
check_round_exact(uint64_t a, uint64_t b, uint64_t c, uint64_t e0,
    uint64_t e1, uint64_t e2)
{
	uint64_t parts[3] = { a, b, c }, out[3];

	report_round_ms(parts, a + b + c, out);
	if (out[0] != e0 || out[1] != e1 || out[2] != e2)
		fail_msg("round(%llu, %llu, %llu): expected %llu %llu %llu, "
		    "got %llu %llu %llu", (unsigned long long)a,
		    (unsigned long long)b, (unsigned long long)c,
		    (unsigned long long)e0, (unsigned long long)e1,
		    (unsigned long long)e2, (unsigned long long)out[0],
		    (unsigned long long)out[1], (unsigned long long)out[2]);
}

static void
test_round_known(void **state)
{
	(void)state;
	check_round_exact(0, 0, 0, 0, 0, 0);
	check_round_exact(1000000, 2000000, 3000000, 1, 2, 3);
	/* Three halves: 1.5 ms rounds to 2, the first two (ties) get it. */
	check_round_exact(500000, 500000, 500000, 1, 1, 0);
	/* The largest remainder wins over index order. */
	check_round_exact(400000, 400000, 700000, 1, 0, 1);
	check_round_exact(333333, 333333, 333334, 0, 0, 1);
	/* 2.6 ms: three parts of 0.8666.. each get one. */
	check_round_exact(866666, 866667, 866667, 1, 1, 1);
	/* 15 s with 1 ns slivers: the slivers vanish. */
	check_round_exact(1, 14999999998, 1, 0, 15000, 0);
	/* Plain round-half-up would give 1 + 1 + 1 = 3 for 2.1 ms. */
	check_round_exact(700000, 700000, 700000, 1, 1, 0);
}

/* Every split of small durations, on a 0.1 ms grid and at random ns. */
static void
test_round_exhaustive(void **state)
{
	uint64_t parts[3], a, b, c, step = 100000, rng = 7;
	int i;

	(void)state;
	for (a = 0; a <= 40 * step; a += step) {
		for (b = 0; b <= 40 * step; b += step) {
			for (c = 0; c <= 40 * step; c += step) {
				parts[0] = a + (a % 3);
				parts[1] = b;
				parts[2] = c + (c % 7);
				check_round(parts,
				    parts[0] + parts[1] + parts[2]);
			}
		}
	}
	for (i = 0; i < 300000; i++) {
		uint64_t m = i % 3 == 0 ? 5 * NS_PER_MS : i % 3 == 1 ?
		    NS_PER_MS : 30 * NS_PER_S;

		for (a = 0; a < 3; a++)
			parts[a] = test_rng_below(&rng, m);
		check_round(parts, parts[0] + parts[1] + parts[2]);
	}
}

/* Parts that do not add up still give the target, and no part < 0. */
static void
test_round_inconsistent(void **state)
{
	uint64_t parts[3], out[3], rng = 99, d;
	int i;

	(void)state;
	/* All parts zero, duration 15 s: the deficit is spread. */
	parts[0] = parts[1] = parts[2] = 0;
	report_round_ms(parts, 15 * NS_PER_S, out);
	assert_int_equal(out[0] + out[1] + out[2], 15000);
	assert_int_equal(out[0], 5000);
	/* Parts sum to more than the duration: the surplus is taken back. */
	parts[0] = 1 * NS_PER_MS;
	parts[1] = 5 * NS_PER_MS;
	parts[2] = 9 * NS_PER_MS + 900000;
	report_round_ms(parts, 2 * NS_PER_MS, out);
	assert_int_equal(out[0] + out[1] + out[2], 2);
	/* Duration 0. */
	report_round_ms(parts, 0, out);
	assert_int_equal(out[0] + out[1] + out[2], 0);
	assert_int_equal(out[0], 0);
	assert_int_equal(out[1], 0);
	assert_int_equal(out[2], 0);
	for (i = 0; i < 100000; i++) {
		parts[0] = test_rng_below(&rng, 20 * NS_PER_MS);
		parts[1] = test_rng_below(&rng, 20 * NS_PER_MS);
		parts[2] = test_rng_below(&rng, 20 * NS_PER_MS);
		d = test_rng_below(&rng, 60 * NS_PER_MS);
		report_round_ms(parts, d, out);
		check_round(parts, d);
		/* Unsigned parts: "negative" would show up as huge. */
		assert_true(out[0] <= 60 && out[1] <= 60 && out[2] <= 60);
	}
	/* Near the top of the range nothing overflows. */
	parts[0] = UINT64_MAX / 4;
	parts[1] = UINT64_MAX / 4;
	parts[2] = UINT64_MAX / 4;
	check_round(parts, parts[0] + parts[1] + parts[2]);
}

/* ---------------------------------------------------------------------
 * report_clock_wall_ms and contiguity
 */

static void
test_clock_wall_ms(void **state)
{
	const struct report_clock *c = &test_clock;
	const int64_t w = TEST_ANCHOR_WALL;
	const uint64_t m = TEST_ANCHOR_MONO;
	struct report_clock zero = { 0, 1000 };

	(void)state;
	assert_int_equal(report_clock_wall_ms(c, m), w);
	assert_int_equal(report_clock_wall_ms(c, m + 1), w);
	assert_int_equal(report_clock_wall_ms(c, m + 999999), w);
	assert_int_equal(report_clock_wall_ms(c, m + 1000000), w + 1);
	assert_int_equal(report_clock_wall_ms(c, m + 15 * NS_PER_S + 999999),
	    w + 15000);
	/* Before the anchor: toward negative infinity, not toward zero. */
	assert_int_equal(report_clock_wall_ms(c, m - 1), w - 1);
	assert_int_equal(report_clock_wall_ms(c, m - 999999), w - 1);
	assert_int_equal(report_clock_wall_ms(c, m - 1000000), w - 1);
	assert_int_equal(report_clock_wall_ms(c, m - 1000001), w - 2);
	assert_int_equal(report_clock_wall_ms(c, 0), w - 5000);
	/* A huge monotonic value far from the anchor. */
	assert_int_equal(report_clock_wall_ms(&zero, UINT64_MAX),
	    1000 + (int64_t)(UINT64_MAX / NS_PER_MS));
	/* The wall clock may be before 1970 (unset RTC). */
	zero.wall_ms = -5;
	zero.mono_ns = 10;
	assert_int_equal(report_clock_wall_ms(&zero, 9), -6);
	assert_int_equal(report_clock_wall_ms(&zero, 10), -5);
}

static struct monitor_interval
test_interval(uint64_t seq, uint64_t start, uint64_t end)
{
	struct monitor_interval iv;

	memset(&iv, 0, sizeof iv);
	iv.sequence = seq;
	iv.start_ns = start;
	iv.end_ns = end;
	iv.state_ns[STATUS_STATE_IDLE] = end - start;
	iv.end_state = STATUS_STATE_IDLE;
	return iv;
}

/* interval_end of k is exactly interval_start of k + 1. */
static void
test_interval_contiguity(void **state)
{
	struct report_identity id = test_identity();
	struct monitor_interval iv;
	uint64_t bounds[64], rng = 5;
	char prev_end[TIMEUTIL_RFC3339_LEN];
	size_t i, n = 0;
	cJSON *body;

	(void)state;
	/* Awkward bounds: ...999999 ns, exact ms, 1 ns past, before anchor. */
	bounds[n++] = 1;
	bounds[n++] = TEST_ANCHOR_MONO - 1;
	bounds[n++] = TEST_ANCHOR_MONO;
	bounds[n++] = TEST_ANCHOR_MONO + 999999;
	bounds[n++] = TEST_ANCHOR_MONO + 1000000;
	bounds[n++] = TEST_ANCHOR_MONO + 1000001;
	bounds[n++] = TEST_ANCHOR_MONO + 15 * NS_PER_S - 1;
	bounds[n++] = TEST_ANCHOR_MONO + 30 * NS_PER_S + 999999;
	for (; n < 64; n++)
		bounds[n] = bounds[n - 1] + 1 + test_rng_below(&rng, 16 * NS_PER_S);

	prev_end[0] = '\0';
	for (i = 0; i + 1 < n; i++) {
		iv = test_interval(i, bounds[i], bounds[i + 1]);
		body = json_reparse(report_instance_state(&id, &test_clock,
		    &iv));
		if (i > 0)
			json_check_string(body, "interval_start", prev_end);
		snprintf(prev_end, sizeof prev_end, "%s",
		    json_string(body, "interval_end"));
		/* metric_duration matches the bounds' own ns, rounded. */
		json_check_ms(body, "metric_duration", (int64_t)
		    ((bounds[i + 1] - bounds[i] + NS_PER_MS / 2) / NS_PER_MS));
		cJSON_Delete(body);
	}
}

/* ---------------------------------------------------------------------
 * Instance-state body
 */

static const char *const instance_state_fields[] = {
	"active_time", "boot_time", "idle_time", "metric_duration",
	"utilization", "mean_concurrency", "deployment_key",
	"docker_image_uri", "hardware", "compute_unit", "compute_unit_count",
	"instance_id", "instance_metadata", "version", "sequence", "run_id",
	"interval_start", "interval_end", "state", "max_concurrency",
	"predictions", "final",
};

static void
test_instance_state_fields(void **state)
{
	struct report_identity id = test_identity();
	struct monitor_interval iv;
	const cJSON *pred;
	cJSON *body;

	(void)state;
	memset(&iv, 0, sizeof iv);
	iv.sequence = 7;
	iv.start_ns = TEST_ANCHOR_MONO + 105 * NS_PER_S;	/* wall +105 s */
	iv.end_ns = iv.start_ns + 15 * NS_PER_S;
	iv.state_ns[STATUS_STATE_BOOT] = 2 * NS_PER_S + 300000;	/* 2.0003 */
	iv.state_ns[STATUS_STATE_IDLE] = 9 * NS_PER_S + 300000;	/* 9.0003 */
	iv.state_ns[STATUS_STATE_ACTIVE] = 3 * NS_PER_S + 999400000; /* 3.9994 */
	iv.level_ns = 7 * NS_PER_S + 123;
	iv.max_level = 3;
	iv.counts[STATUS_PREDICTION_SUCCEEDED] = 11;
	iv.counts[STATUS_PREDICTION_FAILED] = 2;
	iv.counts[STATUS_PREDICTION_CANCELED] = 1;
	iv.counts[STATUS_PREDICTION_ABORTED] = 4;
	iv.counts[MONITOR_COUNT_STARTED] = 19;
	iv.end_state = STATUS_STATE_ACTIVE;
	iv.final = 0;

	body = json_reparse(report_instance_state(&id, &test_clock, &iv));
	json_check_names(body, instance_state_fields,
	    sizeof instance_state_fields / sizeof instance_state_fields[0]);

	/* 2.0003 + 9.0003 + 3.9994: the 1 ms goes to the largest remainder. */
	json_check_ms(body, "boot_time", 2000);
	json_check_ms(body, "idle_time", 9000);
	json_check_ms(body, "active_time", 4000);
	json_check_ms(body, "metric_duration", 15000);
	json_check_double(body, "utilization",
	    (double)(3 * NS_PER_S + 999400000) / (double)(15 * NS_PER_S));
	json_check_double(body, "mean_concurrency",
	    (double)(7 * NS_PER_S + 123) / (double)(15 * NS_PER_S));
	json_check_string(body, "deployment_key", "acme/llama:prod");
	json_check_string(body, "docker_image_uri",
	    "r8.im/acme/llama@sha256:0123");
	json_check_string(body, "hardware", "gpu-a100-large");
	json_check_string(body, "compute_unit", "gpu");
	json_check_int(body, "compute_unit_count", 2);
	json_check_string(body, "instance_id", "model-7f9c-abcde");
	json_check_kv(body, "instance_metadata", test_instance_md, 4);
	json_check_string(body, "version", "v42");
	json_check_int(body, "sequence", 7);
	json_check_string(body, "run_id", "0123456789abcdef0123456789abcdef");
	json_check_string(body, "interval_start", "2026-11-22T19:09:59.123Z");
	json_check_string(body, "interval_end", "2026-11-22T19:10:14.123Z");
	json_check_string(body, "state", "active");
	json_check_int(body, "max_concurrency", 3);
	json_check_bool(body, "final", 0);

	pred = json_field(body, "predictions");
	assert_true(cJSON_IsObject(pred));
	assert_int_equal(cJSON_GetArraySize(pred), 5);
	json_check_int(pred, "succeeded", 11);
	json_check_int(pred, "failed", 2);
	json_check_int(pred, "canceled", 1);
	json_check_int(pred, "aborted", 4);
	json_check_int(pred, "started", 19);
	cJSON_Delete(body);
}

static void
test_instance_state_final_and_states(void **state)
{
	struct report_identity id = test_identity();
	struct monitor_interval iv;
	cJSON *body;
	int s;

	(void)state;
	for (s = 0; s < STATUS_STATE_COUNT; s++) {
		iv = test_interval(UINT64_C(1) << 40, TEST_ANCHOR_MONO,
		    TEST_ANCHOR_MONO + 1234567);
		iv.end_state = (enum status_state)s;
		iv.final = s == STATUS_STATE_BOOT;
		body = json_reparse(report_instance_state(&id, &test_clock,
		    &iv));
		json_check_string(body, "state", status_state_name(s));
		json_check_bool(body, "final", s == STATUS_STATE_BOOT);
		/* A large sequence is still an exact integer. */
		json_check_int(body, "sequence", (double)(UINT64_C(1) << 40));
		json_check_ms(body, "metric_duration", 1);
		json_check_ms(body, "idle_time", 1);
		json_check_string(body, "interval_start",
		    "2026-11-22T19:08:14.123Z");
		json_check_string(body, "interval_end",
		    "2026-11-22T19:08:14.124Z");
		cJSON_Delete(body);
	}
}

static void
test_instance_state_zero_duration(void **state)
{
	struct report_identity id = test_identity();
	struct monitor_interval iv;
	cJSON *body;

	(void)state;
	iv = test_interval(0, TEST_ANCHOR_MONO, TEST_ANCHOR_MONO);
	iv.level_ns = 0;
	body = json_reparse(report_instance_state(&id, &test_clock, &iv));
	json_check_double(body, "utilization", 0);
	json_check_double(body, "mean_concurrency", 0);
	json_check_ms(body, "metric_duration", 0);
	json_check_ms(body, "active_time", 0);
	json_check_ms(body, "boot_time", 0);
	json_check_ms(body, "idle_time", 0);
	json_check_string(body, "interval_start", "2026-11-22T19:08:14.123Z");
	json_check_string(body, "interval_end", "2026-11-22T19:08:14.123Z");
	cJSON_Delete(body);

	/* All active at level 1: utilization and mean exactly 1. */
	iv = test_interval(1, TEST_ANCHOR_MONO, TEST_ANCHOR_MONO + 999);
	iv.state_ns[STATUS_STATE_IDLE] = 0;
	iv.state_ns[STATUS_STATE_ACTIVE] = 999;
	iv.level_ns = 999;
	body = json_reparse(report_instance_state(&id, &test_clock, &iv));
	json_check_double(body, "utilization", 1);
	json_check_double(body, "mean_concurrency", 1);
	json_check_ms(body, "metric_duration", 0);
	cJSON_Delete(body);
}

/* In the body too: the three times add up to metric_duration in ms. */
static void
test_instance_state_rounding(void **state)
{
	struct report_identity id = test_identity();
	struct monitor_interval iv;
	uint64_t rng = 3, d;
	int64_t a, b, c, m;
	cJSON *body;
	int i;

	(void)state;
	for (i = 0; i < 2000; i++) {
		d = test_rng_below(&rng, 20 * NS_PER_S);
		iv = test_interval(i, TEST_ANCHOR_MONO, TEST_ANCHOR_MONO + d);
		iv.state_ns[STATUS_STATE_BOOT] = test_rng_below(&rng, d + 1);
		iv.state_ns[STATUS_STATE_ACTIVE] = test_rng_below(&rng,
		    d - iv.state_ns[STATUS_STATE_BOOT] + 1);
		iv.state_ns[STATUS_STATE_IDLE] = d -
		    iv.state_ns[STATUS_STATE_BOOT] -
		    iv.state_ns[STATUS_STATE_ACTIVE];
		body = json_reparse(report_instance_state(&id, &test_clock,
		    &iv));
		a = llround(json_number(body, "active_time") * 1000);
		b = llround(json_number(body, "boot_time") * 1000);
		c = llround(json_number(body, "idle_time") * 1000);
		m = llround(json_number(body, "metric_duration") * 1000);
		if (a + b + c != m)
			fail_msg("%lld + %lld + %lld != %lld ms", (long long)a,
			    (long long)b, (long long)c, (long long)m);
		assert_int_equal(m, (d + NS_PER_MS / 2) / NS_PER_MS);
		json_check_double(body, "utilization",
		    d == 0 ? 0 : (double)iv.state_ns[STATUS_STATE_ACTIVE] /
		    (double)d);
		cJSON_Delete(body);
	}
}

static void
test_instance_state_metadata(void **state)
{
	struct report_identity id = test_identity();
	struct monitor_interval iv;
	static const struct report_kv odd[] = {
		{ "quote", "a \"b\" \\ c" },
		{ "unicode", "Zürich \xe6\x9d\xb1\xe4\xba\xac \xf0\x9f\x9a\x80" },
		{ "empty", "" },
		{ "newline", "x\ny" },
	};
	cJSON *body;

	(void)state;
	iv = test_interval(0, TEST_ANCHOR_MONO, TEST_ANCHOR_MONO + NS_PER_S);

	/* No metadata: still an object, empty. */
	id.instance_metadata = NULL;
	id.instance_metadata_len = 0;
	body = json_reparse(report_instance_state(&id, &test_clock, &iv));
	json_check_kv(body, "instance_metadata", NULL, 0);
	cJSON_Delete(body);

	/* Strings that need escaping survive the round trip, in order. */
	id.instance_metadata = odd;
	id.instance_metadata_len = 4;
	body = json_reparse(report_instance_state(&id, &test_clock, &iv));
	json_check_kv(body, "instance_metadata", odd, 4);
	cJSON_Delete(body);

	/* Empty identity strings are empty strings, not missing. */
	id = test_identity();
	id.hardware = "";
	id.version = "";
	body = json_reparse(report_instance_state(&id, &test_clock, &iv));
	json_check_string(body, "hardware", "");
	json_check_string(body, "version", "");
	cJSON_Delete(body);
}

/* ---------------------------------------------------------------------
 * Setup body
 */

static const char *const setup_fields_base[] = {
	"status", "started_at", "completed_at", "duration_seconds", "logs",
	"instance_metadata", "runtime_metadata", "instance_id",
	"deployment_key", "version", "run_id",
};

static struct report_setup
test_setup(enum status_setup status)
{
	struct report_setup s;

	memset(&s, 0, sizeof s);
	s.status = status;
	s.started_ns = TEST_ANCHOR_MONO + 2 * NS_PER_S + 500000;
	s.completed_ns = TEST_ANCHOR_MONO + 95 * NS_PER_S + 250999999;
	s.logs = "loading weights\nready\n";
	s.logs_len = strlen(s.logs);
	return s;
}

static void
test_setup_fields(void **state)
{
	struct report_identity id = test_identity();
	struct report_setup s = test_setup(STATUS_SETUP_READY);
	const char *names[13];
	cJSON *body;

	(void)state;
	memcpy(names, setup_fields_base, sizeof setup_fields_base);
	names[11] = "scheduled_to_setup_started";
	names[12] = "scheduled_to_ready";
	s.has_scheduled_at = 1;
	s.scheduled_at_ms = TEST_ANCHOR_WALL - 40000;	/* 40 s before */

	body = json_reparse(report_setup_run(&id, &test_clock, &s));
	json_check_names(body, names, 13);
	json_check_string(body, "status", "ready");
	json_check_string(body, "started_at", "2026-11-22T19:08:16.123Z");
	json_check_string(body, "completed_at", "2026-11-22T19:09:49.373Z");
	/* 93.250499999 s -> 93.250 s (from the ns, half up). */
	json_check_ms(body, "duration_seconds", 93250);
	json_check_string(body, "logs", "loading weights\nready\n");
	json_check_kv(body, "instance_metadata", test_instance_md, 4);
	json_check_kv(body, "runtime_metadata", test_runtime_md, 3);
	json_check_ms(body, "scheduled_to_setup_started", 42000);
	json_check_ms(body, "scheduled_to_ready", 135250);
	json_check_string(body, "instance_id", "model-7f9c-abcde");
	json_check_string(body, "deployment_key", "acme/llama:prod");
	json_check_string(body, "version", "v42");
	json_check_string(body, "run_id", "0123456789abcdef0123456789abcdef");
	cJSON_Delete(body);
}

static void
test_setup_scheduled(void **state)
{
	struct report_identity id = test_identity();
	struct report_setup s;
	const char *names[12];
	cJSON *body;
	int st;

	(void)state;
	/* Not known: neither field, whatever the status. */
	for (st = STATUS_SETUP_READY; st <= STATUS_SETUP_TIMEOUT; st++) {
		s = test_setup((enum status_setup)st);
		body = json_reparse(report_setup_run(&id, &test_clock, &s));
		json_check_names(body, setup_fields_base, 11);
		json_check_absent(body, "scheduled_to_setup_started");
		json_check_absent(body, "scheduled_to_ready");
		json_check_string(body, "status", status_setup_name(st));
		cJSON_Delete(body);
	}

	/* Known, but setup never became ready: no scheduled_to_ready. */
	memcpy(names, setup_fields_base, sizeof setup_fields_base);
	names[11] = "scheduled_to_setup_started";
	for (st = STATUS_SETUP_FAILED; st <= STATUS_SETUP_TIMEOUT; st++) {
		s = test_setup((enum status_setup)st);
		s.has_scheduled_at = 1;
		s.scheduled_at_ms = TEST_ANCHOR_WALL + 2000;
		body = json_reparse(report_setup_run(&id, &test_clock, &s));
		json_check_names(body, names, 12);
		json_check_ms(body, "scheduled_to_setup_started", 0);
		json_check_absent(body, "scheduled_to_ready");
		cJSON_Delete(body);
	}

	/* A scheduled_at after the start (clock skew) keeps its sign. */
	s = test_setup(STATUS_SETUP_READY);
	s.has_scheduled_at = 1;
	s.scheduled_at_ms = TEST_ANCHOR_WALL + 3500;
	body = json_reparse(report_setup_run(&id, &test_clock, &s));
	json_check_ms(body, "scheduled_to_setup_started", -1500);
	json_check_ms(body, "scheduled_to_ready", 91750);
	cJSON_Delete(body);
}

static void
test_setup_logs(void **state)
{
	struct report_identity id = test_identity();
	struct report_setup s = test_setup(STATUS_SETUP_FAILED);
	static const char utf8[] = "étape 1\n\xe6\x9d\xb1\xe4\xba\xac\n"
	    "\xf0\x9f\x9a\x80 \"quoted\" \\ tab\there\r\n";
	char buf[64];
	cJSON *body;

	(void)state;
	/* NULL logs: an empty string. */
	s.logs = NULL;
	s.logs_len = 0;
	body = json_reparse(report_setup_run(&id, &test_clock, &s));
	json_check_string(body, "logs", "");
	cJSON_Delete(body);

	/* Exactly logs_len bytes, even with no NUL after them. */
	memset(buf, 'X', sizeof buf);
	memcpy(buf, "abc\ndef", 7);
	s.logs = buf;
	s.logs_len = 7;
	body = json_reparse(report_setup_run(&id, &test_clock, &s));
	json_check_string(body, "logs", "abc\ndef");
	cJSON_Delete(body);

	s.logs_len = 0;
	body = json_reparse(report_setup_run(&id, &test_clock, &s));
	json_check_string(body, "logs", "");
	cJSON_Delete(body);

	/* Multibyte text, quotes, control characters. */
	s.logs = utf8;
	s.logs_len = sizeof utf8 - 1;
	body = json_reparse(report_setup_run(&id, &test_clock, &s));
	json_check_string(body, "logs", utf8);
	cJSON_Delete(body);
}

static void
test_setup_duration(void **state)
{
	struct report_identity id = test_identity();
	struct report_setup s = test_setup(STATUS_SETUP_TIMEOUT);
	cJSON *body;

	(void)state;
	/* Completed before started: 0, never negative. */
	s.started_ns = TEST_ANCHOR_MONO + 10 * NS_PER_S;
	s.completed_ns = TEST_ANCHOR_MONO + 9 * NS_PER_S;
	body = json_reparse(report_setup_run(&id, &test_clock, &s));
	json_check_ms(body, "duration_seconds", 0);
	json_check_string(body, "status", "timeout");
	cJSON_Delete(body);

	/* Equal, and sub-ms rounding half up. */
	s.completed_ns = s.started_ns;
	body = json_reparse(report_setup_run(&id, &test_clock, &s));
	json_check_ms(body, "duration_seconds", 0);
	json_check_string(body, "started_at",
	    json_string(body, "completed_at"));
	cJSON_Delete(body);
	s.completed_ns = s.started_ns + 499999;
	body = json_reparse(report_setup_run(&id, &test_clock, &s));
	json_check_ms(body, "duration_seconds", 0);
	cJSON_Delete(body);
	s.completed_ns = s.started_ns + 500000;
	body = json_reparse(report_setup_run(&id, &test_clock, &s));
	json_check_ms(body, "duration_seconds", 1);
	cJSON_Delete(body);

	/* Started before the anchor (setup began before the daemon). */
	s.started_ns = 1;
	s.completed_ns = TEST_ANCHOR_MONO;
	body = json_reparse(report_setup_run(&id, &test_clock, &s));
	json_check_string(body, "started_at", "2026-11-22T19:08:09.123Z");
	json_check_string(body, "completed_at", "2026-11-22T19:08:14.123Z");
	json_check_ms(body, "duration_seconds", 5000);
	cJSON_Delete(body);
}

/* ---------------------------------------------------------------------
 * Log tail
 */

/* A reference copy of everything appended. */
struct ref {
	char *s;
	size_t len;
	size_t cap;
};

static void
ref_add(struct ref *r, const char *p, size_t n)
{
	if (n == 0)
		return;
	if (r->len + n > r->cap) {
		r->cap = (r->len + n) * 2;
		r->s = xrealloc(r->s, r->cap);
	}
	memcpy(r->s + r->len, p, n);
	r->len += n;
}

static void
both_add(struct report_logtail *t, struct ref *r, const char *p, size_t n)
{
	size_t before = t->len;

	report_logtail_append(t, p, n);
	ref_add(r, p, n);
	/* Past 2 x limit, exactly the last limit bytes are kept. */
	if ((n >= t->limit || before + n > 2 * t->limit) &&
	    t->len != t->limit)
		fail_msg("logtail kept %zu bytes after a cut, expected %zu",
		    t->len, t->limit);
	if (t->len > 2 * t->limit || t->cap > 2 * t->limit)
		fail_msg("logtail holds %zu bytes (cap %zu), limit %zu", t->len,
		    t->cap, t->limit);
	if (t->total != r->len)
		fail_msg("total: expected %zu, got %llu", r->len,
		    (unsigned long long)t->total);
}

/* Strict UTF-8 validity (no overlongs, surrogates, > U+10FFFF). */
static int
utf8_valid(const unsigned char *s, size_t n)
{
	size_t i = 0, k, j;
	uint32_t cp;

	while (i < n) {
		if (s[i] < 0x80) {
			i++;
			continue;
		}
		if ((s[i] & 0xE0) == 0xC0)
			k = 2, cp = s[i] & 0x1F;
		else if ((s[i] & 0xF0) == 0xE0)
			k = 3, cp = s[i] & 0x0F;
		else if ((s[i] & 0xF8) == 0xF0)
			k = 4, cp = s[i] & 0x07;
		else
			return 0;
		if (i + k > n)
			return 0;
		for (j = 1; j < k; j++) {
			if ((s[i + j] & 0xC0) != 0x80)
				return 0;
			cp = cp << 6 | (s[i + j] & 0x3F);
		}
		if ((k == 2 && cp < 0x80) || (k == 3 && cp < 0x800) ||
		    (k == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
		    (cp >= 0xD800 && cp <= 0xDFFF))
			return 0;
		i += k;
	}
	return 1;
}

/*
 * The tail is a suffix of everything appended, at most limit bytes long,
 * and no shorter than limit minus the (at most 3) bytes of a cut character.
 */
static void
check_tail(const struct report_logtail *t, const struct ref *r, int utf8)
{
	const char *p;
	size_t n, want;

	report_logtail_get(t, &p, &n);
	assert_non_null(p);
	want = r->len < t->limit ? r->len : t->limit;
	if (n > want || n + (utf8 ? 3 : 0) < want)
		fail_msg("tail length %zu, expected %s%zu", n,
		    utf8 ? "up to 3 less than " : "", want);
	if (n > 0 && memcmp(p, r->s + r->len - n, n) != 0)
		fail_msg("tail of %zu bytes is not the last bytes appended", n);
	if (utf8 && !utf8_valid((const unsigned char *)p, n))
		fail_msg("tail of %zu bytes is not valid UTF-8", n);
	if (!utf8 && n != want)
		fail_msg("ASCII tail: expected %zu bytes, got %zu", want, n);
}

static void
test_logtail_empty(void **state)
{
	struct report_logtail t;
	const char *p;
	size_t n;

	(void)state;
	report_logtail_init(&t, REPORT_LOG_TAIL_BYTES);
	report_logtail_get(&t, &p, &n);
	assert_non_null(p);
	assert_int_equal(n, 0);
	report_logtail_append(&t, "", 0);
	report_logtail_get(&t, &p, &n);
	assert_int_equal(n, 0);
	assert_int_equal(t.total, 0);
	report_logtail_free(&t);
	report_logtail_free(&t);	/* idempotent */
}

static void
test_logtail_keeps_limit(void **state)
{
	struct report_logtail t;
	struct ref r = { NULL, 0, 0 };
	char line[200];
	const char *p;
	size_t n;
	int i, len;

	(void)state;
	report_logtail_init(&t, REPORT_LOG_TAIL_BYTES);
	for (i = 0; i < 5000; i++) {
		len = snprintf(line, sizeof line, "line %d: %.*s\n", i,
		    i % 150, "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz"
		    "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz"
		    "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz");
		both_add(&t, &r, line, (size_t)len);
		check_tail(&t, &r, 0);
	}
	report_logtail_get(&t, &p, &n);
	assert_int_equal(n, 20480);
	assert_memory_equal(p, r.s + r.len - 20480, 20480);
	report_logtail_free(&t);
	free(r.s);
}

static void
test_logtail_small_appends(void **state)
{
	struct report_logtail t;
	struct ref r = { NULL, 0, 0 };
	char c;
	int i;

	(void)state;
	report_logtail_init(&t, REPORT_LOG_TAIL_BYTES);
	for (i = 0; i < 100000; i++) {
		c = (char)('a' + i % 26);
		both_add(&t, &r, &c, 1);
		if (i % 997 == 0 || i > 99990)
			check_tail(&t, &r, 0);
	}
	assert_int_equal(t.total, 100000);
	check_tail(&t, &r, 0);
	report_logtail_free(&t);
	free(r.s);
}

static void
test_logtail_big_append(void **state)
{
	struct report_logtail t;
	struct ref r = { NULL, 0, 0 };
	size_t i, big = 1024 * 1024;
	char *mb;

	(void)state;
	mb = xmalloc(big);
	for (i = 0; i < big; i++)
		mb[i] = (char)(' ' + (i * 7 + i / 91) % 95);
	report_logtail_init(&t, REPORT_LOG_TAIL_BYTES);
	both_add(&t, &r, "before\n", 7);
	both_add(&t, &r, mb, big);
	check_tail(&t, &r, 0);
	assert_int_equal(t.total, big + 7);
	/* Then small appends keep working after the big one. */
	both_add(&t, &r, "after\n", 6);
	check_tail(&t, &r, 0);
	both_add(&t, &r, mb, REPORT_LOG_TAIL_BYTES - 1);
	check_tail(&t, &r, 0);
	both_add(&t, &r, mb, REPORT_LOG_TAIL_BYTES);
	check_tail(&t, &r, 0);
	report_logtail_free(&t);
	free(r.s);
	free(mb);
}

/* Random chunk sizes against the reference, for several limits. */
static void
test_logtail_random(void **state)
{
	static const size_t limits[] = { 1, 2, 5, 16, 100, 4096, 20480 };
	struct report_logtail t;
	struct ref r;
	uint64_t rng = 11;
	char chunk[50000];
	size_t li, i, n, j;

	(void)state;
	for (i = 0; i < sizeof chunk; i++)
		chunk[i] = (char)('0' + i % 10);
	for (li = 0; li < sizeof limits / sizeof limits[0]; li++) {
		report_logtail_init(&t, limits[li]);
		memset(&r, 0, sizeof r);
		for (j = 0; j < 600; j++) {
			n = test_rng_below(&rng, 4) == 0 ?
			    (size_t)test_rng_below(&rng, 2 * limits[li] + 2) :
			    (size_t)test_rng_below(&rng, limits[li] / 3 + 2);
			if (n > sizeof chunk)
				n = sizeof chunk;
			both_add(&t, &r, chunk + test_rng_below(&rng, 10), n > 9 ?
			    n - 9 : n);
			check_tail(&t, &r, 0);
		}
		report_logtail_free(&t);
		free(r.s);
	}
}

/*
 * A 2-, 3- or 4-byte character straddling the cut at every byte offset:
 * the tail starts after it, never inside it.
 */
static void
test_logtail_utf8_cut(void **state)
{
	static const char *const chars[] = { "\xc3\xa9", "\xe6\x9d\xb1",
		"\xf0\x9f\x9a\x80" };
	const size_t limit = REPORT_LOG_TAIL_BYTES;
	struct report_logtail t;
	struct ref r;
	size_t k, j, i, n;
	const char *p;
	char *ys;

	(void)state;
	ys = xmalloc(limit);
	memset(ys, 'y', limit);
	for (i = 0; i < 3; i++) {
		k = strlen(chars[i]);
		for (j = 0; j <= k; j++) {
			/* j bytes of the character fall inside the limit. */
			report_logtail_init(&t, limit);
			memset(&r, 0, sizeof r);
			both_add(&t, &r, "xxxxxxxx", 8);
			both_add(&t, &r, chars[i], k);
			both_add(&t, &r, ys, limit - j);
			check_tail(&t, &r, 1);
			report_logtail_get(&t, &p, &n);
			if (j == k) {
				assert_int_equal(n, limit);
				assert_memory_equal(p, chars[i], k);
			} else {
				assert_int_equal(n, limit - j);
				assert_int_equal(p[0], 'y');
			}
			report_logtail_free(&t);
			free(r.s);
		}
	}
	free(ys);
}

/* Text made only of k-byte characters, cut at every phase. */
static void
test_logtail_utf8_stream(void **state)
{
	static const char *const chars[] = { "\xc3\xa9", "\xe6\x9d\xb1",
		"\xf0\x9f\x9a\x80", "a\xc3\xa9\xe6\x9d\xb1\xf0\x9f\x9a\x80" };
	struct report_logtail t;
	struct ref r;
	size_t i, k, pre, rep, n;
	const char *p;

	(void)state;
	for (i = 0; i < 4; i++) {
		k = strlen(chars[i]);
		for (pre = 0; pre < 12; pre++) {
			report_logtail_init(&t, REPORT_LOG_TAIL_BYTES);
			memset(&r, 0, sizeof r);
			both_add(&t, &r, "abcdefghijkl", pre);
			for (rep = 0; rep < 3 * REPORT_LOG_TAIL_BYTES / k;
			    rep++) {
				both_add(&t, &r, chars[i], k);
				if (rep % 1499 == 0)
					check_tail(&t, &r, 1);
			}
			check_tail(&t, &r, 1);
			report_logtail_get(&t, &p, &n);
			assert_in_range(n, REPORT_LOG_TAIL_BYTES - 3,
			    REPORT_LOG_TAIL_BYTES);
			assert_true(((unsigned char)p[0] & 0xC0) != 0x80);
			report_logtail_free(&t);
			free(r.s);
		}
	}
}

/* An uncut log is handed out whole, even if it starts oddly. */
static void
test_logtail_uncut(void **state)
{
	struct report_logtail t;
	const char *p;
	size_t n;

	(void)state;
	report_logtail_init(&t, 16);
	report_logtail_append(&t, "\x9f\x9a\x80ok\n", 6);
	report_logtail_get(&t, &p, &n);
	assert_int_equal(n, 6);
	assert_memory_equal(p, "\x9f\x9a\x80ok\n", 6);
	report_logtail_free(&t);
}

/* The tail feeds the setup report as is. */
static void
test_logtail_into_setup(void **state)
{
	struct report_identity id = test_identity();
	struct report_setup s = test_setup(STATUS_SETUP_READY);
	struct report_logtail t;
	struct ref r = { NULL, 0, 0 };
	static const char line[] = "Schritt \xe2\x86\x92 gr\xc3\xb6\xc3\x9f"
	    "er \xf0\x9f\x9a\x80";
	const char *logs;
	char *want;
	cJSON *body;
	int i;

	(void)state;
	report_logtail_init(&t, REPORT_LOG_TAIL_BYTES);
	for (i = 0; i < 3000; i++) {
		both_add(&t, &r, line, sizeof line - 1);
		both_add(&t, &r, "\n", 1);
	}
	report_logtail_get(&t, &s.logs, &s.logs_len);
	want = xstrndup(s.logs, s.logs_len);
	body = json_reparse(report_setup_run(&id, &test_clock, &s));
	logs = json_string(body, "logs");
	assert_int_equal(strlen(logs), s.logs_len);
	assert_string_equal(logs, want);
	assert_true(s.logs_len <= REPORT_LOG_TAIL_BYTES);
	assert_true(utf8_valid((const unsigned char *)logs, strlen(logs)));
	cJSON_Delete(body);
	free(want);
	report_logtail_free(&t);
	free(r.s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_time_format_known),
		cmocka_unit_test(test_time_format_negative),
		cmocka_unit_test(test_time_format_clamps),
		cmocka_unit_test(test_time_format_matches_gmtime),
		cmocka_unit_test(test_time_roundtrip),
		cmocka_unit_test(test_time_parse_leap_years),
		cmocka_unit_test(test_time_parse_offsets),
		cmocka_unit_test(test_time_parse_fractions),
		cmocka_unit_test(test_time_parse_leap_second),
		cmocka_unit_test(test_time_parse_garbage),
		cmocka_unit_test(test_time_clocks),
		cmocka_unit_test(test_round_known),
		cmocka_unit_test(test_round_exhaustive),
		cmocka_unit_test(test_round_inconsistent),
		cmocka_unit_test(test_clock_wall_ms),
		cmocka_unit_test(test_interval_contiguity),
		cmocka_unit_test(test_instance_state_fields),
		cmocka_unit_test(test_instance_state_final_and_states),
		cmocka_unit_test(test_instance_state_zero_duration),
		cmocka_unit_test(test_instance_state_rounding),
		cmocka_unit_test(test_instance_state_metadata),
		cmocka_unit_test(test_setup_fields),
		cmocka_unit_test(test_setup_scheduled),
		cmocka_unit_test(test_setup_logs),
		cmocka_unit_test(test_setup_duration),
		cmocka_unit_test(test_logtail_empty),
		cmocka_unit_test(test_logtail_keeps_limit),
		cmocka_unit_test(test_logtail_small_appends),
		cmocka_unit_test(test_logtail_big_append),
		cmocka_unit_test(test_logtail_random),
		cmocka_unit_test(test_logtail_utf8_cut),
		cmocka_unit_test(test_logtail_utf8_stream),
		cmocka_unit_test(test_logtail_uncut),
		cmocka_unit_test(test_logtail_into_setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
