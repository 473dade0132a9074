/*
 * daemon -- startup, timers, signals, reload and shutdown; see daemon.h.
 */
#include "daemon.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <uv.h>

#include "engine.h"
#include "exporter.h"
#include "http_client.h"
#include "http_server.h"
#include "intake.h"
#include "outbox.h"
#include "log.h"
#include "metrics.h"
#include "ratelimit.h"
#include "report.h"
#include "reporter.h"
#include "scalestate.h"
#include "socket_server.h"
#include "timeutil.h"
#include "xmalloc.h"

#define DAEMON_CONFIG_MAX (1024 * 1024)
#define DAEMON_ABORT_LOG_PERIOD_NS 1000000000ull
#define DAEMON_INTAKE_LOG_PERIOD_NS 1000000000ull

struct daemon_identity {
	struct report_identity id;
	struct report_kv *instance_metadata;
	struct report_kv *runtime_metadata;
	char hostname[256];
	int has_scheduled_at;
	int64_t scheduled_at_ms;
};

struct daemon {
	uv_loop_t loop;
	const struct daemon_args *args;
	struct config cfg;
	struct daemon_identity identity;
	struct engine engine;
	struct reporter reporter;
	struct socket_server server;
	struct exporter exporter;	/* its registry is what GET /metrics renders */
	struct http_server http;
	int http_on;
	struct ratelimit intake_limit;
	struct log_ratelimit intake_log_limit;
	uv_timer_t sample_timer;
	struct scalestate scalestate;
	uv_timer_t cut_timer;
	uv_timer_t setup_timer;
	uv_timer_t reap_timer;
	uv_timer_t grace_timer;
	uv_signal_t sig_term;
	uv_signal_t sig_int;
	uv_signal_t sig_hup;
	struct log_ratelimit abort_limit[2];
	int shutting_down;
	int draining;		/* reporter and scalestate yet to finish */
};

/* Configuration */

static int
daemon_config_read(const char *path, char **text, struct config_error *err)
{
	FILE *f;
	size_t n;

	f = fopen(path, "r");
	if (f == NULL) {
		snprintf(err->msg, sizeof err->msg, "cannot read config %s: %s",
		    path, strerror(errno));
		return -errno;
	}
	*text = xmalloc(DAEMON_CONFIG_MAX + 1);
	n = fread(*text, 1, DAEMON_CONFIG_MAX + 1, f);
	if (ferror(f) || n > DAEMON_CONFIG_MAX) {
		snprintf(err->msg, sizeof err->msg, "cannot read config %s: %s",
		    path, ferror(f) ? strerror(errno) : "larger than 1 MiB");
		fclose(f);
		free(*text);
		*text = NULL;
		return -1;
	}
	fclose(f);
	(*text)[n] = '\0';
	return 0;
}

int
daemon_config_load(const struct daemon_args *args, struct config *c,
    struct config_error *err)
{
	const char *path = args->config_path;
	const char *const *o;
	char *text = NULL;
	int r;

	config_init(c);
	if (path == NULL)
		path = DAEMON_DEFAULT_CONFIG;
	r = daemon_config_read(path, &text, err);
	if (r != 0 && (args->config_explicit || r != -ENOENT))
		return -1;
	if (text != NULL) {
		r = config_parse_ini(c, text, path, err);
		free(text);
		if (r != 0)
			return -1;
	}
	if (config_apply_env(c, args->envp, err) != 0)
		return -1;
	for (o = args->overrides; o != NULL && *o != NULL; o++) {
		if (config_set_override(c, *o, err) != 0)
			return -1;
	}
	return config_validate(c, err);
}

static struct report_kv *
daemon_kv_from_map(const struct config_map *map, struct report_kv *kv)
{
	size_t i;

	for (i = 0; i < map->len; i++) {
		kv[i].key = map->items[i].key;
		kv[i].value = map->items[i].value;
	}
	return kv + map->len;
}

