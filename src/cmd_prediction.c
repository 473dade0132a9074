/*
 * cmd_prediction -- the prediction lifecycle: enqueue, start, stop.
 *
 * This is the hot path: one table operation and one monitor update per
 * command, no allocation beyond the record itself, no formatting unless an
 * error must be described.
 */
#include <stdio.h>

#include "cmd.h"

static enum protocol_error
cmd_prediction_error(struct cmd_ctx *ctx, int result)
{
	const struct protocol_slice *id = &ctx->cmd->id;

	switch (result) {
	case PREDICTIONS_DUPLICATE:
		snprintf(ctx->detail_buf, sizeof ctx->detail_buf,
		    "prediction %.*s is already %s", (int)id->len, id->ptr,
		    ctx->cmd->verb == PROTOCOL_VERB_START ? "in flight" :
		    "pending or in flight");
		ctx->detail = ctx->detail_buf;
		return PROTOCOL_ERROR_DUPLICATE_ID;
	case PREDICTIONS_UNKNOWN:
		snprintf(ctx->detail_buf, sizeof ctx->detail_buf,
		    "prediction %.*s is neither pending nor in flight",
		    (int)id->len, id->ptr);
		ctx->detail = ctx->detail_buf;
		return PROTOCOL_ERROR_UNKNOWN_ID;
	default:
		snprintf(ctx->detail_buf, sizeof ctx->detail_buf,
		    "at most %zu predictions pending and in flight",
		    ctx->engine->options.max_in_flight);
		ctx->detail = ctx->detail_buf;
		return PROTOCOL_ERROR_TOO_MANY_IN_FLIGHT;
	}
}

enum protocol_error
cmd_enqueue_exec(struct cmd_ctx *ctx)
{
	const struct protocol_command *cmd = ctx->cmd;
	int r;

	r = predictions_enqueue(&ctx->engine->predictions, cmd->id.ptr,
	    cmd->id.len, &ctx->conn->owner, ctx->now_ns, cmd->attrs,
	    cmd->nattrs);
	if (r != PREDICTIONS_OK)
		return cmd_prediction_error(ctx, r);
	return PROTOCOL_ERROR_OK;
}

enum protocol_error
cmd_start_exec(struct cmd_ctx *ctx)
{
	const struct protocol_command *cmd = ctx->cmd;
	uint64_t queued_ns;
	int r;

	r = predictions_start(&ctx->engine->predictions, cmd->id.ptr,
	    cmd->id.len, &ctx->conn->owner, ctx->now_ns, cmd->attrs,
	    cmd->nattrs, &queued_ns);
	if (r != PREDICTIONS_OK)
		return cmd_prediction_error(ctx, r);
	monitor_prediction_start(&ctx->engine->monitor, ctx->now_ns);
	engine_prediction_started(ctx->engine, queued_ns);
	return PROTOCOL_ERROR_OK;
}

enum protocol_error
cmd_stop_exec(struct cmd_ctx *ctx)
{
	const struct protocol_command *cmd = ctx->cmd;
	struct predictions_info info;
	int r;

	r = predictions_stop(&ctx->engine->predictions, cmd->id.ptr,
	    cmd->id.len, &info);
	if (r != PREDICTIONS_OK)
		return cmd_prediction_error(ctx, r);
	monitor_prediction_stop(&ctx->engine->monitor, ctx->now_ns,
	    (enum status_prediction)cmd->status, info.running);
	engine_prediction_stopped(ctx->engine, &info, ctx->now_ns);
	return PROTOCOL_ERROR_OK;
}
