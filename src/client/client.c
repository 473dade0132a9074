/*
 * client -- the C client library; the contract is in
 * include/podpulse/client.h.
 *
 * Design. The callers (the model server's request threads) and one I/O
 * thread share a ring buffer of protocol lines under one mutex. A caller
 * validates its arguments without the lock, then, under the lock, copies
 * its whole line into the ring or drops it (not connected, or not enough
 * room): a line is always buffered whole, so the daemon never sees half a
 * command. The caller never touches the socket; the only system call it
 * may make is a write of one byte into a non-blocking wake pipe, which
 * cannot block.
 *
 * The I/O thread owns the socket. It polls the socket and the wake pipe,
 * sends from the ring's head without holding the lock (callers only write
 * behind the tail, so the bytes it sends do not move), and takes the lock
 * again to consume what was sent. Reading from the socket tells it when
 * the daemon closes the connection; it then drops (and counts) what is
 * still buffered, because predictions started on the dead connection were
 * aborted by the daemon anyway, and reconnects with a capped exponential
 * backoff. Each poll waits on the wake pipe too, so pp_client_free never
 * waits out a backoff.
 *
 * Invariants (under the lock): lines is the number of '\n' in the ring;
 * sent counts a line when its '\n' has been written; every signal the
 * callers hand in ends up in exactly one of sent, dropped or the ring.
 */
#include "podpulse/client.h"
#include "podpulse/protocol.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define CLIENT_BUFFER_DEFAULT (1024 * 1024)
#define CLIENT_BACKOFF_MIN_DEFAULT 100
#define CLIENT_BACKOFF_MAX_DEFAULT 5000
#define CLIENT_FLUSH_DEFAULT 1000

/*
 * A connection that lived this long resets the backoff. A shorter one
 * (a daemon that accepts and closes, at socket.max_connections) makes it
 * grow, so the client never spins on connect and hang-up.
 */
#define CLIENT_STABLE_MS 1000

/* verb, id, status, a space and a pair per attribute, the newline. */
#define CLIENT_PIECES_MAX (8 + 2 * PODPULSE_ATTRS_MAX)

struct client_piece {
	const char *s;
	size_t n;
};

struct client_line {
	struct client_piece p[CLIENT_PIECES_MAX];
	size_t n;
};

struct pp_client {
	pthread_mutex_t lock;
	pthread_t thread;
	struct sockaddr_un sun;
	struct pp_client_options opt;

	int fd;			 /* the I/O thread's alone after new */
	int wake[2];		 /* [0] polled by the I/O thread */
	unsigned int backoff_ms; /* the next delay */
	uint64_t retry_at;	 /* no connect before (monotonic ms) */
	uint64_t connected_at;

	/* Under lock. */
	char *ring;
	size_t head;
	size_t len;
	size_t lines;
	int connected;
	int quit;
	int woken; /* a byte is in the wake pipe */
	uint64_t sent;
	uint64_t dropped;
	uint64_t connects;
};

static uint64_t
client_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void
client_line_add(struct client_line *l, const char *s, size_t n)
{
	l->p[l->n].s = s;
	l->p[l->n].n = n;
	l->n++;
}

static void
client_line_add_str(struct client_line *l, const char *s)
{
	client_line_add(l, s, strlen(s));
}

/* An id: 1 to PODPULSE_ID_MAX bytes of printable ASCII without spaces. */
static int
client_id_valid(const char *id)
{
	size_t i;

	if (id == NULL || id[0] == '\0')
		return 0;
	for (i = 0; id[i] != '\0'; i++) {
		if (i >= PODPULSE_ID_MAX)
			return 0;
		if (id[i] < 0x21 || id[i] > 0x7e)
			return 0;
	}
	return 1;
}

/* "key=value": key [a-z0-9_.]{1,KEY_MAX}; value without spaces or controls. */
static int
client_attr_valid(const char *a)
{
	const unsigned char *p = (const unsigned char *)a;
	size_t i;

	for (i = 0; p[i] != '='; i++) {
		if (i >= PODPULSE_KEY_MAX)
			return 0;
		if ((p[i] < 'a' || p[i] > 'z') && (p[i] < '0' || p[i] > '9') &&
		    p[i] != '_' && p[i] != '.')
			return 0; /* also the terminating NUL: no '=' */
	}
	if (i == 0)
		return 0;
	for (i++; p[i] != '\0'; i++) {
		if (p[i] <= 0x20 || p[i] == 0x7f)
			return 0;
	}
	return 1;
}