/* Point the report identity at the current configuration. */
static void
daemon_identity_build(struct daemon *d)
{
	struct daemon_identity *ident = &d->identity;
	const struct config *c = &d->cfg;
	struct report_kv *kv;

	free(ident->instance_metadata);
	free(ident->runtime_metadata);
	ident->id.instance_id = c->identity_instance_id;
	if (ident->id.instance_id[0] == '\0')
		ident->id.instance_id = c->identity_pod_name;
	if (ident->id.instance_id[0] == '\0') {
		if (gethostname(ident->hostname, sizeof ident->hostname) != 0)
			snprintf(ident->hostname, sizeof ident->hostname,
			    "unknown");
		ident->hostname[sizeof ident->hostname - 1] = '\0';
		ident->id.instance_id = ident->hostname;
	}
	ident->id.deployment_key = c->identity_deployment_key;
	ident->id.docker_image_uri = c->identity_docker_image_uri;
	ident->id.hardware = c->identity_hardware;
	ident->id.compute_unit = c->identity_compute_unit;
	ident->id.compute_unit_count = (long)c->identity_compute_unit_count;
	ident->id.version = c->identity_version;
	ident->id.run_id = d->engine.run_id;

	kv = ident->instance_metadata =
	    xcalloc(c->instance_metadata.len + 3, sizeof(*kv));
	if (c->identity_pod_name[0] != '\0')
		*kv++ = (struct report_kv){ "pod_name", c->identity_pod_name };
	if (c->identity_pod_namespace[0] != '\0')
		*kv++ = (struct report_kv){ "pod_namespace",
			c->identity_pod_namespace };
	if (c->identity_node_name[0] != '\0')
		*kv++ = (struct report_kv){ "node_name", c->identity_node_name };
	kv = daemon_kv_from_map(&c->instance_metadata, kv);
	ident->id.instance_metadata = ident->instance_metadata;
	ident->id.instance_metadata_len = (size_t)(kv -
	    ident->instance_metadata);

	ident->runtime_metadata = xcalloc(c->runtime_metadata.len + 1,
	    sizeof(*kv));
	daemon_kv_from_map(&c->runtime_metadata, ident->runtime_metadata);
	ident->id.runtime_metadata = ident->runtime_metadata;
	ident->id.runtime_metadata_len = c->runtime_metadata.len;

	ident->has_scheduled_at = c->monitor_scheduled_at[0] != '\0' &&
	    timeutil_rfc3339_parse(c->monitor_scheduled_at,
	    &ident->scheduled_at_ms) == 0;
}

static void
daemon_engine_options(const struct config *c, struct engine_options *o)
{
	o->interval_ns = (uint64_t)c->monitor_report_interval;
	o->prediction_timeout_ns = (uint64_t)c->monitor_prediction_timeout;
	o->max_in_flight = (size_t)c->monitor_max_in_flight;
	o->abort_on_disconnect = c->socket_abort_on_disconnect;
}

/* Timers */

static uint64_t
daemon_ms_until(uv_loop_t *loop, uint64_t deadline_ns)
{
	uint64_t now = uv_hrtime();

	uv_update_time(loop);
	if (deadline_ns <= now)
		return 0;
	/* Round up: a timer that fires early only re-arms itself. */
	return (deadline_ns - now + 999999) / 1000000;
}

static void daemon_cut_cb(uv_timer_t *t);

static void
daemon_cut_arm(struct daemon *d)
{
	uv_timer_start(&d->cut_timer, daemon_cut_cb,
	    daemon_ms_until(&d->loop, monitor_next_cut(&d->engine.monitor)), 0);
}

static void
daemon_cut_cb(uv_timer_t *t)
{
	struct daemon *d = t->data;

	engine_advance(&d->engine, uv_hrtime());
	daemon_cut_arm(d);
}

static void
daemon_setup_timeout_cb(uv_timer_t *t)
{
	struct daemon *d = t->data;

	engine_setup_timeout(&d->engine, uv_hrtime());
}

static void daemon_reap_cb(uv_timer_t *t);

static void
daemon_reap_arm(struct daemon *d, uint64_t deadline_ns)
{
	if (deadline_ns == 0) {
		uv_timer_stop(&d->reap_timer);
		return;
	}
	uv_timer_start(&d->reap_timer, daemon_reap_cb,
	    daemon_ms_until(&d->loop, deadline_ns), 0);
}

static void
daemon_reap_cb(uv_timer_t *t)
{
	struct daemon *d = t->data;

	daemon_reap_arm(d, engine_reap(&d->engine, uv_hrtime()));
}

/*
 * After each batch of commands: if predictions are in flight and nothing
 * watches their timeout yet, arm the reaper for the oldest. New starts
 * never need an earlier deadline than the oldest's, so an armed reaper is
 * left alone: one branch per read on the hot path.
 */
