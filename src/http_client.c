/*
 * http_client -- libcurl multi socket on the libuv loop; see http_client.h.
 */
#include "http_client.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "log.h"
#include "xmalloc.h"

struct http_request {
	struct http_request *next;
	struct http_client *client;
	CURL *easy;
	struct curl_slist *headers;
	char *body;
	http_client_cb cb;
	void *arg;
	char errbuf[CURL_ERROR_SIZE];
	struct http_response resp;
};

struct http_poll {
	uv_poll_t poll;
	struct http_poll *next;
	struct http_client *client;
	curl_socket_t fd;
};

int
http_client_global_init(void)
{
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

void
http_client_global_cleanup(void)
{
	curl_global_cleanup();
}

/* Handles and their close callbacks */

static void
http_client_handle_closed(struct http_client *c)
{
	if (--c->handles == 0 && c->closed_cb != NULL)
		c->closed_cb(c->closed_arg);
}

static void
http_poll_close_cb(uv_handle_t *h)
{
	struct http_poll *p = h->data, **pp;
	struct http_client *c = p->client;

	for (pp = &c->polls; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	}
	free(p);
	http_client_handle_closed(c);
}

static void
http_poll_close(struct http_poll *p)
{
	if (!uv_is_closing((uv_handle_t *)&p->poll))
		uv_close((uv_handle_t *)&p->poll, http_poll_close_cb);
}

static void
http_timer_close_cb(uv_handle_t *h)
{
	http_client_handle_closed(h->data);
}

/* Finished transfers */

static void
http_request_free(struct http_request *req)
{
	curl_slist_free_all(req->headers);
	curl_easy_cleanup(req->easy);
	free(req->body);
	free(req);
}

static void
http_request_unlink(struct http_request *req)
{
	struct http_request **pp;

	for (pp = &req->client->requests; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == req) {
			*pp = req->next;
			return;
		}
	}
}

/* Remove from curl and from the list, run the callback once, free. */
static void
http_request_finish(struct http_request *req)
{
	curl_multi_remove_handle(req->client->multi, req->easy);
	http_request_unlink(req);
	req->cb(req->arg, &req->resp);
	http_request_free(req);
}

static void
http_request_done(struct http_request *req, CURLcode code)
{
	struct http_response *r = &req->resp;

	if (code == CURLE_OK) {
		r->transport = 0;
		curl_easy_getinfo(req->easy, CURLINFO_RESPONSE_CODE, &r->status);
	} else {
		r->transport = (int)code;
		r->status = 0;
		snprintf(r->error, sizeof r->error, "%s", req->errbuf[0] != '\0'
		    ? req->errbuf : curl_easy_strerror(code));
	}
	http_request_finish(req);
}

static void
http_client_check(struct http_client *c)
{
	struct http_request *req;
	CURLMsg *msg;
	int left;

	/* A callback may close the client; then curl is gone. */
	while (!c->closing &&
	    (msg = curl_multi_info_read(c->multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &req);
		http_request_done(req, msg->data.result);
	}
}

/* curl's callbacks and the libuv ones that answer them */

static void
http_poll_cb(uv_poll_t *h, int status, int events)
{
	struct http_poll *p = h->data;
	struct http_client *c = p->client;
	int flags = 0, running;

	if (status < 0)
		flags = CURL_CSELECT_ERR;
	else {
		if (events & UV_READABLE)
			flags |= CURL_CSELECT_IN;
		if (events & UV_WRITABLE)
			flags |= CURL_CSELECT_OUT;
	}
	curl_multi_socket_action(c->multi, p->fd, flags, &running);
	http_client_check(c);
}

static int
http_socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp,
    void *socketp)
{
	struct http_client *c = userp;
	struct http_poll *p = socketp;
	int events = 0;

	if (what == CURL_POLL_REMOVE) {
		if (p != NULL) {
			http_poll_close(p);
			if (!c->closing)
				curl_multi_assign(c->multi, fd, NULL);
		}
		return 0;
	}
	if (p == NULL) {
		p = xcalloc(1, sizeof(*p));
		if (uv_poll_init_socket(c->loop, &p->poll, fd) != 0) {
			free(p);
			log_error("cannot watch an HTTP socket");
			return -1;
		}
		p->poll.data = p;
		p->client = c;
		p->fd = fd;
		p->next = c->polls;
		c->polls = p;
		c->handles++;
		curl_multi_assign(c->multi, fd, p);
	}
	if (what & CURL_POLL_IN)
		events |= UV_READABLE;
	if (what & CURL_POLL_OUT)
		events |= UV_WRITABLE;
	uv_poll_start(&p->poll, events, http_poll_cb);
	return 0;
}

static void
http_timer_cb(uv_timer_t *t)
{
	struct http_client *c = t->data;
	int running;

	curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	http_client_check(c);
}

/* Only arms the uv_timer: curl is never re-entered from here. */
static int
http_timerfn_cb(CURLM *multi, long timeout_ms, void *userp)
{
	struct http_client *c = userp;

	if (c->closing)
		return 0;
	if (timeout_ms < 0)
		uv_timer_stop(&c->timer);
	else
		uv_timer_start(&c->timer, http_timer_cb, (uint64_t)timeout_ms,
		    0);
	return 0;
}

