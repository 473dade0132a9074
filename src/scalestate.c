/*
 * scalestate -- scale snapshots in Redis; see scalestate.h.
 *
 * Connection life: DOWN --(timer)--> CONNECTING --(AUTH, SELECT, PING
 * answered)--> READY. Any failure (refused, connect timeout, an error
 * reply to the handshake, a command timeout, the server closing) goes
 * through one path: count it, log it if it starts an outage, free the
 * context from a timer callback (never from inside a hiredis callback),
 * and arm the reconnect with backoff. One line is logged when an outage
 * starts and one when it ends, whatever the number of attempts between.
 *
 * The hiredis contract: a command whose submission fails never calls
 * back; one that was submitted calls back exactly once, with a NULL reply
 * when the context is freed or disconnected. So `pending` counts
 * submissions and every callback decrements it, reply or not; the cycle
 * and the shutdown wait on it. Callbacks look at the reply only when it
 * came from the live context (conn->ac == ac).
 *
 * The leader lease is taken with SET NX PX (3 intervals), renewed and
 * released by compare-and-set scripts, and the snapshot script checks the
 * lease before it pushes: a writer that lost its lease without knowing it
 * cannot push. A follower also reads the lease's PTTL and, on the
 * `takeover` timer, tries again the moment it ends. A missed interval is
 * never written afterwards.
 *
 * The heartbeat, the expiry of stale replicas and the count are one
 * script on Redis's clock (TIME), so skewed pod clocks cannot disagree
 * on who is stale.
 *
 * Host names are looked up with uv_getaddrinfo (hiredis would block in
 * getaddrinfo), and the poll adapter is our own: hiredis 0.14's drops
 * poll errors, see scalestate_poll_cb().
 */
#include "scalestate.h"

#include <arpa/inet.h>
#include <netdb.h>

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <hiredis/async.h>

#include "metrics.h"
#include "retry.h"
#include "timeutil.h"
#include "xmalloc.h"

#define SCALESTATE_LEASES 3		/* lease and heartbeat: 3 intervals */
#define SCALESTATE_ERROR_LOG_NS (10 * 1000000000ull)
#define SCALESTATE_BLUE 0

static const char scalestate_renew_lua[] =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then "
    "return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end";
static const char scalestate_release_lua[] =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then "
    "return redis.call('DEL', KEYS[1]) else return 0 end";
/*
 * Heartbeat (when ready), expiry and count in one round trip, on Redis's
 * clock: pods whose clocks disagree still agree on who is stale.
 */
static const char scalestate_replicas_lua[] =
    "local t = redis.call('TIME') "
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) "
    "if ARGV[2] == '1' then redis.call('ZADD', KEYS[1], now, ARGV[1]) end "
    "redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', "
    "string.format('(%.0f', now - tonumber(ARGV[3]))) "
    "return redis.call('ZCARD', KEYS[1])";
static const char scalestate_snapshot_lua[] =
    "if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end "
    "redis.call('LPUSH', KEYS[1], ARGV[2]) "
    "redis.call('LTRIM', KEYS[1], 0, tonumber(ARGV[3]) - 1) return 1";

/* What a reply answers; passed to hiredis as the callback's privdata. */
enum scalestate_op {
	OP_AUTH, OP_SELECT, OP_PING,
	OP_TYPE, OP_COUNT, OP_XINFO,
	OP_REPLICAS,
	OP_ACQUIRE, OP_LEASE_TTL, OP_RENEW, OP_SNAPSHOT,
	OP_LEAVE, OP_RELEASE
};

static void scalestate_conn_connect(struct scalestate_conn *);
static void scalestate_conn_fail(struct scalestate_conn *, const char *);
static void scalestate_send(struct scalestate_conn *, enum scalestate_op,
    const char *, ...);
static void scalestate_queue_measure(struct scalestate_conn *, int);

static const char *const scalestate_kind_cmds[] = { "LLEN", "ZCARD",
	"XLEN" };

/* Small helpers */

static uint64_t
scalestate_random(struct scalestate *ss)
{
	/* xorshift64: jitter only, no need for more. */
	ss->rnd ^= ss->rnd << 13;
	ss->rnd ^= ss->rnd >> 7;
	ss->rnd ^= ss->rnd << 17;
	return ss->rnd;
}

static uint64_t
scalestate_ms(uint64_t ns)
{
	return (ns + 999999) / 1000000;
}

static int64_t
scalestate_lease_ms(const struct scalestate *ss)
{
	return (int64_t)scalestate_ms(SCALESTATE_LEASES * ss->interval_ns);
}

void
scalestate_snapshot_format(char *out, int64_t blue, int64_t green,
    int64_t replicas, int64_t wall_ms)
{
	snprintf(out, SCALESTATE_SNAPSHOT_MAX,
	    "{\"queue_length\":%" PRId64 ",\"queue_length_blue\":%" PRId64
	    ",\"queue_length_green\":%" PRId64 ",\"replica_count\":%" PRId64
	    ",\"time\":%" PRId64 ".%03" PRId64 "}", blue + green, blue, green,
	    replicas, wall_ms / 1000, wall_ms % 1000);
}

