/*
 * monitor -- the Boot / Idle / Active state machine and its exact time
 * accounting; see monitor.h for the model.
 *
 * Everything hangs on one step: monitor_advance() integrates the time since
 * the last event into the open interval under the level and state that held
 * during it, splitting at every interval boundary it crosses. Every event
 * advances first and changes the level or the setup outcome second, so the
 * time before an event is charged to the old state and an event that falls
 * exactly on a boundary belongs to the interval that starts there.
 *
 * Exactness: the open interval and the lifetime state totals are integer
 * nanoseconds. The lifetime concurrency integral (total_level_s) is a
 * double because level x ns overflows 64 bits after a few centuries at
 * high concurrency; to keep rounding out of the hot path it only absorbs
 * an interval's exact level_ns when that interval is cut. The integral up
 * to now is therefore total_level_s + cur.level_ns / 1e9 (or use
 * monitor_peek()).
 *
 * Boundaries: the k-th interval ends at origin + k x interval, computed by
 * adding the interval to the previous boundary, never from the time the
 * caller happened to arrive, so nothing drifts. An interval of 0 means
 * "never cut periodically" (only monitor_finish() cuts); next_cut_ns is then
 * UINT64_MAX, a time the monotonic clock does not reach.
 *
 * Every function that takes a time advances to it first, even when the
 * event turns out to change nothing (a stray TIMEOUT, a second `setup
 * start`), so "the last time seen", to which an earlier time is clamped,
 * is simply the latest time passed to any of them. monitor_peek() is the
 * exception: it changes nothing, so it moves nothing.
 *
 * After monitor_finish() no time, count or interval is accounted any more;
 * events still move the level and the setup outcome so that monitor_state()
 * stays truthful during shutdown.
 *
 * The cut callback receives the closed interval by pointer; it is valid
 * only during the call, and the callback must not call the mutating
 * functions of this monitor (it runs in the middle of monitor_advance()).
 */
#include "monitor.h"

#include <string.h>

static enum status_state
monitor_state_of(uint32_t level, enum status_setup setup)
{
	if (level > 0)
		return STATUS_STATE_ACTIVE;
	if (setup == STATUS_SETUP_READY)
		return STATUS_STATE_IDLE;
	return STATUS_STATE_BOOT;
}

/* The boundary after at; UINT64_MAX (never) on overflow or interval 0. */
static uint64_t
monitor_cut_after(uint64_t at, uint64_t interval_ns)
{
	if (interval_ns == 0 || at >= UINT64_MAX - interval_ns)
		return UINT64_MAX;
	return at + interval_ns;
}

static void
monitor_interval_add(struct monitor_interval *iv, uint32_t level,
    enum status_state state, uint64_t dt)
{
	iv->state_ns[state] += dt;
	iv->level_ns += (uint64_t)level * dt;
}

/* Charge [last_ns, to) to the open interval and the lifetime totals. */
static void
monitor_integrate(struct monitor *m, uint64_t to)
{
	enum status_state state;
	uint64_t dt;

	state = monitor_state(m);
	dt = to - m->last_ns;
	monitor_interval_add(&m->cur, m->level, state, dt);
	m->total_state_ns[state] += dt;
	m->last_ns = to;
	m->cur.end_ns = to;
}

static void
monitor_close(struct monitor *m, uint64_t end_ns, int final)
{
	m->cur.end_ns = end_ns;
	m->cur.end_state = monitor_state(m);
	m->cur.final = final;
	m->total_level_s += (double)m->cur.level_ns / 1e9;
	if (m->cut_cb != NULL)
		m->cut_cb(m->cut_arg, &m->cur);
}

/* Open the next interval at start_ns, carrying the level in. */
static void
monitor_open(struct monitor *m, uint64_t start_ns)
{
	uint64_t sequence;

	sequence = m->cur.sequence + 1;
	memset(&m->cur, 0, sizeof m->cur);
	m->cur.sequence = sequence;
	m->cur.start_ns = start_ns;
	m->cur.end_ns = start_ns;
	m->cur.max_level = m->level;
	m->cur.end_state = monitor_state(m);
}

static void
monitor_count(struct monitor *m, unsigned idx)
{
	if (m->finished || idx >= MONITOR_COUNTS)
		return;
	m->cur.counts[idx]++;
	m->total_counts[idx]++;
}

/* Clamp a time that went backwards to the last one seen. */
static uint64_t
monitor_clamp(const struct monitor *m, uint64_t now_ns)
{
	return now_ns < m->last_ns ? m->last_ns : now_ns;
}

