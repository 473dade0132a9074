/*
 * test_monitor -- the state machine and its time accounting.
 *
 * The clock is just numbers. Hand-written cases pin the rules one by one;
 * a randomized test then replays thousands of event sequences and checks
 * every cut interval against a ground truth computed independently: the
 * events are kept as a step function (time, level, setup outcome) and each
 * interval's figures are recomputed by walking that function across the
 * interval, with no notion of cuts or incremental integration.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "test_rng.h"
#include "monitor.h"

#define IV_MAX 4096

struct cuts {
	struct monitor_interval iv[IV_MAX];
	size_t n;
};

static struct cuts cuts;

static void
on_cut(void *arg, const struct monitor_interval *iv)
{
	struct cuts *c = arg;

	if (c->n == IV_MAX)
		fail_msg("more than %d intervals cut", IV_MAX);
	c->iv[c->n++] = *iv;
}

static void
start(struct monitor *m, uint64_t now, uint64_t interval)
{
	memset(&cuts, 0, sizeof cuts);
	monitor_init(m, now, interval, on_cut, &cuts);
}

#define EQ(got, want, what) do {					\
	unsigned long long g_ = (got), w_ = (want);			\
	if (g_ != w_)							\
		fail_msg("%s: expected %llu, got %llu", (what), w_, g_);\
} while (0)

static void
check_iv(const struct monitor_interval *iv, uint64_t seq, uint64_t s,
    uint64_t e, uint64_t boot, uint64_t idle, uint64_t active,
    uint64_t level_ns, uint32_t max_level, int final)
{
	EQ(iv->sequence, seq, "sequence");
	EQ(iv->start_ns, s, "start_ns");
	EQ(iv->end_ns, e, "end_ns");
	EQ(iv->state_ns[STATUS_STATE_BOOT], boot, "boot ns");
	EQ(iv->state_ns[STATUS_STATE_IDLE], idle, "idle ns");
	EQ(iv->state_ns[STATUS_STATE_ACTIVE], active, "active ns");
	EQ(iv->level_ns, level_ns, "level_ns");
	EQ(iv->max_level, max_level, "max_level");
	EQ(iv->final, final, "final");
}

static void
test_boot_only(void **state)
{
	struct monitor m;

	(void)state;
	start(&m, 1000, 100);
	EQ(monitor_state(&m), STATUS_STATE_BOOT, "state");
	EQ(m.setup, STATUS_SETUP_RUNNING, "setup");
	EQ(monitor_next_cut(&m), 1100, "next cut");
	monitor_advance(&m, 1250);
	EQ(cuts.n, 2, "intervals cut");
	check_iv(&cuts.iv[0], 0, 1000, 1100, 100, 0, 0, 0, 0, 0);
	check_iv(&cuts.iv[1], 1, 1100, 1200, 100, 0, 0, 0, 0, 0);
	EQ(cuts.iv[1].end_state, STATUS_STATE_BOOT, "end state");
	EQ(monitor_next_cut(&m), 1300, "next cut");
	monitor_finish(&m, 1250);
	EQ(cuts.n, 3, "intervals cut");
	check_iv(&cuts.iv[2], 2, 1200, 1250, 50, 0, 0, 0, 0, 1);
	EQ(m.total_state_ns[STATUS_STATE_BOOT], 250, "total boot");
}

static void
test_ready_at_t(void **state)
{
	struct monitor m;

	(void)state;
	start(&m, 0, 1000);
	monitor_setup_done(&m, 300, STATUS_SETUP_READY);
	EQ(monitor_state(&m), STATUS_STATE_IDLE, "state");
	EQ(m.setup_started_ns, 0, "setup started (daemon start)");
	EQ(m.setup_completed_ns, 300, "setup completed");
	monitor_finish(&m, 800);
	EQ(cuts.n, 1, "intervals cut");
	check_iv(&cuts.iv[0], 0, 0, 800, 300, 500, 0, 0, 0, 1);
	EQ(cuts.iv[0].end_state, STATUS_STATE_IDLE, "end state");
}

static void
test_prediction_in_boot(void **state)
{
	struct monitor m;

	(void)state;
	start(&m, 0, 1000);
	monitor_prediction_start(&m, 100);
	EQ(monitor_state(&m), STATUS_STATE_ACTIVE, "state after start");
	monitor_prediction_stop(&m, 250, STATUS_PREDICTION_SUCCEEDED, 1);
	EQ(monitor_state(&m), STATUS_STATE_BOOT, "state after stop");
	monitor_finish(&m, 400);
	check_iv(&cuts.iv[0], 0, 0, 400, 250, 0, 150, 150, 1, 1);
	EQ(cuts.iv[0].counts[MONITOR_COUNT_STARTED], 1, "started");
	EQ(cuts.iv[0].counts[STATUS_PREDICTION_SUCCEEDED], 1, "succeeded");
	EQ(cuts.iv[0].end_state, STATUS_STATE_BOOT, "end state");
}

static void
test_overlapping(void **state)
{
	struct monitor m;
	const struct monitor_interval *iv;
	uint64_t duration;

	(void)state;
	start(&m, 0, 1000);
	monitor_setup_done(&m, 0, STATUS_SETUP_READY);
	monitor_prediction_start(&m, 0);
	monitor_prediction_start(&m, 100);
	monitor_prediction_start(&m, 200);
	monitor_prediction_stop(&m, 300, STATUS_PREDICTION_FAILED, 1);
	monitor_prediction_stop(&m, 600, STATUS_PREDICTION_SUCCEEDED, 1);
	monitor_prediction_stop(&m, 900, STATUS_PREDICTION_CANCELED, 1);
	monitor_advance(&m, 1000);
	EQ(cuts.n, 1, "intervals cut");
	iv = &cuts.iv[0];
	/* Level 1, 2, 3, 2, 1, 0 over 100, 100, 100, 300, 300, 100 ns. */
	check_iv(iv, 0, 0, 1000, 0, 100, 900, 1500, 3, 0);
	duration = iv->end_ns - iv->start_ns;
	assert_true((double)iv->level_ns / (double)duration == 1.5);
	assert_true((double)iv->state_ns[STATUS_STATE_ACTIVE] /
	    (double)duration == 0.9);
	EQ(iv->counts[MONITOR_COUNT_STARTED], 3, "started");
	EQ(iv->counts[STATUS_PREDICTION_FAILED], 1, "failed");
	EQ(iv->counts[STATUS_PREDICTION_SUCCEEDED], 1, "succeeded");
	EQ(iv->counts[STATUS_PREDICTION_CANCELED], 1, "canceled");
	EQ(iv->counts[STATUS_PREDICTION_ABORTED], 0, "aborted");
	assert_true(m.total_level_s == 1500 / 1e9);
}

