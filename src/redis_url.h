/*
 * redis_url -- parse the address of a Redis server (SPEC section 4).
 *
 * A pure core. Accepted forms:
 *
 *     redis://host:port[/db]
 *     redis://[user:]pass@host:port[/db]
 *     unix:///path/to/redis.sock
 *     unix://[user:]pass@/path/to/redis.sock[?db=N]
 *
 * The port defaults to 6379 and db to 0. "[v6]" hosts are accepted. In the
 * user-info, a part without a colon is the password (Redis's own "AUTH
 * pass"); "user:pass" is an ACL user. Both may be %-encoded. Anything else
 * (other schemes, a query other than db=N, a db out of 0..INT_MAX) is
 * refused with a reason that never quotes the password.
 */
#ifndef PODPULSE_REDIS_URL_H
#define PODPULSE_REDIS_URL_H

#include <stddef.h>

#define REDIS_URL_HOST_MAX 256
#define REDIS_URL_PATH_MAX 108	/* sun_path */
#define REDIS_URL_CRED_MAX 256

struct redis_url {
	int is_unix;
	char host[REDIS_URL_HOST_MAX];	/* TCP: without brackets */
	int port;
	char path[REDIS_URL_PATH_MAX];	/* unix */
	char user[REDIS_URL_CRED_MAX];	/* "" when none */
	char password[REDIS_URL_CRED_MAX];	/* "" when none */
	int has_password;
	int db;
};

/* Returns 0, or -1 with a reason in why. */
int redis_url_parse(const char *s, struct redis_url *u, char *why,
    size_t size);

/*
 * Where the URL points, for log lines: "host:port/db" or "unix:/path",
 * never the credentials.
 */
void redis_url_describe(const struct redis_url *u, char *out, size_t size);

#endif
