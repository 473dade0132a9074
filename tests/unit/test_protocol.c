/*
 * test_protocol -- the line protocol core (SPEC 2): every verb in its valid
 * forms, every syntax error reason, the id, k=v and encoding rules, and the
 * framing: any split of the same bytes into feeds gives the same callbacks,
 * a line longer than max_line is reported once and never held in memory,
 * and random junk never breaks the parser or its memory bound.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "test_rng.h"
#include "protocol.h"
#include "status.h"
#include "xmalloc.h"

/* Every callback, serialized, plus counters and bound checks. */
struct record {
	char *s;
	size_t len;
	size_t cap;
	size_t ncalls;
	size_t nerrors[PROTOCOL_ERROR_COUNT];
	const struct protocol_parser *parser;	/* checked in callbacks */
};

static void
record_add(struct record *r, const char *data, size_t len)
{
	if (r->len + len + 1 > r->cap) {
		r->cap = r->cap == 0 ? 1024 : r->cap;
		while (r->len + len + 1 > r->cap)
			r->cap *= 2;
		r->s = xrealloc(r->s, r->cap);
	}
	memcpy(r->s + r->len, data, len);
	r->len += len;
	r->s[r->len] = '\0';
}

static void
record_str(struct record *r, const char *s)
{
	record_add(r, s, strlen(s));
}

/* Bytes outside printable ASCII are written as \xHH. */
static void
record_bytes(struct record *r, const char *s, size_t len)
{
	char hex[8];
	size_t i;
	unsigned char c;

	for (i = 0; i < len; i++) {
		c = (unsigned char)s[i];
		if (c >= 0x20 && c <= 0x7e && c != '\\') {
			record_add(r, (const char *)&c, 1);
			continue;
		}
		snprintf(hex, sizeof hex, "\\x%02x", c);
		record_str(r, hex);
	}
}

static void
record_free(struct record *r)
{
	free(r->s);
	memset(r, 0, sizeof *r);
}

static void
record_ok(struct record *r, const struct protocol_command *cmd)
{
	char num[64];
	unsigned i;

	record_str(r, protocol_verb_name(cmd->verb));
	if (cmd->id.len > 0) {
		record_str(r, " id=");
		record_bytes(r, cmd->id.ptr, cmd->id.len);
	}
	if (cmd->verb == PROTOCOL_VERB_STOP ||
	    cmd->verb == PROTOCOL_VERB_SETUP_DONE) {
		snprintf(num, sizeof num, " st=%d", cmd->status);
		record_str(r, num);
	}
	if (cmd->verb == PROTOCOL_VERB_HELLO) {
		snprintf(num, sizeof num, " v=%d ack=%d", cmd->hello_version,
		    cmd->hello_ack);
		record_str(r, num);
	}
	if (cmd->verb == PROTOCOL_VERB_SETUP_LOG) {
		record_str(r, " text=[");
		record_bytes(r, cmd->text.ptr, cmd->text.len);
		record_str(r, "]");
	}
	for (i = 0; i < cmd->nattrs; i++) {
		record_str(r, " ");
		record_bytes(r, cmd->attrs[i].key.ptr, cmd->attrs[i].key.len);
		record_str(r, "=");
		record_bytes(r, cmd->attrs[i].value.ptr,
		    cmd->attrs[i].value.len);
	}
}

static void
record_cb(void *arg, const struct protocol_command *cmd)
{
	struct record *r = arg;

	assert_in_range(cmd->error, 0, PROTOCOL_ERROR_COUNT - 1);
	r->ncalls++;
	r->nerrors[cmd->error]++;
	if (r->parser != NULL) {
		assert_true(protocol_parser_buffered(r->parser) <=
		    r->parser->max_line);
		assert_true(r->parser->cap <= r->parser->max_line + 1);
	}
	if (cmd->error != PROTOCOL_ERROR_OK) {
		assert_non_null(cmd->detail);
		assert_true(cmd->detail[0] != '\0');
		record_str(r, "err ");
		record_str(r, protocol_error_name(cmd->error));
		record_str(r, ": ");
		record_str(r, cmd->detail);
		record_str(r, "\n");
		return;
	}
	assert_in_range(cmd->verb, 0, PROTOCOL_VERB_COUNT - 1);
	assert_in_range(cmd->nattrs, 0, PROTOCOL_ATTRS_MAX);
	record_ok(r, cmd);
	record_str(r, "\n");
}

/* Feed data in chunks of the sizes given by next(), checking the bound. */
static void
feed_chunked(struct protocol_parser *p, const char *data, size_t len,
    struct record *r, uint64_t *rng, size_t maxchunk)
{
	size_t off = 0, n;

	r->parser = p;
	while (off < len) {
		n = rng == NULL ? maxchunk : 1 + test_rng_below(rng, maxchunk);
		if (n > len - off)
			n = len - off;
		protocol_parser_feed(p, data + off, n, record_cb, r);
		off += n;
		assert_true(protocol_parser_buffered(p) <= p->max_line);
		assert_true(p->cap <= p->max_line + 1);
	}
}

/* Printable form of a test line for failure messages. */
static const char *
esc(const char *s, size_t len)
{
	static char out[1024];
	size_t i, o = 0;
	unsigned char c;

	for (i = 0; i < len && o + 5 < sizeof out; i++) {
		c = (unsigned char)s[i];
		if (c >= 0x20 && c <= 0x7e)
			out[o++] = (char)c;
		else
			o += (size_t)snprintf(out + o, sizeof out - o,
			    "\\x%02x", c);
	}
	out[o] = '\0';
	return out;
}

static void
parse_expect(struct protocol_command *cmd, const char *line, size_t len,
    enum protocol_error want, int verb, const char *file, int lineno)
{
	protocol_line_parse(line, len, cmd);
	if (cmd->error != want) {
		print_error("line \"%s\": expected %s, got %s (%s)\n",
		    esc(line, len), protocol_error_name(want),
		    protocol_error_name(cmd->error),
		    cmd->detail != NULL ? cmd->detail : "no detail");
		_fail(file, lineno);
	}
	if (want == PROTOCOL_ERROR_OK && verb >= 0 && (int)cmd->verb != verb) {
		print_error("line \"%s\": expected verb %s, got %s\n",
		    esc(line, len),
		    protocol_verb_name((enum protocol_verb)verb),
		    protocol_verb_name(cmd->verb));
		_fail(file, lineno);
	}
	if (want != PROTOCOL_ERROR_OK &&
	    (cmd->detail == NULL || cmd->detail[0] == '\0')) {
		print_error("line \"%s\": error %s has no detail\n",
		    esc(line, len), protocol_error_name(want));
		_fail(file, lineno);
	}
}

static void
slice_expect(struct protocol_slice s, const char *want, size_t wantlen,
    const char *file, int lineno)
{
	char got[1024];

	if (s.len == wantlen && (wantlen == 0 || memcmp(s.ptr, want,
	    wantlen) == 0))
		return;
	snprintf(got, sizeof got, "%s", esc(s.ptr, s.len));
	print_error("expected \"%s\" (%zu bytes), got \"%s\" (%zu bytes)\n",
	    esc(want, wantlen), wantlen, got, s.len);
	_fail(file, lineno);
}

#define OK(cmd, line, verb) parse_expect((cmd), (line), strlen(line), \
    PROTOCOL_ERROR_OK, (verb), __FILE__, __LINE__)
#define ERR(cmd, line, err) parse_expect((cmd), (line), strlen(line), \
    (err), -1, __FILE__, __LINE__)
#define ERRN(cmd, line, len, err) parse_expect((cmd), (line), (len), \
    (err), -1, __FILE__, __LINE__)
#define SLICE(s, want) slice_expect((s), (want), strlen(want), \
    __FILE__, __LINE__)
