/*
 * metrics -- registry and exposition; see metrics.h for the rules.
 *
 * Series are kept sorted by label values, so a scrape is one walk and two
 * scrapes of the same state print the same bytes. Lookups are a binary
 * search: a family holds a handful of series (states, statuses, reasons)
 * or a bounded number (hosts).
 */
#include "metrics.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "xmalloc.h"

void
metrics_init(struct metrics_registry *r)
{
	memset(r, 0, sizeof(*r));
}

static void
metrics_series_free(const struct metrics_family *f, struct metrics_series *s)
{
	size_t i;

	for (i = 0; i < f->nlabels; i++)
		free(s->values[i]);
	free(s->values);
	free(s->buckets);
	free(s);
}

void
metrics_family_clear(struct metrics_family *f)
{
	size_t i;

	for (i = 0; i < f->nseries; i++)
		metrics_series_free(f, f->series[i]);
	f->nseries = 0;
}

static void
metrics_family_free(struct metrics_family *f)
{
	size_t i;

	metrics_family_clear(f);
	free(f->series);
	for (i = 0; i < f->nlabels; i++)
		free(f->labels[i]);
	free(f->name);
	free(f->help);
	free(f->unit);
	free(f);
}

void
metrics_free(struct metrics_registry *r)
{
	size_t i;

	for (i = 0; i < r->len; i++)
		metrics_family_free(r->families[i]);
	free(r->families);
	memset(r, 0, sizeof(*r));
}

static int
metrics_spec_valid(const struct metrics_family_spec *spec, size_t nlabels)
{
	size_t i, n, u;

	if (spec->name == NULL || spec->help == NULL ||
	    nlabels > METRICS_LABELS_MAX)
		return 0;
	if (spec->type == METRICS_HISTOGRAM &&
	    (spec->nbuckets == 0 || spec->nbuckets > METRICS_BUCKETS_MAX))
		return 0;
	for (i = 1; spec->type == METRICS_HISTOGRAM && i < spec->nbuckets;
	     i++) {
		if (!(spec->buckets[i - 1] < spec->buckets[i]))
			return 0;
	}
	n = strlen(spec->name);
	if (spec->type == METRICS_COUNTER && n > 6 &&
	    strcmp(spec->name + n - 6, "_total") == 0)
		return 0;
	if (spec->unit != NULL && spec->unit[0] != '\0') {
		u = strlen(spec->unit);
		if (u + 1 >= n || spec->name[n - u - 1] != '_' ||
		    strcmp(spec->name + n - u, spec->unit) != 0)
			return 0;
	}
	return 1;
}

struct metrics_family *
metrics_family_add(struct metrics_registry *r,
    const struct metrics_family_spec *spec)
{
	struct metrics_family *f;
	size_t n = 0;

	while (spec->labels != NULL && spec->labels[n] != NULL)
		n++;
	if (!metrics_spec_valid(spec, n))
		return NULL;
	f = xcalloc(1, sizeof(*f));
	f->type = spec->type;
	f->name = xstrdup(spec->name);
	f->help = xstrdup(spec->help);
	if (spec->unit != NULL && spec->unit[0] != '\0')
		f->unit = xstrdup(spec->unit);
	for (f->nlabels = 0; f->nlabels < n; f->nlabels++)
		f->labels[f->nlabels] = xstrdup(spec->labels[f->nlabels]);
	if (spec->type == METRICS_HISTOGRAM) {
		f->nbuckets = spec->nbuckets;
		memcpy(f->bounds, spec->buckets,
		    spec->nbuckets * sizeof(double));
	}
	f->max_series = spec->max_series;
	r->families = xrealloc(r->families, (r->len + 1) * sizeof(f));
	r->families[r->len++] = f;
	return f;
}

static int
metrics_values_cmp(const struct metrics_family *f, const char *const *a,
    char *const *b)
{
	size_t i;
	int c;

	for (i = 0; i < f->nlabels; i++) {
		c = strcmp(a[i], b[i]);
		if (c != 0)
			return c;
	}
	return 0;
}