static void
daemon_after_read(void *arg)
{
	struct daemon *d = arg;
	const char *id;
	uint64_t start_ns;

	if (d->engine.options.prediction_timeout_ns == 0 ||
	    uv_is_active((uv_handle_t *)&d->reap_timer))
		return;
	if (predictions_oldest(&d->engine.predictions, &id, &start_ns) == 0)
		daemon_reap_arm(d, start_ns +
		    d->engine.options.prediction_timeout_ns);
}

/* Engine hooks */

/*
 * Hand a report to the reporter. Its fate reaches the state object
 * through the reporter's mirrors (pending count, last kind and outcome).
 */
static void
daemon_submit(struct daemon *d, enum reporter_kind kind, cJSON *body)
{
	reporter_submit(&d->reporter, kind, body);
}

static void
daemon_on_interval(void *arg, const struct monitor_interval *iv)
{
	struct daemon *d = arg;

	daemon_submit(d, REPORTER_INSTANCE_STATE,
	    report_instance_state(&d->identity.id, &d->engine.clock, iv));
}

static void
daemon_on_setup(void *arg, enum status_setup status, int late)
{
	struct daemon *d = arg;

	uv_timer_stop(&d->setup_timer);
	scalestate_setup_set(&d->scalestate, status == STATUS_SETUP_READY);
	if (late) {
		log_info("setup finished after its timeout; the timeout was "
		    "already reported", "status", status_setup_name(status));
		return;
	}
	log_info("setup finished", "status", status_setup_name(status));
	daemon_submit(d, REPORTER_SETUP_RUN,
	    engine_setup_report(&d->engine, &d->identity.id,
	    d->identity.has_scheduled_at, d->identity.scheduled_at_ms));
}

static void
daemon_on_aborted(void *arg, const char *id, const char *reason)
{
	struct daemon *d = arg;
	struct log_ratelimit *rl;
	uint64_t suppressed;

	rl = &d->abort_limit[strcmp(reason, "timeout") == 0];
	if (log_ratelimit_allow(rl, uv_hrtime(), DAEMON_ABORT_LOG_PERIOD_NS,
	    &suppressed))
		log_info("prediction aborted", "id", id, "reason", reason,
		    "suppressed", LOG_NUM(suppressed));
}

static void
daemon_on_started(void *arg, uint64_t queued_ns)
{
	struct daemon *d = arg;

	exporter_prediction_started(&d->exporter, queued_ns);
}

static void
daemon_on_stopped(void *arg, const struct predictions_info *info,
    uint64_t now_ns)
{
	struct daemon *d = arg;

	exporter_prediction_stopped(&d->exporter, info, now_ns);
}

static void
daemon_sample_cb(uv_timer_t *t)
{
	struct daemon *d = t->data;

	exporter_sample(&d->exporter, &d->engine,
	    (uint64_t)d->cfg.monitor_max_concurrency, uv_hrtime());
}

/* HTTP handlers (SPEC 5 and 6) */


static void
daemon_http_metrics(void *arg, const char *accept,
    struct http_server_reply *r)
{
	struct daemon *d = arg;
	enum metrics_format format;

	exporter_refresh(&d->exporter, &d->engine, &d->reporter.counters,
	    (uint64_t)d->cfg.monitor_max_concurrency, uv_hrtime());
	format = metrics_format_from_accept(accept);
	metrics_render(&d->exporter.registry, format, &r->body);
	r->content_type = format == METRICS_OPENMETRICS ?
	    METRICS_CONTENT_TYPE_OPENMETRICS : METRICS_CONTENT_TYPE_TEXT;
}

static void
daemon_http_healthz(void *arg, struct http_server_reply *r)
{
	buf_append_str(&r->body, "ok\n");
}

static void
daemon_http_readyz(void *arg, struct http_server_reply *r)
{
	struct daemon *d = arg;
	enum status_setup setup = d->engine.monitor.setup;

	if (setup == STATUS_SETUP_READY) {
		buf_append_str(&r->body, "ok\n");
		return;
	}
	r->status = 503;
	buf_printf(&r->body, "not ready: setup %s\n",
	    setup == STATUS_SETUP_RUNNING ? "is running" :
	    setup == STATUS_SETUP_FAILED ? "failed" : "timed out");
}

