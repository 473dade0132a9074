/*
 * simulate -- a fake model server, so the daemon can be watched at work
 * without a real one.
 *
 * It runs setup (a start, a few log lines, `setup done ready`), then
 * predictions arriving as a Poisson process at --rate per second, each
 * running for an exponentially distributed time (--mean-duration), at
 * most --concurrency at once; arrivals beyond that wait with `enqueue`.
 * About --failure-rate of them end `failed`. After --duration no new
 * prediction arrives; those in flight finish, then it exits. Replies are
 * in ack mode and any `err` is printed, so a wrong daemon shows.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "cli_conn.h"
#include "config.h"
#include "xmalloc.h"

struct sim_options {
	double rate;
	double duration;	/* seconds; 0 = until interrupted */
	double mean;		/* seconds */
	double failure;
	double setup_time;	/* seconds */
	long concurrency;
	uint64_t seed;
};

struct sim_running {
	unsigned id;
	uint64_t end_ns;
};

struct sim {
	struct sim_options o;
	struct cli_conn conn;
	uint64_t rng;
	struct sim_running *running;
	size_t nrunning;
	unsigned *queue;	/* ids waiting, FIFO */
	size_t qhead, qlen, qcap;
	unsigned next_id;
	uint64_t sent;		/* lines that expect a reply */
	uint64_t replies;
	uint64_t errors;
	uint64_t counts[3];	/* started, succeeded, failed */
};

static uint64_t
sim_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void
sim_sleep_until(uint64_t t)
{
	struct timespec ts;

	ts.tv_sec = (time_t)(t / 1000000000ull);
	ts.tv_nsec = (long)(t % 1000000000ull);
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) ==
	    EINTR)
		;
}

static double
sim_uniform(struct sim *s)
{
	/* xorshift64*: fast, seedable, good enough for a simulation. */
	s->rng ^= s->rng >> 12;
	s->rng ^= s->rng << 25;
	s->rng ^= s->rng >> 27;
	return (double)((s->rng * 2685821657736338717ull) >> 11) / 9007199254740992.0;
}

static uint64_t
sim_exp_ns(struct sim *s, double mean_s)
{
	double u = sim_uniform(s);

	if (u < 1e-12)
		u = 1e-12;
	return (uint64_t)(-log(u) * mean_s * 1e9);
}

static void
sim_drain_replies(struct sim *s, int timeout_ms)
{
	char line[4096];

	while (s->replies < s->sent &&
	    cli_conn_read_line(&s->conn, line, sizeof line, timeout_ms) == 1) {
		s->replies++;
		if (strncmp(line, "err ", 4) == 0) {
			s->errors++;
			fprintf(stderr, "simulate: daemon replied: %s\n", line);
		}
	}
}

static int
sim_send(struct sim *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
sim_send(struct sim *s, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof line - 1, fmt, ap);
	va_end(ap);
	line[n++] = '\n';
	if (cli_conn_write(&s->conn, line, (size_t)n) != 0) {
		fprintf(stderr, "simulate: the daemon closed the connection\n");
		return -1;
	}
	s->sent++;
	sim_drain_replies(s, 0);
	return 0;
}

static int
sim_setup(struct sim *s)
{
	static const char *const lines[] = {
		"simulated setup: fetching weights",
		"simulated setup: loading model into memory",
		"simulated setup: warming up",
	};
	uint64_t step = (uint64_t)(s->o.setup_time * 1e9 / 3);
	size_t i;

	if (sim_send(s, "setup start") != 0)
		return -1;
	for (i = 0; i < 3; i++) {
		if (sim_send(s, "setup log %s", lines[i]) != 0)
			return -1;
		sim_sleep_until(sim_now() + step);
	}
	return sim_send(s, "setup done ready cog_version=simulated");
}

static int
sim_start(struct sim *s, unsigned id, uint64_t now)
{
	s->running[s->nrunning].id = id;
	s->running[s->nrunning].end_ns = now + sim_exp_ns(s, s->o.mean);
	s->nrunning++;
	s->counts[0]++;
	return sim_send(s, "start sim-%06u model=demo", id);
}

static int
sim_arrive(struct sim *s, uint64_t now)
{
	unsigned id = s->next_id++;

	if (s->nrunning < (size_t)s->o.concurrency)
		return sim_start(s, id, now);
	if (s->qlen == s->qcap) {
		s->qcap = s->qcap ? s->qcap * 2 : 64;
		s->queue = xrealloc(s->queue, s->qcap * sizeof(*s->queue));
		/* Unwrap the ring into the bigger array. */
		if (s->qhead > 0) {
			memmove(s->queue + s->qlen, s->queue,
			    s->qhead * sizeof(*s->queue));
			memmove(s->queue, s->queue + s->qhead,
			    s->qlen * sizeof(*s->queue));
			s->qhead = 0;
		}
	}
	s->queue[(s->qhead + s->qlen) % s->qcap] = id;
	s->qlen++;
	return sim_send(s, "enqueue sim-%06u model=demo", id);
}

