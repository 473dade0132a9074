/*
 * log -- structured log lines on stderr; see log.h.
 *
 * A line is assembled in a stack buffer and written with one write(2), so
 * lines from podpulse never interleave and a slow reader of stderr costs
 * at most that one call. Values longer than the buffer are cut, marked
 * with "...".
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "timeutil.h"

#define LOG_LINE_MAX 4096
#define LOG_NUM_MARK '\x01'

static enum log_level log_level = LOG_INFO;
static int log_text;

static const char *const log_level_names[] = { "debug", "info", "warn",
	"error" };

struct log_line {
	char buf[LOG_LINE_MAX];
	size_t len;
};

void
log_setup(enum log_level level, int text_format)
{
	log_level = level;
	log_text = text_format;
}

int
log_enabled(enum log_level level)
{
	return level >= log_level;
}

const char *
log_num(char *buf, double v)
{
	buf[0] = LOG_NUM_MARK;
	if (v == (double)(long long)v)
		snprintf(buf + 1, 31, "%lld", (long long)v);
	else
		snprintf(buf + 1, 31, "%.6g", v);
	return buf;
}

static void
log_put(struct log_line *l, const char *s, size_t n)
{
	/* Keep room for the "...\n" or "}\n" ending. */
	if (l->len + n > LOG_LINE_MAX - 8)
		n = LOG_LINE_MAX - 8 - l->len;
	memcpy(l->buf + l->len, s, n);
	l->len += n;
}

static void
log_puts(struct log_line *l, const char *s)
{
	log_put(l, s, strlen(s));
}

/* Escape for JSON (quoted) or text (quoted when it has spaces). */
static void
log_put_escaped(struct log_line *l, const char *s)
{
	char esc[8];
	unsigned char c;

	for (; *s != '\0'; s++) {
		c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			log_put(l, esc, 2);
		} else if (c == '\n') {
			log_put(l, "\\n", 2);
		} else if (c < 0x20 || c == 0x7f) {
			snprintf(esc, sizeof esc, "\\u%04x", c);
			log_put(l, esc, 6);
		} else
			log_put(l, s, 1);
	}
}

static void
log_field(struct log_line *l, const char *key, const char *value)
{
	int num;

	num = value[0] == LOG_NUM_MARK;
	if (num)
		value++;
	if (log_text) {
		log_puts(l, " ");
		log_puts(l, key);
		log_puts(l, "=");
		if (num || (value[0] != '\0' && strpbrk(value, " \"=") == NULL))
			log_put_escaped(l, value);
		else {
			log_puts(l, "\"");
			log_put_escaped(l, value);
			log_puts(l, "\"");
		}
		return;
	}
	log_puts(l, ",\"");
	log_put_escaped(l, key);
	log_puts(l, "\":");
	if (num) {
		log_puts(l, value);
		return;
	}
	log_puts(l, "\"");
	log_put_escaped(l, value);
	log_puts(l, "\"");
}

static void
log_vwrite(enum log_level level, const char *msg, va_list ap)
{
	struct log_line l;
	char ts[TIMEUTIL_RFC3339_LEN];
	const char *key, *value;
	ssize_t n;
	size_t off;

	l.len = 0;
	timeutil_rfc3339_format(timeutil_wall_ms(), ts);
	if (log_text) {
		log_puts(&l, ts);
		log_puts(&l, " ");
		log_puts(&l, log_level_names[level]);
		log_puts(&l, " ");
		log_put_escaped(&l, msg);
	} else {
		log_puts(&l, "{\"ts\":\"");
		log_puts(&l, ts);
		log_puts(&l, "\",\"level\":\"");
		log_puts(&l, log_level_names[level]);
		log_puts(&l, "\",\"msg\":\"");
		log_put_escaped(&l, msg);
		log_puts(&l, "\"");
	}
	while ((key = va_arg(ap, const char *)) != NULL) {
		value = va_arg(ap, const char *);
		log_field(&l, key, value == NULL ? "" : value);
	}
	if (!log_text)
		log_puts(&l, "}");
	l.buf[l.len++] = '\n';

	for (off = 0; off < l.len; off += (size_t)n) {
		n = write(STDERR_FILENO, l.buf + off, l.len - off);
		if (n <= 0)
			return;
	}
}

void
log_write(enum log_level level, const char *msg, ...)
{
	va_list ap;

	if (!log_enabled(level))
		return;
	va_start(ap, msg);
	log_vwrite(level, msg, ap);
	va_end(ap);
}

void
log_fatal(int status, const char *msg, ...)
{
	va_list ap;

	va_start(ap, msg);
	log_vwrite(LOG_ERROR, msg, ap);
	va_end(ap);
	exit(status);
}

int
log_ratelimit_allow(struct log_ratelimit *rl, uint64_t now_ns,
    uint64_t period_ns, uint64_t *suppressed)
{
	if (rl->next_ns != 0 && now_ns < rl->next_ns) {
		rl->suppressed++;
		return 0;
	}
	rl->next_ns = now_ns + period_ns;
	*suppressed = rl->suppressed;
	rl->suppressed = 0;
	return 1;
}