/* An error that is not an outage: a bad reply, a wrong type. */
static void
scalestate_conn_error(struct scalestate_conn *conn, const char *what,
    const char *detail)
{
	uint64_t suppressed;

	conn->errors++;
	conn->ss->stats.errors++;
	if (log_ratelimit_allow(&conn->error_limit, uv_hrtime(),
	    SCALESTATE_ERROR_LOG_NS, &suppressed))
		log_warn("scalestate: redis error", "redis", conn->name,
		    "what", what, "error", detail, "suppressed",
		    LOG_NUM(suppressed));
}

/* Metrics */

int
scalestate_metrics_attach(struct scalestate *ss, struct metrics_registry *r)
{
	static const char *const labels[] = { "deployment_key", NULL };
	struct metrics_family_spec q = { METRICS_GAUGE,
		"autoscaler_snapshot_queue_length",
		"Queue length (blue plus green) of the last scale measurement.",
		NULL, labels, NULL, 0, 1 };
	struct metrics_family_spec n = { METRICS_GAUGE,
		"autoscaler_snapshot_replica_count",
		"Ready replicas of this deployable at the last measurement.",
		NULL, labels, NULL, 0, 1 };

	static const char *const by_redis[] = { "redis", NULL };
	struct metrics_family_spec e = { METRICS_COUNTER,
		"podpulse_scalestate_errors",
		"Failed Redis connections, timeouts and error replies.",
		NULL, by_redis, NULL, 0, 2 };

	ss->gauge_queue = metrics_family_add(r, &q);
	ss->gauge_replicas = metrics_family_add(r, &n);
	ss->counter_errors = metrics_family_add(r, &e);
	return ss->gauge_queue != NULL && ss->gauge_replicas != NULL &&
	    ss->counter_errors != NULL ? 0 : -1;
}

static void
scalestate_metrics_update(struct scalestate *ss)
{
	unsigned i;

	for (i = 0; ss->counter_errors != NULL && i < ss->nconns; i++)
		metrics_set(metrics_series_get1(ss->counter_errors,
		    ss->conns[i].name), (double)ss->conns[i].errors);
}

/*
 * The autoscaler gauges say what the last snapshot this instance wrote
 * said, and exist only while it writes them: shown when Redis confirms a
 * snapshot, gone when this instance is not the leader or its snapshot
 * could not be written. A scrape therefore never shows a frozen value,
 * and no gauge for a deployable means no snapshots (what an alert on
 * stale snapshots looks for).
 */
static void
scalestate_gauges_show(struct scalestate *ss)
{
	if (ss->gauge_queue == NULL || ss->gauge_replicas == NULL)
		return;
	metrics_set(metrics_series_get1(ss->gauge_queue, ss->deployment_key),
	    (double)ss->written_queue_length);
	metrics_set(metrics_series_get1(ss->gauge_replicas,
	    ss->deployment_key), (double)ss->written_replica_count);
}

static void
scalestate_gauges_clear(struct scalestate *ss)
{
	if (ss->gauge_queue != NULL)
		metrics_family_clear(ss->gauge_queue);
	if (ss->gauge_replicas != NULL)
		metrics_family_clear(ss->gauge_replicas);
}

/*
 * The libuv adapter. hiredis ships one (adapters/libuv.h), but in 0.14 it
 * drops a poll error: libuv reports POLLERR (a refused connect, a reset)
 * as status < 0 and stops the handle, the adapter returns, and hiredis
 * never learns -- a refused connection would hang until the connect
 * timeout. This one hands the error to hiredis (a write while connecting,
 * a read after), which finds the socket error and fails the context. It
 * also frees its state when uv_poll_init fails.
 */
struct scalestate_poll {
	redisAsyncContext *ac;
	uv_poll_t handle;
	int events;
};

static void
scalestate_poll_cb(uv_poll_t *h, int status, int events)
{
	struct scalestate_poll *p = h->data;

	if (status < 0 && p->ac != NULL) {
		if (!(p->ac->c.flags & REDIS_CONNECTED))
			redisAsyncHandleWrite(p->ac);
		else
			redisAsyncHandleRead(p->ac);
		return;
	}
	if (p->ac != NULL && (events & UV_READABLE))
		redisAsyncHandleRead(p->ac);
	if (p->ac != NULL && (events & UV_WRITABLE))
		redisAsyncHandleWrite(p->ac);
}

static void
scalestate_poll_update(struct scalestate_poll *p, int events)
{
	p->events = events;
	if (events != 0)
		uv_poll_start(&p->handle, events, scalestate_poll_cb);
	else
		uv_poll_stop(&p->handle);
}

static void
scalestate_poll_add_read(void *arg)
{
	struct scalestate_poll *p = arg;

	scalestate_poll_update(p, p->events | UV_READABLE);
}

static void
scalestate_poll_del_read(void *arg)
{
	struct scalestate_poll *p = arg;

	scalestate_poll_update(p, p->events & ~UV_READABLE);
}

static void
scalestate_poll_add_write(void *arg)
{
	struct scalestate_poll *p = arg;

	scalestate_poll_update(p, p->events | UV_WRITABLE);
}

static void
scalestate_poll_del_write(void *arg)
{
	struct scalestate_poll *p = arg;

	scalestate_poll_update(p, p->events & ~UV_WRITABLE);
}

static void
scalestate_poll_closed(uv_handle_t *h)
{
	free(h->data);
}

/* hiredis is done with the context: close the poll, free in its callback. */
static void
scalestate_poll_cleanup(void *arg)
{
	struct scalestate_poll *p = arg;

	p->ac = NULL;
	uv_close((uv_handle_t *)&p->handle, scalestate_poll_closed);
}

