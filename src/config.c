/*
 * config -- the one option table, and parsing, validation and printing of
 * the configuration built from it (SPEC section 7).
 *
 * Design. config_table below has one row per key. A row names its type,
 * and each type has one parse/format pair in config_types: parse turns
 * text into a value and says why not, format writes the value back in its
 * canonical form (the largest exact unit: "15s", "64KiB", "0660"). Every
 * way a value can arrive -- the INI file, the environment, the command
 * line, the defaults themselves -- goes through config_row_set(), so a
 * value is accepted or refused the same way whatever its source, and a
 * default in the table is just text that is parsed like any other.
 * config_validate() re-runs that check on every current value (by
 * formatting it and parsing it back) and then does the few checks that
 * span keys.
 *
 * Invariants:
 * - after config_init() every string field is a heap copy (never a
 *   literal), so config_free() and reload treat all fields alike;
 * - config_format() output parses back with config_parse_ini() to the
 *   same configuration, except that non-empty secrets read "***";
 * - an error message is exactly one line: it names the source (FILE:LINE,
 *   "env NAME" or "command line"), the key as "[section] key", the value
 *   (escaped, shortened, passwords in URLs masked, and "(secret)" instead
 *   of the value of a SECRET key) and what is allowed;
 * - on error the struct may hold a mix of old and new values but is always
 *   safe to config_free(): a caller throws it away (reload is all or
 *   nothing because the daemon parses into a fresh struct).
 *
 * INI syntax comes from inih, fed through our own line reader rather than
 * ini_parse_string(). The reader numbers lines itself, so the handler
 * knows the line of its error exactly; it strips leading blanks, which
 * turns off inih's indented-continuation lines (an indented "key = value"
 * would otherwise become the value of the previous key); it refuses lines
 * longer than inih's fixed buffer instead of letting inih cut them
 * silently (a long token would be truncated); it checks "[section]" lines
 * as they are read, so an unknown section is reported at its own line even
 * when it holds no key; and it stops at our first error.
 */
#include "config.h"

#include <sys/un.h>

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ini.h>

#include "podpulse/protocol.h"
#include "redis_url.h"
#include "timeutil.h"
#include "xmalloc.h"

#define CONFIG_US INT64_C(1000)
#define CONFIG_MS INT64_C(1000000)
#define CONFIG_S INT64_C(1000000000)
#define CONFIG_M (60 * CONFIG_S)
#define CONFIG_H (60 * CONFIG_M)
#define CONFIG_D (24 * CONFIG_H)

#define CONFIG_KIB INT64_C(1024)
#define CONFIG_MIB (1024 * CONFIG_KIB)
#define CONFIG_GIB (1024 * CONFIG_MIB)

/* A socket path must fit sun_path with its NUL. */
#define CONFIG_SUN_PATH_SIZE sizeof(((struct sockaddr_un *)0)->sun_path)

#define CONFIG_MAP_KEY_MAX 64	/* [A-Za-z0-9_.-]{1,64} */
#define CONFIG_NAME_MAX 64	/* longest name worth a "did you mean" */
#define CONFIG_QUOTE_MAX 64	/* bytes of a value shown in a message */
#define CONFIG_ENV_PREFIX "PODPULSE_"

#define CONFIG_FIELD(f) offsetof(struct config, f)

static const char *const config_log_levels[] = { "debug", "info", "warn",
	"error", NULL };
static const char *const config_log_formats[] = { "json", "text", NULL };
static const char *const config_queue_kinds[] = { "list", "zset", "stream",
	"auto", NULL };

