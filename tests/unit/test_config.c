/*
 * test_config -- the option table, value syntax, error messages, the
 * environment, redaction, round trips and reload.
 *
 * Error messages are compared whole where their shape is the contract
 * (file:line, [section] key, quoted value, what is allowed), so a change
 * of wording shows up here on purpose. One test walks the whole table:
 * every row takes a valid value, survives config_format() and a re-parse,
 * and refuses values just outside its bounds.
 *
 * The shipped config/podpulse.ini is checked when the source directory is
 * known: argv[1] (the source directory, or the .ini file itself) or env
 * PODPULSE_SOURCE_DIR; otherwise that test says so and is skipped.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "config.h"

#define NS_MS INT64_C(1000000)
#define NS_S INT64_C(1000000000)

static const char *source_dir;	/* from argv[1] or the environment */

/* Helpers */

static void
assert_contains(const char *hay, const char *needle)
{
	if (hay == NULL || strstr(hay, needle) == NULL)
		fail_msg("expected to find \"%s\" in \"%s\"", needle,
		    hay != NULL ? hay : "(null)");
}

static void
assert_lacks(const char *hay, const char *needle)
{
	if (strstr(hay, needle) != NULL)
		fail_msg("\"%s\" must not appear in \"%s\"", needle, hay);
}

static void
parse_ok(struct config *c, const char *text)
{
	struct config_error err;

	config_init(c);
	if (config_parse_ini(c, text, "podpulse.ini", &err) != 0)
		fail_msg("expected success for:\n%s\ngot: %s", text, err.msg);
}

/* Parse text into fresh defaults and return the error message. */
static void
parse_err(const char *text, struct config_error *err)
{
	struct config c;

	config_init(&c);
	memset(err, 0, sizeof *err);
	if (config_parse_ini(&c, text, "podpulse.ini", err) == 0)
		fail_msg("expected an error for:\n%s", text);
	config_free(&c);
}

static void
expect_ini_error(const char *text, const char *want)
{
	struct config_error err;

	parse_err(text, &err);
	assert_string_equal(err.msg, want);
}

static void
expect_env_error(char **envp, const char *want)
{
	struct config_error err;
	struct config c;

	config_init(&c);
	memset(&err, 0, sizeof err);
	if (config_apply_env(&c, envp, &err) == 0)
		fail_msg("expected an error from env %s", envp[0]);
	config_free(&c);
	assert_string_equal(err.msg, want);
}

static void
assert_value(const struct config *c, const char *section, const char *key,
    const char *want)
{
	const struct config_option *o;
	char *got;

	o = config_option_find(section, key);
	if (o == NULL)
		fail_msg("no option [%s] %s", section, key);
	got = config_value_format(c, o, 0);
	if (strcmp(got, want) != 0) {
		fail_msg("[%s] %s: expected \"%s\", got \"%s\"", section, key,
		    want, got);
	}
	free(got);
}

static const char *
map_get(const struct config_map *m, const char *key)
{
	size_t i;

	for (i = 0; i < m->len; i++) {
		if (strcmp(m->items[i].key, key) == 0)
			return m->items[i].value;
	}
	return NULL;
}

/* The table and the defaults */

/* http.listen: host:port and [v6]:port, nothing else. */
static void
test_listen_parse(void **state)
{
	static const char *const bad[] = { "9464", ":9464", "host:",
		"host:0", "host:65536", "host:12x", "::1:9464", "[::1]9464",
		"[]:80", "[::1", "a b:80", "h/x:80", "host:-1", NULL };
	char host[CONFIG_LISTEN_HOST_MAX];
	struct config_error err;
	struct config c;
	int port, i;

	assert_int_equal(config_listen_parse("0.0.0.0:9464", host,
	    sizeof host, &port), 0);
	assert_string_equal(host, "0.0.0.0");
	assert_int_equal(port, 9464);
	assert_int_equal(config_listen_parse("[::1]:80", host, sizeof host,
	    &port), 0);
	assert_string_equal(host, "::1");
	assert_int_equal(port, 80);
	assert_int_equal(config_listen_parse("localhost:65535", host,
	    sizeof host, &port), 0);
	assert_string_equal(host, "localhost");
	for (i = 0; bad[i] != NULL; i++) {
		if (config_listen_parse(bad[i], host, sizeof host, &port) == 0)
			fail_msg("listen \"%s\" accepted as %s port %d",
			    bad[i], host, port);
	}
	config_init(&c);
	assert_int_equal(config_set(&c, "http", "listen", "9464", "cli",
	    &err), -1);
	assert_contains(err.msg, "[http] listen");
	assert_int_equal(config_set(&c, "http", "listen", "", "cli", &err),
	    0);
	config_free(&c);
}

static void
test_table_shape(void **state)
{
	const struct config_option *t, *o;
	size_t n, i, j;

	t = config_options(&n);
	assert_int_equal(n, 53);
	for (i = 0; i < n; i++) {
		o = &t[i];
		assert_non_null(o->def);
		if (o->help == NULL || o->help[strlen(o->help) - 1] != '.')
			fail_msg("[%s] %s: help must be one sentence",
			    o->section, o->key);
		if (config_option_find(o->section, o->key) != o)
			fail_msg("[%s] %s: config_option_find", o->section,
			    o->key);
		if (o->type == CONFIG_ENUM)
			assert_non_null(o->choices);
		/* Sections are contiguous: config_format relies on it. */
		for (j = i + 2; j < n; j++) {
			if (strcmp(t[j].section, o->section) == 0 &&
			    strcmp(t[j - 1].section, o->section) != 0)
				fail_msg("section [%s] is split", o->section);
		}
	}
	assert_null(config_option_find("monitor", "nope"));
	assert_null(config_option_find("Monitor", "report_interval"));
	assert_null(config_option_find("instance_metadata", "x"));
	assert_int_equal(config_option_find("report", "auth_token")->flags,
	    CONFIG_RELOADABLE | CONFIG_SECRET);
}

static void
test_defaults(void **state)
{
	const struct config_option *t;
	struct config c;
	size_t n, i;
	char *v;

	config_init(&c);
	t = config_options(&n);
	for (i = 0; i < n; i++) {
		v = config_value_format(&c, &t[i], 0);
		if (strcmp(v, t[i].def) != 0)
			fail_msg("[%s] %s: default \"%s\" formats as \"%s\"",
			    t[i].section, t[i].key, t[i].def, v);
		free(v);
	}
	assert_int_equal(c.log_level, CONFIG_LOG_INFO);
	assert_int_equal(c.log_format, CONFIG_LOG_JSON);
	assert_string_equal(c.socket_path, "/run/podpulse/podpulse.sock");
	assert_int_equal(c.socket_mode, 0660);
	assert_string_equal(c.socket_group, "");
	assert_int_equal(c.socket_max_connections, 256);
	assert_int_equal(c.socket_max_line, 65536);
	assert_int_equal(c.socket_max_reply_buffer, 1048576);
	assert_int_equal(c.socket_abort_on_disconnect, 1);
	assert_int_equal(c.monitor_report_interval, 15 * NS_S);
	assert_int_equal(c.monitor_setup_timeout, 0);
	assert_int_equal(c.monitor_prediction_timeout, 0);
	assert_int_equal(c.monitor_max_in_flight, 100000);
	assert_int_equal(c.monitor_shutdown_grace, 5 * NS_S);
	assert_string_equal(c.monitor_scheduled_at, "");
	assert_string_equal(c.report_auth_token, "");
	assert_int_equal(c.report_timeout, 10 * NS_S);
	assert_int_equal(c.report_retry_base, 250 * NS_MS);
	assert_int_equal(c.report_retry_max, 30 * NS_S);
	assert_int_equal(c.report_max_attempts, 8);
	assert_int_equal(c.report_max_pending, 5760);
	assert_string_equal(c.report_spool_dir, "");
	assert_int_equal(c.identity_compute_unit_count, 1);
	assert_int_equal(c.instance_metadata.len, 0);
	assert_int_equal(c.runtime_metadata.len, 0);
	assert_int_equal(config_validate(&c, NULL), 0);
	config_free(&c);
	/* Free twice is harmless: config_free clears the struct. */
	config_free(&c);
}

