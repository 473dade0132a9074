/*
 * podpulse-cli -- talk to a running podpulse over its socket.
 *
 *     podpulse-cli [-s SOCKET | -c FILE] COMMAND [ARGS]
 *
 * Each one-shot command opens a connection in ack mode, sends one line
 * and prints the reply; the exit status is 0 for ok/pong/state, 1 for an
 * `err` reply or a failed connection, 2 for a usage error. The socket is
 * -s, else socket.path of the -c file, else $PODPULSE_SOCKET_PATH, else
 * the built-in default.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_conn.h"
#include "config.h"
#include "podpulse/protocol.h"
#include "xmalloc.h"

#define CLI_REPLY_MAX 65536

struct cli_cmd {
	const char *name;
	int min_args;		/* words after the command name */
	int max_args;		/* -1: any */
	const char *verb;	/* protocol verb it sends; NULL: own function */
	const char *usage;
};

static const struct cli_cmd cli_cmds[] = {
	{ "ping", 0, 0, "ping", "ping" },
	{ "state", 0, 0, "state", "state" },
	{ "setup-start", 0, 0, "setup start", "setup-start" },
	{ "setup-log", 1, -1, "setup log", "setup-log TEXT..." },
	{ "setup-done", 1, -1, "setup done", "setup-done ready|failed [k=v ...]" },
	{ "enqueue", 1, -1, "enqueue", "enqueue ID [k=v ...]" },
	{ "start", 1, -1, "start", "start ID [k=v ...]" },
	{ "stop", 2, -1, "stop", "stop ID STATUS [k=v ...]" },
	{ "send", 0, 0, NULL, "send  (lines from stdin; prints each reply)" },
	{ "snapshots", 0, -1, NULL, "snapshots [-u REDIS_URL] [-k DEPLOYMENT_KEY]"
	  "  (the scale snapshots in Redis, as JSON; defaults from -c FILE "
	  "and the environment)" },
	{ "simulate", 0, -1, NULL, "simulate [--rate R] [--duration D] "
	  "[--concurrency C] [--mean-duration S] [--failure-rate F] "
	  "[--seed N] [--setup-time S]" },
};

static void
cli_usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: podpulse-cli [-s SOCKET | -c FILE] COMMAND\n\n"
	    "commands:\n");
	for (i = 0; i < sizeof cli_cmds / sizeof cli_cmds[0]; i++)
		fprintf(f, "  %s\n", cli_cmds[i].usage);
}

static char *
cli_socket_from_config(const char *file)
{
	struct config_error err;
	struct config cfg;
	char *text, *path;
	FILE *f;
	size_t n;

	f = fopen(file, "r");
	if (f == NULL) {
		perror(file);
		exit(2);
	}
	text = xmalloc(1024 * 1024 + 1);
	n = fread(text, 1, 1024 * 1024, f);
	fclose(f);
	text[n] = '\0';
	config_init(&cfg);
	if (config_parse_ini(&cfg, text, file, &err) != 0) {
		fprintf(stderr, "podpulse-cli: %s\n", err.msg);
		exit(2);
	}
	free(text);
	path = xstrdup(cfg.socket_path);
	config_free(&cfg);
	return path;
}

static int
cli_open(struct cli_conn *c, const char *path)
{
	if (cli_conn_open(c, path, 0) != 0) {
		fprintf(stderr, "podpulse-cli: cannot connect to %s: %m\n",
		    path);
		return -1;
	}
	return cli_conn_write(c, "hello 1 ack\n", 12);
}

/* Send one line, print the reply; 0 for a good reply, 1 for err. */
static int
cli_roundtrip(struct cli_conn *c, const char *line, size_t len)
{
	char *reply;
	int r;

	reply = xmalloc(CLI_REPLY_MAX);
	if (cli_conn_write(c, line, len) != 0 ||
	    cli_conn_read_line(c, reply, CLI_REPLY_MAX, 10000) != 1) {
		fprintf(stderr, "podpulse-cli: no reply from the daemon\n");
		free(reply);
		return 1;
	}
	puts(reply);
	r = strncmp(reply, "err ", 4) == 0;
	free(reply);
	return r;
}

static int
cli_one(const char *path, const struct cli_cmd *cmd, int argc, char **argv)
{
	struct cli_conn c;
	char *line;
	size_t len, i;
	int r;

	len = strlen(cmd->verb) + 2;
	for (i = 0; i < (size_t)argc; i++)
		len += strlen(argv[i]) + 1;
	line = xmalloc(len);
	strcpy(line, cmd->verb);
	for (i = 0; i < (size_t)argc; i++) {
		strcat(line, " ");
		strcat(line, argv[i]);
	}
	strcat(line, "\n");
	if (cli_open(&c, path) != 0) {
		free(line);
		return 1;
	}
	r = cli_roundtrip(&c, line, strlen(line));
	cli_conn_close(&c);
	free(line);
	return r;
}

/* Lines from stdin, one reply each (empty lines get none). */
static int
cli_send(const char *path)
{
	struct cli_conn c;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int errors = 0;

	if (cli_open(&c, path) != 0)
		return 1;
	while ((n = getline(&line, &cap, stdin)) > 0) {
		if (line[n - 1] != '\n') {
			line = xrealloc(line, (size_t)n + 2);
			line[n++] = '\n';
		}
		if (strspn(line, " \r\n") == (size_t)n)
			continue;
		errors |= cli_roundtrip(&c, line, (size_t)n);
	}
	free(line);
	cli_conn_close(&c);
	return errors;
}

int
main(int argc, char **argv)
{
	const struct cli_cmd *cmd = NULL;
	const char *path = getenv("PODPULSE_SOCKET_PATH");
	const char *config_file = NULL;
	char *owned = NULL;
	size_t i;
	int ch, r, nargs;

	while ((ch = getopt(argc, argv, "+s:c:h")) != -1) {
		switch (ch) {
		case 's':
			path = optarg;
			break;
		case 'c':
			free(owned);
			path = owned = cli_socket_from_config(optarg);
			config_file = optarg;
			break;
		case 'h':
			cli_usage(stdout);
			return 0;
		default:
			cli_usage(stderr);
			return 2;
		}
	}
	if (path == NULL)
		path = PODPULSE_SOCKET_PATH_DEFAULT;
	if (optind >= argc) {
		cli_usage(stderr);
		return 2;
	}
	for (i = 0; i < sizeof cli_cmds / sizeof cli_cmds[0]; i++) {
		if (strcmp(argv[optind], cli_cmds[i].name) == 0)
			cmd = &cli_cmds[i];
	}
	if (cmd == NULL) {
		fprintf(stderr, "podpulse-cli: unknown command \"%s\"\n",
		    argv[optind]);
		cli_usage(stderr);
		return 2;
	}
	nargs = argc - optind - 1;
	if (nargs < cmd->min_args || (cmd->max_args >= 0 &&
	    nargs > cmd->max_args)) {
		fprintf(stderr, "usage: podpulse-cli %s\n", cmd->usage);
		return 2;
	}
	if (strcmp(cmd->name, "send") == 0)
		r = cli_send(path);
	else if (strcmp(cmd->name, "snapshots") == 0)
		r = cli_snapshots(config_file, nargs + 1, argv + optind);
	else if (strcmp(cmd->name, "simulate") == 0)
		r = cli_simulate(path, nargs + 1, argv + optind);
	else
		r = cli_one(path, cmd, nargs, argv + optind + 1);
	free(owned);
	return r;
}