/* Binary search: the index of the series, or where it would go. */
static size_t
metrics_series_find(const struct metrics_family *f, const char *const *values,
    int *found)
{
	size_t lo = 0, hi = f->nseries, mid;
	int c;

	*found = 0;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		c = metrics_values_cmp(f, values, f->series[mid]->values);
		if (c == 0) {
			*found = 1;
			return mid;
		}
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

static struct metrics_series *
metrics_series_insert(struct metrics_family *f, size_t at,
    const char *const *values)
{
	struct metrics_series *s;
	size_t i;

	s = xcalloc(1, sizeof(*s));
	s->values = xcalloc(f->nlabels + 1, sizeof(char *));
	for (i = 0; i < f->nlabels; i++)
		s->values[i] = xstrdup(values[i]);
	if (f->type == METRICS_HISTOGRAM)
		s->buckets = xcalloc(f->nbuckets, sizeof(uint64_t));
	if (f->nseries == f->cap) {
		f->cap = f->cap == 0 ? 4 : f->cap * 2;
		f->series = xrealloc(f->series, f->cap * sizeof(s));
	}
	memmove(f->series + at + 1, f->series + at,
	    (f->nseries - at) * sizeof(s));
	f->series[at] = s;
	f->nseries++;
	return s;
}

struct metrics_series *
metrics_series_get(struct metrics_family *f, const char *const *values)
{
	static const char *const overflow[METRICS_LABELS_MAX] = {
		METRICS_OVERFLOW, METRICS_OVERFLOW, METRICS_OVERFLOW
	};
	size_t at;
	int found;

	at = metrics_series_find(f, values, &found);
	if (found)
		return f->series[at];
	if (f->max_series != 0 && f->nseries >= f->max_series) {
		at = metrics_series_find(f, overflow, &found);
		if (found)
			return f->series[at];
		values = overflow;
	}
	return metrics_series_insert(f, at, values);
}

struct metrics_series *
metrics_series_get0(struct metrics_family *f)
{
	return metrics_series_get(f, NULL);
}

struct metrics_series *
metrics_series_get1(struct metrics_family *f, const char *value)
{
	const char *values[1] = { value };

	return metrics_series_get(f, values);
}

void
metrics_set(struct metrics_series *s, double v)
{
	s->value = v;
}

void
metrics_add(struct metrics_series *s, double v)
{
	s->value += v;
}

void
metrics_observe(const struct metrics_family *f, struct metrics_series *s,
    double v)
{
	size_t i;

	for (i = 0; i < f->nbuckets; i++) {
		if (v <= f->bounds[i]) {
			s->buckets[i]++;
			break;
		}
	}
	s->count++;
	s->value += v;
}

/* Exposition */

/* The shortest text that reads back as v. */
static void
metrics_number(struct buf *out, double v, int om_float)
{
	char tmp[40];
	int p;

	if (isnan(v)) {
		buf_append_str(out, "NaN");
		return;
	}
	if (isinf(v)) {
		buf_append_str(out, v > 0 ? "+Inf" : "-Inf");
		return;
	}
	if (v == floor(v) && fabs(v) < 1e15)
		snprintf(tmp, sizeof tmp, "%.0f", v);
	else {
		for (p = 1; p <= 17; p++) {
			snprintf(tmp, sizeof tmp, "%.*g", p, v);
			if (strtod(tmp, NULL) == v)
				break;
		}
	}
	buf_append_str(out, tmp);
	/* OpenMetrics wants le values in canonical float form ("1.0"). */
	if (om_float && strpbrk(tmp, ".eE") == NULL)
		buf_append_str(out, ".0");
}

static void
metrics_escape(struct buf *out, const char *s, int quotes)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\')
			buf_append(out, "\\\\", 2);
		else if (*s == '\n')
			buf_append(out, "\\n", 2);
		else if (*s == '"' && quotes)
			buf_append(out, "\\\"", 2);
		else
			buf_append(out, s, 1);
	}
}

static void
metrics_labels(struct buf *out, const struct metrics_family *f,
    const struct metrics_series *s, const char *le, double bound,
    enum metrics_format format)
{
	size_t i;

	if (f->nlabels == 0 && le == NULL)
		return;
	buf_append(out, "{", 1);
	for (i = 0; i < f->nlabels; i++) {
		if (i > 0)
			buf_append(out, ",", 1);
		buf_append_str(out, f->labels[i]);
		buf_append(out, "=\"", 2);
		metrics_escape(out, s->values[i], 1);
		buf_append(out, "\"", 1);
	}
	if (le != NULL) {
		if (f->nlabels > 0)
			buf_append(out, ",", 1);
		buf_append_str(out, "le=\"");
		if (isinf(bound))
			buf_append_str(out, "+Inf");
		else
			metrics_number(out, bound,
			    format == METRICS_OPENMETRICS);
		buf_append(out, "\"", 1);
	}
	buf_append(out, "}", 1);
}

