/*
 * test_predictions -- the pending / in-flight table.
 *
 * Hand-written cases pin each rule of predictions.h; a randomized test
 * replays long operation sequences against a plain reference model (an
 * array of ids with their state, owner and times) and compares every
 * answer, every count and every attribute; a bulk test grows the table to
 * 100 000 records and back to empty.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "test_rng.h"
#include "predictions.h"

#define EQ(got, want, what) do {					\
	unsigned long long g_ = (got), w_ = (want);			\
	if (g_ != w_)							\
		fail_msg("%s: expected %llu, got %llu", (what), w_, g_);\
} while (0)

#define STR_EQ(got, want, what) str_eq((got), (want), (what))

static void
str_eq(const char *got, const char *want, const char *what)
{
	if (got == NULL && want == NULL)
		return;
	if (got == NULL)
		fail_msg("%s: expected %s, got (null)", what, want);
	else if (want == NULL)
		fail_msg("%s: expected (null), got %s", what, got);
	else if (strcmp(got, want) != 0)
		fail_msg("%s: expected %s, got %s", what, want, got);
}

static struct protocol_attr
attr(const char *k, const char *v)
{
	struct protocol_attr a;

	a.key.ptr = k;
	a.key.len = strlen(k);
	a.value.ptr = v;
	a.value.len = strlen(v);
	return a;
}

static int
enq(struct predictions *t, const char *id, struct predictions_owner *o,
    uint64_t now)
{
	return predictions_enqueue(t, id, strlen(id), o, now, NULL, 0);
}

static int
run(struct predictions *t, const char *id, struct predictions_owner *o,
    uint64_t now, uint64_t *queued)
{
	return predictions_start(t, id, strlen(id), o, now, NULL, 0, queued);
}

static int
stop(struct predictions *t, const char *id, struct predictions_info *info)
{
	return predictions_stop(t, id, strlen(id), info);
}

static const char *
get(const struct predictions *t, const char *id, const char *key)
{
	return predictions_attr(t, id, strlen(id), key);
}

static void
test_rules(void **state)
{
	struct predictions t;
	struct predictions_owner a = { 0 };
	struct predictions_info info;
	uint64_t queued = 99;

	(void)state;
	predictions_init(&t, 10);
	EQ(enq(&t, "p1", &a, 100), PREDICTIONS_OK, "enqueue new");
	EQ(enq(&t, "p1", &a, 110), PREDICTIONS_DUPLICATE, "enqueue pending");
	EQ(predictions_pending(&t), 1, "pending");
	EQ(predictions_running(&t), 0, "running");
	EQ(run(&t, "p1", &a, 150, &queued), PREDICTIONS_OK, "start pending");
	EQ(queued, 50, "queued_ns = start - enqueue");
	EQ(predictions_pending(&t), 0, "pending");
	EQ(predictions_running(&t), 1, "running");
	EQ(run(&t, "p1", &a, 160, &queued), PREDICTIONS_DUPLICATE,
	    "start running");
	EQ(enq(&t, "p1", &a, 170), PREDICTIONS_DUPLICATE, "enqueue running");
	EQ(run(&t, "p2", &a, 200, &queued), PREDICTIONS_OK, "start new");
	EQ(queued, PREDICTIONS_NEVER_QUEUED, "queued_ns of a never enqueued one");
	EQ(stop(&t, "p3", &info), PREDICTIONS_UNKNOWN, "stop absent");
	EQ(stop(&t, "p1", &info), PREDICTIONS_OK, "stop running");
	EQ(info.running, 1, "info.running");
	EQ(info.enqueue_ns, 100, "info.enqueue_ns");
	EQ(info.start_ns, 150, "info.start_ns");
	EQ(stop(&t, "p1", &info), PREDICTIONS_UNKNOWN, "stop again");
	EQ(enq(&t, "p4", &a, 300), PREDICTIONS_OK, "enqueue");
	EQ(stop(&t, "p4", &info), PREDICTIONS_OK, "stop pending");
	EQ(info.running, 0, "info.running of pending");
	EQ(info.enqueue_ns, 300, "info.enqueue_ns of pending");
	EQ(info.start_ns, 0, "info.start_ns of pending");
	EQ(stop(&t, "p2", &info), PREDICTIONS_OK, "stop p2");
	EQ(info.enqueue_ns, 0, "never enqueued");
	EQ(info.start_ns, 200, "started");
	EQ(a.count, 0, "owner count");
	assert_null(a.head);
	/* A NULL info or queued_ns is allowed. */
	EQ(run(&t, "p5", &a, 400, NULL), PREDICTIONS_OK, "start");
	EQ(stop(&t, "p5", NULL), PREDICTIONS_OK, "stop without info");
	EQ(t.count, 0, "count");
	predictions_free(&t);
}