static int
scalestate_poll_attach(redisAsyncContext *ac, uv_loop_t *loop)
{
	struct scalestate_poll *p;

	if (ac->ev.data != NULL)
		return REDIS_ERR;
	p = xcalloc(1, sizeof(*p));
	if (uv_poll_init(loop, &p->handle, ac->c.fd) != 0) {
		free(p);
		return REDIS_ERR;
	}
	p->ac = ac;
	p->handle.data = p;
	ac->ev.addRead = scalestate_poll_add_read;
	ac->ev.delRead = scalestate_poll_del_read;
	ac->ev.addWrite = scalestate_poll_add_write;
	ac->ev.delWrite = scalestate_poll_del_write;
	ac->ev.cleanup = scalestate_poll_cleanup;
	ac->ev.data = p;
	return REDIS_OK;
}

/* Handles and shutdown */

static void
scalestate_free(struct scalestate *ss)
{
	free(ss->queue_key);
	free(ss->queue_group);
	free(ss->instance_id);
	free(ss->deployment_key);
	free(ss->replicas_key);
	free(ss->leader_key);
	free(ss->snapshots_key);
}

static void
scalestate_closed(struct scalestate *ss)
{
	if (--ss->open_handles > 0 || !ss->closing)
		return;
	scalestate_free(ss);
	ss->done(ss->done_arg);
}

static void
scalestate_timer_closed(uv_handle_t *h)
{
	scalestate_closed(h->data);
}

static void
scalestate_conn_timer_closed(uv_handle_t *h)
{
	struct scalestate_conn *conn = h->data;

	scalestate_closed(conn->ss);
}

static void
scalestate_conn_close_timer(struct scalestate_conn *conn)
{
	if (!uv_is_closing((uv_handle_t *)&conn->timer))
		uv_close((uv_handle_t *)&conn->timer,
		    scalestate_conn_timer_closed);
}

static void
scalestate_reconnect_cb(uv_timer_t *t)
{
	scalestate_conn_connect(t->data);
}

/* reconnect_base doubling up to reconnect_max, with jitter (retry core). */
static uint64_t
scalestate_backoff_ms(struct scalestate_conn *conn)
{
	struct scalestate *ss = conn->ss;
	struct retry_policy p;

	p.base_ns = ss->reconnect_base_ns;
	p.max_ns = ss->reconnect_max_ns;
	p.max_attempts = 0;	/* reconnection never gives up */
	return scalestate_ms(retry_backoff(&p, conn->failures,
	    scalestate_random(ss)));
}

/* Free the context; from a timer, so never inside a hiredis callback. */
static void
scalestate_conn_free_cb(uv_timer_t *t)
{
	struct scalestate_conn *conn = t->data;
	struct redisAsyncContext *ac = conn->ac;

	conn->ac = NULL;
	conn->state = SCALESTATE_DOWN;
	if (ac != NULL)
		redisAsyncFree(ac);
	if (conn->ss->closing) {
		scalestate_conn_close_timer(conn);
		return;
	}
	conn->failures++;
	uv_timer_start(&conn->timer, scalestate_reconnect_cb,
	    scalestate_backoff_ms(conn), 0);
}

static void
scalestate_conn_drop(struct scalestate_conn *conn)
{
	if (uv_is_closing((uv_handle_t *)&conn->timer))
		return;
	conn->state = SCALESTATE_DOWN;
	uv_timer_start(&conn->timer, scalestate_conn_free_cb, 0, 0);
}

/*
 * A failure of the connection itself. The first of a streak logs the
 * outage; the context is then dropped and retried after a backoff.
 */
static void
scalestate_conn_fail(struct scalestate_conn *conn, const char *why)
{
	conn->errors++;
	conn->ss->stats.errors++;
	if (!conn->outage && !conn->ss->closing) {
		conn->outage = 1;
		log_warn("scalestate: redis unreachable; retrying with backoff",
		    "redis", conn->name, "address", conn->where, "error", why);
	} else
		log_debug("scalestate: redis attempt failed", "redis",
		    conn->name, "error", why);
	scalestate_conn_drop(conn);
}

/* Cycle */

static void
scalestate_snapshot_write(struct scalestate *ss)
{
	struct scalestate_conn *blue = &ss->conns[SCALESTATE_BLUE];
	struct scalestate_conn *green = &ss->conns[1];
	char json[SCALESTATE_SNAPSHOT_MAX], max[32];
	int64_t g = 0;

	if (ss->nconns > 1 && green->queue_length > 0)
		g = green->queue_length;
	scalestate_snapshot_format(json, blue->queue_length, g,
	    ss->stats.replica_count, timeutil_wall_ms());
	ss->written_queue_length = blue->queue_length + g;
	ss->written_replica_count = ss->stats.replica_count;
	snprintf(max, sizeof max, "%" PRId64, ss->max_snapshots);
	scalestate_send(blue, OP_SNAPSHOT, "EVAL %s 2 %s %s %s %s %s",
	    scalestate_snapshot_lua, ss->snapshots_key, ss->leader_key,
	    ss->instance_id, json, max);
}