static void
test_max_level_carried(void **state)
{
	struct monitor m;

	(void)state;
	start(&m, 0, 100);
	monitor_prediction_start(&m, 50);
	monitor_prediction_start(&m, 60);
	monitor_advance(&m, 250);
	EQ(cuts.n, 2, "intervals cut");
	check_iv(&cuts.iv[0], 0, 0, 100, 50, 0, 50, 10 + 80, 2, 0);
	check_iv(&cuts.iv[1], 1, 100, 200, 0, 0, 100, 200, 2, 0);
	EQ(cuts.iv[1].counts[MONITOR_COUNT_STARTED], 0, "started in 1");
	monitor_prediction_stop(&m, 260, STATUS_PREDICTION_SUCCEEDED, 1);
	monitor_prediction_stop(&m, 270, STATUS_PREDICTION_SUCCEEDED, 1);
	monitor_advance(&m, 300);
	check_iv(&cuts.iv[2], 2, 200, 300, 30, 0, 70, 2 * 60 + 10, 2, 0);
	monitor_finish(&m, 350);
	check_iv(&cuts.iv[3], 3, 300, 350, 50, 0, 0, 0, 0, 1);
}

static void
test_stop_pending(void **state)
{
	struct monitor m;

	(void)state;
	start(&m, 0, 1000);
	monitor_prediction_start(&m, 10);
	monitor_prediction_stop(&m, 20, STATUS_PREDICTION_CANCELED, 0);
	EQ(m.level, 1, "level after stop of a pending one");
	monitor_finish(&m, 30);
	check_iv(&cuts.iv[0], 0, 0, 30, 10, 0, 20, 20, 1, 1);
	EQ(cuts.iv[0].counts[STATUS_PREDICTION_CANCELED], 1, "canceled");
	EQ(m.total_counts[STATUS_PREDICTION_CANCELED], 1, "total canceled");
}