static void
daemon_http_state(void *arg, struct http_server_reply *r)
{
	struct daemon *d = arg;
	cJSON *obj;
	char *text;

	obj = engine_state_json(&d->engine, uv_hrtime());
	text = cJSON_PrintUnformatted(obj);
	cJSON_Delete(obj);
	if (text == NULL) {
		r->status = 500;
		buf_append_str(&r->body, "out of memory\n");
		return;
	}
	buf_append_str(&r->body, text);
	buf_append_str(&r->body, "\n");
	free(text);
	r->content_type = "application/json";
}

static void
daemon_intake_refused(struct daemon *d, struct http_server_reply *r,
    unsigned status, const char *why)
{
	uint64_t suppressed;

	r->status = status;
	buf_printf(&r->body, "%s\n", why);
	exporter_reject(&d->exporter, status == 429 ?
	    EXPORTER_REJECT_RATE_LIMITED : EXPORTER_REJECT_INVALID);
	if (log_ratelimit_allow(&d->intake_log_limit, uv_hrtime(),
	    DAEMON_INTAKE_LOG_PERIOD_NS, &suppressed))
		log_warn("download metrics refused", "status", LOG_NUM(status),
		    "reason", why, "suppressed", LOG_NUM(suppressed));
}

static void
daemon_http_intake(void *arg, const char *body, size_t len,
    struct http_server_reply *r)
{
	struct daemon *d = arg;
	struct intake_event ev;
	char why[128];

	if (!ratelimit_take(&d->intake_limit, uv_hrtime())) {
		daemon_intake_refused(d, r, 429, "rate limited: at most "
		    "http.download_metrics_rps requests per second");
		return;
	}
	if (intake_parse(body, len, &ev, why, sizeof why) != 0) {
		daemon_intake_refused(d, r, 400, why);
		return;
	}
	exporter_intake(&d->exporter, &ev);
	buf_append_str(&r->body, "ok\n");
	if (!ev.download) {
		log_info("metrics envelope of an unknown type accepted",
		    "source", ev.source, "type", ev.type);
		return;
	}
	/* Only the normalised URL: query strings carry secrets. */
	log_info("model download", "url", ev.url, "host", ev.host,
	    "size", LOG_NUM(ev.size), "bytes_per_second",
	    LOG_NUM(ev.bytes_per_second), "failed", ev.failed ? "true" :
	    "false", "source", ev.source);
}

static void
daemon_http_refused(void *arg, unsigned status)
{
	struct daemon *d = arg;

	exporter_reject(&d->exporter, status == 404 ?
	    EXPORTER_REJECT_NOT_FOUND : status == 405 ?
	    EXPORTER_REJECT_METHOD : status == 408 ?
	    EXPORTER_REJECT_HEAD_TIMEOUT : EXPORTER_REJECT_TOO_LARGE);
}

static int
daemon_start_http(struct daemon *d)
{
	struct http_server_handlers h = { daemon_http_metrics,
		daemon_http_healthz, daemon_http_readyz, daemon_http_state,
		daemon_http_intake, daemon_http_refused, d };
	struct http_server_options o;
	char err[512] = "";

	ratelimit_init(&d->intake_limit,
	    (uint64_t)d->cfg.http_download_metrics_rps,
	    (uint64_t)d->cfg.http_download_metrics_rps, uv_hrtime());
	if (d->cfg.http_listen[0] == '\0')
		return 0;
	o.listen = d->cfg.http_listen;
	o.max_connections = (unsigned)d->cfg.http_max_connections;
	o.timeout_s = (unsigned)(d->cfg.http_connection_timeout / 1000000000);
	o.max_body = (size_t)d->cfg.http_max_body;
	if (http_server_start(&d->http, &d->loop, &o, &h, err,
	    sizeof err) != 0) {
		log_error("cannot start the HTTP endpoint", "error", err);
		return -1;
	}
	d->http_on = 1;
	return 0;
}

/* Signals, reload, shutdown */