#define ATTR(cmd, key, want) do { \
	const struct protocol_slice *v_ = protocol_attr_find((cmd), (key)); \
	if (v_ == NULL) { \
		print_error("attribute %s: expected \"%s\", got none\n", \
		    (key), (want)); \
		fail(); \
	} \
	SLICE(*v_, (want)); \
} while (0)

/* Names. */

static void
test_names(void **state)
{
	assert_string_equal(protocol_verb_name(PROTOCOL_VERB_HELLO), "hello");
	assert_string_equal(protocol_verb_name(PROTOCOL_VERB_SETUP_LOG),
	    "setup log");
	assert_string_equal(protocol_verb_name(PROTOCOL_VERB_STOP), "stop");
	assert_string_equal(protocol_verb_name(PROTOCOL_VERB_COUNT), "unknown");
	assert_string_equal(protocol_error_name(PROTOCOL_ERROR_OK), "ok");
	assert_string_equal(protocol_error_name(PROTOCOL_ERROR_LINE_TOO_LONG),
	    "line-too-long");
	assert_string_equal(protocol_error_name(PROTOCOL_ERROR_BAD_ENCODING),
	    "bad-encoding");
	assert_string_equal(
	    protocol_error_name(PROTOCOL_ERROR_TOO_MANY_CONNECTIONS),
	    "too-many-connections");
	assert_string_equal(protocol_error_name(PROTOCOL_ERROR_COUNT),
	    "unknown");
}

/* Verbs, valid forms. */

static void
test_hello(void **state)
{
	struct protocol_command c;

	OK(&c, "hello 1", PROTOCOL_VERB_HELLO);
	assert_int_equal(c.hello_version, 1);
	assert_int_equal(c.hello_ack, 0);
	OK(&c, "hello 1 ack", PROTOCOL_VERB_HELLO);
	assert_int_equal(c.hello_version, 1);
	assert_int_equal(c.hello_ack, 1);
	OK(&c, "HELLO 1 ACK", PROTOCOL_VERB_HELLO);
	assert_int_equal(c.hello_ack, 1);
	OK(&c, "HeLLo 1 aCk\r", PROTOCOL_VERB_HELLO);
	assert_int_equal(c.hello_ack, 1);
	OK(&c, "   hello    1    ack   ", PROTOCOL_VERB_HELLO);
	assert_int_equal(c.hello_ack, 1);
	OK(&c, "hello 1 \r", PROTOCOL_VERB_HELLO);
	assert_int_equal(c.hello_ack, 0);

	ERR(&c, "hello", PROTOCOL_ERROR_BAD_ARGUMENTS);
	assert_string_equal(c.detail, "expected: hello 1 [ack]");
	ERR(&c, "hello 2", PROTOCOL_ERROR_BAD_ARGUMENTS);
	assert_string_equal(c.detail,
	    "unsupported protocol version (expected 1)");
	ERR(&c, "hello 01", PROTOCOL_ERROR_BAD_ARGUMENTS);
	ERR(&c, "hello 1.0", PROTOCOL_ERROR_BAD_ARGUMENTS);
	ERR(&c, "hello ack", PROTOCOL_ERROR_BAD_ARGUMENTS);
	ERR(&c, "hello 1 acks", PROTOCOL_ERROR_BAD_ARGUMENTS);
	ERR(&c, "hello 1 ack ack", PROTOCOL_ERROR_BAD_ARGUMENTS);
	ERR(&c, "hello 1 ack x=y", PROTOCOL_ERROR_BAD_ARGUMENTS);
	ERR(&c, "hello 1 nack", PROTOCOL_ERROR_BAD_ARGUMENTS);
}

static void
test_ping_state(void **state)
{
	struct protocol_command c;

	OK(&c, "ping", PROTOCOL_VERB_PING);
	OK(&c, "PING", PROTOCOL_VERB_PING);
	OK(&c, "  pInG  \r", PROTOCOL_VERB_PING);
	OK(&c, "state", PROTOCOL_VERB_STATE);
	OK(&c, "STATE", PROTOCOL_VERB_STATE);
	OK(&c, " sTaTe ", PROTOCOL_VERB_STATE);

	ERR(&c, "ping pong", PROTOCOL_ERROR_BAD_ARGUMENTS);
	assert_string_equal(c.detail, "expected: ping");
	ERR(&c, "state now", PROTOCOL_ERROR_BAD_ARGUMENTS);
	assert_string_equal(c.detail, "expected: state");
	ERR(&c, "ping k=v", PROTOCOL_ERROR_BAD_ARGUMENTS);
}

static void
test_setup_start(void **state)
{
	struct protocol_command c;

	OK(&c, "setup start", PROTOCOL_VERB_SETUP_START);
	OK(&c, "SETUP    Start\r", PROTOCOL_VERB_SETUP_START);
	OK(&c, "  setup start  ", PROTOCOL_VERB_SETUP_START);

	ERR(&c, "setup start now", PROTOCOL_ERROR_BAD_ARGUMENTS);
	assert_string_equal(c.detail, "expected: setup start");
	ERR(&c, "setup", PROTOCOL_ERROR_UNKNOWN_COMMAND);
	ERR(&c, "setup  ", PROTOCOL_ERROR_UNKNOWN_COMMAND);
	ERR(&c, "setup stop", PROTOCOL_ERROR_UNKNOWN_COMMAND);
	ERR(&c, "setup starts", PROTOCOL_ERROR_UNKNOWN_COMMAND);
	ERR(&c, "setupstart", PROTOCOL_ERROR_UNKNOWN_COMMAND);
}

static void
test_setup_log(void **state)
{
	struct protocol_command c;
	const char *line;

	OK(&c, "setup log hello world", PROTOCOL_VERB_SETUP_LOG);
	SLICE(c.text, "hello world");
	OK(&c, "setup log   x  y  ", PROTOCOL_VERB_SETUP_LOG);
	SLICE(c.text, "  x  y  ");
	OK(&c, "SETUP   LOG x", PROTOCOL_VERB_SETUP_LOG);
	SLICE(c.text, "x");
	OK(&c, "  setup Log loading weights\r", PROTOCOL_VERB_SETUP_LOG);
	SLICE(c.text, "loading weights");
	OK(&c, "setup log", PROTOCOL_VERB_SETUP_LOG);
	SLICE(c.text, "");
	assert_non_null(c.text.ptr);
	OK(&c, "setup log ", PROTOCOL_VERB_SETUP_LOG);
	SLICE(c.text, "");
	OK(&c, "setup log  ", PROTOCOL_VERB_SETUP_LOG);
	SLICE(c.text, " ");
	OK(&c, "setup log a\tb", PROTOCOL_VERB_SETUP_LOG);
	SLICE(c.text, "a\tb");
	/* A '\r' is stripped only right before the end of the line. */
	OK(&c, "setup log a\rb\r", PROTOCOL_VERB_SETUP_LOG);
	SLICE(c.text, "a\rb");
	OK(&c, "setup log k=v stop p1 x", PROTOCOL_VERB_SETUP_LOG);
	SLICE(c.text, "k=v stop p1 x");
	/* Valid multibyte UTF-8: 2, 3 and 4 bytes. */
	line = "setup log h\xc3\xa9llo \xe6\x97\xa5\xe6\x9c\xac "
	    "\xf0\x9f\x8e\x89";
	OK(&c, line, PROTOCOL_VERB_SETUP_LOG);
	SLICE(c.text, "h\xc3\xa9llo \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x8e\x89");
	ERR(&c, "setup logs x", PROTOCOL_ERROR_UNKNOWN_COMMAND);
}

