/*
 * http_server -- the HTTP endpoint's shell (SPEC 5): libmicrohttpd run
 * inside the libuv loop, on the loop's one thread.
 *
 * libmicrohttpd runs in its "external select" mode with epoll and no
 * thread of its own (MHD_USE_EPOLL): its epoll fd is watched by a
 * uv_poll_t, MHD_get_timeout() arms a uv_timer_t, and both callbacks call
 * MHD_run(), which never blocks. Limits: a connection cap, a connection
 * timeout (an idle client is dropped), a deadline for the request head
 * (the same length, counted from the connection's start or its previous
 * request: a slowloris that trickles a byte now and then is dropped too),
 * a memory limit per connection (oversized headers get 431 from the
 * library) and a body limit (413).
 *
 * This module only speaks HTTP: it routes the methods and paths of SPEC 5
 * (404 unknown path, 405 wrong method, with Allow) and hands each request
 * to the owner's callbacks, which decide the answer.
 *
 * Lifetime: http_server_start() opens the handles; http_server_close()
 * closes them and stops the library (MHD_stop_daemon) in the last close
 * callback, while the loop still runs; then cb runs and nothing is left.
 */
#ifndef PODPULSE_HTTP_SERVER_H
#define PODPULSE_HTTP_SERVER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include <uv.h>

#include "buf.h"

struct MHD_Daemon;
struct http_server_conn;

/* What a handler answers: status, content type and body. */
struct http_server_reply {
	unsigned status;
	const char *content_type; /* static string */
	struct buf body;
};

struct http_server_handlers {
	void (*metrics)(void *arg, const char *accept,
	    struct http_server_reply *reply);
	void (*healthz)(void *arg, struct http_server_reply *reply);
	void (*readyz)(void *arg, struct http_server_reply *reply);
	void (*state)(void *arg, struct http_server_reply *reply);
	void (*intake)(void *arg, const char *body, size_t len,
	    struct http_server_reply *reply);
	/*
	 * A request refused before a handler ran (404, 405, 413), or a
	 * connection cut because its request head was overdue (408).
	 */
	void (*refused)(void *arg, unsigned status);
	void *arg;
};

struct http_server_options {
	const char *listen; /* host:port or [v6]:port */
	unsigned max_connections;
	unsigned timeout_s;
	size_t max_body;
};

struct http_server {
	struct MHD_Daemon *mhd;
	uv_poll_t poll;
	uv_timer_t timer;
	uv_timer_t sweep; /* head deadlines, while connections exist */
	LIST_HEAD(, http_server_conn) conns;
	uint64_t head_timeout_ns;
	struct http_server_handlers handlers;
	size_t max_body;
	int open_handles;
	void (*closed_cb)(void *arg);
	void *closed_arg;
};

/* Returns 0, or -1 with err set (bad address, bind failure). */
int http_server_start(struct http_server *s, uv_loop_t *loop,
    const struct http_server_options *o, const struct http_server_handlers *h,
    char *err, size_t errlen);

/* Close; cb (may be NULL) runs once nothing of the server is left. */
void http_server_close(struct http_server *s, void (*cb)(void *arg), void *arg);

#endif
