/*
 * engine -- executes protocol commands against the instance's state; see
 * engine.h for the design.
 *
 * Reply rules (SPEC 2): `ping` and `state` always answer with their own
 * line. Every other command answers `ok` or `err <reason> <detail>` only
 * on a connection that said `hello 1 ack` before it. A syntax error found
 * by the parser is handled exactly like an error found here: counted, and
 * answered in ack mode.
 */
#include "engine.h"

#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "timeutil.h"
#include "xmalloc.h"

static cmd_exec_fn *const engine_dispatch[PROTOCOL_VERB_COUNT] = {
	[PROTOCOL_VERB_HELLO] = cmd_hello_exec,
	[PROTOCOL_VERB_PING] = cmd_ping_exec,
	[PROTOCOL_VERB_STATE] = cmd_state_exec,
	[PROTOCOL_VERB_SETUP_START] = cmd_setup_start_exec,
	[PROTOCOL_VERB_SETUP_LOG] = cmd_setup_log_exec,
	[PROTOCOL_VERB_SETUP_DONE] = cmd_setup_done_exec,
	[PROTOCOL_VERB_ENQUEUE] = cmd_enqueue_exec,
	[PROTOCOL_VERB_START] = cmd_start_exec,
	[PROTOCOL_VERB_STOP] = cmd_stop_exec,
};

static void
engine_cut_cb(void *arg, const struct monitor_interval *iv)
{
	struct engine *e = arg;

	if (e->hooks.interval != NULL)
		e->hooks.interval(e->hooks.arg, iv);
}

void
engine_init(struct engine *e, uint64_t now_ns,
    const struct report_clock *clock, const char *run_id,
    const struct engine_options *options, const struct engine_hooks *hooks)
{
	memset(e, 0, sizeof(*e));
	e->clock = *clock;
	e->hooks = *hooks;
	e->options = *options;
	snprintf(e->run_id, sizeof e->run_id, "%s", run_id);
	monitor_init(&e->monitor, now_ns, options->interval_ns, engine_cut_cb,
	    e);
	predictions_init(&e->predictions, options->max_in_flight);
	report_logtail_init(&e->setup_log, REPORT_LOG_TAIL_BYTES);
}

void
engine_free(struct engine *e)
{
	predictions_free(&e->predictions);
	report_logtail_free(&e->setup_log);
}

void
engine_options_set(struct engine *e, const struct engine_options *o)
{
	/* The interval is fixed at start: the cut schedule depends on it. */
	e->options.prediction_timeout_ns = o->prediction_timeout_ns;
	e->options.max_in_flight = o->max_in_flight;
	e->options.abort_on_disconnect = o->abort_on_disconnect;
	predictions_max_set(&e->predictions, o->max_in_flight);
}

void
engine_conn_open(struct engine *e, struct engine_conn *c)
{
	memset(c, 0, sizeof(*c));
	e->connections++;
}

struct engine_abort {
	struct engine *engine;
	uint64_t now_ns;
	const char *reason;
};

static void
engine_abort_cb(void *arg, const char *id, const struct predictions_info *info)
{
	struct engine_abort *a = arg;
	struct engine *e = a->engine;

	monitor_prediction_stop(&e->monitor, a->now_ns,
	    STATUS_PREDICTION_ABORTED, info->running);
	engine_prediction_stopped(e, info, a->now_ns);
	if (e->hooks.aborted != NULL)
		e->hooks.aborted(e->hooks.arg, id, a->reason);
}

void
engine_conn_close(struct engine *e, struct engine_conn *c, uint64_t now_ns)
{
	struct engine_abort a = { e, now_ns, "disconnect" };

	if (e->options.abort_on_disconnect)
		predictions_owner_drain(&e->predictions, &c->owner,
		    engine_abort_cb, &a);
	else
		predictions_owner_move(&e->predictions, &c->owner,
		    &e->orphans);
	e->connections--;
}

static void
engine_reply_error(struct buf *out, enum protocol_error error,
    const char *detail)
{
	buf_append_str(out, "err ");
	buf_append_str(out, protocol_error_name(error));
	if (detail != NULL && detail[0] != '\0') {
		buf_append(out, " ", 1);
		buf_append_str(out, detail);
	}
	buf_append(out, "\n", 1);
}

enum protocol_error
engine_exec(struct engine *e, struct engine_conn *c,
    const struct protocol_command *cmd, uint64_t now_ns, struct buf *out)
{
	struct cmd_ctx ctx;
	enum protocol_error error;
	int ack;

	ack = c->ack;
	if (cmd->error != PROTOCOL_ERROR_OK) {
		error = cmd->error;
		ctx.detail = cmd->detail;
		ctx.replied = 0;
	} else {
		ctx.engine = e;
		ctx.conn = c;
		ctx.cmd = cmd;
		ctx.now_ns = now_ns;
		ctx.out = out;
		ctx.detail = NULL;
		ctx.replied = 0;
		error = engine_dispatch[cmd->verb](&ctx);
	}
	if (error != PROTOCOL_ERROR_OK)
		e->errors[error]++;
	if (!ack || ctx.replied)
		return error;
	if (error == PROTOCOL_ERROR_OK)
		buf_append(out, "ok\n", 3);
	else
		engine_reply_error(out, error, ctx.detail);
	return error;
}

void
engine_advance(struct engine *e, uint64_t now_ns)
{
	monitor_advance(&e->monitor, now_ns);
}

void
engine_setup_timeout(struct engine *e, uint64_t now_ns)
{
	if (e->setup_done_seen || e->setup_reported)
		return;
	monitor_setup_done(&e->monitor, now_ns, STATUS_SETUP_TIMEOUT);
	e->setup_reported = 1;
	if (e->hooks.setup != NULL)
		e->hooks.setup(e->hooks.arg, STATUS_SETUP_TIMEOUT, 0);
}