static void
test_setup_done(void **state)
{
	struct protocol_command c;

	OK(&c, "setup done ready", PROTOCOL_VERB_SETUP_DONE);
	assert_int_equal(c.status, STATUS_SETUP_READY);
	assert_int_equal(c.nattrs, 0);
	OK(&c, "setup done succeeded", PROTOCOL_VERB_SETUP_DONE);
	assert_int_equal(c.status, STATUS_SETUP_READY);
	OK(&c, "Setup  DONE  FAILED  \r", PROTOCOL_VERB_SETUP_DONE);
	assert_int_equal(c.status, STATUS_SETUP_FAILED);
	OK(&c, "setup done ready cog_version=0.9 a.b_c=",
	    PROTOCOL_VERB_SETUP_DONE);
	assert_int_equal(c.nattrs, 2);
	ATTR(&c, "cog_version", "0.9");
	ATTR(&c, "a.b_c", "");

	ERR(&c, "setup done", PROTOCOL_ERROR_BAD_ARGUMENTS);
	assert_string_equal(c.detail,
	    "expected: setup done <status> [k=v ...]");
	ERR(&c, "setup done   \r", PROTOCOL_ERROR_BAD_ARGUMENTS);
	ERR(&c, "setup done maybe", PROTOCOL_ERROR_BAD_STATUS);
	assert_string_equal(c.detail,
	    "status must be ready, succeeded or failed");
	ERR(&c, "setup done timeout", PROTOCOL_ERROR_BAD_STATUS);
	ERR(&c, "setup done running", PROTOCOL_ERROR_BAD_STATUS);
	ERR(&c, "setup done canceled", PROTOCOL_ERROR_BAD_STATUS);
	ERR(&c, "setup done readyx", PROTOCOL_ERROR_BAD_STATUS);
	ERR(&c, "setup done model=x", PROTOCOL_ERROR_BAD_STATUS);
	ERR(&c, "setup done ready extra", PROTOCOL_ERROR_BAD_ARGUMENTS);
}