/* Every instance of this cycle answered (or failed). */
static void
scalestate_cycle_finish(struct scalestate *ss)
{
	struct scalestate_conn *blue = &ss->conns[SCALESTATE_BLUE];
	int64_t green = -1;

	if (ss->nconns > 1)
		green = ss->conns[1].queue_length;
	if (blue->queue_length >= 0 || green >= 0) {
		ss->stats.queue_length_blue = blue->queue_length;
		ss->stats.queue_length_green = green;
		ss->stats.queue_length = (blue->queue_length > 0 ?
		    blue->queue_length : 0) + (green > 0 ? green : 0);
	}
	scalestate_metrics_update(ss);
	/* Blue holds the lease and the list: without it there is nothing. */
	if (ss->leader && blue->state == SCALESTATE_READY &&
	    blue->queue_length >= 0 && ss->stats.replica_count >= 0 &&
	    !ss->closing)
		scalestate_snapshot_write(ss);
	else
		scalestate_gauges_clear(ss);
}

/* The last reply of a connection came in. */
static void
scalestate_conn_idle(struct scalestate_conn *conn)
{
	struct scalestate *ss = conn->ss;

	if (conn->state == SCALESTATE_READY)
		uv_timer_stop(&conn->timer);
	if (conn->in_cycle) {
		conn->in_cycle = 0;
		if (--ss->cycle_pending == 0)
			scalestate_cycle_finish(ss);
	}
	if (ss->closing && conn->pending == 0)
		scalestate_conn_drop(conn);
}

static void
scalestate_command_timeout_cb(uv_timer_t *t)
{
	scalestate_conn_fail(t->data, "command timeout: no reply in time");
}

/*
 * Try to take the lease; with ttl, also ask when the holder's lease ends,
 * so that a follower can try again right then instead of at its next
 * interval: a dead leader is replaced within 3 intervals of its last
 * renewal, not 4.
 */
static void
scalestate_acquire(struct scalestate_conn *blue, int ttl)
{
	struct scalestate *ss = blue->ss;

	scalestate_send(blue, OP_ACQUIRE, "SET %s %s NX PX %" PRId64,
	    ss->leader_key, ss->instance_id, scalestate_lease_ms(ss));
	if (ttl)
		scalestate_send(blue, OP_LEASE_TTL, "PTTL %s", ss->leader_key);
}

static void
scalestate_takeover_cb(uv_timer_t *t)
{
	struct scalestate *ss = t->data;
	struct scalestate_conn *blue = &ss->conns[SCALESTATE_BLUE];

	if (!ss->leader && !ss->closing && blue->state == SCALESTATE_READY)
		scalestate_acquire(blue, 0);
}

static void
scalestate_conn_batch(struct scalestate_conn *conn)
{
	struct scalestate *ss = conn->ss;

	conn->in_cycle = 1;
	conn->queue_length = -1;
	ss->cycle_pending++;
	if (ss->queue_key[0] == '\0')
		conn->queue_length = 0;
	else
		scalestate_queue_measure(conn, ss->queue_kind);
	if (conn == &ss->conns[SCALESTATE_BLUE]) {
		ss->stats.replica_count = -1;
		scalestate_send(conn, OP_REPLICAS, "EVAL %s 1 %s %s %d %"
		    PRId64, scalestate_replicas_lua, ss->replicas_key,
		    ss->instance_id, ss->setup_ready,
		    scalestate_lease_ms(ss));
		if (ss->leader)
			scalestate_send(conn, OP_RENEW, "EVAL %s 1 %s %s %"
			    PRId64, scalestate_renew_lua, ss->leader_key,
			    ss->instance_id, scalestate_lease_ms(ss));
		else
			scalestate_acquire(conn, 1);
	}
	if (conn->pending == 0)
		scalestate_conn_idle(conn);
}

static void scalestate_tick_cb(uv_timer_t *t);

static void
scalestate_tick_arm(struct scalestate *ss)
{
	uint64_t now = uv_hrtime();

	/* A missed interval is skipped, not made up. */
	while (ss->next_ns <= now)
		ss->next_ns += ss->interval_ns;
	uv_update_time(ss->loop);
	uv_timer_start(&ss->tick, scalestate_tick_cb,
	    scalestate_ms(ss->next_ns - now), 0);
}

static void
scalestate_tick_cb(uv_timer_t *t)
{
	struct scalestate *ss = t->data;
	unsigned i;

	if (uv_hrtime() + 1000000 < ss->next_ns) {
		/* Fired early (ms rounding): wait for the deadline. */
		scalestate_tick_arm(ss);
		return;
	}
	ss->stats.cycles++;
	scalestate_metrics_update(ss);
	if (ss->cycle_pending > 0)
		log_debug("scalestate: previous cycle still waiting");
	/* Blue holds the snapshot list: down, there is no snapshot now. */
	if (ss->conns[SCALESTATE_BLUE].state != SCALESTATE_READY)
		scalestate_gauges_clear(ss);
	for (i = 0; i < ss->nconns; i++) {
		/* An instance that is down measures nothing this time. */
		if (ss->conns[i].state != SCALESTATE_READY)
			ss->conns[i].queue_length = -1;
		else if (!ss->conns[i].in_cycle)
			scalestate_conn_batch(&ss->conns[i]);
	}
	/* This deadline is served even when the timer fired a little early. */
	ss->next_ns += ss->interval_ns;
	scalestate_tick_arm(ss);
}

/* Replies */