static void
test_format_defaults(void **state)
{
	static const char want[] =
	    "[agent]\n"
	    "log_level = info\n"
	    "log_format = json\n"
	    "\n"
	    "[socket]\n"
	    "path = /run/podpulse/podpulse.sock\n"
	    "mode = 0660\n"
	    "group =\n"
	    "max_connections = 256\n"
	    "max_line = 64KiB\n"
	    "max_reply_buffer = 1MiB\n"
	    "abort_on_disconnect = true\n"
	    "\n"
	    "[monitor]\n"
	    "report_interval = 15s\n"
	    "setup_timeout = 0\n"
	    "prediction_timeout = 0\n"
	    "max_in_flight = 100000\n"
	    "shutdown_grace = 5s\n"
	    "scheduled_at =\n"
	    "max_concurrency = 0\n"
	    "\n"
	    "[report]\n"
	    "instance_state_url =\n"
	    "setup_run_url =\n"
	    "auth_token =\n"
	    "auth_token_file =\n"
	    "timeout = 10s\n"
	    "ca_file =\n"
	    "retry_base = 250ms\n"
	    "retry_max = 30s\n"
	    "max_attempts = 8\n"
	    "max_pending = 5760\n"
	    "spool_dir =\n"
	    "\n"
	    "[identity]\n"
	    "instance_id =\n"
	    "deployment_key =\n"
	    "docker_image_uri =\n"
	    "hardware =\n"
	    "compute_unit =\n"
	    "compute_unit_count = 1\n"
	    "version =\n"
	    "pod_name =\n"
	    "pod_namespace =\n"
	    "node_name =\n"
	    "\n"
	    "[http]\n"
	    "listen = 0.0.0.0:9464\n"
	    "max_connections = 64\n"
	    "connection_timeout = 10s\n"
	    "max_body = 64KiB\n"
	    "download_metrics_rps = 100\n"
	    "\n"
	    "[scalestate]\n"
	    "redis_url =\n"
	    "redis_green_url =\n"
	    "interval = 15s\n"
	    "queue_key =\n"
	    "queue_kind = auto\n"
	    "queue_group =\n"
	    "max_snapshots = 120\n"
	    "connect_timeout = 2s\n"
	    "command_timeout = 2s\n"
	    "reconnect_base = 250ms\n"
	    "reconnect_max = 30s\n"
	    "\n"
	    "[instance_metadata]\n"
	    "\n"
	    "[runtime_metadata]\n";
	struct config c;
	char *text;

	config_init(&c);
	text = config_format(&c);
	assert_string_equal(text, want);
	free(text);
	config_free(&c);
}

/* Value syntax */

struct num_case {
	const char *text;
	int ok;
	int64_t want;
};

static void
test_duration_syntax(void **state)
{
	static const struct num_case cases[] = {
		{ "0", 1, 0 }, { "0s", 1, 0 }, { "0.0", 1, 0 }, { "00", 1, 0 },
		{ "1ns", 1, 1 }, { "1us", 1, 1000 }, { "250ms", 1, 250 * NS_MS },
		{ "1.5s", 1, 1500 * NS_MS }, { "15s", 1, 15 * NS_S },
		{ "30m", 1, 1800 * NS_S }, { "1h", 1, 3600 * NS_S },
		{ "1d", 1, 86400 * NS_S }, { "0.5ms", 1, 500000 },
		{ "1.25h", 1, 4500 * NS_S },
		{ "0.001ns", 1, 0 },	/* below a nanosecond: rounded down */
		{ "1.0000000019s", 1, NS_S + 1 },
		{ "0.3333333333333333333333s", 1, 333333333 },
		{ "9223372036854775807ns", 1, INT64_MAX },
		{ "9223372036854775808ns", 0, 0 },
		{ "106751d", 1, INT64_C(106751) * 86400 * NS_S },
		{ "106752d", 0, 0 },
		{ "99999999999999999999999s", 0, 0 },
		{ "15", 0, 0 }, { "1.5", 0, 0 }, { "15x", 0, 0 }, { "-1s", 0, 0 },
		{ "", 0, 0 }, { ".5s", 0, 0 }, { "1.s", 0, 0 }, { "+1s", 0, 0 },
		{ "1h30m", 0, 0 }, { "15 s", 0, 0 }, { "15S", 0, 0 },
		{ "s", 0, 0 }, { "1e3s", 0, 0 },
	};
	size_t i;
	int64_t got;
	int r;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		got = -42;
		r = config_duration_parse(cases[i].text, &got);
		if (cases[i].ok && (r != 0 || got != cases[i].want))
			fail_msg("duration \"%s\": expected %lld, got r=%d "
			    "%lld", cases[i].text, (long long)cases[i].want, r,
			    (long long)got);
		if (!cases[i].ok && r == 0)
			fail_msg("duration \"%s\": expected an error, got %lld",
			    cases[i].text, (long long)got);
	}
}

static void
test_size_syntax(void **state)
{
	static const struct num_case cases[] = {
		{ "0", 1, 0 }, { "512", 1, 512 }, { "1B", 1, 1 },
		{ "64KiB", 1, 65536 }, { "1MiB", 1, 1048576 },
		{ "2GiB", 1, INT64_C(2147483648) },
		{ "8589934591GiB", 1, INT64_C(8589934591) << 30 },
		{ "8589934592GiB", 0, 0 },
		{ "9223372036854775808", 0, 0 },
		{ "1.5MiB", 0, 0 }, { "64K", 0, 0 }, { "64KB", 0, 0 },
		{ "64kib", 0, 0 }, { "-1", 0, 0 }, { "", 0, 0 }, { "MiB", 0, 0 },
		{ "64 KiB", 0, 0 },
	};
	size_t i;
	int64_t got;
	int r;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		got = -42;
		r = config_size_parse(cases[i].text, &got);
		if (cases[i].ok && (r != 0 || got != cases[i].want))
			fail_msg("size \"%s\": expected %lld, got r=%d %lld",
			    cases[i].text, (long long)cases[i].want, r,
			    (long long)got);
		if (!cases[i].ok && r == 0)
			fail_msg("size \"%s\": expected an error, got %lld",
			    cases[i].text, (long long)got);
	}
}

/* Good values of every type, through the INI parser. */
static void
test_good_values(void **state)
{
	struct config c;

	parse_ok(&c,
	    "[agent]\nlog_level = DEBUG\nlog_format = Text\n"
	    "[socket]\nmode = 600\nmax_connections = 1\nmax_line = 256\n"
	    "max_reply_buffer = 256MiB\nabort_on_disconnect = Off\n"
	    "[monitor]\nreport_interval = 10ms\nsetup_timeout = 7d\n"
	    "prediction_timeout = 1.5s\nmax_in_flight = 10000000\n"
	    "shutdown_grace = 10m\n"
	    "scheduled_at = 2026-01-02T15:04:05.5+01:00\n"
	    "[identity]\ncompute_unit_count = 0\n");
	assert_int_equal(c.log_level, CONFIG_LOG_DEBUG);
	assert_int_equal(c.log_format, CONFIG_LOG_TEXT);
	assert_int_equal(c.socket_mode, 0600);
	assert_int_equal(c.socket_max_connections, 1);
	assert_int_equal(c.socket_max_line, 256);
	assert_int_equal(c.socket_max_reply_buffer, INT64_C(256) << 20);
	assert_int_equal(c.socket_abort_on_disconnect, 0);
	assert_int_equal(c.monitor_report_interval, 10 * NS_MS);
	assert_int_equal(c.monitor_setup_timeout, 7 * 86400 * NS_S);
	assert_int_equal(c.monitor_prediction_timeout, 1500 * NS_MS);
	assert_int_equal(c.monitor_max_in_flight, 10000000);
	assert_int_equal(c.monitor_shutdown_grace, 600 * NS_S);
	assert_string_equal(c.monitor_scheduled_at,
	    "2026-01-02T15:04:05.5+01:00");
	assert_int_equal(c.identity_compute_unit_count, 0);
	/* Canonical forms. */
	assert_value(&c, "agent", "log_level", "debug");
	assert_value(&c, "socket", "mode", "0600");
	assert_value(&c, "socket", "max_line", "256B");
	assert_value(&c, "monitor", "prediction_timeout", "1500ms");
	assert_value(&c, "monitor", "shutdown_grace", "10m");
	config_free(&c);

	/* Booleans in every spelling. */
	parse_ok(&c, "[socket]\nabort_on_disconnect = yes\n");
	assert_int_equal(c.socket_abort_on_disconnect, 1);
	config_free(&c);
	parse_ok(&c, "[socket]\nabort_on_disconnect = NO\n");
	assert_int_equal(c.socket_abort_on_disconnect, 0);
	config_free(&c);
	parse_ok(&c, "[socket]\nabort_on_disconnect = 0\n");
	assert_int_equal(c.socket_abort_on_disconnect, 0);
	config_free(&c);
	parse_ok(&c, "[socket]\nabort_on_disconnect = ON\n");
	assert_int_equal(c.socket_abort_on_disconnect, 1);
	config_free(&c);
	parse_ok(&c, "[socket]\nabort_on_disconnect = 1\n");
	assert_int_equal(c.socket_abort_on_disconnect, 1);
	config_free(&c);
	parse_ok(&c, "[socket]\nabort_on_disconnect = FALSE\n");
	assert_int_equal(c.socket_abort_on_disconnect, 0);
	config_free(&c);
}

