/*
 * test_metrics -- the registry and both exposition formats: names and
 * suffixes, escaping, label and series order, histogram buckets, numbers,
 * the series cap, and the Accept header.
 */
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "metrics.h"

static char *
render(const struct metrics_registry *r, enum metrics_format f)
{
	struct buf b;
	char *s;

	buf_init(&b);
	metrics_render(r, f, &b);
	s = strndup(buf_head(&b), buf_pending(&b));
	buf_free(&b);
	return s;
}

static void
expect_text(const struct metrics_registry *r, enum metrics_format f,
    const char *want)
{
	char *got = render(r, f);

	if (strcmp(got, want) != 0)
		fail_msg("expected:\n%s\ngot:\n%s", want, got);
	free(got);
}

static const char *const state_label[] = { "state", NULL };

static void
test_counter_gauge_both_formats(void **state)
{
	struct metrics_registry r;
	struct metrics_family *c, *g;
	struct metrics_family_spec cs = { METRICS_COUNTER,
		"podpulse_state_seconds", "Seconds in each state.", "seconds",
		state_label, NULL, 0, 0 };
	struct metrics_family_spec gs = { METRICS_GAUGE, "podpulse_pending",
		"Pending predictions.", NULL, NULL, NULL, 0, 0 };

	metrics_init(&r);
	c = metrics_family_add(&r, &cs);
	g = metrics_family_add(&r, &gs);
	assert_non_null(c);
	assert_non_null(g);
	/* Inserted out of order: printed sorted. */
	metrics_add(metrics_series_get1(c, "idle"), 2.5);
	metrics_add(metrics_series_get1(c, "active"), 0.1);
	metrics_add(metrics_series_get1(c, "boot"), 1);
	metrics_add(metrics_series_get1(c, "boot"), 1);
	metrics_set(metrics_series_get0(g), 3);
	expect_text(&r, METRICS_TEXT_004,
	    "# HELP podpulse_state_seconds_total Seconds in each state.\n"
	    "# TYPE podpulse_state_seconds_total counter\n"
	    "podpulse_state_seconds_total{state=\"active\"} 0.1\n"
	    "podpulse_state_seconds_total{state=\"boot\"} 2\n"
	    "podpulse_state_seconds_total{state=\"idle\"} 2.5\n"
	    "# HELP podpulse_pending Pending predictions.\n"
	    "# TYPE podpulse_pending gauge\n"
	    "podpulse_pending 3\n");
	expect_text(&r, METRICS_OPENMETRICS,
	    "# HELP podpulse_state_seconds Seconds in each state.\n"
	    "# TYPE podpulse_state_seconds counter\n"
	    "# UNIT podpulse_state_seconds seconds\n"
	    "podpulse_state_seconds_total{state=\"active\"} 0.1\n"
	    "podpulse_state_seconds_total{state=\"boot\"} 2\n"
	    "podpulse_state_seconds_total{state=\"idle\"} 2.5\n"
	    "# HELP podpulse_pending Pending predictions.\n"
	    "# TYPE podpulse_pending gauge\n"
	    "podpulse_pending 3\n"
	    "# EOF\n");
	metrics_free(&r);
}

static void
test_escaping_and_label_order(void **state)
{
	static const char *const labels[] = { "kind", "outcome", NULL };
	struct metrics_registry r;
	struct metrics_family *f;
	struct metrics_family_spec s = { METRICS_COUNTER, "t_reports",
		"Help with \\ and\nnewline.", NULL, labels, NULL, 0, 0 };
	const char *v1[] = { "b", "x" }, *v2[] = { "a", "z" },
	    *v3[] = { "a", "y\\\"\n" };

	metrics_init(&r);
	f = metrics_family_add(&r, &s);
	metrics_add(metrics_series_get(f, v1), 1);
	metrics_add(metrics_series_get(f, v2), 2);
	metrics_add(metrics_series_get(f, v3), 3);
	expect_text(&r, METRICS_TEXT_004,
	    "# HELP t_reports_total Help with \\\\ and\\nnewline.\n"
	    "# TYPE t_reports_total counter\n"
	    "t_reports_total{kind=\"a\",outcome=\"y\\\\\\\"\\n\"} 3\n"
	    "t_reports_total{kind=\"a\",outcome=\"z\"} 2\n"
	    "t_reports_total{kind=\"b\",outcome=\"x\"} 1\n");
	metrics_free(&r);
}

static const double buckets[] = { 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5,
	1, 2, 5, 10, 30, 60, 120, 300 };

