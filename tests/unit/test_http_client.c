/*
 * test_http_client -- the curl multi shell on a real libuv loop, against
 * a tiny HTTP server running in the same loop: an answer with its status,
 * Retry-After and body; a refused connection; a timeout; a cancel at
 * close. Each test runs its loop to completion, counts callbacks and ends
 * with uv_loop_close() == 0, so a handle left open fails it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <uv.h>

#include "http_client.h"

/* The server: answers each full request, or never (hang). */

struct conn {
	uv_tcp_t tcp;
	struct server *server;
	char buf[65536];
	size_t len;
	struct conn *next;
};

struct server {
	uv_tcp_t listener;
	int port;
	int hang;
	int requests;
	char last[4096];	/* head of the last request */
	struct conn *conns;
};

static const char answer[] = "HTTP/1.1 503 Service Unavailable\r\n"
    "Retry-After: 7\r\nContent-Length: 5\r\n\r\nbusy!";

static void
conn_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	struct conn *c = h->data;

	*b = uv_buf_init(c->buf + c->len, (unsigned)(sizeof c->buf - c->len));
}

static void
write_cb(uv_write_t *req, int status)
{
	free(req);
}

/* A whole request is in: headers and Content-Length bytes of body. */
static int
conn_complete(struct conn *c)
{
	const char *end, *cl;
	size_t head;

	c->buf[c->len < sizeof c->buf ? c->len : sizeof c->buf - 1] = '\0';
	if ((end = strstr(c->buf, "\r\n\r\n")) == NULL)
		return 0;
	head = (size_t)(end - c->buf) + 4;
	cl = strcasestr(c->buf, "Content-Length:");
	if (cl == NULL || cl > end)
		return 1;
	return c->len >= head + strtoul(cl + 15, NULL, 10);
}

static void
conn_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct conn *c = s->data;
	uv_write_t *req;
	uv_buf_t out;

	if (n <= 0)
		return;
	c->len += (size_t)n;
	if (!conn_complete(c))
		return;
	c->server->requests++;
	memcpy(c->server->last, c->buf, sizeof c->server->last - 1);
	c->server->last[sizeof c->server->last - 1] = '\0';
	c->len = 0;
	if (c->server->hang)
		return;
	req = malloc(sizeof(*req));
	out = uv_buf_init((char *)answer, sizeof answer - 1);
	uv_write(req, s, &out, 1, write_cb);
}

static void
server_accept(uv_stream_t *l, int status)
{
	struct server *srv = l->data;
	struct conn *c;

	assert_int_equal(status, 0);
	c = calloc(1, sizeof(*c));
	c->server = srv;
	uv_tcp_init(l->loop, &c->tcp);
	c->tcp.data = c;
	assert_int_equal(uv_accept(l, (uv_stream_t *)&c->tcp), 0);
	uv_read_start((uv_stream_t *)&c->tcp, conn_alloc, conn_read);
	c->next = srv->conns;
	srv->conns = c;
}

static void
server_start(struct server *srv, uv_loop_t *loop, int listen_too)
{
	struct sockaddr_in a;
	struct sockaddr_storage got;
	int len = sizeof got;

	memset(srv, 0, sizeof(*srv));
	uv_tcp_init(loop, &srv->listener);
	srv->listener.data = srv;
	uv_ip4_addr("127.0.0.1", 0, &a);
	assert_int_equal(uv_tcp_bind(&srv->listener,
	    (const struct sockaddr *)&a, 0), 0);
	uv_tcp_getsockname(&srv->listener, (struct sockaddr *)&got, &len);
	srv->port = ntohs(((struct sockaddr_in *)&got)->sin_port);
	if (listen_too)
		assert_int_equal(uv_listen((uv_stream_t *)&srv->listener, 8,
		    server_accept), 0);
}

static void
conn_close_cb(uv_handle_t *h)
{
	free(h->data);
}

static void
server_stop(struct server *srv)
{
	struct conn *c, *next;

	for (c = srv->conns; c != NULL; c = next) {
		next = c->next;
		uv_close((uv_handle_t *)&c->tcp, conn_close_cb);
	}
	srv->conns = NULL;
	if (!uv_is_closing((uv_handle_t *)&srv->listener))
		uv_close((uv_handle_t *)&srv->listener, NULL);
}

/* The client side */

struct result {
	int calls;
	struct http_response r;
	struct http_client *client;
	struct server *server;
	int client_closed;
};

static void
client_closed_cb(void *arg)
{
	struct result *res = arg;

	res->client_closed++;
}

static void
done_cb(void *arg, const struct http_response *r)
{
	struct result *res = arg;

	res->calls++;
	res->r = *r;
	/* The test's work is done: close everything from the callback. */
	if (r->transport != HTTP_CLIENT_CANCELED) {
		http_client_close(res->client, client_closed_cb, res);
		server_stop(res->server);
	}
}