/* Bad values: the whole message, for each type and each reason. */
static void
test_bad_values(void **state)
{
	static const char dur[] = "(allowed: a duration like 250ms, 15s, "
	    "30m, 1h; range 10ms..1h)";
	static const struct {
		const char *text;
		const char *want;
	} cases[] = {
		{ "[monitor]\nreport_interval = 15x\n",
		    "podpulse.ini:2: [monitor] report_interval = \"15x\": bad "
		    "unit \"x\" " },
		{ "[monitor]\nreport_interval = 15\n",
		    "podpulse.ini:2: [monitor] report_interval = \"15\": "
		    "missing unit " },
		{ "[monitor]\nreport_interval = -1s\n",
		    "podpulse.ini:2: [monitor] report_interval = \"-1s\": "
		    "negative " },
		{ "[monitor]\nreport_interval = 1h1ns\n",
		    "podpulse.ini:2: [monitor] report_interval = \"1h1ns\": "
		    "bad unit \"h1ns\" " },
		{ "[monitor]\nreport_interval =\n",
		    "podpulse.ini:2: [monitor] report_interval = \"\": empty " },
		{ "[monitor]\nreport_interval = 9ms\n",
		    "podpulse.ini:2: [monitor] report_interval = \"9ms\": out "
		    "of range " },
		{ "[monitor]\nreport_interval = 3600.000000001s\n",
		    "podpulse.ini:2: [monitor] report_interval = "
		    "\"3600.000000001s\": out of range " },
		{ "[monitor]\nreport_interval = 0\n",
		    "podpulse.ini:2: [monitor] report_interval = \"0\": out of "
		    "range " },
	};
	char want[512];
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		snprintf(want, sizeof want, "%s%s", cases[i].want, dur);
		expect_ini_error(cases[i].text, want);
	}
	expect_ini_error("[socket]\nmax_connections = 0\n",
	    "podpulse.ini:2: [socket] max_connections = \"0\": out of range "
	    "(allowed: an integer; range 1..65536)");
	expect_ini_error("[socket]\nmax_connections = 65537\n",
	    "podpulse.ini:2: [socket] max_connections = \"65537\": out of "
	    "range (allowed: an integer; range 1..65536)");
	expect_ini_error("[socket]\nmax_connections = 99999999999999999999\n",
	    "podpulse.ini:2: [socket] max_connections = "
	    "\"99999999999999999999\": out of range (allowed: an integer; "
	    "range 1..65536)");
	expect_ini_error("[socket]\nmax_connections = -9223372036854775808\n",
	    "podpulse.ini:2: [socket] max_connections = "
	    "\"-9223372036854775808\": out of range (allowed: an integer; "
	    "range 1..65536)");
	expect_ini_error("[socket]\nmax_connections = 12a\n",
	    "podpulse.ini:2: [socket] max_connections = \"12a\": not an "
	    "integer (allowed: an integer; range 1..65536)");
	expect_ini_error("[socket]\nmax_connections = +5\n",
	    "podpulse.ini:2: [socket] max_connections = \"+5\": not an "
	    "integer (allowed: an integer; range 1..65536)");
	expect_ini_error("[socket]\nmax_line = 255\n",
	    "podpulse.ini:2: [socket] max_line = \"255\": out of range "
	    "(allowed: a size like 512, 64KiB, 1MiB; range 256B..16MiB)");
	expect_ini_error("[socket]\nmax_line = 17MiB\n",
	    "podpulse.ini:2: [socket] max_line = \"17MiB\": out of range "
	    "(allowed: a size like 512, 64KiB, 1MiB; range 256B..16MiB)");
	expect_ini_error("[socket]\nmax_reply_buffer = 64KB\n",
	    "podpulse.ini:2: [socket] max_reply_buffer = \"64KB\": bad unit "
	    "\"KB\" (allowed: a size like 512, 64KiB, 1MiB; range "
	    "4KiB..256MiB)");
	expect_ini_error("[socket]\nmode = 0888\n",
	    "podpulse.ini:2: [socket] mode = \"0888\": not an octal mode "
	    "(allowed: an octal mode of 3 or 4 digits like 0660; range "
	    "0000..0777)");
	expect_ini_error("[socket]\nmode = 1777\n",
	    "podpulse.ini:2: [socket] mode = \"1777\": out of range "
	    "(allowed: an octal mode of 3 or 4 digits like 0660; range "
	    "0000..0777)");
	expect_ini_error("[socket]\nmode = 66\n",
	    "podpulse.ini:2: [socket] mode = \"66\": not an octal mode "
	    "(allowed: an octal mode of 3 or 4 digits like 0660; range "
	    "0000..0777)");
	expect_ini_error("[socket]\nmode = 00660\n",
	    "podpulse.ini:2: [socket] mode = \"00660\": not an octal mode "
	    "(allowed: an octal mode of 3 or 4 digits like 0660; range "
	    "0000..0777)");
	expect_ini_error("[socket]\nabort_on_disconnect = maybe\n",
	    "podpulse.ini:2: [socket] abort_on_disconnect = \"maybe\": not a "
	    "boolean (allowed: true or false (also yes/no, on/off, 1/0))");
	expect_ini_error("[agent]\nlog_level = verbose\n",
	    "podpulse.ini:2: [agent] log_level = \"verbose\": not a known "
	    "value (allowed: one of debug, info, warn, error)");
	expect_ini_error("[monitor]\nscheduled_at = yesterday\n",
	    "podpulse.ini:2: [monitor] scheduled_at = \"yesterday\": not an "
	    "RFC 3339 time (allowed: empty or an RFC 3339 time like "
	    "2026-01-02T15:04:05Z)");
	expect_ini_error("[monitor]\nscheduled_at = 2026-02-30T00:00:00Z\n",
	    "podpulse.ini:2: [monitor] scheduled_at = "
	    "\"2026-02-30T00:00:00Z\": not an RFC 3339 time (allowed: empty "
	    "or an RFC 3339 time like 2026-01-02T15:04:05Z)");
	expect_ini_error("[identity]\ncompute_unit_count = -1\n",
	    "podpulse.ini:2: [identity] compute_unit_count = \"-1\": out of "
	    "range (allowed: an integer; range 0..1000000)");
}

static void
test_string_checks(void **state)
{
	static const char path_allowed[] = "(allowed: a non-empty path of at "
	    "most 107 bytes (the sun_path limit of 108 with its NUL))";
	static const char url_allowed[] = "(allowed: empty or a URL starting "
	    "with http:// or https://)";
	char text[512], want[512], path[128];
	struct config c;

	snprintf(want, sizeof want, "podpulse.ini:2: [socket] path = \"\": "
	    "empty %s", path_allowed);
	expect_ini_error("[socket]\npath =\n", want);

	/* 107 bytes fit sun_path with the NUL; 108 do not. */
	memset(path, 'p', 107);
	path[0] = '/';
	path[107] = '\0';
	snprintf(text, sizeof text, "[socket]\npath = %s\n", path);
	parse_ok(&c, text);
	assert_string_equal(c.socket_path, path);
	config_free(&c);
	strcat(path, "p");
	snprintf(text, sizeof text, "[socket]\npath = %s\n", path);
	/* Messages show the first 64 bytes of a long value. */
	snprintf(want, sizeof want, "podpulse.ini:2: [socket] path = "
	    "\"%.64s...\": too long for a Unix socket path %s", path,
	    path_allowed);
	expect_ini_error(text, want);

	snprintf(want, sizeof want, "podpulse.ini:2: [report] "
	    "instance_state_url = \"ftp://example.com/x\": not an http:// or "
	    "https:// URL %s", url_allowed);
	expect_ini_error("[report]\ninstance_state_url = ftp://example.com/x\n",
	    want);
	snprintf(want, sizeof want, "podpulse.ini:2: [report] setup_run_url "
	    "= \"http://\": URL without a host %s", url_allowed);
	expect_ini_error("[report]\nsetup_run_url = http://\n", want);
	snprintf(want, sizeof want, "podpulse.ini:2: [report] setup_run_url "
	    "= \"example.com\": not an http:// or https:// URL %s",
	    url_allowed);
	expect_ini_error("[report]\nsetup_run_url = example.com\n", want);

	parse_ok(&c, "[report]\ninstance_state_url = HTTPS://example.com/s\n"
	    "setup_run_url = http://127.0.0.1:8080/setup?x=1\n");
	assert_string_equal(c.report_instance_state_url,
	    "HTTPS://example.com/s");
	assert_string_equal(c.report_setup_run_url,
	    "http://127.0.0.1:8080/setup?x=1");
	config_free(&c);
}