static int
client_attrs_add(struct client_line *l, const char *const *attrs)
{
	size_t i;

	if (attrs == NULL)
		return 0;
	for (i = 0; attrs[i] != NULL; i++) {
		if (i >= PODPULSE_ATTRS_MAX || !client_attr_valid(attrs[i]))
			return -EINVAL;
		client_line_add(l, " ", 1);
		client_line_add_str(l, attrs[i]);
	}
	return 0;
}

static void
client_drop(pp_client *c)
{
	pthread_mutex_lock(&c->lock);
	c->dropped++;
	pthread_mutex_unlock(&c->lock);
}

/*
 * Under the lock: make the I/O thread's poll return. The pipe is
 * non-blocking and holds at most one byte of ours, so this never blocks.
 */
static void
client_wake(pp_client *c)
{
	if (c->woken)
		return;
	if (write(c->wake[1], "w", 1) == 1)
		c->woken = 1;
}

static void
client_ring_write(pp_client *c, const char *s, size_t n)
{
	size_t cap = c->opt.buffer_size;
	size_t at = (c->head + c->len) % cap;
	size_t first = n < cap - at ? n : cap - at;

	memcpy(c->ring + at, s, first);
	memcpy(c->ring, s + first, n - first);
	c->len += n;
}

/* Buffer the whole line or count it dropped; never blocks. */
static void
client_put(pp_client *c, const struct client_line *l)
{
	size_t i, total = 0;

	for (i = 0; i < l->n; i++)
		total += l->p[i].n;
	pthread_mutex_lock(&c->lock);
	if (!c->connected || c->quit || c->opt.buffer_size - c->len < total) {
		c->dropped++;
		pthread_mutex_unlock(&c->lock);
		return;
	}
	for (i = 0; i < l->n; i++)
		client_ring_write(c, l->p[i].s, l->p[i].n);
	c->lines++;
	client_wake(c);
	pthread_mutex_unlock(&c->lock);
}

/* A prediction signal: "<verb> <id>[ <status>][ k=v...]\n". */
static int
client_prediction(pp_client *c, const char *verb, const char *id,
    const char *status, const char *const *attrs)
{
	struct client_line l = { .n = 0 };

	if (c == NULL)
		return -EINVAL;
	if (!client_id_valid(id))
		goto invalid;
	client_line_add_str(&l, verb);
	client_line_add(&l, " ", 1);
	client_line_add_str(&l, id);
	if (status != NULL) {
		client_line_add(&l, " ", 1);
		client_line_add_str(&l, status);
	}
	if (client_attrs_add(&l, attrs) != 0)
		goto invalid;
	client_line_add(&l, "\n", 1);
	client_put(c, &l);
	return 0;
invalid:
	client_drop(c);
	return -EINVAL;
}

int
pp_enqueue(pp_client *c, const char *id, const char *const *attrs)
{
	return client_prediction(c, "enqueue", id, NULL, attrs);
}

int
pp_start(pp_client *c, const char *id, const char *const *attrs)
{
	return client_prediction(c, "start", id, NULL, attrs);
}

static int
client_status_valid(const char *status, const char *const *allowed)
{
	size_t i;

	if (status == NULL)
		return 0;
	for (i = 0; allowed[i] != NULL; i++) {
		if (strcmp(status, allowed[i]) == 0)
			return 1;
	}
	return 0;
}

int
pp_stop(pp_client *c, const char *id, const char *status,
    const char *const *attrs)
{
	static const char *const allowed[] = { "succeeded", "failed",
		"canceled", "aborted", NULL };

	if (c == NULL)
		return -EINVAL;
	if (!client_status_valid(status, allowed)) {
		client_drop(c);
		return -EINVAL;
	}
	return client_prediction(c, "stop", id, status, attrs);
}

int
pp_setup_start(pp_client *c)
{
	struct client_line l = { .n = 0 };

	if (c == NULL)
		return -EINVAL;
	client_line_add_str(&l, "setup start\n");
	client_put(c, &l);
	return 0;
}

int
pp_setup_log(pp_client *c, const char *text)
{
	struct client_line l;
	const char *nl;

	if (c == NULL || text == NULL)
		return -EINVAL;
	do {
		nl = strchr(text, '\n');
		l.n = 0;
		client_line_add_str(&l, "setup log ");
		client_line_add(&l, text,
		    nl != NULL ? (size_t)(nl - text) : strlen(text));
		client_line_add(&l, "\n", 1);
		client_put(c, &l);
		text = nl + 1;
	} while (nl != NULL && *text != '\0');
	return 0;
}

