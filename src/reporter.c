/*
 * reporter -- where finished reports go; see reporter.h.
 */
#include "reporter.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "xmalloc.h"

struct reporter_write {
	uv_write_t req;
	struct reporter *reporter;
	enum reporter_kind kind;
	size_t len;
	char line[];
};

static void reporter_changed(void *arg);

int
reporter_init(struct reporter *r, uv_loop_t *loop, const struct config *cfg,
    char *err, size_t size)
{
	int r1;

	memset(r, 0, sizeof(*r));
	r->loop = loop;
	r->cfg = cfg;
	r->instance_id = "";
	if (outbox_init(&r->outbox, loop, cfg, &r->counters, err, size) != 0)
		return -1;
	r->outbox.changed_cb = reporter_changed;
	r->outbox.changed_arg = r;
	reporter_changed(r);
	switch (uv_guess_handle(STDOUT_FILENO)) {
	case UV_TTY:
		r1 = uv_tty_init(loop, &r->out.tty, STDOUT_FILENO, 0);
		break;
	case UV_NAMED_PIPE:
		r1 = uv_pipe_init(loop, &r->out.pipe, 0);
		if (r1 == 0 && (r1 = uv_pipe_open(&r->out.pipe,
		    STDOUT_FILENO)) != 0)
			uv_close((uv_handle_t *)&r->out.pipe, NULL);
		break;
	default:
		return 0;
	}
	if (r1 != 0) {
		log_warn("stdout is not a stream libuv can drive; "
		    "writing reports directly", "error", uv_strerror(r1));
		return 0;
	}
	r->stream = 1;
	r->out.pipe.data = r;
	return 0;
}

/* Build {"kind":"...", <body fields>}\n. */
static char *
reporter_line(enum reporter_kind kind, cJSON *body, size_t *len)
{
	char *text, *line;
	size_t tlen, klen;
	const char *name = delivery_kind_name(kind);

	text = cJSON_PrintUnformatted(body);
	tlen = strlen(text);
	klen = strlen(name);
	line = xmalloc(tlen + klen + 16);
	memcpy(line, "{\"kind\":\"", 9);
	memcpy(line + 9, name, klen);
	memcpy(line + 9 + klen, "\"", 1);
	*len = 10 + klen;
	if (tlen > 2) {		/* a non-empty object: splice its fields */
		line[(*len)++] = ',';
		memcpy(line + *len, text + 1, tlen - 1);
		*len += tlen - 1;
	} else
		line[(*len)++] = '}';
	line[(*len)++] = '\n';
	free(text);
	return line;
}

/* Keep the pending count where the engine's state and metrics read it. */
static void
reporter_changed(void *arg)
{
	struct reporter *r = arg;

	r->counters.pending = reporter_pending(r);
	if (r->pending_out != NULL)
		*r->pending_out = (size_t)r->counters.pending;
	if (r->counters.has_last && r->last_kind_out != NULL) {
		*r->last_kind_out = delivery_kind_name(r->counters.last_kind);
		*r->last_outcome_out =
		    delivery_outcome_name(r->counters.last_outcome);
	}
}

/* One of the two sinks is closed; the last one ends the reporter. */
static void
reporter_part_closed(void *arg)
{
	struct reporter *r = arg;

	if (--r->parts_open == 0 && r->drained_cb != NULL)
		r->drained_cb(r->drained_arg);
}

static void
reporter_close_cb(uv_handle_t *handle)
{
	reporter_part_closed(handle->data);
}

static void
reporter_maybe_close(struct reporter *r)
{
	if (!r->closing || r->writes > 0 || r->stdout_closed)
		return;
	r->stdout_closed = 1;
	if (!r->stream) {
		reporter_part_closed(r);
		return;
	}
	if (!uv_is_closing((uv_handle_t *)&r->out.pipe))
		uv_close((uv_handle_t *)&r->out.pipe, reporter_close_cb);
}

static void
reporter_write_cb(uv_write_t *req, int status)
{
	struct reporter_write *w = (struct reporter_write *)req;
	struct reporter *r = w->reporter;

	r->writes--;
	r->queued -= w->len;
	if (status == 0)
		delivery_count(&r->counters, w->kind, DELIVERY_DELIVERED);
	else {
		delivery_count(&r->counters, w->kind, DELIVERY_DROPPED);
		log_error("report not written to stdout", "kind",
		    delivery_kind_name(w->kind), "error", uv_strerror(status));
	}
	free(w);
	reporter_changed(r);
	reporter_maybe_close(r);
}