/* File structure */

static void
test_ini_structure_errors(void **state)
{
	expect_ini_error("[agent]\nlog_level = info\n[montor]\n"
	    "report_interval = 15s\n",
	    "podpulse.ini:3: unknown section [montor] (known: agent, socket, "
	    "monitor, report, identity, http, scalestate, instance_metadata, runtime_metadata); "
	    "did you mean [monitor]?");
	/* Reported at its own line even when it holds no key. */
	expect_ini_error("[agent]\n\n[nothing]\n",
	    "podpulse.ini:3: unknown section [nothing] (known: agent, socket, "
	    "monitor, report, identity, http, scalestate, instance_metadata, "
	    "runtime_metadata)");
	expect_ini_error("[Agent]\nlog_level = info\n",
	    "podpulse.ini:1: unknown section [Agent] (known: agent, socket, "
	    "monitor, report, identity, http, scalestate, instance_metadata, runtime_metadata); "
	    "did you mean [agent]? (names are lower case)");
	expect_ini_error("[]\n",
	    "podpulse.ini:1: unknown section [] (known: agent, socket, "
	    "monitor, report, identity, http, scalestate, instance_metadata, "
	    "runtime_metadata)");
	expect_ini_error("# comment\n[socket]\n; another\n\nmode = 0660\n"
	    "group = x\npaht = /tmp/x\n",
	    "podpulse.ini:7: [socket] unknown key \"paht\" (known: path, mode, "
	    "group, max_connections, max_line, max_reply_buffer, "
	    "abort_on_disconnect); did you mean \"path\"?");
	expect_ini_error("[socket]\nPath = /tmp/x\n",
	    "podpulse.ini:2: [socket] unknown key \"Path\" (known: path, mode, "
	    "group, max_connections, max_line, max_reply_buffer, "
	    "abort_on_disconnect); did you mean \"path\"?");
	expect_ini_error("[agent]\nzzz = 1\n",
	    "podpulse.ini:2: [agent] unknown key \"zzz\" (known: log_level, "
	    "log_format)");
	expect_ini_error("; top\nlog_level = info\n[agent]\n",
	    "podpulse.ini:2: key \"log_level\" outside any section (expected "
	    "a [section] line before it)");
	expect_ini_error("[agent]\nlog_level = info\n\n\n\n\n\n\nnonsense\n",
	    "podpulse.ini:9: malformed line (expected key = value or "
	    "[section])");
	expect_ini_error("[agent\nlog_level = info\n",
	    "podpulse.ini:1: malformed line (expected key = value or "
	    "[section])");
	expect_ini_error("[agent]\n= info\n",
	    "podpulse.ini:2: malformed line (expected key = value or "
	    "[section])");
}

static void
test_ini_first_error_wins(void **state)
{
	/* A malformed line before a bad value, and the other way round. */
	expect_ini_error("[agent]\nbad line\nlog_level = loud\n",
	    "podpulse.ini:2: malformed line (expected key = value or "
	    "[section])");
	expect_ini_error("[agent]\nlog_level = loud\nbad line\n",
	    "podpulse.ini:2: [agent] log_level = \"loud\": not a known value "
	    "(allowed: one of debug, info, warn, error)");
	expect_ini_error("[agent]\nlog_level = loud\n[nope]\n",
	    "podpulse.ini:2: [agent] log_level = \"loud\": not a known value "
	    "(allowed: one of debug, info, warn, error)");
	expect_ini_error("[nope]\n[agent]\nlog_level = loud\n",
	    "podpulse.ini:1: unknown section [nope] (known: agent, socket, "
	    "monitor, report, identity, http, scalestate, instance_metadata, "
	    "runtime_metadata)");
}

static void
test_ini_syntax_details(void **state)
{
	struct config_error err;
	struct config c;
	char text[1024];
	size_t n;

	/* CRLF, BOM, indentation, comments, inline comments, repeats. */
	parse_ok(&c, "\xef\xbb\xbf[agent]\r\n  log_level = warn\r\n"
	    "\tlog_format = text ; people\r\n# x = y\r\n; z\r\n"
	    "[socket]\npath = /tmp/a.sock\n    mode = 0600\n"
	    "path = /tmp/b.sock\n[agent]\nlog_level = error\n"
	    "[identity]\nversion = v1;2 \"quoted\"\n");
	assert_int_equal(c.log_level, CONFIG_LOG_ERROR);
	assert_int_equal(c.log_format, CONFIG_LOG_TEXT);
	/* An indented key is a key, not a continuation of path. */
	assert_string_equal(c.socket_path, "/tmp/b.sock");
	assert_int_equal(c.socket_mode, 0600);
	/* Quotes are not special; ';' needs white space before it. */
	assert_string_equal(c.identity_version, "v1;2 \"quoted\"");
	config_free(&c);

	/* An error on a CRLF line is numbered like any other. */
	expect_ini_error("[agent]\r\n\r\nlog_level = x\r\n",
	    "podpulse.ini:3: [agent] log_level = \"x\": not a known value "
	    "(allowed: one of debug, info, warn, error)");

	/* Empty text and text without a final newline. */
	parse_ok(&c, "");
	config_free(&c);
	parse_ok(&c, "[agent]\nlog_level = debug");
	assert_int_equal(c.log_level, CONFIG_LOG_DEBUG);
	config_free(&c);

	/* A line longer than inih's buffer is refused, not cut. */
	n = (size_t)snprintf(text, sizeof text, "[identity]\nversion = ");
	memset(text + n, 'v', 400);
	strcpy(text + n + 400, "\n");
	parse_err(text, &err);
	assert_contains(err.msg, "podpulse.ini:2: line too long (410 bytes, "
	    "at most 197;");
	/* The longest line that fits. */
	n = (size_t)snprintf(text, sizeof text, "[identity]\nversion = ");
	memset(text + n, 'v', 197 - 10);
	strcpy(text + n + 187, "\r\n");
	parse_ok(&c, text);
	assert_int_equal(strlen(c.identity_version), 187);
	config_free(&c);

	/* source names the file in every message. */
	config_init(&c);
	assert_int_equal(config_parse_ini(&c, "[x]\n", "/etc/p.ini", &err), -1);
	assert_contains(err.msg, "/etc/p.ini:1: unknown section [x]");
	config_free(&c);
}

static void
test_maps(void **state)
{
	struct config_error err;
	struct config c;

	parse_ok(&c, "[instance_metadata]\nzone = eu-1\nrack.id = r-7\n"
	    "zone = eu-2\n[runtime_metadata]\ncog_version = 0.16.0\n"
	    "empty =\n");
	assert_int_equal(c.instance_metadata.len, 2);
	assert_string_equal(c.instance_metadata.items[0].key, "zone");
	assert_string_equal(c.instance_metadata.items[0].value, "eu-2");
	assert_string_equal(c.instance_metadata.items[1].key, "rack.id");
	assert_string_equal(map_get(&c.runtime_metadata, "cog_version"),
	    "0.16.0");
	assert_string_equal(map_get(&c.runtime_metadata, "empty"), "");
	config_free(&c);

	expect_ini_error("[runtime_metadata]\nbad key = 1\n",
	    "podpulse.ini:2: [runtime_metadata] bad key \"bad key\" (allowed: "
	    "1 to 64 of A-Z a-z 0-9 _ . -)");
	expect_ini_error("[runtime_metadata]\n"
	    "k12345678901234567890123456789012345678901234567890123456789012345"
	    " = 1\n",
	    "podpulse.ini:2: [runtime_metadata] bad key "
	    "\"k1234567890123456789012345678901234567890123456789012345678901"
	    "23...\" (allowed: 1 to 64 of A-Z a-z 0-9 _ . -)");
	parse_ok(&c, "[runtime_metadata]\n"
	    "k123456789012345678901234567890123456789012345678901234567890123"
	    " = 1\n");
	assert_int_equal(c.runtime_metadata.len, 1);
	config_free(&c);

	/* config_set and overrides reach the maps too. */
	config_init(&c);
	assert_int_equal(config_set(&c, "instance_metadata", "a", " b ",
	    "test", &err), 0);
	assert_int_equal(config_set_override(&c,
	    "runtime_metadata.cog.version=1.2", &err), 0);
	assert_string_equal(map_get(&c.instance_metadata, "a"), "b");
	assert_string_equal(map_get(&c.runtime_metadata, "cog.version"),
	    "1.2");
	assert_int_equal(config_set(&c, "runtime_metadata", "x", "a\nb",
	    "test", &err), -1);
	assert_string_equal(err.msg, "test: [runtime_metadata] x = \"a\\x0ab\": "
	    "contains a control character (allowed: text without control "
	    "characters)");
	config_free(&c);
}