static void
daemon_close_handle(uv_handle_t *h)
{
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

static void
daemon_drained(void *arg)
{
	struct daemon *d = arg;

	daemon_close_handle((uv_handle_t *)&d->grace_timer);
	daemon_close_handle((uv_handle_t *)&d->sig_term);
	daemon_close_handle((uv_handle_t *)&d->sig_int);
}

/* The reporter and scalestate each call this once they are done. */
static void
daemon_part_drained(void *arg)
{
	struct daemon *d = arg;

	if (--d->draining == 0)
		daemon_drained(d);
}

static void
daemon_grace_cb(uv_timer_t *t)
{
	struct daemon *d = t->data;

	reporter_abort(&d->reporter);
}

static void
daemon_shutdown(struct daemon *d, const char *why)
{
	log_info("shutting down", "signal", why);
	d->shutting_down = 1;
	if (d->http_on)
		http_server_close(&d->http, NULL, NULL);
	daemon_close_handle((uv_handle_t *)&d->sample_timer);
	socket_server_close(&d->server);
	daemon_close_handle((uv_handle_t *)&d->cut_timer);
	daemon_close_handle((uv_handle_t *)&d->setup_timer);
	daemon_close_handle((uv_handle_t *)&d->reap_timer);
	daemon_close_handle((uv_handle_t *)&d->sig_hup);
	engine_finish(&d->engine, uv_hrtime());
	uv_timer_start(&d->grace_timer, daemon_grace_cb,
	    (uint64_t)d->cfg.monitor_shutdown_grace / 1000000, 0);
	d->draining = 2;
	scalestate_close(&d->scalestate, daemon_part_drained, d);
	reporter_close(&d->reporter, daemon_part_drained, d);
}

static void
daemon_stop_cb(uv_signal_t *s, int signum)
{
	struct daemon *d = s->data;
	size_t lost;

	if (!d->shutting_down) {
		daemon_shutdown(d, signum == SIGTERM ? "SIGTERM" : "SIGINT");
		return;
	}
	lost = outbox_unspooled(&d->reporter.outbox) + d->reporter.writes;
	log_warn("second signal: exiting without waiting", "reports_pending",
	    LOG_NUM(reporter_pending(&d->reporter)), "reports_lost",
	    LOG_NUM(lost));
	/* Everything pending is already in the spool, if there is one. */
	exit(lost == 0 ? 0 : 1);
}

static void
daemon_apply(struct daemon *d)
{
	struct engine_options o;

	log_setup((enum log_level)d->cfg.log_level,
	    d->cfg.log_format == CONFIG_LOG_TEXT);
	daemon_engine_options(&d->cfg, &o);
	engine_options_set(&d->engine, &o);
	daemon_identity_build(d);
	d->reporter.instance_id = d->identity.id.instance_id;
}

static int daemon_report_check(const struct config *c);

static void
daemon_reload(struct daemon *d)
{
	struct config fresh;
	struct config_error err;
	char *kept;

	if (daemon_config_load(d->args, &fresh, &err) != 0) {
		log_error("reload failed; the running configuration stays",
		    "error", err.msg);
		config_free(&fresh);
		return;
	}
	/*
	 * The checks made at start hold at reload too: a URL curl refuses
	 * would be retried for ever, an unreadable token file would send
	 * reports without a token and have them rejected. All or nothing.
	 */
	if (daemon_report_check(&fresh) != 0) {
		log_error("reload failed; the running configuration stays",
		    "error", "bad report settings (see the line before)");
		config_free(&fresh);
		return;
	}
	kept = config_reload_keep(&d->cfg, &fresh);
	config_free(&d->cfg);
	d->cfg = fresh;
	daemon_apply(d);
	socket_server_options_set(&d->server,
	    (size_t)d->cfg.socket_max_connections,
	    (size_t)d->cfg.socket_max_reply_buffer);
	uv_timer_stop(&d->reap_timer);
	daemon_after_read(d);
	ratelimit_set(&d->intake_limit,
	    (uint64_t)d->cfg.http_download_metrics_rps,
	    (uint64_t)d->cfg.http_download_metrics_rps, uv_hrtime());
	if (kept != NULL)
		log_warn("reload: these keys cannot change at run time and "
		    "keep their value", "keys", kept);
	log_info("configuration reloaded");
	free(kept);
}

static void
daemon_hup_cb(uv_signal_t *s, int signum)
{
	daemon_reload(s->data);
}

/* Startup */

static void
daemon_run_id(char out[33])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char raw[16];
	uint64_t t;
	size_t i;

	if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw) {
		/* No entropy yet: unique enough from time and pid. */
		t = uv_hrtime() ^ ((uint64_t)getpid() << 32);
		for (i = 0; i < sizeof raw; i++)
			raw[i] = (unsigned char)(t >> ((i % 8) * 8)) ^
			    (unsigned char)i;
	}
	for (i = 0; i < sizeof raw; i++) {
		out[2 * i] = hex[raw[i] >> 4];
		out[2 * i + 1] = hex[raw[i] & 15];
	}
	out[32] = '\0';
}