static void
post(struct http_client *c, int port, uint64_t timeout_ms, struct result *res)
{
	static const char *const headers[] = { "Content-Type: application/json",
		"Idempotency-Key: i:k:1", NULL };
	char url[64];
	struct http_post p;

	snprintf(url, sizeof url, "http://127.0.0.1:%d/path", port);
	memset(&p, 0, sizeof p);
	p.url = url;
	p.headers = headers;
	p.body = "{\"a\":1}";
	p.len = 7;
	p.timeout_ms = timeout_ms;
	assert_int_equal(http_client_post(c, &p, done_cb, res), 0);
}

static void
loop_finish(uv_loop_t *loop)
{
	assert_int_equal(uv_run(loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(uv_loop_close(loop), 0);
}

static void
test_answer_with_retry_after(void **state)
{
	uv_loop_t loop;
	struct server srv;
	struct http_client c;
	struct result res = { 0 };

	uv_loop_init(&loop);
	server_start(&srv, &loop, 1);
	assert_int_equal(http_client_init(&c, &loop), 0);
	res.client = &c;
	res.server = &srv;
	post(&c, srv.port, 5000, &res);
	loop_finish(&loop);
	assert_int_equal(res.calls, 1);
	assert_int_equal(res.client_closed, 1);
	assert_int_equal(res.r.transport, 0);
	assert_int_equal(res.r.status, 503);
	assert_string_equal(res.r.retry_after, "7");
	assert_string_equal(res.r.body, "busy!");
	assert_int_equal(srv.requests, 1);
	assert_non_null(strstr(srv.last, "POST /path HTTP/1.1\r\n"));
	assert_non_null(strstr(srv.last, "Idempotency-Key: i:k:1\r\n"));
	assert_non_null(strstr(srv.last, "\r\n\r\n{\"a\":1}"));
	assert_null(strstr(srv.last, "Expect:"));
}

static void
test_connection_refused(void **state)
{
	uv_loop_t loop;
	struct server srv;
	struct http_client c;
	struct result res = { 0 };

	uv_loop_init(&loop);
	server_start(&srv, &loop, 0);	/* bound, not listening: refused */
	assert_int_equal(http_client_init(&c, &loop), 0);
	res.client = &c;
	res.server = &srv;
	post(&c, srv.port, 5000, &res);
	loop_finish(&loop);
	assert_int_equal(res.calls, 1);
	assert_int_equal(res.r.transport, CURLE_COULDNT_CONNECT);
	assert_int_equal(res.r.status, 0);
	assert_true(res.r.error[0] != '\0');
}

static void
test_timeout(void **state)
{
	uv_loop_t loop;
	struct server srv;
	struct http_client c;
	struct result res = { 0 };

	uv_loop_init(&loop);
	server_start(&srv, &loop, 1);
	srv.hang = 1;
	assert_int_equal(http_client_init(&c, &loop), 0);
	res.client = &c;
	res.server = &srv;
	post(&c, srv.port, 200, &res);
	loop_finish(&loop);
	assert_int_equal(res.calls, 1);
	assert_int_equal(res.r.transport, CURLE_OPERATION_TIMEDOUT);
	assert_int_equal(srv.requests, 1);
}

static void
close_timer_cb(uv_timer_t *t)
{
	struct result *res = t->data;

	http_client_close(res->client, client_closed_cb, res);
	server_stop(res->server);
	uv_close((uv_handle_t *)t, NULL);
}

static void
test_cancel_at_close(void **state)
{
	uv_loop_t loop;
	uv_timer_t t;
	struct server srv;
	struct http_client c;
	struct result res = { 0 };

	uv_loop_init(&loop);
	server_start(&srv, &loop, 1);
	srv.hang = 1;
	assert_int_equal(http_client_init(&c, &loop), 0);
	res.client = &c;
	res.server = &srv;
	post(&c, srv.port, 60000, &res);
	uv_timer_init(&loop, &t);
	t.data = &res;
	uv_timer_start(&t, close_timer_cb, 100, 0);
	loop_finish(&loop);
	assert_int_equal(res.calls, 1);
	assert_int_equal(res.r.transport, HTTP_CLIENT_CANCELED);
	assert_int_equal(res.client_closed, 1);
	/* Closed: no new request starts, and its callback never runs. */
}

static void
test_url_check(void **state)
{
	char why[128];

	assert_int_equal(http_client_url_check("http://h:8080/p?q=1", why,
	    sizeof why), 0);
	assert_int_equal(http_client_url_check("https://[::1]/x", why,
	    sizeof why), 0);
	assert_int_equal(http_client_url_check("http://[::1/x", why,
	    sizeof why), -1);
	assert_int_equal(http_client_url_check("ftp://h/x", why, sizeof why),
	    -1);
	assert_int_equal(http_client_url_check("http://h:99999/", why,
	    sizeof why), -1);
}

static int
setup(void **state)
{
	return http_client_global_init();
}

static int
teardown(void **state)
{
	http_client_global_cleanup();
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_answer_with_retry_after),
		cmocka_unit_test(test_connection_refused),
		cmocka_unit_test(test_timeout),
		cmocka_unit_test(test_cancel_at_close),
		cmocka_unit_test(test_url_check),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