static void
test_stop_at_level_zero(void **state)
{
	struct monitor m;

	(void)state;
	start(&m, 0, 1000);
	monitor_prediction_stop(&m, 10, STATUS_PREDICTION_ABORTED, 1);
	EQ(m.level, 0, "level never goes below zero");
	monitor_finish(&m, 20);
	EQ(cuts.iv[0].counts[STATUS_PREDICTION_ABORTED], 1, "still counted");
	EQ(cuts.iv[0].counts[MONITOR_COUNT_STARTED], 0, "started");
	EQ(cuts.iv[0].level_ns, 0, "level_ns");
}

static void
test_setup_timeout_then_ready(void **state)
{
	struct monitor m;

	(void)state;
	start(&m, 0, 1000);
	monitor_setup_done(&m, 100, STATUS_SETUP_TIMEOUT);
	EQ(m.setup, STATUS_SETUP_TIMEOUT, "setup");
	EQ(m.setup_completed_ns, 100, "completed at timeout");
	EQ(monitor_state(&m), STATUS_STATE_BOOT, "state after timeout");
	monitor_setup_done(&m, 300, STATUS_SETUP_READY);
	EQ(m.setup, STATUS_SETUP_READY, "setup");
	EQ(m.setup_completed_ns, 300, "completed when ready");
	EQ(monitor_state(&m), STATUS_STATE_IDLE, "state after late ready");
	/* A timeout that fires after setup finished changes nothing. */
	monitor_setup_done(&m, 400, STATUS_SETUP_TIMEOUT);
	EQ(m.setup, STATUS_SETUP_READY, "setup after stray timeout");
	EQ(m.setup_completed_ns, 300, "completed after stray timeout");
	monitor_finish(&m, 500);
	check_iv(&cuts.iv[0], 0, 0, 500, 300, 200, 0, 0, 0, 1);
}

static void
test_setup_failed(void **state)
{
	struct monitor m;

	(void)state;
	start(&m, 0, 1000);
	monitor_setup_done(&m, 100, STATUS_SETUP_FAILED);
	EQ(monitor_state(&m), STATUS_STATE_BOOT, "state after failed");
	monitor_setup_done(&m, 200, STATUS_SETUP_RUNNING);
	EQ(m.setup, STATUS_SETUP_FAILED, "RUNNING is not an outcome");
	monitor_finish(&m, 300);
	check_iv(&cuts.iv[0], 0, 0, 300, 300, 0, 0, 0, 0, 1);
}

static void
test_setup_start_first_wins(void **state)
{
	struct monitor m;

	(void)state;
	start(&m, 100, 1000);
	EQ(m.setup_started_ns, 100, "default: daemon start");
	monitor_setup_start(&m, 200);
	EQ(m.setup_started_ns, 200, "first setup start");
	monitor_setup_start(&m, 300);
	EQ(m.setup_started_ns, 200, "second setup start ignored");
	EQ(m.setup_completed_ns, 0, "not completed");
}

static void
test_finish_zero_length(void **state)
{
	struct monitor m;

	(void)state;
	start(&m, 0, 100);
	monitor_finish(&m, 100);
	EQ(cuts.n, 2, "intervals cut");
	check_iv(&cuts.iv[0], 0, 0, 100, 100, 0, 0, 0, 0, 0);
	check_iv(&cuts.iv[1], 1, 100, 100, 0, 0, 0, 0, 0, 1);

	start(&m, 7, 100);
	monitor_finish(&m, 7);
	EQ(cuts.n, 1, "intervals cut");
	check_iv(&cuts.iv[0], 0, 7, 7, 0, 0, 0, 0, 0, 1);
}

