/*
 * engine -- executes protocol commands against the instance's state.
 *
 * A pure core that joins the other cores: the predictions table, the
 * monitor, and the setup log. The socket shell parses a line with
 * `protocol`, hands the command here with the current monotonic time and
 * the connection's engine_conn, and sends whatever reply lands in `out`.
 * Commands are dispatched through a table (one row per verb, each verb's
 * code in a cmd_*.c file); rules that need state live here: duplicate and
 * unknown ids, the in-flight bound, setup-already-done, ownership.
 *
 * Everything the shell must act on comes back through hooks, called
 * synchronously: a closed interval (to report), the setup outcome (to
 * report, unless it is late), an aborted prediction (to log).
 *
 * Errors never change state: each exec function checks everything before
 * it touches the table or the monitor.
 */
#ifndef PODPULSE_ENGINE_H
#define PODPULSE_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "buf.h"
#include "monitor.h"
#include "predictions.h"
#include "protocol.h"
#include "report.h"
#include "status.h"

/* Per-connection protocol state; embedded in the shell's connection. */
struct engine_conn {
	struct predictions_owner owner;
	int ack;
};

struct engine_hooks {
	void (*interval)(void *arg, const struct monitor_interval *iv);
	/* late: setup finished after its timeout was already reported. */
	void (*setup)(void *arg, enum status_setup status, int late);
	void (*aborted)(void *arg, const char *id, const char *reason);
	void *arg;
	/*
	 * Optional, for the duration histograms: a prediction started
	 * (queued_ns: its wait since enqueue, PREDICTIONS_NEVER_QUEUED when
	 * it was never enqueued), and a prediction left the table by stop,
	 * abort or timeout.
	 */
	void (*started)(void *arg, uint64_t queued_ns);
	void (*stopped)(void *arg, const struct predictions_info *info,
	    uint64_t now_ns);
};

struct engine_options {
	uint64_t interval_ns;
	uint64_t prediction_timeout_ns;	/* 0: off */
	size_t max_in_flight;
	int abort_on_disconnect;
};

struct engine {
	struct monitor monitor;
	struct predictions predictions;
	struct report_logtail setup_log;
	struct report_clock clock;
	struct engine_hooks hooks;
	struct engine_options options;
	/* Predictions of closed connections when abort_on_disconnect is off. */
	struct predictions_owner orphans;
	char run_id[40];
	int setup_done_seen;	/* a `setup done` was accepted */
	int setup_reported;	/* the one setup report was triggered */
	uint64_t errors[PROTOCOL_ERROR_COUNT];
	size_t connections;
	/* Reads stopped because a client's unsent replies passed
	 * socket.max_reply_buffer (counted by the socket server). */
	uint64_t reply_pauses;
	size_t reports_pending;	/* kept up to date by the reporter shell */
	/* The last report's kind and fate, kept by the reporter shell too
	 * (NULL before the first): shown as last_report in the state. */
	const char *last_report_kind;
	const char *last_report_outcome;
};

void engine_init(struct engine *e, uint64_t now_ns,
    const struct report_clock *clock, const char *run_id,
    const struct engine_options *options, const struct engine_hooks *hooks);
void engine_free(struct engine *e);

/* Options that may change at run time (SIGHUP). */
void engine_options_set(struct engine *e, const struct engine_options *o);

void engine_conn_open(struct engine *e, struct engine_conn *c);
/* The connection closed: abort (or orphan) what it owns. */
void engine_conn_close(struct engine *e, struct engine_conn *c,
    uint64_t now_ns);

/*
 * Execute one parsed line (a command or a syntax error). Replies, when the
 * protocol calls for them, are appended to out. Returns OK or the reason of
 * the error, which has been counted in e->errors.
 */
enum protocol_error engine_exec(struct engine *e, struct engine_conn *c,
    const struct protocol_command *cmd, uint64_t now_ns, struct buf *out);

/* Advance the monitor to now (closing intervals that ended). */
void engine_advance(struct engine *e, uint64_t now_ns);

/* monitor.setup_timeout elapsed: report TIMEOUT unless setup finished. */
void engine_setup_timeout(struct engine *e, uint64_t now_ns);

/*
 * Abort every prediction in flight for longer than the prediction
 * timeout. Returns the time the next one would time out, or 0 when
 * nothing is in flight or the timeout is off.
 */
uint64_t engine_reap(struct engine *e, uint64_t now_ns);

/* Tell the hooks a prediction started (queued_ns as predictions_start). */
void engine_prediction_started(struct engine *e, uint64_t queued_ns);

/* Tell the hooks a prediction left the table (stop, abort, timeout). */
void engine_prediction_stopped(struct engine *e,
    const struct predictions_info *info, uint64_t now_ns);

/* Cut the final interval. */
void engine_finish(struct engine *e, uint64_t now_ns);

/* The `state` object (SPEC 2): also served as GET /v1/state. */
cJSON *engine_state_json(const struct engine *e, uint64_t now_ns);

/* The setup report body for the current setup outcome. */
cJSON *engine_setup_report(const struct engine *e,
    const struct report_identity *id, int has_scheduled_at,
    int64_t scheduled_at_ms);

#endif
