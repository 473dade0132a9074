/*
 * config -- the one option table, and parsing, validation and printing of
 * the configuration built from it (SPEC section 7).
 *
 * A pure core: it reads strings (the INI text, the environment as an
 * array, command-line overrides), never files. Every key of every section
 * is one row of the table in config.c: section, key, type, default,
 * bounds, flags (RELOADABLE, SECRET), help text, the seed environment
 * variable if any, and the offset of its field in struct config. The INI
 * parser, environment overrides, --check-config, validation errors, reload
 * and the documentation all read that table; no other place holds a
 * default.
 *
 * Precedence: table default < INI file < environment < command line.
 * In the environment PODPULSE_<SECTION>_<KEY> beats a seed name such as
 * POD_NAME. [instance_metadata] and [runtime_metadata] are free-form maps;
 * PODPULSE_INSTANCE_METADATA_<KEY> adds to them.
 *
 * A reload parses into a fresh struct, validates all of it, and only then
 * is swapped in by the caller: all or nothing.
 */
#ifndef PODPULSE_CONFIG_H
#define PODPULSE_CONFIG_H

#include <stddef.h>
#include <stdint.h>

enum config_type {
	CONFIG_STRING,		/* char * */
	CONFIG_INT,		/* int64_t */
	CONFIG_BOOL,		/* int: true/false, yes/no, on/off, 1/0 */
	CONFIG_DURATION,	/* int64_t ns: "250ms", "15s", "30m", "1h", "0" */
	CONFIG_SIZE,		/* int64_t bytes: "512", "64KiB", "1MiB" */
	CONFIG_MODE,		/* int64_t: octal file mode "0660" */
	CONFIG_ENUM,		/* int: index into choices */
	CONFIG_TIME		/* char *: empty or RFC 3339 */
};

#define CONFIG_RELOADABLE 0x1u	/* SIGHUP may change it */
#define CONFIG_SECRET 0x2u	/* printed as *** */

struct config_option {
	const char *section;
	const char *key;
	enum config_type type;
	const char *def;		/* default, as it would be written */
	int64_t min;			/* INT, DURATION (ns), SIZE (bytes) */
	int64_t max;
	const char *const *choices;	/* ENUM: NULL-terminated */
	unsigned flags;
	const char *env_seed;		/* e.g. "POD_NAME", or NULL */
	const char *help;
	size_t offset;			/* into struct config */
};

struct config_kv {
	char *key;
	char *value;
};

struct config_map {
	struct config_kv *items;
	size_t len;
};

enum config_log_level { CONFIG_LOG_DEBUG, CONFIG_LOG_INFO, CONFIG_LOG_WARN,
	CONFIG_LOG_ERROR };
enum config_log_format { CONFIG_LOG_JSON, CONFIG_LOG_TEXT };
enum config_queue_kind { CONFIG_QUEUE_LIST, CONFIG_QUEUE_ZSET,
	CONFIG_QUEUE_STREAM, CONFIG_QUEUE_AUTO };

struct config {
	/* [agent] */
	int log_level;			/* enum config_log_level */
	int log_format;			/* enum config_log_format */

	/* [socket] */
	char *socket_path;
	int64_t socket_mode;
	char *socket_group;
	int64_t socket_max_connections;
	int64_t socket_max_line;
	int64_t socket_max_reply_buffer;
	int socket_abort_on_disconnect;

	/* [monitor] */
	int64_t monitor_report_interval;	/* ns */
	int64_t monitor_setup_timeout;		/* ns, 0 = off */
	int64_t monitor_prediction_timeout;	/* ns, 0 = off */
	int64_t monitor_max_in_flight;
	int64_t monitor_shutdown_grace;		/* ns */
	char *monitor_scheduled_at;		/* RFC 3339 or "" */
	int64_t monitor_max_concurrency;	/* 0 = unset */

	/* [report] */
	char *report_instance_state_url;
	char *report_setup_run_url;
	char *report_auth_token;
	char *report_auth_token_file;
	int64_t report_timeout;			/* ns */
	char *report_ca_file;
	int64_t report_retry_base;		/* ns */
	int64_t report_retry_max;		/* ns */
	int64_t report_max_attempts;
	int64_t report_max_pending;
	char *report_spool_dir;

