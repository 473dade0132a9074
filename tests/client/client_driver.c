/*
 * client_driver -- drives the C client library for the end-to-end test
 * tests/integration/test_c_client.py.
 *
 * It reads one command a line on stdin and answers one JSON line on
 * stdout, so that the Python test can start, stop and restart the real
 * daemon between calls. Every signal call is timed: the answers carry the
 * longest call in milliseconds, which the test bounds (a bound on
 * blocking, not a benchmark).
 *
 *	new PATH BACKOFF_MAX_MS BUFFER_SIZE
 *	wait_connected TIMEOUT_MS
 *	setup
 *	pairs PREFIX N			N start/stop pairs, ids PREFIX-i
 *	threads PREFIX T N		T threads doing N pairs each
 *	start ID | stop ID STATUS	one signal
 *	invalid				bad arguments return -EINVAL
 *	wait_sent N TIMEOUT_MS
 *	stats
 *	free
 */
#include "podpulse/client.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct driver_job {
	pp_client *c;
	double max_ms;
	int n;
	int errors;
	char prefix[64];
};

static pp_client *client;

static double
driver_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void
driver_sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static void
driver_time(struct driver_job *j, double t0, int r)
{
	double ms = driver_now_ms() - t0;

	if (ms > j->max_ms)
		j->max_ms = ms;
	if (r != 0)
		j->errors++;
}

static void *
driver_pairs(void *arg)
{
	static const char *const start_attrs[] = { "model=c", "tenant=t1",
		NULL };
	static const char *const stop_attrs[] = { "output_tokens=3", NULL };
	struct driver_job *j = arg;
	char id[128];
	double t0;
	int i;

	for (i = 0; i < j->n; i++) {
		snprintf(id, sizeof id, "%s-%d", j->prefix, i);
		t0 = driver_now_ms();
		driver_time(j, t0, pp_start(j->c, id, start_attrs));
		t0 = driver_now_ms();
		driver_time(j, t0, pp_stop(j->c, id, "succeeded", stop_attrs));
	}
	return NULL;
}

static void
driver_stats(const char *extra)
{
	struct pp_client_stats st;

	pp_client_stats(client, &st);
	printf("{\"sent\":%" PRIu64 ",\"dropped\":%" PRIu64
	       ",\"reconnects\":%" PRIu64 ",\"connected\":%d%s}\n",
	    st.sent, st.dropped, st.reconnects, st.connected, extra);
	fflush(stdout);
}

static void
driver_job_report(const struct driver_job *j)
{
	char extra[128];

	snprintf(extra, sizeof extra, ",\"max_call_ms\":%.3f,\"errors\":%d",
	    j->max_ms, j->errors);
	driver_stats(extra);
}

static void
driver_threads(const char *prefix, int t, int n)
{
	struct driver_job jobs[64], all = { .n = 0 };
	pthread_t th[64];
	int i;

	if (t > 64)
		t = 64;
	for (i = 0; i < t; i++) {
		memset(&jobs[i], 0, sizeof jobs[i]);
		jobs[i].c = client;
		jobs[i].n = n;
		snprintf(jobs[i].prefix, sizeof jobs[i].prefix, "%s-%d", prefix,
		    i);
		pthread_create(&th[i], NULL, driver_pairs, &jobs[i]);
	}
	for (i = 0; i < t; i++) {
		pthread_join(th[i], NULL);
		if (jobs[i].max_ms > all.max_ms)
			all.max_ms = jobs[i].max_ms;
		all.errors += jobs[i].errors;
	}
	driver_job_report(&all);
}

static void
driver_setup(void)
{
	struct driver_job j = { .n = 0 };
	double t0;

	t0 = driver_now_ms();
	driver_time(&j, t0, pp_setup_start(client));
	t0 = driver_now_ms();
	driver_time(&j, t0, pp_setup_log(client, "loading weights\n  done"));
	t0 = driver_now_ms();
	driver_time(&j, t0, pp_setup_done(client, "ready"));
	driver_job_report(&j);
}