static int
sim_finish(struct sim *s, size_t i, uint64_t now)
{
	unsigned id = s->running[i].id, next;
	int r;

	s->running[i] = s->running[--s->nrunning];
	if (sim_uniform(s) < s->o.failure) {
		s->counts[2]++;
		r = sim_send(s, "stop sim-%06u failed error_code=E1234", id);
	} else {
		s->counts[1]++;
		r = sim_send(s, "stop sim-%06u succeeded output_tokens=%u", id,
		    (unsigned)(sim_uniform(s) * 500));
	}
	if (r != 0 || s->qlen == 0)
		return r;
	next = s->queue[s->qhead];
	s->qhead = (s->qhead + 1) % s->qcap;
	s->qlen--;
	return sim_start(s, next, now);
}

static int
sim_run(struct sim *s)
{
	uint64_t now, end, arrival, next;
	size_t i, first;

	now = sim_now();
	end = s->o.duration > 0 ? now + (uint64_t)(s->o.duration * 1e9) :
	    UINT64_MAX;
	arrival = now + sim_exp_ns(s, 1.0 / s->o.rate);
	while (arrival < end || s->nrunning > 0) {
		next = arrival < end ? arrival : UINT64_MAX;
		first = SIZE_MAX;
		for (i = 0; i < s->nrunning; i++) {
			if (s->running[i].end_ns < next) {
				next = s->running[i].end_ns;
				first = i;
			}
		}
		sim_sleep_until(next);
		now = sim_now();
		if (first != SIZE_MAX) {
			if (sim_finish(s, first, now) != 0)
				return -1;
		} else {
			arrival = now + sim_exp_ns(s, 1.0 / s->o.rate);
			if (sim_arrive(s, now) != 0)
				return -1;
		}
	}
	return 0;
}

static int
sim_seconds(const char *s, double *out)
{
	int64_t ns;
	char *end;

	*out = strtod(s, &end);
	if (end != s && *end == '\0' && *out >= 0)
		return 0;
	if (config_duration_parse(s, &ns) != 0)
		return -1;
	*out = (double)ns / 1e9;
	return 0;
}

static int
sim_options_parse(struct sim_options *o, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "rate", required_argument, NULL, 'r' },
		{ "duration", required_argument, NULL, 'd' },
		{ "concurrency", required_argument, NULL, 'c' },
		{ "mean-duration", required_argument, NULL, 'm' },
		{ "failure-rate", required_argument, NULL, 'f' },
		{ "setup-time", required_argument, NULL, 't' },
		{ "seed", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 }
	};
	int ch, bad = 0;

	o->rate = 4;
	o->duration = 60;
	o->mean = 0.5;
	o->failure = 0.05;
	o->setup_time = 2;
	o->concurrency = 2;
	o->seed = (uint64_t)time(NULL) ^ sim_now();
	optind = 1;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'r': o->rate = strtod(optarg, NULL); break;
		case 'd': bad |= sim_seconds(optarg, &o->duration); break;
		case 'c': o->concurrency = strtol(optarg, NULL, 10); break;
		case 'm': bad |= sim_seconds(optarg, &o->mean); break;
		case 'f': o->failure = strtod(optarg, NULL); break;
		case 't': bad |= sim_seconds(optarg, &o->setup_time); break;
		case 's': o->seed = strtoull(optarg, NULL, 10); break;
		default: bad = 1;
		}
	}
	if (bad || optind != argc || o->rate <= 0 || o->concurrency < 1 ||
	    o->failure < 0 || o->failure > 1) {
		fprintf(stderr, "usage: podpulse-cli simulate [--rate R>0] "
		    "[--duration D] [--concurrency C>=1] [--mean-duration S] "
		    "[--failure-rate 0..1] [--setup-time S] [--seed N]\n");
		return -1;
	}
	return 0;
}

int
cli_simulate(const char *socket_path, int argc, char **argv)
{
	struct sim s;
	int r;

	memset(&s, 0, sizeof s);
	if (sim_options_parse(&s.o, argc, argv) != 0)
		return 2;
	s.rng = s.o.seed | 1;
	s.running = xcalloc((size_t)s.o.concurrency, sizeof(*s.running));
	if (cli_conn_open(&s.conn, socket_path, 5000) != 0) {
		fprintf(stderr, "simulate: cannot connect to %s: %s\n",
		    socket_path, strerror(errno));
		return 1;
	}
	r = cli_conn_write(&s.conn, "hello 1 ack\n", 12);
	fprintf(stderr, "simulate: %s: setup, then %.3g predictions/s for "
	    "%.3gs, mean %.3gs each, at most %ld at once\n", socket_path,
	    s.o.rate, s.o.duration, s.o.mean, s.o.concurrency);
	if (r == 0)
		r = sim_setup(&s);
	if (r == 0)
		r = sim_run(&s);
	sim_drain_replies(&s, 5000);
	fprintf(stderr, "simulate: done: %llu started, %llu succeeded, "
	    "%llu failed, %llu error replies\n",
	    (unsigned long long)s.counts[0], (unsigned long long)s.counts[1],
	    (unsigned long long)s.counts[2], (unsigned long long)s.errors);
	cli_conn_close(&s.conn);
	free(s.running);
	free(s.queue);
	return r != 0 || s.errors > 0;
}
