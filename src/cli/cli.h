/*
 * cli -- podpulse-cli's commands, each a function with one table row.
 */
#ifndef PODPULSE_CLI_H
#define PODPULSE_CLI_H

/* simulate.c: a fake model server. */
int cli_simulate(const char *socket_path, int argc, char **argv);

#endif