static void
test_full(void **state)
{
	struct predictions t;
	struct predictions_owner a = { 0 };

	(void)state;
	predictions_init(&t, 2);
	EQ(enq(&t, "a", &a, 1), PREDICTIONS_OK, "enqueue a");
	EQ(run(&t, "b", &a, 2, NULL), PREDICTIONS_OK, "start b");
	EQ(enq(&t, "c", &a, 3), PREDICTIONS_FULL, "enqueue at max");
	EQ(run(&t, "c", &a, 3, NULL), PREDICTIONS_FULL, "new start at max");
	EQ(enq(&t, "a", &a, 3), PREDICTIONS_DUPLICATE, "duplicate wins");
	EQ(run(&t, "a", &a, 4, NULL), PREDICTIONS_OK,
	    "start of a pending one at max");
	EQ(t.count, 2, "count");
	predictions_max_set(&t, 1);
	EQ(t.count, 2, "records above a lowered max are kept");
	EQ(stop(&t, "a", NULL), PREDICTIONS_OK, "stop a");
	EQ(run(&t, "c", &a, 5, NULL), PREDICTIONS_FULL, "still at max");
	predictions_max_set(&t, 3);
	EQ(run(&t, "c", &a, 5, NULL), PREDICTIONS_OK, "start c");
	EQ(enq(&t, "d", &a, 6), PREDICTIONS_OK, "enqueue d");
	EQ(enq(&t, "e", &a, 6), PREDICTIONS_FULL, "enqueue e");
	predictions_max_set(&t, 0);
	EQ(enq(&t, "e", &a, 6), PREDICTIONS_FULL, "max 0");
	predictions_free(&t);
}

static void
test_ownership_transfer(void **state)
{
	struct predictions t;
	struct predictions_owner a = { 0 }, b = { 0 };

	(void)state;
	predictions_init(&t, 10);
	EQ(enq(&t, "x", &a, 1), PREDICTIONS_OK, "enqueue x by a");
	EQ(enq(&t, "y", &a, 1), PREDICTIONS_OK, "enqueue y by a");
	EQ(a.count, 2, "a owns both");
	EQ(run(&t, "x", &b, 2, NULL), PREDICTIONS_OK, "start x by b");
	EQ(a.count, 1, "a after transfer");
	EQ(b.count, 1, "b after transfer");
	EQ(run(&t, "y", &a, 3, NULL), PREDICTIONS_OK, "start y by a");
	EQ(a.count, 1, "a keeps y");
	/* A stop may come on any connection: no owner is named. */
	EQ(stop(&t, "x", NULL), PREDICTIONS_OK, "stop x");
	EQ(b.count, 0, "b empty");
	assert_null(b.head);
	predictions_free(&t);
}

struct visit {
	char ids[64][16];
	struct predictions_info info[64];
	size_t n;
	const struct predictions *t;
};

static void
on_drain(void *arg, const char *id, const struct predictions_info *info)
{
	struct visit *v = arg;

	/* The record has already left the table when cb sees it. */
	STR_EQ(predictions_attr(v->t, id, strlen(id), "k"), NULL,
	    "drained record still in the table");
	snprintf(v->ids[v->n], sizeof v->ids[v->n], "%s", id);
	v->info[v->n++] = *info;
}

static int
visited(const struct visit *v, const char *id)
{
	size_t i;

	for (i = 0; i < v->n; i++) {
		if (strcmp(v->ids[i], id) == 0)
			return 1;
	}
	return 0;
}

