/*
 * xmalloc -- checked allocation.
 *
 * Out of memory is handled in exactly one place: these wrappers log and
 * abort. Nothing else in podpulse checks malloc for NULL, so no caller has
 * to invent a half-working recovery path. Every bound in the daemon (lines,
 * connections, predictions, replies) exists so that this never triggers
 * because of what a peer sends.
 */
#ifndef PODPULSE_XMALLOC_H
#define PODPULSE_XMALLOC_H

#include <stddef.h>

void *xmalloc(size_t size);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *ptr, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
int xasprintf(char **out, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
