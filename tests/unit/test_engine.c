/*
 * test_engine -- command execution against the real cores: replies, the
 * stateful error rules, ownership on disconnect, the reaper, the setup
 * report trigger, and the rule that an error never changes state.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "engine.h"

#define MS 1000000ull
#define S 1000000000ull

struct events {
	int intervals;
	struct monitor_interval last;
	int setups;
	enum status_setup setup_status;
	int setup_late;
	int aborted;
	char aborted_reason[32];
};

struct fixture {
	struct engine e;
	struct engine_conn a;
	struct engine_conn b;
	struct events ev;
	struct buf out;
};

static void
on_interval(void *arg, const struct monitor_interval *iv)
{
	struct events *ev = arg;

	ev->intervals++;
	ev->last = *iv;
}

static void
on_setup(void *arg, enum status_setup status, int late)
{
	struct events *ev = arg;

	ev->setups++;
	ev->setup_status = status;
	ev->setup_late = late;
}

static void
on_aborted(void *arg, const char *id, const char *reason)
{
	struct events *ev = arg;

	ev->aborted++;
	snprintf(ev->aborted_reason, sizeof ev->aborted_reason, "%s", reason);
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct engine_options o = { 10 * S, 0, 4, 1 };
	struct engine_hooks h = { on_interval, on_setup, on_aborted, NULL,
	    NULL, NULL };
	struct report_clock clock = { 0, 1700000000000 };

	h.arg = &f->ev;
	engine_init(&f->e, 0, &clock, "run-1", &o, &h);
	engine_conn_open(&f->e, &f->a);
	engine_conn_open(&f->e, &f->b);
	buf_init(&f->out);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	engine_free(&f->e);
	buf_free(&f->out);
	free(f);
	return 0;
}

/* Run one line on conn at time t; return the reply text (may be ""). */
static const char *
run(struct fixture *f, struct engine_conn *c, uint64_t t, const char *line)
{
	struct protocol_command cmd;
	static char reply[4096];

	buf_reset(&f->out);
	protocol_line_parse(line, strlen(line), &cmd);
	engine_exec(&f->e, c, &cmd, t, &f->out);
	snprintf(reply, sizeof reply, "%.*s", (int)buf_pending(&f->out),
	    buf_head(&f->out));
	return reply;
}

static void
test_replies_without_ack(void **state)
{
	struct fixture *f = *state;

	assert_string_equal(run(f, &f->a, 0, "ping"), "pong\n");
	assert_string_equal(run(f, &f->a, 0, "start p1"), "");
	assert_string_equal(run(f, &f->a, 0, "start p1"), "");
	assert_int_equal(f->e.errors[PROTOCOL_ERROR_DUPLICATE_ID], 1);
	assert_string_equal(run(f, &f->a, 0, "bogus"), "");
	assert_int_equal(f->e.errors[PROTOCOL_ERROR_UNKNOWN_COMMAND], 1);
}

static void
test_replies_with_ack(void **state)
{
	struct fixture *f = *state;

	/* The hello line itself gets no reply; later lines do. */
	assert_string_equal(run(f, &f->a, 0, "hello 1 ack"), "");
	assert_string_equal(run(f, &f->a, 0, "ping"), "pong\n");
	assert_string_equal(run(f, &f->a, 0, "start p1"), "ok\n");
	assert_string_equal(run(f, &f->a, 0, "start p1"),
	    "err duplicate-id prediction p1 is already in flight\n");
	assert_string_equal(run(f, &f->a, 0, "stop p9 succeeded"),
	    "err unknown-id prediction p9 is neither pending nor in flight\n");
	assert_true(strncmp(run(f, &f->a, 0, "stop p1 exploded"),
	    "err bad-status", 14) == 0);
	/* Connection b never said hello: no replies there. */
	assert_string_equal(run(f, &f->b, 0, "start p2"), "");
}

static void
test_errors_change_nothing(void **state)
{
	struct fixture *f = *state;
	const char *bad[] = { "start p1", "stop zz failed", "enqueue p1",
		"stop p1 nope", "setup done maybe", "start", "start a b",
		"start p5 Key=x" };
	size_t i;

	run(f, &f->a, 0, "start p1");
	run(f, &f->a, 0, "enqueue q1");
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
		run(f, &f->a, 1 * S, bad[i]);
	assert_int_equal(f->e.monitor.level, 1);
	assert_int_equal(predictions_pending(&f->e.predictions), 1);
	assert_int_equal(predictions_running(&f->e.predictions), 1);
	assert_int_equal(f->e.monitor.setup, STATUS_SETUP_RUNNING);
	assert_int_equal(f->ev.setups, 0);
}