static void
test_drain(void **state)
{
	struct predictions t;
	struct predictions_owner o[3] = { { 0 } };
	struct protocol_attr k = attr("k", "v");
	struct visit v;
	char id[16];
	unsigned i;

	(void)state;
	predictions_init(&t, 100);
	for (i = 0; i < 30; i++) {
		snprintf(id, sizeof id, "d%u", i);
		if (i % 2)
			EQ(predictions_enqueue(&t, id, strlen(id), &o[i % 3],
			    i, &k, 1), PREDICTIONS_OK, id);
		else
			EQ(predictions_start(&t, id, strlen(id), &o[i % 3],
			    i, &k, 1, NULL), PREDICTIONS_OK, id);
	}
	STR_EQ(get(&t, "d1", "k"), "v", "attribute before drain");
	memset(&v, 0, sizeof v);
	v.t = &t;
	predictions_owner_drain(&t, &o[1], on_drain, &v);
	EQ(v.n, 10, "records visited");
	for (i = 0; i < 30; i++) {
		snprintf(id, sizeof id, "d%u", i);
		EQ(visited(&v, id), i % 3 == 1, id);
	}
	for (i = 0; i < v.n; i++) {
		unsigned n = (unsigned)strtoul(v.ids[i] + 1, NULL, 10);

		EQ(v.info[i].running, n % 2 == 0, "info.running");
		EQ(n % 2 ? v.info[i].enqueue_ns : v.info[i].start_ns, n,
		    "info time");
	}
	EQ(o[1].count, 0, "drained owner count");
	assert_null(o[1].head);
	EQ(o[0].count, 10, "other owner intact");
	EQ(o[2].count, 10, "other owner intact");
	EQ(t.count, 20, "count");
	EQ(predictions_running(&t) + predictions_pending(&t), 20, "split");
	EQ(stop(&t, "d0", NULL), PREDICTIONS_OK, "other owner's record");
	EQ(stop(&t, "d1", NULL), PREDICTIONS_UNKNOWN, "drained record");
	v.n = 0;
	predictions_owner_drain(&t, &o[1], on_drain, &v);
	EQ(v.n, 0, "drain of an empty owner");
	predictions_free(&t);
}

static void
test_owner_move(void **state)
{
	struct predictions t;
	struct predictions_owner a = { 0 }, b = { 0 };
	struct visit v;

	(void)state;
	predictions_init(&t, 10);
	run(&t, "m1", &a, 1, NULL);
	enq(&t, "m2", &a, 2);
	run(&t, "m3", &b, 3, NULL);
	predictions_owner_move(&t, &a, &b);
	EQ(a.count, 0, "from count");
	assert_null(a.head);
	EQ(b.count, 3, "to count");
	predictions_owner_move(&t, &b, &b);
	EQ(b.count, 3, "move to itself");
	memset(&v, 0, sizeof v);
	v.t = &t;
	predictions_owner_drain(&t, &b, on_drain, &v);
	EQ(v.n, 3, "all moved records drained");
	assert_true(visited(&v, "m1") && visited(&v, "m2") &&
	    visited(&v, "m3"));
	EQ(t.count, 0, "count");
	predictions_free(&t);
}

static void
expect_oldest(const struct predictions *t, const char *want, uint64_t ns)
{
	const char *id = NULL;
	uint64_t start_ns = 0;
	int r;

	r = predictions_oldest(t, &id, &start_ns);
	if (want == NULL) {
		EQ(r, -1, "oldest of nothing in flight");
		return;
	}
	EQ(r, 0, "oldest");
	STR_EQ(id, want, "oldest id");
	EQ(start_ns, ns, "oldest start_ns");
}

static void
test_oldest(void **state)
{
	struct predictions t;
	struct predictions_owner a = { 0 }, b = { 0 };

	(void)state;
	predictions_init(&t, 10);
	expect_oldest(&t, NULL, 0);
	enq(&t, "e", &a, 1);		/* enqueued first, started last */
	expect_oldest(&t, NULL, 0);
	run(&t, "a", &a, 10, NULL);
	run(&t, "b", &b, 20, NULL);
	run(&t, "c", &a, 30, NULL);
	run(&t, "d", &b, 40, NULL);
	run(&t, "e", &b, 50, NULL);
	expect_oldest(&t, "a", 10);
	stop(&t, "b", NULL);
	expect_oldest(&t, "a", 10);
	stop(&t, "a", NULL);
	expect_oldest(&t, "c", 30);
	predictions_owner_drain(&t, &a, NULL, NULL);
	expect_oldest(&t, "d", 40);
	stop(&t, "d", NULL);
	expect_oldest(&t, "e", 50);
	stop(&t, "e", NULL);
	expect_oldest(&t, NULL, 0);
	predictions_free(&t);
}