static void
test_enqueue_start(void **state)
{
	struct protocol_command c;

	OK(&c, "enqueue p1", PROTOCOL_VERB_ENQUEUE);
	SLICE(c.id, "p1");
	assert_int_equal(c.nattrs, 0);
	OK(&c, "ENQUEUE  p-2  model=sdxl  tenant=acme\r",
	    PROTOCOL_VERB_ENQUEUE);
	SLICE(c.id, "p-2");
	assert_int_equal(c.nattrs, 2);
	ATTR(&c, "model", "sdxl");
	ATTR(&c, "tenant", "acme");
	OK(&c, "start p1", PROTOCOL_VERB_START);
	SLICE(c.id, "p1");
	OK(&c, "Start abc model=m version=1.2 traceparent="
	    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
	    PROTOCOL_VERB_START);
	SLICE(c.id, "abc");
	ATTR(&c, "version", "1.2");
	ATTR(&c, "traceparent",
	    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
	assert_null(protocol_attr_find(&c, "tenant"));
	assert_null(protocol_attr_find(&c, "mode"));
	/* The id is positional: '=' in it is not an attribute. */
	OK(&c, "start a=b k=v", PROTOCOL_VERB_START);
	SLICE(c.id, "a=b");
	assert_int_equal(c.nattrs, 1);
	ATTR(&c, "k", "v");
	/* Ids are case-sensitive and kept as sent. */
	OK(&c, "START PredID", PROTOCOL_VERB_START);
	SLICE(c.id, "PredID");

	ERR(&c, "enqueue", PROTOCOL_ERROR_BAD_ARGUMENTS);
	assert_string_equal(c.detail, "expected: enqueue <id> [k=v ...]");
	ERR(&c, "start", PROTOCOL_ERROR_BAD_ARGUMENTS);
	assert_string_equal(c.detail, "expected: start <id> [k=v ...]");
	ERR(&c, "start    \r", PROTOCOL_ERROR_BAD_ARGUMENTS);
	ERR(&c, "start p1 junk", PROTOCOL_ERROR_BAD_ARGUMENTS);
	assert_string_equal(c.detail, "expected an attribute key=value");
	ERR(&c, "enqueue p1 model=x junk", PROTOCOL_ERROR_BAD_ARGUMENTS);
}

static void
test_stop(void **state)
{
	struct protocol_command c;

	OK(&c, "stop p1 succeeded", PROTOCOL_VERB_STOP);
	SLICE(c.id, "p1");
	assert_int_equal(c.status, STATUS_PREDICTION_SUCCEEDED);
	OK(&c, "stop p1 FAILED", PROTOCOL_VERB_STOP);
	assert_int_equal(c.status, STATUS_PREDICTION_FAILED);
	OK(&c, "STOP p1 Canceled\r", PROTOCOL_VERB_STOP);
	assert_int_equal(c.status, STATUS_PREDICTION_CANCELED);
	OK(&c, "  stop   p1   aborted  ", PROTOCOL_VERB_STOP);
	assert_int_equal(c.status, STATUS_PREDICTION_ABORTED);
	OK(&c, "stop p1 failed error_code=E1234 input_tokens=10 "
	    "output_tokens=20 images=0 ttft_ms=12.5", PROTOCOL_VERB_STOP);
	assert_int_equal(c.nattrs, 5);
	ATTR(&c, "error_code", "E1234");
	ATTR(&c, "input_tokens", "10");
	ATTR(&c, "output_tokens", "20");
	ATTR(&c, "images", "0");
	ATTR(&c, "ttft_ms", "12.5");

	ERR(&c, "stop", PROTOCOL_ERROR_BAD_ARGUMENTS);
	assert_string_equal(c.detail, "expected: stop <id> <status> [k=v ...]");
	ERR(&c, "stop p1", PROTOCOL_ERROR_BAD_ARGUMENTS);
	assert_string_equal(c.detail, "expected: stop <id> <status> [k=v ...]");
	ERR(&c, "stop p1 \r", PROTOCOL_ERROR_BAD_ARGUMENTS);
	ERR(&c, "stop p1 done", PROTOCOL_ERROR_BAD_STATUS);
	assert_string_equal(c.detail,
	    "status must be succeeded, failed, canceled or aborted");
	ERR(&c, "stop p1 ready", PROTOCOL_ERROR_BAD_STATUS);
	ERR(&c, "stop p1 succeed", PROTOCOL_ERROR_BAD_STATUS);
	ERR(&c, "stop p1 cancelled", PROTOCOL_ERROR_BAD_STATUS);
	ERR(&c, "stop p1 k=v", PROTOCOL_ERROR_BAD_STATUS);
	ERR(&c, "stop p1 succeeded extra", PROTOCOL_ERROR_BAD_ARGUMENTS);
	/* The id is checked before the status. */
	ERR(&c, "stop \x01 maybe", PROTOCOL_ERROR_BAD_ARGUMENTS);
	assert_string_equal(c.detail, "id must be 1-128 printable ASCII bytes");
}

static void
test_unknown_command(void **state)
{
	struct protocol_command c;

	ERR(&c, "frobnicate", PROTOCOL_ERROR_UNKNOWN_COMMAND);
	assert_string_equal(c.detail, "unknown command");
	ERR(&c, "pingx", PROTOCOL_ERROR_UNKNOWN_COMMAND);
	ERR(&c, "pin", PROTOCOL_ERROR_UNKNOWN_COMMAND);
	ERR(&c, "startt p1", PROTOCOL_ERROR_UNKNOWN_COMMAND);
	ERR(&c, "ping\t", PROTOCOL_ERROR_UNKNOWN_COMMAND);
	ERR(&c, "\tping", PROTOCOL_ERROR_UNKNOWN_COMMAND);
	ERR(&c, "p\xc3\xafng", PROTOCOL_ERROR_UNKNOWN_COMMAND);
	/* Case folding is for letters only. */
	ERR(&c, "P\x09NG", PROTOCOL_ERROR_UNKNOWN_COMMAND);
	ERR(&c, "PIN\x07", PROTOCOL_ERROR_UNKNOWN_COMMAND);
	ERR(&c, "st\x01te", PROTOCOL_ERROR_UNKNOWN_COMMAND);
	ERR(&c, "log x", PROTOCOL_ERROR_UNKNOWN_COMMAND);
	ERR(&c, "done ready", PROTOCOL_ERROR_UNKNOWN_COMMAND);
	/* Not blank: a lone '\r' that is not right before the end. */
	ERR(&c, "\r\r", PROTOCOL_ERROR_UNKNOWN_COMMAND);
	/* protocol_line_parse on an empty line, which feed never passes. */
	ERR(&c, "", PROTOCOL_ERROR_UNKNOWN_COMMAND);
	ERR(&c, "   \r", PROTOCOL_ERROR_UNKNOWN_COMMAND);
}

/* Ids. */

static void
test_id_rules(void **state)
{
	struct protocol_command c;
	char line[300];
	char id[200];

	memset(id, 'a', sizeof id);
	snprintf(line, sizeof line, "start x");
	OK(&c, line, PROTOCOL_VERB_START);
	assert_int_equal(c.id.len, 1);

	snprintf(line, sizeof line, "start %.*s", PROTOCOL_ID_MAX, id);
	OK(&c, line, PROTOCOL_VERB_START);
	assert_int_equal(c.id.len, 128);
	snprintf(line, sizeof line, "stop %.*s succeeded", PROTOCOL_ID_MAX, id);
	OK(&c, line, PROTOCOL_VERB_STOP);
	assert_int_equal(c.id.len, 128);

	snprintf(line, sizeof line, "start %.*s", PROTOCOL_ID_MAX + 1, id);
	ERR(&c, line, PROTOCOL_ERROR_BAD_ARGUMENTS);
	assert_string_equal(c.detail, "id must be 1-128 printable ASCII bytes");
	snprintf(line, sizeof line, "enqueue %.*s", PROTOCOL_ID_MAX + 1, id);
	ERR(&c, line, PROTOCOL_ERROR_BAD_ARGUMENTS);
	snprintf(line, sizeof line, "stop %.*s failed", PROTOCOL_ID_MAX + 1,
	    id);
	ERR(&c, line, PROTOCOL_ERROR_BAD_ARGUMENTS);

	/* Every printable ASCII byte but space is allowed. */
	OK(&c, "start !\"#$%&'()*+,-./0123456789:;<=>?@[\\]^_`{|}~",
	    PROTOCOL_VERB_START);
	OK(&c, "start ~", PROTOCOL_VERB_START);
	OK(&c, "start !", PROTOCOL_VERB_START);
	ERR(&c, "start a\tb", PROTOCOL_ERROR_BAD_ARGUMENTS);
	ERR(&c, "start a\x7f", PROTOCOL_ERROR_BAD_ARGUMENTS);
	ERR(&c, "start \x1f", PROTOCOL_ERROR_BAD_ARGUMENTS);
	ERR(&c, "start caf\xc3\xa9", PROTOCOL_ERROR_BAD_ARGUMENTS);
	/* An inner '\r' is a byte of the id, and not printable. */
	ERR(&c, "start a\rb", PROTOCOL_ERROR_BAD_ARGUMENTS);
	ERR(&c, "stop a\r succeeded", PROTOCOL_ERROR_BAD_ARGUMENTS);
	/* Only one trailing '\r' is stripped. */
	OK(&c, "start ab\r", PROTOCOL_VERB_START);
	SLICE(c.id, "ab");
	ERR(&c, "start ab\r\r", PROTOCOL_ERROR_BAD_ARGUMENTS);
}

/* Attributes. */

static void
test_attr_count(void **state)
{
	struct protocol_command c;
	char line[512];
	size_t off;
	int i;

	off = (size_t)snprintf(line, sizeof line, "start p1");
	for (i = 0; i < PROTOCOL_ATTRS_MAX; i++)
		off += (size_t)snprintf(line + off, sizeof line - off,
		    " k%d=v%d", i, i);
	OK(&c, line, PROTOCOL_VERB_START);
	assert_int_equal(c.nattrs, 16);
	ATTR(&c, "k0", "v0");
	ATTR(&c, "k15", "v15");

	snprintf(line + off, sizeof line - off, " k16=v16");
	ERR(&c, line, PROTOCOL_ERROR_BAD_ARGUMENTS);
	assert_string_equal(c.detail, "too many attributes (at most 16)");

	/* 16 on stop and setup done too. */
	off = (size_t)snprintf(line, sizeof line, "stop p1 failed");
	for (i = 0; i < PROTOCOL_ATTRS_MAX; i++)
		off += (size_t)snprintf(line + off, sizeof line - off,
		    " k%d=", i);
	OK(&c, line, PROTOCOL_VERB_STOP);
	assert_int_equal(c.nattrs, 16);
	snprintf(line + off, sizeof line - off, " x=");
	ERR(&c, line, PROTOCOL_ERROR_BAD_ARGUMENTS);
	off = (size_t)snprintf(line, sizeof line, "setup done ready");
	for (i = 0; i <= PROTOCOL_ATTRS_MAX; i++)
		off += (size_t)snprintf(line + off, sizeof line - off,
		    " k%d=1", i);
	ERR(&c, line, PROTOCOL_ERROR_BAD_ARGUMENTS);

	/* A repeated key is kept; lookup finds the first. */
	OK(&c, "start p1 model=a model=b", PROTOCOL_VERB_START);
	assert_int_equal(c.nattrs, 2);
	ATTR(&c, "model", "a");
}

static void
test_attr_keys(void **state)
{
	struct protocol_command c;
	char key[80], line[200];

	memset(key, 'k', sizeof key);
	snprintf(line, sizeof line, "start p1 %.*s=v", PROTOCOL_KEY_MAX, key);
	OK(&c, line, PROTOCOL_VERB_START);
	assert_int_equal(c.attrs[0].key.len, 64);
	snprintf(line, sizeof line, "start p1 %.*s=v", PROTOCOL_KEY_MAX + 1,
	    key);
	ERR(&c, line, PROTOCOL_ERROR_BAD_ARGUMENTS);
	assert_string_equal(c.detail,
	    "attribute key must match [a-z0-9_.]{1,64}");

	OK(&c, "start p1 a.b_c9=v", PROTOCOL_VERB_START);
	ATTR(&c, "a.b_c9", "v");
	OK(&c, "start p1 0=zero", PROTOCOL_VERB_START);
	ATTR(&c, "0", "zero");
	ERR(&c, "start p1 Model=x", PROTOCOL_ERROR_BAD_ARGUMENTS);
	ERR(&c, "start p1 MODEL=x", PROTOCOL_ERROR_BAD_ARGUMENTS);
	ERR(&c, "start p1 k-x=1", PROTOCOL_ERROR_BAD_ARGUMENTS);
	ERR(&c, "start p1 k\xc3\xa9=1", PROTOCOL_ERROR_BAD_ARGUMENTS);
	ERR(&c, "start p1 =x", PROTOCOL_ERROR_BAD_ARGUMENTS);
	ERR(&c, "start p1 =", PROTOCOL_ERROR_BAD_ARGUMENTS);
	ERR(&c, "start p1 novalue", PROTOCOL_ERROR_BAD_ARGUMENTS);

	/* Values: anything but space, possibly empty, '=' included. */
	OK(&c, "start p1 k=", PROTOCOL_VERB_START);
	ATTR(&c, "k", "");
	OK(&c, "start p1 k=a=b", PROTOCOL_VERB_START);
	ATTR(&c, "k", "a=b");
	OK(&c, "start p1 model=caf\xc3\xa9\tx", PROTOCOL_VERB_START);
	ATTR(&c, "model", "caf\xc3\xa9\tx");
	OK(&c, "start p1 k=a\r", PROTOCOL_VERB_START);
	ATTR(&c, "k", "a");
	OK(&c, "start p1 k=a\rb", PROTOCOL_VERB_START);
	ATTR(&c, "k", "a\rb");
}

static void
test_attr_numeric(void **state)
{
	static const char *const counts[] = {
		"input_tokens", "output_tokens", "images",
	};
	static const char *const good[] = {
		"0", "7", "0042", "1234567890123456789",
	};
	static const char *const bad[] = {
		"", "-1", "+1", "1.5", "0x10", "1e3", " ", "12a", "\xd9\xa1",
		"12345678901234567890",
	};
	struct protocol_command c;
	char line[200];
	size_t i, k;

	for (k = 0; k < sizeof counts / sizeof counts[0]; k++) {
		for (i = 0; i < sizeof good / sizeof good[0]; i++) {
			snprintf(line, sizeof line, "stop p1 succeeded %s=%s",
			    counts[k], good[i]);
			OK(&c, line, PROTOCOL_VERB_STOP);
			ATTR(&c, counts[k], good[i]);
		}
		for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
			snprintf(line, sizeof line, "stop p1 succeeded %s=%s",
			    counts[k], bad[i]);
			ERR(&c, line, PROTOCOL_ERROR_BAD_ARGUMENTS);
		}
	}
	ERR(&c, "stop p1 failed images=-3", PROTOCOL_ERROR_BAD_ARGUMENTS);
	assert_string_equal(c.detail, "images must be a non-negative integer");
	/* Counts are checked on start and enqueue too (they are attributes). */
	ERR(&c, "start p1 input_tokens=x", PROTOCOL_ERROR_BAD_ARGUMENTS);

	OK(&c, "stop p1 succeeded ttft_ms=12", PROTOCOL_VERB_STOP);
	OK(&c, "stop p1 succeeded ttft_ms=0", PROTOCOL_VERB_STOP);
	OK(&c, "stop p1 succeeded ttft_ms=12.5", PROTOCOL_VERB_STOP);
	OK(&c, "stop p1 succeeded ttft_ms=0.000125", PROTOCOL_VERB_STOP);
	OK(&c, "stop p1 succeeded ttft_ms=1234567890123456789.5",
	    PROTOCOL_VERB_STOP);
	ERR(&c, "stop p1 succeeded ttft_ms=", PROTOCOL_ERROR_BAD_ARGUMENTS);
	assert_string_equal(c.detail, "ttft_ms must be a non-negative number");
	ERR(&c, "stop p1 succeeded ttft_ms=12.", PROTOCOL_ERROR_BAD_ARGUMENTS);
	ERR(&c, "stop p1 succeeded ttft_ms=.5", PROTOCOL_ERROR_BAD_ARGUMENTS);
	ERR(&c, "stop p1 succeeded ttft_ms=1.2.3",
	    PROTOCOL_ERROR_BAD_ARGUMENTS);
	ERR(&c, "stop p1 succeeded ttft_ms=-1", PROTOCOL_ERROR_BAD_ARGUMENTS);
	ERR(&c, "stop p1 succeeded ttft_ms=1e3", PROTOCOL_ERROR_BAD_ARGUMENTS);
	ERR(&c, "stop p1 succeeded ttft_ms=inf", PROTOCOL_ERROR_BAD_ARGUMENTS);
	ERR(&c, "stop p1 succeeded ttft_ms=1,5", PROTOCOL_ERROR_BAD_ARGUMENTS);
	ERR(&c, "stop p1 succeeded ttft_ms=12345678901234567890",
	    PROTOCOL_ERROR_BAD_ARGUMENTS);

	/* Look-alike and unknown keys are not checked. */
	OK(&c, "stop p1 succeeded image=-1 ttft=x tokens=1.5 foo=-",
	    PROTOCOL_VERB_STOP);
	assert_int_equal(c.nattrs, 4);
}

