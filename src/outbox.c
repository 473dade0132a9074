/*
 * outbox -- reports on their way to the report server; see outbox.h.
 */
#include "outbox.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "retry.h"
#include "timeutil.h"
#include "xmalloc.h"

#define OUTBOX_TOKEN_MAX 8192

struct outbox_item {
	struct outbox_item *next;
	char *key;			/* Idempotency-Key */
	char *body;
	size_t len;
	char *path;			/* spool file, or NULL */
};

static void outbox_kick(struct outbox_queue *q);
static void outbox_maybe_closed(struct outbox *o);

/* Items and queues */

static void
outbox_item_free(struct outbox_item *it)
{
	free(it->key);
	free(it->body);
	free(it->path);
	free(it);
}

static void
outbox_changed(struct outbox *o)
{
	if (o->changed_cb != NULL)
		o->changed_cb(o->changed_arg);
}

static void
outbox_count(struct outbox_queue *q, enum delivery_outcome outcome)
{
	delivery_count(q->outbox->counters, q->kind, outcome);
	/* The state's last_report follows every outcome, retries included. */
	outbox_changed(q->outbox);
}

static void
outbox_push(struct outbox_queue *q, struct outbox_item *it)
{
	if (q->tail != NULL)
		q->tail->next = it;
	else
		q->head = it;
	q->tail = it;
	q->len++;
}

/* Take the head off the queue (it was delivered or rejected). */
static void
outbox_pop(struct outbox_queue *q)
{
	struct outbox_item *it = q->head;

	q->head = it->next;
	if (q->head == NULL)
		q->tail = NULL;
	q->len--;
	if (it->path != NULL)
		spool_remove(it->path);
	outbox_item_free(it);
	outbox_changed(q->outbox);
}

/* Beyond max_pending: drop the oldest that is not in flight. */
static void
outbox_trim(struct outbox_queue *q)
{
	struct outbox_item **pp, *it;
	size_t max = (size_t)q->outbox->cfg->report_max_pending;

	while (q->len > max) {
		pp = q->in_flight ? &q->head->next : &q->head;
		if ((it = *pp) == NULL)
			return;
		*pp = it->next;
		if (q->tail == it)	/* it was last: before it is head or none */
			q->tail = pp == &q->head ? NULL : q->head;
		q->len--;
		if (it->path != NULL)
			spool_remove(it->path);
		outbox_count(q, DELIVERY_DROPPED);
		log_warn("too many undelivered reports; the oldest is dropped",
		    "kind", delivery_kind_name(q->kind), "key", it->key,
		    "max_pending", LOG_NUM(max));
		outbox_item_free(it);
	}
}

/* The bearer token */

static int
outbox_token_read(const char *path, char **value, struct stat *st)
{
	char buf[OUTBOX_TOKEN_MAX + 1];
	ssize_t n;
	size_t len, i;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -errno;
	if (fstat(fd, st) != 0) {
		close(fd);
		return -errno;
	}
	n = read(fd, buf, sizeof buf);
	close(fd);
	if (n < 0)
		return -errno;
	if ((size_t)n > OUTBOX_TOKEN_MAX)
		return -EFBIG;
	len = (size_t)n;
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		len--;
	/* It goes into a header: a space or line break would break it. */
	for (i = 0; i < len; i++)
		if ((unsigned char)buf[i] <= 0x20 ||
		    (unsigned char)buf[i] >= 0x7f)
			return -EINVAL;
	*value = xstrndup(buf, len);
	return 0;
}

int
outbox_token_check(const char *path, char *err, size_t size)
{
	struct stat st;
	char *value = NULL;
	int r;

	if ((r = outbox_token_read(path, &value, &st)) != 0) {
		snprintf(err, size, "cannot read report.auth_token_file %s: %s",
		    path, r == -EINVAL ? "the token has a space, control or "
		    "non-ASCII character" : strerror(-r));
		return -1;
	}
	free(value);
	return 0;
}

static int
outbox_token_same(const struct outbox_token *t, const struct stat *st)
{
	return t->value != NULL && t->dev == st->st_dev &&
	    t->ino == st->st_ino && t->size == st->st_size &&
	    t->mtime.tv_sec == st->st_mtim.tv_sec &&
	    t->mtime.tv_nsec == st->st_mtim.tv_nsec;
}

