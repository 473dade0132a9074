/*
 * protocol -- the Unix-socket line protocol v1: bytes in, parsed commands
 * out; see protocol.h and docs/protocol.md.
 *
 * Framing. protocol_parser_feed() looks for '\n' with memchr. A line that
 * lies whole inside the fed bytes is parsed where it is, without a copy;
 * only the unfinished tail of a feed is appended to the parser's buffer,
 * which is allocated on first use and grows geometrically up to, never
 * beyond, max_line + 1 bytes. The length of a line is the number of bytes
 * before its '\n' (a trailing '\r' included, as docs/protocol.md says). As
 * soon as the unfinished part is longer than max_line, one LINE_TOO_LONG is
 * reported and the parser drops bytes up to and including the next '\n', so
 * a peer that never sends a newline costs at most max_line bytes. Because
 * the decision depends only on the line's bytes, every way of splitting the
 * same stream into feeds yields the same callbacks.
 *
 * Parsing. A line is checked in this order: encoding (NUL or invalid UTF-8
 * anywhere is BAD_ENCODING), verb (looked up in protocol_verbs, one row per
 * verb with its words, parse function and usage text), then the verb's
 * arguments. Words are runs of bytes other than ' '. The slices of a
 * command point into the line and live only as long as the callback.
 * Nothing here allocates per line, and nothing keeps state between lines
 * except the framing buffer.
 */
#include "protocol.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "status.h"
#include "xmalloc.h"

/* First allocation of the line buffer; it doubles from here. */
#define PROTOCOL_BUF_MIN 256

/* Longest decimal integer accepted for a count (fits in int64_t). */
#define PROTOCOL_DIGITS_MAX 19

struct protocol_cursor {
	const char *p;
	const char *end;
};

struct protocol_verb_entry;

typedef enum protocol_error protocol_parse_fn(
    const struct protocol_verb_entry *, struct protocol_cursor *,
    struct protocol_command *);

struct protocol_verb_entry {
	const char *word;	/* first word, lower case */
	const char *subword;	/* second word, or NULL */
	enum protocol_verb verb;
	protocol_parse_fn *parse;
	const char *usage;	/* detail of a generic bad-arguments */
};

struct protocol_numeric_key {
	const char *key;
	size_t len;
	int (*valid)(const char *, size_t);
	const char *detail;
};

static protocol_parse_fn protocol_parse_hello;
static protocol_parse_fn protocol_parse_bare;
static protocol_parse_fn protocol_parse_log;
static protocol_parse_fn protocol_parse_setup_done;
static protocol_parse_fn protocol_parse_id;
static protocol_parse_fn protocol_parse_stop;

static int protocol_count_valid(const char *, size_t);
static int protocol_number_valid(const char *, size_t);

/* In the order of PROTOCOL_VERB_LIST. */
static const struct protocol_verb_entry protocol_verbs[] = {
	{ "hello", NULL, PROTOCOL_VERB_HELLO, protocol_parse_hello,
	    "expected: hello 1 [ack]" },
	{ "ping", NULL, PROTOCOL_VERB_PING, protocol_parse_bare,
	    "expected: ping" },
	{ "state", NULL, PROTOCOL_VERB_STATE, protocol_parse_bare,
	    "expected: state" },
	{ "setup", "start", PROTOCOL_VERB_SETUP_START, protocol_parse_bare,
	    "expected: setup start" },
	{ "setup", "log", PROTOCOL_VERB_SETUP_LOG, protocol_parse_log,
	    "expected: setup log <text>" },
	{ "setup", "done", PROTOCOL_VERB_SETUP_DONE, protocol_parse_setup_done,
	    "expected: setup done <status> [k=v ...]" },
	{ "enqueue", NULL, PROTOCOL_VERB_ENQUEUE, protocol_parse_id,
	    "expected: enqueue <id> [k=v ...]" },
	{ "start", NULL, PROTOCOL_VERB_START, protocol_parse_id,
	    "expected: start <id> [k=v ...]" },
	{ "stop", NULL, PROTOCOL_VERB_STOP, protocol_parse_stop,
	    "expected: stop <id> <status> [k=v ...]" },
};