/* Encoding. */

static void
test_bad_encoding(void **state)
{
	static const char *const bad[] = {
		"\xc0\xaf",		/* overlong '/' */
		"\xc1\xbf",		/* overlong */
		"\xe0\x80\xaf",		/* overlong 3-byte */
		"\xe0\x9f\xbf",		/* overlong 3-byte, top */
		"\xf0\x80\x80\xaf",	/* overlong 4-byte */
		"\xf0\x8f\xbf\xbf",	/* overlong 4-byte, top */
		"\xed\xa0\x80",		/* U+D800 surrogate */
		"\xed\xbf\xbf",		/* U+DFFF surrogate */
		"\xf4\x90\x80\x80",	/* U+110000 */
		"\xf5\x80\x80\x80",	/* lead byte beyond range */
		"\xf8\x88\x80\x80\x80",	/* 5-byte form */
		"\xfe", "\xff",
		"\x80",			/* lone continuation */
		"\xbf\xbf",
		"\xc3",			/* truncated at end of line */
		"\xe6\x97",		/* truncated 3-byte */
		"\xf0\x9f\x8e",		/* truncated 4-byte */
		"\xe6\x97 x",		/* truncated by a space */
		"\xc3\xc3\xa9",		/* lead where continuation expected */
		"\xf0\x9f\x8e\x41",
	};
	static const char *const prefixes[] = {
		"setup log ", "start ", "frobnicate ", "stop p1 succeeded k=",
		"", "ping ",
	};
	static const char *const good[] = {
		"\x7f", "\xc2\x80", "\xdf\xbf", "\xe0\xa0\x80", "\xed\x9f\xbf",
		"\xee\x80\x80", "\xef\xbf\xbf", "\xf0\x90\x80\x80",
		"\xf4\x8f\xbf\xbf", "\xf3\xbf\xbf\xbf",
	};
	struct protocol_command c;
	char line[200];
	size_t i, k, n;

	for (k = 0; k < sizeof prefixes / sizeof prefixes[0]; k++) {
		for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
			snprintf(line, sizeof line, "%s%s", prefixes[k],
			    bad[i]);
			ERR(&c, line, PROTOCOL_ERROR_BAD_ENCODING);
			snprintf(line, sizeof line, "%s%s tail\r", prefixes[k],
			    bad[i]);
			ERR(&c, line, PROTOCOL_ERROR_BAD_ENCODING);
		}
	}
	assert_string_equal(c.detail, "NUL byte or invalid UTF-8");

	/* A NUL anywhere: start, middle, end, in text, in an id. */
	ERRN(&c, "\0ping", 5, PROTOCOL_ERROR_BAD_ENCODING);
	ERRN(&c, "ping\0", 5, PROTOCOL_ERROR_BAD_ENCODING);
	ERRN(&c, "ping\0\r", 6, PROTOCOL_ERROR_BAD_ENCODING);
	ERRN(&c, "setup log a\0b", 13, PROTOCOL_ERROR_BAD_ENCODING);
	ERRN(&c, "start p\0" "1", 9, PROTOCOL_ERROR_BAD_ENCODING);
	ERRN(&c, "setup log 0123456789abcdef\0ghijklmnopqrst", 41,
	    PROTOCOL_ERROR_BAD_ENCODING);
	/* Checked before anything else: an encoding error wins. */
	ERR(&c, "frobnicate \xff", PROTOCOL_ERROR_BAD_ENCODING);
	ERR(&c, "stop \x01 bad \xff", PROTOCOL_ERROR_BAD_ENCODING);
	ERR(&c, "ping extra \xc0\x80", PROTOCOL_ERROR_BAD_ENCODING);

	/* Boundaries of each valid form. */
	for (i = 0; i < sizeof good / sizeof good[0]; i++) {
		snprintf(line, sizeof line, "setup log %s", good[i]);
		OK(&c, line, PROTOCOL_VERB_SETUP_LOG);
		n = strlen(good[i]);
		slice_expect(c.text, good[i], n, __FILE__, __LINE__);
	}
}

