/*
 * snapshots -- `podpulse-cli snapshots`: print the scale snapshot list of
 * a deployable as one JSON array, newest first (SPEC section 8).
 *
 *     podpulse-cli [-c FILE] snapshots [-u REDIS_URL] [-k DEPLOYMENT_KEY]
 *
 * The URL and key default to scalestate.redis_url and
 * identity.deployment_key as the daemon would read them: from -c FILE
 * (or the default file, if present) and the environment
 * (PODPULSE_SCALESTATE_REDIS_URL, PODPULSE_IDENTITY_DEPLOYMENT_KEY). A CLI may
 * block, so this uses hiredis's synchronous API with a timeout. Entries
 * that are not JSON objects are reported on stderr and left out, so the
 * output always parses. Exit status: 0, 1 when Redis fails or the key is
 * not a list, 2 for a usage error.
 */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <cjson/cJSON.h>
#include <hiredis/hiredis.h>

#include "cli.h"
#include "config.h"
#include "daemon.h"
#include "redis_url.h"
#include "xmalloc.h"

#define CLI_CONFIG_MAX (1024 * 1024)

extern char **environ;

#define SNAPSHOTS_TIMEOUT_S 5

static redisContext *
snapshots_connect(const struct redis_url *u)
{
	struct timeval tv = { SNAPSHOTS_TIMEOUT_S, 0 };
	redisContext *c;

	if (u->is_unix)
		c = redisConnectUnixWithTimeout(u->path, tv);
	else
		c = redisConnectWithTimeout(u->host, u->port, tv);
	if (c == NULL || c->err != 0) {
		fprintf(stderr, "podpulse-cli: cannot connect to redis: %s\n",
		    c != NULL ? c->errstr : "out of memory");
		if (c != NULL)
			redisFree(c);
		return NULL;
	}
	redisSetTimeout(c, tv);
	return c;
}

/* Run one command; NULL (after a message) unless the reply is no error. */
static redisReply *
snapshots_command(redisContext *c, const char *what, const char *fmt, ...)
{
	redisReply *r;
	va_list ap;

	va_start(ap, fmt);
	r = redisvCommand(c, fmt, ap);
	va_end(ap);
	if (r == NULL) {
		fprintf(stderr, "podpulse-cli: %s: %s\n", what, c->errstr);
		return NULL;
	}
	if (r->type == REDIS_REPLY_ERROR) {
		fprintf(stderr, "podpulse-cli: %s: %s\n", what, r->str);
		freeReplyObject(r);
		return NULL;
	}
	return r;
}

static int
snapshots_login(redisContext *c, const struct redis_url *u)
{
	redisReply *r = NULL;

	if (u->password[0] != '\0' && u->user[0] != '\0')
		r = snapshots_command(c, "AUTH", "AUTH %s %s", u->user,
		    u->password);
	else if (u->password[0] != '\0')
		r = snapshots_command(c, "AUTH", "AUTH %s", u->password);
	if (u->password[0] != '\0' && r == NULL)
		return -1;
	freeReplyObject(r);
	if (u->db == 0)
		return 0;
	if ((r = snapshots_command(c, "SELECT", "SELECT %d", u->db)) == NULL)
		return -1;
	freeReplyObject(r);
	return 0;
}

/* One snapshot a line, so that the output reads well and still parses. */
static int
snapshots_print(const redisReply *r)
{
	const char *sep = "";
	cJSON *item;
	char *out;
	size_t i;

	printf("[");
	for (i = 0; i < r->elements; i++) {
		item = r->element[i]->type == REDIS_REPLY_STRING ?
		    cJSON_Parse(r->element[i]->str) : NULL;
		if (item == NULL || !cJSON_IsObject(item)) {
			fprintf(stderr, "podpulse-cli: entry %zu is not a "
			    "JSON object; left out\n", i);
			cJSON_Delete(item);
			continue;
		}
		out = cJSON_PrintUnformatted(item);
		printf("%s\n  %s", sep, out);
		sep = ",";
		free(out);
		cJSON_Delete(item);
	}
	printf("%s]\n", *sep != '\0' ? "\n" : "");
	return 0;
}

/*
 * The configuration as the daemon builds it, without the command line:
 * the file (when explicit, it must be readable) and the environment.
 */
static int
snapshots_config(const char *file, struct config *cfg)
{
	struct config_error err;
	const char *path = file != NULL ? file : DAEMON_DEFAULT_CONFIG;
	char *text;
	FILE *f;
	size_t n;

	config_init(cfg);
	if ((f = fopen(path, "r")) == NULL && file != NULL) {
		perror(file);
		return -1;
	}
	if (f != NULL) {
		text = xmalloc(CLI_CONFIG_MAX + 1);
		n = fread(text, 1, CLI_CONFIG_MAX, f);
		fclose(f);
		text[n] = '\0';
		if (config_parse_ini(cfg, text, path, &err) != 0) {
			fprintf(stderr, "podpulse-cli: %s\n", err.msg);
			free(text);
			return -1;
		}
		free(text);
	}
	if (config_apply_env(cfg, environ, &err) != 0) {
		fprintf(stderr, "podpulse-cli: %s\n", err.msg);
		return -1;
	}
	return 0;
}

int
cli_snapshots(const char *config_file, int argc, char **argv)
{
	const char *url = NULL, *key = NULL;
	struct config cfg;
	struct redis_url u;
	redisContext *c;
	redisReply *r;
	char why[128];
	int ch, status = 1;

	optind = 1;
	while ((ch = getopt(argc, argv, "u:k:")) != -1) {
		if (ch == 'u')
			url = optarg;
		else if (ch == 'k')
			key = optarg;
		else
			return 2;
	}
	if (optind != argc || snapshots_config(config_file, &cfg) != 0)
		return 2;
	if (url == NULL)
		url = cfg.scalestate_redis_url;
	if (key == NULL)
		key = cfg.identity_deployment_key;
	if (*url == '\0' || *key == '\0') {
		fprintf(stderr, "usage: podpulse-cli [-c FILE] snapshots "
		    "-u REDIS_URL -k DEPLOYMENT_KEY\n");
		config_free(&cfg);
		return 2;
	}
	if (redis_url_parse(url, &u, why, sizeof why) != 0) {
		fprintf(stderr, "podpulse-cli: bad Redis URL: %s\n", why);
		config_free(&cfg);
		return 2;
	}
	if ((c = snapshots_connect(&u)) == NULL) {
		config_free(&cfg);
		return 1;
	}
	if (snapshots_login(c, &u) == 0 && (r = snapshots_command(c,
	    "LRANGE", "LRANGE scalestate:%s 0 -1", key)) != NULL) {
		if (r->type == REDIS_REPLY_ARRAY)
			status = snapshots_print(r);
		else
			fprintf(stderr, "podpulse-cli: unexpected reply\n");
		freeReplyObject(r);
	}
	redisFree(c);
	config_free(&cfg);
	return status;
}