/* Rows are grouped by section, in the order config_format() prints them. */
static const struct config_option config_table[] = {
	/* [agent] */
	{ .section = "agent", .key = "log_level", .type = CONFIG_ENUM,
	    .def = "info", .choices = config_log_levels,
	    .flags = CONFIG_RELOADABLE,
	    .help = "Lowest level of the log lines written to stderr.",
	    .offset = CONFIG_FIELD(log_level) },
	{ .section = "agent", .key = "log_format", .type = CONFIG_ENUM,
	    .def = "json", .choices = config_log_formats,
	    .flags = CONFIG_RELOADABLE,
	    .help = "Log line format: json (one object per line, for "
		"machines) or text (for people).",
	    .offset = CONFIG_FIELD(log_format) },

	/* [socket] */
	{ .section = "socket", .key = "path", .type = CONFIG_STRING,
	    .def = PODPULSE_SOCKET_PATH_DEFAULT,
	    .help = "Path of the Unix socket the model server connects to.",
	    .offset = CONFIG_FIELD(socket_path) },
	{ .section = "socket", .key = "mode", .type = CONFIG_MODE,
	    .def = "0660", .min = 0, .max = 0777,
	    .help = "File mode the socket is created with, in octal.",
	    .offset = CONFIG_FIELD(socket_mode) },
	{ .section = "socket", .key = "group", .type = CONFIG_STRING,
	    .def = "",
	    .help = "Group (name or number) given to the socket; empty "
		"leaves the group the socket is created with.",
	    .offset = CONFIG_FIELD(socket_group) },
	{ .section = "socket", .key = "max_connections", .type = CONFIG_INT,
	    .def = "256", .min = 1, .max = 65536,
	    .flags = CONFIG_RELOADABLE,
	    .help = "Most client connections at once; one more is answered "
		"with err too-many-connections and closed.",
	    .offset = CONFIG_FIELD(socket_max_connections) },
	{ .section = "socket", .key = "max_line", .type = CONFIG_SIZE,
	    .def = "64KiB", .min = 256, .max = 16 * CONFIG_MIB,
	    .help = "Longest command line accepted; a longer one is "
		"discarded and answered with err line-too-long.",
	    .offset = CONFIG_FIELD(socket_max_line) },
	{ .section = "socket", .key = "max_reply_buffer", .type = CONFIG_SIZE,
	    .def = "1MiB", .min = 4 * CONFIG_KIB, .max = 256 * CONFIG_MIB,
	    .flags = CONFIG_RELOADABLE,
	    .help = "Unsent replies a connection may hold before podpulse "
		"stops reading from it until the client drains them.",
	    .offset = CONFIG_FIELD(socket_max_reply_buffer) },
	{ .section = "socket", .key = "abort_on_disconnect",
	    .type = CONFIG_BOOL, .def = "true", .flags = CONFIG_RELOADABLE,
	    .help = "Whether the predictions a connection started are "
		"stopped as aborted when that connection closes.",
	    .offset = CONFIG_FIELD(socket_abort_on_disconnect) },

	/* [monitor] */
	{ .section = "monitor", .key = "report_interval",
	    .type = CONFIG_DURATION, .def = "15s", .min = 10 * CONFIG_MS,
	    .max = CONFIG_H,
	    .help = "Length of the interval after which each instance-state "
		"report is cut and sent.",
	    .offset = CONFIG_FIELD(monitor_report_interval) },
	{ .section = "monitor", .key = "setup_timeout",
	    .type = CONFIG_DURATION, .def = "0", .min = 0, .max = 7 * CONFIG_D,
	    .help = "Time from start after which setup counts as timed out "
		"and the setup report is sent; 0 waits forever.",
	    .offset = CONFIG_FIELD(monitor_setup_timeout) },
	{ .section = "monitor", .key = "prediction_timeout",
	    .type = CONFIG_DURATION, .def = "0", .min = 0, .max = 7 * CONFIG_D,
	    .flags = CONFIG_RELOADABLE,
	    .help = "Time after which a prediction still in flight is "
		"stopped as aborted; 0 never stops it.",
	    .offset = CONFIG_FIELD(monitor_prediction_timeout) },
	{ .section = "monitor", .key = "max_in_flight", .type = CONFIG_INT,
	    .def = "100000", .min = 1, .max = 10000000,
	    .flags = CONFIG_RELOADABLE,
	    .help = "Most predictions pending and in flight together; more "
		"are refused with err too-many-in-flight.",
	    .offset = CONFIG_FIELD(monitor_max_in_flight) },
	{ .section = "monitor", .key = "shutdown_grace",
	    .type = CONFIG_DURATION, .def = "5s", .min = 0, .max = 10 * CONFIG_M,
	    .flags = CONFIG_RELOADABLE,
	    .help = "Time allowed at shutdown to deliver the pending reports "
		"before the rest is spooled.",
	    .offset = CONFIG_FIELD(monitor_shutdown_grace) },
	{ .section = "monitor", .key = "scheduled_at", .type = CONFIG_TIME,
	    .def = "", .env_seed = "POD_SCHEDULED_AT",
	    .help = "When the pod was scheduled, for the scheduled_to_* "
		"fields of the setup report; empty when unknown.",
	    .offset = CONFIG_FIELD(monitor_scheduled_at) },

	{ .section = "monitor", .key = "max_concurrency", .type = CONFIG_INT,
	    .def = "0", .min = 0, .max = 10000000,
	    .flags = CONFIG_RELOADABLE,
	    .help = "Concurrency the model server is built for, so that "
		"podpulse_full_fraction can say how long it ran full; 0 "
		"leaves it unset.",
	    .offset = CONFIG_FIELD(monitor_max_concurrency) },

	/* [report] */
	{ .section = "report", .key = "instance_state_url",
	    .type = CONFIG_STRING, .def = "",
	    .env_seed = "DIRECTOR_REPORT_INSTANCE_STATE_URL",
	    .flags = CONFIG_RELOADABLE,
	    .help = "URL the instance-state reports are POSTed to; empty "
		"writes them to stdout.",
	    .offset = CONFIG_FIELD(report_instance_state_url) },
	{ .section = "report", .key = "setup_run_url", .type = CONFIG_STRING,
	    .def = "", .env_seed = "DIRECTOR_REPORT_SETUP_RUN_URL",
	    .flags = CONFIG_RELOADABLE,
	    .help = "URL the setup report is POSTed to; empty writes it to "
		"stdout.",
	    .offset = CONFIG_FIELD(report_setup_run_url) },
	{ .section = "report", .key = "auth_token", .type = CONFIG_STRING,
	    .def = "", .env_seed = "WEBHOOK_AUTH_TOKEN",
	    .flags = CONFIG_RELOADABLE | CONFIG_SECRET,
	    .help = "Bearer token sent in the Authorization header of every "
		"report; empty sends none.",
	    .offset = CONFIG_FIELD(report_auth_token) },
	{ .section = "report", .key = "auth_token_file", .type = CONFIG_STRING,
	    .def = "", .flags = CONFIG_RELOADABLE,
	    .help = "File holding the bearer token, re-read when it changes; "
		"set this or auth_token, not both.",
	    .offset = CONFIG_FIELD(report_auth_token_file) },
	{ .section = "report", .key = "timeout", .type = CONFIG_DURATION,
	    .def = "10s", .min = 100 * CONFIG_MS, .max = 10 * CONFIG_M,
	    .flags = CONFIG_RELOADABLE,
	    .help = "Longest time one POST may take, connecting included; "
		"a slower one counts as failed and is retried.",
	    .offset = CONFIG_FIELD(report_timeout) },
	{ .section = "report", .key = "ca_file", .type = CONFIG_STRING,
	    .def = "", .flags = CONFIG_RELOADABLE,
	    .help = "PEM file of the CA that signs the report server's "
		"certificate; empty uses the system's CAs.",
	    .offset = CONFIG_FIELD(report_ca_file) },
	{ .section = "report", .key = "retry_base", .type = CONFIG_DURATION,
	    .def = "250ms", .min = CONFIG_MS, .max = CONFIG_H,
	    .flags = CONFIG_RELOADABLE,
	    .help = "Delay before the first retry of a failed report; each "
		"further retry waits about twice as long.",
	    .offset = CONFIG_FIELD(report_retry_base) },
	{ .section = "report", .key = "retry_max", .type = CONFIG_DURATION,
	    .def = "30s", .min = CONFIG_MS, .max = CONFIG_D,
	    .flags = CONFIG_RELOADABLE,
	    .help = "Longest delay between two attempts, and the pause after "
		"a cycle of max_attempts failures.",
	    .offset = CONFIG_FIELD(report_retry_max) },
	{ .section = "report", .key = "max_attempts", .type = CONFIG_INT,
	    .def = "8", .min = 1, .max = 1000, .flags = CONFIG_RELOADABLE,
	    .help = "Attempts per retry cycle before a report waits retry_max "
		"and starts a new cycle.",
	    .offset = CONFIG_FIELD(report_max_attempts) },
	{ .section = "report", .key = "max_pending", .type = CONFIG_INT,
	    .def = "5760", .min = 1, .max = 10000000,
	    .flags = CONFIG_RELOADABLE,
	    .help = "Most undelivered reports kept per kind; beyond it the "
		"oldest is dropped and counted.",
	    .offset = CONFIG_FIELD(report_max_pending) },
	{ .section = "report", .key = "spool_dir", .type = CONFIG_STRING,
	    .def = "",
	    .help = "Directory where each report is written before its first "
		"send and kept until delivered; empty keeps them in memory.",
	    .offset = CONFIG_FIELD(report_spool_dir) },

	/* [identity] */
	{ .section = "identity", .key = "instance_id", .type = CONFIG_STRING,
	    .def = "",
	    .help = "Name of this instance in reports; empty uses env "
		"POD_NAME, else the host name.",
	    .offset = CONFIG_FIELD(identity_instance_id) },
	{ .section = "identity", .key = "deployment_key", .type = CONFIG_STRING,
	    .def = "", .flags = CONFIG_RELOADABLE,
	    .help = "Key of the deployable this instance serves, as reported.",
	    .offset = CONFIG_FIELD(identity_deployment_key) },
	{ .section = "identity", .key = "docker_image_uri",
	    .type = CONFIG_STRING, .def = "", .flags = CONFIG_RELOADABLE,
	    .help = "Image the model server runs, as reported.",
	    .offset = CONFIG_FIELD(identity_docker_image_uri) },
	{ .section = "identity", .key = "hardware", .type = CONFIG_STRING,
	    .def = "", .flags = CONFIG_RELOADABLE,
	    .help = "Hardware this instance runs on, as reported.",
	    .offset = CONFIG_FIELD(identity_hardware) },
	{ .section = "identity", .key = "compute_unit", .type = CONFIG_STRING,
	    .def = "", .flags = CONFIG_RELOADABLE,
	    .help = "Kind of compute unit this instance uses (for example "
		"gpu or cpu), as reported.",
	    .offset = CONFIG_FIELD(identity_compute_unit) },
	{ .section = "identity", .key = "compute_unit_count",
	    .type = CONFIG_INT, .def = "1", .min = 0, .max = 1000000,
	    .flags = CONFIG_RELOADABLE,
	    .help = "Number of compute units this instance uses, as reported.",
	    .offset = CONFIG_FIELD(identity_compute_unit_count) },
	{ .section = "identity", .key = "version", .type = CONFIG_STRING,
	    .def = "", .flags = CONFIG_RELOADABLE,
	    .help = "Version of the deployable, as reported.",
	    .offset = CONFIG_FIELD(identity_version) },
	{ .section = "identity", .key = "pod_name", .type = CONFIG_STRING,
	    .def = "", .env_seed = "POD_NAME", .flags = CONFIG_RELOADABLE,
	    .help = "Kubernetes pod name, reported in instance_metadata.",
	    .offset = CONFIG_FIELD(identity_pod_name) },
	{ .section = "identity", .key = "pod_namespace", .type = CONFIG_STRING,
	    .def = "", .env_seed = "POD_NAMESPACE", .flags = CONFIG_RELOADABLE,
	    .help = "Kubernetes namespace of the pod, reported in "
		"instance_metadata.",
	    .offset = CONFIG_FIELD(identity_pod_namespace) },
	{ .section = "identity", .key = "node_name", .type = CONFIG_STRING,
	    .def = "", .env_seed = "NODE_NAME", .flags = CONFIG_RELOADABLE,
	    .help = "Kubernetes node the pod runs on, reported in "
		"instance_metadata.",
	    .offset = CONFIG_FIELD(identity_node_name) },

	/* [http] */
	{ .section = "http", .key = "listen", .type = CONFIG_STRING,
	    .def = "0.0.0.0:9464",
	    .help = "Address of the HTTP endpoint (metrics, probes, state, "
		"download intake) as host:port or [v6]:port; empty disables "
		"it.",
	    .offset = CONFIG_FIELD(http_listen) },
	{ .section = "http", .key = "max_connections", .type = CONFIG_INT,
	    .def = "64", .min = 1, .max = 10000,
	    .help = "Most HTTP connections at once; more are refused.",
	    .offset = CONFIG_FIELD(http_max_connections) },
	{ .section = "http", .key = "connection_timeout",
	    .type = CONFIG_DURATION, .def = "10s", .min = CONFIG_S,
	    .max = CONFIG_H,
	    .help = "Time an HTTP connection may stay silent, and time a "
		"request head may take to arrive, before it is closed.",
	    .offset = CONFIG_FIELD(http_connection_timeout) },
	{ .section = "http", .key = "max_body", .type = CONFIG_SIZE,
	    .def = "64KiB", .min = CONFIG_KIB, .max = 16 * CONFIG_MIB,
	    .help = "Largest request body accepted; a larger one is "
		"answered with 413.",
	    .offset = CONFIG_FIELD(http_max_body) },
	{ .section = "http", .key = "download_metrics_rps",
	    .type = CONFIG_INT, .def = "100", .min = 1, .max = 1000000,
	    .flags = CONFIG_RELOADABLE,
	    .help = "Requests per second the download-metrics intake "
		"(POST /metrics) accepts; more are answered with 429.",
	    .offset = CONFIG_FIELD(http_download_metrics_rps) },

	/* [scalestate] */
	{ .section = "scalestate", .key = "redis_url", .type = CONFIG_STRING,
	    .def = "",
	    .help = "Redis the scale snapshots, the replica registry and the "
		"leader lease live on (blue), as redis://[user:]pass@host:port"
		"[/db] or unix:///path; empty disables scale snapshots.",
	    .offset = CONFIG_FIELD(scalestate_redis_url) },
	{ .section = "scalestate", .key = "redis_green_url",
	    .type = CONFIG_STRING, .def = "",
	    .help = "Second Redis (green) whose queue is measured too and "
		"added to blue's; empty measures blue only.",
	    .offset = CONFIG_FIELD(scalestate_redis_green_url) },
	{ .section = "scalestate", .key = "interval", .type = CONFIG_DURATION,
	    .def = "15s", .min = 50 * CONFIG_MS, .max = CONFIG_H,
	    .help = "Time between two measurements, heartbeats and snapshots; "
		"the leader lease and the replica heartbeats expire after "
		"three of them.",
	    .offset = CONFIG_FIELD(scalestate_interval) },
	{ .section = "scalestate", .key = "queue_key", .type = CONFIG_STRING,
	    .def = "",
	    .help = "Key of the request queue whose length is measured on "
		"blue and green; empty measures 0.",
	    .offset = CONFIG_FIELD(scalestate_queue_key) },
	{ .section = "scalestate", .key = "queue_kind", .type = CONFIG_ENUM,
	    .def = "auto", .choices = config_queue_kinds,
	    .help = "How the queue is measured: list (LLEN), zset (ZCARD), "
		"stream (lag plus pending of queue_group, or XLEN) or auto "
		"(by TYPE).",
	    .offset = CONFIG_FIELD(scalestate_queue_kind) },
	{ .section = "scalestate", .key = "queue_group", .type = CONFIG_STRING,
	    .def = "",
	    .help = "Consumer group of a stream queue whose lag and pending "
		"entries count; empty counts every entry (XLEN).",
	    .offset = CONFIG_FIELD(scalestate_queue_group) },
	{ .section = "scalestate", .key = "max_snapshots", .type = CONFIG_INT,
	    .def = "120", .min = 1, .max = 100000,
	    .help = "Most snapshots kept in the list scalestate:{deployment_"
		"key}, newest first.",
	    .offset = CONFIG_FIELD(scalestate_max_snapshots) },
	{ .section = "scalestate", .key = "connect_timeout",
	    .type = CONFIG_DURATION, .def = "2s", .min = 10 * CONFIG_MS,
	    .max = CONFIG_M,
	    .help = "Longest time a connection may take, AUTH and SELECT "
		"included, before it counts as failed.",
	    .offset = CONFIG_FIELD(scalestate_connect_timeout) },
	{ .section = "scalestate", .key = "command_timeout",
	    .type = CONFIG_DURATION, .def = "2s", .min = 10 * CONFIG_MS,
	    .max = CONFIG_M,
	    .help = "Longest wait for a reply; a Redis that does not answer "
		"in time is disconnected and reconnected.",
	    .offset = CONFIG_FIELD(scalestate_command_timeout) },
	{ .section = "scalestate", .key = "reconnect_base",
	    .type = CONFIG_DURATION, .def = "250ms", .min = CONFIG_MS,
	    .max = CONFIG_H,
	    .help = "Delay before the first reconnection; each further one "
		"waits about twice as long.",
	    .offset = CONFIG_FIELD(scalestate_reconnect_base) },
	{ .section = "scalestate", .key = "reconnect_max",
	    .type = CONFIG_DURATION, .def = "30s", .min = CONFIG_MS,
	    .max = CONFIG_H,
	    .help = "Longest delay between two reconnections.",
	    .offset = CONFIG_FIELD(scalestate_reconnect_max) },
};
#define CONFIG_NROWS (sizeof config_table / sizeof config_table[0])