/* Re-read the token file if it changed; keep the old token on failure. */
static void
outbox_token_refresh(struct outbox *o, const char *path)
{
	struct outbox_token *t = &o->token;
	struct stat st;
	char *value;
	int r;

	if (stat(path, &st) == 0 && outbox_token_same(t, &st))
		return;
	if ((r = outbox_token_read(path, &value, &st)) != 0) {
		if (!t->failing)
			log_error("cannot read the token file; the old token "
			    "stays", "path", path, "error", r == -EINVAL ?
			    "bad character in the token" : strerror(-r));
		t->failing = 1;
		return;
	}
	if (t->value != NULL)
		log_info("token file changed; using the new token", "path",
		    path);
	t->failing = 0;
	free(t->value);
	t->value = value;
	t->dev = st.st_dev;
	t->ino = st.st_ino;
	t->size = st.st_size;
	t->mtime = st.st_mtim;
}

static const char *
outbox_token(struct outbox *o)
{
	const char *path = o->cfg->report_auth_token_file;

	if (*path == '\0')
		return o->cfg->report_auth_token;
	outbox_token_refresh(o, path);
	return o->token.value != NULL ? o->token.value : "";
}

/* Sending */

static uint64_t
outbox_random(struct outbox *o)
{
	/* xorshift64: jitter needs spread, not secrecy. */
	o->rnd ^= o->rnd << 13;
	o->rnd ^= o->rnd >> 7;
	o->rnd ^= o->rnd << 17;
	return o->rnd;
}

static const char *
outbox_url(const struct outbox_queue *q)
{
	const struct config *c = q->outbox->cfg;

	return q->kind == REPORTER_INSTANCE_STATE ?
	    c->report_instance_state_url : c->report_setup_run_url;
}

static void outbox_done_cb(void *arg, const struct http_response *r);
static void outbox_retry(struct outbox_queue *q, long status,
    const char *retry_after, const char *error);

static void
outbox_send(struct outbox_queue *q)
{
	struct outbox *o = q->outbox;
	struct outbox_item *it = q->head;
	char key[512], *auth = NULL;
	const char *headers[5], *token;
	struct http_post p;
	size_t n = 0;

	token = outbox_token(o);
	headers[n++] = "Content-Type: application/json";
	headers[n++] = "User-Agent: podpulse/" PODPULSE_VERSION;
	snprintf(key, sizeof key, "Idempotency-Key: %s", it->key);
	headers[n++] = key;
	/* On the heap: a token from the config has no length bound, and a
	 * cut one would only earn a 401 and lose the report. */
	if (*token != '\0') {
		xasprintf(&auth, "Authorization: Bearer %s", token);
		headers[n++] = auth;
	}
	headers[n] = NULL;
	memset(&p, 0, sizeof p);
	p.url = outbox_url(q);
	p.headers = headers;
	p.body = it->body;
	p.len = it->len;
	p.timeout_ms = (uint64_t)o->cfg->report_timeout / 1000000;
	p.ca_file = o->cfg->report_ca_file;
	q->in_flight = 1;
	if (http_client_post(&o->http, &p, outbox_done_cb, q) != 0) {
		q->in_flight = 0;
		outbox_retry(q, 0, "", "cannot start the request");
	}
	if (auth != NULL) {
		explicit_bzero(auth, strlen(auth));
		free(auth);
	}
}

static void
outbox_timer_cb(uv_timer_t *t)
{
	outbox_kick(t->data);
}

static void
outbox_kick(struct outbox_queue *q)
{
	struct outbox *o = q->outbox;

	if (q->head == NULL || q->in_flight || o->aborted ||
	    uv_is_active((uv_handle_t *)&q->timer))
		return;
	if (*outbox_url(q) == '\0') {
		if (!q->failing)
			log_warn("reports are queued for a kind that has no "
			    "URL any more; they wait for one", "kind",
			    delivery_kind_name(q->kind));
		q->failing = 1;
		return;
	}
	outbox_send(q);
}

static void
outbox_policy(const struct config *c, struct retry_policy *p)
{
	p->base_ns = (uint64_t)c->report_retry_base;
	p->max_ns = (uint64_t)c->report_retry_max;
	p->max_attempts = (unsigned)c->report_max_attempts;
}

