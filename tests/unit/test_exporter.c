/*
 * test_exporter -- every SPEC 5 family is registered with its exact name
 * and labels, and the engine feeds it: duration histograms through the
 * hooks (stop, disconnect abort, timeout), exact integrals at the scrape
 * instant, the rolling figures, downloads by host.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "engine.h"
#include "exporter.h"

#define MS 1000000ull
#define S 1000000000ull

static void
on_started(void *arg, uint64_t queued_ns)
{
	exporter_prediction_started(arg, queued_ns);
}

static void
on_stopped(void *arg, const struct predictions_info *info, uint64_t now_ns)
{
	exporter_prediction_stopped(arg, info, now_ns);
}

struct fixture {
	struct engine e;
	struct exporter x;
	struct engine_conn a;
	struct buf out;
};

static struct fixture *
fixture_new(void)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct engine_options o = { 10 * S, 60 * S, 100, 1 };
	struct engine_hooks h = { NULL, NULL, NULL, NULL, on_started,
		on_stopped };
	struct report_clock clock = { 0, 1700000000000 };

	h.arg = &f->x;
	exporter_init(&f->x, 0, "1.2.3");
	engine_init(&f->e, 0, &clock, "run", &o, &h);
	engine_conn_open(&f->e, &f->a);
	buf_init(&f->out);
	return f;
}

static void
fixture_free(struct fixture *f)
{
	engine_free(&f->e);
	exporter_free(&f->x);
	buf_free(&f->out);
	free(f);
}

static void
run(struct fixture *f, uint64_t t, const char *line)
{
	struct protocol_command cmd;

	protocol_line_parse(line, strlen(line), &cmd);
	engine_exec(&f->e, &f->a, &cmd, t, &f->out);
}

static char *
scrape(struct fixture *f, uint64_t t)
{
	struct delivery_counters rep;
	struct buf b;
	char *s;

	memset(&rep, 0, sizeof rep);
	rep.total[REPORTER_INSTANCE_STATE][DELIVERY_DELIVERED] = 7;
	rep.pending = 2;
	exporter_refresh(&f->x, &f->e, &rep, 2, t);
	buf_init(&b);
	metrics_render(&f->x.registry, METRICS_TEXT_004, &b);
	s = strndup(buf_head(&b), buf_pending(&b));
	buf_free(&b);
	return s;
}

static void
has(const char *text, const char *line)
{
	char want[512];

	snprintf(want, sizeof want, "\n%s\n", line);
	if (strstr(text, want) == NULL)
		fail_msg("expected the line \"%s\" in:\n%s", line, text);
}

static void
test_every_spec_family(void **state)
{
	static const char *const types[] = {
		"podpulse_state gauge", "podpulse_concurrency gauge",
		"podpulse_pending gauge",
		"podpulse_state_seconds_total counter",
		"podpulse_concurrency_seconds_total counter",
		"podpulse_predictions_total counter",
		"podpulse_prediction_duration_seconds histogram",
		"podpulse_queue_duration_seconds histogram",
		"podpulse_protocol_errors_total counter",
		"podpulse_connections gauge", "podpulse_reports_total counter",
		"podpulse_reports_pending gauge",
		"podpulse_setup_duration_seconds gauge",
		"podpulse_full_fraction gauge", "podpulse_mean_pending gauge",
		"podpulse_downloads_total counter",
		"podpulse_download_bytes_total counter",
		"podpulse_download_errors_total counter",
		"podpulse_build_info gauge", NULL };
	struct fixture *f = fixture_new();
	char *t = scrape(f, 0), line[128];
	size_t i;

	for (i = 0; types[i] != NULL; i++) {
		snprintf(line, sizeof line, "# TYPE %s", types[i]);
		has(t, line);
	}
	has(t, "podpulse_build_info{version=\"1.2.3\"} 1");
	has(t, "podpulse_state{state=\"boot\"} 1");
	has(t, "podpulse_predictions_total{status=\"started\"} 0");
	has(t, "podpulse_protocol_errors_total{reason=\"line-too-long\"} 0");
	has(t, "podpulse_reports_total{kind=\"instance_state\",outcome="
	    "\"delivered\"} 7");
	has(t, "podpulse_reports_total{kind=\"setup_run\",outcome="
	    "\"retried\"} 0");
	has(t, "podpulse_reports_pending 2");
	free(t);
	fixture_free(f);
}

static void
test_fed_by_the_engine(void **state)
{
	struct fixture *f = fixture_new();
	struct intake_event ev;
	char *t;

	run(f, 1 * S, "setup done ready");
	run(f, 2 * S, "enqueue q");
	run(f, 2 * S + 30 * MS, "start q");		/* queued 30 ms */
	run(f, 2 * S + 40 * MS, "enqueue z");
	run(f, 2 * S + 40 * MS, "start z");	/* one read: queued 0 s */
	run(f, 2 * S + 41 * MS, "stop z succeeded");	/* 1 ms */
	run(f, 3 * S, "start p");
	run(f, 3 * S + 3 * MS, "stop p succeeded");	/* 3 ms */
	run(f, 4 * S, "start r");
	engine_reap(&f->e, 70 * S);			/* q, r: timeout */
	run(f, 80 * S, "start s");
	engine_conn_close(&f->e, &f->a, 80 * S + 400 * MS);	/* 0.4 s */
	exporter_sample(&f->x, &f->e, 2, 80 * S + 400 * MS);
	memset(&ev, 0, sizeof ev);
	snprintf(ev.source, sizeof ev.source, "pget");
	snprintf(ev.type, sizeof ev.type, "download");
	snprintf(ev.host, sizeof ev.host, "hf.co");
	ev.download = 1;
	ev.size = 100;
	exporter_intake(&f->x, &ev);
	ev.failed = 1;
	exporter_intake(&f->x, &ev);

	t = scrape(f, 90 * S);
	/* z waited 0 s and counts: enqueued and started in one read. */
	has(t, "podpulse_queue_duration_seconds_bucket{le=\"0.005\"} 1");
	has(t, "podpulse_queue_duration_seconds_bucket{le=\"0.02\"} 1");
	has(t, "podpulse_queue_duration_seconds_bucket{le=\"0.05\"} 2");
	has(t, "podpulse_queue_duration_seconds_count 2");
	has(t, "podpulse_prediction_duration_seconds_bucket{le=\"0.005\"} 2");
	has(t, "podpulse_prediction_duration_seconds_bucket{le=\"0.5\"} 3");
	has(t, "podpulse_prediction_duration_seconds_bucket{le=\"60\"} 3");
	has(t, "podpulse_prediction_duration_seconds_bucket{le=\"120\"} 5");
	has(t, "podpulse_prediction_duration_seconds_count 5");
	has(t, "podpulse_predictions_total{status=\"started\"} 5");
	has(t, "podpulse_predictions_total{status=\"succeeded\"} 2");
	has(t, "podpulse_predictions_total{status=\"aborted\"} 3");
	/* Boot 1 s; active 2.03..70 and 80..80.4; idle the rest up to 90. */
	has(t, "podpulse_state_seconds_total{state=\"boot\"} 1");
	has(t, "podpulse_state_seconds_total{state=\"active\"} 68.37");
	has(t, "podpulse_state_seconds_total{state=\"idle\"} 20.63");
	has(t, "podpulse_setup_duration_seconds 1");
	has(t, "podpulse_state{state=\"idle\"} 1");
	has(t, "podpulse_connections 0");
	has(t, "podpulse_downloads_total{host=\"hf.co\"} 2");
	has(t, "podpulse_download_bytes_total{host=\"hf.co\"} 100");
	has(t, "podpulse_download_errors_total{host=\"hf.co\"} 1");
	has(t, "podpulse_metrics_intake_total{source=\"pget\",type="
	    "\"download\"} 2");
	free(t);
	fixture_free(f);
}

static void
test_rolling_at_max(void **state)
{
	struct fixture *f = fixture_new();
	uint64_t i;
	char *t;

	run(f, 0, "start a");
	run(f, 0, "start b");
	run(f, 0, "enqueue c");
	for (i = 0; i < 10; i++)
		exporter_sample(&f->x, &f->e, 2, i * 500 * MS);
	run(f, 5 * S, "stop b succeeded");
	for (i = 10; i < 20; i++)
		exporter_sample(&f->x, &f->e, 2, i * 500 * MS);
	t = scrape(f, 10 * S);
	has(t, "podpulse_full_fraction 0.5");
	has(t, "podpulse_mean_pending 1");
	free(t);
	/* Without monitor.max_concurrency the fraction stays 0. */
	exporter_refresh(&f->x, &f->e, &(struct delivery_counters){ 0 }, 0,
	    10 * S);
	assert_true(metrics_series_get0(f->x.full_fraction)->value == 0);
	fixture_free(f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_spec_family),
		cmocka_unit_test(test_fed_by_the_engine),
		cmocka_unit_test(test_rolling_at_max),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
