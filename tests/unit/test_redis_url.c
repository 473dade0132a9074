/*
 * test_redis_url -- the Redis addresses scalestate accepts and refuses.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "redis_url.h"

static void
expect_ok(const char *in, const char *where, const char *user,
    const char *password, int has_password)
{
	struct redis_url u;
	char why[128] = "", d[512];

	if (redis_url_parse(in, &u, why, sizeof why) != 0)
		fail_msg("%s: expected ok, got \"%s\"", in, why);
	redis_url_describe(&u, d, sizeof d);
	if (strcmp(d, where) != 0 || strcmp(u.user, user) != 0 ||
	    strcmp(u.password, password) != 0 ||
	    u.has_password != has_password)
		fail_msg("%s: expected %s user=%s pass=%s (%d), got %s user=%s "
		    "pass=%s (%d)", in, where, user, password, has_password, d,
		    u.user, u.password, u.has_password);
}

static void
expect_bad(const char *in, const char *reason)
{
	struct redis_url u;
	char why[128] = "";

	if (redis_url_parse(in, &u, why, sizeof why) == 0)
		fail_msg("%s: expected refusal", in);
	if (strstr(why, reason) == NULL)
		fail_msg("%s: expected \"%s\" in \"%s\"", in, reason, why);
	/* A reason never quotes the password. */
	assert_null(strstr(why, "s3cret"));
}

static void
test_tcp(void **state)
{
	expect_ok("redis://localhost:6380", "localhost:6380/0", "", "", 0);
	expect_ok("redis://127.0.0.1", "127.0.0.1:6379/0", "", "", 0);
	expect_ok("REDIS://h:1/", "h:1/0", "", "", 0);
	expect_ok("redis://h:7000/12", "h:7000/12", "", "", 0);
	expect_ok("redis://[::1]:7000/3", "[::1]:7000/3", "", "", 0);
	expect_ok("redis://[::1]", "[::1]:6379/0", "", "", 0);
}

static void
test_credentials(void **state)
{
	expect_ok("redis://s3cret@h:1", "h:1/0", "", "s3cret", 1);
	expect_ok("redis://:s3cret@h:1/2", "h:1/2", "", "s3cret", 1);
	expect_ok("redis://alice:s3cret@h:1", "h:1/0", "alice", "s3cret", 1);
	expect_ok("redis://al%69ce:p%40ss%3Aw@h:1", "h:1/0", "alice",
	    "p@ss:w", 1);
	/* An unencoded '@' in the password: the last one ends it. */
	expect_ok("redis://u:a@b@h:1", "h:1/0", "u", "a@b", 1);
	expect_ok("redis://@h:1", "h:1/0", "", "", 1);
}

static void
test_unix(void **state)
{
	expect_ok("unix:///run/redis/redis.sock", "unix:/run/redis/redis.sock"
	    "?db=0", "", "", 0);
	expect_ok("unix:///tmp/r.sock?db=4", "unix:/tmp/r.sock?db=4", "", "",
	    0);
	expect_ok("unix://bob:s3cret@/tmp/r.sock", "unix:/tmp/r.sock?db=0",
	    "bob", "s3cret", 1);
}

static void
test_refused(void **state)
{
	char longhost[400];

	expect_bad("http://h:1", "not a redis:// or unix://");
	expect_bad("", "not a redis://");
	expect_bad("redis://", "no host");
	expect_bad("redis://:s3cret@:1", "no host");
	expect_bad("redis://h:0", "port");
	expect_bad("redis://h:65536", "port");
	expect_bad("redis://h:x", "port");
	expect_bad("redis://h:1/db", "database number");
	expect_bad("redis://h:1/1/2", "database number");
	expect_bad("redis://h:1/99999999999", "database number");
	expect_bad("redis://[::1:1", "unclosed");
	expect_bad("redis://[::1]x", "junk");
	expect_bad("redis://u:s3cret%zz@h:1", "bad or too long");
	expect_bad("redis://u:s3cret%00@h:1", "bad or too long");
	expect_bad("redis://u:s3cret%4@h:1", "bad or too long");
	expect_bad("redis://h :1", "space");
	expect_bad("unix://", "absolute path");
	expect_bad("unix://relative.sock", "absolute path");
	expect_bad("unix:///tmp/x.sock?password=s3cret", "?db=N");
	memset(longhost, 'a', sizeof longhost);
	memcpy(longhost, "redis://", 8);
	longhost[sizeof longhost - 1] = '\0';
	expect_bad(longhost, "host too long");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tcp),
		cmocka_unit_test(test_credentials),
		cmocka_unit_test(test_unix),
		cmocka_unit_test(test_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