/* Environment and command line */

static void
test_env_rows_and_seeds(void **state)
{
	char *envp[] = {
		"HOME=/root",
		"POD_NAME=pod-1",
		"POD_NAMESPACE=ns-1",
		"NODE_NAME=node-1",
		"POD_SCHEDULED_AT=2026-01-02T03:04:05Z",
		"DIRECTOR_REPORT_INSTANCE_STATE_URL=http://d/state",
		"DIRECTOR_REPORT_SETUP_RUN_URL=http://d/setup",
		"WEBHOOK_AUTH_TOKEN=seedtoken",
		"PODPULSE_MONITOR_REPORT_INTERVAL=1s",
		"PODPULSE_SOCKET_MODE=0600",
		"PODPULSE_AGENT_LOG_LEVEL=warn",
		"PODPULSE_IDENTITY_VERSION=",
		"PODPULSE_INSTANCE_METADATA_ZONE=eu-1",
		"PODPULSE_RUNTIME_METADATA_COG_VERSION=0.16",
		"NOT_PODPULSE_X=1",
		"PODPULSE_NO_EQUALS_SIGN",
		NULL
	};
	struct config_error err;
	struct config c;

	parse_ok(&c, "[identity]\nversion = v9\n[monitor]\n"
	    "report_interval = 30s\n");
	assert_int_equal(config_apply_env(&c, envp, &err), 0);
	assert_string_equal(c.identity_pod_name, "pod-1");
	assert_string_equal(c.identity_pod_namespace, "ns-1");
	assert_string_equal(c.identity_node_name, "node-1");
	assert_string_equal(c.monitor_scheduled_at, "2026-01-02T03:04:05Z");
	assert_string_equal(c.report_instance_state_url, "http://d/state");
	assert_string_equal(c.report_setup_run_url, "http://d/setup");
	assert_string_equal(c.report_auth_token, "seedtoken");
	/* file < env */
	assert_int_equal(c.monitor_report_interval, NS_S);
	assert_int_equal(c.socket_mode, 0600);
	assert_int_equal(c.log_level, CONFIG_LOG_WARN);
	/* An empty value counts as set. */
	assert_string_equal(c.identity_version, "");
	assert_string_equal(map_get(&c.instance_metadata, "zone"), "eu-1");
	assert_string_equal(map_get(&c.runtime_metadata, "cog_version"),
	    "0.16");
	/* env < command line */
	assert_int_equal(config_set_override(&c, "monitor.report_interval=2s",
	    &err), 0);
	assert_int_equal(c.monitor_report_interval, 2 * NS_S);
	assert_int_equal(config_validate(&c, &err), 0);
	config_free(&c);

	/* No environment at all is fine. */
	config_init(&c);
	assert_int_equal(config_apply_env(&c, NULL, &err), 0);
	config_free(&c);
}

static void
test_env_podpulse_beats_seed(void **state)
{
	/* Whatever the order in the environment. */
	char *before[] = { "PODPULSE_IDENTITY_POD_NAME=explicit",
		"POD_NAME=seed", "PODPULSE_REPORT_AUTH_TOKEN=tok-explicit",
		"WEBHOOK_AUTH_TOKEN=tok-seed", NULL };
	char *after[] = { "POD_NAME=seed", "WEBHOOK_AUTH_TOKEN=tok-seed",
		"PODPULSE_IDENTITY_POD_NAME=explicit",
		"PODPULSE_REPORT_AUTH_TOKEN=tok-explicit", NULL };
	char **envs[] = { before, after };
	struct config_error err;
	struct config c;
	size_t i;

	for (i = 0; i < 2; i++) {
		config_init(&c);
		assert_int_equal(config_apply_env(&c, envs[i], &err), 0);
		assert_string_equal(c.identity_pod_name, "explicit");
		assert_string_equal(c.report_auth_token, "tok-explicit");
		config_free(&c);
	}
}

/* Kubernetes service links for a Service named podpulse are not config. */
static void
test_env_service_links_ignored(void **state)
{
	char *links[] = { "PODPULSE_SERVICE_HOST=10.0.0.7",
		"PODPULSE_SERVICE_PORT=9464", "PODPULSE_SERVICE_PORT_METRICS=9464",
		"PODPULSE_PORT=tcp://10.0.0.7:9464",
		"PODPULSE_PORT_9464_TCP=tcp://10.0.0.7:9464",
		"PODPULSE_PORT_9464_TCP_PROTO=tcp",
		"PODPULSE_PORT_9464_TCP_PORT=9464",
		"PODPULSE_PORT_9464_TCP_ADDR=10.0.0.7",
		"PODPULSE_MONITOR_SERVICE_HOST=10.0.0.8",
		"PODPULSE_MONITOR_PORT_53_UDP_ADDR=10.0.0.8",
		"PODPULSE_AGENT_LOG_LEVEL=debug", NULL };
	char *notlink[] = { "PODPULSE_PORT=9464", NULL };
	struct config_error err;
	struct config c;

	(void)state;
	config_init(&c);
	memset(&err, 0, sizeof err);
	if (config_apply_env(&c, links, &err) != 0)
		fail_msg("service links rejected: %s", err.msg);
	assert_value(&c, "agent", "log_level", "debug");
	config_free(&c);
	expect_env_error(notlink, "env PODPULSE_PORT: unknown "
	    "variable (expected PODPULSE_<SECTION>_<KEY> with a section of "
	    "agent, socket, monitor, report, identity, http, scalestate, instance_metadata, "
	    "runtime_metadata)");
}

static void
test_env_errors(void **state)
{
	char *typo[] = { "PODPULSE_MONITOR_REPORT_INTERVL=15s", NULL };
	char *nosec[] = { "PODPULSE_MONTOR_REPORT_INTERVAL=15s", NULL };
	char *bad[] = { "PODPULSE_MONITOR_REPORT_INTERVAL=15x", NULL };
	char *empty[] = { "PODPULSE_MONITOR_REPORT_INTERVAL=", NULL };
	char *seed[] = { "POD_SCHEDULED_AT=soon", NULL };
	char *badurl[] = { "DIRECTOR_REPORT_SETUP_RUN_URL=director:80", NULL };
	char *mapkey[] = { "PODPULSE_RUNTIME_METADATA_=1", NULL };
	char *lower[] = { "PODPULSE_agent_log_level=debug", NULL };

	expect_env_error(typo, "env PODPULSE_MONITOR_REPORT_INTERVL: "
	    "[monitor] unknown key \"report_intervl\" (known: report_interval, "
	    "setup_timeout, prediction_timeout, max_in_flight, shutdown_grace, "
	    "scheduled_at, max_concurrency); did you mean \"report_interval\"?");
	expect_env_error(nosec, "env PODPULSE_MONTOR_REPORT_INTERVAL: unknown "
	    "variable (expected PODPULSE_<SECTION>_<KEY> with a section of "
	    "agent, socket, monitor, report, identity, http, scalestate, instance_metadata, "
	    "runtime_metadata)");
	expect_env_error(lower, "env PODPULSE_agent_log_level: unknown "
	    "variable (expected PODPULSE_<SECTION>_<KEY> with a section of "
	    "agent, socket, monitor, report, identity, http, scalestate, instance_metadata, "
	    "runtime_metadata)");
	expect_env_error(bad, "env PODPULSE_MONITOR_REPORT_INTERVAL: "
	    "[monitor] report_interval = \"15x\": bad unit \"x\" (allowed: a "
	    "duration like 250ms, 15s, 30m, 1h; range 10ms..1h)");
	expect_env_error(empty, "env PODPULSE_MONITOR_REPORT_INTERVAL: "
	    "[monitor] report_interval = \"\": empty (allowed: a duration "
	    "like 250ms, 15s, 30m, 1h; range 10ms..1h)");
	expect_env_error(seed, "env POD_SCHEDULED_AT: [monitor] scheduled_at "
	    "= \"soon\": not an RFC 3339 time (allowed: empty or an RFC 3339 "
	    "time like 2026-01-02T15:04:05Z)");
	expect_env_error(badurl, "env DIRECTOR_REPORT_SETUP_RUN_URL: [report] "
	    "setup_run_url = \"director:80\": not an http:// or https:// URL "
	    "(allowed: empty or a URL starting with http:// or https://)");
	expect_env_error(mapkey, "env PODPULSE_RUNTIME_METADATA_: "
	    "[runtime_metadata] bad key \"\" (allowed: 1 to 64 of A-Z a-z 0-9 "
	    "_ . -)");
}