uint64_t
engine_reap(struct engine *e, uint64_t now_ns)
{
	struct predictions_info info;
	char id[PROTOCOL_ID_MAX + 1];
	const char *oldest;
	uint64_t start_ns, timeout;
	size_t len;

	timeout = e->options.prediction_timeout_ns;
	if (timeout == 0)
		return 0;
	while (predictions_oldest(&e->predictions, &oldest, &start_ns) == 0) {
		if (start_ns + timeout > now_ns)
			return start_ns + timeout;
		len = strlen(oldest);
		memcpy(id, oldest, len + 1);
		predictions_stop(&e->predictions, id, len, &info);
		monitor_prediction_stop(&e->monitor, now_ns,
		    STATUS_PREDICTION_ABORTED, 1);
		engine_prediction_stopped(e, &info, now_ns);
		if (e->hooks.aborted != NULL)
			e->hooks.aborted(e->hooks.arg, id, "timeout");
	}
	return 0;
}

void
engine_prediction_started(struct engine *e, uint64_t queued_ns)
{
	if (e->hooks.started != NULL)
		e->hooks.started(e->hooks.arg, queued_ns);
}

void
engine_prediction_stopped(struct engine *e,
    const struct predictions_info *info, uint64_t now_ns)
{
	if (e->hooks.stopped != NULL)
		e->hooks.stopped(e->hooks.arg, info, now_ns);
}

void
engine_finish(struct engine *e, uint64_t now_ns)
{
	monitor_finish(&e->monitor, now_ns);
}

static void
engine_json_time(cJSON *obj, const char *name, const struct engine *e,
    uint64_t mono_ns)
{
	char ts[TIMEUTIL_RFC3339_LEN];

	if (mono_ns == 0) {
		cJSON_AddNullToObject(obj, name);
		return;
	}
	timeutil_rfc3339_format(report_clock_wall_ms(&e->clock, mono_ns), ts);
	cJSON_AddStringToObject(obj, name, ts);
}

static double
engine_seconds(uint64_t ns)
{
	return (double)(ns / 1000000) / 1000.0;
}

static cJSON *
engine_interval_json(const struct engine *e, uint64_t now_ns)
{
	struct monitor_interval iv;
	cJSON *obj;
	uint64_t elapsed;

	monitor_peek(&e->monitor, now_ns, &iv);
	elapsed = iv.end_ns - iv.start_ns;
	obj = cJSON_CreateObject();
	cJSON_AddNumberToObject(obj, "sequence", (double)iv.sequence);
	cJSON_AddNumberToObject(obj, "elapsed", engine_seconds(elapsed));
	cJSON_AddNumberToObject(obj, "boot_time",
	    engine_seconds(iv.state_ns[STATUS_STATE_BOOT]));
	cJSON_AddNumberToObject(obj, "idle_time",
	    engine_seconds(iv.state_ns[STATUS_STATE_IDLE]));
	cJSON_AddNumberToObject(obj, "active_time",
	    engine_seconds(iv.state_ns[STATUS_STATE_ACTIVE]));
	cJSON_AddNumberToObject(obj, "max_concurrency", iv.max_level);
	cJSON_AddNumberToObject(obj, "mean_concurrency", elapsed == 0 ? 0 :
	    (double)iv.level_ns / (double)elapsed);
	return obj;
}

cJSON *
engine_state_json(const struct engine *e, uint64_t now_ns)
{
	const struct monitor *m = &e->monitor;
	cJSON *obj, *setup;

	obj = cJSON_CreateObject();
	cJSON_AddStringToObject(obj, "state",
	    status_state_name(monitor_state(m)));
	cJSON_AddNumberToObject(obj, "level", m->level);
	cJSON_AddNumberToObject(obj, "pending",
	    (double)predictions_pending(&e->predictions));
	cJSON_AddNumberToObject(obj, "in_flight",
	    (double)predictions_running(&e->predictions));
	cJSON_AddNumberToObject(obj, "connections", (double)e->connections);
	cJSON_AddStringToObject(obj, "run_id", e->run_id);
	setup = cJSON_AddObjectToObject(obj, "setup");
	cJSON_AddStringToObject(setup, "status", status_setup_name(m->setup));
	engine_json_time(setup, "started_at", e, m->setup_started_ns);
	engine_json_time(setup, "completed_at", e, m->setup_completed_ns);
	cJSON_AddItemToObject(obj, "interval", engine_interval_json(e, now_ns));
	cJSON_AddNumberToObject(obj, "reports_pending",
	    (double)e->reports_pending);
	if (e->last_report_kind == NULL)
		cJSON_AddNullToObject(obj, "last_report");
	else {
		setup = cJSON_AddObjectToObject(obj, "last_report");
		cJSON_AddStringToObject(setup, "kind", e->last_report_kind);
		cJSON_AddStringToObject(setup, "outcome",
		    e->last_report_outcome);
	}
	return obj;
}

cJSON *
engine_setup_report(const struct engine *e, const struct report_identity *id,
    int has_scheduled_at, int64_t scheduled_at_ms)
{
	struct report_setup s;

	memset(&s, 0, sizeof s);
	s.status = e->monitor.setup;
	s.started_ns = e->monitor.setup_started_ns;
	s.completed_ns = e->monitor.setup_completed_ns;
	report_logtail_get(&e->setup_log, &s.logs, &s.logs_len);
	s.has_scheduled_at = has_scheduled_at;
	s.scheduled_at_ms = scheduled_at_ms;
	return report_setup_run(id, &e->clock, &s);
}