_Static_assert(sizeof protocol_verbs / sizeof protocol_verbs[0] ==
    PROTOCOL_VERB_COUNT, "protocol_verbs must list every verb");

#define PROTOCOL_NUMERIC(k, f, what) { k, sizeof(k) - 1, f, k " must be " what }

/* Attributes whose values other modules read as numbers. */
static const struct protocol_numeric_key protocol_numeric_keys[] = {
	PROTOCOL_NUMERIC("input_tokens", protocol_count_valid,
	    "a non-negative integer"),
	PROTOCOL_NUMERIC("output_tokens", protocol_count_valid,
	    "a non-negative integer"),
	PROTOCOL_NUMERIC("images", protocol_count_valid,
	    "a non-negative integer"),
	PROTOCOL_NUMERIC("ttft_ms", protocol_number_valid,
	    "a non-negative number"),
};

static const char *const protocol_verb_names[] = {
#define X(e, s) s,
	PROTOCOL_VERB_LIST(X)
#undef X
};

static const char *const protocol_error_names[] = {
#define X(e, s) s,
	PROTOCOL_ERROR_LIST(X)
#undef X
};

const char *
protocol_verb_name(enum protocol_verb verb)
{
	if ((unsigned)verb >= PROTOCOL_VERB_COUNT)
		return "unknown";
	return protocol_verb_names[verb];
}

const char *
protocol_error_name(enum protocol_error error)
{
	if ((unsigned)error >= PROTOCOL_ERROR_COUNT)
		return "unknown";
	return protocol_error_names[error];
}

/*
 * Encoding. Almost every line is pure ASCII, so eight bytes are tested at
 * once: a word with no high bit set and no zero byte needs no decoding. The
 * zero-byte test is the classic (v - 0x01..) & ~v & 0x80.., which is exact
 * about whether some byte is zero. Anything else is decoded one character
 * at a time against the well-formed table of Unicode 15, section 3.9.
 */
#define PROTOCOL_ONES 0x0101010101010101ULL
#define PROTOCOL_HIGHS 0x8080808080808080ULL

static int
protocol_ascii8(const unsigned char *s)
{
	uint64_t v;

	memcpy(&v, s, sizeof v);
	return ((v | ((v - PROTOCOL_ONES) & ~v)) & PROTOCOL_HIGHS) == 0;
}

/* Length of the valid character at s, or 0 when it is invalid or NUL. */
static size_t
protocol_utf8_char(const unsigned char *s, size_t avail)
{
	unsigned char c = s[0], lo = 0x80, hi = 0xbf;
	size_t n, i;

	if (c == 0)
		return 0;
	if (c < 0x80)
		return 1;
	if (c < 0xc2)		/* continuation byte, or overlong 2-byte */
		return 0;
	if (c < 0xe0)
		n = 2;
	else if (c < 0xf0) {
		n = 3;
		if (c == 0xe0)
			lo = 0xa0;	/* overlong */
		else if (c == 0xed)
			hi = 0x9f;	/* surrogates */
	} else if (c < 0xf5) {
		n = 4;
		if (c == 0xf0)
			lo = 0x90;	/* overlong */
		else if (c == 0xf4)
			hi = 0x8f;	/* above U+10FFFF */
	} else
		return 0;
	if (avail < n || s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	}
	return n;
}

int
protocol_utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	const unsigned char *end = p + len;
	size_t n;

	while (p < end) {
		if ((size_t)(end - p) >= 8 && protocol_ascii8(p)) {
			p += 8;
			continue;
		}
		n = protocol_utf8_char(p, (size_t)(end - p));
		if (n == 0)
			return 0;
		p += n;
	}
	return 1;
}

/* Words. */