static int
scalestate_reply_int(struct scalestate_conn *conn, const redisReply *r,
    const char *what, int64_t *out)
{
	if (r->type == REDIS_REPLY_INTEGER) {
		*out = (int64_t)r->integer;
		return 0;
	}
	scalestate_conn_error(conn, what, r->type == REDIS_REPLY_ERROR ?
	    r->str : "unexpected reply type");
	return -1;
}

static void
scalestate_on_type(struct scalestate_conn *conn, const redisReply *r)
{
	static const struct {
		const char *type;
		int kind;
	} kinds[] = { { "list", CONFIG_QUEUE_LIST },
		{ "zset", CONFIG_QUEUE_ZSET },
		{ "stream", CONFIG_QUEUE_STREAM } };
	size_t i;

	if (r->type != REDIS_REPLY_STATUS) {
		scalestate_conn_error(conn, "TYPE", r->type ==
		    REDIS_REPLY_ERROR ? r->str : "unexpected reply type");
		return;
	}
	if (strcmp(r->str, "none") == 0) {
		conn->queue_length = 0;
		return;
	}
	for (i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
		if (strcmp(r->str, kinds[i].type) == 0) {
			scalestate_queue_measure(conn, kinds[i].kind);
			return;
		}
	}
	scalestate_conn_error(conn, "queue key", "the queue key is not a "
	    "list, zset or stream");
}

static void
scalestate_on_count(struct scalestate_conn *conn, const redisReply *r)
{
	int64_t n;

	if (scalestate_reply_int(conn, r, "queue length", &n) == 0)
		conn->queue_length = n;
}

/* One group of XINFO GROUPS: name, lag and pending, in field/value pairs. */
static int
scalestate_group_length(const redisReply *g, const char *group,
    int64_t *n)
{
	const redisReply *k, *v;
	int64_t total = 0;
	int mine = 0, lag = 0;
	size_t i;

	if (g->type != REDIS_REPLY_ARRAY)
		return -1;
	for (i = 0; i + 1 < g->elements; i += 2) {
		k = g->element[i];
		v = g->element[i + 1];
		if (k->type != REDIS_REPLY_STRING &&
		    k->type != REDIS_REPLY_STATUS)
			return -1;
		if (strcmp(k->str, "name") == 0)
			mine = v->type == REDIS_REPLY_STRING &&
			    strcmp(v->str, group) == 0;
		else if ((strcmp(k->str, "lag") == 0 ||
		    strcmp(k->str, "pending") == 0) &&
		    v->type == REDIS_REPLY_INTEGER) {
			total += (int64_t)v->integer;
			lag |= strcmp(k->str, "lag") == 0;
		}
	}
	if (!mine)
		return 1;
	*n = total;
	/* Redis leaves lag nil when it cannot compute it (entries deleted
	 * before delivery) and before 7 sends none: pending only, then. */
	return lag ? 0 : 2;
}

static void
scalestate_on_xinfo(struct scalestate_conn *conn, const redisReply *r)
{
	const char *group = conn->ss->queue_group;
	size_t i;
	int64_t n;
	int rc;

	if (r->type == REDIS_REPLY_ERROR && strstr(r->str, "no such key")) {
		conn->queue_length = 0;
		return;
	}
	if (r->type != REDIS_REPLY_ARRAY) {
		scalestate_conn_error(conn, "XINFO GROUPS", r->type ==
		    REDIS_REPLY_ERROR ? r->str : "unexpected reply type");
		return;
	}
	for (i = 0; i < r->elements; i++) {
		rc = scalestate_group_length(r->element[i], group, &n);
		if (rc == 2)
			scalestate_conn_error(conn, "XINFO GROUPS", "the group's "
			    "lag is unknown (Redis < 7, or entries deleted "
			    "before delivery): only its pending entries count");
		if (rc == 0 || rc == 2) {
			conn->queue_length = n;
			return;
		}
		if (rc < 0) {
			scalestate_conn_error(conn, "XINFO GROUPS",
			    "unexpected reply shape");
			return;
		}
	}
	/* No such group yet: nothing was delivered to it, nothing waits. */
	conn->queue_length = 0;
}

static void
scalestate_on_replicas(struct scalestate_conn *conn, const redisReply *r)
{
	int64_t n;

	if (scalestate_reply_int(conn, r, "replica count", &n) == 0)
		conn->ss->stats.replica_count = n;
}

static void
scalestate_leader_set(struct scalestate *ss, int leader)
{
	if (leader == ss->leader)
		return;
	ss->leader = ss->stats.leader = leader;
	log_info(leader ? "scalestate: this instance now writes the scale "
	    "snapshots" : "scalestate: this instance no longer writes the "
	    "scale snapshots", "deployment_key", ss->deployment_key);
}

static void
scalestate_on_acquire(struct scalestate_conn *conn, const redisReply *r)
{
	if (r->type == REDIS_REPLY_STATUS && strcmp(r->str, "OK") == 0)
		scalestate_leader_set(conn->ss, 1);
	else if (r->type == REDIS_REPLY_NIL)
		return;	/* held, maybe by us (a takeover raced a cycle) */
	else
		scalestate_conn_error(conn, "leader lease", r->type ==
		    REDIS_REPLY_ERROR ? r->str : "unexpected reply type");
}