/* The free-form sections; both are reloadable. */
static const struct config_map_section {
	const char *section;
	size_t offset;
} config_maps[] = {
	{ "instance_metadata", CONFIG_FIELD(instance_metadata) },
	{ "runtime_metadata", CONFIG_FIELD(runtime_metadata) },
};
#define CONFIG_NMAPS (sizeof config_maps / sizeof config_maps[0])

/* Checks of string rows beyond "no control characters", by field. */
struct config_check {
	size_t offset;
	const char *(*check)(const char *value);
	const char *allowed;
};

static const char *config_check_socket_path(const char *);
static const char *config_check_url(const char *);
static const char *config_check_token(const char *);
static const char *config_check_listen(const char *);
static const char *config_check_redis_url(const char *);

static const struct config_check config_checks[] = {
	{ CONFIG_FIELD(socket_path), config_check_socket_path,
	    "a non-empty path of at most 107 bytes (the sun_path limit of "
	    "108 with its NUL)" },
	{ CONFIG_FIELD(report_instance_state_url), config_check_url,
	    "empty or a URL starting with http:// or https://" },
	{ CONFIG_FIELD(report_setup_run_url), config_check_url,
	    "empty or a URL starting with http:// or https://" },
	{ CONFIG_FIELD(report_auth_token), config_check_token,
	    "printable ASCII without spaces, as it goes into an HTTP header" },
	{ CONFIG_FIELD(http_listen), config_check_listen,
	    "empty, host:port or [v6]:port with a port of 1..65535" },
	{ CONFIG_FIELD(scalestate_redis_url), config_check_redis_url,
	    "empty, redis://[user:]pass@host:port[/db] or unix:///path" },
	{ CONFIG_FIELD(scalestate_redis_green_url), config_check_redis_url,
	    "empty, redis://[user:]pass@host:port[/db] or unix:///path" },
};
#define CONFIG_NCHECKS (sizeof config_checks / sizeof config_checks[0])

/* Units, largest first so formatting can pick the largest exact one. */
struct config_unit {
	const char *name;
	int64_t scale;
};

static const struct config_unit config_duration_units[] = {
	{ "d", CONFIG_D }, { "h", CONFIG_H }, { "m", CONFIG_M },
	{ "s", CONFIG_S }, { "ms", CONFIG_MS }, { "us", CONFIG_US },
	{ "ns", 1 }, { NULL, 0 }
};

static const struct config_unit config_size_units[] = {
	{ "GiB", CONFIG_GIB }, { "MiB", CONFIG_MIB }, { "KiB", CONFIG_KIB },
	{ "B", 1 }, { NULL, 0 }
};

/*
 * The parse/format pair of each type. parse() reads trimmed text into *n
 * (numeric types) or only checks it (STRING, TIME) and on failure puts the
 * reason in why; that reason never repeats a string value, so it is safe
 * for secrets. format() writes a numeric value canonically.
 */
struct config_type_ops {
	int ranged;	/* min and max apply */
	const char *what;	/* start of the "allowed" text */
	int (*parse)(const struct config_option *, const char *, int64_t *,
	    char *, size_t);
	void (*format)(const struct config_option *, int64_t, char *, size_t);
};

static int config_string_parse(const struct config_option *, const char *,
    int64_t *, char *, size_t);
static int config_int_parse(const struct config_option *, const char *,
    int64_t *, char *, size_t);
static int config_bool_parse(const struct config_option *, const char *,
    int64_t *, char *, size_t);
static int config_dur_parse(const struct config_option *, const char *,
    int64_t *, char *, size_t);
static int config_sz_parse(const struct config_option *, const char *,
    int64_t *, char *, size_t);
static int config_mode_parse(const struct config_option *, const char *,
    int64_t *, char *, size_t);
static int config_enum_parse(const struct config_option *, const char *,
    int64_t *, char *, size_t);
static int config_time_parse(const struct config_option *, const char *,
    int64_t *, char *, size_t);
static void config_int_format(const struct config_option *, int64_t, char *,
    size_t);
static void config_bool_format(const struct config_option *, int64_t,
    char *, size_t);
static void config_dur_format(const struct config_option *, int64_t, char *,
    size_t);
static void config_sz_format(const struct config_option *, int64_t, char *,
    size_t);
static void config_mode_format(const struct config_option *, int64_t,
    char *, size_t);
static void config_enum_format(const struct config_option *, int64_t,
    char *, size_t);

static const struct config_type_ops config_types[] = {
	[CONFIG_STRING] = { 0, NULL, config_string_parse, NULL },
	[CONFIG_INT] = { 1, "an integer", config_int_parse,
	    config_int_format },
	[CONFIG_BOOL] = { 0, "true or false (also yes/no, on/off, 1/0)",
	    config_bool_parse, config_bool_format },
	[CONFIG_DURATION] = { 1, "a duration like 250ms, 15s, 30m, 1h",
	    config_dur_parse, config_dur_format },
	[CONFIG_SIZE] = { 1, "a size like 512, 64KiB, 1MiB",
	    config_sz_parse, config_sz_format },
	[CONFIG_MODE] = { 1, "an octal mode of 3 or 4 digits like 0660",
	    config_mode_parse, config_mode_format },
	[CONFIG_ENUM] = { 0, NULL, config_enum_parse, config_enum_format },
	[CONFIG_TIME] = { 0, "empty or an RFC 3339 time like "
	    "2026-01-02T15:04:05Z", config_time_parse, NULL },
};

/* A growing string for config_format() and the kept-keys list. */
struct config_buf {
	char *p;
	size_t len;
	size_t cap;
};

static void
config_buf_addn(struct config_buf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		b->p = xrealloc(b->p, b->cap);
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void
config_buf_add(struct config_buf *b, const char *s)
{
	config_buf_addn(b, s, strlen(s));
}

/* Messages */

static void __attribute__((format(printf, 2, 3)))
config_error_set(struct config_error *err, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof err->msg, fmt, ap);
	va_end(ap);
}

