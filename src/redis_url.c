/*
 * redis_url -- parse the address of a Redis server; see redis_url.h.
 *
 * The parser splits "scheme://userinfo@rest" by hand: the last '@' before
 * the path ends the user-info, so an unencoded '@' in a password still
 * works. Every field is bounded by its buffer; a longer one is refused
 * rather than cut, since a cut password or host would fail later in a way
 * that is harder to understand.
 */
#include "redis_url.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define REDIS_URL_DEFAULT_PORT 6379

static int
redis_url_fail(char *why, size_t size, const char *reason)
{
	snprintf(why, size, "%s", reason);
	return -1;
}

static int
redis_url_hex(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Copy n bytes of s into out, %-decoding; -1 when bad or too long. */
static int
redis_url_decode(const char *s, size_t n, char *out, size_t size)
{
	size_t i, o = 0;
	int hi, lo;

	for (i = 0; i < n; i++) {
		if (o + 1 >= size)
			return -1;
		if (s[i] != '%') {
			out[o++] = s[i];
			continue;
		}
		if (i + 2 >= n)
			return -1;
		hi = redis_url_hex((unsigned char)s[i + 1]);
		lo = hi < 0 ? -1 : redis_url_hex((unsigned char)s[i + 2]);
		if (lo < 0 || (hi == 0 && lo == 0))
			return -1;
		out[o++] = (char)(hi * 16 + lo);
		i += 2;
	}
	out[o] = '\0';
	return 0;
}

static int
redis_url_userinfo(const char *s, size_t n, struct redis_url *u)
{
	const char *colon;

	colon = memchr(s, ':', n);
	if (colon == NULL)
		return redis_url_decode(s, n, u->password, sizeof u->password);
	if (redis_url_decode(s, (size_t)(colon - s), u->user,
	    sizeof u->user) != 0)
		return -1;
	return redis_url_decode(colon + 1, n - (size_t)(colon - s) - 1,
	    u->password, sizeof u->password);
}

static int
redis_url_number(const char *s, size_t n, long max, int *out)
{
	long v = 0;
	size_t i;

	if (n == 0 || n > 10)
		return -1;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	if (v > max)
		return -1;
	*out = (int)v;
	return 0;
}

/* "host[:port]" or "[v6][:port]" */
static int
redis_url_hostport(const char *s, size_t n, struct redis_url *u, char *why,
    size_t size)
{
	const char *end = s + n, *hend, *port = NULL;

	if (n > 0 && s[0] == '[') {
		hend = memchr(s, ']', n);
		if (hend == NULL)
			return redis_url_fail(why, size, "unclosed [ in host");
		if (hend + 1 < end && hend[1] != ':')
			return redis_url_fail(why, size, "junk after ]");
		if (hend + 1 < end)
			port = hend + 2;
		s++;
	} else {
		hend = memchr(s, ':', n);
		if (hend != NULL)
			port = hend + 1;
		else
			hend = end;
	}
	if (hend == s)
		return redis_url_fail(why, size, "no host");
	if ((size_t)(hend - s) >= sizeof u->host)
		return redis_url_fail(why, size, "host too long");
	memcpy(u->host, s, (size_t)(hend - s));
	u->host[hend - s] = '\0';
	u->port = REDIS_URL_DEFAULT_PORT;
	if (port != NULL && (redis_url_number(port, (size_t)(end - port),
	    65535, &u->port) != 0 || u->port == 0))
		return redis_url_fail(why, size, "port not in 1..65535");
	return 0;
}

static int
redis_url_tcp(const char *rest, struct redis_url *u, char *why, size_t size)
{
	size_t hn = strcspn(rest, "/?#");
	const char *path = rest + hn;

	if (redis_url_hostport(rest, hn, u, why, size) != 0)
		return -1;
	if (*path == '\0' || strcmp(path, "/") == 0)
		return 0;
	if (*path != '/' || redis_url_number(path + 1, strlen(path + 1),
	    INT_MAX, &u->db) != 0)
		return redis_url_fail(why, size,
		    "path must be /DB, a database number");
	return 0;
}

static int
redis_url_unix(const char *rest, struct redis_url *u, char *why, size_t size)
{
	size_t pn = strcspn(rest, "?#");
	const char *q = rest + pn;

	if (pn == 0 || rest[0] != '/')
		return redis_url_fail(why, size,
		    "unix URL needs an absolute path: unix:///path");
	if (pn >= sizeof u->path)
		return redis_url_fail(why, size, "socket path too long");
	memcpy(u->path, rest, pn);
	u->path[pn] = '\0';
	if (*q == '\0')
		return 0;
	if (strncmp(q, "?db=", 4) != 0 || redis_url_number(q + 4,
	    strlen(q + 4), INT_MAX, &u->db) != 0)
		return redis_url_fail(why, size,
		    "the only query allowed is ?db=N");
	return 0;
}

int
redis_url_parse(const char *s, struct redis_url *u, char *why, size_t size)
{
	const char *rest, *at = NULL, *p;
	size_t auth_end;

	memset(u, 0, sizeof(*u));
	if (strncasecmp(s, "redis://", 8) == 0)
		rest = s + 8;
	else if (strncasecmp(s, "unix://", 7) == 0) {
		rest = s + 7;
		u->is_unix = 1;
	} else
		return redis_url_fail(why, size,
		    "not a redis:// or unix:// URL");
	if (strpbrk(s, " \t\r\n") != NULL)
		return redis_url_fail(why, size, "URL with a space");
	/* The user-info ends at the last '@' before the path. */
	auth_end = strcspn(rest, "/?#");
	for (p = rest; p < rest + auth_end; p++) {
		if (*p == '@')
			at = p;
	}
	if (at != NULL) {
		if (redis_url_userinfo(rest, (size_t)(at - rest), u) != 0)
			return redis_url_fail(why, size,
			    "bad or too long user or password");
		u->has_password = 1;
		rest = at + 1;
	}
	if (u->is_unix)
		return redis_url_unix(rest, u, why, size);
	return redis_url_tcp(rest, u, why, size);
}

void
redis_url_describe(const struct redis_url *u, char *out, size_t size)
{
	if (u->is_unix)
		snprintf(out, size, "unix:%s?db=%d", u->path, u->db);
	else if (strchr(u->host, ':') != NULL)
		snprintf(out, size, "[%s]:%d/%d", u->host, u->port, u->db);
	else
		snprintf(out, size, "%s:%d/%d", u->host, u->port, u->db);
}