/* Each of these is a programmer error: -EINVAL, counted as dropped. */
static void
driver_invalid(void)
{
	static const char *const bad_key[] = { "Model=x", NULL };
	static const char *const no_eq[] = { "model", NULL };
	static const char *const space[] = { "model=a b", NULL };
	static const char *const many[] = { "a=1", "b=1", "c=1", "d=1", "e=1",
		"f=1", "g=1", "h=1", "i=1", "j=1", "k=1", "l=1", "m=1", "n=1",
		"o=1", "p=1", "q=1", NULL };
	char long_id[200];
	int ok = 0, total = 0;

	memset(long_id, 'x', 129);
	long_id[129] = '\0';
	total++, ok += pp_start(client, NULL, NULL) == -EINVAL;
	total++, ok += pp_start(client, "", NULL) == -EINVAL;
	total++, ok += pp_start(client, "has space", NULL) == -EINVAL;
	total++, ok += pp_start(client, long_id, NULL) == -EINVAL;
	total++, ok += pp_start(client, "p", bad_key) == -EINVAL;
	total++, ok += pp_start(client, "p", no_eq) == -EINVAL;
	total++, ok += pp_enqueue(client, "p", space) == -EINVAL;
	total++, ok += pp_start(client, "p", many) == -EINVAL;
	total++, ok += pp_stop(client, "p", "done", NULL) == -EINVAL;
	total++, ok += pp_setup_done(client, "maybe") == -EINVAL;
	/* Not counted: there is no client to count them on. */
	ok += pp_start(NULL, "p", NULL) == -EINVAL;
	ok += pp_setup_log(client, NULL) == -EINVAL;
	long_id[128] = '\0'; /* exactly PODPULSE_ID_MAX: valid */
	ok += pp_enqueue(client, long_id, NULL) == 0;
	ok += pp_stop(client, long_id, "canceled", NULL) == 0;
	printf("{\"invalid_ok\":%d,\"expected\":%d}\n", ok, total + 4);
	fflush(stdout);
}

static void
driver_wait(int sent, int timeout_ms, int connected)
{
	struct pp_client_stats st;
	double deadline = driver_now_ms() + timeout_ms;

	for (;;) {
		pp_client_stats(client, &st);
		if (connected ? st.connected : st.sent >= (uint64_t)sent)
			break;
		if (driver_now_ms() > deadline)
			break;
		driver_sleep_ms(5);
	}
	driver_stats("");
}

static void
driver_new(const char *path, unsigned int backoff_max, size_t size)
{
	struct pp_client_options o = { .backoff_min_ms = 20,
		.backoff_max_ms = backoff_max,
		.buffer_size = size };

	client = pp_client_new(path, &o);
	if (client == NULL) {
		printf("{\"error\":%d}\n", errno);
		fflush(stdout);
		exit(1);
	}
	driver_stats("");
}

static void
driver_free(void)
{
	double t0 = driver_now_ms();

	pp_client_free(client);
	client = NULL;
	printf("{\"free_ms\":%.3f}\n", driver_now_ms() - t0);
	fflush(stdout);
}

static void
driver_one(int r)
{
	printf("{\"return\":%d}\n", r);
	fflush(stdout);
}

static void
driver_command(char *line)
{
	char a[512], b[128];
	int n, m;

	if (sscanf(line, "new %511s %d %d", a, &n, &m) == 3)
		driver_new(a, (unsigned int)n, (size_t)m);
	else if (sscanf(line, "wait_connected %d", &n) == 1)
		driver_wait(0, n, 1);
	else if (strcmp(line, "setup") == 0)
		driver_setup();
	else if (sscanf(line, "pairs %63s %d", b, &n) == 2)
		driver_threads(b, 1, n);
	else if (sscanf(line, "threads %63s %d %d", b, &n, &m) == 3)
		driver_threads(b, n, m);
	else if (sscanf(line, "start %127s", b) == 1)
		driver_one(pp_start(client, b, NULL));
	else if (sscanf(line, "stop %127s %63s", a, b) == 2)
		driver_one(pp_stop(client, a, b, NULL));
	else if (strcmp(line, "invalid") == 0)
		driver_invalid();
	else if (sscanf(line, "wait_sent %d %d", &n, &m) == 2)
		driver_wait(n, m, 0);
	else if (strcmp(line, "stats") == 0)
		driver_stats("");
	else if (strcmp(line, "free") == 0)
		driver_free();
	else {
		printf("{\"error\":\"unknown command\"}\n");
		fflush(stdout);
	}
}

int
main(void)
{
	char line[1024];

	while (fgets(line, sizeof line, stdin) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		driver_command(line);
	}
	if (client != NULL)
		pp_client_free(client);
	return 0;
}
