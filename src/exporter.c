/*
 * exporter -- the families of SPEC 5 and their feeding; see exporter.h.
 *
 * The families are one table (type, name, help, unit, labels, buckets,
 * series cap), registered in table order, so the exposition order is the
 * table's. Series whose label values are a fixed set (states, statuses,
 * reasons, kinds x outcomes) are created at init, so a scrape shows zeros
 * rather than missing series.
 */
#include "exporter.h"

#include <stddef.h>
#include <string.h>

#include "protocol.h"
#include "status.h"

static const double exporter_buckets[] = { 0.005, 0.01, 0.02, 0.05, 0.1, 0.25,
	0.5, 1, 2, 5, 10, 30, 60, 120, 300 };
#define EXPORTER_NBUCKETS (sizeof exporter_buckets / sizeof exporter_buckets[0])

static const char *const l_state[] = { "state", NULL };
static const char *const l_status[] = { "status", NULL };
static const char *const l_reason[] = { "reason", NULL };
static const char *const l_report[] = { "kind", "outcome", NULL };
static const char *const l_host[] = { "host", NULL };
static const char *const l_intake[] = { "source", "type", NULL };
static const char *const l_version[] = { "version", NULL };

static const char *const exporter_reject_names[] = {
#define X(e, s) s,
	EXPORTER_REJECT_LIST(X)
#undef X
};

#define C METRICS_COUNTER
#define G METRICS_GAUGE
#define H METRICS_HISTOGRAM
#define F(field) offsetof(struct exporter, field)

static const struct exporter_row {
	size_t field;
	struct metrics_family_spec spec;
} exporter_rows[] = {
	{ F(state),
	    { G, "podpulse_state",
		"1 for the current activity state (boot, idle, active), 0 for "
		"the others.",
		NULL, l_state, NULL, 0, 0 } },
	{ F(concurrency),
	    { G, "podpulse_concurrency", "Predictions in flight now.", NULL,
		NULL, NULL, 0, 0 } },
	{ F(pending),
	    { G, "podpulse_pending",
		"Predictions enqueued and not yet started.", NULL, NULL, NULL,
		0, 0 } },
	{ F(state_seconds),
	    { C, "podpulse_state_seconds",
		"Seconds spent in each state since start; its rate for active "
		"is the utilization.",
		"seconds", l_state, NULL, 0, 0 } },
	{ F(concurrency_seconds),
	    { C, "podpulse_concurrency_seconds",
		"Integral of the concurrency over time; its rate is the mean "
		"concurrency.",
		"seconds", NULL, NULL, 0, 0 } },
	{ F(predictions),
	    { C, "podpulse_predictions",
		"Predictions started, and ended by status.", NULL, l_status,
		NULL, 0, 0 } },
	{ F(prediction_duration),
	    { H, "podpulse_prediction_duration_seconds",
		"Time from start to stop of each prediction.", "seconds", NULL,
		exporter_buckets, EXPORTER_NBUCKETS, 0 } },
	{ F(queue_duration),
	    { H, "podpulse_queue_duration_seconds",
		"Time from enqueue to start of each enqueued prediction.",
		"seconds", NULL, exporter_buckets, EXPORTER_NBUCKETS, 0 } },
	{ F(protocol_errors),
	    { C, "podpulse_protocol_errors",
		"Socket protocol errors by reason.", NULL, l_reason, NULL, 0,
		0 } },
	{ F(connections),
	    { G, "podpulse_connections", "Open connections on the Unix socket.",
		NULL, NULL, NULL, 0, 0 } },
	{ F(reads_paused),
	    { C, "podpulse_socket_reads_paused",
		"Times reading from a socket client stopped because its unsent "
		"replies passed socket.max_reply_buffer.",
		NULL, NULL, NULL, 0, 0 } },
	{ F(reports),
	    { C, "podpulse_reports", "Reports by kind and outcome.", NULL,
		l_report, NULL, 0, 0 } },
	{ F(reports_pending),
	    { G, "podpulse_reports_pending", "Reports not yet delivered.", NULL,
		NULL, NULL, 0, 0 } },
	{ F(setup_duration),
	    { G, "podpulse_setup_duration_seconds",
		"Setup duration: so far while it runs, final once it ended.",
		"seconds", NULL, NULL, 0, 0 } },
	{ F(full_fraction),
	    { G, "podpulse_full_fraction",
		"Fraction of the last 5 minutes at monitor.max_concurrency (0 "
		"when unset).",
		NULL, NULL, NULL, 0, 0 } },
	{ F(mean_pending),
	    { G, "podpulse_mean_pending",
		"Mean number of pending predictions over the last 5 minutes.",
		NULL, NULL, NULL, 0, 0 } },
	{ F(downloads),
	    { C, "podpulse_downloads",
		"Model downloads reported to POST /metrics, by host.", NULL,
		l_host, NULL, 0, EXPORTER_HOSTS_MAX } },
	{ F(download_bytes),
	    { C, "podpulse_download_bytes",
		"Bytes of the successful model downloads, by host.", "bytes",
		l_host, NULL, 0, EXPORTER_HOSTS_MAX } },
	{ F(download_errors),
	    { C, "podpulse_download_errors",
		"Model downloads that failed, by host.", NULL, l_host, NULL, 0,
		EXPORTER_HOSTS_MAX } },
	{ F(intake),
	    { C, "podpulse_metrics_intake",
		"Envelopes accepted by POST /metrics, by source and type.",
		NULL, l_intake, NULL, 0, EXPORTER_SOURCES_MAX } },
	{ F(rejected),
	    { C, "podpulse_http_rejected", "HTTP requests refused, by reason.",
		NULL, l_reason, NULL, 0, 0 } },
	{ F(build_info),
	    { G, "podpulse_build_info",
		"Always 1; the version label says which podpulse runs.", NULL,
		l_version, NULL, 0, 0 } },
};