/* The holder's lease ends before our next interval: be there. */
static void
scalestate_on_lease_ttl(struct scalestate_conn *conn, const redisReply *r)
{
	struct scalestate *ss = conn->ss;
	int64_t ms;

	if (scalestate_reply_int(conn, r, "leader lease", &ms) != 0 ||
	    ss->leader || ms < 0 || (uint64_t)ms * 1000000 >= ss->interval_ns)
		return;
	uv_timer_start(&ss->takeover, scalestate_takeover_cb,
	    (uint64_t)ms + 1, 0);
}

static void
scalestate_on_renew(struct scalestate_conn *conn, const redisReply *r)
{
	int64_t n;

	if (scalestate_reply_int(conn, r, "leader lease", &n) == 0)
		scalestate_leader_set(conn->ss, n == 1);
}

static void
scalestate_on_snapshot(struct scalestate_conn *conn, const redisReply *r)
{
	int64_t n;

	if (scalestate_reply_int(conn, r, "snapshot", &n) != 0) {
		scalestate_gauges_clear(conn->ss);
		return;
	}
	if (n == 1) {
		conn->ss->stats.snapshots++;
		scalestate_gauges_show(conn->ss);
	} else {
		scalestate_gauges_clear(conn->ss);
		scalestate_leader_set(conn->ss, 0);
	}
}

/* Replies whose only meaning is "not an error". */
static void
scalestate_on_plain(struct scalestate_conn *conn, const redisReply *r)
{
	if (r->type == REDIS_REPLY_ERROR)
		scalestate_conn_error(conn, "command", r->str);
}

static void
scalestate_on_handshake(struct scalestate_conn *conn, const redisReply *r)
{
	if (r->type == REDIS_REPLY_ERROR)
		scalestate_conn_fail(conn, r->str);
}

static void
scalestate_on_ping(struct scalestate_conn *conn, const redisReply *r)
{
	if (r->type == REDIS_REPLY_ERROR) {
		scalestate_conn_fail(conn, r->str);
		return;
	}
	if (conn->state != SCALESTATE_CONNECTING)
		return;
	conn->state = SCALESTATE_READY;
	conn->failures = 0;
	uv_timer_stop(&conn->timer);
	if (conn->outage) {
		conn->outage = 0;
		log_info("scalestate: redis reachable again", "redis",
		    conn->name, "address", conn->where);
	} else
		log_info("scalestate: connected to redis", "redis", conn->name,
		    "address", conn->where);
}

typedef void (*scalestate_reply_fn)(struct scalestate_conn *,
    const redisReply *);

static const scalestate_reply_fn scalestate_replies[] = {
	[OP_AUTH] = scalestate_on_handshake,
	[OP_SELECT] = scalestate_on_handshake,
	[OP_PING] = scalestate_on_ping,
	[OP_TYPE] = scalestate_on_type,
	[OP_COUNT] = scalestate_on_count,
	[OP_XINFO] = scalestate_on_xinfo,
	[OP_REPLICAS] = scalestate_on_replicas,
	[OP_ACQUIRE] = scalestate_on_acquire,
	[OP_LEASE_TTL] = scalestate_on_lease_ttl,
	[OP_RENEW] = scalestate_on_renew,
	[OP_SNAPSHOT] = scalestate_on_snapshot,
	[OP_LEAVE] = scalestate_on_plain,
	[OP_RELEASE] = scalestate_on_plain,
};

static void
scalestate_reply_cb(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct scalestate_conn *conn = ac->data;
	enum scalestate_op op = (enum scalestate_op)(uintptr_t)privdata;

	if (reply != NULL && conn->ac == ac)
		scalestate_replies[op](conn, reply);
	else if (op == OP_SNAPSHOT)
		scalestate_gauges_clear(conn->ss);	/* lost with the link */
	if (--conn->pending == 0)
		scalestate_conn_idle(conn);
}

static void
scalestate_send(struct scalestate_conn *conn, enum scalestate_op op,
    const char *fmt, ...)
{
	va_list ap;
	int r;

	if (conn->ac == NULL)
		return;
	va_start(ap, fmt);
	r = redisvAsyncCommand(conn->ac, scalestate_reply_cb,
	    (void *)(uintptr_t)op, fmt, ap);
	va_end(ap);
	if (r != REDIS_OK) {
		scalestate_conn_fail(conn, "cannot send a command");
		return;
	}
	if (conn->pending++ == 0 && conn->state == SCALESTATE_READY)
		uv_timer_start(&conn->timer, scalestate_command_timeout_cb,
		    scalestate_ms(conn->ss->command_timeout_ns), 0);
}

static void
scalestate_queue_measure(struct scalestate_conn *conn, int kind)
{
	struct scalestate *ss = conn->ss;

	if (kind == CONFIG_QUEUE_AUTO)
		scalestate_send(conn, OP_TYPE, "TYPE %s", ss->queue_key);
	else if (kind == CONFIG_QUEUE_STREAM && ss->queue_group[0] != '\0')
		scalestate_send(conn, OP_XINFO, "XINFO GROUPS %s",
		    ss->queue_key);
	else
		scalestate_send(conn, OP_COUNT, "%s %s",
		    scalestate_kind_cmds[kind], ss->queue_key);
}

/* Connecting */

static void
scalestate_connect_timeout_cb(uv_timer_t *t)
{
	scalestate_conn_fail(t->data, "connect timeout");
}