static void
test_too_many_in_flight(void **state)
{
	struct fixture *f = *state;

	run(f, &f->a, 0, "hello 1 ack");
	assert_string_equal(run(f, &f->a, 0, "enqueue q1"), "ok\n");
	assert_string_equal(run(f, &f->a, 0, "start p1"), "ok\n");
	assert_string_equal(run(f, &f->a, 0, "start p2"), "ok\n");
	assert_string_equal(run(f, &f->a, 0, "start p3"), "ok\n");
	assert_true(strncmp(run(f, &f->a, 0, "start p4"),
	    "err too-many-in-flight", 22) == 0);
	/* Starting a pending one is not a new prediction. */
	assert_string_equal(run(f, &f->a, 0, "start q1"), "ok\n");
	assert_int_equal(f->e.monitor.level, 4);
}

static void
test_disconnect_aborts_own_predictions(void **state)
{
	struct fixture *f = *state;

	run(f, &f->a, 0, "start a1");
	run(f, &f->a, 0, "start a2");
	run(f, &f->a, 0, "enqueue a3");
	run(f, &f->b, 0, "start b1");
	engine_conn_close(&f->e, &f->a, 1 * S);
	assert_int_equal(f->e.monitor.level, 1);
	assert_int_equal(predictions_pending(&f->e.predictions), 0);
	assert_int_equal(f->ev.aborted, 3);
	assert_string_equal(f->ev.aborted_reason, "disconnect");
	assert_int_equal(f->e.monitor.cur.counts[STATUS_PREDICTION_ABORTED], 3);
	assert_int_equal(f->e.connections, 1);
	/* A stop may come from any connection. */
	run(f, &f->a, 0, "hello 1");
	engine_conn_open(&f->e, &f->a);
	assert_string_equal(run(f, &f->a, 2 * S, "stop b1 succeeded"), "");
	assert_int_equal(f->e.monitor.level, 0);
}

static void
test_disconnect_without_abort_keeps_predictions(void **state)
{
	struct fixture *f = *state;
	struct engine_options o = f->e.options;

	o.abort_on_disconnect = 0;
	engine_options_set(&f->e, &o);
	run(f, &f->a, 0, "start a1");
	engine_conn_close(&f->e, &f->a, 1 * S);
	assert_int_equal(f->e.monitor.level, 1);
	assert_int_equal(f->ev.aborted, 0);
	run(f, &f->b, 0, "hello 1 ack");
	assert_string_equal(run(f, &f->b, 2 * S, "stop a1 succeeded"),
	    "ok\n");
	assert_int_equal(f->e.monitor.level, 0);
}

static void
test_reaper(void **state)
{
	struct fixture *f = *state;
	struct engine_options o = f->e.options;

	assert_int_equal(engine_reap(&f->e, 0), 0);
	o.prediction_timeout_ns = 5 * S;
	engine_options_set(&f->e, &o);
	run(f, &f->a, 1 * S, "start p1");
	run(f, &f->a, 2 * S, "start p2");
	assert_int_equal(engine_reap(&f->e, 3 * S), 6 * S);
	assert_int_equal(engine_reap(&f->e, 6 * S), 7 * S);
	assert_int_equal(f->ev.aborted, 1);
	assert_string_equal(f->ev.aborted_reason, "timeout");
	assert_int_equal(f->e.monitor.level, 1);
	assert_int_equal(engine_reap(&f->e, 9 * S), 0);
	assert_int_equal(f->e.monitor.level, 0);
	assert_int_equal(f->e.monitor.cur.counts[STATUS_PREDICTION_ABORTED], 2);
}

static void
test_setup_done_once(void **state)
{
	struct fixture *f = *state;

	run(f, &f->a, 0, "hello 1 ack");
	assert_string_equal(run(f, &f->a, 1 * S, "setup start"), "ok\n");
	assert_string_equal(run(f, &f->a, 1 * S, "setup log loading"), "ok\n");
	assert_string_equal(run(f, &f->a, 3 * S, "setup done succeeded"),
	    "ok\n");
	assert_int_equal(f->ev.setups, 1);
	assert_int_equal(f->ev.setup_status, STATUS_SETUP_READY);
	assert_int_equal(f->ev.setup_late, 0);
	assert_int_equal(monitor_state(&f->e.monitor), STATUS_STATE_IDLE);
	assert_string_equal(run(f, &f->a, 4 * S, "setup done failed"),
	    "err setup-already-done setup already finished\n");
	assert_int_equal(f->ev.setups, 1);
	assert_int_equal(f->e.monitor.setup, STATUS_SETUP_READY);
}

