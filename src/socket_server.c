/*
 * socket_server -- the Unix-socket shell; see socket_server.h.
 *
 * A connection's life: accepted -> reading (commands parsed in place,
 * replies collected for the whole read, then written with one try_write)
 * -> closed by EOF, a read error, or shutdown. There is one close path,
 * socket_conn_close(): it tells the engine (which aborts the connection's
 * predictions), unlinks the connection, and uv_close()s it; memory is
 * freed in the close callback, after libuv has cancelled any write.
 *
 * Replies go out in two stages: `out` collects new replies, `wbuf` holds
 * the bytes a uv_write is sending. They are never the same buffer, so a
 * write in flight never sees its memory move.
 */
#include "socket_server.h"

#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "buf.h"
#include "protocol.h"
#include "xmalloc.h"

#define SOCKET_READ_BUFFER 65536
#define SOCKET_BACKLOG 512
#define SOCKET_LOG_PERIOD_NS 1000000000ull

struct socket_conn {
	uv_pipe_t handle;
	uv_write_t wreq;
	struct socket_server *server;
	LIST_ENTRY(socket_conn) entry;
	struct engine_conn ec;
	struct protocol_parser parser;
	struct buf out;		/* replies not yet handed to libuv */
	struct buf wbuf;	/* bytes of the uv_write in flight */
	uint64_t now_ns;	/* time of the read being processed */
	int writing;
	int paused;		/* reading stopped for backpressure */
	int dead;
};

static char socket_read_buffer[SOCKET_READ_BUFFER];

static void socket_conn_close(struct socket_conn *c);
static void socket_conn_flush(struct socket_conn *c);

enum socket_server_path
socket_server_path_check(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sun;
	struct stat st;
	int fd, r, saved;

	if (lstat(path, &st) != 0) {
		if (errno == ENOENT)
			return SOCKET_SERVER_PATH_FREE;
		snprintf(err, errlen, "cannot stat %s: %s", path,
		    strerror(errno));
		return SOCKET_SERVER_PATH_ERROR;
	}
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, errlen, "%s exists and is not a socket; "
		    "leaving it alone", path);
		return SOCKET_SERVER_PATH_NOT_SOCKET;
	}
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof sun.sun_path, "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return SOCKET_SERVER_PATH_ERROR;
	}
	r = connect(fd, (struct sockaddr *)&sun, sizeof sun);
	saved = errno;
	close(fd);
	if (r == 0 || saved == EAGAIN) {
		snprintf(err, errlen, "another podpulse listens on %s", path);
		return SOCKET_SERVER_PATH_LIVE;
	}
	if (saved != ECONNREFUSED) {
		snprintf(err, errlen, "cannot probe %s: %s", path,
		    strerror(saved));
		return SOCKET_SERVER_PATH_ERROR;
	}
	if (unlink(path) != 0 && errno != ENOENT) {
		snprintf(err, errlen, "cannot remove stale socket %s: %s",
		    path, strerror(errno));
		return SOCKET_SERVER_PATH_ERROR;
	}
	log_info("removed stale socket", "path", path);
	return SOCKET_SERVER_PATH_FREE;
}

/* Reply queue size as the client sees it: everything not yet sent. */
static size_t
socket_conn_unsent(const struct socket_conn *c)
{
	return buf_pending(&c->out) + buf_pending(&c->wbuf);
}

static void
socket_conn_close_cb(uv_handle_t *handle)
{
	struct socket_conn *c = handle->data;

	protocol_parser_free(&c->parser);
	buf_free(&c->out);
	buf_free(&c->wbuf);
	free(c);
}

static void
socket_conn_close(struct socket_conn *c)
{
	struct socket_server *s = c->server;

	if (c->dead)
		return;
	c->dead = 1;
	engine_conn_close(s->engine, &c->ec, uv_hrtime());
	LIST_REMOVE(c, entry);
	s->nconns--;
	if (!uv_is_closing((uv_handle_t *)&c->handle))
		uv_close((uv_handle_t *)&c->handle, socket_conn_close_cb);
}

static void
socket_conn_alloc_cb(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
	buf->base = socket_read_buffer;
	buf->len = sizeof socket_read_buffer;
}

static void
socket_conn_log_error(struct socket_server *s, const struct socket_conn *c,
    const struct protocol_command *cmd, enum protocol_error error)
{
	uint64_t suppressed;

	if (!log_ratelimit_allow(&s->error_limit[error], c->now_ns,
	    SOCKET_LOG_PERIOD_NS, &suppressed))
		return;
	log_warn("protocol error", "reason", protocol_error_name(error),
	    "detail", cmd->error != PROTOCOL_ERROR_OK ? cmd->detail : "",
	    "suppressed", LOG_NUM(suppressed));
}

