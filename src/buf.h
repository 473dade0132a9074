/*
 * buf -- a growable byte buffer with a read offset.
 *
 * Used for reply queues and for building lines. Appending compacts the
 * consumed front before it grows, so a buffer that is written and drained
 * in turns stays at the size of its largest backlog.
 */
#ifndef PODPULSE_BUF_H
#define PODPULSE_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
	char *data;
	size_t off;	/* consumed bytes at the front */
	size_t len;	/* end of valid bytes */
	size_t cap;
};

void buf_init(struct buf *b);
void buf_free(struct buf *b);
void buf_append(struct buf *b, const void *data, size_t len);
void buf_append_str(struct buf *b, const char *s);
void buf_printf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Bytes not yet consumed, and where they start. */
size_t buf_pending(const struct buf *b);
const char *buf_head(const struct buf *b);

/* Mark n bytes at the head as consumed. */
void buf_consume(struct buf *b, size_t n);
void buf_reset(struct buf *b);

#endif