static void
test_setup_timeout_then_late_ready(void **state)
{
	struct fixture *f = *state;

	engine_setup_timeout(&f->e, 5 * S);
	assert_int_equal(f->ev.setups, 1);
	assert_int_equal(f->ev.setup_status, STATUS_SETUP_TIMEOUT);
	assert_int_equal(monitor_state(&f->e.monitor), STATUS_STATE_BOOT);
	run(f, &f->a, 0, "hello 1 ack");
	assert_string_equal(run(f, &f->a, 6 * S, "setup done ready"), "ok\n");
	assert_int_equal(f->ev.setups, 2);
	assert_int_equal(f->ev.setup_late, 1);
	assert_int_equal(monitor_state(&f->e.monitor), STATUS_STATE_IDLE);
	/* The timeout after a done does nothing. */
	engine_setup_timeout(&f->e, 7 * S);
	assert_int_equal(f->ev.setups, 2);
}

static void
test_setup_report_log_tail(void **state)
{
	struct fixture *f = *state;
	struct report_identity id;
	cJSON *body, *logs;

	memset(&id, 0, sizeof id);
	id.instance_id = id.deployment_key = id.docker_image_uri = "";
	id.hardware = id.compute_unit = id.version = "";
	id.run_id = "run-1";
	run(f, &f->a, 0, "setup log first   line");
	run(f, &f->a, 0, "setup log second");
	run(f, &f->a, 2 * S, "setup done failed");
	body = engine_setup_report(&f->e, &id, 0, 0);
	logs = cJSON_GetObjectItem(body, "logs");
	assert_non_null(logs);
	assert_string_equal(logs->valuestring, "first   line\nsecond\n");
	assert_string_equal(cJSON_GetObjectItem(body, "status")->valuestring,
	    "failed");
	cJSON_Delete(body);
}

static void
test_state_json(void **state)
{
	struct fixture *f = *state;
	cJSON *st, *iv;
	char *text;

	run(f, &f->a, 0, "setup done ready");
	run(f, &f->a, 2 * S, "start p1");
	run(f, &f->b, 2 * S, "enqueue q1");
	text = strdup(run(f, &f->a, 3 * S, "state"));
	assert_int_equal(text[strlen(text) - 1], '\n');
	st = cJSON_Parse(text);
	assert_non_null(st);
	assert_string_equal(cJSON_GetObjectItem(st, "state")->valuestring,
	    "active");
	assert_int_equal(cJSON_GetObjectItem(st, "level")->valueint, 1);
	assert_int_equal(cJSON_GetObjectItem(st, "pending")->valueint, 1);
	assert_int_equal(cJSON_GetObjectItem(st, "connections")->valueint, 2);
	assert_string_equal(cJSON_GetObjectItem(st, "run_id")->valuestring,
	    "run-1");
	assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(st,
	    "setup"), "status")->valuestring, "ready");
	assert_non_null(cJSON_GetObjectItem(st, "reports_pending"));
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(st, "last_report")));
	iv = cJSON_GetObjectItem(st, "interval");
	assert_float_equal(cJSON_GetObjectItem(iv, "elapsed")->valuedouble,
	    3.0, 1e-9);
	assert_float_equal(cJSON_GetObjectItem(iv, "idle_time")->valuedouble,
	    2.0, 1e-9);
	assert_float_equal(cJSON_GetObjectItem(iv, "active_time")->valuedouble,
	    1.0, 1e-9);
	cJSON_Delete(st);
	free(text);
}

static void
test_intervals_reach_hook(void **state)
{
	struct fixture *f = *state;

	run(f, &f->a, 1 * S, "start p1");
	engine_advance(&f->e, 25 * S);
	assert_int_equal(f->ev.intervals, 2);
	assert_int_equal(f->ev.last.sequence, 1);
	assert_int_equal(f->ev.last.state_ns[STATUS_STATE_ACTIVE], 10 * S);
	engine_finish(&f->e, 26 * S);
	assert_int_equal(f->ev.intervals, 3);
	assert_true(f->ev.last.final);
	assert_int_equal(f->ev.last.end_ns - f->ev.last.start_ns, 6 * S);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_replies_without_ack, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_replies_with_ack, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_errors_change_nothing,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_too_many_in_flight, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_disconnect_aborts_own_predictions, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_disconnect_without_abort_keeps_predictions, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_reaper, setup, teardown),
		cmocka_unit_test_setup_teardown(test_setup_done_once, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_setup_timeout_then_late_ready, setup, teardown),
		cmocka_unit_test_setup_teardown(test_setup_report_log_tail,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_state_json, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_intervals_reach_hook,
		    setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