static int
protocol_word_next(struct protocol_cursor *c, struct protocol_slice *w)
{
	const char *s;

	while (c->p < c->end && *c->p == ' ')
		c->p++;
	if (c->p == c->end)
		return 0;
	s = c->p;
	while (c->p < c->end && *c->p != ' ')
		c->p++;
	w->ptr = s;
	w->len = (size_t)(c->p - s);
	return 1;
}

/* Case-insensitive match of w against a lower-case word of letters. */
static int
protocol_word_is(const struct protocol_slice *w, const char *name)
{
	size_t i;

	for (i = 0; i < w->len; i++) {
		if (name[i] == '\0' || (w->ptr[i] | 0x20) != name[i])
			return 0;
	}
	return name[i] == '\0';
}

static int
protocol_id_valid(const struct protocol_slice *w)
{
	size_t i;
	unsigned char c;

	if (w->len == 0 || w->len > PROTOCOL_ID_MAX)
		return 0;
	for (i = 0; i < w->len; i++) {
		c = (unsigned char)w->ptr[i];
		if (c < 0x21 || c > 0x7e)
			return 0;
	}
	return 1;
}

/* Attributes. */

static int
protocol_key_valid(const char *s, size_t len)
{
	size_t i;
	char c;

	if (len == 0 || len > PROTOCOL_KEY_MAX)
		return 0;
	for (i = 0; i < len; i++) {
		c = s[i];
		if ((c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' &&
		    c != '.')
			return 0;
	}
	return 1;
}

static size_t
protocol_digits(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len && s[i] >= '0' && s[i] <= '9'; i++)
		;
	return i;
}

/* A count: 1 to 19 decimal digits, so it always fits in an int64_t. */
static int
protocol_count_valid(const char *s, size_t len)
{
	return len > 0 && len <= PROTOCOL_DIGITS_MAX &&
	    protocol_digits(s, len) == len;
}

/*
 * A duration: digits with an optional fraction ("12", "12.5"). The integer
 * part is bounded like a count so that it converts without overflow.
 */
static int
protocol_number_valid(const char *s, size_t len)
{
	size_t n, frac;

	n = protocol_digits(s, len);
	if (n == 0 || n > PROTOCOL_DIGITS_MAX)
		return 0;
	if (n == len)
		return 1;
	if (s[n] != '.')
		return 0;
	frac = protocol_digits(s + n + 1, len - n - 1);
	return frac > 0 && n + 1 + frac == len;
}

static enum protocol_error
protocol_attr_check(const struct protocol_attr *a, const char **detail)
{
	const struct protocol_numeric_key *nk;
	size_t i;

	for (i = 0; i < sizeof protocol_numeric_keys /
	    sizeof protocol_numeric_keys[0]; i++) {
		nk = &protocol_numeric_keys[i];
		if (a->key.len != nk->len ||
		    memcmp(a->key.ptr, nk->key, nk->len) != 0)
			continue;
		if (!nk->valid(a->value.ptr, a->value.len)) {
			*detail = nk->detail;
			return PROTOCOL_ERROR_BAD_ARGUMENTS;
		}
		break;
	}
	return PROTOCOL_ERROR_OK;
}

static enum protocol_error
protocol_attr_parse(const struct protocol_slice *w, struct protocol_attr *a,
    const char **detail)
{
	const char *eq;

	eq = memchr(w->ptr, '=', w->len);
	if (eq == NULL) {
		*detail = "expected an attribute key=value";
		return PROTOCOL_ERROR_BAD_ARGUMENTS;
	}
	a->key.ptr = w->ptr;
	a->key.len = (size_t)(eq - w->ptr);
	a->value.ptr = eq + 1;
	a->value.len = w->len - a->key.len - 1;
	if (!protocol_key_valid(a->key.ptr, a->key.len)) {
		*detail = "attribute key must match [a-z0-9_.]{1,64}";
		return PROTOCOL_ERROR_BAD_ARGUMENTS;
	}
	return protocol_attr_check(a, detail);
}