static void
socket_conn_command_cb(void *arg, const struct protocol_command *cmd)
{
	struct socket_conn *c = arg;
	struct socket_server *s = c->server;
	enum protocol_error error;

	error = engine_exec(s->engine, &c->ec, cmd, c->now_ns, &c->out);
	if (error != PROTOCOL_ERROR_OK)
		socket_conn_log_error(s, c, cmd, error);
}

static void socket_conn_read_cb(uv_stream_t *stream, ssize_t nread,
    const uv_buf_t *buf);

static void
socket_conn_resume(struct socket_conn *c)
{
	if (!c->paused || c->dead)
		return;
	if (socket_conn_unsent(c) > c->server->options.max_reply_buffer / 2)
		return;
	c->paused = 0;
	if (uv_read_start((uv_stream_t *)&c->handle, socket_conn_alloc_cb,
	    socket_conn_read_cb) != 0)
		socket_conn_close(c);
}

static void
socket_conn_write_cb(uv_write_t *req, int status)
{
	struct socket_conn *c = req->data;

	c->writing = 0;
	buf_reset(&c->wbuf);
	if (c->dead)
		return;
	if (status < 0) {
		socket_conn_close(c);
		return;
	}
	socket_conn_flush(c);
	socket_conn_resume(c);
}

/* Send what `out` holds: directly if the socket takes it, else by uv_write. */
static void
socket_conn_flush(struct socket_conn *c)
{
	struct buf tmp;
	uv_buf_t b;
	int n;

	if (c->writing || c->dead || buf_pending(&c->out) == 0)
		return;
	b = uv_buf_init((char *)buf_head(&c->out),
	    (unsigned)buf_pending(&c->out));
	n = uv_try_write((uv_stream_t *)&c->handle, &b, 1);
	if (n > 0)
		buf_consume(&c->out, (size_t)n);
	else if (n != UV_EAGAIN && n < 0) {
		socket_conn_close(c);
		return;
	}
	if (buf_pending(&c->out) == 0)
		return;
	/* Swap buffers: the rest of `out` becomes the write in flight. */
	tmp = c->wbuf;
	c->wbuf = c->out;
	c->out = tmp;
	b = uv_buf_init((char *)buf_head(&c->wbuf),
	    (unsigned)buf_pending(&c->wbuf));
	c->wreq.data = c;
	if (uv_write(&c->wreq, (uv_stream_t *)&c->handle, &b, 1,
	    socket_conn_write_cb) != 0) {
		socket_conn_close(c);
		return;
	}
	c->writing = 1;
}

/* Backpressure: a client that does not read its replies is not read. */
static void
socket_conn_pause(struct socket_conn *c)
{
	struct socket_server *s = c->server;
	uint64_t suppressed;

	uv_read_stop((uv_stream_t *)&c->handle);
	c->paused = 1;
	s->engine->reply_pauses++;
	if (log_ratelimit_allow(&s->pause_limit, c->now_ns,
	    SOCKET_LOG_PERIOD_NS, &suppressed))
		log_warn("client does not read its replies; reading from it "
		    "paused", "unsent", LOG_NUM(socket_conn_unsent(c)),
		    "max_reply_buffer", LOG_NUM(s->options.max_reply_buffer),
		    "suppressed", LOG_NUM(suppressed));
}

static void
socket_conn_read_cb(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
	struct socket_conn *c = stream->data;
	struct socket_server *s = c->server;

	if (nread < 0) {
		socket_conn_close(c);
		return;
	}
	if (nread == 0)
		return;
	c->now_ns = uv_hrtime();
	protocol_parser_feed(&c->parser, buf->base, (size_t)nread,
	    socket_conn_command_cb, c);
	socket_conn_flush(c);
	if (!c->dead && socket_conn_unsent(c) > s->options.max_reply_buffer)
		socket_conn_pause(c);
	if (s->options.after_read != NULL)
		s->options.after_read(s->options.arg);
}

static void
socket_server_reject(struct socket_server *s, struct socket_conn *c)
{
	static const char msg[] = "err too-many-connections at most "
	    "socket.max_connections connections\n";
	uv_buf_t b;
	uint64_t suppressed;

	b = uv_buf_init((char *)msg, sizeof msg - 1);
	(void)uv_try_write((uv_stream_t *)&c->handle, &b, 1);
	s->rejected++;
	s->engine->errors[PROTOCOL_ERROR_TOO_MANY_CONNECTIONS]++;
	if (log_ratelimit_allow(&s->error_limit
	    [PROTOCOL_ERROR_TOO_MANY_CONNECTIONS], uv_hrtime(),
	    SOCKET_LOG_PERIOD_NS, &suppressed))
		log_warn("connection rejected", "reason",
		    "too-many-connections", "max",
		    LOG_NUM(s->options.max_connections), "suppressed",
		    LOG_NUM(suppressed));
	c->dead = 1;
	uv_close((uv_handle_t *)&c->handle, socket_conn_close_cb);
}