	/* [identity] */
	char *identity_instance_id;	/* "" = POD_NAME, else the hostname */
	char *identity_deployment_key;
	char *identity_docker_image_uri;
	char *identity_hardware;
	char *identity_compute_unit;
	int64_t identity_compute_unit_count;
	char *identity_version;
	char *identity_pod_name;
	char *identity_pod_namespace;
	char *identity_node_name;

	/* [http] */
	char *http_listen;			/* "" = disabled */
	int64_t http_max_connections;
	int64_t http_connection_timeout;	/* ns */
	int64_t http_max_body;			/* bytes */
	int64_t http_download_metrics_rps;

	/* [scalestate] */
	char *scalestate_redis_url;		/* "" = disabled */
	char *scalestate_redis_green_url;	/* "" = none */
	int64_t scalestate_interval;		/* ns */
	char *scalestate_queue_key;
	int scalestate_queue_kind;		/* enum config_queue_kind */
	char *scalestate_queue_group;
	int64_t scalestate_max_snapshots;
	int64_t scalestate_connect_timeout;	/* ns */
	int64_t scalestate_command_timeout;	/* ns */
	int64_t scalestate_reconnect_base;	/* ns */
	int64_t scalestate_reconnect_max;	/* ns */

	/* Free-form sections. */
	struct config_map instance_metadata;
	struct config_map runtime_metadata;
};

/* One line naming where (file:line or env name), the key and what is allowed. */
struct config_error {
	char msg[512];
};

/* The table, for docs and tests. */
const struct config_option *config_options(size_t *count);
const struct config_option *config_option_find(const char *section,
    const char *key);

/* Fill c with the table's defaults. */
void config_init(struct config *c);
void config_free(struct config *c);

/*
 * Parse INI text; source names it in messages (usually the file name).
 * Returns 0, or -1 with err set on the first error: unknown section,
 * unknown key, bad value, out of range, bad unit, malformed line.
 */
int config_parse_ini(struct config *c, const char *text, const char *source,
    struct config_error *err);

/* Apply PODPULSE_<S>_<K> and seed names from a NULL-terminated envp. */
int config_apply_env(struct config *c, char *const *envp,
    struct config_error *err);

/* Set one key from text (command line "section.key=value"). */
int config_set(struct config *c, const char *section, const char *key,
    const char *value, const char *source, struct config_error *err);

/* Apply a "section.key=value" override. */
int config_set_override(struct config *c, const char *assignment,
    struct config_error *err);

/* Checks that span keys (run after everything is applied). */
int config_validate(const struct config *c, struct config_error *err);

/*
 * The effective configuration as INI text, secrets as ***. The caller
 * frees the string.
 */
char *config_format(const struct config *c);

/*
 * The key reference of docs/configuration.md, as Markdown: one table per
 * section, one row per option (type, default, what is allowed, reload,
 * env names, help), all read from the option table. Free the result.
 */
char *config_reference(void);

/* The value of one option as it would be written (secrets as ***). */
char *config_value_format(const struct config *c,
    const struct config_option *opt, int redact);

/*
 * Reload: for every non-reloadable option that differs between old and
 * fresh, copy the old value into fresh. Returns a malloc'd,
 * comma-separated list of the keys kept ("socket.path,monitor.report_interval"),
 * or NULL when none was kept.
 */
char *config_reload_keep(const struct config *old, struct config *fresh);

/* Parse a duration or size as the table does (for the CLI and tests). */
int config_duration_parse(const char *s, int64_t *ns);
int config_size_parse(const char *s, int64_t *bytes);

/*
 * Split a listen address, "host:port" or "[v6]:port", into host (without
 * brackets) and port. Returns 0, or -1 when s has another shape.
 */
#define CONFIG_LISTEN_HOST_MAX 256
int config_listen_parse(const char *s, char *host, size_t size, int *port);

#endif