/* An independent decoder: code point, then range rules. */
static int
ref_utf8_valid(const unsigned char *s, size_t len)
{
	size_t i = 0, n, k;
	uint32_t cp;

	while (i < len) {
		if (s[i] == 0)
			return 0;
		if (s[i] < 0x80) {
			i++;
			continue;
		}
		if ((s[i] & 0xe0) == 0xc0) {
			n = 2;
			cp = s[i] & 0x1f;
		} else if ((s[i] & 0xf0) == 0xe0) {
			n = 3;
			cp = s[i] & 0x0f;
		} else if ((s[i] & 0xf8) == 0xf0) {
			n = 4;
			cp = s[i] & 0x07;
		} else
			return 0;
		if (i + n > len)
			return 0;
		for (k = 1; k < n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) ||
		    (n == 4 && cp < 0x10000))
			return 0;
		if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += n;
	}
	return 1;
}

static void
utf8_compare(const unsigned char *s, size_t len)
{
	int want, got;

	want = ref_utf8_valid(s, len);
	got = protocol_utf8_valid((const char *)s, len);
	if (want != got) {
		print_error("utf8 \"%s\": expected %d, got %d\n",
		    esc((const char *)s, len), want, got);
		fail();
	}
}

static void
test_utf8_exhaustive(void **state)
{
	static const unsigned char tails[] = {
		0x00, 0x20, 0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf,
		0xc0, 0xc2, 0xe0, 0xf0, 0xff,
	};
	unsigned char s[4];
	unsigned a, b, t, u;

	for (a = 0; a < 256; a++) {
		s[0] = (unsigned char)a;
		utf8_compare(s, 1);
		for (b = 0; b < 256; b++) {
			s[1] = (unsigned char)b;
			utf8_compare(s, 2);
			for (t = 0; t < sizeof tails; t++) {
				s[2] = tails[t];
				utf8_compare(s, 3);
				for (u = 0; u < sizeof tails; u++) {
					s[3] = tails[u];
					utf8_compare(s, 4);
				}
			}
		}
	}
	assert_int_equal(protocol_utf8_valid("", 0), 1);
}

/* The 8-byte ASCII path: a bad byte at every offset, in every length. */
static void
test_utf8_fast_path(void **state)
{
	char buf[64];
	size_t len, pos;

	for (len = 1; len <= sizeof buf; len++) {
		memset(buf, 'a', len);
		assert_int_equal(protocol_utf8_valid(buf, len), 1);
		for (pos = 0; pos < len; pos++) {
			buf[pos] = '\0';
			assert_int_equal(protocol_utf8_valid(buf, len), 0);
			buf[pos] = (char)0x80;
			assert_int_equal(protocol_utf8_valid(buf, len), 0);
			buf[pos] = (char)0xff;
			assert_int_equal(protocol_utf8_valid(buf, len), 0);
			buf[pos] = 0x7f;
			assert_int_equal(protocol_utf8_valid(buf, len), 1);
			buf[pos] = 0x01;
			assert_int_equal(protocol_utf8_valid(buf, len), 1);
			buf[pos] = 'a';
		}
		/* A valid 3-byte character at every offset that fits. */
		for (pos = 0; pos + 3 <= len; pos++) {
			memcpy(buf + pos, "\xe2\x82\xac", 3);
			assert_int_equal(protocol_utf8_valid(buf, len), 1);
			/* ... and cut short by the end of the buffer. */
			assert_int_equal(protocol_utf8_valid(buf, pos + 2), 0);
			memset(buf + pos, 'a', 3);
		}
	}
}

/* Framing. */

static void
test_empty_lines(void **state)
{
	struct protocol_parser p;
	struct record r = { 0 };
	const char *in = "\n\r\n   \n \r\n\n\n  \r\n";

	protocol_parser_init(&p, 64);
	protocol_parser_feed(&p, in, strlen(in), record_cb, &r);
	assert_int_equal(r.ncalls, 0);
	assert_int_equal(protocol_parser_buffered(&p), 0);
	/* "\r\r\n": one '\r' is stripped, the other is the line. */
	protocol_parser_feed(&p, "\r\r\nping\r\n", 9, record_cb, &r);
	assert_string_equal(r.s,
	    "err unknown-command: unknown command\n"
	    "ping\n");
	protocol_parser_free(&p);
	record_free(&r);
}

static void
test_crlf_and_partial(void **state)
{
	struct protocol_parser p;
	struct record r = { 0 };

	protocol_parser_init(&p, 64);
	protocol_parser_feed(&p, "ping\r\nstate\r\nstart p1\r", 22, record_cb,
	    &r);
	assert_string_equal(r.s, "ping\nstate\n");
	assert_int_equal(protocol_parser_buffered(&p), 9);
	/* The held '\r' is stripped once its '\n' arrives. */
	protocol_parser_feed(&p, "\nstop p1 failed", 15, record_cb, &r);
	assert_string_equal(r.s, "ping\nstate\nstart id=p1\n");
	assert_int_equal(protocol_parser_buffered(&p), 14);
	protocol_parser_feed(&p, "\r", 1, record_cb, &r);
	protocol_parser_feed(&p, "\n", 1, record_cb, &r);
	assert_string_equal(r.s, "ping\nstate\nstart id=p1\nstop id=p1 st=1\n");
	assert_int_equal(protocol_parser_buffered(&p), 0);
	/* Feeding nothing does nothing. */
	protocol_parser_feed(&p, "", 0, record_cb, &r);
	assert_int_equal(r.ncalls, 4);
	protocol_parser_free(&p);
	record_free(&r);
}

/* max_line 40 in the stream below. */
#define SPLIT_MAX_LINE 40

static const char split_stream[] =
    "hello 1 ack\n"
    "PING\r\n"
    "\n"
    "   \r\n"
    "state\n"
    "setup  start\n"
    "setup log h\xc3\xa9llo  \xe6\x97\xa5\xf0\x9f\x8e\x89 \n"
    "setup log\n"
    "setup done READY model=x\n"
    "enqueue p1 model=sdxl\n"
    "start p1 tenant=a\r\n"
    "stop p1 succeeded images=2 ttft_ms=1.5\n"
    "stop p2 maybe\n"
    "start\n"
    "frobnicate\n"
    "setup log \xc0\xaf\n"
    "start p\0" "3\n"
    "start aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n"
    "ping\n"
    "setup log 012345678901234567890123456789\n"
    "setup log 01234567890123456789012345678\r\n"
    "setup log 012345678901234567890123456789\r\n"
    "\r\r\n"
    "stop p1 aborted\n"
    "ping";

static const char split_expected[] =
    "hello v=1 ack=1\n"
    "ping\n"
    "state\n"
    "setup start\n"
    "setup log text=[h\\xc3\\xa9llo  \\xe6\\x97\\xa5\\xf0\\x9f\\x8e\\x89 ]\n"
    "setup log text=[]\n"
    "setup done st=1 model=x\n"
    "enqueue id=p1 model=sdxl\n"
    "start id=p1 tenant=a\n"
    "stop id=p1 st=0 images=2 ttft_ms=1.5\n"
    "err bad-status: status must be succeeded, failed, canceled or aborted\n"
    "err bad-arguments: expected: start <id> [k=v ...]\n"
    "err unknown-command: unknown command\n"
    "err bad-encoding: NUL byte or invalid UTF-8\n"
    "err bad-encoding: NUL byte or invalid UTF-8\n"
    "err line-too-long: line longer than max_line bytes\n"
    "ping\n"
    "setup log text=[012345678901234567890123456789]\n"
    "setup log text=[01234567890123456789012345678]\n"
    "err line-too-long: line longer than max_line bytes\n"
    "err unknown-command: unknown command\n"
    "stop id=p1 st=3\n";

static void
split_run(const char *data, size_t len, const size_t *cuts, size_t ncuts,
    struct record *r)
{
	struct protocol_parser p;
	size_t off = 0, i, end;

	protocol_parser_init(&p, SPLIT_MAX_LINE);
	r->parser = &p;
	for (i = 0; i <= ncuts; i++) {
		end = i < ncuts ? cuts[i] : len;
		protocol_parser_feed(&p, data + off, end - off, record_cb, r);
		assert_true(protocol_parser_buffered(&p) <= SPLIT_MAX_LINE);
		assert_true(p.cap <= SPLIT_MAX_LINE + 1);
		off = end;
	}
	/* The unfinished "ping" is held, never reported. */
	assert_int_equal(protocol_parser_buffered(&p), 4);
	protocol_parser_free(&p);
	r->parser = NULL;
}

