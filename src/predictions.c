/*
 * predictions -- the table of pending and in-flight predictions; see
 * predictions.h for the rules.
 *
 * One allocation per record. The fixed part is six pointers and two times
 * (64 bytes on LP64); the id and the attributes follow it in the same block
 * as NUL-terminated strings:
 *
 *     id \0 key \0 value \0 key \0 value \0 ... \0
 *
 * The final empty key ends the list, so neither the id length nor the
 * attribute count is stored. Ids and attributes therefore must not contain
 * NUL bytes (the protocol rejects them as bad-encoding), and an attribute
 * with an empty key is dropped. With no attributes a record for a 12-byte
 * id is 64 + 14 bytes.
 *
 * Whether a record is in flight is not stored either: it is in flight
 * exactly when it is on the run list (it has a predecessor there, or it is
 * the head).
 *
 * Attributes given at start are appended to those of enqueue by
 * reallocating the record. At that moment the record has just left its
 * owner's list and is not on the run list (it was pending), so the only
 * pointer to it that the move invalidates is its hash-chain link, which the
 * lookup hands back and which lives outside the record. A key given again
 * at start overrides the enqueue value: predictions_attr returns the last
 * match.
 *
 * The hash is FNV-1a 64 over the id bytes, with the high half folded into
 * the low half before masking (FNV-1a's low bits alone mix poorly for ids
 * that differ only in their last digits). The bucket count is a power of
 * two, starts at PREDICTIONS_BUCKETS_MIN, doubles when the records outnumber
 * the buckets and halves when they fall below an eighth of them (never
 * below the minimum), so a burst does not pin memory forever and a table
 * hovering around a boundary does not resize back and forth.
 *
 * Invariants: count == records in the buckets == pending + running;
 * running == length of the run list, which is in start order; each owner's
 * count == length of its list; every record with an owner is on that
 * owner's list; bytes == bucket array + sum of record sizes.
 */
#include "predictions.h"

#include <stdlib.h>
#include <string.h>

#include "xmalloc.h"

#define PREDICTIONS_BUCKETS_MIN 64

struct prediction {
	struct prediction *hnext;	/* hash chain */
	struct prediction *onext;	/* owner's list */
	struct prediction *oprev;
	struct prediction *rnext;	/* run list, towards the newest */
	struct prediction *rprev;	/* run list, towards the oldest */
	struct predictions_owner *owner;
	uint64_t enqueue_ns;		/* 0 when never enqueued */
	uint64_t start_ns;		/* 0 while pending */
	char data[];			/* id, attributes; see above */
};

static uint64_t
predictions_hash(const char *id, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= (unsigned char)id[i];
		h *= 0x100000001b3ULL;
	}
	return h ^ (h >> 32);
}

static size_t
predictions_bucket(size_t nbuckets, const char *id, size_t len)
{
	return (size_t)(predictions_hash(id, len) & (nbuckets - 1));
}

static int
predictions_id_is(const struct prediction *p, const char *id, size_t len)
{
	/* strncmp stops at the record's NUL: no read past a short id. */
	return strncmp(p->data, id, len) == 0 && p->data[len] == '\0';
}

/*
 * The link that points to the record with this id, or the empty link at
 * the end of its chain when there is none. The link is in the bucket array
 * or in another record, never in the record itself.
 */
static struct prediction **
predictions_link(const struct predictions *t, const char *id, size_t len)
{
	struct prediction **link;

	link = &t->buckets[predictions_bucket(t->nbuckets, id, len)];
	while (*link != NULL && !predictions_id_is(*link, id, len))
		link = &(*link)->hnext;
	return link;
}

/* Size of the id and attribute block, final empty key included. */
static size_t
predictions_data_len(const struct prediction *p)
{
	const char *s;

	s = p->data + strlen(p->data) + 1;
	while (*s != '\0') {
		s += strlen(s) + 1;
		s += strlen(s) + 1;
	}
	return (size_t)(s - p->data) + 1;
}

