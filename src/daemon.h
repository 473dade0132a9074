/*
 * daemon -- startup, the timers, signals, reload and the shutdown order.
 *
 * Startup: configuration, logging, the engine, the reporter, the socket
 * (after the socket-file safety check), scale snapshots (scalestate), the
 * timers, the signals. Shutdown is the reverse: stop accepting and close
 * the connections (their predictions are aborted), cut the final
 * interval, and in parallel flush the reports within
 * monitor.shutdown_grace and let scalestate leave the replica set and
 * release its lease (within scalestate.command_timeout); once both are
 * done, close every handle and check that the loop ends with none left.
 *
 * Timers are one-shot and re-armed to absolute deadlines: the report cut
 * (monitor_next_cut), the setup timeout, the prediction-timeout reaper
 * (armed only while something is in flight). Between them the daemon
 * sleeps: no periodic wake-up when nothing happens.
 */
#ifndef PODPULSE_DAEMON_H
#define PODPULSE_DAEMON_H

#include "config.h"

struct daemon_args {
	const char *config_path;	/* NULL: the default path, if present */
	int config_explicit;		/* -c given: the file must be readable */
	const char *const *overrides;	/* "section.key=value", NULL-terminated */
	char *const *envp;
};

#define DAEMON_DEFAULT_CONFIG "/etc/podpulse/podpulse.ini"

/*
 * Build the effective configuration: defaults, file, environment, command
 * line, then validation. Returns 0, or -1 with err set (exit status 2).
 */
int daemon_config_load(const struct daemon_args *args, struct config *c,
    struct config_error *err);

/* Run until shutdown. Returns the process exit status. */
int daemon_run(const struct daemon_args *args, struct config *c);

#endif