static void
split_expect_same(const struct record *want, const struct record *got,
    const char *how)
{
	if (strcmp(want->s, got->s) == 0)
		return;
	print_error("%s: expected callbacks\n%s\ngot\n%s\n", how, want->s,
	    got->s);
	fail();
}

static void
test_split_points(void **state)
{
	const size_t len = sizeof split_stream - 1;
	struct record whole = { 0 }, r = { 0 };
	size_t cut, n, i;
	size_t cuts[2] = { 0, 0 };
	size_t bytes[sizeof split_stream];
	uint64_t rng = 0x9e3779b97f4a7c15ULL;
	char how[64];

	/* All at once: the reference, checked against the text above. */
	split_run(split_stream, len, cuts, 0, &whole);
	assert_string_equal(whole.s, split_expected);

	/* One byte per feed. */
	for (i = 0; i < len; i++)
		bytes[i] = i + 1;
	split_run(split_stream, len, bytes, len - 1, &r);
	split_expect_same(&whole, &r, "byte by byte");
	record_free(&r);

	/* Every single split point, and every pair of neighbouring ones. */
	for (cut = 0; cut <= len; cut++) {
		cuts[0] = cut;
		split_run(split_stream, len, cuts, 1, &r);
		snprintf(how, sizeof how, "split at %zu", cut);
		split_expect_same(&whole, &r, how);
		record_free(&r);
		for (n = 1; n < 48 && cut + n <= len; n++) {
			cuts[1] = cut + n;
			split_run(split_stream, len, cuts, 2, &r);
			snprintf(how, sizeof how, "split at %zu and %zu", cut,
			    cut + n);
			split_expect_same(&whole, &r, how);
			record_free(&r);
		}
	}

	/* Random chunkings. */
	for (i = 0; i < 2000; i++) {
		size_t off = 0, k = 0;

		while (off < len) {
			off += 1 + test_rng_below(&rng, 24);
			if (off < len)
				bytes[k++] = off;
		}
		split_run(split_stream, len, bytes, k, &r);
		snprintf(how, sizeof how, "random chunking %zu", i);
		split_expect_same(&whole, &r, how);
		record_free(&r);
	}
	record_free(&whole);
}

/* A line whole inside one feed is parsed in place; a split one is copied. */
struct where {
	const char *lo;
	const char *hi;
	int inside;
	int calls;
};

static void
where_cb(void *arg, const struct protocol_command *cmd)
{
	struct where *w = arg;

	w->calls++;
	w->inside = cmd->id.ptr >= w->lo && cmd->id.ptr + cmd->id.len <= w->hi;
}

static void
test_zero_copy(void **state)
{
	struct protocol_parser p;
	struct where w = { 0 };
	const char in[] = "start p1\nstart p2\n";

	protocol_parser_init(&p, 64);
	w.lo = in;
	w.hi = in + sizeof in - 1;
	protocol_parser_feed(&p, in, sizeof in - 1, where_cb, &w);
	assert_int_equal(w.calls, 2);
	assert_int_equal(w.inside, 1);
	/* Whole lines never touch the buffer: nothing was allocated. */
	assert_null(p.buf);
	assert_int_equal(p.cap, 0);

	protocol_parser_feed(&p, in, 12, where_cb, &w);
	assert_int_equal(w.calls, 3);
	assert_int_equal(protocol_parser_buffered(&p), 3);
	assert_non_null(p.buf);
	w.lo = p.buf;
	w.hi = p.buf + p.cap;
	protocol_parser_feed(&p, in + 12, sizeof in - 1 - 12, where_cb, &w);
	assert_int_equal(w.calls, 4);
	assert_int_equal(w.inside, 1);
	assert_int_equal(protocol_parser_buffered(&p), 0);

	/* Free releases the buffer; the parser can be fed again. */
	protocol_parser_free(&p);
	assert_null(p.buf);
	assert_int_equal(protocol_parser_buffered(&p), 0);
	protocol_parser_feed(&p, "sta", 3, where_cb, &w);
	protocol_parser_feed(&p, "rt p3\n", 6, where_cb, &w);
	assert_int_equal(w.calls, 5);
	protocol_parser_free(&p);
}

static void
test_buffer_growth(void **state)
{
	struct protocol_parser p;
	struct record r = { 0 };
	char chunk[100];
	int i;

	memset(chunk, 'x', sizeof chunk);
	protocol_parser_init(&p, 1000);
	for (i = 0; i < 9; i++) {
		protocol_parser_feed(&p, chunk, sizeof chunk, record_cb, &r);
		assert_true(p.cap >= p.len);
		assert_true(p.cap <= 1001);
	}
	assert_int_equal(protocol_parser_buffered(&p), 900);
	/* Geometric from 256: 256, 512, 1024 capped at max_line + 1. */
	assert_int_equal(p.cap, 1001);
	protocol_parser_feed(&p, chunk, sizeof chunk, record_cb, &r);
	assert_int_equal(protocol_parser_buffered(&p), 1000);
	assert_int_equal(r.ncalls, 0);
	protocol_parser_feed(&p, "\n", 1, record_cb, &r);
	assert_string_equal(r.s, "err unknown-command: unknown command\n");
	protocol_parser_free(&p);
	record_free(&r);

	/* A small max_line caps the first allocation too. */
	protocol_parser_init(&p, 10);
	protocol_parser_feed(&p, "ping", 4, record_cb, &r);
	assert_int_equal(p.cap, 11);
	protocol_parser_free(&p);
	record_free(&r);
}

static void
max_line_run(const char *line, size_t max_line, const char *want)
{
	struct protocol_parser p;
	struct record r = { 0 };
	size_t len = strlen(line), i;

	/* Whole, then byte by byte: the same verdict. */
	protocol_parser_init(&p, max_line);
	r.parser = &p;
	protocol_parser_feed(&p, line, len, record_cb, &r);
	protocol_parser_feed(&p, "ping\n", 5, record_cb, &r);
	assert_string_equal(r.s, want);
	record_free(&r);
	r.parser = &p;
	for (i = 0; i < len; i++)
		protocol_parser_feed(&p, line + i, 1, record_cb, &r);
	protocol_parser_feed(&p, "ping\n", 5, record_cb, &r);
	assert_string_equal(r.s, want);
	protocol_parser_free(&p);
	record_free(&r);
}

static void
test_max_line_exact(void **state)
{
	const char *tl = "err line-too-long: line longer than max_line bytes\n";
	char want[200];

	/* "setup log " + 22 bytes = 32 bytes before '\n'. */
	max_line_run("setup log 0123456789012345678901\n", 32,
	    "setup log text=[0123456789012345678901]\nping\n");
	snprintf(want, sizeof want, "%sping\n", tl);
	max_line_run("setup log 01234567890123456789012\n", 32, want);
	/* The '\r' counts (docs/protocol.md): 31 + '\r' fits, 32 + '\r' not. */
	max_line_run("setup log 012345678901234567890\r\n", 32,
	    "setup log text=[012345678901234567890]\nping\n");
	max_line_run("setup log 0123456789012345678901\r\n", 32, want);
	/* Blank lines longer than max_line are still too long. */
	max_line_run("                                  \n", 32, want);
	/* max_line 0: every non-empty line is too long. */
	max_line_run("p\n", 0, "err line-too-long: line longer than max_line "
	    "bytes\nerr line-too-long: line longer than max_line bytes\n");
	max_line_run("\n", 0,
	    "err line-too-long: line longer than max_line bytes\n");
}