/* A failed attempt: count it, log the first of a streak, wait. */
static void
outbox_retry(struct outbox_queue *q, long status, const char *retry_after,
    const char *error)
{
	struct outbox *o = q->outbox;
	struct retry_policy policy;
	enum retry_verdict v;
	uint64_t after = 0, delay;

	outbox_policy(o->cfg, &policy);
	if (*retry_after != '\0' && retry_after_parse(retry_after,
	    timeutil_wall_ms(), &after) != 0)
		after = 0;
	q->failures++;
	v = retry_decide(&policy, status, q->failures, after,
	    outbox_random(o), &delay);
	outbox_count(q, DELIVERY_RETRIED);
	if (!q->failing)
		log_warn("report not delivered; retrying", "kind",
		    delivery_kind_name(q->kind), "key", q->head->key, "status",
		    LOG_NUM(status), "error", error, "delay_ms",
		    LOG_NUM(delay / 1000000));
	else
		log_debug("report not delivered; retrying", "kind",
		    delivery_kind_name(q->kind), "key", q->head->key, "status",
		    LOG_NUM(status), "error", error, "delay_ms",
		    LOG_NUM(delay / 1000000));
	q->failing = 1;
	if (v == RETRY_GIVE_UP) {
		log_warn("report still not delivered after max_attempts; it "
		    "stays pending", "kind", delivery_kind_name(q->kind),
		    "key", q->head->key, "attempts", LOG_NUM(q->failures),
		    "delay_ms", LOG_NUM(delay / 1000000));
		q->failures = 0;
	}
	uv_timer_start(&q->timer, outbox_timer_cb, (delay + 999999) / 1000000,
	    0);
}

static void
outbox_delivered(struct outbox_queue *q)
{
	if (q->failing)
		log_info("report server reachable again", "kind",
		    delivery_kind_name(q->kind));
	q->failing = 0;
	q->failures = 0;
	outbox_count(q, DELIVERY_DELIVERED);
	outbox_pop(q);
}

static void
outbox_rejected(struct outbox_queue *q, const struct http_response *r)
{
	log_error("report rejected by the server; not retried", "kind",
	    delivery_kind_name(q->kind), "key", q->head->key, "status",
	    LOG_NUM(r->status), "answer", r->body);
	q->failures = 0;
	outbox_count(q, DELIVERY_REJECTED);
	outbox_pop(q);
}

static void
outbox_done_cb(void *arg, const struct http_response *r)
{
	struct outbox_queue *q = arg;
	struct outbox *o = q->outbox;

	q->in_flight = 0;
	if (r->transport == HTTP_CLIENT_CANCELED)
		return;
	if (r->transport != 0)
		outbox_retry(q, 0, "", r->error);
	else {
		switch (retry_classify(r->status)) {
		case RETRY_CLASS_OK:
			outbox_delivered(q);
			break;
		case RETRY_CLASS_REJECT:
			outbox_rejected(q, r);
			break;
		default:
			outbox_retry(q, r->status, r->retry_after,
			    "HTTP status");
			break;
		}
	}
	outbox_kick(q);
	outbox_maybe_closed(o);
}

/* Submitting and loading */

static void
outbox_add(struct outbox *o, enum reporter_kind kind, char *key, char *body,
    size_t len, char *path)
{
	struct outbox_queue *q = &o->queues[kind];
	struct outbox_item *it;

	it = xcalloc(1, sizeof(*it));
	it->key = key;
	it->body = body;
	it->len = len;
	it->path = path;
	outbox_push(q, it);
	outbox_trim(q);
	outbox_changed(o);
}

void
outbox_submit(struct outbox *o, enum reporter_kind kind, const char *key,
    char *body, size_t len)
{
	char *path = NULL;
	int r;

	if (o->finished) {
		delivery_count(o->counters, kind, DELIVERY_DROPPED);
		log_error("report submitted after delivery stopped; dropped",
		    "kind", delivery_kind_name(kind), "key", key);
		free(body);
		return;
	}
	if (o->spooling && (r = spool_write(&o->spool, kind, key, body, len,
	    &path)) != 0) {
		log_error("cannot spool a report; it is kept in memory only",
		    "kind", delivery_kind_name(kind), "key", key, "error",
		    strerror(-r));
		path = NULL;
	}
	outbox_add(o, kind, xstrdup(key), body, len, path);
	outbox_kick(&o->queues[kind]);
}

static void
outbox_load_cb(void *arg, enum reporter_kind kind, const char *key,
    char *body, size_t len, char *path)
{
	outbox_add(arg, kind, xstrdup(key), body, len, path);
}

static void
outbox_rnd_seed(struct outbox *o)
{
	if (getrandom(&o->rnd, sizeof o->rnd, GRND_NONBLOCK) !=
	    (ssize_t)sizeof o->rnd)
		o->rnd = uv_hrtime() ^ ((uint64_t)getpid() << 32);
	if (o->rnd == 0)
		o->rnd = 0x9e3779b97f4a7c15ull;
}

int
outbox_init(struct outbox *o, uv_loop_t *loop, const struct config *cfg,
    struct delivery_counters *counters, char *err, size_t size)
{
	size_t i, loaded;

