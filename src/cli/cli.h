/*
 * cli -- podpulse-cli's commands, each a function with one table row.
 */
#ifndef PODPULSE_CLI_H
#define PODPULSE_CLI_H

/* simulate.c: a fake model server. */
int cli_simulate(const char *socket_path, int argc, char **argv);

/* snapshots.c: the scale snapshot list in Redis, as JSON. */
int cli_snapshots(const char *config_file, int argc, char **argv);

#endif
