/*
 * report -- the instance-state and setup report bodies, and the setup-log
 * tail; see report.h for the contract.
 *
 * Times. Every wall-clock time in a report is computed from the monotonic
 * instant it stands for, through one anchor (report_clock): never by
 * adding durations to an earlier wall time. So the same nanosecond always
 * gives the same millisecond, and interval k's interval_end string is
 * byte for byte interval k + 1's interval_start. Conversion floors toward
 * negative infinity, also for instants before the anchor.
 *
 * Seconds. Durations go out as whole milliseconds divided by 1000.0. The
 * three state times are rounded together by largest remainder so their
 * sum is exactly metric_duration in ms; utilization and mean_concurrency
 * are computed from the exact nanosecond integrals instead (0 for an
 * empty interval), so they are not disturbed by that rounding.
 *
 * Setup report decisions where SPEC 3 is silent:
 *  - scheduled_to_setup_started is sent whenever scheduled_at is known;
 *    scheduled_to_ready only when the status is READY (a failed or timed
 *    out setup never became ready). Both keep their sign: a negative
 *    value means the node's clock is behind the one that stamped
 *    scheduled_at, which an operator should see rather than have hidden.
 *  - duration_seconds is never negative (completed before started gives 0).
 *  - instance_id, deployment_key, version and run_id are added, so the
 *    receiver can tell whose setup it was.
 *  - logs are copied byte for byte. cJSON strings end at a NUL, so a NUL
 *    in the log would cut it short; the protocol rejects lines with NUL
 *    bytes or invalid UTF-8 (bad-encoding), so none reach here.
 *
 * cJSON allocates with its own hooks; the reports return NULL only if the
 * root object cannot be allocated (a failing member is simply absent).
 *
 * The log tail keeps between limit and 2 x limit bytes: appending past
 * 2 x limit moves the last `limit` bytes to the front once, so the cost
 * is amortised O(1) per byte and memory never exceeds 2 x limit.
 */
#include "report.h"

#include <stdlib.h>
#include <string.h>

#include "timeutil.h"
#include "xmalloc.h"

#define REPORT_NS_PER_MS UINT64_C(1000000)

/* ns to ms, half up, without overflowing near UINT64_MAX. */
static uint64_t
report_ns_to_ms(uint64_t ns)
{
	return ns / REPORT_NS_PER_MS +
	    (ns % REPORT_NS_PER_MS >= REPORT_NS_PER_MS / 2);
}

int64_t
report_clock_wall_ms(const struct report_clock *clock, uint64_t mono_ns)
{
	uint64_t d;

	if (mono_ns >= clock->mono_ns) {
		d = mono_ns - clock->mono_ns;
		return clock->wall_ms + (int64_t)(d / REPORT_NS_PER_MS);
	}
	/* Before the anchor: floor of a negative quotient rounds away. */
	d = clock->mono_ns - mono_ns;
	return clock->wall_ms - (int64_t)(d / REPORT_NS_PER_MS) -
	    (d % REPORT_NS_PER_MS != 0);
}

/* Indices of the three parts by remainder, largest first, ties by index. */
static void
report_order(const uint64_t rem[3], int order[3])
{
	int i, j, tmp;

	for (i = 0; i < 3; i++)
		order[i] = i;
	for (i = 1; i < 3; i++) {
		for (j = i; j > 0 && rem[order[j]] > rem[order[j - 1]]; j--) {
			tmp = order[j];
			order[j] = order[j - 1];
			order[j - 1] = tmp;
		}
	}
}

/*
 * With consistent parts (their sum is duration_ns) the floors fall short of
 * the target by 0..3 ms, which go one each to the largest remainders. Any
 * other shortfall is spread evenly first; a surplus is taken back from the
 * smallest remainders, never below zero. Either way the sum is the target.
 */
void
report_round_ms(const uint64_t parts_ns[3], uint64_t duration_ns,
    uint64_t out_ms[3])
{
	uint64_t rem[3], sum = 0, target, missing, take;
	int order[3], i;

	target = report_ns_to_ms(duration_ns);
	for (i = 0; i < 3; i++) {
		out_ms[i] = parts_ns[i] / REPORT_NS_PER_MS;
		rem[i] = parts_ns[i] % REPORT_NS_PER_MS;
		sum += out_ms[i];
	}
	report_order(rem, order);

	if (sum <= target) {
		missing = target - sum;
		for (i = 0; i < 3; i++)
			out_ms[i] += missing / 3;
		for (i = 0; i < (int)(missing % 3); i++)
			out_ms[order[i]]++;
		return;
	}
	missing = sum - target;
	for (i = 2; i >= 0 && missing > 0; i--) {
		take = out_ms[order[i]] < missing ? out_ms[order[i]] : missing;
		out_ms[order[i]] -= take;
		missing -= take;
	}
}