static void
metrics_sample(struct buf *out, const struct metrics_family *f,
    const struct metrics_series *s, const char *suffix, double v,
    enum metrics_format format)
{
	buf_append_str(out, f->name);
	buf_append_str(out, suffix);
	metrics_labels(out, f, s, NULL, 0, format);
	buf_append(out, " ", 1);
	metrics_number(out, v, 0);
	buf_append(out, "\n", 1);
}

static void
metrics_histogram(struct buf *out, const struct metrics_family *f,
    const struct metrics_series *s, enum metrics_format format)
{
	uint64_t cum = 0;
	size_t i;

	for (i = 0; i <= f->nbuckets; i++) {
		if (i < f->nbuckets)
			cum += s->buckets[i];
		buf_append_str(out, f->name);
		buf_append_str(out, "_bucket");
		metrics_labels(out, f, s, "le",
		    i < f->nbuckets ? f->bounds[i] : INFINITY, format);
		buf_printf(out, " %llu\n",
		    (unsigned long long)(i < f->nbuckets ? cum : s->count));
	}
	metrics_sample(out, f, s, "_sum", s->value, format);
	metrics_sample(out, f, s, "_count", (double)s->count, format);
}

static const char *const metrics_type_names[] = {
	[METRICS_COUNTER] = "counter",
	[METRICS_GAUGE] = "gauge",
	[METRICS_HISTOGRAM] = "histogram",
};

static void
metrics_header(struct buf *out, const struct metrics_family *f,
    enum metrics_format format)
{
	const char *suffix;

	suffix = format == METRICS_TEXT_004 && f->type == METRICS_COUNTER
	    ? "_total"
	    : "";
	buf_printf(out, "# HELP %s%s ", f->name, suffix);
	metrics_escape(out, f->help, format == METRICS_OPENMETRICS);
	buf_printf(out, "\n# TYPE %s%s %s\n", f->name, suffix,
	    metrics_type_names[f->type]);
	if (format == METRICS_OPENMETRICS && f->unit != NULL)
		buf_printf(out, "# UNIT %s %s\n", f->name, f->unit);
}

static void
metrics_family_render(const struct metrics_family *f,
    enum metrics_format format, struct buf *out)
{
	size_t i;

	metrics_header(out, f, format);
	for (i = 0; i < f->nseries; i++) {
		if (f->type == METRICS_HISTOGRAM)
			metrics_histogram(out, f, f->series[i], format);
		else
			metrics_sample(out, f, f->series[i],
			    f->type == METRICS_COUNTER ? "_total" : "",
			    f->series[i]->value, format);
	}
}

void
metrics_render(const struct metrics_registry *r, enum metrics_format format,
    struct buf *out)
{
	size_t i;

	for (i = 0; i < r->len; i++)
		metrics_family_render(r->families[i], format, out);
	if (format == METRICS_OPENMETRICS)
		buf_append_str(out, "# EOF\n");
}

/* 1 when the media range starting at p carries q=0 (refused). */
static int
metrics_accept_refused(const char *p)
{
	const char *end = p + strcspn(p, ",");
	const char *q;

	for (q = p; (q = strchr(q, ';')) != NULL && q < end; q++) {
		q += strspn(q + 1, " ") + 1;
		if (strncasecmp(q, "q=", 2) == 0)
			return strtod(q + 2, NULL) <= 0;
	}
	return 0;
}

enum metrics_format
metrics_format_from_accept(const char *accept)
{
	const char *p;

	if (accept == NULL)
		return METRICS_TEXT_004;
	/* A media range naming OpenMetrics, unless it says q=0. */
	for (p = accept;
	     (p = strcasestr(p, "application/openmetrics-text")) != NULL; p++) {
		if ((p == accept || p[-1] == ',' || p[-1] == ' ') &&
		    !metrics_accept_refused(p))
			return METRICS_OPENMETRICS;
	}
	return METRICS_TEXT_004;
}
