/*
 * socket_server -- the Unix-socket shell: accepts model-server connections,
 * feeds their bytes to `protocol`, hands commands to `engine`, and writes
 * the replies back (SPEC section 2).
 *
 * Ownership: the server owns its listening pipe and every connection; a
 * connection frees itself in its close callback, and nothing else frees
 * it. Reads share one 64 KiB buffer (libuv calls alloc and read back to
 * back, and a read is consumed before the next alloc), so idle
 * connections cost no read memory.
 *
 * Backpressure: replies are queued per connection; when a client leaves
 * more than max_reply_buffer bytes unread, the server stops reading from
 * it until the queue drains (at most one read's worth of replies can be
 * queued beyond the bound). A client is never disconnected for errors.
 */
#ifndef PODPULSE_SOCKET_SERVER_H
#define PODPULSE_SOCKET_SERVER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/types.h>

#include <uv.h>

#include "engine.h"
#include "log.h"

struct socket_conn;

struct socket_server_options {
	const char *path;
	unsigned mode;			/* file mode of the socket */
	const char *group;		/* "" or NULL: leave the group */
	size_t max_connections;
	size_t max_line;
	size_t max_reply_buffer;
	/* Called after each batch of commands read from a connection. */
	void (*after_read)(void *arg);
	void *arg;
};

struct socket_server {
	uv_pipe_t pipe;
	uv_loop_t *loop;
	struct engine *engine;
	struct socket_server_options options;
	char *path;
	dev_t dev;			/* identity of the socket file we made */
	ino_t ino;
	LIST_HEAD(, socket_conn) conns;
	size_t nconns;
	uint64_t rejected;		/* connections over the cap */
	struct log_ratelimit error_limit[PROTOCOL_ERROR_COUNT];
	struct log_ratelimit accept_limit;
	struct log_ratelimit pause_limit;
	int listening;
};

/* What socket_server_path_check found. */
enum socket_server_path {
	SOCKET_SERVER_PATH_FREE = 0,	/* absent, or a stale socket removed */
	SOCKET_SERVER_PATH_LIVE = -1,	/* a socket somebody listens on */
	SOCKET_SERVER_PATH_NOT_SOCKET = -2,	/* a file of another type */
	SOCKET_SERVER_PATH_ERROR = -3	/* cannot tell; errno-style in err */
};

/*
 * Apply the socket-file safety rules (SPEC 2): a stale socket is removed,
 * a live one or another kind of file is left alone. err describes why.
 */
enum socket_server_path socket_server_path_check(const char *path, char *err,
    size_t errlen);

/* Bind, set mode and group, listen. Returns 0 or a negative uv error. */
int socket_server_start(struct socket_server *s, uv_loop_t *loop,
    struct engine *engine, const struct socket_server_options *options,
    char *err, size_t errlen);

/* Reloadable limits (max_connections, max_reply_buffer). */
void socket_server_options_set(struct socket_server *s, size_t max_connections,
    size_t max_reply_buffer);

/*
 * Stop accepting, remove the socket file (if it is still ours), and close
 * every connection, which aborts what it owns.
 */
void socket_server_close(struct socket_server *s);

#endif