static void
scalestate_handshake(struct scalestate_conn *conn)
{
	const struct redis_url *u = &conn->url;

	if (u->password[0] != '\0' && u->user[0] != '\0')
		scalestate_send(conn, OP_AUTH, "AUTH %s %s", u->user,
		    u->password);
	else if (u->password[0] != '\0')
		scalestate_send(conn, OP_AUTH, "AUTH %s", u->password);
	if (u->db != 0)
		scalestate_send(conn, OP_SELECT, "SELECT %d", u->db);
	scalestate_send(conn, OP_PING, "PING");
}

static void
scalestate_connect_cb(const redisAsyncContext *cac, int status)
{
	struct scalestate_conn *conn = cac->data;

	if (conn->ac != cac)
		return;
	if (status != REDIS_OK) {
		/* hiredis frees the context after this callback. */
		conn->ac = NULL;
		scalestate_conn_fail(conn, cac->errstr[0] != '\0' ?
		    cac->errstr : "connection failed");
		return;
	}
	scalestate_handshake(conn);
}

static void
scalestate_disconnect_cb(const redisAsyncContext *cac, int status)
{
	struct scalestate_conn *conn = cac->data;

	if (conn->ac != cac)
		return;
	/* hiredis frees the context after this callback. */
	conn->ac = NULL;
	if (conn->ss->closing) {
		scalestate_conn_drop(conn);
		return;
	}
	scalestate_conn_fail(conn, cac->errstr[0] != '\0' ? cac->errstr :
	    "connection closed");
}

/* Connect to an address hiredis can use without a lookup. */
static void
scalestate_conn_open(struct scalestate_conn *conn, const char *host)
{
	redisAsyncContext *ac;
	const char *why = NULL;

	if (conn->url.is_unix)
		ac = redisAsyncConnectUnix(conn->url.path);
	else
		ac = redisAsyncConnect(host, conn->url.port);
	if (ac == NULL)
		why = "out of memory";
	else if (ac->err != 0)
		why = ac->errstr;
	else if (scalestate_poll_attach(ac, conn->ss->loop) != REDIS_OK)
		why = "cannot attach to the loop";
	if (why != NULL) {
		conn->ac = ac;
		scalestate_conn_fail(conn, why);
		return;
	}
	ac->data = conn;
	redisAsyncSetConnectCallback(ac, scalestate_connect_cb);
	redisAsyncSetDisconnectCallback(ac, scalestate_disconnect_cb);
	conn->ac = ac;
}

static void
scalestate_resolved_cb(uv_getaddrinfo_t *req, int status,
    struct addrinfo *res)
{
	struct scalestate_conn *conn = req->data;
	char ip[INET6_ADDRSTRLEN] = "";
	struct addrinfo *a;
	unsigned n;

	conn->resolving = 0;
	/* Timed out, or shutting down, while the lookup ran: drop it. */
	if (conn->ss->closing || conn->state != SCALESTATE_CONNECTING ||
	    conn->ac != NULL) {
		uv_freeaddrinfo(res);
		return;
	}
	if (status == 0) {
		/* Each attempt takes the next address ("localhost": ::1, then
		 * 127.0.0.1), so one that refuses does not hide the others. */
		for (n = 0, a = res; a != NULL; a = a->ai_next)
			n++;
		for (a = res, n = conn->failures % n; n > 0; n--)
			a = a->ai_next;
		if (a->ai_family == AF_INET6)
			uv_ip6_name((struct sockaddr_in6 *)a->ai_addr, ip,
			    sizeof ip);
		else
			uv_ip4_name((struct sockaddr_in *)a->ai_addr, ip,
			    sizeof ip);
	}
	uv_freeaddrinfo(res);
	if (status != 0) {
		scalestate_conn_fail(conn, uv_strerror(status));
		return;
	}
	scalestate_conn_open(conn, ip);
}

static int
scalestate_host_numeric(const char *host)
{
	unsigned char buf[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, host, buf) == 1 ||
	    inet_pton(AF_INET6, host, buf) == 1;
}

/*
 * hiredis resolves a host name with a blocking getaddrinfo(), so a name
 * is looked up on libuv's thread pool first and hiredis gets the address.
 * connect_timeout covers the lookup too.
 */
static void
scalestate_conn_connect(struct scalestate_conn *conn)
{
	static const struct addrinfo hints = { .ai_family = AF_UNSPEC,
		.ai_socktype = SOCK_STREAM };
	int r;

	if (conn->resolving) {
		/* The last lookup still runs: try again later. */
		scalestate_conn_fail(conn, "name lookup still running");
		return;
	}
	conn->state = SCALESTATE_CONNECTING;
	uv_timer_start(&conn->timer, scalestate_connect_timeout_cb,
	    scalestate_ms(conn->ss->connect_timeout_ns), 0);
	if (conn->url.is_unix || scalestate_host_numeric(conn->url.host)) {
		scalestate_conn_open(conn, conn->url.host);
		return;
	}
	conn->gai.data = conn;
	r = uv_getaddrinfo(conn->ss->loop, &conn->gai, scalestate_resolved_cb,
	    conn->url.host, NULL, &hints);
	if (r != 0) {
		scalestate_conn_fail(conn, uv_strerror(r));
		return;
	}
	conn->resolving = 1;
}

/* Start and stop */