static int
reporter_write_direct(const char *line, size_t len)
{
	ssize_t n;
	size_t off;

	for (off = 0; off < len; off += (size_t)n) {
		n = write(STDOUT_FILENO, line + off, len - off);
		if (n < 0 && errno == EINTR) {
			n = 0;
			continue;
		}
		if (n <= 0)
			return -1;
	}
	return 0;
}

static void
reporter_drop(struct reporter *r, enum reporter_kind kind, const char *why)
{
	delivery_count(&r->counters, kind, DELIVERY_DROPPED);
	log_error("report dropped", "kind", delivery_kind_name(kind),
	    "reason", why);
}

static void
reporter_submit_stream(struct reporter *r, enum reporter_kind kind,
    char *line, size_t len)
{
	struct reporter_write *w;
	uv_buf_t b;

	if (r->queued + len > REPORTER_QUEUE_MAX) {
		reporter_drop(r, kind, "stdout reader is not keeping up");
		return;
	}
	w = xmalloc(sizeof(*w) + len);
	w->reporter = r;
	w->kind = kind;
	w->len = len;
	memcpy(w->line, line, len);
	b = uv_buf_init(w->line, (unsigned)len);
	if (uv_write(&w->req, (uv_stream_t *)&r->out.pipe, &b, 1,
	    reporter_write_cb) != 0) {
		free(w);
		reporter_drop(r, kind, "stdout is closed");
		return;
	}
	r->writes++;
	r->queued += len;
}

static const char *
reporter_url(const struct reporter *r, enum reporter_kind kind)
{
	return kind == REPORTER_INSTANCE_STATE ?
	    r->cfg->report_instance_state_url : r->cfg->report_setup_run_url;
}

/*
 * Over HTTP: Idempotency-Key "<instance_id>:<kind>:<sequence>". The key
 * goes into a header and a spool file's header line, so a byte that is
 * not printable ASCII or is a space becomes '_', and a very long
 * instance_id is cut.
 */
static void
reporter_submit_http(struct reporter *r, enum reporter_kind kind,
    cJSON *body)
{
	const cJSON *seq;
	char *key, *text, *p;
	double n = 0;

	seq = cJSON_GetObjectItemCaseSensitive(body, "sequence");
	if (cJSON_IsNumber(seq))
		n = seq->valuedouble;
	xasprintf(&key, "%.*s:%s:%.0f", REPORTER_KEY_ID_MAX, r->instance_id,
	    delivery_kind_name(kind), n);
	for (p = key; *p != '\0'; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
			*p = '_';
	text = cJSON_PrintUnformatted(body);
	cJSON_Delete(body);
	outbox_submit(&r->outbox, kind, key, text, strlen(text));
	free(key);
}

void
reporter_submit(struct reporter *r, enum reporter_kind kind, cJSON *body)
{
	char *line;
	size_t len;

	if (*reporter_url(r, kind) != '\0') {
		reporter_submit_http(r, kind, body);
		return;
	}
	line = reporter_line(kind, body, &len);
	cJSON_Delete(body);
	if (r->stream && !uv_is_closing((uv_handle_t *)&r->out.pipe))
		reporter_submit_stream(r, kind, line, len);
	else if (reporter_write_direct(line, len) == 0)
		delivery_count(&r->counters, kind, DELIVERY_DELIVERED);
	else
		reporter_drop(r, kind, "stdout write failed");
	free(line);
	reporter_changed(r);
}

size_t
reporter_pending(const struct reporter *r)
{
	return r->writes + outbox_pending(&r->outbox);
}

void
reporter_close(struct reporter *r, void (*cb)(void *arg), void *arg)
{
	r->closing = 1;
	r->drained_cb = cb;
	r->drained_arg = arg;
	r->parts_open = 2;
	outbox_close(&r->outbox, reporter_part_closed, r);
	reporter_maybe_close(r);
}

void
reporter_abort(struct reporter *r)
{
	outbox_abort(&r->outbox);
	if (!r->stream || r->writes == 0)
		return;
	log_error("shutdown grace elapsed; reports still queued for stdout "
	    "are lost", "reports", LOG_NUM(r->writes));
	/* Closing cancels the writes; their callbacks count the drops. */
	if (!uv_is_closing((uv_handle_t *)&r->out.pipe))
		uv_close((uv_handle_t *)&r->out.pipe, reporter_close_cb);
}