static size_t
predictions_attrs_len(const struct protocol_attr *attrs, unsigned nattrs)
{
	size_t len = 0;
	unsigned i;

	for (i = 0; i < nattrs; i++) {
		if (attrs[i].key.len > 0)
			len += attrs[i].key.len + 1 + attrs[i].value.len + 1;
	}
	return len;
}

/* Write the pairs at dst, then the final empty key. */
static void
predictions_attrs_put(char *dst, const struct protocol_attr *attrs,
    unsigned nattrs)
{
	unsigned i;

	for (i = 0; i < nattrs; i++) {
		if (attrs[i].key.len == 0)
			continue;
		memcpy(dst, attrs[i].key.ptr, attrs[i].key.len);
		dst += attrs[i].key.len;
		*dst++ = '\0';
		memcpy(dst, attrs[i].value.ptr, attrs[i].value.len);
		dst += attrs[i].value.len;
		*dst++ = '\0';
	}
	*dst = '\0';
}

static struct prediction *
predictions_new(struct predictions *t, const char *id, size_t len,
    const struct protocol_attr *attrs, unsigned nattrs)
{
	struct prediction *p;
	size_t size;

	size = sizeof *p + len + 1 + predictions_attrs_len(attrs, nattrs) + 1;
	p = xmalloc(size);
	memset(p, 0, sizeof *p);
	memcpy(p->data, id, len);
	p->data[len] = '\0';
	predictions_attrs_put(p->data + len + 1, attrs, nattrs);
	t->bytes += size;
	return p;
}

static void
predictions_delete(struct predictions *t, struct prediction *p)
{
	t->bytes -= sizeof *p + predictions_data_len(p);
	free(p);
}

static void
predictions_resize(struct predictions *t, size_t nbuckets)
{
	struct prediction **buckets, *p, *next;
	size_t i, b;

	buckets = xcalloc(nbuckets, sizeof *buckets);
	for (i = 0; i < t->nbuckets; i++) {
		for (p = t->buckets[i]; p != NULL; p = next) {
			next = p->hnext;
			b = predictions_bucket(nbuckets, p->data,
			    strlen(p->data));
			p->hnext = buckets[b];
			buckets[b] = p;
		}
	}
	free(t->buckets);
	t->bytes -= t->nbuckets * sizeof *buckets;
	t->bytes += nbuckets * sizeof *buckets;
	t->buckets = buckets;
	t->nbuckets = nbuckets;
}

static void
predictions_grow(struct predictions *t)
{
	if (t->count > t->nbuckets)
		predictions_resize(t, t->nbuckets * 2);
}

static void
predictions_shrink(struct predictions *t)
{
	if (t->nbuckets > PREDICTIONS_BUCKETS_MIN &&
	    t->count < t->nbuckets / 8)
		predictions_resize(t, t->nbuckets / 2);
}

static void
predictions_owner_link(struct prediction *p, struct predictions_owner *o)
{
	p->owner = o;
	p->oprev = NULL;
	p->onext = NULL;
	if (o == NULL)
		return;
	p->onext = o->head;
	if (o->head != NULL)
		o->head->oprev = p;
	o->head = p;
	o->count++;
}

static void
predictions_owner_unlink(struct prediction *p)
{
	struct predictions_owner *o = p->owner;

	if (o == NULL)
		return;
	if (p->oprev != NULL)
		p->oprev->onext = p->onext;
	else
		o->head = p->onext;
	if (p->onext != NULL)
		p->onext->oprev = p->oprev;
	o->count--;
	p->owner = NULL;
	p->onext = p->oprev = NULL;
}

static int
predictions_is_running(const struct predictions *t,
    const struct prediction *p)
{
	return p->rprev != NULL || t->run_head == p;
}