static void
report_add_string(cJSON *obj, const char *name, const char *value)
{
	cJSON_AddStringToObject(obj, name, value != NULL ? value : "");
}

static void
report_add_seconds_ms(cJSON *obj, const char *name, int64_t ms)
{
	cJSON_AddNumberToObject(obj, name, (double)ms / 1000.0);
}

static void
report_add_time(cJSON *obj, const char *name,
    const struct report_clock *clock, uint64_t mono_ns)
{
	char ts[TIMEUTIL_RFC3339_LEN];

	timeutil_rfc3339_format(report_clock_wall_ms(clock, mono_ns), ts);
	cJSON_AddStringToObject(obj, name, ts);
}

static void
report_add_kv(cJSON *obj, const char *name, const struct report_kv *kv,
    size_t n)
{
	cJSON *o;
	size_t i;

	if ((o = cJSON_AddObjectToObject(obj, name)) == NULL)
		return;
	for (i = 0; i < n; i++) {
		if (kv[i].key != NULL)
			report_add_string(o, kv[i].key, kv[i].value);
	}
}

/* The SPEC's compatibility-core identity fields. */
static void
report_add_identity(cJSON *obj, const struct report_identity *id)
{
	report_add_string(obj, "deployment_key", id->deployment_key);
	report_add_string(obj, "docker_image_uri", id->docker_image_uri);
	report_add_string(obj, "hardware", id->hardware);
	report_add_string(obj, "compute_unit", id->compute_unit);
	cJSON_AddNumberToObject(obj, "compute_unit_count",
	    (double)id->compute_unit_count);
	report_add_string(obj, "instance_id", id->instance_id);
	report_add_kv(obj, "instance_metadata", id->instance_metadata,
	    id->instance_metadata_len);
	report_add_string(obj, "version", id->version);
}

static void
report_add_times(cJSON *obj, const struct monitor_interval *iv,
    uint64_t duration_ns)
{
	uint64_t parts[3], ms[3];

	parts[0] = iv->state_ns[STATUS_STATE_BOOT];
	parts[1] = iv->state_ns[STATUS_STATE_IDLE];
	parts[2] = iv->state_ns[STATUS_STATE_ACTIVE];
	report_round_ms(parts, duration_ns, ms);
	report_add_seconds_ms(obj, "active_time", (int64_t)ms[2]);
	report_add_seconds_ms(obj, "boot_time", (int64_t)ms[0]);
	report_add_seconds_ms(obj, "idle_time", (int64_t)ms[1]);
	report_add_seconds_ms(obj, "metric_duration",
	    (int64_t)(ms[0] + ms[1] + ms[2]));
}

static double
report_ratio(uint64_t num, uint64_t den)
{
	if (den == 0)
		return 0;
	return (double)num / (double)den;
}

static void
report_add_predictions(cJSON *obj, const uint64_t counts[MONITOR_COUNTS])
{
	cJSON *o;
	int i;

	if ((o = cJSON_AddObjectToObject(obj, "predictions")) == NULL)
		return;
	for (i = 0; i < STATUS_PREDICTION_COUNT; i++) {
		cJSON_AddNumberToObject(o, status_prediction_name(i),
		    (double)counts[i]);
	}
	cJSON_AddNumberToObject(o, "started",
	    (double)counts[MONITOR_COUNT_STARTED]);
}

cJSON *
report_instance_state(const struct report_identity *id,
    const struct report_clock *clock, const struct monitor_interval *iv)
{
	cJSON *obj;
	uint64_t duration_ns;

	if ((obj = cJSON_CreateObject()) == NULL)
		return NULL;
	duration_ns = iv->end_ns > iv->start_ns ? iv->end_ns - iv->start_ns : 0;

	report_add_times(obj, iv, duration_ns);
	cJSON_AddNumberToObject(obj, "utilization",
	    report_ratio(iv->state_ns[STATUS_STATE_ACTIVE], duration_ns));
	cJSON_AddNumberToObject(obj, "mean_concurrency",
	    report_ratio(iv->level_ns, duration_ns));
	report_add_identity(obj, id);
	cJSON_AddNumberToObject(obj, "sequence", (double)iv->sequence);
	report_add_string(obj, "run_id", id->run_id);
	report_add_time(obj, "interval_start", clock, iv->start_ns);
	report_add_time(obj, "interval_end", clock, iv->end_ns);
	report_add_string(obj, "state", status_state_name(iv->end_state));
	cJSON_AddNumberToObject(obj, "max_concurrency", (double)iv->max_level);
	report_add_predictions(obj, iv->counts);
	cJSON_AddBoolToObject(obj, "final", iv->final != 0);
	return obj;
}