#undef C
#undef G
#undef H
#undef F

static struct metrics_family **
exporter_field(struct exporter *x, size_t offset)
{
	return (struct metrics_family **)((char *)x + offset);
}

static void
exporter_fixed_series(struct exporter *x, const char *version)
{
	const char *v[2];
	int i, k;

	for (i = 0; i < STATUS_STATE_COUNT; i++) {
		metrics_series_get1(x->state, status_state_name(i));
		metrics_series_get1(x->state_seconds, status_state_name(i));
	}
	for (i = 0; i < STATUS_PREDICTION_COUNT; i++)
		metrics_series_get1(x->predictions, status_prediction_name(i));
	metrics_series_get1(x->predictions, "started");
	for (i = 1; i < PROTOCOL_ERROR_COUNT; i++)
		metrics_series_get1(x->protocol_errors, protocol_error_name(i));
	for (k = 0; k < REPORTER_KINDS; k++) {
		for (i = 0; i < DELIVERY_OUTCOMES; i++) {
			v[0] = delivery_kind_name(k);
			v[1] = delivery_outcome_name(i);
			metrics_series_get(x->reports, v);
		}
	}
	for (i = 0; i < EXPORTER_REJECT_COUNT; i++)
		metrics_series_get1(x->rejected, exporter_reject_names[i]);
	metrics_series_get0(x->prediction_duration);
	metrics_series_get0(x->queue_duration);
	metrics_set(metrics_series_get1(x->build_info, version), 1);
}

void
exporter_init(struct exporter *x, uint64_t now_ns, const char *version)
{
	size_t i;

	memset(x, 0, sizeof(*x));
	metrics_init(&x->registry);
	rolling_init(&x->rolling, now_ns);
	for (i = 0; i < sizeof exporter_rows / sizeof exporter_rows[0]; i++)
		*exporter_field(x,
		    exporter_rows[i].field) = metrics_family_add(&x->registry,
		    &exporter_rows[i].spec);
	exporter_fixed_series(x, version);
}

void
exporter_free(struct exporter *x)
{
	metrics_free(&x->registry);
}

void
exporter_prediction_started(struct exporter *x, uint64_t queued_ns)
{
	if (queued_ns != PREDICTIONS_NEVER_QUEUED)
		metrics_observe(x->queue_duration,
		    metrics_series_get0(x->queue_duration),
		    (double)queued_ns / 1e9);
}

void
exporter_prediction_stopped(struct exporter *x,
    const struct predictions_info *info, uint64_t now_ns)
{
	if (!info->running || info->start_ns == 0 || now_ns < info->start_ns)
		return;
	metrics_observe(x->prediction_duration,
	    metrics_series_get0(x->prediction_duration),
	    (double)(now_ns - info->start_ns) / 1e9);
}