/*
 * If s is a URL with a password ("scheme://user:pass@host", or for redis://
 * and unix:// also "scheme://pass@host"), return a copy with the password
 * as ***; else NULL. Passwords in URLs count as secrets
 * (SPEC section 7) wherever a value is printed.
 */
static char *
config_url_redact(const char *s)
{
	const char *auth;
	size_t host_end, at, colon, keep, i, len;
	char *r;

	if ((auth = strstr(s, "://")) == NULL)
		return NULL;
	auth += 3;
	host_end = strcspn(auth, "/?#");
	/* The last '@': an unencoded '@' in a password stays hidden too. */
	for (at = host_end, i = 0; i < host_end; i++) {
		if (auth[i] == '@')
			at = i;
	}
	if (at == host_end)
		return NULL;
	colon = strcspn(auth, ":");
	if (colon >= at) {
		/* Redis reads a lone user-info as the password (AUTH pass). */
		if (strncasecmp(s, "redis://", 8) != 0 &&
		    strncasecmp(s, "unix://", 7) != 0)
			return NULL;
		keep = 0;
	} else
		keep = colon + 1;
	len = strlen(s) + 4;
	r = xmalloc(len);
	snprintf(r, len, "%.*s***%s", (int)((size_t)(auth - s) + keep), s,
	    auth + at);
	return r;
}

/*
 * Write s into out as a double-quoted, escaped string of at most
 * CONFIG_QUOTE_MAX source bytes, so that a value from the environment can
 * never break the one-line message. A cut never splits a UTF-8 sequence.
 */
static void
config_quote(const char *s, char *out, size_t size)
{
	struct config_buf b = { NULL, 0, 0 };
	char esc[8];
	size_t i, n;

	n = strlen(s);
	if (n > CONFIG_QUOTE_MAX) {
		n = CONFIG_QUOTE_MAX;
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
	}
	config_buf_add(&b, "\"");
	for (i = 0; i < n; i++) {
		if (s[i] == '"' || s[i] == '\\') {
			snprintf(esc, sizeof esc, "\\%c", s[i]);
			config_buf_add(&b, esc);
		} else if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) {
			snprintf(esc, sizeof esc, "\\x%02x",
			    (unsigned)(unsigned char)s[i]);
			config_buf_add(&b, esc);
		} else
			config_buf_addn(&b, s + i, 1);
	}
	config_buf_add(&b, n < strlen(s) ? "...\"" : "\"");
	snprintf(out, size, "%s", b.p);
	free(b.p);
}

/* The value of a row as a message shows it. */
static void
config_quote_value(const struct config_option *o, const char *value,
    char *out, size_t size)
{
	char *redacted;

	if (o->flags & CONFIG_SECRET) {
		snprintf(out, size, "(secret)");
		return;
	}
	redacted = config_url_redact(value);
	config_quote(redacted != NULL ? redacted : value, out, size);
	free(redacted);
}

static const struct config_check *
config_check_find(const struct config_option *o)
{
	size_t i;

	if (o->type != CONFIG_STRING)
		return NULL;
	for (i = 0; i < CONFIG_NCHECKS; i++) {
		if (config_checks[i].offset == o->offset)
			return &config_checks[i];
	}
	return NULL;
}

static void
config_choices_list(const char *const *choices, char *out, size_t size)
{
	struct config_buf b = { NULL, 0, 0 };
	size_t i;

	config_buf_add(&b, "one of ");
	for (i = 0; choices[i] != NULL; i++) {
		if (i > 0)
			config_buf_add(&b, ", ");
		config_buf_add(&b, choices[i]);
	}
	snprintf(out, size, "%s", b.p);
	free(b.p);
}

/* What a row accepts, for messages: "a duration like ...; range 10ms..1h". */
static void
config_allowed(const struct config_option *o, char *out, size_t size)
{
	const struct config_type_ops *t = &config_types[o->type];
	const struct config_check *chk;
	char lo[32], hi[32];

	if (o->type == CONFIG_ENUM) {
		config_choices_list(o->choices, out, size);
		return;
	}
	if (o->type == CONFIG_STRING) {
		chk = config_check_find(o);
		snprintf(out, size, "%s", chk != NULL ? chk->allowed :
		    "text without control characters");
		return;
	}
	if (!t->ranged) {
		snprintf(out, size, "%s", t->what);
		return;
	}
	t->format(o, o->min, lo, sizeof lo);
	t->format(o, o->max, hi, sizeof hi);
	snprintf(out, size, "%s; range %s..%s", t->what, lo, hi);
}

static void
config_error_value(struct config_error *err, const char *where,
    const struct config_option *o, const char *value, const char *why)
{
	char q[CONFIG_QUOTE_MAX * 4 + 8], allowed[256];

	config_quote_value(o, value, q, sizeof q);
	config_allowed(o, allowed, sizeof allowed);
	config_error_set(err, "%s: [%s] %s = %s: %s (allowed: %s)", where,
	    o->section, o->key, q, why, allowed);
}

