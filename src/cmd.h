/*
 * cmd -- the exec functions behind engine's dispatch table, one per verb.
 *
 * Each checks everything first and changes state only when the command is
 * valid. On error it returns the reason and sets *detail to a short
 * human-readable text (static or in detail_buf). Replies other than ok/err
 * (pong, the state line) are appended to out by the function itself.
 */
#ifndef PODPULSE_CMD_H
#define PODPULSE_CMD_H

#include "engine.h"

#define CMD_DETAIL_MAX 200

struct cmd_ctx {
	struct engine *engine;
	struct engine_conn *conn;
	const struct protocol_command *cmd;
	uint64_t now_ns;
	struct buf *out;
	const char *detail;
	char detail_buf[CMD_DETAIL_MAX];
	int replied;		/* the function wrote its own reply */
};

typedef enum protocol_error cmd_exec_fn(struct cmd_ctx *ctx);

/* cmd_session.c */
cmd_exec_fn cmd_hello_exec;
cmd_exec_fn cmd_ping_exec;
cmd_exec_fn cmd_state_exec;

/* cmd_setup.c */
cmd_exec_fn cmd_setup_start_exec;
cmd_exec_fn cmd_setup_log_exec;
cmd_exec_fn cmd_setup_done_exec;

/* cmd_prediction.c */
cmd_exec_fn cmd_enqueue_exec;
cmd_exec_fn cmd_start_exec;
cmd_exec_fn cmd_stop_exec;

#endif