static void
test_finish_after_stall(void **state)
{
	struct monitor m;
	size_t i;

	(void)state;
	start(&m, 0, 100);
	monitor_prediction_start(&m, 10);
	monitor_finish(&m, 470);
	EQ(cuts.n, 5, "intervals cut");
	check_iv(&cuts.iv[0], 0, 0, 100, 10, 0, 90, 90, 1, 0);
	for (i = 1; i < 4; i++)
		check_iv(&cuts.iv[i], i, i * 100, (i + 1) * 100, 0, 0, 100,
		    100, 1, 0);
	check_iv(&cuts.iv[4], 4, 400, 470, 0, 0, 70, 70, 1, 1);
	EQ(cuts.iv[4].end_state, STATUS_STATE_ACTIVE, "end state");
}

static void
test_after_finish(void **state)
{
	struct monitor m;
	struct monitor_interval iv;

	(void)state;
	start(&m, 0, 100);
	monitor_finish(&m, 50);
	monitor_advance(&m, 1000);
	monitor_prediction_start(&m, 1000);
	monitor_finish(&m, 2000);
	EQ(cuts.n, 1, "no interval after finish");
	EQ(m.total_counts[MONITOR_COUNT_STARTED], 0, "not counted");
	EQ(m.total_state_ns[STATUS_STATE_BOOT], 50, "no time after finish");
	EQ(monitor_state(&m), STATUS_STATE_ACTIVE, "state still follows");
	monitor_peek(&m, 3000, &iv);
	check_iv(&iv, 0, 0, 50, 50, 0, 0, 0, 0, 1);
}

static void
test_event_at_boundary(void **state)
{
	struct monitor m;

	(void)state;
	start(&m, 0, 100);
	monitor_prediction_start(&m, 100);
	EQ(cuts.n, 1, "intervals cut");
	check_iv(&cuts.iv[0], 0, 0, 100, 100, 0, 0, 0, 0, 0);
	EQ(cuts.iv[0].counts[MONITOR_COUNT_STARTED], 0, "started in 0");
	EQ(cuts.iv[0].end_state, STATUS_STATE_BOOT, "end state of 0");
	monitor_prediction_stop(&m, 200, STATUS_PREDICTION_SUCCEEDED, 1);
	EQ(cuts.n, 2, "intervals cut");
	check_iv(&cuts.iv[1], 1, 100, 200, 0, 0, 100, 100, 1, 0);
	EQ(cuts.iv[1].counts[MONITOR_COUNT_STARTED], 1, "started in 1");
	EQ(cuts.iv[1].counts[STATUS_PREDICTION_SUCCEEDED], 0,
	    "succeeded in 1");
	EQ(cuts.iv[1].end_state, STATUS_STATE_ACTIVE, "end state of 1");
	monitor_finish(&m, 250);
	EQ(cuts.iv[2].counts[STATUS_PREDICTION_SUCCEEDED], 1,
	    "succeeded in 2");
	check_iv(&cuts.iv[2], 2, 200, 250, 50, 0, 0, 0, 1, 1);
}

static void
test_time_backwards(void **state)
{
	struct monitor m;

	(void)state;
	start(&m, 0, 1000);
	monitor_advance(&m, 500);
	monitor_prediction_start(&m, 400);
	monitor_setup_done(&m, 300, STATUS_SETUP_READY);
	EQ(m.setup_completed_ns, 500, "completed time clamped");
	monitor_advance(&m, 10);
	monitor_finish(&m, 450);
	EQ(cuts.n, 1, "intervals cut");
	check_iv(&cuts.iv[0], 0, 0, 500, 500, 0, 0, 0, 1, 1);
	EQ(cuts.iv[0].end_state, STATUS_STATE_ACTIVE, "end state");
}

static void
test_no_drift(void **state)
{
	struct monitor m;
	uint64_t k;

	(void)state;
	start(&m, 12345, 15000000000ULL);
	/* A timer that fires late every time: boundaries do not move. */
	for (k = 1; k <= 100; k++) {
		monitor_advance(&m, monitor_next_cut(&m) + 3000000 * k);
		EQ(cuts.n, k, "intervals cut");
		EQ(cuts.iv[k - 1].end_ns, 12345 + k * 15000000000ULL,
		    "k-th end");
		EQ(monitor_next_cut(&m), 12345 + (k + 1) * 15000000000ULL,
		    "next cut");
	}
}