static void
socket_server_connection_cb(uv_stream_t *server, int status)
{
	struct socket_server *s = server->data;
	struct socket_conn *c;
	uint64_t suppressed;

	if (status < 0) {
		/* EMFILE and friends: keep running, say so once a second. */
		if (log_ratelimit_allow(&s->accept_limit, uv_hrtime(),
		    SOCKET_LOG_PERIOD_NS, &suppressed))
			log_warn("accept failed", "error", uv_strerror(status),
			    "suppressed", LOG_NUM(suppressed));
		return;
	}
	c = xcalloc(1, sizeof(*c));
	c->server = s;
	protocol_parser_init(&c->parser, s->options.max_line);
	uv_pipe_init(s->loop, &c->handle, 0);
	c->handle.data = c;
	if (uv_accept(server, (uv_stream_t *)&c->handle) != 0) {
		c->dead = 1;
		uv_close((uv_handle_t *)&c->handle, socket_conn_close_cb);
		return;
	}
	if (s->nconns >= s->options.max_connections) {
		socket_server_reject(s, c);
		return;
	}
	engine_conn_open(s->engine, &c->ec);
	LIST_INSERT_HEAD(&s->conns, c, entry);
	s->nconns++;
	if (uv_read_start((uv_stream_t *)&c->handle, socket_conn_alloc_cb,
	    socket_conn_read_cb) != 0)
		socket_conn_close(c);
}

static int
socket_server_permissions(struct socket_server *s, char *err, size_t errlen)
{
	struct group *gr;
	struct stat st;

	if (chmod(s->path, s->options.mode) != 0) {
		snprintf(err, errlen, "chmod %s: %s", s->path, strerror(errno));
		return -errno;
	}
	if (s->options.group != NULL && s->options.group[0] != '\0') {
		gr = getgrnam(s->options.group);
		if (gr == NULL) {
			snprintf(err, errlen, "unknown group \"%s\" "
			    "(socket.group)", s->options.group);
			return UV_EINVAL;
		}
		if (chown(s->path, (uid_t)-1, gr->gr_gid) != 0) {
			snprintf(err, errlen, "chown %s to group %s: %s",
			    s->path, s->options.group, strerror(errno));
			return -errno;
		}
	}
	if (stat(s->path, &st) != 0) {
		snprintf(err, errlen, "stat %s: %s", s->path, strerror(errno));
		return -errno;
	}
	s->dev = st.st_dev;
	s->ino = st.st_ino;
	return 0;
}

int
socket_server_start(struct socket_server *s, uv_loop_t *loop,
    struct engine *engine, const struct socket_server_options *options,
    char *err, size_t errlen)
{
	mode_t old_umask;
	int r;

	memset(s, 0, sizeof(*s));
	LIST_INIT(&s->conns);
	s->loop = loop;
	s->engine = engine;
	s->options = *options;
	s->path = xstrdup(options->path);
	/* Keep no pointer into the caller's configuration, which a reload frees. */
	s->options.path = s->path;
	uv_pipe_init(loop, &s->pipe, 0);
	s->pipe.data = s;
	/* No window in which the socket exists with looser permissions. */
	old_umask = umask(0777 & ~(mode_t)options->mode);
	r = uv_pipe_bind(&s->pipe, s->path);
	umask(old_umask);
	if (r != 0) {
		snprintf(err, errlen, "bind %s: %s", s->path, uv_strerror(r));
		return r;
	}
	r = socket_server_permissions(s, err, errlen);
	if (r == 0)
		r = uv_listen((uv_stream_t *)&s->pipe, SOCKET_BACKLOG,
		    socket_server_connection_cb);
	if (r != 0) {
		if (err[0] == '\0')
			snprintf(err, errlen, "listen %s: %s", s->path,
			    uv_strerror(r));
		unlink(s->path);
		return r;
	}
	s->listening = 1;
	s->options.group = NULL;
	return 0;
}

void
socket_server_options_set(struct socket_server *s, size_t max_connections,
    size_t max_reply_buffer)
{
	s->options.max_connections = max_connections;
	s->options.max_reply_buffer = max_reply_buffer;
}

static void
socket_server_unlink(struct socket_server *s)
{
	struct stat st;

	/* Remove the file only if it is still the socket we created. */
	if (stat(s->path, &st) != 0)
		return;
	if (st.st_dev != s->dev || st.st_ino != s->ino)
		return;
	if (unlink(s->path) != 0)
		log_warn("cannot remove socket", "path", s->path, "error",
		    strerror(errno));
}

void
socket_server_close(struct socket_server *s)
{
	if (s->listening)
		socket_server_unlink(s);
	s->listening = 0;
	while (!LIST_EMPTY(&s->conns))
		socket_conn_close(LIST_FIRST(&s->conns));
	if (!uv_is_closing((uv_handle_t *)&s->pipe))
		uv_close((uv_handle_t *)&s->pipe, NULL);
	free(s->path);
	s->path = NULL;
}
