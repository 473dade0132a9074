/*
 * outbox -- reports on their way to the report server over HTTP(S).
 *
 * One queue per kind of report, each sent strictly in order: only its
 * oldest report is in flight, the next goes once that one is delivered
 * or rejected. That keeps the sequence order the server sees without
 * reordering logic, at the cost of one request at a time per kind --
 * plenty for one report per interval.
 *
 * A failed attempt is judged by the retry core (retry.h); the queue then
 * waits on its own timer. After report.max_attempts failures a cycle
 * ends: the report stays pending and a new cycle starts after retry_max.
 * Beyond report.max_pending reports per kind the oldest that is not in
 * flight is dropped and counted.
 *
 * With a spool (spool.h) each report is on disk before its first send and
 * removed after a 2xx or a rejection; the spooled reports of an earlier
 * run are queued first, in order.
 *
 * The configuration is read at each send (URL, timeout, CA file, token,
 * retry policy), so a SIGHUP reload applies to the next attempt. The
 * bearer token of report.auth_token_file is re-read when the file's
 * inode, size or mtime changes; if it cannot be read the old token stays.
 *
 * Closing (shutdown) keeps delivering until every queue is empty; abort
 * (grace elapsed, second signal) cancels what is in flight and leaves the
 * rest in the spool, or drops and counts it without one.
 */
#ifndef PODPULSE_OUTBOX_H
#define PODPULSE_OUTBOX_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <uv.h>

#include "config.h"
#include "delivery.h"
#include "http_client.h"
#include "spool.h"

struct outbox_item;

struct outbox_queue {
	struct outbox *outbox;
	enum reporter_kind kind;
	struct outbox_item *head;
	struct outbox_item *tail;
	size_t len;
	int in_flight;			/* head is being sent */
	unsigned failures;		/* failed attempts this cycle */
	int failing;			/* in a failure streak (logged once) */
	uv_timer_t timer;		/* waits before the next attempt */
};

struct outbox_token {
	char *value;			/* from the file; NULL: none read */
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
	int failing;
};

struct outbox {
	uv_loop_t *loop;
	const struct config *cfg;	/* the daemon's, read at each send */
	struct delivery_counters *counters;
	struct http_client http;
	struct outbox_queue queues[REPORTER_KINDS];
	struct spool spool;
	int spooling;
	struct outbox_token token;
	uint64_t rnd;
	int closing;
	int aborted;			/* no more attempts */
	int finished;			/* handles are closing */
	size_t handles;			/* timers + client not yet closed */
	void (*closed_cb)(void *arg);
	void *closed_arg;
	void (*changed_cb)(void *arg);	/* pending count changed */
	void *changed_arg;
};

/*
 * Open the client and the spool (report.spool_dir), queue spooled
 * reports. 0, or -1 with err set (the daemon exits 2).
 */
int outbox_init(struct outbox *o, uv_loop_t *loop, const struct config *cfg,
    struct delivery_counters *counters, char *err, size_t size);

/* Read the token file as at a send; 0, or -1 with err set. */
int outbox_token_check(const char *path, char *err, size_t size);

/* Queue a report; takes ownership of body (malloc'd, len bytes). */
void outbox_submit(struct outbox *o, enum reporter_kind kind,
    const char *key, char *body, size_t len);

size_t outbox_pending(const struct outbox *o);

/* Reports that would be lost now: pending and not on disk. */
size_t outbox_unspooled(const struct outbox *o);

/* Deliver what is queued, then close; cb runs when all is closed. */
void outbox_close(struct outbox *o, void (*cb)(void *arg), void *arg);

/* Stop delivering now; what is pending stays spooled or is dropped. */
void outbox_abort(struct outbox *o);

#endif
