/*
 * http_client -- POST requests through libcurl's multi socket interface,
 * driven by the libuv loop.
 *
 * curl tells us which sockets to watch (CURLMOPT_SOCKETFUNCTION) and when
 * to wake it (CURLMOPT_TIMERFUNCTION); we keep one uv_poll_t per socket and
 * one uv_timer_t, and hand readiness back through curl_multi_socket_action.
 * No call blocks and no thread is ours. Rules that keep this sound:
 *
 * - curl is never called from inside its own timer callback: that callback
 *   only (re)arms the uv_timer, even for 0 ms, so the action runs on the
 *   next loop turn.
 * - A poll error is passed to curl as CURL_CSELECT_ERR, so curl fails the
 *   transfer through its own error path.
 * - A poll handle is closed when curl says CURL_POLL_REMOVE and freed in
 *   its close callback.
 * - The multi handle is cleaned up while the loop still runs (in
 *   http_client_close), then the timer and any poll left are closed; the
 *   close callback runs once all of them are.
 *
 * One multi handle lives as long as the client, so connections are reused
 * across requests. TLS peer and host verification stay on; a private CA
 * comes from the request's ca_file.
 *
 * Callback contract: when http_client_post() fails, its callback never
 * runs; when it succeeds, the callback runs exactly once -- with the
 * answer, a transport error, or HTTP_CLIENT_CANCELED at close.
 */
#ifndef PODPULSE_HTTP_CLIENT_H
#define PODPULSE_HTTP_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#define HTTP_CLIENT_BODY_KEEP 256	/* bytes of an answer kept for logs */
#define HTTP_CLIENT_CANCELED (-1)	/* transport code of a canceled request */

struct http_response {
	int transport;			/* 0: an HTTP answer; else CURLcode or
					 * HTTP_CLIENT_CANCELED */
	long status;			/* 0 without an answer */
	char error[256];		/* curl's words for a transport error */
	char retry_after[64];		/* Retry-After value, or "" */
	char body[HTTP_CLIENT_BODY_KEEP + 1];	/* start of the answer */
	size_t body_len;
};

typedef void (*http_client_cb)(void *arg, const struct http_response *r);

struct http_post {
	const char *url;
	const char *const *headers;	/* "Name: value", NULL-terminated */
	const char *body;
	size_t len;
	uint64_t timeout_ms;		/* connect and total */
	const char *ca_file;		/* "" or NULL: the system's CAs */
};

struct http_request;
struct http_poll;

struct http_client {
	uv_loop_t *loop;
	void *multi;			/* CURLM * */
	uv_timer_t timer;
	struct http_request *requests;	/* in flight */
	struct http_poll *polls;	/* open or closing */
	size_t handles;			/* uv handles not yet closed */
	int closing;
	void (*closed_cb)(void *arg);
	void *closed_arg;
};

/* Once per process, before any client. */
int http_client_global_init(void);
void http_client_global_cleanup(void);

int http_client_init(struct http_client *c, uv_loop_t *loop);

/* Start a POST; 0, or a negative code (then cb never runs). */
int http_client_post(struct http_client *c, const struct http_post *p,
    http_client_cb cb, void *arg);

/*
 * Cancel what is in flight (each callback runs with HTTP_CLIENT_CANCELED),
 * clean up curl and close every handle; cb runs when the last is closed.
 */
void http_client_close(struct http_client *c, void (*cb)(void *arg),
    void *arg);

/* Check that url parses as an http(s) URL; 0, or -1 with why set. */
int http_client_url_check(const char *url, char *why, size_t size);

#endif
