/*
 * delivery -- the names the report delivery shells share: the kinds of
 * report, the outcomes of delivering one, and the counters of both.
 *
 * The counters live in one struct owned by the reporter, so a metrics
 * endpoint can read podpulse_reports_total{kind,outcome} and
 * podpulse_reports_pending from a single place.
 */
#ifndef PODPULSE_DELIVERY_H
#define PODPULSE_DELIVERY_H

#include <stdint.h>

enum reporter_kind { REPORTER_INSTANCE_STATE, REPORTER_SETUP_RUN,
	REPORTER_KINDS };

enum delivery_outcome {
	DELIVERY_DELIVERED,	/* written to stdout, or answered 2xx */
	DELIVERY_RETRIED,	/* an attempt failed and will be retried */
	DELIVERY_REJECTED,	/* answered with a 4xx that is not retried */
	DELIVERY_DROPPED,	/* lost: queue full, or shutdown unspooled */
	DELIVERY_OUTCOMES
};

struct delivery_counters {
	uint64_t total[REPORTER_KINDS][DELIVERY_OUTCOMES];
	uint64_t pending;	/* reports not yet delivered, all kinds */
	int has_last;		/* an outcome was counted */
	enum reporter_kind last_kind;
	enum delivery_outcome last_outcome;
};

/* Count one outcome of a report of this kind; it becomes the last one. */
void delivery_count(struct delivery_counters *c, enum reporter_kind kind,
    enum delivery_outcome outcome);

const char *delivery_kind_name(enum reporter_kind kind);
const char *delivery_outcome_name(enum delivery_outcome outcome);

/* The kind named name, or -1. */
int delivery_kind_find(const char *name);

#endif
