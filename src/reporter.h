/*
 * reporter -- where finished reports go.
 *
 * Two sinks. A kind with a URL (report.instance_state_url,
 * report.setup_run_url) goes over HTTP(S) through the outbox (outbox.h:
 * retry, spool, Idempotency-Key "<instance_id>:<kind>:<sequence>").
 * A kind without one goes to standard output, one JSON line per report
 * with a leading "kind" field ({"kind":"instance_state",...} or
 * {"kind":"setup_run",...}), so the daemon is useful with no backend.
 * Both count into one struct delivery_counters.
 *
 * Standard output never blocks the loop: a pipe or a terminal is written
 * through a libuv stream; a regular file (or /dev/null) is written
 * directly, as such writes do not wait on a reader. Lines queued for a
 * reader that stopped reading are bounded (REPORTER_QUEUE_MAX bytes);
 * beyond that a report is dropped, counted and logged.
 */
#ifndef PODPULSE_REPORTER_H
#define PODPULSE_REPORTER_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <uv.h>

#include "config.h"
#include "delivery.h"
#include "outbox.h"

#define REPORTER_QUEUE_MAX (16u * 1024 * 1024)
#define REPORTER_KEY_ID_MAX 200	/* bytes of instance_id in a key */

struct reporter {
	uv_loop_t *loop;
	union {
		uv_pipe_t pipe;
		uv_tty_t tty;
	} out;
	int stream;		/* 1: out is a libuv stream; 0: direct writes */
	int closing;
	int stdout_closed;	/* its close has started */
	size_t queued;		/* bytes handed to uv_write, not yet written */
	size_t writes;		/* uv_write requests in flight */
	int parts_open;		/* stdout sink and outbox not yet closed */
	const struct config *cfg;
	const char *instance_id;	/* for Idempotency-Key; set by owner */
	size_t *pending_out;	/* mirrored here at every change, or NULL */
	/* The kind and outcome last counted, mirrored likewise, or NULL. */
	const char **last_kind_out;
	const char **last_outcome_out;
	struct delivery_counters counters;
	struct outbox outbox;
	void (*drained_cb)(void *arg);
	void *drained_arg;
};

/*
 * Open both sinks; cfg is the daemon's and read at each send. 0, or -1
 * with err set (spool directory unusable: the daemon exits 2).
 */
int reporter_init(struct reporter *r, uv_loop_t *loop,
    const struct config *cfg, char *err, size_t size);

/* Emit a report; takes ownership of body. */
void reporter_submit(struct reporter *r, enum reporter_kind kind, cJSON *body);

/* Reports written or queued but not yet out. */
size_t reporter_pending(const struct reporter *r);

/*
 * Flush, then close. cb runs once everything queued is written (or could
 * not be), after which the reporter holds no handle.
 */
void reporter_close(struct reporter *r, void (*cb)(void *arg), void *arg);

/* Give up on what is still queued (shutdown grace elapsed). */
void reporter_abort(struct reporter *r);

#endif