static void
test_interval_zero(void **state)
{
	struct monitor m;

	(void)state;
	start(&m, 5, 0);
	EQ(monitor_next_cut(&m), UINT64_MAX, "never cut");
	monitor_advance(&m, 1000000);
	EQ(cuts.n, 0, "intervals cut");
	monitor_finish(&m, 2000000);
	EQ(cuts.n, 1, "intervals cut");
	check_iv(&cuts.iv[0], 0, 5, 2000000, 2000000 - 5, 0, 0, 0, 0, 1);
}

static void
test_peek(void **state)
{
	struct monitor m;
	struct monitor_interval iv;
	struct monitor before;

	(void)state;
	start(&m, 0, 100);
	monitor_prediction_start(&m, 120);
	monitor_prediction_start(&m, 130);
	memcpy(&before, &m, sizeof m);
	monitor_peek(&m, 150, &iv);
	assert_memory_equal(&before, &m, sizeof m);
	check_iv(&iv, 1, 100, 150, 20, 0, 30, 10 + 40, 2, 0);
	EQ(iv.counts[MONITOR_COUNT_STARTED], 2, "started");
	EQ(iv.end_state, STATUS_STATE_ACTIVE, "end state");
	/* Past the boundary without advancing: the interval stretches. */
	monitor_peek(&m, 250, &iv);
	check_iv(&iv, 1, 100, 250, 20, 0, 130, 10 + 240, 2, 0);
	EQ(cuts.n, 1, "peek does not cut");
	/* Backwards: clamped to the last event. */
	monitor_peek(&m, 0, &iv);
	check_iv(&iv, 1, 100, 130, 20, 0, 10, 10, 2, 0);
}

/*
 * Randomized comparison against an independent ground truth.
 */

struct ev {
	uint64_t t;		/* effective (clamped) time */
	uint32_t level;		/* after the event */
	enum status_setup setup;	/* after the event */
	int count;		/* counts[] index, or -1 */
};

#define EV_MAX 256

struct truth {
	uint64_t state_ns[STATUS_STATE_COUNT];
	uint64_t level_ns;
	uint32_t max_level;
	uint64_t counts[MONITOR_COUNTS];
	enum status_state end_state;
};

static uint64_t rng_state;

static enum status_state
truth_state(uint32_t level, enum status_setup setup)
{
	if (level > 0)
		return STATUS_STATE_ACTIVE;
	return setup == STATUS_SETUP_READY ? STATUS_STATE_IDLE :
	    STATUS_STATE_BOOT;
}

/*
 * Walk the step function over [a, b). Events at b belong to the window only
 * when closed is set (the final interval, or a peek): they happened before
 * the cut at b. Events at times >= b never matter otherwise.
 */
static void
truth_window(const struct ev *ev, size_t n, uint64_t a, uint64_t b,
    int closed, struct truth *out)
{
	size_t lo, hi, mid, j;
	uint32_t level;
	enum status_setup setup;
	uint64_t t;

	memset(out, 0, sizeof *out);
	lo = 0;
	hi = n;
	while (lo < hi) {		/* first event with t >= a */
		mid = (lo + hi) / 2;
		if (ev[mid].t < a)
			lo = mid + 1;
		else
			hi = mid;
	}
	level = lo > 0 ? ev[lo - 1].level : 0;
	setup = lo > 0 ? ev[lo - 1].setup : STATUS_SETUP_RUNNING;
	out->max_level = level;
	t = a;
	for (j = lo; j < n && (ev[j].t < b || (closed && ev[j].t == b)); j++) {
		out->state_ns[truth_state(level, setup)] += ev[j].t - t;
		out->level_ns += (uint64_t)level * (ev[j].t - t);
		t = ev[j].t;
		level = ev[j].level;
		setup = ev[j].setup;
		if (level > out->max_level)
			out->max_level = level;
		if (ev[j].count >= 0)
			out->counts[ev[j].count]++;
	}
	out->state_ns[truth_state(level, setup)] += b - t;
	out->level_ns += (uint64_t)level * (b - t);
	out->end_state = truth_state(level, setup);
}

struct ctx {
	unsigned iter;
	const char *where;
	size_t idx;
};

