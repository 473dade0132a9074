/*
 * cli_conn -- the command-line client's connection; see cli_conn.h.
 */
#include "cli_conn.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

int
cli_conn_open(struct cli_conn *c, const char *path, int wait_ms)
{
	struct sockaddr_un sun;
	struct timespec ts = { 0, 50 * 1000 * 1000 };
	int waited = 0;

	memset(c, 0, sizeof(*c));
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof sun.sun_path) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path));
	for (;;) {
		c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (c->fd < 0)
			return -1;
		if (connect(c->fd, (struct sockaddr *)&sun, sizeof sun) == 0)
			return 0;
		close(c->fd);
		c->fd = -1;
		if ((errno != ENOENT && errno != ECONNREFUSED) ||
		    waited >= wait_ms)
			return -1;
		nanosleep(&ts, NULL);
		waited += 50;
	}
}

void
cli_conn_close(struct cli_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

int
cli_conn_write(struct cli_conn *c, const char *s, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = send(c->fd, s, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		s += n;
		len -= (size_t)n;
	}
	return 0;
}

static int
cli_conn_take_line(struct cli_conn *c, char *out, size_t outlen)
{
	char *nl;
	size_t n;

	nl = memchr(c->buf, '\n', c->len);
	if (nl == NULL)
		return 0;
	n = (size_t)(nl - c->buf);
	snprintf(out, outlen, "%.*s", (int)n, c->buf);
	memmove(c->buf, nl + 1, c->len - n - 1);
	c->len -= n + 1;
	return 1;
}

int
cli_conn_read_line(struct cli_conn *c, char *out, size_t outlen,
    int timeout_ms)
{
	struct pollfd pfd;
	ssize_t n;
	int r;

	for (;;) {
		if (cli_conn_take_line(c, out, outlen))
			return 1;
		if (c->len == sizeof c->buf)
			return -1;	/* a reply longer than we take */
		pfd.fd = c->fd;
		pfd.events = POLLIN;
		r = poll(&pfd, 1, timeout_ms);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r;
		n = read(c->fd, c->buf + c->len, sizeof c->buf - c->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		c->len += (size_t)n;
	}
}
