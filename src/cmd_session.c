/*
 * cmd_session -- commands about the connection itself: hello, ping, state.
 */
#include <stdlib.h>

#include "cmd.h"

enum protocol_error
cmd_hello_exec(struct cmd_ctx *ctx)
{
	ctx->conn->ack = ctx->cmd->hello_ack;
	return PROTOCOL_ERROR_OK;
}

enum protocol_error
cmd_ping_exec(struct cmd_ctx *ctx)
{
	buf_append(ctx->out, "pong\n", 5);
	ctx->replied = 1;
	return PROTOCOL_ERROR_OK;
}

enum protocol_error
cmd_state_exec(struct cmd_ctx *ctx)
{
	cJSON *state;
	char *text;

	engine_advance(ctx->engine, ctx->now_ns);
	state = engine_state_json(ctx->engine, ctx->now_ns);
	text = cJSON_PrintUnformatted(state);
	cJSON_Delete(state);
	buf_append_str(ctx->out, text);
	buf_append(ctx->out, "\n", 1);
	free(text);
	ctx->replied = 1;
	return PROTOCOL_ERROR_OK;
}