/* Levenshtein distance, case-insensitive; large for long names. */
static size_t
config_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i, j, diag, up, best;
	size_t row[CONFIG_NAME_MAX + 1];

	if (la > CONFIG_NAME_MAX || lb > CONFIG_NAME_MAX)
		return SIZE_MAX;
	for (j = 0; j <= lb; j++)
		row[j] = j;
	for (i = 1; i <= la; i++) {
		diag = row[0];
		row[0] = i;
		for (j = 1; j <= lb; j++) {
			up = row[j];
			best = diag + (tolower((unsigned char)a[i - 1]) !=
			    tolower((unsigned char)b[j - 1]));
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

/* Keep candidate as the suggestion for name if it is the closest so far. */
static void
config_suggest(const char *name, const char *candidate, const char **best,
    size_t *best_d)
{
	size_t d;

	d = config_distance(name, candidate);
	if (d <= 2 && d < strlen(candidate) && d < *best_d) {
		*best = candidate;
		*best_d = d;
	}
}

/* Sections */

static const struct config_map_section *
config_map_find(const char *section)
{
	size_t i;

	for (i = 0; i < CONFIG_NMAPS; i++) {
		if (strcmp(config_maps[i].section, section) == 0)
			return &config_maps[i];
	}
	return NULL;
}

static int
config_section_known(const char *section)
{
	size_t i;

	if (config_map_find(section) != NULL)
		return 1;
	for (i = 0; i < CONFIG_NROWS; i++) {
		if (strcmp(config_table[i].section, section) == 0)
			return 1;
	}
	return 0;
}

/*
 * Call fn for every section name once, in table order, then the maps.
 * The table is grouped by section, so a change of name is a new section.
 */
static void
config_sections_each(void (*fn)(const char *, void *), void *arg)
{
	size_t i;

	for (i = 0; i < CONFIG_NROWS; i++) {
		if (i == 0 || strcmp(config_table[i].section,
		    config_table[i - 1].section) != 0)
			fn(config_table[i].section, arg);
	}
	for (i = 0; i < CONFIG_NMAPS; i++)
		fn(config_maps[i].section, arg);
}

static void
config_section_list_add(const char *section, void *arg)
{
	struct config_buf *b = arg;

	if (b->len > 0)
		config_buf_add(b, ", ");
	config_buf_add(b, section);
}

struct config_suggestion {
	const char *name;
	const char *best;
	size_t best_d;
};

static void
config_section_suggest(const char *section, void *arg)
{
	struct config_suggestion *s = arg;

	config_suggest(s->name, section, &s->best, &s->best_d);
}

static void
config_error_section(struct config_error *err, const char *where,
    const char *section)
{
	struct config_buf known = { NULL, 0, 0 };
	struct config_suggestion s = { section, NULL, SIZE_MAX };
	char q[CONFIG_QUOTE_MAX * 4 + 8], hint[128] = "";

	config_sections_each(config_section_list_add, &known);
	config_sections_each(config_section_suggest, &s);
	if (s.best != NULL)
		snprintf(hint, sizeof hint, "; did you mean [%s]?%s", s.best,
		    s.best_d == 0 ? " (names are lower case)" : "");
	config_quote(section, q, sizeof q);
	config_error_set(err, "%s: unknown section [%.*s] (known: %s)%s",
	    where, (int)(strlen(q) - 2), q + 1, known.p, hint);
	free(known.p);
}

static void
config_error_key(struct config_error *err, const char *where,
    const char *section, const char *key)
{
	struct config_buf known = { NULL, 0, 0 };
	const char *best = NULL;
	char q[CONFIG_QUOTE_MAX * 4 + 8], hint[128] = "";
	size_t i, best_d = SIZE_MAX;

	for (i = 0; i < CONFIG_NROWS; i++) {
		if (strcmp(config_table[i].section, section) != 0)
			continue;
		config_section_list_add(config_table[i].key, &known);
		config_suggest(key, config_table[i].key, &best, &best_d);
	}
	if (best != NULL)
		snprintf(hint, sizeof hint, "; did you mean \"%s\"?", best);
	config_quote(key, q, sizeof q);
	config_error_set(err, "%s: [%s] unknown key %s (known: %s)%s", where,
	    section, q, known.p, hint);
	free(known.p);
}

/* The table */

const struct config_option *
config_options(size_t *count)
{
	if (count != NULL)
		*count = CONFIG_NROWS;
	return config_table;
}

const struct config_option *
config_option_find(const char *section, const char *key)
{
	size_t i;

	for (i = 0; i < CONFIG_NROWS; i++) {
		if (strcmp(config_table[i].section, section) == 0 &&
		    strcmp(config_table[i].key, key) == 0)
			return &config_table[i];
	}
	return NULL;
}

/* Field access by row: strings, int fields (BOOL, ENUM), int64_t fields. */

static int
config_is_string(const struct config_option *o)
{
	return o->type == CONFIG_STRING || o->type == CONFIG_TIME;
}

static char **
config_str_field(struct config *c, const struct config_option *o)
{
	return (char **)((char *)c + o->offset);
}

static const char *
config_str_get(const struct config *c, const struct config_option *o)
{
	return *(char *const *)((const char *)c + o->offset);
}

static int64_t
config_num_get(const struct config *c, const struct config_option *o)
{
	const char *base = (const char *)c + o->offset;

	if (o->type == CONFIG_BOOL || o->type == CONFIG_ENUM)
		return *(const int *)base;
	return *(const int64_t *)base;
}

static void
config_num_put(struct config *c, const struct config_option *o, int64_t n)
{
	char *base = (char *)c + o->offset;

	if (o->type == CONFIG_BOOL || o->type == CONFIG_ENUM)
		*(int *)base = (int)n;
	else
		*(int64_t *)base = n;
}

static struct config_map *
config_map_field(struct config *c, const struct config_map_section *m)
{
	return (struct config_map *)((char *)c + m->offset);
}

/* Numbers and units */

/*
 * Read the decimal digits at *sp, at most lim, and move *sp past them.
 * Returns 0, -1 when there is no digit, -2 when the number exceeds lim.
 */
static int
config_digits(const char **sp, uint64_t lim, uint64_t *out)
{
	const char *s = *sp;
	uint64_t v = 0, d;
	int r = 0;

	if (!isdigit((unsigned char)*s))
		return -1;
	for (; isdigit((unsigned char)*s); s++) {
		d = (uint64_t)(*s - '0');
		if (v > (lim - d) / 10)
			r = -2;
		else
			v = v * 10 + d;
	}
	*sp = s;
	*out = v;
	return r;
}

static const struct config_unit *
config_unit_find(const struct config_unit *units, const char *name)
{
	for (; units->name != NULL; units++) {
		if (strcmp(units->name, name) == 0)
			return units;
	}
	return NULL;
}

/*
 * The nanoseconds of the fraction digits [frac, end) of one unit, rounded
 * down. Horner's rule from the last digit, dividing by ten at each step:
 * nested floor divisions equal one floor division, so the result is exact,
 * and the running value never exceeds scale, so it cannot overflow.
 */
static int64_t
config_fraction(const char *frac, const char *end, int64_t scale)
{
	int64_t x = 0;

	while (end > frac) {
		end--;
		x = (x + (*end - '0') * scale) / 10;
	}
	return x;
}

static void
config_unit_format(const struct config_unit *units, int64_t v, char *out,
    size_t size)
{
	if (v == 0) {
		snprintf(out, size, "0");
		return;
	}
	for (; units->name != NULL; units++) {
		if (v % units->scale == 0)
			break;
	}
	snprintf(out, size, "%" PRId64 "%s", v / units->scale, units->name);
}

/* A duration's number and unit; why says what is wrong. */
static int
config_duration_scan(const char *s, int64_t *ns, char *why, size_t len)
{
	const struct config_unit *u;
	const char *frac = NULL, *fend = NULL;
	uint64_t ip;
	int64_t fns;
	int r;

	if (*s == '\0' || *s == '-') {
		snprintf(why, len, *s == '\0' ? "empty" : "negative");
		return -1;
	}
	if ((r = config_digits(&s, INT64_MAX, &ip)) != 0) {
		snprintf(why, len, r == -2 ? "out of range" : "not a duration");
		return -1;
	}
	if (*s == '.') {
		frac = ++s;
		while (isdigit((unsigned char)*s))
			s++;
		fend = s;
		if (frac == fend) {
			snprintf(why, len, "not a duration");
			return -1;
		}
	}
	if (*s == '\0') {
		for (; frac != NULL && frac < fend && *frac == '0'; frac++)
			;
		if (ip == 0 && frac == fend) {
			*ns = 0;
			return 0;
		}
		snprintf(why, len, "missing unit");
		return -1;
	}
	if ((u = config_unit_find(config_duration_units, s)) == NULL) {
		snprintf(why, len, "bad unit \"%.16s\"", s);
		return -1;
	}
	fns = frac != NULL ? config_fraction(frac, fend, u->scale) : 0;
	if (ip > (uint64_t)((INT64_MAX - fns) / u->scale)) {
		snprintf(why, len, "out of range");
		return -1;
	}
	*ns = (int64_t)ip * u->scale + fns;
	return 0;
}

static int
config_size_scan(const char *s, int64_t *bytes, char *why, size_t len)
{
	const struct config_unit *u;
	uint64_t n;
	int r;

	if (*s == '\0' || *s == '-') {
		snprintf(why, len, *s == '\0' ? "empty" : "negative");
		return -1;
	}
	if ((r = config_digits(&s, INT64_MAX, &n)) != 0) {
		snprintf(why, len, r == -2 ? "out of range" : "not a size");
		return -1;
	}
	if (*s == '\0') {
		*bytes = (int64_t)n;
		return 0;
	}
	if ((u = config_unit_find(config_size_units, s)) == NULL) {
		snprintf(why, len, "bad unit \"%.16s\"", s);
		return -1;
	}
	if (n > (uint64_t)(INT64_MAX / u->scale)) {
		snprintf(why, len, "out of range");
		return -1;
	}
	*bytes = (int64_t)n * u->scale;
	return 0;
}

int
config_duration_parse(const char *s, int64_t *ns)
{
	char why[64];

	return config_duration_scan(s, ns, why, sizeof why);
}

int
config_size_parse(const char *s, int64_t *bytes)
{
	char why[64];

	return config_size_scan(s, bytes, why, sizeof why);
}

/* The parse/format pairs */

static int
config_has_control(const char *s)
{
	for (; *s != '\0'; s++) {
		if (((unsigned char)*s < 0x20 && *s != '\t') || *s == 0x7f)
			return 1;
	}
	return 0;
}

static int
config_string_parse(const struct config_option *o, const char *s,
    int64_t *n, char *why, size_t len)
{
	const struct config_check *chk;
	const char *problem;

	if (config_has_control(s)) {
		snprintf(why, len, "contains a control character");
		return -1;
	}
	chk = config_check_find(o);
	if (chk == NULL || (problem = chk->check(s)) == NULL)
		return 0;
	snprintf(why, len, "%s", problem);
	return -1;
}

static int
config_int_parse(const struct config_option *o, const char *s, int64_t *n,
    char *why, size_t len)
{
	uint64_t v, lim = INT64_MAX;
	int neg = 0, r;

	if (*s == '-') {
		neg = 1;
		lim = (uint64_t)INT64_MAX + 1;
		s++;
	}
	r = config_digits(&s, lim, &v);
	if (r == -1 || *s != '\0') {
		snprintf(why, len, "not an integer");
		return -1;
	}
	if (r == -2) {
		snprintf(why, len, "out of range");
		return -1;
	}
	if (neg)
		*n = v == lim ? INT64_MIN : -(int64_t)v;
	else
		*n = (int64_t)v;
	return 0;
}

static void
config_int_format(const struct config_option *o, int64_t n, char *out,
    size_t size)
{
	snprintf(out, size, "%" PRId64, n);
}

static int
config_bool_parse(const struct config_option *o, const char *s, int64_t *n,
    char *why, size_t len)
{
	static const struct {
		const char *name;
		int value;
	} words[] = {
		{ "true", 1 }, { "false", 0 }, { "yes", 1 }, { "no", 0 },
		{ "on", 1 }, { "off", 0 }, { "1", 1 }, { "0", 0 },
	};
	size_t i;

	for (i = 0; i < sizeof words / sizeof words[0]; i++) {
		if (strcasecmp(s, words[i].name) == 0) {
			*n = words[i].value;
			return 0;
		}
	}
	snprintf(why, len, "not a boolean");
	return -1;
}

static void
config_bool_format(const struct config_option *o, int64_t n, char *out,
    size_t size)
{
	snprintf(out, size, "%s", n ? "true" : "false");
}

static int
config_dur_parse(const struct config_option *o, const char *s, int64_t *n,
    char *why, size_t len)
{
	return config_duration_scan(s, n, why, len);
}

static void
config_dur_format(const struct config_option *o, int64_t n, char *out,
    size_t size)
{
	config_unit_format(config_duration_units, n, out, size);
}

static int
config_sz_parse(const struct config_option *o, const char *s, int64_t *n,
    char *why, size_t len)
{
	return config_size_scan(s, n, why, len);
}

static void
config_sz_format(const struct config_option *o, int64_t n, char *out,
    size_t size)
{
	config_unit_format(config_size_units, n, out, size);
}

static int
config_mode_parse(const struct config_option *o, const char *s, int64_t *n,
    char *why, size_t len)
{
	size_t i, l = strlen(s);
	int64_t v = 0;

	if (l != 3 && l != 4) {
		snprintf(why, len, "not an octal mode");
		return -1;
	}
	for (i = 0; i < l; i++) {
		if (s[i] < '0' || s[i] > '7') {
			snprintf(why, len, "not an octal mode");
			return -1;
		}
		v = v * 8 + (s[i] - '0');
	}
	*n = v;
	return 0;
}

static void
config_mode_format(const struct config_option *o, int64_t n, char *out,
    size_t size)
{
	snprintf(out, size, "%04" PRIo64, (uint64_t)n);
}

static int
config_enum_parse(const struct config_option *o, const char *s, int64_t *n,
    char *why, size_t len)
{
	int64_t i;

	for (i = 0; o->choices[i] != NULL; i++) {
		if (strcasecmp(s, o->choices[i]) == 0) {
			*n = i;
			return 0;
		}
	}
	snprintf(why, len, "not a known value");
	return -1;
}

static void
config_enum_format(const struct config_option *o, int64_t n, char *out,
    size_t size)
{
	int64_t i;

	/* Bounds-check: a struct filled in by code may hold anything. */
	for (i = 0; o->choices[i] != NULL; i++) {
		if (i == n) {
			snprintf(out, size, "%s", o->choices[i]);
			return;
		}
	}
	snprintf(out, size, "%" PRId64, n);
}

static int
config_time_parse(const struct config_option *o, const char *s, int64_t *n,
    char *why, size_t len)
{
	int64_t ms;

	if (*s == '\0' || timeutil_rfc3339_parse(s, &ms) == 0)
		return 0;
	snprintf(why, len, "not an RFC 3339 time");
	return -1;
}

/* The string checks of config_checks; each returns what is wrong or NULL. */

static const char *
config_check_socket_path(const char *s)
{
	if (*s == '\0')
		return "empty";
	if (strlen(s) >= CONFIG_SUN_PATH_SIZE)
		return "too long for a Unix socket path";
	return NULL;
}

/*
 * The reason is a static string: the parser's own words could be kept only
 * in a buffer, and none of them quotes the value anyway.
 */
static const char *
config_check_redis_url(const char *s)
{
	struct redis_url u;
	char why[128];

	if (*s == '\0')
		return NULL;
	if (redis_url_parse(s, &u, why, sizeof why) != 0)
		return "not a valid Redis URL";
	return NULL;
}

static const char *
config_check_url(const char *s)
{
	const char *host;

	if (*s == '\0')
		return NULL;
	if (strncasecmp(s, "http://", 7) == 0)
		host = s + 7;
	else if (strncasecmp(s, "https://", 8) == 0)
		host = s + 8;
	else
		return "not an http:// or https:// URL";
	if (*host == '\0' || *host == '/')
		return "URL without a host";
	if (strpbrk(s, " \t") != NULL)
		return "URL with a space";
	return NULL;
}

static const char *
config_check_listen(const char *s)
{
	char host[CONFIG_LISTEN_HOST_MAX];
	int port;

	if (*s == '\0')
		return NULL;
	if (config_listen_parse(s, host, sizeof host, &port) != 0)
		return "not host:port or [v6]:port";
	return NULL;
}

static const char *
config_check_token(const char *s)
{
	for (; *s != '\0'; s++) {
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
			return "contains a space, control or non-ASCII character";
	}
	return NULL;
}

/* Setting values */

/* A copy of s without leading and trailing white space. */
static char *
config_trim(const char *s)
{
	size_t n;

	while (isspace((unsigned char)*s))
		s++;
	n = strlen(s);
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		n--;
	return xstrndup(s, n);
}

/*
 * Parse and store one row's value; where names the source for a message.
 * The single path for every value, defaults included.
 */
static int
config_row_set(struct config *c, const struct config_option *o,
    const char *text, const char *where, struct config_error *err)
{
	const struct config_type_ops *t = &config_types[o->type];
	char why[128], **field;
	char *v;
	int64_t n = 0;

	v = config_trim(text);
	if (t->parse(o, v, &n, why, sizeof why) != 0)
		goto fail;
	if (t->ranged && (n < o->min || n > o->max)) {
		snprintf(why, sizeof why, "out of range");
		goto fail;
	}
	if (!config_is_string(o)) {
		config_num_put(c, o, n);
		free(v);
		return 0;
	}
	field = config_str_field(c, o);
	free(*field);
	*field = v;
	return 0;
fail:
	config_error_value(err, where, o, v, why);
	free(v);
	return -1;
}

static int
config_map_key_ok(const char *key)
{
	size_t n = 0;

	for (; key[n] != '\0'; n++) {
		if (!isalnum((unsigned char)key[n]) && key[n] != '_' &&
		    key[n] != '.' && key[n] != '-')
			return 0;
	}
	return n >= 1 && n <= CONFIG_MAP_KEY_MAX;
}

/* Add or replace; a key set twice keeps its place and the last value. */
static void
config_map_put(struct config_map *m, const char *key, char *value)
{
	size_t i;

	for (i = 0; i < m->len; i++) {
		if (strcmp(m->items[i].key, key) == 0) {
			free(m->items[i].value);
			m->items[i].value = value;
			return;
		}
	}
	m->items = xrealloc(m->items, (m->len + 1) * sizeof *m->items);
	m->items[m->len].key = xstrdup(key);
	m->items[m->len].value = value;
	m->len++;
}

static int
config_map_set(struct config *c, const struct config_map_section *ms,
    const char *key, const char *text, const char *where,
    struct config_error *err)
{
	char q[CONFIG_QUOTE_MAX * 4 + 8];
	char *v;

	if (!config_map_key_ok(key)) {
		config_quote(key, q, sizeof q);
		config_error_set(err, "%s: [%s] bad key %s (allowed: 1 to %d "
		    "of A-Z a-z 0-9 _ . -)", where, ms->section, q,
		    CONFIG_MAP_KEY_MAX);
		return -1;
	}
	v = config_trim(text);
	if (config_has_control(v)) {
		config_quote(v, q, sizeof q);
		config_error_set(err, "%s: [%s] %s = %s: contains a control "
		    "character (allowed: text without control characters)",
		    where, ms->section, key, q);
		free(v);
		return -1;
	}
	config_map_put(config_map_field(c, ms), key, v);
	return 0;
}

int
config_set(struct config *c, const char *section, const char *key,
    const char *value, const char *source, struct config_error *err)
{
	const struct config_map_section *ms;
	const struct config_option *o;

	if ((ms = config_map_find(section)) != NULL)
		return config_map_set(c, ms, key, value, source, err);
	if ((o = config_option_find(section, key)) != NULL)
		return config_row_set(c, o, value, source, err);
	if (config_section_known(section))
		config_error_key(err, source, section, key);
	else
		config_error_section(err, source, section);
	return -1;
}

int
config_set_override(struct config *c, const char *assignment,
    struct config_error *err)
{
	const char *eq, *dot;
	char q[CONFIG_QUOTE_MAX * 4 + 8];
	char *section, *key;
	int r;

	eq = strchr(assignment, '=');
	dot = eq != NULL ? memchr(assignment, '.',
	    (size_t)(eq - assignment)) : NULL;
	if (dot == NULL || dot == assignment || dot + 1 == eq) {
		/* Quote only the name: what follows '=' may be a secret. */
		section = xstrndup(assignment, eq != NULL ?
		    (size_t)(eq - assignment) : strlen(assignment));
		config_quote(section, q, sizeof q);
		config_error_set(err, "command line: bad setting %s (expected "
		    "section.key=value)", q);
		free(section);
		return -1;
	}
	section = xstrndup(assignment, (size_t)(dot - assignment));
	key = xstrndup(dot + 1, (size_t)(eq - dot - 1));
	r = config_set(c, section, key, eq + 1, "command line", err);
	free(section);
	free(key);
	return r;
}

/* Init and free */

void
config_init(struct config *c)
{
	size_t i;

	memset(c, 0, sizeof *c);
	for (i = 0; i < CONFIG_NROWS; i++) {
		/*
		 * A default that does not parse is a bug in the table, which
		 * test_config's walk of the table reports by name.
		 */
		if (config_row_set(c, &config_table[i], config_table[i].def,
		    "default", NULL) != 0)
			abort();
	}
}

static void
config_map_free(struct config_map *m)
{
	size_t i;

	for (i = 0; i < m->len; i++) {
		free(m->items[i].key);
		free(m->items[i].value);
	}
	free(m->items);
	m->items = NULL;
	m->len = 0;
}

void
config_free(struct config *c)
{
	size_t i;

	for (i = 0; i < CONFIG_NROWS; i++) {
		if (config_is_string(&config_table[i]))
			free(*config_str_field(c, &config_table[i]));
	}
	for (i = 0; i < CONFIG_NMAPS; i++)
		config_map_free(config_map_field(c, &config_maps[i]));
	memset(c, 0, sizeof *c);
}

/* The INI file */

struct config_ini {
	struct config *c;
	const char *source;
	const char *next;	/* the reader's position in the text */
	int line;		/* number of the line last handed to inih */
	int err_line;		/* line of our first error, 0 for none */
	struct config_error *err;
};

static void
config_ini_where(const struct config_ini *st, char *out, size_t size)
{
	snprintf(out, size, "%s:%d", st->source, st->line);
}

static void
config_ini_fail(struct config_ini *st)
{
	if (st->err_line == 0)
		st->err_line = st->line;
}

/* Check a "[section]" line as it is read; inih judges its syntax. */
static void
config_ini_section_check(struct config_ini *st, const char *line,
    size_t len)
{
	const char *end;
	char where[320], *name;

	if (len == 0 || line[0] != '[')
		return;
	end = memchr(line, ']', len);
	if (end == NULL)
		return;
	name = xstrndup(line + 1, (size_t)(end - line - 1));
	if (!config_section_known(name)) {
		config_ini_where(st, where, sizeof where);
		config_error_section(st->err, where, name);
		config_ini_fail(st);
	}
	free(name);
}

/*
 * inih's reader: one whole line per call, leading blanks removed, always
 * ending in a newline. Returns NULL at the end of the text and after our
 * first error, which makes inih stop.
 */
static char *
config_ini_read(char *buf, int size, void *arg)
{
	struct config_ini *st = arg;
	const char *p = st->next, *eol;
	char where[320];
	size_t len;

	if (st->err_line != 0 || *p == '\0')
		return NULL;
	st->line++;
	eol = strchr(p, '\n');
	st->next = eol != NULL ? eol + 1 : p + strlen(p);
	if (st->line == 1 && strncmp(p, "\xef\xbb\xbf", 3) == 0)
		p += 3;
	while (p < st->next && (*p == ' ' || *p == '\t'))
		p++;
	len = (size_t)((eol != NULL ? eol : st->next) - p);
	if (len > 0 && p[len - 1] == '\r')
		len--;
	/* inih needs room for "\r\n" and the NUL. */
	if (size < 3 || len > (size_t)size - 3) {
		config_ini_where(st, where, sizeof where);
		config_error_set(st->err, "%s: line too long (%zu bytes, at "
		    "most %d; give long values such as tokens through the "
		    "environment or a file)", where, len, size - 3);
		config_ini_fail(st);
		return NULL;
	}
	memcpy(buf, p, len);
	memcpy(buf + len, "\n", 2);
	config_ini_section_check(st, p, len);
	return buf;
}

static int
config_ini_handler(void *arg, const char *section, const char *name,
    const char *value)
{
	struct config_ini *st = arg;
	char where[320], q[CONFIG_QUOTE_MAX * 4 + 8];

	if (st->err_line != 0)
		return 0;
	config_ini_where(st, where, sizeof where);
	if (*name == '\0' || value == NULL) {
		config_error_set(st->err, "%s: malformed line (expected key = "
		    "value or [section])", where);
		config_ini_fail(st);
		return 0;
	}
	if (*section == '\0') {
		config_quote(name, q, sizeof q);
		config_error_set(st->err, "%s: key %s outside any section "
		    "(expected a [section] line before it)", where, q);
		config_ini_fail(st);
		return 0;
	}
	if (config_set(st->c, section, name, value, where, st->err) != 0) {
		config_ini_fail(st);
		return 0;
	}
	return 1;
}

int
config_parse_ini(struct config *c, const char *text, const char *source,
    struct config_error *err)
{
	struct config_error mine;
	struct config_ini st;
	int r;

	memset(&st, 0, sizeof st);
	st.c = c;
	st.source = source != NULL ? source : "config";
	st.next = text;
	st.err = &mine;
	r = ini_parse_stream(config_ini_read, &st, config_ini_handler, &st);
	/* inih's first error is a syntax error unless it is our line. */
	if (r != 0 && (st.err_line == 0 || r < st.err_line)) {
		config_error_set(err, "%s:%d: malformed line (expected key = "
		    "value or [section])", st.source, r);
		return -1;
	}
	if (st.err_line != 0) {
		config_error_set(err, "%s", mine.msg);
		return -1;
	}
	return 0;
}

/* The environment */

/* PODPULSE_<SECTION>_<KEY>, or PODPULSE_<SECTION>_ when key is NULL. */
static void
config_env_name(const char *section, const char *key, char *out,
    size_t size)
{
	size_t i;

	snprintf(out, size, "%s%s_%s", CONFIG_ENV_PREFIX, section,
	    key != NULL ? key : "");
	for (i = 0; out[i] != '\0'; i++)
		out[i] = (char)toupper((unsigned char)out[i]);
}

static const char *
config_env_get(char *const *envp, const char *name)
{
	size_t n = strlen(name);

	for (; envp != NULL && *envp != NULL; envp++) {
		if (strncmp(*envp, name, n) == 0 && (*envp)[n] == '=')
			return *envp + n + 1;
	}
	return NULL;
}

static int
config_env_seeds(struct config *c, char *const *envp,
    struct config_error *err)
{
	const struct config_option *o;
	const char *v;
	char where[128];
	size_t i;

	for (i = 0; i < CONFIG_NROWS; i++) {
		o = &config_table[i];
		if (o->env_seed == NULL ||
		    (v = config_env_get(envp, o->env_seed)) == NULL)
			continue;
		snprintf(where, sizeof where, "env %s", o->env_seed);
		if (config_row_set(c, o, v, where, err) != 0)
			return -1;
	}
	return 0;
}

static char *
config_lower(const char *s)
{
	char *l = xstrdup(s);
	size_t i;

	for (i = 0; l[i] != '\0'; i++)
		l[i] = (char)tolower((unsigned char)l[i]);
	return l;
}

/* PODPULSE_<MAP>_<KEY>=value; 1 when name is not a map entry. */
static int
config_env_map(struct config *c, const char *name, const char *value,
    const char *where, struct config_error *err)
{
	char prefix[128], *key;
	size_t i, n;
	int r;

	for (i = 0; i < CONFIG_NMAPS; i++) {
		config_env_name(config_maps[i].section, NULL, prefix,
		    sizeof prefix);
		n = strlen(prefix);
		if (strncmp(name, prefix, n) != 0)
			continue;
		key = config_lower(name + n);
		r = config_map_set(c, &config_maps[i], key, value, where, err);
		free(key);
		return r;
	}
	return 1;
}

/* What an unknown PODPULSE_ name was meant to be. */
static void
config_env_unknown(const char *name, const char *where,
    struct config_error *err)
{
	struct config_buf known = { NULL, 0, 0 };
	char prefix[128], *key;
	size_t i;

	for (i = 0; i < CONFIG_NROWS; i++) {
		config_env_name(config_table[i].section, NULL, prefix,
		    sizeof prefix);
		if (strncmp(name, prefix, strlen(prefix)) != 0)
			continue;
		key = config_lower(name + strlen(prefix));
		config_error_key(err, where, config_table[i].section, key);
		free(key);
		return;
	}
	config_sections_each(config_section_list_add, &known);
	config_error_set(err, "%s: unknown variable (expected "
	    "PODPULSE_<SECTION>_<KEY> with a section of %s)", where, known.p);
	free(known.p);
}

/*
 * Kubernetes injects service-link variables for every Service in the
 * namespace: a Service named "podpulse" (or "podpulse-monitor") yields
 * PODPULSE_SERVICE_HOST, PODPULSE_PORT=tcp://..., PODPULSE_PORT_9464_TCP_ADDR
 * and so on. They are not configuration and must not stop the daemon, so
 * their exact shapes are skipped; every other PODPULSE_ name stays strict.
 */
static int
config_env_is_service_link(const char *name, const char *value)
{
	const char *p;
	size_t n = strlen(name);

	if (n > 13 && strcmp(name + n - 13, "_SERVICE_HOST") == 0)
		return 1;
	if (strstr(name, "_SERVICE_PORT") != NULL)
		return 1;
	if (n > 5 && strcmp(name + n - 5, "_PORT") == 0 &&
	    (strncmp(value, "tcp://", 6) == 0 ||
	    strncmp(value, "udp://", 6) == 0 ||
	    strncmp(value, "sctp://", 7) == 0))
		return 1;
	for (p = name; (p = strstr(p, "_PORT_")) != NULL; p++) {
		p += 6;
		if (!isdigit((unsigned char)*p))
			continue;
		while (isdigit((unsigned char)*p))
			p++;
		if (strncmp(p, "_TCP", 4) == 0 || strncmp(p, "_UDP", 4) == 0 ||
		    strncmp(p, "_SCTP", 5) == 0)
			return 1;
	}
	return 0;
}

/* One PODPULSE_NAME=value entry of the environment. */
static int
config_env_one(struct config *c, const char *entry, struct config_error *err)
{
	const char *eq = strchr(entry, '=');
	char where[320], env[128], *name;
	size_t i;
	int r;

	if (eq == NULL)
		return 0;
	name = xstrndup(entry, (size_t)(eq - entry));
	snprintf(where, sizeof where, "env %s", name);
	if ((r = config_env_map(c, name, eq + 1, where, err)) != 1)
		goto out;
	for (i = 0; i < CONFIG_NROWS; i++) {
		config_env_name(config_table[i].section, config_table[i].key,
		    env, sizeof env);
		if (strcmp(name, env) == 0) {
			r = config_row_set(c, &config_table[i], eq + 1, where,
			    err);
			goto out;
		}
	}
	if (config_env_is_service_link(name, eq + 1)) {
		r = 0;
		goto out;
	}
	config_env_unknown(name, where, err);
	r = -1;
out:
	free(name);
	return r;
}

int
config_apply_env(struct config *c, char *const *envp,
    struct config_error *err)
{
	size_t n = strlen(CONFIG_ENV_PREFIX);

	/* Seeds first, so a PODPULSE_ name for the same key beats them. */
	if (config_env_seeds(c, envp, err) != 0)
		return -1;
	for (; envp != NULL && *envp != NULL; envp++) {
		if (strncmp(*envp, CONFIG_ENV_PREFIX, n) != 0)
			continue;
		if (config_env_one(c, *envp, err) != 0)
			return -1;
	}
	return 0;
}

/* Validation */

/* The Redis keys are named after the deployable: without it, no keys. */
static int
config_validate_scalestate(const struct config *c, struct config_error *err)
{
	if (*c->scalestate_redis_green_url != '\0' &&
	    *c->scalestate_redis_url == '\0') {
		config_error_set(err, "configuration: [scalestate] "
		    "redis_green_url is set without redis_url: set "
		    "scalestate.redis_url too");
		return -1;
	}
	if (*c->scalestate_redis_url != '\0' &&
	    *c->identity_deployment_key == '\0') {
		config_error_set(err, "configuration: [scalestate] redis_url "
		    "is set but [identity] deployment_key is empty: set "
		    "identity.deployment_key");
		return -1;
	}
	if (c->scalestate_reconnect_base > c->scalestate_reconnect_max) {
		config_error_set(err, "configuration: [scalestate] "
		    "reconnect_base is longer than reconnect_max: set "
		    "scalestate.reconnect_base <= scalestate.reconnect_max");
		return -1;
	}
	return 0;
}

int
config_validate(const struct config *c, struct config_error *err)
{
	struct config scratch;
	const struct config_option *o;
	char *v;
	size_t i;
	int r;

	/* Every value must be one the parser would accept from a file. */
	memset(&scratch, 0, sizeof scratch);
	for (i = 0; i < CONFIG_NROWS; i++) {
		o = &config_table[i];
		v = config_value_format(c, o, 0);
		r = config_row_set(&scratch, o, v, "configuration", err);
		free(v);
		if (r != 0) {
			config_free(&scratch);
			return -1;
		}
	}
	config_free(&scratch);
	if (*c->report_auth_token != '\0' &&
	    *c->report_auth_token_file != '\0') {
		config_error_set(err, "configuration: [report] auth_token and "
		    "auth_token_file are both set: set one of "
		    "report.auth_token, report.auth_token_file");
		return -1;
	}
	if (c->report_retry_base > c->report_retry_max) {
		config_error_set(err, "configuration: [report] retry_base is "
		    "longer than retry_max: set report.retry_base <= "
		    "report.retry_max");
		return -1;
	}
	return config_validate_scalestate(c, err);
}

/* Printing */

char *
config_value_format(const struct config *c, const struct config_option *opt,
    int redact)
{
	const char *s;
	char buf[64], *r;

	if (!config_is_string(opt)) {
		config_types[opt->type].format(opt, config_num_get(c, opt), buf,
		    sizeof buf);
		return xstrdup(buf);
	}
	s = config_str_get(c, opt);
	if (s == NULL)
		s = "";
	if (redact && (opt->flags & CONFIG_SECRET) && *s != '\0')
		return xstrdup("***");
	if (redact && (r = config_url_redact(s)) != NULL)
		return r;
	return xstrdup(s);
}

static void
config_format_line(struct config_buf *b, const char *key, const char *value)
{
	config_buf_add(b, key);
	config_buf_add(b, *value != '\0' ? " = " : " =");
	config_buf_add(b, value);
	config_buf_add(b, "\n");
}

char *
config_format(const struct config *c)
{
	struct config_buf b = { NULL, 0, 0 };
	const struct config_option *o;
	const struct config_map *m;
	size_t i, j;
	char *v;

	for (i = 0; i < CONFIG_NROWS; i++) {
		o = &config_table[i];
		if (i == 0 || strcmp(o->section, config_table[i - 1].section)) {
			config_buf_add(&b, i == 0 ? "[" : "\n[");
			config_buf_add(&b, o->section);
			config_buf_add(&b, "]\n");
		}
		v = config_value_format(c, o, 1);
		config_format_line(&b, o->key, v);
		free(v);
	}
	for (i = 0; i < CONFIG_NMAPS; i++) {
		m = (const struct config_map *)((const char *)c +
		    config_maps[i].offset);
		config_buf_add(&b, "\n[");
		config_buf_add(&b, config_maps[i].section);
		config_buf_add(&b, "]\n");
		for (j = 0; j < m->len; j++)
			config_format_line(&b, m->items[j].key,
			    m->items[j].value);
	}
	return b.p;
}

/* Reference */

static const char *const config_type_names[] = {
	[CONFIG_STRING] = "string", [CONFIG_INT] = "integer",
	[CONFIG_BOOL] = "boolean", [CONFIG_DURATION] = "duration",
	[CONFIG_SIZE] = "size", [CONFIG_MODE] = "mode", [CONFIG_ENUM] = "enum",
	[CONFIG_TIME] = "time",
};

/* Markdown table cell text: a '|' would end the cell. */
static void
config_buf_cell(struct config_buf *b, const char *s)
{
	for (; *s != '\0'; s++)
		config_buf_addn(b, *s == '|' ? "\\|" : s, *s == '|' ? 2 : 1);
}

static void
config_reference_row(struct config_buf *b, const struct config_option *o)
{
	char text[512];

	config_buf_add(b, "| `");
	config_buf_add(b, o->key);
	config_buf_add(b, "` | ");
	config_buf_add(b, config_type_names[o->type]);
	if (o->flags & CONFIG_SECRET)
		config_buf_add(b, ", secret");
	config_buf_add(b, " | ");
	if (o->def[0] == '\0')
		config_buf_add(b, "(empty)");
	else {
		config_buf_add(b, "`");
		config_buf_cell(b, o->def);
		config_buf_add(b, "`");
	}
	config_buf_add(b, " | ");
	config_allowed(o, text, sizeof text);
	config_buf_cell(b, text);
	config_buf_add(b, o->flags & CONFIG_RELOADABLE ? " | yes | `" :
	    " | no | `");
	config_env_name(o->section, o->key, text, sizeof text);
	config_buf_add(b, text);
	config_buf_add(b, "`");
	if (o->env_seed != NULL) {
		config_buf_add(b, ", seed `");
		config_buf_add(b, o->env_seed);
		config_buf_add(b, "`");
	}
	config_buf_add(b, " | ");
	config_buf_cell(b, o->help);
	config_buf_add(b, " |\n");
}

char *
config_reference(void)
{
	struct config_buf b = { NULL, 0, 0 };
	size_t i;

	for (i = 0; i < CONFIG_NROWS; i++) {
		if (i == 0 ||
		    strcmp(config_table[i].section, config_table[i - 1].section)) {
			config_buf_add(&b, i == 0 ? "### [" : "\n### [");
			config_buf_add(&b, config_table[i].section);
			config_buf_add(&b, "]\n\n| key | type | default | allowed | "
			    "reload | env | help |\n|---|---|---|---|---|---|---|\n");
		}
		config_reference_row(&b, &config_table[i]);
	}
	return b.p;
}

/* Reload */

static int
config_row_equal(const struct config *a, const struct config *b,
    const struct config_option *o)
{
	if (config_is_string(o))
		return strcmp(config_str_get(a, o), config_str_get(b, o)) == 0;
	return config_num_get(a, o) == config_num_get(b, o);
}

char *
config_reload_keep(const struct config *old, struct config *fresh)
{
	struct config_buf b = { NULL, 0, 0 };
	const struct config_option *o;
	char **field;
	size_t i;

	for (i = 0; i < CONFIG_NROWS; i++) {
		o = &config_table[i];
		if ((o->flags & CONFIG_RELOADABLE) ||
		    config_row_equal(old, fresh, o))
			continue;
		if (config_is_string(o)) {
			field = config_str_field(fresh, o);
			free(*field);
			*field = xstrdup(config_str_get(old, o));
		} else
			config_num_put(fresh, o, config_num_get(old, o));
		if (b.len > 0)
			config_buf_add(&b, ",");
		config_buf_add(&b, o->section);
		config_buf_add(&b, ".");
		config_buf_add(&b, o->key);
	}
	return b.p;
}

int
config_listen_parse(const char *s, char *host, size_t size, int *port)
{
	const char *colon, *h, *end;
	size_t len;
	long p;
	char *e;

	if (s[0] == '[') {
		end = strchr(s, ']');
		if (end == NULL || end[1] != ':')
			return -1;
		h = s + 1;
		len = (size_t)(end - h);
		colon = end + 1;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL || memchr(s, ':', (size_t)(colon - s)))
			return -1;
		h = s;
		len = (size_t)(colon - s);
	}
	if (len == 0 || len >= size || strcspn(h, " \t/[]") < len)
		return -1;
	if (colon[1] < '0' || colon[1] > '9')
		return -1;
	errno = 0;
	p = strtol(colon + 1, &e, 10);
	if (*e != '\0' || errno != 0 || p < 1 || p > 65535)
		return -1;
	memcpy(host, h, len);
	host[len] = '\0';
	*port = (int)p;
	return 0;
}