void
exporter_intake(struct exporter *x, const struct intake_event *ev)
{
	const char *v[2] = { ev->source[0] != '\0' ? ev->source : "unknown",
		ev->type };

	metrics_add(metrics_series_get(x->intake, v), 1);
	if (!ev->download)
		return;
	metrics_add(metrics_series_get1(x->downloads, ev->host), 1);
	/* Series of all three exist for every host that was seen. */
	metrics_add(metrics_series_get1(x->download_errors, ev->host),
	    ev->failed ? 1 : 0);
	metrics_add(metrics_series_get1(x->download_bytes, ev->host),
	    !ev->failed && ev->size > 0 ? ev->size : 0);
}

void
exporter_reject(struct exporter *x, enum exporter_reject why)
{
	metrics_add(metrics_series_get1(x->rejected,
			exporter_reject_names[why]),
	    1);
}

void
exporter_sample(struct exporter *x, const struct engine *e,
    uint64_t max_concurrency, uint64_t now_ns)
{
	rolling_sample(&x->rolling, now_ns,
	    (uint32_t)predictions_pending(&e->predictions),
	    max_concurrency > 0 && e->monitor.level >= max_concurrency);
}

static double
exporter_setup_seconds(const struct monitor *m, uint64_t now_ns)
{
	uint64_t start, end;

	start = m->setup_started_ns != 0 ? m->setup_started_ns : m->origin_ns;
	end = m->setup_completed_ns != 0 ? m->setup_completed_ns : now_ns;
	return end > start ? (double)(end - start) / 1e9 : 0;
}

static void
exporter_refresh_monitor(struct exporter *x, const struct engine *e,
    uint64_t now_ns)
{
	const struct monitor *m = &e->monitor;
	double state_s[STATUS_STATE_COUNT], level_s;
	enum status_state cur = monitor_state(m);
	int i;

	monitor_totals(m, now_ns, state_s, &level_s);
	for (i = 0; i < STATUS_STATE_COUNT; i++) {
		metrics_set(metrics_series_get1(x->state, status_state_name(i)),
		    i == (int)cur);
		metrics_set(metrics_series_get1(x->state_seconds,
				status_state_name(i)),
		    state_s[i]);
	}
	metrics_set(metrics_series_get0(x->concurrency_seconds), level_s);
	for (i = 0; i < STATUS_PREDICTION_COUNT; i++)
		metrics_set(metrics_series_get1(x->predictions,
				status_prediction_name(i)),
		    (double)m->total_counts[i]);
	metrics_set(metrics_series_get1(x->predictions, "started"),
	    (double)m->total_counts[MONITOR_COUNT_STARTED]);
	metrics_set(metrics_series_get0(x->concurrency), m->level);
	metrics_set(metrics_series_get0(x->setup_duration),
	    exporter_setup_seconds(m, now_ns));
}

void
exporter_refresh(struct exporter *x, const struct engine *e,
    const struct delivery_counters *reports, uint64_t max_concurrency,
    uint64_t now_ns)
{
	const char *v[2];
	int i, k;

	exporter_refresh_monitor(x, e, now_ns);
	metrics_set(metrics_series_get0(x->pending),
	    (double)predictions_pending(&e->predictions));
	metrics_set(metrics_series_get0(x->connections),
	    (double)e->connections);
	metrics_set(metrics_series_get0(x->reads_paused),
	    (double)e->reply_pauses);
	for (i = 1; i < PROTOCOL_ERROR_COUNT; i++)
		metrics_set(metrics_series_get1(x->protocol_errors,
				protocol_error_name(i)),
		    (double)e->errors[i]);
	for (k = 0; k < REPORTER_KINDS; k++) {
		for (i = 0; i < DELIVERY_OUTCOMES; i++) {
			v[0] = delivery_kind_name(k);
			v[1] = delivery_outcome_name(i);
			metrics_set(metrics_series_get(x->reports, v),
			    (double)reports->total[k][i]);
		}
	}
	metrics_set(metrics_series_get0(x->reports_pending),
	    (double)reports->pending);
	metrics_set(metrics_series_get0(x->full_fraction),
	    max_concurrency > 0 ? rolling_full_fraction(&x->rolling) : 0);
	metrics_set(metrics_series_get0(x->mean_pending),
	    rolling_mean_pending(&x->rolling));
}