#define CEQ(c, got, want, what) do {					\
	unsigned long long g_ = (got), w_ = (want);			\
	if (g_ != w_)							\
		fail_msg("iteration %u, %s %zu: %s: expected %llu, got %llu",\
		    (c)->iter, (c)->where, (c)->idx, (what), w_, g_);	\
} while (0)

static void
compare(const struct ctx *c, const struct monitor_interval *iv,
    const struct truth *t)
{
	uint64_t duration;
	int s;

	for (s = 0; s < STATUS_STATE_COUNT; s++)
		CEQ(c, iv->state_ns[s], t->state_ns[s],
		    status_state_name((enum status_state)s));
	CEQ(c, iv->level_ns, t->level_ns, "level_ns");
	CEQ(c, iv->max_level, t->max_level, "max_level");
	for (s = 0; s < MONITOR_COUNTS; s++)
		CEQ(c, iv->counts[s], t->counts[s], "count");
	CEQ(c, iv->end_state, t->end_state, "end_state");
	duration = iv->end_ns - iv->start_ns;
	CEQ(c, iv->state_ns[0] + iv->state_ns[1] + iv->state_ns[2], duration,
	    "sum of states vs duration");
	/*
	 * Utilization is active / duration and mean concurrency is
	 * level_ns / duration: their numerators were compared above, so
	 * comparing the denominators (the truth's is the length of its walk)
	 * makes both ratios exactly equal, as integers, not floats.
	 */
	CEQ(c, duration, t->state_ns[0] + t->state_ns[1] + t->state_ns[2],
	    "duration vs ground truth");
}

struct model {
	struct monitor m;
	struct ev ev[EV_MAX];
	size_t nev;
	uint64_t hi;		/* latest time handed out */
	uint64_t last;		/* the monitor's last_ns, as the model sees it */
	uint64_t setup_started;
	int setup_start_seen;
	uint32_t level;
	enum status_setup setup;
	uint64_t origin, interval;
};

static void
model_event(struct model *md, uint64_t t, int count)
{
	struct ev *e = &md->ev[md->nev++];

	e->t = t;
	e->level = md->level;
	e->setup = md->setup;
	e->count = count;
}

static uint64_t
pick_interval(void)
{
	switch (test_rng_below(&rng_state, 6)) {
	case 0:
		return 1;
	case 1:
		return 1 + test_rng_below(&rng_state, 10);
	case 2:
		return 1 + test_rng_below(&rng_state, 1000);
	case 3:
		return 1000000 + test_rng_below(&rng_state, 1000000000);
	case 4:
		return 15000000000ULL;
	default:
		return 2 + test_rng_below(&rng_state, 100);
	}
}

/* A step forward: zero, tiny, within, exactly one, or across several. */
static uint64_t
pick_gap(uint64_t interval)
{
	switch (test_rng_below(&rng_state, 8)) {
	case 0:
		return 0;
	case 1:
		return 1;
	case 2:
		return interval;
	case 3:
		return interval * (1 + test_rng_below(&rng_state, 4)) + test_rng_below(&rng_state, interval);
	case 4:
		return interval - 1;
	default:
		return test_rng_below(&rng_state, interval / 2 + 1);
	}
}

/* An event or advance at t: the monitor clamps t to its last_ns. */
static uint64_t
model_advance(struct model *md, uint64_t t)
{
	if (t > md->last)
		md->last = t;
	return md->last;
}

static void
model_peek(struct model *md, const struct ctx *c0, uint64_t t)
{
	struct monitor_interval iv;
	struct truth tr;
	struct ctx c = *c0;
	uint64_t a, now;

	if (t >= monitor_next_cut(&md->m) || test_rng_below(&rng_state, 2)) {
		monitor_advance(&md->m, t);
		model_advance(md, t);
	}
	monitor_peek(&md->m, t, &iv);
	now = t > md->last ? t : md->last;
	a = md->origin + (now - md->origin) / md->interval * md->interval;
	c.where = "peek after event";
	c.idx = md->nev;
	CEQ(&c, iv.start_ns, a, "peek start");
	CEQ(&c, iv.end_ns, now, "peek end");
	CEQ(&c, iv.final, 0, "peek final");
	truth_window(md->ev, md->nev, a, now, 1, &tr);
	compare(&c, &iv, &tr);
}