static void
test_attrs(void **state)
{
	struct predictions t;
	struct predictions_owner a = { 0 }, b = { 0 };
	struct protocol_attr e[3], s[3];
	uint64_t queued;

	(void)state;
	predictions_init(&t, 10);
	e[0] = attr("model", "m1");
	e[1] = attr("tenant", "t1");
	e[2] = attr("empty", "");
	s[0] = attr("version", "v2");
	s[1] = attr("model", "m2");
	s[2] = attr("", "dropped");
	/* Neighbours on both lists, so the reallocation must fix them. */
	run(&t, "before", &b, 1, NULL);
	EQ(predictions_enqueue(&t, "x", 1, &a, 5, e, 3), PREDICTIONS_OK,
	    "enqueue with attrs");
	run(&t, "after", &b, 6, NULL);
	STR_EQ(get(&t, "x", "model"), "m1", "model at enqueue");
	STR_EQ(get(&t, "x", "empty"), "", "empty value");
	STR_EQ(get(&t, "x", "version"), NULL, "not yet given");
	EQ(predictions_start(&t, "x", 1, &b, 9, s, 3, &queued),
	    PREDICTIONS_OK, "start with attrs");
	EQ(queued, 4, "queued");
	STR_EQ(get(&t, "x", "model"), "m2", "start overrides enqueue");
	STR_EQ(get(&t, "x", "tenant"), "t1", "kept from enqueue");
	STR_EQ(get(&t, "x", "version"), "v2", "added at start");
	STR_EQ(get(&t, "x", ""), NULL, "empty key dropped");
	STR_EQ(get(&t, "x", "dropped"), NULL, "empty key dropped");
	STR_EQ(get(&t, "x", "mode"), NULL, "prefix of a key");
	STR_EQ(get(&t, "nope", "model"), NULL, "absent id");
	EQ(a.count, 0, "old owner");
	EQ(b.count, 3, "new owner");
	stop(&t, "before", NULL);
	expect_oldest(&t, "after", 6);
	stop(&t, "after", NULL);
	expect_oldest(&t, "x", 9);
	EQ(predictions_start(&t, "y", 1, &a, 10, s, 2, NULL), PREDICTIONS_OK,
	    "new start with attrs");
	STR_EQ(get(&t, "y", "version"), "v2", "attr of new start");
	predictions_owner_drain(&t, &b, NULL, NULL);
	EQ(t.count, 1, "count");
	STR_EQ(get(&t, "y", "model"), "m2", "other record intact");
	predictions_free(&t);
	EQ(a.count, 0, "free empties owners");
	assert_null(a.head);
}

static void
test_record_size(void **state)
{
	struct predictions t;
	struct predictions_owner a = { 0 };
	size_t empty, one, header;

	(void)state;
	predictions_init(&t, 10);
	empty = predictions_memory(&t);
	EQ(empty, 64 * sizeof(void *), "empty table: 64 buckets");
	run(&t, "pred-0000123", &a, 1, NULL);
	one = predictions_memory(&t);
	/* Record = fixed header + id + its NUL + the end-of-attrs NUL. */
	header = one - empty - strlen("pred-0000123") - 2;
	print_message("record header: %zu bytes; a 12-byte id costs %zu\n",
	    header, one - empty);
	if (header > 64)
		fail_msg("record header: expected <= 64 bytes, got %zu",
		    header);
	stop(&t, "pred-0000123", NULL);
	EQ(predictions_memory(&t), empty, "memory after stop");
	predictions_free(&t);
}

static void
check_counts(const struct predictions *t, size_t count, size_t running)
{
	EQ(t->count, count, "count");
	EQ(predictions_running(t), running, "running");
	EQ(predictions_pending(t), count - running, "pending");
}

#define BULK 100000