/* The rest of the line: k=v words. */
static enum protocol_error
protocol_parse_attrs(struct protocol_cursor *c, struct protocol_command *cmd)
{
	struct protocol_slice w;
	enum protocol_error error;

	while (protocol_word_next(c, &w)) {
		if (cmd->nattrs == PROTOCOL_ATTRS_MAX) {
			cmd->detail = "too many attributes (at most 16)";
			return PROTOCOL_ERROR_BAD_ARGUMENTS;
		}
		error = protocol_attr_parse(&w, &cmd->attrs[cmd->nattrs],
		    &cmd->detail);
		if (error != PROTOCOL_ERROR_OK)
			return error;
		cmd->nattrs++;
	}
	return PROTOCOL_ERROR_OK;
}

/* Verbs. */

static enum protocol_error
protocol_usage(const struct protocol_verb_entry *e,
    struct protocol_command *cmd)
{
	cmd->detail = e->usage;
	return PROTOCOL_ERROR_BAD_ARGUMENTS;
}

static enum protocol_error
protocol_parse_hello(const struct protocol_verb_entry *e,
    struct protocol_cursor *c, struct protocol_command *cmd)
{
	struct protocol_slice w;

	if (!protocol_word_next(c, &w))
		return protocol_usage(e, cmd);
	if (w.len != 1 || w.ptr[0] != '1') {
		cmd->detail = "unsupported protocol version (expected 1)";
		return PROTOCOL_ERROR_BAD_ARGUMENTS;
	}
	cmd->hello_version = 1;
	if (protocol_word_next(c, &w)) {
		if (!protocol_word_is(&w, "ack"))
			return protocol_usage(e, cmd);
		cmd->hello_ack = 1;
	}
	if (protocol_word_next(c, &w))
		return protocol_usage(e, cmd);
	return PROTOCOL_ERROR_OK;
}

static enum protocol_error
protocol_parse_bare(const struct protocol_verb_entry *e,
    struct protocol_cursor *c, struct protocol_command *cmd)
{
	struct protocol_slice w;

	if (protocol_word_next(c, &w))
		return protocol_usage(e, cmd);
	return PROTOCOL_ERROR_OK;
}

/*
 * The text is the rest of the line after the one space that ends "log",
 * verbatim: leading, inner and trailing spaces are the client's.
 */
static enum protocol_error
protocol_parse_log(const struct protocol_verb_entry *e,
    struct protocol_cursor *c, struct protocol_command *cmd)
{
	if (c->p == c->end) {
		cmd->text.ptr = c->end;
		cmd->text.len = 0;
		return PROTOCOL_ERROR_OK;
	}
	cmd->text.ptr = c->p + 1;
	cmd->text.len = (size_t)(c->end - c->p - 1);
	return PROTOCOL_ERROR_OK;
}

static enum protocol_error
protocol_parse_setup_done(const struct protocol_verb_entry *e,
    struct protocol_cursor *c, struct protocol_command *cmd)
{
	struct protocol_slice w;

	if (!protocol_word_next(c, &w))
		return protocol_usage(e, cmd);
	cmd->status = status_setup_parse(w.ptr, w.len);
	if (cmd->status < 0) {
		cmd->detail = "status must be ready, succeeded or failed";
		return PROTOCOL_ERROR_BAD_STATUS;
	}
	return protocol_parse_attrs(c, cmd);
}

static enum protocol_error
protocol_parse_id_only(const struct protocol_verb_entry *e,
    struct protocol_cursor *c, struct protocol_command *cmd)
{
	if (!protocol_word_next(c, &cmd->id))
		return protocol_usage(e, cmd);
	if (!protocol_id_valid(&cmd->id)) {
		cmd->detail = "id must be 1-128 printable ASCII bytes";
		return PROTOCOL_ERROR_BAD_ARGUMENTS;
	}
	return PROTOCOL_ERROR_OK;
}

static enum protocol_error
protocol_parse_id(const struct protocol_verb_entry *e,
    struct protocol_cursor *c, struct protocol_command *cmd)
{
	enum protocol_error error;