static void
test_histogram(void **state)
{
	struct metrics_registry r;
	struct metrics_family *f;
	struct metrics_series *s;
	struct metrics_family_spec spec = { METRICS_HISTOGRAM,
		"t_duration_seconds", "D.", "seconds", NULL, buckets, 3, 0 };
	double obs[] = { 0.001, 0.005, 0.0051, 0.02, 7 };
	size_t i;

	metrics_init(&r);
	f = metrics_family_add(&r, &spec);
	s = metrics_series_get0(f);
	for (i = 0; i < 5; i++)
		metrics_observe(f, s, obs[i]);
	/* Cumulative; 0.005 lands in le=0.005 (upper bounds are inclusive). */
	expect_text(&r, METRICS_TEXT_004,
	    "# HELP t_duration_seconds D.\n"
	    "# TYPE t_duration_seconds histogram\n"
	    "t_duration_seconds_bucket{le=\"0.005\"} 2\n"
	    "t_duration_seconds_bucket{le=\"0.01\"} 3\n"
	    "t_duration_seconds_bucket{le=\"0.02\"} 4\n"
	    "t_duration_seconds_bucket{le=\"+Inf\"} 5\n"
	    "t_duration_seconds_sum 7.0311\n"
	    "t_duration_seconds_count 5\n");
	metrics_free(&r);

	/* All 15 SPEC buckets, OpenMetrics canonical floats for le. */
	metrics_init(&r);
	spec.nbuckets = 15;
	f = metrics_family_add(&r, &spec);
	metrics_observe(f, metrics_series_get0(f), 301);
	{
		char *t = render(&r, METRICS_OPENMETRICS);

		assert_non_null(strstr(t, "# UNIT t_duration_seconds seconds\n"));
		assert_non_null(strstr(t, "_bucket{le=\"1.0\"} 0\n"));
		assert_non_null(strstr(t, "_bucket{le=\"300.0\"} 0\n"));
		assert_non_null(strstr(t, "_bucket{le=\"+Inf\"} 1\n"));
		assert_non_null(strstr(t, "t_duration_seconds_count 1\n"));
		assert_non_null(strstr(t, "# EOF\n"));
		free(t);
	}
	metrics_free(&r);
}

static void
test_invalid_specs(void **state)
{
	struct metrics_registry r;
	struct metrics_family_spec s = { METRICS_COUNTER, "x_total", "h.",
		NULL, NULL, NULL, 0, 0 };
	const double bad[] = { 1, 0.5 };

	metrics_init(&r);
	assert_null(metrics_family_add(&r, &s));	/* counter with _total */
	s.name = "x_bytes";
	s.unit = "seconds";				/* unit not the suffix */
	assert_null(metrics_family_add(&r, &s));
	s.type = METRICS_HISTOGRAM;
	s.unit = NULL;
	s.buckets = bad;
	s.nbuckets = 2;					/* not ascending */
	assert_null(metrics_family_add(&r, &s));
	assert_int_equal(r.len, 0);
	metrics_free(&r);
}

static void
test_series_cap_and_numbers(void **state)
{
	static const char *const host[] = { "host", NULL };
	struct metrics_registry r;
	struct metrics_family *f;
	struct metrics_family_spec s = { METRICS_GAUGE, "t_g", "G.", NULL,
		host, NULL, 0, 2 };

	metrics_init(&r);
	f = metrics_family_add(&r, &s);
	metrics_set(metrics_series_get1(f, "a"), 1e21);
	metrics_set(metrics_series_get1(f, "b"), NAN);
	metrics_add(metrics_series_get1(f, "c"), 1);
	metrics_add(metrics_series_get1(f, "d"), 1);
	metrics_set(metrics_series_get1(f, "a"), -INFINITY);
	assert_int_equal(f->nseries, 3);
	expect_text(&r, METRICS_TEXT_004,
	    "# HELP t_g G.\n# TYPE t_g gauge\n"
	    "t_g{host=\"_other\"} 2\n"
	    "t_g{host=\"a\"} -Inf\n"
	    "t_g{host=\"b\"} NaN\n");
	metrics_family_clear(f);
	metrics_set(metrics_series_get1(f, "z"), 0.1 + 0.2);
	expect_text(&r, METRICS_TEXT_004,
	    "# HELP t_g G.\n# TYPE t_g gauge\n"
	    "t_g{host=\"z\"} 0.30000000000000004\n");
	metrics_free(&r);
}

static void
test_accept(void **state)
{
	assert_int_equal(metrics_format_from_accept(NULL), METRICS_TEXT_004);
	assert_int_equal(metrics_format_from_accept("text/plain"),
	    METRICS_TEXT_004);
	assert_int_equal(metrics_format_from_accept(
	    "application/openmetrics-text;version=1.0.0,text/plain;"
	    "version=0.0.4;q=0.5,*/*;q=0.1"), METRICS_OPENMETRICS);
	assert_int_equal(metrics_format_from_accept(
	    "text/plain, application/OpenMetrics-Text"), METRICS_OPENMETRICS);
	assert_int_equal(metrics_format_from_accept(
	    "x-application/openmetrics-text"), METRICS_TEXT_004);
	/* q=0 means "not this one". */
	assert_int_equal(metrics_format_from_accept(
	    "application/openmetrics-text; q=0, text/plain"), METRICS_TEXT_004);
	assert_int_equal(metrics_format_from_accept(
	    "application/openmetrics-text;version=1.0.0;q=0.0,text/plain"),
	    METRICS_TEXT_004);
	assert_int_equal(metrics_format_from_accept(
	    "application/openmetrics-text;q=0.1,text/plain;q=0"),
	    METRICS_OPENMETRICS);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_counter_gauge_both_formats),
		cmocka_unit_test(test_escaping_and_label_order),
		cmocka_unit_test(test_histogram),
		cmocka_unit_test(test_invalid_specs),
		cmocka_unit_test(test_series_cap_and_numbers),
		cmocka_unit_test(test_accept),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