static void
test_overrides(void **state)
{
	struct config_error err;
	struct config c;

	config_init(&c);
	assert_int_equal(config_set_override(&c, "monitor.report_interval=1s",
	    &err), 0);
	assert_int_equal(c.monitor_report_interval, NS_S);
	assert_int_equal(config_set_override(&c, "socket.path= /tmp/x.sock ",
	    &err), 0);
	assert_string_equal(c.socket_path, "/tmp/x.sock");
	assert_int_equal(config_set(&c, "agent", "log_format", "text", "cli",
	    &err), 0);
	assert_int_equal(c.log_format, CONFIG_LOG_TEXT);

	assert_int_equal(config_set_override(&c, "monitor.report_intervl=1s",
	    &err), -1);
	assert_string_equal(err.msg, "command line: [monitor] unknown key "
	    "\"report_intervl\" (known: report_interval, setup_timeout, "
	    "prediction_timeout, max_in_flight, shutdown_grace, scheduled_at, max_concurrency); "
	    "did you mean \"report_interval\"?");
	assert_int_equal(config_set_override(&c, "scalestate.interval=200ms",
	    &err), 0);
	assert_int_equal(c.scalestate_interval, 200 * NS_MS);
	assert_int_equal(config_set_override(&c, "scalestat.interval=1s",
	    &err), -1);
	assert_string_equal(err.msg, "command line: unknown section "
	    "[scalestat] (known: agent, socket, monitor, report, identity, "
	    "http, scalestate, instance_metadata, runtime_metadata); did you "
	    "mean [scalestate]?");
	assert_int_equal(config_set_override(&c, "monitor.report_interval=1",
	    &err), -1);
	assert_string_equal(err.msg, "command line: [monitor] report_interval "
	    "= \"1\": missing unit (allowed: a duration like 250ms, 15s, 30m, "
	    "1h; range 10ms..1h)");
	assert_int_equal(config_set_override(&c, "report_interval", &err), -1);
	assert_string_equal(err.msg, "command line: bad setting "
	    "\"report_interval\" (expected section.key=value)");
	assert_int_equal(config_set_override(&c, "monitor.=1s", &err), -1);
	assert_string_equal(err.msg, "command line: bad setting \"monitor.\" "
	    "(expected section.key=value)");
	assert_int_equal(config_set_override(&c, ".x=1s", &err), -1);
	assert_string_equal(err.msg, "command line: bad setting \".x\" "
	    "(expected section.key=value)");
	assert_int_equal(config_set_override(&c, "monitor.report_interval",
	    &err), -1);
	assert_string_equal(err.msg, "command line: bad setting "
	    "\"monitor.report_interval\" (expected section.key=value)");
	/* A malformed setting never echoes what follows '='. */
	assert_int_equal(config_set_override(&c, "auth_token=hunter2", &err),
	    -1);
	assert_lacks(err.msg, "hunter2");
	/* A NULL err is allowed. */
	assert_int_equal(config_set_override(&c, "x", NULL), -1);
	config_free(&c);
}

static void
test_validate(void **state)
{
	char *seed[] = { "WEBHOOK_AUTH_TOKEN=abc", NULL };
	struct config_error err;
	struct config c;

	/* The seed token and a token file from the file: one too many. */
	parse_ok(&c, "[report]\nauth_token_file = /run/secrets/token\n");
	assert_int_equal(config_validate(&c, &err), 0);
	assert_int_equal(config_apply_env(&c, seed, &err), 0);
	assert_int_equal(config_validate(&c, &err), -1);
	assert_string_equal(err.msg, "configuration: [report] auth_token and "
	    "auth_token_file are both set: set one of report.auth_token, "
	    "report.auth_token_file");
	assert_lacks(err.msg, "abc");
	config_free(&c);

	/* Values set by code are held to the same rules as parsed ones. */
	config_init(&c);
	c.socket_max_connections = 0;
	assert_int_equal(config_validate(&c, &err), -1);
	assert_string_equal(err.msg, "configuration: [socket] max_connections "
	    "= \"0\": out of range (allowed: an integer; range 1..65536)");
	config_free(&c);

	config_init(&c);
	free(c.report_instance_state_url);
	c.report_instance_state_url = strdup("gopher://x");
	assert_int_equal(config_validate(&c, &err), -1);
	assert_contains(err.msg, "configuration: [report] instance_state_url "
	    "= \"gopher://x\": not an http:// or https:// URL");
	config_free(&c);

	config_init(&c);
	c.log_level = 9;
	assert_int_equal(config_validate(&c, &err), -1);
	assert_contains(err.msg, "configuration: [agent] log_level = \"9\": "
	    "not a known value");
	config_free(&c);

	/* Scale snapshots need a deployable to name their keys after. */
	parse_ok(&c, "[scalestate]\nredis_url = redis://pa55@h:1\n");
	assert_int_equal(config_validate(&c, &err), -1);
	assert_string_equal(err.msg, "configuration: [scalestate] redis_url "
	    "is set but [identity] deployment_key is empty: set "
	    "identity.deployment_key");
	config_free(&c);
	parse_ok(&c, "[scalestate]\nredis_green_url = redis://h:1\n"
	    "[identity]\ndeployment_key = d\n");
	assert_int_equal(config_validate(&c, &err), -1);
	assert_contains(err.msg, "redis_green_url is set without redis_url");
	config_free(&c);
	parse_ok(&c, "[scalestate]\nredis_url = redis://h:1\n"
	    "reconnect_base = 2s\nreconnect_max = 1s\n"
	    "[identity]\ndeployment_key = d\n");
	assert_int_equal(config_validate(&c, &err), -1);
	assert_contains(err.msg, "reconnect_base is longer than reconnect_max");
	config_free(&c);
	parse_ok(&c, "[scalestate]\nredis_url = redis://h:1\n"
	    "redis_green_url = unix:///g.sock\n"
	    "[identity]\ndeployment_key = d\n");
	assert_int_equal(config_validate(&c, &err), 0);
	config_free(&c);
}

/* Secrets */

static void
test_redaction(void **state)
{
	char *envp[] = { "PODPULSE_REPORT_AUTH_TOKEN=s3cr3t-env", NULL };
	char *badenv[] = { "WEBHOOK_AUTH_TOKEN=s3cr3t bad", NULL };
	const struct config_option *o;
	struct config_error err;
	struct config c;
	char *text, *v;

	/* From the file, the environment and the command line. */
	parse_ok(&c, "[report]\nauth_token = s3cr3t-file\n");
	text = config_format(&c);
	assert_contains(text, "\nauth_token = ***\n");
	assert_lacks(text, "s3cr3t");
	free(text);
	assert_int_equal(config_apply_env(&c, envp, &err), 0);
	assert_string_equal(c.report_auth_token, "s3cr3t-env");
	text = config_format(&c);
	assert_lacks(text, "s3cr3t");
	free(text);
	assert_int_equal(config_set_override(&c, "report.auth_token=s3cr3t-o",
	    &err), 0);
	o = config_option_find("report", "auth_token");
	v = config_value_format(&c, o, 1);
	assert_string_equal(v, "***");
	free(v);
	v = config_value_format(&c, o, 0);
	assert_string_equal(v, "s3cr3t-o");
	free(v);
	config_free(&c);

	/* An invalid token is refused without being shown. */
	parse_err("[report]\nauth_token = s3cr3t\x01x\n", &err);
	assert_string_equal(err.msg, "podpulse.ini:2: [report] auth_token = "
	    "(secret): contains a control character (allowed: printable "
	    "ASCII without spaces, as it goes into an HTTP header)");
	parse_err("[report]\nauth_token = s3cr3t token\n", &err);
	assert_string_equal(err.msg, "podpulse.ini:2: [report] auth_token = "
	    "(secret): contains a space, control or non-ASCII character "
	    "(allowed: printable ASCII without spaces, as it goes into an "
	    "HTTP header)");
	expect_env_error(badenv, "env WEBHOOK_AUTH_TOKEN: [report] auth_token "
	    "= (secret): contains a space, control or non-ASCII character "
	    "(allowed: printable ASCII without spaces, as it goes into an "
	    "HTTP header)");
	config_init(&c);
	assert_int_equal(config_set_override(&c, "report.auth_token=s3cr3t\t",
	    &err), 0);
	assert_int_equal(config_set_override(&c, "report.auth_token=s3 cr3t",
	    &err), -1);
	assert_lacks(err.msg, "s3");
	assert_int_equal(config_set_override(&c, "report.auth_tokn=s3cr3t",
	    &err), -1);
	assert_lacks(err.msg, "s3cr3t");
	config_free(&c);

	/* A password in a URL is masked in output and in messages. */
	parse_ok(&c, "[report]\ninstance_state_url = "
	    "https://user:pa55w0rd@example.com/x\n");
	text = config_format(&c);
	assert_contains(text, "instance_state_url = "
	    "https://user:***@example.com/x\n");
	assert_lacks(text, "pa55w0rd");
	free(text);
	config_free(&c);
	/* The password ends at the last '@' of the authority. */
	parse_ok(&c, "[report]\ninstance_state_url = https://u:p@55@h:1/x@y\n"
	    "setup_run_url = https://user@h/no-password\n");
	text = config_format(&c);
	assert_contains(text, "instance_state_url = https://u:***@h:1/x@y\n");
	assert_contains(text, "setup_run_url = https://user@h/no-password\n");
	free(text);
	config_free(&c);
	parse_err("[report]\ninstance_state_url = "
	    "https://user:pa55w0rd@exa mple.com/x\n", &err);
	assert_lacks(err.msg, "pa55w0rd");
	assert_contains(err.msg, "\"https://user:***@exa mple.com/x\"");

	/* Redis URLs: a lone user-info is the password. */
	parse_ok(&c, "[scalestate]\nredis_url = redis://pa55w0rd@h:1/2\n"
	    "redis_green_url = redis://alice:pa55w0rd@g:1\n");
	text = config_format(&c);
	assert_contains(text, "redis_url = redis://***@h:1/2\n");
	assert_contains(text, "redis_green_url = redis://alice:***@g:1\n");
	assert_lacks(text, "pa55w0rd");
	free(text);
	config_free(&c);
	parse_err("[scalestate]\nredis_url = redis://pa55w0rd@h:99999\n",
	    &err);
	assert_lacks(err.msg, "pa55w0rd");
	assert_contains(err.msg, "redis://***@h:99999");
	parse_err("[scalestate]\nredis_url = unix://pa55w0rd@relative\n",
	    &err);
	assert_lacks(err.msg, "pa55w0rd");
}