static void
test_bulk(void **state)
{
	static struct predictions_owner o[4];
	struct predictions t;
	struct predictions_info info;
	char id[16];
	size_t i, k, running, mem;

	(void)state;
	memset(o, 0, sizeof o);
	predictions_init(&t, BULK);
	running = 0;
	for (i = 0; i < BULK; i++) {
		snprintf(id, sizeof id, "pred-%07zu", i);
		if (i % 4 == 3) {
			EQ(enq(&t, id, &o[i % 4], i), PREDICTIONS_OK, id);
		} else {
			EQ(run(&t, id, &o[i % 4], i, NULL), PREDICTIONS_OK, id);
			running++;
		}
		if (i % 10007 == 0)
			check_counts(&t, i + 1, running);
	}
	check_counts(&t, BULK, running);
	EQ(enq(&t, "one-more", &o[0], 0), PREDICTIONS_FULL, "at max");
	EQ(run(&t, "pred-0000003", &o[0], BULK, NULL), PREDICTIONS_OK,
	    "start pending at max");
	running++;
	mem = predictions_memory(&t);
	print_message("%d in flight: %zu bytes (%.1f MiB) without malloc "
	    "overhead, %zu buckets\n", BULK, mem, mem / 1048576.0, t.nbuckets);
	if (mem > 12u * 1024 * 1024)
		fail_msg("memory for %d records: expected <= 12 MiB, got %zu",
		    BULK, mem);
	EQ(o[0].count + o[1].count + o[2].count + o[3].count, BULK,
	    "owner counts");
	expect_oldest(&t, "pred-0000000", 0);
	/* Stop in a scattered order: 7919 is prime, so i*7919 % BULK visits
	 * every index once. */
	for (i = 0; i < BULK; i++) {
		k = i * 7919 % BULK;
		snprintf(id, sizeof id, "pred-%07zu", k);
		EQ(stop(&t, id, &info), PREDICTIONS_OK, id);
		EQ(info.running, k % 4 != 3 || k == 3, "info.running");
		running -= info.running;
		if (i % 9973 == 0)
			check_counts(&t, BULK - i - 1, running);
	}
	check_counts(&t, 0, 0);
	expect_oldest(&t, NULL, 0);
	EQ(t.nbuckets, 64, "buckets shrink back");
	EQ(predictions_memory(&t), 64 * sizeof(void *), "memory back");
	for (i = 0; i < 4; i++)
		EQ(o[i].count, 0, "owner count");
	predictions_free(&t);
}

static void
test_printable_ids(void **state)
{
	struct predictions t;
	struct predictions_owner a = { 0 };
	char id[2] = { 0 }, all[100];
	int c;
	size_t n = 0;

	(void)state;
	predictions_init(&t, 1000);
	for (c = 0x21; c < 0x7f; c++) {
		id[0] = (char)c;
		EQ(run(&t, id, &a, (uint64_t)c, NULL), PREDICTIONS_OK, id);
		all[n++] = (char)c;
	}
	all[n] = '\0';
	EQ(run(&t, all, &a, 1, NULL), PREDICTIONS_OK, "all printable bytes");
	EQ(run(&t, all, &a, 1, NULL), PREDICTIONS_DUPLICATE, "again");
	/* Prefixes of a stored id are other ids. */
	EQ(predictions_start(&t, all, 2, &a, 1, NULL, 0, NULL), PREDICTIONS_OK,
	    "two-byte prefix");
	EQ(t.count, 94 + 2, "count");
	for (c = 0x21; c < 0x7f; c++) {
		id[0] = (char)c;
		EQ(run(&t, id, &a, 0, NULL), PREDICTIONS_DUPLICATE, id);
	}
	EQ(predictions_stop(&t, all, 2, NULL), PREDICTIONS_OK, "stop prefix");
	EQ(stop(&t, all, NULL), PREDICTIONS_OK, "stop all");
	EQ(stop(&t, "!", NULL), PREDICTIONS_OK, "stop !");
	EQ(stop(&t, "!", NULL), PREDICTIONS_UNKNOWN, "stop ! again");
	EQ(stop(&t, "~", NULL), PREDICTIONS_OK, "stop ~");
	EQ(t.count, 92, "count");
	predictions_free(&t);
}

