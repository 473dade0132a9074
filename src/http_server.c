/*
 * http_server -- libmicrohttpd on the libuv loop; see http_server.h.
 *
 * The run step is always the same: MHD_run() (it polls its epoll set
 * with a zero timeout and serves whatever is ready), then re-arm the timer
 * from MHD_get_timeout(), which is 0 while the library has buffered work
 * and the nearest connection timeout otherwise. A timeout of "none" stops
 * the timer: the epoll fd wakes us for everything else.
 *
 * A request's first call routes it. GET answers at once. POST keeps a
 * context with the body, bounded by max_body (a Content-Length over the
 * limit is refused before a byte of body is read; a chunked body that
 * grows too large is discarded and refused at its end), and answers on
 * the last call. The context is freed in the completion callback, which
 * the library calls for every request, finished or torn down.
 */
#include "http_server.h"

#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#include "config.h"
#include "log.h"
#include "xmalloc.h"

enum http_route {
	HTTP_METRICS,
	HTTP_HEALTHZ,
	HTTP_READYZ,
	HTTP_STATE,
	HTTP_INTAKE
};

static const struct http_server_path {
	const char *path;
	int get;  /* route for GET and HEAD, or -1 */
	int post; /* route for POST, or -1 */
	const char *allow;
} http_server_paths[] = {
	{ "/metrics", HTTP_METRICS, HTTP_INTAKE, "GET, HEAD, POST" },
	{ "/healthz", HTTP_HEALTHZ, -1, "GET, HEAD" },
	{ "/readyz", HTTP_READYZ, -1, "GET, HEAD" },
	{ "/v1/state", HTTP_STATE, -1, "GET, HEAD" },
};

#define HTTP_SERVER_SWEEP_MS 250

/*
 * One per TCP connection, for the head deadline: libmicrohttpd's own
 * timeout restarts at every byte, so a client trickling its headers would
 * hold the connection forever. The deadline runs from the connection's
 * start (or the end of its previous request) to a complete head.
 */
struct http_server_conn {
	struct MHD_Connection *conn;
	uint64_t since_ns;
	int in_request;
	int cut;
	LIST_ENTRY(http_server_conn) entry;
};

struct http_request {
	int route;
	int too_large;
	struct buf body;
};

/* Routing: the route, or -1 with status (404, 405) and allow set. */
static int
http_server_route(const char *url, const char *method, unsigned *status,
    const char **allow)
{
	const struct http_server_path *p;
	size_t i;

	for (i = 0; i < sizeof http_server_paths / sizeof http_server_paths[0];
	     i++) {
		p = &http_server_paths[i];
		if (strcmp(url, p->path) != 0)
			continue;
		if (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0) {
			if (p->get >= 0)
				return p->get;
		} else if (strcmp(method, "POST") == 0 && p->post >= 0)
			return p->post;
		*status = MHD_HTTP_METHOD_NOT_ALLOWED;
		*allow = p->allow;
		return -1;
	}
	*status = MHD_HTTP_NOT_FOUND;
	*allow = NULL;
	return -1;
}