/* The whole table */

struct walk_value {
	char text[160];		/* as written */
	char canon[160];	/* as config_format writes it */
};

/* A valid value for a row that is not its default. */
static void
walk_pick(const struct config_option *o, struct walk_value *w)
{
	if (strcmp(o->key, "path") == 0)
		snprintf(w->text, sizeof w->text, "/tmp/walk.sock");
	else if (strcmp(o->key, "listen") == 0)
		snprintf(w->text, sizeof w->text, "[::1]:9999");
	else if (strncmp(o->key, "redis_", 6) == 0)
		snprintf(w->text, sizeof w->text, "redis://walk:6379/%d",
		    (int)strlen(o->key));
	else if (strstr(o->key, "_url") != NULL)
		snprintf(w->text, sizeof w->text, "https://example.com/%s",
		    o->key);
	else if (o->type == CONFIG_STRING)
		snprintf(w->text, sizeof w->text, "walk-%s.1/x", o->key);
	else if (o->type == CONFIG_TIME)
		snprintf(w->text, sizeof w->text, "2026-01-02T15:04:05.123Z");
	else if (o->type == CONFIG_ENUM)
		snprintf(w->text, sizeof w->text, "%s", o->choices[1]);
	else if (o->type == CONFIG_BOOL)
		snprintf(w->text, sizeof w->text, "%s",
		    strcmp(o->def, "true") == 0 ? "false" : "true");
	else
		w->text[0] = '\0';	/* ranged: min and max, see below */
	snprintf(w->canon, sizeof w->canon, "%s", w->text);
	if (o->flags & CONFIG_SECRET)
		snprintf(w->canon, sizeof w->canon, "***");
}

/* A ranged value as text the parser reads exactly (ns, bytes, octal). */
static void
walk_number(const struct config_option *o, int64_t n, char *out,
    size_t size)
{
	if (o->type == CONFIG_DURATION)
		snprintf(out, size, "%lldns", (long long)n);
	else if (o->type == CONFIG_MODE)
		snprintf(out, size, "%04llo", (unsigned long long)n);
	else
		snprintf(out, size, "%lld", (long long)n);
}

/* Set o to text, format the whole config, re-parse it, compare o. */
static void
walk_round_trip(const struct config_option *o, const char *text)
{
	struct config_error err;
	struct config a, b;
	char *out, *va, *vb;

	config_init(&a);
	if (config_set(&a, o->section, o->key, text, "walk", &err) != 0)
		fail_msg("[%s] %s = \"%s\": %s", o->section, o->key, text,
		    err.msg);
	out = config_format(&a);
	config_init(&b);
	if (config_parse_ini(&b, out, "formatted", &err) != 0)
		fail_msg("re-parse of config_format output: %s\n%s", err.msg,
		    out);
	va = config_value_format(&a, o, 1);
	vb = config_value_format(&b, o, (o->flags & CONFIG_SECRET) ? 1 : 0);
	if (strcmp(va, vb) != 0)
		fail_msg("[%s] %s = \"%s\": formatted \"%s\", re-parsed \"%s\"",
		    o->section, o->key, text, va, vb);
	/* And the rest of the config survived untouched. */
	free(out);
	free(va);
	free(vb);
	va = config_format(&a);
	vb = config_format(&b);
	assert_string_equal(va, vb);
	free(va);
	free(vb);
	config_free(&a);
	config_free(&b);
}

static void
walk_reject(const struct config_option *o, const char *text)
{
	struct config_error err;
	struct config c;
	char want[256];

	config_init(&c);
	if (config_set(&c, o->section, o->key, text, "walk", &err) == 0)
		fail_msg("[%s] %s = \"%s\" accepted, expected out of range",
		    o->section, o->key, text);
	snprintf(want, sizeof want, "walk: [%s] %s = ", o->section, o->key);
	assert_contains(err.msg, want);
	assert_contains(err.msg, "(allowed: ");
	if (o->type != CONFIG_DURATION || text[0] != '-')
		assert_contains(err.msg, ": out of range (allowed: ");
	config_free(&c);
}

static void
walk_ranged(const struct config_option *o)
{
	char text[64];

	walk_number(o, o->min, text, sizeof text);
	walk_round_trip(o, text);
	walk_number(o, o->max, text, sizeof text);
	walk_round_trip(o, text);
	if (o->min > 0 || o->type == CONFIG_INT || o->type ==
	    CONFIG_DURATION) {
		walk_number(o, o->min - 1, text, sizeof text);
		walk_reject(o, text);
	}
	walk_number(o, o->max + 1, text, sizeof text);
	walk_reject(o, text);
}

static void
walk_env(const struct config_option *o, const char *text)
{
	struct config_error err;
	struct config c;
	char entry[256], *envp[2];
	char *got;
	size_t i, n;

	n = (size_t)snprintf(entry, sizeof entry, "PODPULSE_%s_%s=",
	    o->section, o->key);
	for (i = 0; i < n; i++)
		entry[i] = (char)(entry[i] >= 'a' && entry[i] <= 'z' ?
		    entry[i] - 'a' + 'A' : entry[i]);
	snprintf(entry + n, sizeof entry - n, "%s", text);
	envp[0] = entry;
	envp[1] = NULL;
	config_init(&c);
	if (config_apply_env(&c, envp, &err) != 0)
		fail_msg("%s: %s", entry, err.msg);
	got = config_value_format(&c, o, 0);
	if (o->type == CONFIG_STRING || o->type == CONFIG_TIME)
		assert_string_equal(got, text);
	free(got);
	config_free(&c);
}

static void
test_table_walk(void **state)
{
	const struct config_option *t, *o;
	struct walk_value w;
	size_t n, i, j;

	t = config_options(&n);
	for (i = 0; i < n; i++) {
		o = &t[i];
		if (o->type == CONFIG_INT || o->type == CONFIG_DURATION ||
		    o->type == CONFIG_SIZE || o->type == CONFIG_MODE) {
			walk_ranged(o);
			continue;
		}
		walk_pick(o, &w);
		walk_round_trip(o, w.text);
		walk_env(o, w.text);
		if (o->type == CONFIG_ENUM) {
			for (j = 0; o->choices[j] != NULL; j++)
				walk_round_trip(o, o->choices[j]);
		}
		/* Empty, where the default shows it is allowed. */
		if (o->def[0] == '\0')
			walk_round_trip(o, "");
	}
}