static int
scalestate_conn_init(struct scalestate *ss, struct scalestate_conn *conn,
    const char *name, const char *url, char *err, size_t size)
{
	char why[128];

	memset(conn, 0, sizeof(*conn));
	conn->ss = ss;
	conn->name = name;
	conn->queue_length = -1;
	if (redis_url_parse(url, &conn->url, why, sizeof why) != 0) {
		snprintf(err, size, "scalestate %s URL: %s", name, why);
		return -1;
	}
	redis_url_describe(&conn->url, conn->where, sizeof conn->where);
	uv_timer_init(ss->loop, &conn->timer);
	conn->timer.data = conn;
	ss->open_handles++;
	return 0;
}

static void
scalestate_keys(struct scalestate *ss, const struct config *c)
{
	const char *k = c->identity_deployment_key;

	ss->deployment_key = xstrdup(k);
	xasprintf(&ss->replicas_key, "podpulse:replicas:%s", k);
	xasprintf(&ss->leader_key, "podpulse:leader:%s", k);
	xasprintf(&ss->snapshots_key, "scalestate:%s", k);
	ss->queue_key = xstrdup(c->scalestate_queue_key);
	ss->queue_group = xstrdup(c->scalestate_queue_group);
}

int
scalestate_init(struct scalestate *ss, uv_loop_t *loop,
    const struct config *c, const char *instance_id, char *err,
    size_t size)
{
	unsigned i;

	memset(ss, 0, sizeof(*ss));
	ss->stats.queue_length = ss->stats.replica_count = -1;
	ss->stats.queue_length_blue = ss->stats.queue_length_green = -1;
	if (c->scalestate_redis_url[0] == '\0')
		return 0;
	ss->loop = loop;
	ss->interval_ns = (uint64_t)c->scalestate_interval;
	ss->connect_timeout_ns = (uint64_t)c->scalestate_connect_timeout;
	ss->command_timeout_ns = (uint64_t)c->scalestate_command_timeout;
	ss->reconnect_base_ns = (uint64_t)c->scalestate_reconnect_base;
	ss->reconnect_max_ns = (uint64_t)c->scalestate_reconnect_max;
	ss->queue_kind = c->scalestate_queue_kind;
	ss->max_snapshots = c->scalestate_max_snapshots;
	ss->instance_id = xstrdup(instance_id);
	ss->rnd = uv_hrtime() ^ ((uint64_t)getpid() << 32) ^ 0x9e3779b97f4a7c15ull;
	if (scalestate_conn_init(ss, &ss->conns[0], "blue",
	    c->scalestate_redis_url, err, size) != 0)
		return -1;
	ss->nconns = 1;
	if (c->scalestate_redis_green_url[0] != '\0') {
		if (scalestate_conn_init(ss, &ss->conns[1], "green",
		    c->scalestate_redis_green_url, err, size) != 0)
			return -1;
		ss->nconns = 2;
	}
	scalestate_keys(ss, c);
	ss->enabled = 1;
	uv_timer_init(loop, &ss->tick);
	ss->tick.data = ss;
	uv_timer_init(loop, &ss->takeover);
	ss->takeover.data = ss;
	ss->open_handles += 2;
	for (i = 0; i < ss->nconns; i++)
		scalestate_conn_connect(&ss->conns[i]);
	ss->next_ns = uv_hrtime();
	scalestate_tick_arm(ss);
	log_info("scalestate: started", "deployment_key", ss->deployment_key,
	    "instance_id", ss->instance_id, "blue", ss->conns[0].where,
	    "green", ss->nconns > 1 ? ss->conns[1].where : "",
	    "interval_ms", LOG_NUM(ss->interval_ns / 1000000));
	return 0;
}

void
scalestate_setup_set(struct scalestate *ss, int ready)
{
	ss->setup_ready = ready;
}

static void
scalestate_leave(struct scalestate_conn *blue)
{
	struct scalestate *ss = blue->ss;

	scalestate_send(blue, OP_LEAVE, "ZREM %s %s", ss->replicas_key,
	    ss->instance_id);
	scalestate_send(blue, OP_RELEASE, "EVAL %s 1 %s %s",
	    scalestate_release_lua, ss->leader_key, ss->instance_id);
}

void
scalestate_close(struct scalestate *ss, void (*done)(void *), void *arg)
{
	struct scalestate_conn *conn;
	unsigned i;

	if (!ss->enabled) {
		done(arg);
		return;
	}
	ss->enabled = 0;
	ss->closing = 1;
	ss->done = done;
	ss->done_arg = arg;
	uv_close((uv_handle_t *)&ss->tick, scalestate_timer_closed);
	uv_close((uv_handle_t *)&ss->takeover, scalestate_timer_closed);
	for (i = 0; i < ss->nconns; i++) {
		conn = &ss->conns[i];
		/* A lookup in the thread pool would hold the loop, and so the
		 * exit, until the resolver gives up: cancel it (its callback
		 * runs with UV_ECANCELED and sees closing). */
		if (conn->resolving)
			uv_cancel((uv_req_t *)&conn->gai);
		if (i == SCALESTATE_BLUE && conn->state == SCALESTATE_READY)
			scalestate_leave(conn);
		if (conn->pending > 0)
			uv_timer_start(&conn->timer,
			    scalestate_command_timeout_cb,
			    scalestate_ms(ss->command_timeout_ns), 0);
		else
			scalestate_conn_drop(conn);
	}
}
