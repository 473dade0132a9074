/*
 * monitor -- the Boot / Idle / Active state machine and its exact time
 * accounting (SPEC section 1).
 *
 * A pure core: time comes in as monotonic nanoseconds, nothing is read
 * from a clock here. The monitor keeps the activity level (predictions in
 * flight) and the setup outcome; the state is derived from them:
 *
 *     active if level > 0, else idle if setup is READY, else boot.
 *
 * Accounting is by integration: every event first advances the clock from
 * the last event to now, adding the elapsed time to the current state and
 * level x elapsed to the concurrency integral, then changes the level or
 * the setup outcome. All sums are integer nanoseconds, so nothing is lost
 * to rounding and boot + idle + active == duration holds exactly.
 *
 * Interval cutting is drift-free and exact: the k-th interval ends at
 * origin + k x interval, and monitor_advance() splits the integration at
 * every boundary it crosses, handing each closed interval to the cut
 * callback. It does not matter how late the caller's timer fires, nor
 * whether an event or the timer is first to cross a boundary; a stall over
 * several boundaries yields one interval per boundary. monitor_finish()
 * cuts the last, shorter interval at shutdown.
 *
 * Invariants: now_ns never goes backwards (an earlier value is treated as
 * the last one seen); level never goes below zero.
 */
#ifndef PODPULSE_MONITOR_H
#define PODPULSE_MONITOR_H

#include <stdint.h>

#include "status.h"

/* Counts of predictions in an interval: one per stop status, plus starts. */
#define MONITOR_COUNT_STARTED STATUS_PREDICTION_COUNT
#define MONITOR_COUNTS (STATUS_PREDICTION_COUNT + 1)

struct monitor_interval {
	uint64_t sequence;		/* 0, 1, 2, ... */
	uint64_t start_ns;		/* monotonic, inclusive */
	uint64_t end_ns;		/* monotonic, exclusive */
	uint64_t state_ns[STATUS_STATE_COUNT];
	uint64_t level_ns;		/* integral of level dt, level x ns */
	uint32_t max_level;
	uint64_t counts[MONITOR_COUNTS];
	enum status_state end_state;	/* state at end_ns */
	int final;			/* cut by monitor_finish() */
};

typedef void monitor_cut_cb(void *arg, const struct monitor_interval *iv);

struct monitor {
	uint32_t level;
	enum status_setup setup;
	uint64_t origin_ns;		/* start of interval 0 */
	uint64_t interval_ns;
	uint64_t last_ns;		/* integrated up to here */
	uint64_t next_cut_ns;		/* end of the current interval */
	struct monitor_interval cur;	/* the open interval so far */

	/* Lifetime totals, for counters that must never reset. */
	uint64_t total_state_ns[STATUS_STATE_COUNT];
	double total_level_s;		/* sum of closed parts, in seconds */
	uint64_t total_counts[MONITOR_COUNTS];

	/* Setup times (monotonic ns; 0 when not yet known). */
	uint64_t setup_started_ns;
	uint64_t setup_completed_ns;
	int setup_start_seen;		/* `setup start` came (first wins) */

	monitor_cut_cb *cut_cb;
	void *cut_arg;
	int finished;
};

void monitor_init(struct monitor *m, uint64_t now_ns, uint64_t interval_ns,
    monitor_cut_cb *cb, void *arg);

/* Integrate up to now, closing every interval whose end has passed. */
void monitor_advance(struct monitor *m, uint64_t now_ns);

/* A prediction started: level + 1. */
void monitor_prediction_start(struct monitor *m, uint64_t now_ns);

/*
 * A prediction ended with status. running says whether it was in flight
 * (level - 1) or only pending (level unchanged; still counted by status).
 */
void monitor_prediction_stop(struct monitor *m, uint64_t now_ns,
    enum status_prediction status, int running);

/* `setup start`: records the setup start time (first call wins). */
void monitor_setup_start(struct monitor *m, uint64_t now_ns);

/*
 * Setup ended with READY, FAILED or TIMEOUT. After TIMEOUT a later READY
 * or FAILED still changes the outcome (and the state).
 */
void monitor_setup_done(struct monitor *m, uint64_t now_ns,
    enum status_setup status);

/* Cut the final, shorter interval (final = 1). Later calls do nothing. */
void monitor_finish(struct monitor *m, uint64_t now_ns);

enum status_state monitor_state(const struct monitor *m);

/* End of the current interval: where the caller's timer should fire. */
uint64_t monitor_next_cut(const struct monitor *m);

/*
 * The open interval as if cut at now (without cutting it): what the
 * `state` command and /v1/state show.
 */
void monitor_peek(const struct monitor *m, uint64_t now_ns,
    struct monitor_interval *out);

/*
 * Lifetime totals up to now (without changing anything): seconds in each
 * state, and the integral of the level in level-seconds. What the
 * podpulse_*_seconds_total counters show at a scrape.
 */
void monitor_totals(const struct monitor *m, uint64_t now_ns,
    double state_s[STATUS_STATE_COUNT], double *level_s);

#endif
