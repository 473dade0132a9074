/*
 * scalestate -- scale snapshots in Redis (SPEC section 4): queue length on
 * blue and green, the ready-replica registry, the leader lease and the
 * snapshot list, on hiredis's async API attached to the daemon's loop.
 *
 * A shell: it owns one uv_timer for the interval (one-shot, re-armed to
 * absolute deadlines), one to take over an expiring leader lease, and,
 * per Redis instance, a connection with its own uv_timer (connect
 * timeout, command timeout, reconnect backoff). Nothing
 * blocks: a Redis that does not answer within command_timeout is dropped
 * and reconnected with backoff, like one that refuses or disconnects.
 * Blue and green are independent: green being down never stops blue.
 *
 * Every interval a cycle runs: each connected instance measures the queue;
 * blue also heartbeats this replica (when setup is ready), drops replicas
 * older than three intervals, counts them, and takes or renews the leader
 * lease. When every instance has answered, the leader writes one snapshot
 * (LPUSH + LTRIM in one script that first checks the lease is still ours,
 * so two writers can never push for the same interval).
 */
#ifndef PODPULSE_SCALESTATE_H
#define PODPULSE_SCALESTATE_H

#include <stdint.h>

#include <uv.h>

#include "config.h"
#include "log.h"
#include "redis_url.h"

struct redisAsyncContext;
struct metrics_registry;
struct metrics_family;
struct scalestate;

enum scalestate_conn_state {
	SCALESTATE_DOWN,	/* waiting to reconnect */
	SCALESTATE_CONNECTING,	/* TCP, AUTH, SELECT, PING */
	SCALESTATE_READY
};

struct scalestate_conn {
	struct scalestate *ss;
	const char *name;		/* "blue", "green" */
	struct redis_url url;
	char where[REDIS_URL_HOST_MAX + 32];
	struct redisAsyncContext *ac;
	enum scalestate_conn_state state;
	uv_timer_t timer;
	uv_getaddrinfo_t gai;		/* host name lookup */
	int resolving;			/* gai is in flight */
	unsigned failures;		/* in a row, for the backoff */
	int outage;			/* the outage was logged */
	int in_cycle;			/* the batch of this cycle is out */
	unsigned pending;		/* replies outstanding */
	int64_t queue_length;		/* this cycle; -1 unknown */
	uint64_t errors;
	struct log_ratelimit error_limit;
};

struct scalestate_stats {
	uint64_t errors;		/* all failures, both instances */
	uint64_t snapshots;		/* written by this instance */
	uint64_t cycles;
	int64_t queue_length;		/* last measured; -1 never */
	int64_t queue_length_blue;
	int64_t queue_length_green;
	int64_t replica_count;		/* last counted; -1 never */
	int leader;
};

struct scalestate {
	int enabled;
	uv_loop_t *loop;
	struct scalestate_conn conns[2];	/* blue, green */
	unsigned nconns;
	uv_timer_t tick;
	uv_timer_t takeover;		/* retry the lease when it ends */
	uint64_t next_ns;
	uint64_t interval_ns;
	uint64_t connect_timeout_ns;
	uint64_t command_timeout_ns;
	uint64_t reconnect_base_ns;
	uint64_t reconnect_max_ns;
	int queue_kind;			/* enum config_queue_kind */
	int64_t max_snapshots;
	char *queue_key;
	char *queue_group;
	char *instance_id;
	char *deployment_key;
	char *replicas_key;
	char *leader_key;
	char *snapshots_key;
	int setup_ready;
	int leader;
	unsigned cycle_pending;		/* instances yet to answer */
	uint64_t rnd;
	struct scalestate_stats stats;
	int64_t written_queue_length;	/* of the snapshot last sent */
	int64_t written_replica_count;
	struct metrics_family *gauge_queue;
	struct metrics_family *gauge_replicas;
	struct metrics_family *counter_errors;
	/* Shutdown */
	int closing;
	unsigned open_handles;
	void (*done)(void *);
	void *done_arg;
};

/*
 * Start when scalestate.redis_url is set (else stay disabled, no handle).
 * Returns 0, or -1 with a reason in err (a bad URL: exit status 2).
 */
int scalestate_init(struct scalestate *ss, uv_loop_t *loop,
    const struct config *c, const char *instance_id, char *err,
    size_t size);

/* Setup finished: only a ready replica heartbeats. */
void scalestate_setup_set(struct scalestate *ss, int ready);

/*
 * Register the two gauges (autoscaler_snapshot_queue_length and
 * autoscaler_snapshot_replica_count, labelled deployment_key) and the
 * counter podpulse_scalestate_errors (label redis: blue, green) in r;
 * they are updated at every interval. r must outlive the loop. Returns 0
 * or -1.
 */
int scalestate_metrics_attach(struct scalestate *ss,
    struct metrics_registry *r);

/*
 * Leave: remove this replica from the registry and release the lease
 * (bounded by command_timeout), close everything, then call done(arg).
 * done may be called before this returns when there is nothing to wait for.
 */
void scalestate_close(struct scalestate *ss, void (*done)(void *),
    void *arg);

/*
 * The snapshot as the leader writes it (SPEC section 4); out holds at
 * least SCALESTATE_SNAPSHOT_MAX bytes.
 */
#define SCALESTATE_SNAPSHOT_MAX 256
void scalestate_snapshot_format(char *out, int64_t blue, int64_t green,
    int64_t replicas, int64_t wall_ms);

#endif