static void
report_add_logs(cJSON *obj, const char *logs, size_t len)
{
	char *s;

	if (logs == NULL)
		len = 0;
	/* The tail is not NUL-terminated; cJSON wants a C string. */
	s = xmalloc(len + 1);
	if (len > 0)
		memcpy(s, logs, len);
	s[len] = '\0';
	cJSON_AddStringToObject(obj, "logs", s);
	free(s);
}

static void
report_add_scheduled(cJSON *obj, const struct report_clock *clock,
    const struct report_setup *setup)
{
	int64_t started, completed;

	if (!setup->has_scheduled_at)
		return;
	started = report_clock_wall_ms(clock, setup->started_ns);
	report_add_seconds_ms(obj, "scheduled_to_setup_started",
	    started - setup->scheduled_at_ms);
	if (setup->status != STATUS_SETUP_READY)
		return;
	completed = report_clock_wall_ms(clock, setup->completed_ns);
	report_add_seconds_ms(obj, "scheduled_to_ready",
	    completed - setup->scheduled_at_ms);
}

cJSON *
report_setup_run(const struct report_identity *id,
    const struct report_clock *clock, const struct report_setup *setup)
{
	cJSON *obj;
	uint64_t duration_ns = 0;

	if ((obj = cJSON_CreateObject()) == NULL)
		return NULL;
	if (setup->completed_ns > setup->started_ns)
		duration_ns = setup->completed_ns - setup->started_ns;

	report_add_string(obj, "status", status_setup_name(setup->status));
	report_add_time(obj, "started_at", clock, setup->started_ns);
	report_add_time(obj, "completed_at", clock, setup->completed_ns);
	report_add_seconds_ms(obj, "duration_seconds",
	    (int64_t)report_ns_to_ms(duration_ns));
	report_add_logs(obj, setup->logs, setup->logs_len);
	report_add_kv(obj, "instance_metadata", id->instance_metadata,
	    id->instance_metadata_len);
	report_add_kv(obj, "runtime_metadata", id->runtime_metadata,
	    id->runtime_metadata_len);
	report_add_scheduled(obj, clock, setup);
	report_add_string(obj, "instance_id", id->instance_id);
	report_add_string(obj, "deployment_key", id->deployment_key);
	report_add_string(obj, "version", id->version);
	report_add_string(obj, "run_id", id->run_id);
	return obj;
}

void
report_logtail_init(struct report_logtail *t, size_t limit)
{
	memset(t, 0, sizeof *t);
	t->limit = limit;
}

void
report_logtail_free(struct report_logtail *t)
{
	free(t->buf);
	t->buf = NULL;
	t->len = t->cap = 0;
}

/* Make room for need bytes: grow by doubling, never past 2 x limit. */
static void
report_logtail_reserve(struct report_logtail *t, size_t need)
{
	size_t cap;

	if (need <= t->cap)
		return;
	cap = t->cap < 256 ? 256 : t->cap * 2;
	if (cap < need)
		cap = need;
	if (cap > 2 * t->limit)
		cap = 2 * t->limit;
	t->buf = xrealloc(t->buf, cap);
	t->cap = cap;
}

void
report_logtail_append(struct report_logtail *t, const char *text, size_t len)
{
	size_t keep;

	t->total += len;
	if (len == 0 || t->limit == 0)
		return;
	if (len >= t->limit) {
		/* Only its last limit bytes can ever be handed out. */
		report_logtail_reserve(t, t->limit);
		memcpy(t->buf, text + len - t->limit, t->limit);
		t->len = t->limit;
		return;
	}
	if (t->len + len > 2 * t->limit) {
		keep = t->limit - len;
		memmove(t->buf, t->buf + t->len - keep, keep);
		t->len = keep;
	}
	report_logtail_reserve(t, t->len + len);
	memcpy(t->buf + t->len, text, len);
	t->len += len;
}

void
report_logtail_get(const struct report_logtail *t, const char **ptr,
    size_t *len)
{
	const char *p;
	size_t n, skipped;

	n = t->len < t->limit ? t->len : t->limit;
	if (n == 0) {
		*ptr = "";
		*len = 0;
		return;
	}
	p = t->buf + t->len - n;
	/*
	 * Where bytes were cut off, step past the continuation bytes of a
	 * split character (at most three in UTF-8). An uncut log is handed
	 * out whole.
	 */
	if (t->total > n) {
		for (skipped = 0; skipped < 3 && n > 0 &&
		    ((unsigned char)*p & 0xC0) == 0x80; skipped++) {
			p++;
			n--;
		}
	}
	*ptr = p;
	*len = n;
}
