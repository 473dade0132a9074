/*
 * report -- the bodies of the instance-state and setup reports (SPEC 3),
 * and the bounded setup-log tail they carry.
 *
 * A pure core: a closed monitor interval plus the instance's identity go
 * in, a cJSON document comes out. Wall-clock times are derived from one
 * anchor (a monotonic instant and the wall clock at that instant), so the
 * bounds of consecutive intervals are contiguous even if the wall clock is
 * stepped while the daemon runs.
 *
 * Seconds are rounded to milliseconds in a way that keeps the SPEC's
 * invariant exact: boot_time + idle_time + active_time == metric_duration
 * after rounding (largest-remainder rounding of the three parts).
 */
#ifndef PODPULSE_REPORT_H
#define PODPULSE_REPORT_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "monitor.h"
#include "status.h"

#define REPORT_LOG_TAIL_BYTES 20480

struct report_kv {
	const char *key;
	const char *value;
};

/* Who is reporting; every string non-NULL (may be empty). */
struct report_identity {
	const char *instance_id;
	const char *deployment_key;
	const char *docker_image_uri;
	const char *hardware;
	const char *compute_unit;
	long compute_unit_count;
	const char *version;
	const char *run_id;
	/* Already merged: pod_name, pod_namespace, node_name, [instance_metadata]. */
	const struct report_kv *instance_metadata;
	size_t instance_metadata_len;
	const struct report_kv *runtime_metadata;
	size_t runtime_metadata_len;
};

/* wall_ms (Unix ms) was the wall-clock time at monotonic instant mono_ns. */
struct report_clock {
	uint64_t mono_ns;
	int64_t wall_ms;
};

struct report_setup {
	enum status_setup status;	/* READY, FAILED or TIMEOUT */
	uint64_t started_ns;		/* monotonic */
	uint64_t completed_ns;		/* monotonic */
	const char *logs;		/* already the tail; may be NULL */
	size_t logs_len;
	int has_scheduled_at;
	int64_t scheduled_at_ms;	/* Unix ms, when has_scheduled_at */
};

/* Wall-clock Unix ms of a monotonic instant. */
int64_t report_clock_wall_ms(const struct report_clock *clock,
    uint64_t mono_ns);

/* The instance-state body (SPEC 3). The caller cJSON_Delete()s it. */
cJSON *report_instance_state(const struct report_identity *id,
    const struct report_clock *clock, const struct monitor_interval *iv);

/* The setup-run body (SPEC 3). The caller cJSON_Delete()s it. */
cJSON *report_setup_run(const struct report_identity *id,
    const struct report_clock *clock, const struct report_setup *setup);

/*
 * Split duration_ns into three parts rounded to ms whose sum is exactly
 * duration_ns rounded to ms. parts_ns has three entries; out_ms gets three.
 */
void report_round_ms(const uint64_t parts_ns[3], uint64_t duration_ns,
    uint64_t out_ms[3]);

/*
 * The setup log: appended line by line, never holding more than twice the
 * limit, handing out its last `limit` bytes without splitting a UTF-8
 * character.
 */
struct report_logtail {
	char *buf;
	size_t len;
	size_t cap;
	size_t limit;
	uint64_t total;		/* bytes ever appended */
};

void report_logtail_init(struct report_logtail *t, size_t limit);
void report_logtail_free(struct report_logtail *t);
void report_logtail_append(struct report_logtail *t, const char *text,
    size_t len);
/* The tail: at most limit bytes, starting at a UTF-8 character boundary. */
void report_logtail_get(const struct report_logtail *t, const char **ptr,
    size_t *len);

#endif