static void
model_stop(struct model *md, uint64_t t, int running)
{
	int status;

	status = (int)test_rng_below(&rng_state, STATUS_PREDICTION_COUNT);
	monitor_prediction_stop(&md->m, t, (enum status_prediction)status,
	    running);
	if (running && md->level > 0)
		md->level--;
	model_event(md, model_advance(md, t), status);
}

static void
model_setup_done(struct model *md, uint64_t t)
{
	int status;

	status = 1 + (int)test_rng_below(&rng_state, 3);		/* READY, FAILED, TIMEOUT */
	monitor_setup_done(&md->m, t, (enum status_setup)status);
	if (status != STATUS_SETUP_TIMEOUT ||
	    md->setup == STATUS_SETUP_RUNNING)
		md->setup = (enum status_setup)status;
	model_event(md, model_advance(md, t), -1);
}

static void
model_setup_start(struct model *md, uint64_t t)
{
	monitor_setup_start(&md->m, t);
	t = model_advance(md, t);
	if (md->setup_start_seen)
		return;
	md->setup_start_seen = 1;
	md->setup_started = t;
}

static void
model_step(struct model *md, const struct ctx *c)
{
	uint64_t t, r;

	md->hi += pick_gap(md->interval);
	t = md->hi;
	if (test_rng_below(&rng_state, 30) == 0)		/* now going backwards */
		t -= test_rng_below(&rng_state, t + 1);
	r = test_rng_below(&rng_state, 100);
	if (r < 30) {
		monitor_prediction_start(&md->m, t);
		md->level++;
		model_event(md, model_advance(md, t), MONITOR_COUNT_STARTED);
	} else if (r < 58) {
		model_stop(md, t, 1);
	} else if (r < 64) {
		model_stop(md, t, 0);
	} else if (r < 70) {
		model_setup_done(md, t);
	} else if (r < 72) {
		model_setup_start(md, t);
	} else if (r < 88) {
		monitor_advance(&md->m, t);
		model_advance(md, t);
	} else {
		model_peek(md, c, t);
	}
}

static void
check_cuts(struct model *md, struct ctx *c, uint64_t end)
{
	struct truth tr;
	uint64_t totals[STATUS_STATE_COUNT] = { 0 };
	uint64_t counts[MONITOR_COUNTS] = { 0 };
	double level_s = 0;
	size_t k, nfull;
	int s;

	nfull = (end - md->origin) / md->interval;
	c->where = "interval";
	c->idx = 0;
	CEQ(c, cuts.n, nfull + 1, "number of intervals");
	for (k = 0; k < cuts.n; k++) {
		const struct monitor_interval *iv = &cuts.iv[k];
		int final = k == nfull;

		c->idx = k;
		CEQ(c, iv->sequence, k, "sequence");
		CEQ(c, iv->start_ns, k == 0 ? md->origin : cuts.iv[k - 1].end_ns,
		    "start (contiguous)");
		CEQ(c, iv->end_ns, final ? end :
		    md->origin + (k + 1) * md->interval, "end");
		CEQ(c, iv->final, final, "final");
		truth_window(md->ev, md->nev, iv->start_ns, iv->end_ns, final,
		    &tr);
		compare(c, iv, &tr);
		for (s = 0; s < STATUS_STATE_COUNT; s++)
			totals[s] += iv->state_ns[s];
		for (s = 0; s < MONITOR_COUNTS; s++)
			counts[s] += iv->counts[s];
		level_s += (double)iv->level_ns / 1e9;
	}
	c->where = "lifetime";
	for (s = 0; s < STATUS_STATE_COUNT; s++)
		CEQ(c, md->m.total_state_ns[s], totals[s], "total state");
	for (s = 0; s < MONITOR_COUNTS; s++)
		CEQ(c, md->m.total_counts[s], counts[s], "total count");
	if (md->m.total_level_s != level_s)
		fail_msg("iteration %u: total_level_s %.17g != sum %.17g",
		    c->iter, md->m.total_level_s, level_s);
	CEQ(c, md->m.level, md->level, "level");
	CEQ(c, md->m.setup, md->setup, "setup");
	CEQ(c, md->m.setup_started_ns, md->setup_start_seen ?
	    md->setup_started : md->origin, "setup started");
}

