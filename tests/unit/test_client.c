/*
 * test_client -- the C client library against a fake daemon: a listening
 * Unix socket in a temporary directory that the test accepts, reads, stops
 * reading and closes at will. It checks the exact bytes on the wire, the
 * argument checks, that a peer that does not read costs drops and never a
 * blocked call or half a line, and the reconnect after a hang-up. The
 * real daemon is tests/integration/test_c_client.py's business.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "podpulse/client.h"
#include "podpulse/protocol.h"

#define CALL_MS 50.0

struct fake {
	char dir[64];
	char path[96];
	int lfd; /* listening */
	int fd;	 /* accepted */
};

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void
fake_bind(struct fake *f)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };

	snprintf(sun.sun_path, sizeof sun.sun_path, "%s", f->path);
	f->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(f->lfd >= 0);
	assert_int_equal(bind(f->lfd, (struct sockaddr *)&sun, sizeof sun), 0);
	assert_int_equal(listen(f->lfd, 8), 0);
	f->fd = -1;
}

static void
fake_listen(struct fake *f)
{
	snprintf(f->dir, sizeof f->dir, "/tmp/pp-client-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof f->path, "%s/s.sock", f->dir);
	fake_bind(f);
}

/* The daemon goes away: its connection and its socket file with it. */
static void
fake_stop(struct fake *f)
{
	close(f->fd);
	close(f->lfd);
	unlink(f->path);
	f->fd = -1;
}

static void
fake_accept(struct fake *f)
{
	struct pollfd pfd = { .fd = f->lfd, .events = POLLIN };

	assert_int_equal(poll(&pfd, 1, 5000), 1);
	f->fd = accept(f->lfd, NULL, NULL);
	assert_true(f->fd >= 0);
}

static void
fake_close(struct fake *f)
{
	if (f->fd >= 0)
		close(f->fd);
	close(f->lfd);
	unlink(f->path);
	rmdir(f->dir);
}

/* Read until want bytes came (or 5 s passed); returns what was read. */
static size_t
fake_read(struct fake *f, char *buf, size_t cap, size_t want)
{
	struct pollfd pfd = { .fd = f->fd, .events = POLLIN };
	double deadline = now_ms() + 5000;
	size_t len = 0;
	ssize_t n;

	while (len < want && now_ms() < deadline) {
		if (poll(&pfd, 1, 100) != 1)
			continue;
		n = read(f->fd, buf + len, cap - len - 1);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	return len;
}

static struct pp_client_stats
stats_of(pp_client *c)
{
	struct pp_client_stats st;

	assert_int_equal(pp_client_stats(c, &st), 0);
	return st;
}

/* Wait up to 5 s for the client to be connected (1) or not (0). */
static void
wait_connected(pp_client *c, int want)
{
	double deadline = now_ms() + 5000;
	struct timespec ts = { 0, 2 * 1000 * 1000 };

	while (stats_of(c).connected != want && now_ms() < deadline)
		nanosleep(&ts, NULL);
	assert_int_equal(stats_of(c).connected, want);
}

/* The reader may see the bytes before the I/O thread counts them. */
static void
wait_sent(pp_client *c, uint64_t want)
{
	double deadline = now_ms() + 5000;
	struct timespec ts = { 0, 2 * 1000 * 1000 };

	while (stats_of(c).sent < want && now_ms() < deadline)
		nanosleep(&ts, NULL);
	assert_int_equal(stats_of(c).sent, want);
}

static void
test_wire_format(void **state)
{
	static const char *const attrs[] = { "model=sdxl", "tenant=a.b", NULL };
	static const char *const done[] = { "output_tokens=3", "ttft_ms=12",
		NULL };
	static const char want[] =
	    "setup start\n"
	    "setup log loading\n"
	    "setup log   indented\n"
	    "setup log \n"
	    "setup done ready\n"
	    "enqueue p1\n"
	    "start p1 model=sdxl tenant=a.b\n"
	    "stop p1 succeeded output_tokens=3 ttft_ms=12\n";
	struct fake f;
	pp_client *c;
	char buf[4096];

	fake_listen(&f);
	c = pp_client_new(f.path, NULL);
	assert_non_null(c);
	fake_accept(&f);
	wait_connected(c, 1);
	assert_int_equal(pp_setup_start(c), 0);
	assert_int_equal(pp_setup_log(c, "loading\n  indented\n"), 0);
	assert_int_equal(pp_setup_log(c, ""), 0);
	assert_int_equal(pp_setup_done(c, "ready"), 0);
	assert_int_equal(pp_enqueue(c, "p1", NULL), 0);
	assert_int_equal(pp_start(c, "p1", attrs), 0);
	assert_int_equal(pp_stop(c, "p1", "succeeded", done), 0);
	fake_read(&f, buf, sizeof buf, strlen(want));
	assert_string_equal(buf, want);
	wait_sent(c, 8);
	assert_int_equal(stats_of(c).dropped, 0);
	pp_client_free(c);
	fake_close(&f);
}

static void
test_invalid_arguments(void **state)
{
	static const char *const bad[][3] = {
		{ "Model=x", NULL, NULL },
		{ "model", NULL, NULL },
		{ "=x", NULL, NULL },
		{ "model=a b", NULL, NULL },
		{ "model=a\n", NULL, NULL },
		{ "ok=1", "bad key=1", NULL },
	};
	static const char *const many[] = { "a=1", "b=1", "c=1", "d=1", "e=1",
		"f=1", "g=1", "h=1", "i=1", "j=1", "k=1", "l=1", "m=1", "n=1",
		"o=1", "p=1", "q=1", NULL };
	struct fake f;
	pp_client *c;
	char id[PODPULSE_ID_MAX + 2], buf[1024];
	size_t i;

	fake_listen(&f);
	c = pp_client_new(f.path, NULL);
	fake_accept(&f);
	wait_connected(c, 1);
	memset(id, 'x', sizeof id - 1);
	id[sizeof id - 1] = '\0';
	assert_int_equal(pp_start(c, id, NULL), -EINVAL);
	assert_int_equal(pp_start(c, NULL, NULL), -EINVAL);
	assert_int_equal(pp_start(c, "", NULL), -EINVAL);
	assert_int_equal(pp_start(c, "a b", NULL), -EINVAL);
	assert_int_equal(pp_start(c, "caf\xc3\xa9", NULL), -EINVAL);
	assert_int_equal(pp_start(c, "p", many), -EINVAL);
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(pp_start(c, "p", bad[i]), -EINVAL);
	assert_int_equal(pp_stop(c, "p", "done", NULL), -EINVAL);
	assert_int_equal(pp_stop(c, "p", NULL, NULL), -EINVAL);
	assert_int_equal(pp_setup_done(c, "maybe"), -EINVAL);
	assert_int_equal(stats_of(c).dropped, 6 + 6 + 3);
	/* Nothing to count them on, or nothing to send. */
	assert_int_equal(pp_start(NULL, "p", NULL), -EINVAL);
	assert_int_equal(pp_setup_log(c, NULL), -EINVAL);
	assert_int_equal(pp_client_stats(c, NULL), -EINVAL);
	/* The limits themselves are valid. */
	id[sizeof id - 2] = '\0';
	assert_int_equal(pp_start(c, id, many + 1), 0);
	fake_read(&f, buf, sizeof buf, 6 + strlen(id) + 16 * 4 + 1);
	assert_int_equal(strncmp(buf, "start ", 6), 0);
	assert_non_null(strstr(buf, " q=1\n"));
	wait_sent(c, 1);
	pp_client_free(c);
	fake_close(&f);
}

static void
test_bad_paths(void **state)
{
	char path[200];

	memset(path, 'p', sizeof path - 1);
	path[sizeof path - 1] = '\0';
	errno = 0;
	assert_null(pp_client_new(path, NULL));
	assert_int_equal(errno, ENAMETOOLONG);
	assert_null(pp_client_new("", NULL));
	pp_client_free(NULL);
}

/* No daemon at all: every call returns at once, drops are counted. */
static void
test_nobody_listens(void **state)
{
	struct pp_client_options o = { .backoff_max_ms = 5000 };
	pp_client *c;
	double t0, worst = 0;
	int i;

	c = pp_client_new("/nonexistent/podpulse.sock", &o);
	assert_non_null(c);
	assert_int_equal(stats_of(c).connected, 0);
	for (i = 0; i < 1000; i++) {
		t0 = now_ms();
		assert_int_equal(pp_start(c, "p", NULL), 0);
		if (now_ms() - t0 > worst)
			worst = now_ms() - t0;
	}
	assert_true(worst < CALL_MS);
	assert_int_equal(stats_of(c).dropped, 1000);
	assert_int_equal(stats_of(c).sent, 0);
	t0 = now_ms();
	pp_client_free(c);
	assert_true(now_ms() - t0 < 1000); /* not the 5 s backoff */
}

/* Each line on the wire must be one whole "start t-N" or "stop ..." line. */
static size_t
count_whole_lines(const char *buf)
{
	const char *p = buf, *nl;
	size_t n = 0;
	int k;
	char tail;

	while ((nl = strchr(p, '\n')) != NULL) {
		if (sscanf(p, "start t-%d%c", &k, &tail) != 2 &&
		    sscanf(p, "stop t-%d succeeded%c", &k, &tail) != 2)
			fail_msg("not a whole line: %.*s", (int)(nl - p), p);
		assert_int_equal(tail, '\n');
		n++;
		p = nl + 1;
	}
	assert_int_equal(*p, '\0');
	return n;
}

/* Read what the client sent within 50 ms; returns the bytes read. */
static size_t
fake_drain(struct fake *f, char *buf, size_t cap, size_t *len)
{
	struct pollfd pfd = { .fd = f->fd, .events = POLLIN };
	ssize_t n;

	if (poll(&pfd, 1, 50) != 1)
		return 0;
	n = read(f->fd, buf + *len, cap - *len - 1);
	assert_true(n > 0);
	*len += (size_t)n;
	buf[*len] = '\0';
	return (size_t)n;
}

/*
 * A peer that does not read: the kernel buffer fills, then the ring, then
 * signals are dropped. No call blocks. Once the peer reads, what arrives
 * is whole lines only, exactly as many as were counted sent, and every
 * signal is either sent or dropped.
 */
static void
test_peer_not_reading(void **state)
{
	struct pp_client_options o = { .buffer_size = 4096 };
	struct pp_client_stats st;
	struct fake f;
	pp_client *c;
	char id[32], *buf;
	double t0, worst = 0, deadline;
	uint64_t total = 0;
	size_t cap = 64 * 1024 * 1024, len = 0;
	int i;

	fake_listen(&f);
	c = pp_client_new(f.path, &o);
	fake_accept(&f);
	wait_connected(c, 1);
	for (i = 0; i < 100000; i++) {
		snprintf(id, sizeof id, "t-%d", i);
		t0 = now_ms();
		pp_start(c, id, NULL);
		pp_stop(c, id, "succeeded", NULL);
		total += 2;
		if (now_ms() - t0 > worst)
			worst = now_ms() - t0;
	}
	assert_true(worst < CALL_MS);
	assert_true(stats_of(c).dropped > 0);
	buf = malloc(cap);
	assert_non_null(buf);
	deadline = now_ms() + 10000;
	do {
		st = stats_of(c);
	} while ((fake_drain(&f, buf, cap, &len) > 0 ||
		     st.sent + st.dropped < total) &&
	    now_ms() < deadline);
	assert_int_equal(st.sent + st.dropped, total);
	assert_int_equal(count_whole_lines(buf), st.sent);
	free(buf);
	pp_client_free(c);
	fake_close(&f);
}

/* The daemon leaves; the client notices, drops, and reconnects. */
static void
test_reconnect(void **state)
{
	struct pp_client_options o = { .backoff_min_ms = 10,
		.backoff_max_ms = 50 };
	struct fake f;
	pp_client *c;
	char buf[256];

	fake_listen(&f);
	c = pp_client_new(f.path, &o);
	fake_accept(&f);
	wait_connected(c, 1);
	fake_stop(&f);
	wait_connected(c, 0);
	assert_int_equal(pp_start(c, "lost", NULL), 0);
	assert_int_equal(stats_of(c).dropped, 1);
	fake_bind(&f); /* the daemon is back, on the same path */
	fake_accept(&f);
	wait_connected(c, 1);
	assert_int_equal(stats_of(c).reconnects, 1);
	assert_int_equal(pp_start(c, "again", NULL), 0);
	fake_read(&f, buf, sizeof buf, 12);
	assert_string_equal(buf, "start again\n");
	pp_client_free(c);
	fake_close(&f);
}

/*
 * A daemon at its connection cap accepts and closes at once. The client
 * must back off between those short connections, not spin: with delays
 * of 10, 20, 40 and then 40 ms, half a second holds about 15 of them.
 */
static void
test_backoff_after_short_connections(void **state)
{
	struct pp_client_options o = { .backoff_min_ms = 10,
		.backoff_max_ms = 40 };
	struct pollfd pfd;
	struct fake f;
	pp_client *c;
	double end;
	int fd, accepts = 0;

	fake_listen(&f);
	c = pp_client_new(f.path, &o);
	pfd.fd = f.lfd;
	pfd.events = POLLIN;
	end = now_ms() + 500;
	while (now_ms() < end) {
		if (poll(&pfd, 1, 10) != 1)
			continue;
		if ((fd = accept(f.lfd, NULL, NULL)) >= 0) {
			close(fd);
			accepts++;
		}
	}
	if (accepts < 3 || accepts > 30)
		fail_msg("expected 3 to 30 connections in 0.5 s, got %d",
		    accepts);
	pp_client_free(c);
	fake_close(&f);
}

/*
 * pp_client_free sends what the ring still holds (the peer was not
 * reading) once the peer reads again.
 */
static void *
reader_thread(void *arg)
{
	struct fake *f = arg;
	static char buf[8 * 1024 * 1024];
	size_t len = 0;
	ssize_t n;

	while ((n = read(f->fd, buf + len, sizeof buf - len - 1)) > 0)
		len += (size_t)n;
	buf[len] = '\0';
	return buf;
}

/* The number of lines in buf, each of which must be "start t-N". */
static size_t
count_starts(const char *buf)
{
	const char *p = buf, *nl;
	size_t n = 0;

	while ((nl = strchr(p, '\n')) != NULL) {
		if (strncmp(p, "start t-", 8) != 0)
			fail_msg("not a whole line: %.*s", (int)(nl - p), p);
		n++;
		p = nl + 1;
	}
	assert_int_equal(*p, '\0');
	return n;
}

static void
test_free_flushes(void **state)
{
	struct pp_client_options o = { .buffer_size = 4096 };
	struct pp_client_stats st;
	struct fake f;
	pthread_t th;
	pp_client *c;
	char id[32];
	void *buf;
	int i;

	fake_listen(&f);
	c = pp_client_new(f.path, &o);
	fake_accept(&f);
	wait_connected(c, 1);
	for (i = 0; stats_of(c).dropped == 0; i++) {
		snprintf(id, sizeof id, "t-%d", i);
		pp_start(c, id, NULL);
	}
	st = stats_of(c);
	assert_true(st.sent + 10 < (uint64_t)i); /* lines wait in the ring */
	assert_int_equal(pthread_create(&th, NULL, reader_thread, &f), 0);
	pp_client_free(c);
	assert_int_equal(pthread_join(th, &buf), 0);
	/* Every signal but the one dropped arrived, whole. */
	assert_int_equal(count_starts(buf), (size_t)i - 1);
	fake_close(&f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wire_format),
		cmocka_unit_test(test_invalid_arguments),
		cmocka_unit_test(test_bad_paths),
		cmocka_unit_test(test_nobody_listens),
		cmocka_unit_test(test_peer_not_reading),
		cmocka_unit_test(test_reconnect),
		cmocka_unit_test(test_backoff_after_short_connections),
		cmocka_unit_test(test_free_flushes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
