/*
 * exporter -- podpulse's metric families (SPEC 5) and what feeds them.
 *
 * A pure core on top of `metrics`: it owns the registry, registers every
 * family of the contract in a fixed order, and is fed three ways:
 *
 *   - events as they happen: prediction started / stopped (the duration
 *     histograms), download envelopes (the per-host counters), intake
 *     and HTTP refusals;
 *   - samples every ROLLING_PERIOD_NS for the rolling 5-minute figures;
 *   - a refresh just before each scrape, which copies the gauges and the
 *     counters that live elsewhere (the monitor's exact integrals, the
 *     engine's error counts, the reporter's outcomes) at that instant.
 *
 * Nothing here reads a clock: every time is an argument. Later modules
 * (the Redis autoscaler gauges) add their families to `registry` with
 * metrics_family_add(); they are rendered after these.
 */
#ifndef PODPULSE_EXPORTER_H
#define PODPULSE_EXPORTER_H

#include <stdint.h>

#include "delivery.h"
#include "engine.h"
#include "intake.h"
#include "metrics.h"
#include "rolling.h"

#define EXPORTER_HOSTS_MAX 100	/* distinct download hosts */
#define EXPORTER_SOURCES_MAX 32 /* distinct (source, type) pairs */

/* Why the HTTP endpoint refused a request (podpulse_http_rejected_total). */
#define EXPORTER_REJECT_LIST(X) \
	X(NOT_FOUND, "not_found") \
	X(METHOD, "method_not_allowed") \
	X(TOO_LARGE, "too_large") \
	X(HEAD_TIMEOUT, "head_timeout") \
	X(RATE_LIMITED, "rate_limited") \
	X(INVALID, "invalid")

enum exporter_reject {
#define X(e, s) EXPORTER_REJECT_##e,
	EXPORTER_REJECT_LIST(X)
#undef X
	    EXPORTER_REJECT_COUNT
};


struct exporter {
	struct metrics_registry registry;
	struct rolling rolling;
	struct metrics_family *state, *concurrency, *pending, *state_seconds,
	    *concurrency_seconds, *predictions, *prediction_duration,
	    *queue_duration, *protocol_errors, *connections, *reports,
	    *reports_pending, *setup_duration, *full_fraction, *mean_pending,
	    *downloads, *download_bytes, *download_errors, *intake, *rejected,
	    *reads_paused, *build_info;
};

void exporter_init(struct exporter *x, uint64_t now_ns, const char *version);
void exporter_free(struct exporter *x);

void exporter_prediction_started(struct exporter *x, uint64_t queued_ns);
void exporter_prediction_stopped(struct exporter *x,
    const struct predictions_info *info, uint64_t now_ns);

/* An accepted envelope: counted by source and type, downloads by host. */
void exporter_intake(struct exporter *x, const struct intake_event *ev);
void exporter_reject(struct exporter *x, enum exporter_reject why);

/* max_concurrency: 0 when not configured (the full fraction stays 0). */
void exporter_sample(struct exporter *x, const struct engine *e,
    uint64_t max_concurrency, uint64_t now_ns);

/* Copy the instant's values in; then render x->registry. */
void exporter_refresh(struct exporter *x, const struct engine *e,
    const struct delivery_counters *reports, uint64_t max_concurrency,
    uint64_t now_ns);

#endif