static void
test_oversized_line(void **state)
{
	const size_t max_line = 65536, total = 10u << 20;
	static const size_t chunks[] = { 65536, 7919, 1, 1u << 20 };
	struct protocol_parser p;
	struct record r = { 0 };
	char *big;
	size_t k, off, n;

	big = xmalloc(total + 16);
	memset(big, 'a', total);
	for (k = 0; k < sizeof chunks / sizeof chunks[0]; k++) {
		protocol_parser_init(&p, max_line);
		r.parser = &p;
		if (chunks[k] == 65536) {
			/* Exactly max_line held: not too long yet. */
			protocol_parser_feed(&p, big, 65536, record_cb, &r);
			assert_int_equal(r.ncalls, 0);
			assert_int_equal(protocol_parser_buffered(&p), 65536);
			/* One more byte, no newline: reported at once. */
			protocol_parser_feed(&p, big, 1, record_cb, &r);
			assert_int_equal(r.ncalls, 1);
			assert_int_equal(protocol_parser_buffered(&p), 0);
		}
		/* A 1 MiB feed is fast enough even one byte at a time. */
		n = chunks[k] == 1 ? 1u << 20 : total;
		for (off = 0; off < n; off += chunks[k]) {
			protocol_parser_feed(&p, big + off,
			    chunks[k] < n - off ? chunks[k] : n - off,
			    record_cb, &r);
			assert_true(protocol_parser_buffered(&p) <= max_line);
			assert_true(p.cap <= max_line + 1);
		}
		assert_int_equal(r.ncalls, 1);
		assert_int_equal(r.nerrors[PROTOCOL_ERROR_LINE_TOO_LONG], 1);
		protocol_parser_feed(&p, "\r\nping\n", 7, record_cb, &r);
		assert_string_equal(r.s, "err line-too-long: line longer than "
		    "max_line bytes\nping\n");
		protocol_parser_free(&p);
		record_free(&r);
	}

	/* The whole line and the next in one feed: nothing is buffered. */
	memcpy(big + total, "\nping\nsta", 9);
	protocol_parser_init(&p, max_line);
	protocol_parser_feed(&p, big, total + 9, record_cb, &r);
	assert_string_equal(r.s, "err line-too-long: line longer than "
	    "max_line bytes\nping\n");
	assert_int_equal(protocol_parser_buffered(&p), 3);
	assert_true(p.cap <= 256);
	protocol_parser_free(&p);
	record_free(&r);
	free(big);
}

/* Random lines: junk bytes mixed with protocol words. */
static size_t
junk_fill(char *buf, size_t len, uint64_t *rng)
{
	static const char *const words[] = {
		"start", "stop", "STOP", "enqueue", "setup", "log", "done",
		"ready", "hello", "1", "ack", "ping", "state", "p1", "p2",
		"succeeded", "aborted", "k=v", "input_tokens=12", "ttft_ms=1.5",
		"images=-1", "\xc3\xa9", "\xe6\x97\xa5", "\xf0\x9f\x8e\x89",
		"\xc0\xaf", "\xed\xa0\x80", "\r", "\r\n", " ", "   ", "\n", "=",
	};
	static const char *const lines[] = {
		"ping\n", "start p1 model=x\r\n",
		"stop p1 succeeded images=1\n",
		"setup log \xc3\xa9t\xc3\xa9\n", "hello 1 ack\n",
	};
	size_t off = 0, n, w, i;
	int mode;

	while (off < len) {
		mode = (int)test_rng_below(rng, 5);
		if (mode == 4) {
			/* A whole valid line, so the parse functions run. */
			w = test_rng_below(rng, sizeof lines / sizeof lines[0]);
			n = strlen(lines[w]);
			if (n > len - off)
				n = len - off;
			memcpy(buf + off, lines[w], n);
			off += n;
			continue;
		}
		if (mode == 0) {
			/* Raw bytes, a few to a few thousand. */
			n = 1 + test_rng_below(rng, test_rng_below(rng, 2) ? 16 : 3000);
			for (i = 0; i < n && off < len; i++)
				buf[off++] = (char)test_rng_next(rng);
			continue;
		}
		w = test_rng_below(rng, sizeof words / sizeof words[0]);
		n = strlen(words[w]);
		if (n > len - off)
			n = len - off;
		memcpy(buf + off, words[w], n);
		off += n;
		if (off < len && mode == 1)
			buf[off++] = ' ';
	}
	return off;
}

static void
test_random_junk(void **state)
{
	const size_t total = 4u << 20, max_line = 1024;
	struct protocol_parser p;
	struct record whole = { 0 }, r = { 0 };
	uint64_t rng = 0x0123456789abcdefULL;
	char *junk;
	size_t i;
	int round;

	junk = xmalloc(total);
	junk_fill(junk, total, &rng);

	protocol_parser_init(&p, max_line);
	whole.parser = &p;
	protocol_parser_feed(&p, junk, total, record_cb, &whole);
	assert_true(protocol_parser_buffered(&p) <= max_line);
	protocol_parser_free(&p);
	/* The mix must reach the parse functions, not only errors. */
	assert_true(whole.ncalls > 1000);
	assert_true(whole.nerrors[PROTOCOL_ERROR_OK] > 100);
	assert_true(whole.nerrors[PROTOCOL_ERROR_BAD_ENCODING] > 10);
	assert_true(whole.nerrors[PROTOCOL_ERROR_LINE_TOO_LONG] > 10);
	assert_true(whole.nerrors[PROTOCOL_ERROR_UNKNOWN_COMMAND] > 10);
	assert_true(whole.nerrors[PROTOCOL_ERROR_BAD_ARGUMENTS] > 10);
	assert_true(whole.nerrors[PROTOCOL_ERROR_BAD_STATUS] > 0);

	for (round = 0; round < 3; round++) {
		protocol_parser_init(&p, max_line);
		feed_chunked(&p, junk, total, &r, &rng,
		    round == 0 ? 16 : round == 1 ? 700 : 8192);
		protocol_parser_free(&p);
		split_expect_same(&whole, &r, "random junk in random chunks");
		record_free(&r);
	}

	/* Pure random bytes, with and without newlines. */
	for (i = 0; i < total; i++)
		junk[i] = (char)test_rng_next(&rng);
	protocol_parser_init(&p, max_line);
	feed_chunked(&p, junk, total, &r, &rng, 4096);
	protocol_parser_free(&p);
	assert_true(r.ncalls > 0);
	record_free(&r);
	for (i = 0; i < total; i++) {
		if (junk[i] == '\n')
			junk[i] = 'x';
	}
	protocol_parser_init(&p, max_line);
	feed_chunked(&p, junk, total, &r, &rng, 4096);
	protocol_parser_free(&p);
	assert_int_equal(r.ncalls, 1);
	assert_int_equal(r.nerrors[PROTOCOL_ERROR_LINE_TOO_LONG], 1);
	record_free(&r);

	record_free(&whole);
	free(junk);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_hello),
		cmocka_unit_test(test_ping_state),
		cmocka_unit_test(test_setup_start),
		cmocka_unit_test(test_setup_log),
		cmocka_unit_test(test_setup_done),
		cmocka_unit_test(test_enqueue_start),
		cmocka_unit_test(test_stop),
		cmocka_unit_test(test_unknown_command),
		cmocka_unit_test(test_id_rules),
		cmocka_unit_test(test_attr_count),
		cmocka_unit_test(test_attr_keys),
		cmocka_unit_test(test_attr_numeric),
		cmocka_unit_test(test_bad_encoding),
		cmocka_unit_test(test_utf8_exhaustive),
		cmocka_unit_test(test_utf8_fast_path),
		cmocka_unit_test(test_empty_lines),
		cmocka_unit_test(test_crlf_and_partial),
		cmocka_unit_test(test_split_points),
		cmocka_unit_test(test_zero_copy),
		cmocka_unit_test(test_buffer_growth),
		cmocka_unit_test(test_max_line_exact),
		cmocka_unit_test(test_oversized_line),
		cmocka_unit_test(test_random_junk),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
