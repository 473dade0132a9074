/*
 * metrics -- a registry of counters, gauges and histograms with labels,
 * and its exposition as Prometheus text 0.0.4 or OpenMetrics 1.0.
 *
 * A pure core: no I/O, no clock. The shell registers families once,
 * updates their series as events happen (or sets mirrored values just
 * before a scrape) and asks for the text.
 *
 * Naming: a family is registered under its OpenMetrics name; a counter's
 * name does not end in _total (its samples get the suffix in both
 * formats, the 0.0.4 HELP and TYPE lines name it with the suffix). A unit,
 * when given, must be the name's last word; it is written as # UNIT in
 * OpenMetrics only.
 *
 * Order is stable: families in registration order, series sorted by their
 * label values (compared label by label), labels in registration order.
 * Label values are escaped (\\ \" \n); numbers print in the shortest form
 * that reads back exactly, +Inf/-Inf/NaN as the formats spell them.
 *
 * Bounded: a family holds at most its max_series; a new label set beyond
 * that is folded into the series whose every label is METRICS_OVERFLOW.
 */
#ifndef PODPULSE_METRICS_H
#define PODPULSE_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define METRICS_LABELS_MAX 3
#define METRICS_BUCKETS_MAX 32
#define METRICS_OVERFLOW "_other"

enum metrics_type { METRICS_COUNTER, METRICS_GAUGE, METRICS_HISTOGRAM };
enum metrics_format { METRICS_TEXT_004, METRICS_OPENMETRICS };

#define METRICS_CONTENT_TYPE_TEXT "text/plain; version=0.0.4; charset=utf-8"
#define METRICS_CONTENT_TYPE_OPENMETRICS \
	"application/openmetrics-text; version=1.0.0; charset=utf-8"

struct metrics_series {
	char **values;	   /* one per label */
	double value;	   /* counter, gauge; histogram: sum */
	uint64_t count;	   /* histogram: observations */
	uint64_t *buckets; /* histogram: per bucket, not cumulative */
};

struct metrics_family {
	char *name;
	char *help;
	char *unit; /* NULL or "" for none */
	enum metrics_type type;
	size_t nlabels;
	char *labels[METRICS_LABELS_MAX];
	size_t nbuckets;
	double bounds[METRICS_BUCKETS_MAX]; /* upper bounds, ascending */
	struct metrics_series **series;	    /* sorted by label values */
	size_t nseries;
	size_t cap;
	size_t max_series;
};

struct metrics_registry {
	struct metrics_family **families;
	size_t len;
};

struct metrics_family_spec {
	enum metrics_type type;
	const char *name;
	const char *help;
	const char *unit;
	const char *const *labels; /* NULL-terminated, or NULL */
	const double *buckets;	   /* histogram: ascending, no +Inf */
	size_t nbuckets;
	size_t max_series; /* 0: unbounded */
};

void metrics_init(struct metrics_registry *r);
void metrics_free(struct metrics_registry *r);

/* Register a family; returns NULL when the spec is invalid. */
struct metrics_family *metrics_family_add(struct metrics_registry *r,
    const struct metrics_family_spec *spec);

/*
 * The series with these label values (one per label of the family),
 * created at zero when new.
 */
struct metrics_series *metrics_series_get(struct metrics_family *f,
    const char *const *values);

/* Shorthands for families with no label or one label. */
struct metrics_series *metrics_series_get0(struct metrics_family *f);
struct metrics_series *metrics_series_get1(struct metrics_family *f,
    const char *value);

void metrics_set(struct metrics_series *s, double v);
void metrics_add(struct metrics_series *s, double v);
void metrics_observe(const struct metrics_family *f, struct metrics_series *s,
    double v);

/* Drop every series of a family (for gauges rebuilt at each scrape). */
void metrics_family_clear(struct metrics_family *f);

/* Append the exposition of the whole registry to out. */
void metrics_render(const struct metrics_registry *r,
    enum metrics_format format, struct buf *out);

/* The format an Accept header asks for. */
enum metrics_format metrics_format_from_accept(const char *accept);

#endif