	error = protocol_parse_id_only(e, c, cmd);
	if (error != PROTOCOL_ERROR_OK)
		return error;
	return protocol_parse_attrs(c, cmd);
}

static enum protocol_error
protocol_parse_stop(const struct protocol_verb_entry *e,
    struct protocol_cursor *c, struct protocol_command *cmd)
{
	struct protocol_slice w;
	enum protocol_error error;

	error = protocol_parse_id_only(e, c, cmd);
	if (error != PROTOCOL_ERROR_OK)
		return error;
	if (!protocol_word_next(c, &w))
		return protocol_usage(e, cmd);
	cmd->status = status_prediction_parse(w.ptr, w.len);
	if (cmd->status < 0) {
		cmd->detail =
		    "status must be succeeded, failed, canceled or aborted";
		return PROTOCOL_ERROR_BAD_STATUS;
	}
	return protocol_parse_attrs(c, cmd);
}

/*
 * Find the row for the first word (and, for two-word verbs, the second,
 * read from c only when needed). NULL when nothing matches.
 */
static const struct protocol_verb_entry *
protocol_verb_lookup(const struct protocol_slice *first,
    struct protocol_cursor *c)
{
	const struct protocol_verb_entry *e;
	struct protocol_slice second;
	int have = -1;
	size_t i;

	for (i = 0; i < PROTOCOL_VERB_COUNT; i++) {
		e = &protocol_verbs[i];
		if (!protocol_word_is(first, e->word))
			continue;
		if (e->subword == NULL)
			return e;
		if (have == -1)
			have = protocol_word_next(c, &second);
		if (have && protocol_word_is(&second, e->subword))
			return e;
	}
	return NULL;
}

static void
protocol_command_reset(struct protocol_command *cmd, const char *end)
{
	cmd->verb = PROTOCOL_VERB_COUNT;
	cmd->error = PROTOCOL_ERROR_OK;
	cmd->detail = NULL;
	cmd->id.ptr = end;
	cmd->id.len = 0;
	cmd->status = 0;
	cmd->hello_version = 0;
	cmd->hello_ack = 0;
	cmd->text.ptr = end;
	cmd->text.len = 0;
	cmd->nattrs = 0;
}

/* Parse a line whose '\n' and '\r' are already gone. */
static void
protocol_line_parse_content(const char *line, size_t len,
    struct protocol_command *cmd)
{
	const struct protocol_verb_entry *e;
	struct protocol_cursor c;
	struct protocol_slice first;

	protocol_command_reset(cmd, line + len);
	if (!protocol_utf8_valid(line, len)) {
		cmd->error = PROTOCOL_ERROR_BAD_ENCODING;
		cmd->detail = "NUL byte or invalid UTF-8";
		return;
	}
	c.p = line;
	c.end = line + len;
	if (!protocol_word_next(&c, &first)) {
		cmd->error = PROTOCOL_ERROR_UNKNOWN_COMMAND;
		cmd->detail = "empty line";
		return;
	}
	e = protocol_verb_lookup(&first, &c);
	if (e == NULL) {
		cmd->error = PROTOCOL_ERROR_UNKNOWN_COMMAND;
		cmd->detail = protocol_word_is(&first, "setup") ?
		    "expected: setup start, setup log or setup done" :
		    "unknown command";
		return;
	}
	cmd->verb = e->verb;
	cmd->error = e->parse(e, &c, cmd);
}

void
protocol_line_parse(const char *line, size_t len,
    struct protocol_command *cmd)
{
	if (len > 0 && line[len - 1] == '\r')
		len--;
	protocol_line_parse_content(line, len, cmd);
}

const struct protocol_slice *
protocol_attr_find(const struct protocol_command *cmd, const char *key)
{
	size_t len = strlen(key);
	unsigned i;

	for (i = 0; i < cmd->nattrs; i++) {
		if (cmd->attrs[i].key.len == len &&
		    memcmp(cmd->attrs[i].key.ptr, key, len) == 0)
			return &cmd->attrs[i].value;
	}
	return NULL;
}