static void
predictions_run_link(struct predictions *t, struct prediction *p)
{
	p->rnext = NULL;
	p->rprev = t->run_tail;
	if (t->run_tail != NULL)
		t->run_tail->rnext = p;
	else
		t->run_head = p;
	t->run_tail = p;
	t->running++;
}

static void
predictions_run_unlink(struct predictions *t, struct prediction *p)
{
	if (p->rprev != NULL)
		p->rprev->rnext = p->rnext;
	else
		t->run_head = p->rnext;
	if (p->rnext != NULL)
		p->rnext->rprev = p->rprev;
	else
		t->run_tail = p->rprev;
	p->rnext = p->rprev = NULL;
	t->running--;
}

/* Put a new record at the empty link found by the lookup. */
static void
predictions_insert(struct predictions *t, struct prediction **link,
    struct prediction *p, struct predictions_owner *owner)
{
	p->hnext = NULL;
	*link = p;
	predictions_owner_link(p, owner);
	t->count++;
}

/* Take the record at link out of every list; the caller frees it. */
static struct prediction *
predictions_remove(struct predictions *t, struct prediction **link,
    struct predictions_info *info)
{
	struct prediction *p = *link;

	*link = p->hnext;
	info->running = predictions_is_running(t, p);
	info->enqueue_ns = p->enqueue_ns;
	info->start_ns = p->start_ns;
	if (info->running)
		predictions_run_unlink(t, p);
	predictions_owner_unlink(p);
	t->count--;
	return p;
}

/*
 * Append attributes to a pending record that is on no list but its hash
 * chain (see the top of the file); returns the record, possibly moved.
 */
static struct prediction *
predictions_extend(struct predictions *t, struct prediction **link,
    const struct protocol_attr *attrs, unsigned nattrs)
{
	struct prediction *p = *link;
	size_t old, add;

	add = predictions_attrs_len(attrs, nattrs);
	if (add == 0)
		return p;
	old = predictions_data_len(p);
	p = xrealloc(p, sizeof *p + old + add);
	predictions_attrs_put(p->data + old - 1, attrs, nattrs);
	*link = p;
	t->bytes += add;
	return p;
}

void
predictions_init(struct predictions *t, size_t max)
{
	memset(t, 0, sizeof *t);
	t->nbuckets = PREDICTIONS_BUCKETS_MIN;
	t->buckets = xcalloc(t->nbuckets, sizeof *t->buckets);
	t->bytes = t->nbuckets * sizeof *t->buckets;
	t->max = max;
}

/*
 * Owners are emptied too (head NULL, count 0), so an owner that outlives
 * the table never points at freed memory.
 */
void
predictions_free(struct predictions *t)
{
	struct prediction *p, *next;
	size_t i;

	for (i = 0; i < t->nbuckets; i++) {
		for (p = t->buckets[i]; p != NULL; p = next) {
			next = p->hnext;
			if (p->owner != NULL) {
				p->owner->head = NULL;
				p->owner->count = 0;
			}
			free(p);
		}
	}
	free(t->buckets);
	memset(t, 0, sizeof *t);
}

/* Records already above a lowered bound stay; only new ones are refused. */
void
predictions_max_set(struct predictions *t, size_t max)
{
	t->max = max;
}

int
predictions_enqueue(struct predictions *t, const char *id, size_t idlen,
    struct predictions_owner *owner, uint64_t now_ns,
    const struct protocol_attr *attrs, unsigned nattrs)
{
	struct prediction **link, *p;

	link = predictions_link(t, id, idlen);
	if (*link != NULL)
		return PREDICTIONS_DUPLICATE;
	if (t->count >= t->max)
		return PREDICTIONS_FULL;
	p = predictions_new(t, id, idlen, attrs, nattrs);
	p->enqueue_ns = now_ns;
	predictions_insert(t, link, p, owner);
	predictions_grow(t);
	return PREDICTIONS_OK;
}