static void
test_long_ids(void **state)
{
	struct predictions t;
	struct predictions_owner a = { 0 };
	char id[PROTOCOL_ID_MAX + 1];
	const char *oldest;
	uint64_t ns;
	int i;

	(void)state;
	predictions_init(&t, 100);
	memset(id, 'z', PROTOCOL_ID_MAX);
	id[PROTOCOL_ID_MAX] = '\0';
	/* 128-byte ids that differ only in the last byte, and prefixes. */
	for (i = 0; i < 10; i++) {
		id[PROTOCOL_ID_MAX - 1] = (char)('0' + i);
		EQ(run(&t, id, &a, (uint64_t)i, NULL), PREDICTIONS_OK, "start");
	}
	EQ(predictions_start(&t, id, PROTOCOL_ID_MAX - 1, &a, 20, NULL, 0,
	    NULL), PREDICTIONS_OK, "127-byte prefix");
	EQ(t.count, 11, "count");
	EQ(predictions_oldest(&t, &oldest, &ns), 0, "oldest");
	EQ(strlen(oldest), PROTOCOL_ID_MAX, "oldest id length");
	EQ(oldest[PROTOCOL_ID_MAX - 1], '0', "oldest id last byte");
	id[PROTOCOL_ID_MAX - 1] = '5';
	EQ(stop(&t, id, NULL), PREDICTIONS_OK, "stop");
	EQ(stop(&t, id, NULL), PREDICTIONS_UNKNOWN, "stop again");
	EQ(predictions_stop(&t, id, PROTOCOL_ID_MAX - 1, NULL), PREDICTIONS_OK,
	    "stop prefix");
	EQ(t.count, 9, "count");
	predictions_free(&t);
}

/*
 * Every prefix of one 128-byte id, longest first: the longer ids sit
 * earlier in any shared hash chain, so a lookup that accepted a stored id
 * merely starting with the key would find the wrong record.
 */
static void
test_prefix_ids(void **state)
{
	struct predictions t;
	struct predictions_owner a = { 0 };
	struct protocol_attr la;
	char id[PROTOCOL_ID_MAX], len[8];
	size_t n;

	(void)state;
	predictions_init(&t, 1000);
	for (n = 0; n < PROTOCOL_ID_MAX; n++)
		id[n] = (char)(0x21 + n % 94);
	for (n = PROTOCOL_ID_MAX; n > 0; n--) {
		snprintf(len, sizeof len, "%zu", n);
		la = attr("len", len);
		EQ(predictions_enqueue(&t, id, n, &a, n, &la, 1),
		    PREDICTIONS_OK, "enqueue prefix");
	}
	EQ(t.count, PROTOCOL_ID_MAX, "count");
	for (n = 1; n <= PROTOCOL_ID_MAX; n++) {
		snprintf(len, sizeof len, "%zu", n);
		STR_EQ(predictions_attr(&t, id, n, "len"), len, "prefix found");
	}
	for (n = 1; n <= PROTOCOL_ID_MAX; n += 2)
		EQ(predictions_stop(&t, id, n, NULL), PREDICTIONS_OK, "stop");
	for (n = 1; n <= PROTOCOL_ID_MAX; n++) {
		snprintf(len, sizeof len, "%zu", n);
		STR_EQ(predictions_attr(&t, id, n, "len"), n % 2 ? NULL : len,
		    "prefix after stops");
	}
	predictions_free(&t);
}

static void
test_free_with_records(void **state)
{
	struct predictions t;
	struct predictions_owner a = { 0 }, b = { 0 };
	struct protocol_attr e = attr("k", "v");

	(void)state;
	predictions_init(&t, 10);
	predictions_enqueue(&t, "p", 1, &a, 1, &e, 1);
	run(&t, "r", &b, 2, NULL);
	predictions_free(&t);
	EQ(a.count + b.count, 0, "owners emptied");
	assert_null(a.head);
	assert_null(b.head);
	predictions_free(&t);	/* twice is harmless */
}

/*
 * Randomized comparison with a reference model.
 */

#define R_IDS 700
#define R_OWNERS 5

struct ref {
	char id[PROTOCOL_ID_MAX + 1];
	int state;		/* 0 absent, 1 pending, 2 running */
	int owner;
	uint64_t enqueue_ns, start_ns, order;
	char n[24];		/* expected attribute n */
	char v[24];		/* expected attribute v, "" when none */
};

struct rmodel {
	struct predictions t;
	struct predictions_owner owners[R_OWNERS];
	struct ref ref[R_IDS];
	size_t count, running, max;
	uint64_t now, order, op;
	int drained[R_IDS];
};

static struct rmodel rm;
static uint64_t rng_state;

/* Ids of varied shape: short, 128 bytes, any printable byte. */
static void
ref_ids(void)
{
	size_t i, len, j;

	for (i = 0; i < R_IDS; i++) {
		if (i % 3 == 0) {
			snprintf(rm.ref[i].id, sizeof rm.ref[i].id, "r%zu", i);
			continue;
		}
		len = i % 3 == 1 ? PROTOCOL_ID_MAX : 1 + test_rng_below(&rng_state, 40);
		for (j = 0; j < len; j++)
			rm.ref[i].id[j] = (char)(0x21 + test_rng_below(&rng_state, 94));
		snprintf(rm.ref[i].id + len - 4 * (len >= 8), 5, "%04zu",
		    i % 10000);
	}
}