static int
daemon_socket_check(const struct config *c)
{
	char err[512];

	switch (socket_server_path_check(c->socket_path, err, sizeof err)) {
	case SOCKET_SERVER_PATH_FREE:
		return 0;
	case SOCKET_SERVER_PATH_NOT_SOCKET:
		log_error("cannot create the socket", "error", err);
		return 2;
	default:
		log_error("cannot create the socket", "error", err);
		return 1;
	}
}

static void
daemon_init_engine(struct daemon *d)
{
	struct engine_hooks hooks = { daemon_on_interval, daemon_on_setup,
		daemon_on_aborted, d, daemon_on_started, daemon_on_stopped };
	struct engine_options o;
	struct report_clock clock;
	char run_id[33];

	daemon_run_id(run_id);
	clock.mono_ns = uv_hrtime();
	clock.wall_ms = timeutil_wall_ms();
	daemon_engine_options(&d->cfg, &o);
	engine_init(&d->engine, clock.mono_ns, &clock, run_id, &o, &hooks);
	exporter_init(&d->exporter, clock.mono_ns, PODPULSE_VERSION);
	daemon_identity_build(d);
}

static int
daemon_start_socket(struct daemon *d)
{
	struct socket_server_options so;
	char err[512] = "";

	memset(&so, 0, sizeof so);
	so.path = d->cfg.socket_path;
	so.mode = (unsigned)d->cfg.socket_mode;
	so.group = d->cfg.socket_group;
	so.max_connections = (size_t)d->cfg.socket_max_connections;
	so.max_line = (size_t)d->cfg.socket_max_line;
	so.max_reply_buffer = (size_t)d->cfg.socket_max_reply_buffer;
	so.after_read = daemon_after_read;
	so.arg = d;
	if (socket_server_start(&d->server, &d->loop, &d->engine, &so, err,
	    sizeof err) != 0) {
		log_error("cannot listen on the socket", "error", err);
		return -1;
	}
	return 0;
}

static void
daemon_init_handles(struct daemon *d)
{
	uv_timer_t *timers[] = { &d->cut_timer, &d->setup_timer,
		&d->reap_timer, &d->grace_timer, &d->sample_timer };
	uv_signal_t *signals[] = { &d->sig_term, &d->sig_int, &d->sig_hup };
	size_t i;

	for (i = 0; i < sizeof timers / sizeof timers[0]; i++) {
		uv_timer_init(&d->loop, timers[i]);
		timers[i]->data = d;
	}
	for (i = 0; i < sizeof signals / sizeof signals[0]; i++) {
		uv_signal_init(&d->loop, signals[i]);
		signals[i]->data = d;
	}
	uv_signal_start(&d->sig_term, daemon_stop_cb, SIGTERM);
	uv_signal_start(&d->sig_int, daemon_stop_cb, SIGINT);
	uv_signal_start(&d->sig_hup, daemon_hup_cb, SIGHUP);
	daemon_cut_arm(d);
	/* Slots are absolute (rolling.h): a repeating timer's drift is fine. */
	uv_timer_start(&d->sample_timer, daemon_sample_cb,
	    ROLLING_PERIOD_NS / 1000000, ROLLING_PERIOD_NS / 1000000);
	if (d->cfg.monitor_setup_timeout > 0)
		uv_timer_start(&d->setup_timer, daemon_setup_timeout_cb,
		    (uint64_t)d->cfg.monitor_setup_timeout / 1000000, 0);
}

static void
daemon_log_started(const struct daemon *d)
{
	log_info("podpulse started", "version", PODPULSE_VERSION, "socket",
	    d->cfg.socket_path, "http", d->http_on ? d->cfg.http_listen :
	    "disabled", "report_interval_ms",
	    LOG_NUM(d->cfg.monitor_report_interval / 1000000), "run_id",
	    d->engine.run_id, "instance_id", d->identity.id.instance_id,
	    "pid", LOG_NUM(getpid()));
}