static enum MHD_Result
http_server_respond(struct MHD_Connection *conn, struct http_server_reply *r,
    const char *allow)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	resp = MHD_create_response_from_buffer(buf_pending(&r->body),
	    (void *)(uintptr_t)buf_head(&r->body), MHD_RESPMEM_MUST_COPY);
	buf_free(&r->body);
	if (resp == NULL)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
	    r->content_type != NULL ? r->content_type
				    : "text/plain; charset=utf-8");
	if (allow != NULL)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
	ret = MHD_queue_response(conn, r->status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result
http_server_refuse(struct http_server *s, struct MHD_Connection *conn,
    unsigned status, const char *allow)
{
	struct http_server_reply r = { status, NULL, { 0 } };

	buf_init(&r.body);
	if (status == MHD_HTTP_NOT_FOUND)
		buf_append_str(&r.body, "not found\n");
	else if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		buf_printf(&r.body, "method not allowed; allowed: %s\n", allow);
	else
		buf_printf(&r.body, "request body larger than %zu bytes\n",
		    s->max_body);
	if (s->handlers.refused != NULL)
		s->handlers.refused(s->handlers.arg, status);
	return http_server_respond(conn, &r, allow);
}

static enum MHD_Result
http_server_get(struct http_server *s, struct MHD_Connection *conn, int route)
{
	struct http_server_handlers *h = &s->handlers;
	struct http_server_reply r = { 200, NULL, { 0 } };

	buf_init(&r.body);
	switch (route) {
	case HTTP_METRICS:
		h->metrics(h->arg,
		    MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
			MHD_HTTP_HEADER_ACCEPT),
		    &r);
		break;
	case HTTP_HEALTHZ:
		h->healthz(h->arg, &r);
		break;
	case HTTP_READYZ:
		h->readyz(h->arg, &r);
		break;
	default:
		h->state(h->arg, &r);
		break;
	}
	return http_server_respond(conn, &r, NULL);
}

/*
 * The first call of a request: refuse a declared body over the limit,
 * else keep a context and answer on the last call. Answering now, before
 * the request is complete, would make the library close the connection
 * after the answer: no keep-alive for Prometheus.
 */
static enum MHD_Result
http_server_begin(struct http_server *s, struct MHD_Connection *conn, int route,
    void **con_cls)
{
	struct http_request *req;
	const char *cl;
	char *end;
	unsigned long long n;

	cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (cl != NULL) {
		n = strtoull(cl, &end, 10);
		if (*end == '\0' && n > s->max_body)
			return http_server_refuse(s, conn,
			    MHD_HTTP_CONTENT_TOO_LARGE, NULL);
	}
	req = xcalloc(1, sizeof(*req));
	req->route = route;
	buf_init(&req->body);
	*con_cls = req;
	return MHD_YES;
}

static enum MHD_Result
http_server_post_end(struct http_server *s, struct MHD_Connection *conn,
    struct http_request *req)
{
	struct http_server_reply r = { 200, NULL, { 0 } };

	if (req->too_large)
		return http_server_refuse(s, conn, MHD_HTTP_CONTENT_TOO_LARGE,
		    NULL);
	buf_init(&r.body);
	s->handlers.intake(s->handlers.arg, buf_head(&req->body),
	    buf_pending(&req->body), &r);
	return http_server_respond(conn, &r, NULL);
}

