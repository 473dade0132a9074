/*
 * predictions -- the table of pending and in-flight predictions (SPEC 2).
 *
 * A pure core. Each record holds the id, the owner (the connection that
 * enqueued or started it), its enqueue and start times (monotonic ns) and
 * its k=v attributes, all in one allocation. Lookups are by id through a
 * chained hash table that doubles as it fills; the table never holds more
 * than `max` records (pending and in flight together).
 *
 * Two intrusive lists make the slow paths cheap:
 *   - per owner: closing a connection visits only its own predictions;
 *   - in flight, in start order: the oldest running prediction is the head,
 *     so the timeout reaper looks at one record, not all of them.
 *
 * Rules (SPEC 2): enqueue of an id already pending or in flight and start of
 * an id already in flight are DUPLICATE; start of a pending id moves it to
 * in flight (and to the starter as owner); stop of an id neither pending nor
 * in flight is UNKNOWN; a new record beyond `max` is FULL.
 */
#ifndef PODPULSE_PREDICTIONS_H
#define PODPULSE_PREDICTIONS_H

#include <stddef.h>
#include <stdint.h>

#include "protocol.h"

enum predictions_result {
	PREDICTIONS_OK = 0,
	PREDICTIONS_DUPLICATE = -1,
	PREDICTIONS_UNKNOWN = -2,
	PREDICTIONS_FULL = -3
};

struct prediction;

/* Embedded in whatever owns predictions (a connection). Zero-initialise. */
struct predictions_owner {
	struct prediction *head;
	size_t count;
};

/* What a removed prediction was; filled by stop and drain. */
struct predictions_info {
	int running;		/* 1: was in flight; 0: was pending */
	uint64_t enqueue_ns;	/* 0 when never enqueued */
	uint64_t start_ns;	/* 0 when never started */
};

struct predictions {
	struct prediction **buckets;
	size_t nbuckets;	/* power of two */
	size_t count;		/* pending + in flight */
	size_t running;		/* in flight */
	size_t max;
	struct prediction *run_head;	/* oldest in flight */
	struct prediction *run_tail;	/* newest in flight */
	size_t bytes;		/* buckets + records, see predictions_memory */
};

void predictions_init(struct predictions *t, size_t max);
void predictions_free(struct predictions *t);
void predictions_max_set(struct predictions *t, size_t max);

/* Record a pending prediction. */
int predictions_enqueue(struct predictions *t, const char *id, size_t idlen,
    struct predictions_owner *owner, uint64_t now_ns,
    const struct protocol_attr *attrs, unsigned nattrs);

/* *queued_ns of a prediction that was never enqueued. */
#define PREDICTIONS_NEVER_QUEUED UINT64_MAX

/*
 * Start a prediction: new, or pending -> in flight. On success *queued_ns is
 * the time it waited in the queue (0 when enqueue and start came at the
 * same instant), or PREDICTIONS_NEVER_QUEUED.
 * Attributes given at start are added to those of enqueue.
 */
int predictions_start(struct predictions *t, const char *id, size_t idlen,
    struct predictions_owner *owner, uint64_t now_ns,
    const struct protocol_attr *attrs, unsigned nattrs, uint64_t *queued_ns);

/* Remove a pending or in-flight prediction and say what it was. */
int predictions_stop(struct predictions *t, const char *id, size_t idlen,
    struct predictions_info *info);

typedef void predictions_drain_cb(void *arg, const char *id,
    const struct predictions_info *info);

/*
 * Remove every prediction of owner, calling cb for each (before its memory
 * is freed). Used when a connection closes.
 */
void predictions_owner_drain(struct predictions *t,
    struct predictions_owner *owner, predictions_drain_cb *cb, void *arg);

/*
 * Hand every prediction of from over to to (O(n) in from's records), as
 * when a connection closes and its predictions must outlive it.
 */
void predictions_owner_move(struct predictions *t,
    struct predictions_owner *from, struct predictions_owner *to);

/*
 * The oldest in-flight prediction: returns 0 and fills *id / *start_ns, or
 * returns -1 when nothing is in flight. The id stays valid until the
 * prediction is removed.
 */
int predictions_oldest(const struct predictions *t, const char **id,
    uint64_t *start_ns);

/* Look up one attribute of a prediction (NULL if the id or key is absent). */
const char *predictions_attr(const struct predictions *t, const char *id,
    size_t idlen, const char *key);

/*
 * Bytes the table holds: the bucket array plus every record (header, id and
 * attributes), not counting the allocator's own overhead per block.
 */
size_t predictions_memory(const struct predictions *t);

size_t predictions_pending(const struct predictions *t);
size_t predictions_running(const struct predictions *t);

#endif