/* Attributes n (always) and v (sometimes): the model keeps the last. */
static unsigned
ref_attrs(struct protocol_attr *a, char *nbuf, char *vbuf)
{
	unsigned na = 0;

	snprintf(nbuf, 24, "%llu", (unsigned long long)rm.op);
	a[na++] = attr("n", nbuf);
	if (test_rng_below(&rng_state, 2)) {
		snprintf(vbuf, 24, "v%llu", (unsigned long long)test_rng_next(&rng_state));
		a[na++] = attr("v", vbuf);
	}
	return na;
}

static void
ref_apply_attrs(struct ref *r, const struct protocol_attr *a, unsigned na)
{
	snprintf(r->n, sizeof r->n, "%s", a[0].value.ptr);
	if (na > 1)
		snprintf(r->v, sizeof r->v, "%s", a[1].value.ptr);
}

static void
ref_enqueue(struct ref *r, int o)
{
	struct protocol_attr a[2];
	char nbuf[24], vbuf[24];
	unsigned na;
	int want, got;

	na = ref_attrs(a, nbuf, vbuf);
	got = predictions_enqueue(&rm.t, r->id, strlen(r->id),
	    &rm.owners[o], rm.now, a, na);
	want = r->state != 0 ? PREDICTIONS_DUPLICATE :
	    rm.count >= rm.max ? PREDICTIONS_FULL : PREDICTIONS_OK;
	EQ(got, want, "enqueue result");
	if (want != PREDICTIONS_OK)
		return;
	r->state = 1;
	r->owner = o;
	r->enqueue_ns = rm.now;
	r->start_ns = 0;
	r->v[0] = '\0';
	ref_apply_attrs(r, a, na);
	rm.count++;
}

static void
ref_start(struct ref *r, int o)
{
	struct protocol_attr a[2];
	char nbuf[24], vbuf[24];
	uint64_t queued = 12345;
	unsigned na;
	int want, got;

	na = ref_attrs(a, nbuf, vbuf);
	got = predictions_start(&rm.t, r->id, strlen(r->id), &rm.owners[o],
	    rm.now, a, na, &queued);
	want = r->state == 2 ? PREDICTIONS_DUPLICATE :
	    r->state == 0 && rm.count >= rm.max ? PREDICTIONS_FULL :
	    PREDICTIONS_OK;
	EQ(got, want, "start result");
	if (want != PREDICTIONS_OK)
		return;
	EQ(queued, r->state == 1 ? rm.now - r->enqueue_ns :
	    PREDICTIONS_NEVER_QUEUED, "queued_ns");
	if (r->state == 0) {
		r->enqueue_ns = 0;
		r->v[0] = '\0';
		rm.count++;
	}
	r->state = 2;
	r->owner = o;
	r->start_ns = rm.now;
	r->order = rm.order++;
	ref_apply_attrs(r, a, na);
	rm.running++;
}

static void
ref_check_info(const struct ref *r, const struct predictions_info *info)
{
	EQ(info->running, r->state == 2, "info.running");
	EQ(info->enqueue_ns, r->enqueue_ns, "info.enqueue_ns");
	EQ(info->start_ns, r->start_ns, "info.start_ns");
}

static void
ref_forget(struct ref *r)
{
	rm.count--;
	rm.running -= r->state == 2;
	r->state = 0;
}

static void
ref_stop(struct ref *r)
{
	struct predictions_info info;
	int got;

	got = predictions_stop(&rm.t, r->id, strlen(r->id), &info);
	EQ(got, r->state ? PREDICTIONS_OK : PREDICTIONS_UNKNOWN, "stop result");
	if (r->state == 0)
		return;
	ref_check_info(r, &info);
	ref_forget(r);
}

static size_t
ref_find(const char *id)
{
	size_t i;

	for (i = 0; i < R_IDS; i++) {
		if (strcmp(rm.ref[i].id, id) == 0)
			return i;
	}
	fail_msg("drain visited an unknown id %s", id);
	return 0;
}