/* Pending -> in flight: the starter becomes the owner. */
static void
predictions_start_pending(struct predictions *t, struct prediction **link,
    struct predictions_owner *owner, uint64_t now_ns,
    const struct protocol_attr *attrs, unsigned nattrs)
{
	struct prediction *p;

	predictions_owner_unlink(*link);
	p = predictions_extend(t, link, attrs, nattrs);
	predictions_owner_link(p, owner);
	p->start_ns = now_ns;
	predictions_run_link(t, p);
}

int
predictions_start(struct predictions *t, const char *id, size_t idlen,
    struct predictions_owner *owner, uint64_t now_ns,
    const struct protocol_attr *attrs, unsigned nattrs, uint64_t *queued_ns)
{
	struct prediction **link, *p;
	uint64_t queued = PREDICTIONS_NEVER_QUEUED;

	link = predictions_link(t, id, idlen);
	p = *link;
	if (p != NULL && predictions_is_running(t, p))
		return PREDICTIONS_DUPLICATE;
	if (p != NULL) {
		queued = now_ns > p->enqueue_ns ? now_ns - p->enqueue_ns : 0;
		predictions_start_pending(t, link, owner, now_ns, attrs,
		    nattrs);
	} else {
		if (t->count >= t->max)
			return PREDICTIONS_FULL;
		p = predictions_new(t, id, idlen, attrs, nattrs);
		p->start_ns = now_ns;
		predictions_insert(t, link, p, owner);
		predictions_run_link(t, p);
		predictions_grow(t);
	}
	if (queued_ns != NULL)
		*queued_ns = queued;
	return PREDICTIONS_OK;
}

int
predictions_stop(struct predictions *t, const char *id, size_t idlen,
    struct predictions_info *info)
{
	struct predictions_info dummy;
	struct prediction **link;

	link = predictions_link(t, id, idlen);
	if (*link == NULL)
		return PREDICTIONS_UNKNOWN;
	if (info == NULL)
		info = &dummy;
	predictions_delete(t, predictions_remove(t, link, info));
	predictions_shrink(t);
	return PREDICTIONS_OK;
}

/*
 * Each record leaves the table before cb sees it, so cb finds the table
 * consistent (and may even use it); the id stays valid until cb returns.
 */
void
predictions_owner_drain(struct predictions *t,
    struct predictions_owner *owner, predictions_drain_cb *cb, void *arg)
{
	struct predictions_info info;
	struct prediction **link, *p;

	while ((p = owner->head) != NULL) {
		link = predictions_link(t, p->data, strlen(p->data));
		predictions_remove(t, link, &info);
		if (cb != NULL)
			cb(arg, p->data, &info);
		predictions_delete(t, p);
		predictions_shrink(t);
	}
}

void
predictions_owner_move(struct predictions *t,
    struct predictions_owner *from, struct predictions_owner *to)
{
	struct prediction *p;

	(void)t;
	if (from == to)
		return;
	while ((p = from->head) != NULL) {
		predictions_owner_unlink(p);
		predictions_owner_link(p, to);
	}
}

int
predictions_oldest(const struct predictions *t, const char **id,
    uint64_t *start_ns)
{
	if (t->run_head == NULL)
		return -1;
	*id = t->run_head->data;
	*start_ns = t->run_head->start_ns;
	return 0;
}

const char *
predictions_attr(const struct predictions *t, const char *id, size_t idlen,
    const char *key)
{
	const struct prediction *p;
	const char *s, *found = NULL;

	p = *predictions_link(t, id, idlen);
	if (p == NULL)
		return NULL;
	s = p->data + idlen + 1;
	while (*s != '\0') {
		if (strcmp(s, key) == 0)
			found = s + strlen(s) + 1;
		s += strlen(s) + 1;
		s += strlen(s) + 1;
	}
	return found;
}

size_t
predictions_memory(const struct predictions *t)
{
	return t->bytes;
}

size_t
predictions_pending(const struct predictions *t)
{
	return t->count - t->running;
}

size_t
predictions_running(const struct predictions *t)
{
	return t->running;
}