static void
test_round_trip_everything(void **state)
{
	struct config a, b;
	char *fa, *fb;

	parse_ok(&a, "[agent]\nlog_level = warn\nlog_format = text\n"
	    "[socket]\npath = /tmp/rt.sock\nmode = 0644\ngroup = podpulse\n"
	    "max_connections = 9\nmax_line = 3000\nmax_reply_buffer = 128MiB\n"
	    "abort_on_disconnect = no\n"
	    "[monitor]\nreport_interval = 90s\nsetup_timeout = 1.5h\n"
	    "prediction_timeout = 1d\nmax_in_flight = 7\n"
	    "shutdown_grace = 1us\nscheduled_at = 2026-01-02 03:04:05z\n"
	    "[report]\ninstance_state_url = http://h/a\n"
	    "setup_run_url = https://h/b\nauth_token_file = /t\n"
	    "[identity]\ninstance_id = i\ndeployment_key = d/k\n"
	    "docker_image_uri = r/i:t\nhardware = h100\ncompute_unit = gpu\n"
	    "compute_unit_count = 8\nversion = v\npod_name = p\n"
	    "pod_namespace = n\nnode_name = no\n"
	    "[instance_metadata]\na = 1\nb.c-d_e = two words\n"
	    "[runtime_metadata]\ncog_version = 0.16.0\n");
	fa = config_format(&a);
	assert_contains(fa, "max_line = 3000B\n");
	assert_contains(fa, "setup_timeout = 90m\n");
	assert_contains(fa, "report_interval = 90s\n");
	assert_contains(fa, "max_reply_buffer = 128MiB\n");
	assert_contains(fa, "shutdown_grace = 1us\n");
	assert_contains(fa, "[instance_metadata]\na = 1\nb.c-d_e = two words\n");
	parse_ok(&b, fa);
	fb = config_format(&b);
	assert_string_equal(fa, fb);
	free(fa);
	free(fb);
	config_free(&a);
	config_free(&b);
}

/* Reload */

static void
test_reload_keep(void **state)
{
	struct config old, fresh;
	char *kept;

	parse_ok(&old, "[socket]\npath = /tmp/old.sock\n");
	parse_ok(&fresh, "[socket]\npath = /tmp/new.sock\nmax_connections = 3\n"
	    "[agent]\nlog_level = debug\n[monitor]\nreport_interval = 1m\n"
	    "max_in_flight = 5\n[identity]\ninstance_id = other\n"
	    "[runtime_metadata]\nk = v\n");
	kept = config_reload_keep(&old, &fresh);
	assert_non_null(kept);
	assert_string_equal(kept,
	    "socket.path,monitor.report_interval,identity.instance_id");
	free(kept);
	/* Kept: the old values, as independent copies. */
	assert_string_equal(fresh.socket_path, "/tmp/old.sock");
	assert_ptr_not_equal(fresh.socket_path, old.socket_path);
	assert_int_equal(fresh.monitor_report_interval, 15 * NS_S);
	assert_string_equal(fresh.identity_instance_id, "");
	/* Taken: the reloadable ones. */
	assert_int_equal(fresh.socket_max_connections, 3);
	assert_int_equal(fresh.log_level, CONFIG_LOG_DEBUG);
	assert_int_equal(fresh.monitor_max_in_flight, 5);
	assert_string_equal(map_get(&fresh.runtime_metadata, "k"), "v");
	/* A second reload of the same file keeps nothing more. */
	assert_null(config_reload_keep(&old, &fresh));
	config_free(&fresh);

	/* Nothing changed, or only reloadable keys: NULL. */
	parse_ok(&fresh, "[socket]\npath = /tmp/old.sock\n");
	assert_null(config_reload_keep(&old, &fresh));
	config_free(&fresh);
	parse_ok(&fresh, "[socket]\npath = /tmp/old.sock\n"
	    "abort_on_disconnect = false\n[report]\nauth_token = t\n");
	assert_null(config_reload_keep(&old, &fresh));
	assert_int_equal(fresh.socket_abort_on_disconnect, 0);
	assert_string_equal(fresh.report_auth_token, "t");
	config_free(&fresh);
	config_free(&old);
}

/* The shipped files */

static char *
read_file(const char *path)
{
	FILE *f;
	char *text;
	size_t n;

	f = fopen(path, "r");
	if (f == NULL)
		fail_msg("cannot read %s", path);
	text = malloc(1 << 20);
	assert_non_null(text);
	n = fread(text, 1, (1 << 20) - 1, f);
	fclose(f);
	text[n] = '\0';
	return text;
}

/* source_dir is the source directory, or the podpulse.ini in it. */
static void
shipped_path(const char *name, char *out, size_t size)
{
	const char *slash;
	size_t n = strlen(source_dir);

	if (n > 4 && strcmp(source_dir + n - 4, ".ini") == 0) {
		slash = strrchr(source_dir, '/');
		n = slash != NULL ? (size_t)(slash - source_dir + 1) : 0;
		snprintf(out, size, "%.*s%s", (int)n, source_dir, name);
	} else
		snprintf(out, size, "%s/config/%s", source_dir, name);
}

/*
 * Every key is in podpulse.ini, commented out (";key = default") with its
 * default: uncommenting all of them gives the defaults again.
 */
static void
test_shipped_podpulse_ini(void **state)
{
	const struct config_option *t;
	struct config c;
	char path[1024], *text, *line, *v;
	size_t n, i, found;

	if (source_dir == NULL) {
		print_message("skipped: pass the source directory as argv[1] "
		    "or in env PODPULSE_SOURCE_DIR\n");
		skip();
	}
	shipped_path("podpulse.ini", path, sizeof path);
	text = read_file(path);
	parse_ok(&c, text);
	assert_int_equal(config_validate(&c, NULL), 0);
	config_free(&c);

	/* Uncomment ";key = value" lines (help comments have "; "). */
	t = config_options(&n);
	for (i = 0; i < n; i++) {
		found = 0;
		for (line = text; line != NULL; line = strchr(line, '\n')) {
			if (*line == '\n')
				line++;
			if (line[0] == ';' && strncmp(line + 1, t[i].key,
			    strlen(t[i].key)) == 0 &&
			    strncmp(line + 1 + strlen(t[i].key), " =", 2) == 0)
				found++;
		}
		if (found == 0)
			fail_msg("%s lacks \";%s = %s\"", path, t[i].key,
			    t[i].def);
	}
	for (line = text; (line = strstr(line, "\n;")) != NULL; line++) {
		if (line[2] >= 'a' && line[2] <= 'z')
			line[1] = ' ';
	}
	parse_ok(&c, text);
	for (i = 0; i < n; i++) {
		v = config_value_format(&c, &t[i], 0);
		if (strcmp(v, t[i].def) != 0)
			fail_msg("%s: [%s] %s documented as \"%s\", default is "
			    "\"%s\"", path, t[i].section, t[i].key, v,
			    t[i].def);
		free(v);
	}
	assert_true(c.runtime_metadata.len > 0);
	config_free(&c);
	free(text);
}

static void
test_shipped_dev_ini(void **state)
{
	struct config c;
	char path[1024], *text;

	if (source_dir == NULL) {
		print_message("skipped: no source directory\n");
		skip();
	}
	shipped_path("dev.ini", path, sizeof path);
	text = read_file(path);
	parse_ok(&c, text);
	free(text);
	assert_int_equal(config_validate(&c, NULL), 0);
	assert_string_equal(c.socket_path, "/tmp/podpulse-dev.sock");
	assert_int_equal(c.socket_mode, 0600);
	assert_int_equal(c.log_format, CONFIG_LOG_TEXT);
	assert_int_equal(c.monitor_setup_timeout, 120 * NS_S);
	assert_string_equal(c.identity_instance_id, "dev-instance-0");
	assert_string_equal(c.report_instance_state_url, "");
	assert_string_equal(map_get(&c.runtime_metadata, "cog_version"),
	    "0.0-dev");
	config_free(&c);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table_shape),
		cmocka_unit_test(test_listen_parse),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_format_defaults),
		cmocka_unit_test(test_duration_syntax),
		cmocka_unit_test(test_size_syntax),
		cmocka_unit_test(test_good_values),
		cmocka_unit_test(test_bad_values),
		cmocka_unit_test(test_string_checks),
		cmocka_unit_test(test_ini_structure_errors),
		cmocka_unit_test(test_ini_first_error_wins),
		cmocka_unit_test(test_ini_syntax_details),
		cmocka_unit_test(test_maps),
		cmocka_unit_test(test_env_rows_and_seeds),
		cmocka_unit_test(test_env_podpulse_beats_seed),
		cmocka_unit_test(test_env_errors),
		cmocka_unit_test(test_env_service_links_ignored),
		cmocka_unit_test(test_overrides),
		cmocka_unit_test(test_validate),
		cmocka_unit_test(test_redaction),
		cmocka_unit_test(test_table_walk),
		cmocka_unit_test(test_round_trip_everything),
		cmocka_unit_test(test_reload_keep),
		cmocka_unit_test(test_shipped_podpulse_ini),
		cmocka_unit_test(test_shipped_dev_ini),
	};

	source_dir = argc > 1 ? argv[1] : getenv("PODPULSE_SOURCE_DIR");
	if (source_dir != NULL && *source_dir == '\0')
		source_dir = NULL;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