/* Framing. */

void
protocol_parser_init(struct protocol_parser *p, size_t max_line)
{
	memset(p, 0, sizeof *p);
	/* Keep max_line + 1 representable. */
	p->max_line = max_line < SIZE_MAX ? max_line : SIZE_MAX - 1;
}

void
protocol_parser_free(struct protocol_parser *p)
{
	free(p->buf);
	p->buf = NULL;
	p->len = 0;
	p->cap = 0;
	p->discarding = 0;
}

size_t
protocol_parser_buffered(const struct protocol_parser *p)
{
	return p->len;
}

static void
protocol_parser_too_long(struct protocol_parser *p, protocol_command_cb *cb,
    void *arg)
{
	struct protocol_command cmd;

	protocol_command_reset(&cmd, "");
	cmd.error = PROTOCOL_ERROR_LINE_TOO_LONG;
	cmd.detail = "line longer than max_line bytes";
	p->len = 0;
	cb(arg, &cmd);
}

/* One complete line, without its '\n'. Blank lines produce nothing. */
static void
protocol_parser_line(struct protocol_parser *p, const char *line, size_t len,
    protocol_command_cb *cb, void *arg)
{
	struct protocol_command cmd;
	size_t i;

	if (len > p->max_line) {
		protocol_parser_too_long(p, cb, arg);
		return;
	}
	if (len > 0 && line[len - 1] == '\r')
		len--;
	for (i = 0; i < len && line[i] == ' '; i++)
		;
	if (i == len)
		return;
	protocol_line_parse_content(line, len, &cmd);
	cb(arg, &cmd);
}

/* Append to the buffer; the caller has checked it stays within max_line. */
static void
protocol_parser_append(struct protocol_parser *p, const char *data,
    size_t len)
{
	size_t need = p->len + len, cap;

	if (need > p->cap) {
		cap = p->cap == 0 ? PROTOCOL_BUF_MIN : p->cap;
		while (cap < need)
			cap *= 2;
		if (cap > p->max_line + 1)
			cap = p->max_line + 1;
		p->buf = xrealloc(p->buf, cap);
		p->cap = cap;
	}
	memcpy(p->buf + p->len, data, len);
	p->len = need;
}

/* Bytes with no '\n': keep them, or give up on a line already too long. */
static void
protocol_parser_hold(struct protocol_parser *p, const char *data, size_t len,
    protocol_command_cb *cb, void *arg)
{
	if (len > p->max_line - p->len) {
		p->discarding = 1;
		protocol_parser_too_long(p, cb, arg);
		return;
	}
	protocol_parser_append(p, data, len);
}

/* The end of a buffered line: data[0..len) comes before its '\n'. */
static void
protocol_parser_finish(struct protocol_parser *p, const char *data,
    size_t len, protocol_command_cb *cb, void *arg)
{
	if (len > p->max_line - p->len) {
		protocol_parser_too_long(p, cb, arg);
		return;
	}
	protocol_parser_append(p, data, len);
	protocol_parser_line(p, p->buf, p->len, cb, arg);
	p->len = 0;
}

void
protocol_parser_feed(struct protocol_parser *p, const char *data,
    size_t len, protocol_command_cb *cb, void *arg)
{
	const char *end = data + len, *nl;

	while (data < end) {
		nl = memchr(data, '\n', (size_t)(end - data));
		if (p->discarding) {
			if (nl == NULL)
				return;
			p->discarding = 0;
		} else if (nl == NULL) {
			protocol_parser_hold(p, data, (size_t)(end - data), cb,
			    arg);
			return;
		} else if (p->len > 0)
			protocol_parser_finish(p, data, (size_t)(nl - data), cb,
			    arg);
		else
			protocol_parser_line(p, data, (size_t)(nl - data), cb,
			    arg);
		data = nl + 1;
	}
}
