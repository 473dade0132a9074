/*
 * cmd_setup -- the setup commands: setup start, setup log, setup done.
 *
 * There is one setup report per daemon run. It is triggered by the first
 * `setup done`, or by the setup timeout if that comes first; a `setup done`
 * after the timeout still moves the state (a late `ready` makes the
 * instance idle and ready) but sends no second report. A second
 * `setup done` is an error.
 */
#include "cmd.h"

enum protocol_error
cmd_setup_start_exec(struct cmd_ctx *ctx)
{
	monitor_setup_start(&ctx->engine->monitor, ctx->now_ns);
	return PROTOCOL_ERROR_OK;
}

enum protocol_error
cmd_setup_log_exec(struct cmd_ctx *ctx)
{
	struct report_logtail *log = &ctx->engine->setup_log;

	report_logtail_append(log, ctx->cmd->text.ptr, ctx->cmd->text.len);
	report_logtail_append(log, "\n", 1);
	return PROTOCOL_ERROR_OK;
}

enum protocol_error
cmd_setup_done_exec(struct cmd_ctx *ctx)
{
	struct engine *e = ctx->engine;
	enum status_setup status = (enum status_setup)ctx->cmd->status;
	int late;

	if (e->setup_done_seen) {
		ctx->detail = "setup already finished";
		return PROTOCOL_ERROR_SETUP_ALREADY_DONE;
	}
	late = e->setup_reported;
	e->setup_done_seen = 1;
	e->setup_reported = 1;
	monitor_setup_done(&e->monitor, ctx->now_ns, status);
	if (e->hooks.setup != NULL)
		e->hooks.setup(e->hooks.arg, status, late);
	return PROTOCOL_ERROR_OK;
}