static struct http_server_conn *
http_server_conn_of(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *info;

	info = MHD_get_connection_info(conn,
	    MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	return info != NULL ? info->socket_context : NULL;
}

/* A head arrived (in_request 1), or a request ended (0: a new deadline). */
static void
http_server_conn_mark(struct MHD_Connection *conn, int in_request)
{
	struct http_server_conn *c = http_server_conn_of(conn);

	if (c == NULL)
		return;
	c->in_request = in_request;
	if (!in_request)
		c->since_ns = uv_hrtime();
}

static enum MHD_Result
http_server_access(void *cls, struct MHD_Connection *conn, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_data_size, void **con_cls)
{
	struct http_server *s = cls;
	struct http_request *req = *con_cls;
	const char *allow;
	unsigned status;
	int route;

	if (req == NULL) {
		http_server_conn_mark(conn, 1);
		route = http_server_route(url, method, &status, &allow);
		if (route < 0)
			return http_server_refuse(s, conn, status, allow);
		return http_server_begin(s, conn, route, con_cls);
	}
	if (*upload_data_size != 0) {
		/*
		 * Only the intake keeps its body, up to max_body; beyond, keep
		 * reading, keep nothing, and answer 413 at the end. A GET's
		 * body is read and dropped the same way (and not answered 413).
		 */
		if (req->route != HTTP_INTAKE || req->too_large ||
		    buf_pending(&req->body) + *upload_data_size > s->max_body) {
			req->too_large = 1;
			buf_free(&req->body);
			buf_init(&req->body);
		} else
			buf_append(&req->body, upload_data, *upload_data_size);
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (req->route != HTTP_INTAKE)
		return http_server_get(s, conn, req->route);
	return http_server_post_end(s, conn, req);
}

static void
http_server_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	struct http_request *req = *con_cls;

	http_server_conn_mark(conn, 0);
	if (req == NULL)
		return;
	buf_free(&req->body);
	free(req);
	*con_cls = NULL;
}

static void
http_server_logger(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	size_t n;

	if (!log_enabled(LOG_DEBUG))
		return;
	vsnprintf(msg, sizeof msg, fmt, ap);
	n = strlen(msg);
	while (n > 0 && msg[n - 1] == '\n')
		msg[--n] = '\0';
	log_debug("http server", "detail", msg);
}

/* The loop side */

static void http_server_timer_cb(uv_timer_t *t);
static void http_server_run(struct http_server *s);

/* Cut the connections whose head is overdue; MHD sees the EOF and closes. */
static void
http_server_sweep_cb(uv_timer_t *t)
{
	struct http_server *s = t->data;
	const union MHD_ConnectionInfo *info;
	struct http_server_conn *c;
	uint64_t now = uv_hrtime();
	int cut = 0;

	LIST_FOREACH(c, &s->conns, entry) {
		if (c->in_request || c->cut ||
		    now - c->since_ns < s->head_timeout_ns)
			continue;
		info = MHD_get_connection_info(c->conn,
		    MHD_CONNECTION_INFO_CONNECTION_FD);
		if (info == NULL)
			continue;
		shutdown(info->connect_fd, SHUT_RDWR);
		c->cut = 1;
		cut++;
	}
	if (cut == 0)
		return;
	log_debug("http: request heads overdue", "cut", LOG_NUM(cut));
	while (s->handlers.refused != NULL && cut-- > 0)
		s->handlers.refused(s->handlers.arg, MHD_HTTP_REQUEST_TIMEOUT);
	http_server_run(s);
}

static void
http_server_notify(void *cls, struct MHD_Connection *conn,
    void **socket_context, enum MHD_ConnectionNotificationCode toe)
{
	struct http_server *s = cls;
	struct http_server_conn *c = *socket_context;

	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		c = xcalloc(1, sizeof(*c));
		c->conn = conn;
		c->since_ns = uv_hrtime();
		LIST_INSERT_HEAD(&s->conns, c, entry);
		*socket_context = c;
		if (!uv_is_active((uv_handle_t *)&s->sweep) &&
		    !uv_is_closing((uv_handle_t *)&s->sweep))
			uv_timer_start(&s->sweep, http_server_sweep_cb,
			    HTTP_SERVER_SWEEP_MS, HTTP_SERVER_SWEEP_MS);
		return;
	}
	if (c == NULL)
		return;
	LIST_REMOVE(c, entry);
	free(c);
	*socket_context = NULL;
	if (LIST_EMPTY(&s->conns) && !uv_is_closing((uv_handle_t *)&s->sweep))
		uv_timer_stop(&s->sweep);
}

static unsigned
http_server_connections(struct http_server *s)
{
	const union MHD_DaemonInfo *info;

	info = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
	return info != NULL ? info->num_connections : 0;
}

static void
http_server_run(struct http_server *s)
{
	MHD_UNSIGNED_LONG_LONG ms;
	unsigned before;

	/*
	 * At the connection cap the library takes its listen socket out of
	 * its epoll set, and puts it back only at the start of a later run,
	 * once a connection has closed. Nothing would wake us for that run
	 * (the closed connections were the only fds left), so run again
	 * right away whenever connections went away.
	 */
	before = http_server_connections(s);
	MHD_run(s->mhd);
	if (http_server_connections(s) < before)
		MHD_run(s->mhd);
	if (MHD_get_timeout(s->mhd, &ms) == MHD_YES)
		uv_timer_start(&s->timer, http_server_timer_cb, (uint64_t)ms,
		    0);
	else
		uv_timer_stop(&s->timer);
}

static void
http_server_timer_cb(uv_timer_t *t)
{
	http_server_run(t->data);
}