/* Checks of the report settings that need more than the option table. */
static int
daemon_report_check(const struct config *c)
{
	const char *urls[] = { c->report_instance_state_url,
		c->report_setup_run_url };
	const char *keys[] = { "report.instance_state_url",
		"report.setup_run_url" };
	char why[256];
	size_t i;

	for (i = 0; i < 2; i++) {
		if (*urls[i] != '\0' &&
		    http_client_url_check(urls[i], why, sizeof why) != 0) {
			log_error("bad report URL", "key", keys[i], "error",
			    why);
			return 2;
		}
	}
	if (*c->report_auth_token_file != '\0' &&
	    outbox_token_check(c->report_auth_token_file, why,
	    sizeof why) != 0) {
		log_error("bad report token", "error", why);
		return 2;
	}
	return 0;
}

static void
daemon_walk_cb(uv_handle_t *h, void *arg)
{
	log_error("handle left open at exit", "type",
	    uv_handle_type_name(uv_handle_get_type(h)));
}

static int
daemon_finish(struct daemon *d)
{
	int status = 0;

	if (uv_loop_close(&d->loop) != 0) {
		uv_walk(&d->loop, daemon_walk_cb, NULL);
		status = 1;
	}
	log_info("stopped", "instance_reports", LOG_NUM(d->reporter.counters.
	    total[REPORTER_INSTANCE_STATE][DELIVERY_DELIVERED]), "dropped",
	    LOG_NUM(d->reporter.counters.total[REPORTER_INSTANCE_STATE]
	    [DELIVERY_DROPPED] + d->reporter.counters.total[REPORTER_SETUP_RUN]
	    [DELIVERY_DROPPED]), "rejected", LOG_NUM(d->reporter.counters.
	    total[REPORTER_INSTANCE_STATE][DELIVERY_REJECTED] +
	    d->reporter.counters.total[REPORTER_SETUP_RUN][DELIVERY_REJECTED]));
	engine_free(&d->engine);
	exporter_free(&d->exporter);
	free(d->identity.instance_metadata);
	free(d->identity.runtime_metadata);
	config_free(&d->cfg);
	return status;
}

int
daemon_run(const struct daemon_args *args, struct config *c)
{
	struct daemon *d;
	char err[512];
	int status;

	d = xcalloc(1, sizeof(*d));
	d->args = args;
	d->cfg = *c;		/* the daemon owns the configuration now */
	log_setup((enum log_level)d->cfg.log_level,
	    d->cfg.log_format == CONFIG_LOG_TEXT);
	signal(SIGPIPE, SIG_IGN);
	if (http_client_global_init() != 0) {
		log_error("cannot initialise libcurl");
		config_free(&d->cfg);
		free(d);
		return 1;
	}
	status = daemon_report_check(&d->cfg);
	if (status == 0)
		status = daemon_socket_check(&d->cfg);
	if (status != 0) {
		http_client_global_cleanup();
		config_free(&d->cfg);
		free(d);
		return status;
	}
	uv_loop_init(&d->loop);
	daemon_init_engine(d);
	if (reporter_init(&d->reporter, &d->loop, &d->cfg, err,
	    sizeof err) != 0) {
		log_error("cannot start report delivery", "error", err);
		exit(2);
	}
	d->reporter.instance_id = d->identity.id.instance_id;
	d->reporter.pending_out = &d->engine.reports_pending;
	d->reporter.last_kind_out = &d->engine.last_report_kind;
	d->reporter.last_outcome_out = &d->engine.last_report_outcome;
	d->engine.reports_pending = reporter_pending(&d->reporter);
	if (scalestate_init(&d->scalestate, &d->loop, &d->cfg,
	    d->identity.id.instance_id, err, sizeof err) != 0) {
		log_error("cannot start scale snapshots", "error", err);
		exit(2);
	}
	if (d->scalestate.enabled &&
	    scalestate_metrics_attach(&d->scalestate,
	    &d->exporter.registry) != 0)
		log_error("cannot register the scale snapshot metrics");
	/*
	 * Listening sockets last: clients (and tests) take a listening
	 * socket as "up", so everything else -- the signal handlers above
	 * all, or a SIGTERM right then would kill instead of shutting down
	 * -- is ready by then. Callbacks run only once uv_run starts.
	 */
	daemon_init_handles(d);
	if (daemon_start_http(d) != 0)
		exit(1);
	if (daemon_start_socket(d) != 0)
		exit(1);
	daemon_log_started(d);
	uv_run(&d->loop, UV_RUN_DEFAULT);
	status = daemon_finish(d);
	free(d);
	http_client_global_cleanup();
	return status;
}
