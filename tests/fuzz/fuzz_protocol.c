/*
 * fuzz_protocol -- libFuzzer target for the protocol core.
 *
 * The first two input bytes choose max_line (0..1023, small so that the
 * too-long path is reached often) and seed the chunking; the rest is the
 * byte stream. It is fed twice: all at once, then in chunk sizes drawn from
 * the seed. Checked after every feed and in every callback: the parser never
 * holds more than max_line bytes nor allocates more than max_line + 1;
 * every command is well formed; and both feeds produce the same callbacks
 * (compared by a hash of everything a callback carries). Every slice is read
 * byte by byte, so AddressSanitizer sees any slice that points outside the
 * input or the parser's buffer.
 *
 * Build: clang -fsanitize=fuzzer,address -Isrc -Iinclude tests/fuzz/fuzz_protocol.c
 *     src/protocol.c src/status.c src/xmalloc.c
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protocol.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fuzz_state {
	struct protocol_parser parser;
	uint64_t hash;
	size_t calls;
};

static void
fuzz_check(int ok)
{
	if (!ok)
		abort();
}

static void
fuzz_hash(struct fuzz_state *st, const void *ptr, size_t len)
{
	const unsigned char *p = ptr;
	size_t i;

	for (i = 0; i < len; i++) {
		st->hash ^= p[i];
		st->hash *= 0x100000001b3ULL;
	}
}

static void
fuzz_hash_slice(struct fuzz_state *st, struct protocol_slice s)
{
	fuzz_hash(st, &s.len, sizeof s.len);
	if (s.len > 0)
		fuzz_hash(st, s.ptr, s.len);
}

static void
fuzz_bounds(const struct fuzz_state *st)
{
	const struct protocol_parser *p = &st->parser;

	fuzz_check(protocol_parser_buffered(p) <= p->max_line);
	fuzz_check(p->len <= p->cap);
	fuzz_check(p->cap <= p->max_line + 1);
}

static void
fuzz_cb(void *arg, const struct protocol_command *cmd)
{
	struct fuzz_state *st = arg;
	unsigned i;
	int v;

	st->calls++;
	fuzz_bounds(st);
	fuzz_check((unsigned)cmd->error < PROTOCOL_ERROR_COUNT);
	v = (int)cmd->error;
	fuzz_hash(st, &v, sizeof v);
	if (cmd->error != PROTOCOL_ERROR_OK) {
		fuzz_check(cmd->detail != NULL && cmd->detail[0] != '\0');
		fuzz_hash(st, cmd->detail, strlen(cmd->detail));
		return;
	}
	fuzz_check((unsigned)cmd->verb < PROTOCOL_VERB_COUNT);
	fuzz_check(cmd->nattrs <= PROTOCOL_ATTRS_MAX);
	fuzz_check(cmd->id.len <= PROTOCOL_ID_MAX);
	v = (int)cmd->verb;
	fuzz_hash(st, &v, sizeof v);
	fuzz_hash(st, &cmd->status, sizeof cmd->status);
	fuzz_hash(st, &cmd->hello_version, sizeof cmd->hello_version);
	fuzz_hash(st, &cmd->hello_ack, sizeof cmd->hello_ack);
	fuzz_hash_slice(st, cmd->id);
	fuzz_hash_slice(st, cmd->text);
	fuzz_check(protocol_utf8_valid(cmd->text.ptr, cmd->text.len));
	for (i = 0; i < cmd->nattrs; i++) {
		fuzz_check(cmd->attrs[i].key.len >= 1 &&
		    cmd->attrs[i].key.len <= PROTOCOL_KEY_MAX);
		fuzz_hash_slice(st, cmd->attrs[i].key);
		fuzz_hash_slice(st, cmd->attrs[i].value);
	}
}

/* Feed the stream in chunks; seed == 0 means all at once. */
static void
fuzz_run(const char *s, size_t len, size_t max_line, uint32_t seed,
    struct fuzz_state *st)
{
	size_t off = 0, n;

	protocol_parser_init(&st->parser, max_line);
	while (off < len) {
		n = len - off;
		if (seed != 0) {
			seed = seed * 1103515245u + 12345u;
			/* Mostly small chunks, sometimes large ones. */
			n = 1 + (seed >> 16) % ((seed & 0x80) ? 2048 : 16);
			if (n > len - off)
				n = len - off;
		}
		protocol_parser_feed(&st->parser, s + off, n, fuzz_cb, st);
		fuzz_bounds(st);
		off += n;
	}
	protocol_parser_free(&st->parser);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_state whole = { 0 }, chunked = { 0 }, line = { 0 };
	struct protocol_command cmd;
	size_t max_line;
	uint32_t seed;

	if (size < 2)
		return 0;
	max_line = ((size_t)(data[0] & 0x03) << 8) | data[1];
	seed = ((uint32_t)data[0] << 8 | data[1]) | 1u;
	data += 2;
	size -= 2;

	fuzz_run((const char *)data, size, max_line, 0, &whole);
	fuzz_run((const char *)data, size, max_line, seed, &chunked);
	fuzz_check(whole.calls == chunked.calls);
	fuzz_check(whole.hash == chunked.hash);

	/* The whole input as one line, through the public line parser. */
	protocol_line_parse((const char *)data, size, &cmd);
	fuzz_check((unsigned)cmd.error < PROTOCOL_ERROR_COUNT);
	if (cmd.error == PROTOCOL_ERROR_OK) {
		line.parser.max_line = size;
		fuzz_cb(&line, &cmd);
	}
	return 0;
}