static void
http_server_poll_cb(uv_poll_t *p, int status, int events)
{
	/* An error on the epoll fd: let MHD look; it knows its sockets. */
	http_server_run(p->data);
}

static int
http_server_resolve(const char *listen, struct sockaddr_storage *ss,
    socklen_t *len, char *err, size_t errlen)
{
	char host[CONFIG_LISTEN_HOST_MAX], port_s[8];
	struct addrinfo hints, *res;
	int port, r;

	if (config_listen_parse(listen, host, sizeof host, &port) != 0) {
		snprintf(err, errlen, "bad listen address %s", listen);
		return -1;
	}
	snprintf(port_s, sizeof port_s, "%d", port);
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	/* Runs once at startup, before the loop: a blocking lookup is fine. */
	r = getaddrinfo(host, port_s, &hints, &res);
	if (r != 0) {
		snprintf(err, errlen, "cannot resolve %s: %s", host,
		    gai_strerror(r));
		return -1;
	}
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

int
http_server_start(struct http_server *s, uv_loop_t *loop,
    const struct http_server_options *o, const struct http_server_handlers *h,
    char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	const union MHD_DaemonInfo *info;
	unsigned flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
	socklen_t sslen;

	memset(s, 0, sizeof(*s));
	LIST_INIT(&s->conns);
	s->handlers = *h;
	s->max_body = o->max_body;
	s->head_timeout_ns = (uint64_t)o->timeout_s * 1000000000ull;
	if (http_server_resolve(o->listen, &ss, &sslen, err, errlen) != 0)
		return -1;
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	s->mhd = MHD_start_daemon(flags, 0, NULL, NULL, http_server_access, s,
	    MHD_OPTION_EXTERNAL_LOGGER, http_server_logger, s,
	    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
	    MHD_OPTION_CONNECTION_LIMIT, o->max_connections,
	    MHD_OPTION_CONNECTION_TIMEOUT, o->timeout_s,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(32 * 1024),
	    MHD_OPTION_NOTIFY_COMPLETED, http_server_completed, s,
	    MHD_OPTION_NOTIFY_CONNECTION, http_server_notify, s,
	    MHD_OPTION_END);
	if (s->mhd == NULL) {
		snprintf(err, errlen, "cannot listen on %s", o->listen);
		return -1;
	}
	info = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_EPOLL_FD);
	if (info == NULL || uv_poll_init(loop, &s->poll, info->epoll_fd) != 0) {
		MHD_stop_daemon(s->mhd);
		s->mhd = NULL;
		snprintf(err, errlen,
		    "cannot watch the HTTP server's epoll fd");
		return -1;
	}
	uv_timer_init(loop, &s->timer);
	uv_timer_init(loop, &s->sweep);
	s->poll.data = s;
	s->timer.data = s;
	s->sweep.data = s;
	s->open_handles = 3;
	uv_poll_start(&s->poll, UV_READABLE, http_server_poll_cb);
	http_server_run(s);
	return 0;
}

static void
http_server_closed_cb(uv_handle_t *h)
{
	struct http_server *s = h->data;

	if (--s->open_handles > 0)
		return;
	/* Every handle is gone: nothing watches the fd MHD closes now. */
	MHD_stop_daemon(s->mhd);
	s->mhd = NULL;
	if (s->closed_cb != NULL)
		s->closed_cb(s->closed_arg);
}

void
http_server_close(struct http_server *s, void (*cb)(void *arg), void *arg)
{
	s->closed_cb = cb;
	s->closed_arg = arg;
	if (s->mhd == NULL || uv_is_closing((uv_handle_t *)&s->poll)) {
		if (s->mhd == NULL && cb != NULL)
			cb(arg);
		return;
	}
	uv_poll_stop(&s->poll);
	uv_close((uv_handle_t *)&s->poll, http_server_closed_cb);
	uv_close((uv_handle_t *)&s->timer, http_server_closed_cb);
	uv_close((uv_handle_t *)&s->sweep, http_server_closed_cb);
}