void
monitor_init(struct monitor *m, uint64_t now_ns, uint64_t interval_ns,
    monitor_cut_cb *cb, void *arg)
{
	memset(m, 0, sizeof *m);
	m->setup = STATUS_SETUP_RUNNING;
	m->origin_ns = now_ns;
	m->interval_ns = interval_ns;
	m->last_ns = now_ns;
	m->next_cut_ns = monitor_cut_after(now_ns, interval_ns);
	m->cur.start_ns = now_ns;
	m->cur.end_ns = now_ns;
	m->cur.end_state = STATUS_STATE_BOOT;
	m->setup_started_ns = now_ns;
	m->cut_cb = cb;
	m->cut_arg = arg;
}

void
monitor_advance(struct monitor *m, uint64_t now_ns)
{
	uint64_t cut;

	if (m->finished)
		return;
	now_ns = monitor_clamp(m, now_ns);
	while (m->next_cut_ns != UINT64_MAX && now_ns >= m->next_cut_ns) {
		cut = m->next_cut_ns;
		monitor_integrate(m, cut);
		monitor_close(m, cut, 0);
		monitor_open(m, cut);
		m->next_cut_ns = monitor_cut_after(cut, m->interval_ns);
	}
	monitor_integrate(m, now_ns);
}

void
monitor_prediction_start(struct monitor *m, uint64_t now_ns)
{
	monitor_advance(m, now_ns);
	m->level++;
	if (!m->finished && m->cur.max_level < m->level)
		m->cur.max_level = m->level;
	monitor_count(m, MONITOR_COUNT_STARTED);
}

/*
 * A stop of a running prediction at level 0 cannot happen when the caller
 * keeps the predictions table and the monitor in step; if it does anyway,
 * the level stays at 0 (it must never wrap) but the stop is still counted,
 * because a prediction did end.
 */
void
monitor_prediction_stop(struct monitor *m, uint64_t now_ns,
    enum status_prediction status, int running)
{
	monitor_advance(m, now_ns);
	if (running && m->level > 0)
		m->level--;
	if ((unsigned)status < STATUS_PREDICTION_COUNT)
		monitor_count(m, (unsigned)status);
}

void
monitor_setup_start(struct monitor *m, uint64_t now_ns)
{
	monitor_advance(m, now_ns);
	if (m->setup_start_seen)
		return;
	m->setup_start_seen = 1;
	m->setup_started_ns = monitor_clamp(m, now_ns);
}

/*
 * READY and FAILED always apply (the engine rejects a second `setup done`
 * before it gets here; a late one after TIMEOUT must change the state).
 * TIMEOUT applies only while setup is still running: a timer that fires
 * just after setup finished must not turn an idle instance back to boot.
 */
void
monitor_setup_done(struct monitor *m, uint64_t now_ns,
    enum status_setup status)
{
	monitor_advance(m, now_ns);
	if (status != STATUS_SETUP_READY && status != STATUS_SETUP_FAILED &&
	    status != STATUS_SETUP_TIMEOUT)
		return;
	if (status == STATUS_SETUP_TIMEOUT && m->setup != STATUS_SETUP_RUNNING)
		return;
	m->setup = status;
	m->setup_completed_ns = monitor_clamp(m, now_ns);
}

/*
 * The final interval is always cut, even when it is empty (finish exactly
 * on a boundary): the receiver counts on one report marked final.
 */
void
monitor_finish(struct monitor *m, uint64_t now_ns)
{
	if (m->finished)
		return;
	monitor_advance(m, now_ns);
	monitor_close(m, m->last_ns, 1);
	m->finished = 1;
}

enum status_state
monitor_state(const struct monitor *m)
{
	return monitor_state_of(m->level, m->setup);
}

uint64_t
monitor_next_cut(const struct monitor *m)
{
	return m->next_cut_ns;
}

/*
 * Peek does not cut: if now is past the next boundary (the caller has not
 * advanced yet), the open interval is shown as if it were longer. After
 * monitor_finish() it shows the final interval as it was cut.
 */
void
monitor_peek(const struct monitor *m, uint64_t now_ns,
    struct monitor_interval *out)
{
	enum status_state state;

	*out = m->cur;
	if (m->finished)
		return;
	now_ns = monitor_clamp(m, now_ns);
	state = monitor_state(m);
	monitor_interval_add(out, m->level, state, now_ns - m->last_ns);
	out->end_ns = now_ns;
	out->end_state = state;
	out->final = 0;
}

void
monitor_totals(const struct monitor *m, uint64_t now_ns,
    double state_s[STATUS_STATE_COUNT], double *level_s)
{
	uint64_t dt;
	int i;

	dt = now_ns > m->last_ns && !m->finished ? now_ns - m->last_ns : 0;
	for (i = 0; i < STATUS_STATE_COUNT; i++)
		state_s[i] = (double)m->total_state_ns[i] / 1e9;
	state_s[monitor_state(m)] += (double)dt / 1e9;
	/* cur.level_ns is the open interval's part, not yet in the total. */
	*level_s = m->total_level_s;
	if (!m->finished)
		*level_s += ((double)m->cur.level_ns +
		    (double)m->level * (double)dt) / 1e9;
}