static size_t
http_write_cb(char *data, size_t size, size_t n, void *arg)
{
	struct http_request *req = arg;
	struct http_response *r = &req->resp;
	size_t len = size * n, room = HTTP_CLIENT_BODY_KEEP - r->body_len;

	if (room > len)
		room = len;
	memcpy(r->body + r->body_len, data, room);
	r->body_len += room;
	r->body[r->body_len] = '\0';
	return len;
}

static size_t
http_header_cb(char *data, size_t size, size_t n, void *arg)
{
	struct http_request *req = arg;
	size_t len = size * n, vlen;
	const char *v;

	/* A new status line starts a new answer (after a 100, say). */
	if (len >= 5 && strncmp(data, "HTTP/", 5) == 0)
		req->resp.retry_after[0] = '\0';
	if (len < 12 || strncasecmp(data, "Retry-After:", 12) != 0)
		return len;
	v = data + 12;
	vlen = len - 12;
	while (vlen > 0 && (*v == ' ' || *v == '\t')) {
		v++;
		vlen--;
	}
	while (vlen > 0 && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' ||
	    v[vlen - 1] == ' '))
		vlen--;
	if (vlen >= sizeof req->resp.retry_after)
		vlen = sizeof req->resp.retry_after - 1;
	memcpy(req->resp.retry_after, v, vlen);
	req->resp.retry_after[vlen] = '\0';
	return len;
}

/* Client */

int
http_client_init(struct http_client *c, uv_loop_t *loop)
{
	memset(c, 0, sizeof(*c));
	c->loop = loop;
	c->multi = curl_multi_init();
	if (c->multi == NULL)
		return -1;
	curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, http_socket_cb);
	curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
	curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, http_timerfn_cb);
	curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
	uv_timer_init(loop, &c->timer);
	c->timer.data = c;
	c->handles = 1;
	return 0;
}

static int
http_request_setup(struct http_request *req, const struct http_post *p)
{
	CURL *e = req->easy;
	const char *const *h;
	struct curl_slist *l;

	for (h = p->headers; h != NULL && *h != NULL; h++) {
		if ((l = curl_slist_append(req->headers, *h)) == NULL)
			return -1;
		req->headers = l;
	}
	/* No "Expect: 100-continue": it only adds a round trip here. */
	if ((l = curl_slist_append(req->headers, "Expect:")) == NULL)
		return -1;
	req->headers = l;
	if (curl_easy_setopt(e, CURLOPT_URL, p->url) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") !=
	    CURLE_OK)
		return -1;
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, req->headers);
	curl_easy_setopt(e, CURLOPT_POST, 1L);
	curl_easy_setopt(e, CURLOPT_POSTFIELDS, req->body);
	curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)p->len);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)p->timeout_ms);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)p->timeout_ms);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
	if (p->ca_file != NULL && *p->ca_file != '\0')
		curl_easy_setopt(e, CURLOPT_CAINFO, p->ca_file);
	curl_easy_setopt(e, CURLOPT_PRIVATE, req);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, req->errbuf);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, http_write_cb);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, req);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, http_header_cb);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, req);
	return 0;
}

int
http_client_post(struct http_client *c, const struct http_post *p,
    http_client_cb cb, void *arg)
{
	struct http_request *req;

	if (c->closing)
		return -1;
	req = xcalloc(1, sizeof(*req));
	req->client = c;
	req->cb = cb;
	req->arg = arg;
	req->body = xmalloc(p->len + 1);
	memcpy(req->body, p->body, p->len);
	req->body[p->len] = '\0';
	if ((req->easy = curl_easy_init()) == NULL ||
	    http_request_setup(req, p) != 0 ||
	    curl_multi_add_handle(c->multi, req->easy) != CURLM_OK) {
		http_request_free(req);
		return -1;
	}
	req->next = c->requests;
	c->requests = req;
	return 0;
}

void
http_client_close(struct http_client *c, void (*cb)(void *arg), void *arg)
{
	struct http_request *req;
	struct http_poll *p;

	if (c->closing)
		return;
	c->closed_cb = cb;
	c->closed_arg = arg;
	c->closing = 1;
	while ((req = c->requests) != NULL) {
		req->resp.transport = HTTP_CLIENT_CANCELED;
		snprintf(req->resp.error, sizeof req->resp.error, "canceled");
		http_request_finish(req);
	}
	/* While the loop runs: curl may still say REMOVE for its sockets. */
	curl_multi_cleanup(c->multi);
	c->multi = NULL;
	for (p = c->polls; p != NULL; p = p->next)
		http_poll_close(p);
	uv_close((uv_handle_t *)&c->timer, http_timer_close_cb);
}

int
http_client_url_check(const char *url, char *why, size_t size)
{
	CURLU *u;
	CURLUcode rc;
	char *scheme = NULL;
	int r = 0;

	if ((u = curl_url()) == NULL) {
		snprintf(why, size, "out of memory");
		return -1;
	}
	rc = curl_url_set(u, CURLUPART_URL, url, 0);
	if (rc != CURLUE_OK) {
		snprintf(why, size, "%s", curl_url_strerror(rc));
		r = -1;
	} else if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    (strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") !=
	    0)) {
		snprintf(why, size, "not an http:// or https:// URL");
		r = -1;
	}
	curl_free(scheme);
	curl_url_cleanup(u);
	return r;
}
