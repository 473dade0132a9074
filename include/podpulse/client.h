/*
 * podpulse/client.h -- the C client library of the podpulse socket
 * protocol, for model servers. Link with `pkg-config --libs
 * podpulse-client`.
 *
 * A model server's request path must never block on telemetry, so every
 * signal call (pp_start, pp_stop, ...) only validates its arguments and
 * copies one protocol line into a bounded in-memory buffer under a mutex,
 * then returns. A background I/O thread owns the socket: it connects,
 * writes the buffer, notices when the daemon goes away and reconnects with
 * a capped exponential backoff (100 ms doubling to 5 s by default).
 *
 * While the client is not connected, or when the buffer is full, a signal
 * is dropped and counted (see pp_client_stats); the model server never
 * sees that as an error. Lines still buffered when the connection breaks
 * are dropped and counted too. A negative return value means a programmer
 * error only: a NULL argument, an id, key or status the protocol does not
 * allow (docs/protocol.md; the limits are in <podpulse/protocol.h>).
 * Invalid signals on a valid client are counted as dropped as well; a
 * NULL setup-log text is nothing to send and is not counted.
 *
 * All functions are thread-safe, except that pp_client_free must not run
 * concurrently with any other call on the same client. The library never
 * writes to stdout or stderr and never raises SIGPIPE.
 *
 * A client does not survive fork(): its I/O thread stays in the parent.
 * A child process (a pre-forking server's worker) creates its own client
 * and leaves the inherited one alone -- not even pp_client_free.
 *
 * Attributes are a NULL-terminated array of "key=value" strings, or NULL
 * for none:
 *
 *	const char *attrs[] = { "model=sdxl", "tenant=acme", NULL };
 *	pp_start(c, "pred-42", attrs);
 *	...
 *	pp_stop(c, "pred-42", "succeeded", NULL);
 */
#ifndef PODPULSE_CLIENT_H
#define PODPULSE_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* An opaque client: one connection to the daemon and its I/O thread. */
typedef struct pp_client pp_client;

/* Every field left at 0 takes its default. */
struct pp_client_options {
	size_t buffer_size;		/* bytes of unsent lines; 1 MiB */
	unsigned int backoff_min_ms;	/* first reconnect delay; 100 */
	unsigned int backoff_max_ms;	/* reconnect delay cap; 5000 */
	unsigned int flush_timeout_ms;	/* pp_client_free flushes; 1000 */
};

struct pp_client_stats {
	uint64_t sent;		/* lines written to the socket */
	uint64_t dropped;	/* signals lost: not connected, full, invalid */
	uint64_t reconnects;	/* connections made after the first one */
	int connected;		/* 1 while a connection is open */
};

/*
 * Create a client for the daemon at socket_path (NULL: the default path,
 * PODPULSE_SOCKET_PATH_DEFAULT), with options (NULL: all defaults). The
 * first connection is tried at once, without blocking; if the daemon is not
 * there yet, the I/O thread keeps trying. Returns NULL with errno set when
 * memory or a thread cannot be had, or when the path is too long.
 */
pp_client *pp_client_new(const char *socket_path,
    const struct pp_client_options *options);

/*
 * Write what is buffered for up to options.flush_timeout_ms, close the
 * connection (the daemon aborts the predictions this client left in
 * flight), stop the thread and free everything. NULL is a no-op.
 */
void pp_client_free(pp_client *c);

/* Copy the counters. Returns 0, or -EINVAL for NULL arguments. */
int pp_client_stats(pp_client *c, struct pp_client_stats *stats);

/*
 * The signals. Each returns 0 when the line was buffered or dropped
 * because the daemon is away or the buffer is full, and -EINVAL for a
 * NULL client or id, a bad id, status or attribute.
 */
int pp_enqueue(pp_client *c, const char *id, const char *const *attrs);
int pp_start(pp_client *c, const char *id, const char *const *attrs);

/* status: "succeeded", "failed", "canceled" or "aborted". */
int pp_stop(pp_client *c, const char *id, const char *status,
    const char *const *attrs);

int pp_setup_start(pp_client *c);

/*
 * Append text to the setup log. A text with newlines becomes one
 * "setup log" line per line of text, each a signal of its own.
 */
int pp_setup_log(pp_client *c, const char *text);

/* status: "ready" (or its alias "succeeded") or "failed". */
int pp_setup_done(pp_client *c, const char *status);

#ifdef __cplusplus
}
#endif

#endif