int
pp_setup_done(pp_client *c, const char *status)
{
	static const char *const allowed[] = { "ready", "succeeded", "failed",
		NULL };
	struct client_line l = { .n = 0 };

	if (c == NULL)
		return -EINVAL;
	if (!client_status_valid(status, allowed)) {
		client_drop(c);
		return -EINVAL;
	}
	client_line_add_str(&l, "setup done ");
	client_line_add_str(&l, status);
	client_line_add(&l, "\n", 1);
	client_put(c, &l);
	return 0;
}

int
pp_client_stats(pp_client *c, struct pp_client_stats *stats)
{
	if (c == NULL || stats == NULL)
		return -EINVAL;
	pthread_mutex_lock(&c->lock);
	stats->sent = c->sent;
	stats->dropped = c->dropped;
	stats->reconnects = c->connects > 1 ? c->connects - 1 : 0;
	stats->connected = c->connected;
	pthread_mutex_unlock(&c->lock);
	return 0;
}

/* One non-blocking connect attempt; a Unix socket answers at once. */
static int
client_connect(pp_client *c)
{
	int fd;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&c->sun, sizeof c->sun) != 0) {
		close(fd);
		return -errno;
	}
	c->fd = fd;
	c->connected_at = client_now_ms();
	pthread_mutex_lock(&c->lock);
	c->connected = 1;
	c->connects++;
	pthread_mutex_unlock(&c->lock);
	return 0;
}

static void
client_backoff_grow(pp_client *c)
{
	c->backoff_ms *= 2;
	if (c->backoff_ms > c->opt.backoff_max_ms)
		c->backoff_ms = c->opt.backoff_max_ms;
}

/*
 * The connection is gone: what it did not send is lost, and counted. The
 * next attempt waits for the backoff.
 */
static void
client_disconnect(pp_client *c)
{
	uint64_t now = client_now_ms();

	close(c->fd);
	c->fd = -1;
	if (now - c->connected_at >= CLIENT_STABLE_MS)
		c->backoff_ms = c->opt.backoff_min_ms;
	c->retry_at = now + c->backoff_ms;
	client_backoff_grow(c);
	pthread_mutex_lock(&c->lock);
	c->connected = 0;
	c->dropped += c->lines;
	c->head = c->len = c->lines = 0;
	pthread_mutex_unlock(&c->lock);
}

static void
client_consume(pp_client *c, const char *from, size_t n)
{
	size_t i, nl = 0;

	for (i = 0; i < n; i++)
		nl += from[i] == '\n';
	pthread_mutex_lock(&c->lock);
	c->head = (c->head + n) % c->opt.buffer_size;
	c->len -= n;
	c->lines -= nl;
	c->sent += nl;
	pthread_mutex_unlock(&c->lock);
}