static void
test_random(void **state)
{
	static struct model md;
	struct ctx c;
	uint64_t end, nsteps, i;
	unsigned iter;

	(void)state;
	rng_state = 0x5eed2024;
	for (iter = 0; iter < 10000; iter++) {
		memset(&md, 0, sizeof md);
		c.iter = iter;
		c.where = "step";
		c.idx = 0;
		md.origin = test_rng_below(&rng_state, 4) == 0 ? 0 : test_rng_below(&rng_state, 1ULL << 40);
		md.interval = pick_interval();
		md.hi = md.origin;
		md.last = md.origin;
		md.setup = STATUS_SETUP_RUNNING;
		memset(&cuts, 0, sizeof cuts);
		monitor_init(&md.m, md.origin, md.interval, on_cut, &cuts);
		nsteps = 1 + test_rng_below(&rng_state, EV_MAX - 1);
		for (i = 0; i < nsteps; i++)
			model_step(&md, &c);
		end = md.hi + pick_gap(md.interval);
		if (test_rng_below(&rng_state, 4) == 0)	/* finish exactly on a boundary */
			end = md.origin + ((end - md.origin) / md.interval + 1) *
			    md.interval;
		monitor_finish(&md.m, end);
		check_cuts(&md, &c, end);
	}
}

/*
 * monitor_totals: exact lifetime totals at any instant, across cut and
 * uncut intervals, without moving the monitor; frozen after finish.
 */
static void
test_totals(void **state)
{
	struct monitor m;
	double st[STATUS_STATE_COUNT], level;
	const uint64_t S = 1000000000ull;

	start(&m, 100, 10 * S);
	monitor_setup_done(&m, 100 + 2 * S, STATUS_SETUP_READY);
	monitor_prediction_start(&m, 100 + 5 * S);
	monitor_prediction_start(&m, 100 + 6 * S);
	/* The 10 s cut has not been taken yet: totals still reach now. */
	monitor_totals(&m, 100 + 13 * S, st, &level);
	assert_true(st[STATUS_STATE_BOOT] == 2.0);
	assert_true(st[STATUS_STATE_IDLE] == 3.0);
	assert_true(st[STATUS_STATE_ACTIVE] == 8.0);
	assert_true(level == 1.0 + 2 * 7.0);
	assert_int_equal(m.last_ns, 100 + 6 * S);	/* unchanged */
	monitor_advance(&m, 100 + 12 * S);
	assert_int_equal(cuts.n, 1);
	monitor_prediction_stop(&m, 100 + 13 * S, STATUS_PREDICTION_SUCCEEDED,
	    1);
	monitor_totals(&m, 100 + 15 * S, st, &level);
	assert_true(st[STATUS_STATE_ACTIVE] == 10.0);
	assert_true(level == 1.0 + 2 * 7.0 + 2.0);
	monitor_finish(&m, 100 + 16 * S);
	monitor_totals(&m, 100 + 99 * S, st, &level);
	assert_true(st[STATUS_STATE_BOOT] + st[STATUS_STATE_IDLE] +
	    st[STATUS_STATE_ACTIVE] == 16.0);
	assert_true(level == 1.0 + 2 * 7.0 + 3.0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_boot_only),
		cmocka_unit_test(test_ready_at_t),
		cmocka_unit_test(test_prediction_in_boot),
		cmocka_unit_test(test_overlapping),
		cmocka_unit_test(test_max_level_carried),
		cmocka_unit_test(test_stop_pending),
		cmocka_unit_test(test_stop_at_level_zero),
		cmocka_unit_test(test_setup_timeout_then_ready),
		cmocka_unit_test(test_setup_failed),
		cmocka_unit_test(test_setup_start_first_wins),
		cmocka_unit_test(test_finish_zero_length),
		cmocka_unit_test(test_finish_after_stall),
		cmocka_unit_test(test_after_finish),
		cmocka_unit_test(test_event_at_boundary),
		cmocka_unit_test(test_time_backwards),
		cmocka_unit_test(test_no_drift),
		cmocka_unit_test(test_interval_zero),
		cmocka_unit_test(test_peek),
		cmocka_unit_test(test_random),
		cmocka_unit_test(test_totals),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