static void
ref_on_drain(void *arg, const char *id, const struct predictions_info *info)
{
	size_t i;

	(void)arg;
	i = ref_find(id);
	if (rm.drained[i])
		fail_msg("drain visited %s twice", id);
	rm.drained[i] = 1;
	ref_check_info(&rm.ref[i], info);
}

static void
ref_drain(int o)
{
	size_t i;

	memset(rm.drained, 0, sizeof rm.drained);
	predictions_owner_drain(&rm.t, &rm.owners[o], ref_on_drain, NULL);
	for (i = 0; i < R_IDS; i++) {
		struct ref *r = &rm.ref[i];
		int want = r->state != 0 && r->owner == o;

		if (rm.drained[i] != want)
			fail_msg("drain of owner %d: %s expected %s, got %s",
			    o, r->id, want ? "visited" : "not visited",
			    rm.drained[i] ? "visited" : "not visited");
		if (want)
			ref_forget(r);
	}
}

static void
ref_move(int from, int to)
{
	size_t i;

	predictions_owner_move(&rm.t, &rm.owners[from], &rm.owners[to]);
	for (i = 0; i < R_IDS; i++) {
		if (rm.ref[i].state != 0 && rm.ref[i].owner == from)
			rm.ref[i].owner = to;
	}
}

static void
ref_check(void)
{
	size_t i, owned[R_OWNERS] = { 0 };
	const struct ref *oldest = NULL;
	int o;

	check_counts(&rm.t, rm.count, rm.running);
	for (i = 0; i < R_IDS; i++) {
		const struct ref *r = &rm.ref[i];

		STR_EQ(get(&rm.t, r->id, "n"), r->state ? r->n : NULL,
		    "attribute n");
		STR_EQ(get(&rm.t, r->id, "v"),
		    r->state && r->v[0] ? r->v : NULL, "attribute v");
		if (r->state == 0)
			continue;
		owned[r->owner]++;
		if (r->state == 2 && (oldest == NULL || r->order < oldest->order))
			oldest = r;
	}
	for (o = 0; o < R_OWNERS; o++)
		EQ(rm.owners[o].count, owned[o], "owner count");
	expect_oldest(&rm.t, oldest ? oldest->id : NULL,
	    oldest ? oldest->start_ns : 0);
	EQ(rm.t.nbuckets >= 64 && rm.t.count <= rm.t.nbuckets, 1,
	    "load factor");
}

static void
ref_op(int fill)
{
	struct ref *r = &rm.ref[test_rng_below(&rng_state, R_IDS)];
	int o = (int)test_rng_below(&rng_state, R_OWNERS);
	uint64_t x = test_rng_below(&rng_state, 1000);

	rm.op++;
	rm.now += test_rng_below(&rng_state, 3) == 0 ? 0 : test_rng_below(&rng_state, 1000000);
	if (x < (uint64_t)(fill ? 300 : 150))
		ref_enqueue(r, o);
	else if (x < 600)
		ref_start(r, o);
	else if (x < 990)
		ref_stop(r);
	else if (x < 993)
		ref_drain(o);
	else if (x < 996)
		ref_move(o, (int)test_rng_below(&rng_state, R_OWNERS));
	else if (x < 998)
		predictions_max_set(&rm.t, rm.max = test_rng_below(&rng_state, R_IDS + 50));
	else
		ref_check();
}

static void
test_random(void **state)
{
	unsigned i;

	(void)state;
	memset(&rm, 0, sizeof rm);
	rng_state = 0xfeed5eed;
	ref_ids();
	rm.max = R_IDS;
	predictions_init(&rm.t, rm.max);
	for (i = 0; i < 300000; i++) {
		/* Alternate filling and emptying so the table resizes. */
		ref_op((i / 20000) % 2 == 0);
		if (i % 97 == 0)
			ref_check();
	}
	ref_check();
	predictions_free(&rm.t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rules),
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_ownership_transfer),
		cmocka_unit_test(test_drain),
		cmocka_unit_test(test_owner_move),
		cmocka_unit_test(test_oldest),
		cmocka_unit_test(test_attrs),
		cmocka_unit_test(test_record_size),
		cmocka_unit_test(test_bulk),
		cmocka_unit_test(test_printable_ids),
		cmocka_unit_test(test_long_ids),
		cmocka_unit_test(test_prefix_ids),
		cmocka_unit_test(test_free_with_records),
		cmocka_unit_test(test_random),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
