/*
 * cli_conn -- the command-line client's connection to the daemon.
 *
 * Blocking by design: podpulse-cli is a tool for people and scripts, not
 * a model server. (Model servers use the non-blocking client library.)
 */
#ifndef PODPULSE_CLI_CONN_H
#define PODPULSE_CLI_CONN_H

#include <stddef.h>

struct cli_conn {
	int fd;
	char buf[65536];
	size_t len;
};

/* Connect, retrying for up to wait_ms while the socket does not exist yet. */
int cli_conn_open(struct cli_conn *c, const char *path, int wait_ms);
void cli_conn_close(struct cli_conn *c);

/* Write all of s. Returns 0 or -1. */
int cli_conn_write(struct cli_conn *c, const char *s, size_t len);

/*
 * Read one reply line (without '\n') into out. timeout_ms < 0 waits
 * forever; 0 only takes what is already there. Returns 1 for a line, 0 on
 * timeout, -1 on EOF or error.
 */
int cli_conn_read_line(struct cli_conn *c, char *out, size_t outlen,
    int timeout_ms);

#endif