/* Send what poll said the socket takes. Returns -1 when it broke. */
static int
client_send_some(pp_client *c, const char *from, size_t n)
{
	ssize_t w;

	w = send(c->fd, from, n, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (w < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -1;
	client_consume(c, from, (size_t)w);
	return 0;
}

/* The daemon only talks when asked; reading tells us it hung up. */
static int
client_read_some(pp_client *c)
{
	char sink[512];
	ssize_t r;

	r = recv(c->fd, sink, sizeof sink, MSG_DONTWAIT);
	if (r == 0)
		return -1;
	if (r < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -1;
	return 0;
}

/*
 * Under the lock, at the top of a round: empty the wake pipe, and see
 * whether to quit and what to send (the contiguous bytes at the head).
 */
static int
client_snapshot(pp_client *c, const char **from, size_t *n)
{
	char drain[64];
	int quit;

	pthread_mutex_lock(&c->lock);
	while (read(c->wake[0], drain, sizeof drain) > 0)
		;
	c->woken = 0;
	quit = c->quit;
	*from = c->ring + c->head;
	*n = c->len;
	if (*n > c->opt.buffer_size - c->head)
		*n = c->opt.buffer_size - c->head;
	pthread_mutex_unlock(&c->lock);
	return quit;
}

/* Disconnected: connect if it is time, else say how long to wait. */
static int
client_reconnect(pp_client *c)
{
	uint64_t now = client_now_ms();

	if (now < c->retry_at)
		return (int)(c->retry_at - now);
	if (client_connect(c) == 0)
		return -1;
	c->retry_at = now + c->backoff_ms;
	client_backoff_grow(c);
	return (int)(c->retry_at - now);
}

/*
 * How long this round's poll may wait: forever while connected, the
 * backoff delay while not, what is left of the flush once asked to quit.
 * Returns -2 when the thread should end.
 */
static int
client_timeout(pp_client *c, int quit, size_t n, uint64_t *deadline)
{
	int timeout = -1;

	if (quit) {
		uint64_t now = client_now_ms();

		if (*deadline == 0)
			*deadline = now + c->opt.flush_timeout_ms;
		if (c->fd < 0 || n == 0 || now >= *deadline)
			return -2;
		timeout = (int)(*deadline - now);
	}
	return c->fd >= 0 ? timeout : client_reconnect(c);
}

/*
 * One round of the I/O thread: wait for the socket or the wake pipe (or
 * the backoff delay while disconnected) and do what is due. Returns 1 when
 * the thread should end.
 */
static int
client_round(pp_client *c, uint64_t *deadline)
{
	struct pollfd pfd[2];
	const char *from;
	size_t n;
	int quit, timeout;
	nfds_t nfds = 1;

	quit = client_snapshot(c, &from, &n);
	if ((timeout = client_timeout(c, quit, n, deadline)) == -2)
		return 1;
	pfd[0].fd = c->wake[0];
	pfd[0].events = POLLIN;
	if (c->fd >= 0) {
		pfd[1].fd = c->fd;
		pfd[1].events = POLLIN | (n > 0 ? POLLOUT : 0);
		pfd[1].revents = 0;
		nfds = 2;
	}
	if (poll(pfd, nfds, timeout) <= 0 || nfds == 1)
		return 0;
	if ((pfd[1].revents & (POLLIN | POLLHUP | POLLERR)) &&
	    client_read_some(c) != 0) {
		client_disconnect(c);
		return 0;
	}
	if ((pfd[1].revents & POLLOUT) && client_send_some(c, from, n) != 0)
		client_disconnect(c);
	return 0;
}

static void *
client_thread(void *arg)
{
	pp_client *c = arg;
	uint64_t deadline = 0; /* of the flush, set when asked to quit */

	while (!client_round(c, &deadline))
		;
	if (c->fd >= 0)
		client_disconnect(c);
	return NULL;
}

static void
client_options_set(pp_client *c, const struct pp_client_options *o)
{
	if (o != NULL)
		c->opt = *o;
	if (c->opt.buffer_size == 0)
		c->opt.buffer_size = CLIENT_BUFFER_DEFAULT;
	if (c->opt.backoff_min_ms == 0)
		c->opt.backoff_min_ms = CLIENT_BACKOFF_MIN_DEFAULT;
	if (c->opt.backoff_max_ms == 0)
		c->opt.backoff_max_ms = CLIENT_BACKOFF_MAX_DEFAULT;
	if (c->opt.backoff_max_ms < c->opt.backoff_min_ms)
		c->opt.backoff_max_ms = c->opt.backoff_min_ms;
	if (c->opt.flush_timeout_ms == 0)
		c->opt.flush_timeout_ms = CLIENT_FLUSH_DEFAULT;
	c->backoff_ms = c->opt.backoff_min_ms;
}

/* Start the I/O thread with every signal blocked: they are the caller's. */
static int
client_thread_start(pp_client *c)
{
	sigset_t all, old;
	int error;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	error = pthread_create(&c->thread, NULL, client_thread, c);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return -error;
}

static void
client_release(pp_client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	if (c->wake[0] >= 0) {
		close(c->wake[0]);
		close(c->wake[1]);
	}
	pthread_mutex_destroy(&c->lock);
	free(c->ring);
	free(c);
}

pp_client *
pp_client_new(const char *socket_path, const struct pp_client_options *o)
{
	pp_client *c;
	int error;

	if (socket_path == NULL)
		socket_path = PODPULSE_SOCKET_PATH_DEFAULT;
	if (socket_path[0] == '\0' ||
	    strlen(socket_path) >= sizeof c->sun.sun_path) {
		errno = ENAMETOOLONG;
		return NULL;
	}
	if ((c = calloc(1, sizeof *c)) == NULL)
		return NULL;
	c->fd = c->wake[0] = c->wake[1] = -1;
	pthread_mutex_init(&c->lock, NULL);
	c->sun.sun_family = AF_UNIX;
	memcpy(c->sun.sun_path, socket_path, strlen(socket_path));
	client_options_set(c, o);
	if ((c->ring = malloc(c->opt.buffer_size)) == NULL ||
	    pipe2(c->wake, O_NONBLOCK | O_CLOEXEC) != 0) {
		error = errno;
		goto fail;
	}
	(void)client_connect(c);
	if ((error = -client_thread_start(c)) != 0)
		goto fail;
	return c;
fail:
	client_release(c);
	errno = error;
	return NULL;
}

void
pp_client_free(pp_client *c)
{
	if (c == NULL)
		return;
	pthread_mutex_lock(&c->lock);
	c->quit = 1;
	client_wake(c);
	pthread_mutex_unlock(&c->lock);
	pthread_join(c->thread, NULL);
	client_release(c);
}
