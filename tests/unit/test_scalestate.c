/*
 * test_scalestate -- the scalestate shell on a real libuv loop, without a
 * Redis: disabled when no URL is set, retries against a port that
 * refuses, leaves with every handle closed (uv_loop_close() == 0), and
 * formats the snapshot as SPEC section 4 says. The behaviour against a
 * real Redis is tested end to end in tests/integration/test_scalestate.py.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <uv.h>

#include "buf.h"
#include "config.h"
#include "log.h"
#include "metrics.h"
#include "scalestate.h"

static int done_calls;

static void
on_done(void *arg)
{
	done_calls++;
}

static void
test_snapshot_format(void **state)
{
	char out[SCALESTATE_SNAPSHOT_MAX];

	scalestate_snapshot_format(out, 3, 4, 2, INT64_C(1700000000123));
	assert_string_equal(out, "{\"queue_length\":7,\"queue_length_blue\":3,"
	    "\"queue_length_green\":4,\"replica_count\":2,"
	    "\"time\":1700000000.123}");
	scalestate_snapshot_format(out, 0, 0, 0, INT64_C(1700000000005));
	assert_string_equal(out, "{\"queue_length\":0,\"queue_length_blue\":0,"
	    "\"queue_length_green\":0,\"replica_count\":0,"
	    "\"time\":1700000000.005}");
}

static void
test_disabled(void **state)
{
	struct scalestate ss;
	struct config c;
	uv_loop_t loop;
	char err[256];

	uv_loop_init(&loop);
	config_init(&c);
	assert_int_equal(scalestate_init(&ss, &loop, &c, "i", err,
	    sizeof err), 0);
	assert_int_equal(ss.enabled, 0);
	done_calls = 0;
	scalestate_close(&ss, on_done, NULL);
	assert_int_equal(done_calls, 1);
	assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(uv_loop_close(&loop), 0);
	config_free(&c);
}

static void
stop_cb(uv_timer_t *t)
{
	scalestate_close(t->data, on_done, NULL);
	uv_close((uv_handle_t *)t, NULL);
}

/* Port 1 on loopback refuses: errors are counted, retried, and closed. */
static void
test_refused_then_close(void **state)
{
	struct metrics_registry reg;
	struct config_error cerr;
	struct scalestate ss;
	struct config c;
	struct buf out;
	uv_loop_t loop;
	uv_timer_t stop;
	char err[256];

	log_setup(LOG_ERROR, 0);
	uv_loop_init(&loop);
	config_init(&c);
	assert_int_equal(config_set_override(&c, "scalestate.redis_url="
	    "redis://pw@127.0.0.1:1", &cerr), 0);
	assert_int_equal(config_set_override(&c, "scalestate.redis_green_url="
	    "unix:///nonexistent/redis.sock", &cerr), 0);
	assert_int_equal(config_set_override(&c, "identity.deployment_key=d",
	    &cerr), 0);
	assert_int_equal(config_set_override(&c, "scalestate.interval=50ms",
	    &cerr), 0);
	assert_int_equal(config_set_override(&c,
	    "scalestate.reconnect_base=5ms", &cerr), 0);
	assert_int_equal(config_set_override(&c,
	    "scalestate.reconnect_max=10ms", &cerr), 0);
	assert_int_equal(scalestate_init(&ss, &loop, &c, "i", err,
	    sizeof err), 0);
	config_free(&c);	/* scalestate keeps its own copies */
	assert_int_equal(ss.enabled, 1);
	metrics_init(&reg);
	assert_int_equal(scalestate_metrics_attach(&ss, &reg), 0);
	uv_timer_init(&loop, &stop);
	stop.data = &ss;
	uv_timer_start(&stop, stop_cb, 300, 0);
	done_calls = 0;
	assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(done_calls, 1);
	if (ss.stats.errors < 4)
		fail_msg("expected retries of both instances, got %llu errors",
		    (unsigned long long)ss.stats.errors);
	if (ss.conns[0].errors < 2 || ss.conns[1].errors < 2)
		fail_msg("blue %llu errors, green %llu", (unsigned long long)
		    ss.conns[0].errors, (unsigned long long)ss.conns[1].errors);
	assert_int_equal(ss.stats.snapshots, 0);
	assert_int_equal(ss.stats.queue_length, -1);
	assert_int_equal(uv_loop_close(&loop), 0);
	/* No measurement: the gauges exist, with no sample yet. */
	buf_init(&out);
	metrics_render(&reg, METRICS_TEXT_004, &out);
	buf_append(&out, "", 1);
	assert_non_null(strstr(out.data,
	    "# TYPE autoscaler_snapshot_queue_length gauge"));
	assert_non_null(strstr(out.data,
	    "# TYPE autoscaler_snapshot_replica_count gauge"));
	assert_null(strstr(out.data, "deployment_key=\"d\""));
	assert_non_null(strstr(out.data,
	    "podpulse_scalestate_errors_total{redis=\"blue\"} "));
	assert_non_null(strstr(out.data,
	    "podpulse_scalestate_errors_total{redis=\"green\"} "));
	assert_null(strstr(out.data, "errors_total{redis=\"blue\"} 0\n"));
	buf_free(&out);
	metrics_free(&reg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_snapshot_format),
		cmocka_unit_test(test_disabled),
		cmocka_unit_test(test_refused_then_close),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