	memset(o, 0, sizeof(*o));
	o->loop = loop;
	o->cfg = cfg;
	o->counters = counters;
	outbox_rnd_seed(o);
	if (*cfg->report_spool_dir != '\0') {
		if (spool_open(&o->spool, cfg->report_spool_dir, err, size) != 0)
			return -1;
		o->spooling = 1;
	}
	if (http_client_init(&o->http, loop) != 0) {
		snprintf(err, size, "cannot start libcurl");
		spool_close(&o->spool);
		return -1;
	}
	for (i = 0; i < REPORTER_KINDS; i++) {
		o->queues[i].outbox = o;
		o->queues[i].kind = (enum reporter_kind)i;
		uv_timer_init(loop, &o->queues[i].timer);
		o->queues[i].timer.data = &o->queues[i];
	}
	o->handles = REPORTER_KINDS + 1;
	if (o->spooling) {
		loaded = spool_load(&o->spool, outbox_load_cb, o);
		if (loaded > 0)
			log_info("spooled reports from an earlier run are sent "
			    "first", "reports", LOG_NUM(loaded));
		for (i = 0; i < REPORTER_KINDS; i++)
			outbox_kick(&o->queues[i]);
	}
	return 0;
}

size_t
outbox_pending(const struct outbox *o)
{
	size_t i, n = 0;

	for (i = 0; i < REPORTER_KINDS; i++)
		n += o->queues[i].len;
	return n;
}

size_t
outbox_unspooled(const struct outbox *o)
{
	const struct outbox_item *it;
	size_t i, n = 0;

	for (i = 0; i < REPORTER_KINDS; i++)
		for (it = o->queues[i].head; it != NULL; it = it->next)
			n += it->path == NULL;
	return n;
}

/* Closing */

static void
outbox_handle_closed(struct outbox *o)
{
	if (--o->handles == 0 && o->closed_cb != NULL)
		o->closed_cb(o->closed_arg);
}

static void
outbox_timer_close_cb(uv_handle_t *h)
{
	struct outbox_queue *q = h->data;

	outbox_handle_closed(q->outbox);
}

static void
outbox_http_closed(void *arg)
{
	outbox_handle_closed(arg);
}

/* Free what is left: spooled reports stay on disk, others are lost. */
static void
outbox_release(struct outbox *o)
{
	struct outbox_queue *q;
	struct outbox_item *it;
	size_t i, spooled = 0, lost = 0;

	for (i = 0; i < REPORTER_KINDS; i++) {
		q = &o->queues[i];
		while ((it = q->head) != NULL) {
			q->head = it->next;
			if (it->path != NULL)
				spooled++;
			else {
				lost++;
				outbox_count(q, DELIVERY_DROPPED);
			}
			outbox_item_free(it);
		}
		q->tail = NULL;
		q->len = 0;
	}
	if (spooled > 0)
		log_warn("undelivered reports stay in the spool for the next "
		    "start", "reports", LOG_NUM(spooled));
	if (lost > 0)
		log_error("undelivered reports are lost (no spool_dir)",
		    "reports", LOG_NUM(lost));
	outbox_changed(o);
}

static void
outbox_finish(struct outbox *o)
{
	size_t i;

	if (o->finished)
		return;
	o->finished = 1;
	o->aborted = 1;
	/* Cancel first: the callbacks of canceled requests only note it. */
	http_client_close(&o->http, outbox_http_closed, o);
	outbox_release(o);
	for (i = 0; i < REPORTER_KINDS; i++)
		uv_close((uv_handle_t *)&o->queues[i].timer,
		    outbox_timer_close_cb);
	free(o->token.value);
	o->token.value = NULL;
	spool_close(&o->spool);
}

static void
outbox_maybe_closed(struct outbox *o)
{
	size_t i, sendable = 0;

	/* A queue whose kind has no URL (removed by a reload) cannot drain:
	 * waiting for it would only hold shutdown for the whole grace. */
	for (i = 0; i < REPORTER_KINDS; i++)
		if (*outbox_url(&o->queues[i]) != '\0')
			sendable += o->queues[i].len;
	if (o->closing && sendable == 0)
		outbox_finish(o);
}

void
outbox_close(struct outbox *o, void (*cb)(void *arg), void *arg)
{
	struct outbox_queue *q;
	size_t i;

	o->closing = 1;
	o->closed_cb = cb;
	o->closed_arg = arg;
	/*
	 * A queue waiting out a long backoff would never try again within
	 * the shutdown grace: try each once now, then back off as usual.
	 */
	for (i = 0; i < REPORTER_KINDS; i++) {
		q = &o->queues[i];
		if (uv_is_active((uv_handle_t *)&q->timer)) {
			uv_timer_stop(&q->timer);
			outbox_kick(q);
		}
	}
	outbox_maybe_closed(o);
}

void
outbox_abort(struct outbox *o)
{
	o->closing = 1;
	outbox_finish(o);
}
