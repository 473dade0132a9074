/*
 * protocol -- the Unix-socket line protocol v1 (SPEC section 2): bytes in,
 * parsed commands out.
 *
 * A pure core: no I/O, no allocation per command. One parser lives in each
 * connection and is fed whatever the socket delivered; it calls back once
 * per complete line, in order, with either a parsed command or a syntax
 * error. A line that arrives whole inside one feed is parsed in place (zero
 * copy); only the unfinished tail of a feed is buffered, and that buffer
 * never grows beyond max_line + 1 bytes, whatever the peer sends.
 *
 * The parser checks syntax only: verb, argument count and form, id and k=v
 * rules, status words, encoding and length. Rules that need state
 * (duplicate-id, unknown-id, setup-already-done, too-many-in-flight) are the
 * engine's.
 *
 * Slices in a command point into the fed bytes or the parser's buffer and
 * are valid only during the callback.
 */
#ifndef PODPULSE_PROTOCOL_H
#define PODPULSE_PROTOCOL_H

#include <stddef.h>
#include <stdint.h>

#include "podpulse/protocol.h"

#define PROTOCOL_ID_MAX PODPULSE_ID_MAX
#define PROTOCOL_KEY_MAX PODPULSE_KEY_MAX
#define PROTOCOL_ATTRS_MAX PODPULSE_ATTRS_MAX

/* Verbs, in the order of the dispatch table. */
#define PROTOCOL_VERB_LIST(X) \
	X(HELLO, "hello") \
	X(PING, "ping") \
	X(STATE, "state") \
	X(SETUP_START, "setup start") \
	X(SETUP_LOG, "setup log") \
	X(SETUP_DONE, "setup done") \
	X(ENQUEUE, "enqueue") \
	X(START, "start") \
	X(STOP, "stop")

enum protocol_verb {
#define X(e, s) PROTOCOL_VERB_##e,
	PROTOCOL_VERB_LIST(X)
#undef X
	PROTOCOL_VERB_COUNT
};

/* Error reasons (SPEC 2, "Replies and errors"); OK is not an error. */
#define PROTOCOL_ERROR_LIST(X) \
	X(OK, "ok") \
	X(UNKNOWN_COMMAND, "unknown-command") \
	X(BAD_ARGUMENTS, "bad-arguments") \
	X(BAD_STATUS, "bad-status") \
	X(DUPLICATE_ID, "duplicate-id") \
	X(UNKNOWN_ID, "unknown-id") \
	X(SETUP_ALREADY_DONE, "setup-already-done") \
	X(LINE_TOO_LONG, "line-too-long") \
	X(TOO_MANY_IN_FLIGHT, "too-many-in-flight") \
	X(BAD_ENCODING, "bad-encoding") \
	X(TOO_MANY_CONNECTIONS, "too-many-connections")

enum protocol_error {
#define X(e, s) PROTOCOL_ERROR_##e,
	PROTOCOL_ERROR_LIST(X)
#undef X
	PROTOCOL_ERROR_COUNT
};

struct protocol_slice {
	const char *ptr;
	size_t len;
};

struct protocol_attr {
	struct protocol_slice key;
	struct protocol_slice value;
};

struct protocol_command {
	enum protocol_verb verb;	/* valid when error == OK */
	enum protocol_error error;	/* OK, or the syntax error of the line */
	const char *detail;		/* static human-readable text for error */

	struct protocol_slice id;	/* enqueue, start, stop */
	int status;			/* stop: enum status_prediction;
					   setup done: enum status_setup */
	int hello_version;		/* hello */
	int hello_ack;			/* hello: 1 when "ack" was given */
	struct protocol_slice text;	/* setup log: rest of the line */

	unsigned nattrs;
	struct protocol_attr attrs[PROTOCOL_ATTRS_MAX];
};

typedef void protocol_command_cb(void *arg, const struct protocol_command *cmd);

struct protocol_parser {
	char *buf;		/* unfinished line, at most max_line + 1 bytes */
	size_t len;
	size_t cap;
	size_t max_line;	/* longest accepted line: bytes before its '\n' */
	int discarding;		/* inside a too-long line: drop up to '\n' */
};

void protocol_parser_init(struct protocol_parser *p, size_t max_line);
void protocol_parser_free(struct protocol_parser *p);

/*
 * Feed len bytes. cb runs once per complete line (empty lines are ignored)
 * before this returns. A line longer than max_line yields one
 * LINE_TOO_LONG error and is discarded up to its '\n'.
 */
void protocol_parser_feed(struct protocol_parser *p, const char *data,
    size_t len, protocol_command_cb *cb, void *arg);

/* Bytes held for an unfinished line (for memory accounting and tests). */
size_t protocol_parser_buffered(const struct protocol_parser *p);

/* Parse one line (no '\n'; a trailing '\r' is ignored) into cmd. */
void protocol_line_parse(const char *line, size_t len,
    struct protocol_command *cmd);

/* Look up a k=v attribute by key; NULL when absent. */
const struct protocol_slice *protocol_attr_find(
    const struct protocol_command *cmd, const char *key);

const char *protocol_verb_name(enum protocol_verb verb);
const char *protocol_error_name(enum protocol_error error);

/* 1 when the bytes are valid UTF-8 without NUL. */
int protocol_utf8_valid(const char *s, size_t len);

#endif
