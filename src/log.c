/*
 * log -- structured log lines on stderr; see log.h.
 *
 * A line is assembled in a stack buffer and written with one write(2), so
 * lines from podpulse never interleave and a slow reader of stderr costs
 * at most that one call. A line is at most LOG_LINE_MAX bytes: the value
 * that does not fit is cut, marked with "...", and the fields after it are
 * left out, so a cut line is still one valid JSON object.
 */
#include "log.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "timeutil.h"

#define LOG_LINE_MAX 4096
/* Room kept for the endings of a cut line: "...", quotes, "}", "\n". */
#define LOG_RESERVE 64
#define LOG_NUM_MARK '\x01'

static enum log_level log_level = LOG_INFO;
static int log_text;

static const char *const log_level_names[] = { "debug", "info", "warn",
	"error" };

struct log_line {
	char buf[LOG_LINE_MAX];
	size_t len;
	int full;	/* a value was cut: no further fields */
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
	if (!isfinite(v))
		snprintf(buf + 1, 31, "null");
	else if (v == (double)(long long)v)
		snprintf(buf + 1, 31, "%lld", (long long)v);
	else
		snprintf(buf + 1, 31, "%.6g", v);
	return buf;
}

/*
 * The mark of LOG_NUM is in band, so a value from a peer could start with
 * it too: only a mark followed by a number literal (what log_num writes)
 * is printed unquoted; anything else is an escaped string.
 */
static int
log_is_num(const char *value)
{
	const char *p = value + 1;

	if (value[0] != LOG_NUM_MARK)
		return 0;
	if (strcmp(p, "null") == 0)
		return 1;
	return *p != '\0' && strspn(p, "+-.0123456789e") == strlen(p);
}

/* Raw bytes: the fixed parts of a line, which the reserve always holds. */
static void
log_put(struct log_line *l, const char *s, size_t n)
{
	if (n > LOG_LINE_MAX - 1 - l->len)
		n = LOG_LINE_MAX - 1 - l->len;
	memcpy(l->buf + l->len, s, n);
	l->len += n;
}

static void
log_puts(struct log_line *l, const char *s)
{
	log_put(l, s, strlen(s));
}

/* Bytes of the UTF-8 sequence that starts with c (1 for anything else). */
static size_t
log_utf8_len(unsigned char c)
{
	if (c >= 0xf0 && c <= 0xf4)
		return 4;
	if (c >= 0xe0 && c <= 0xef)
		return 3;
	if (c >= 0xc2 && c <= 0xdf)
		return 2;
	return 1;
}

/*
 * Escape for JSON (quoted) or text. A value that does not fit is cut
 * before the escape sequence or UTF-8 character that would overflow, and
 * marked with "...", so the line stays valid JSON and valid UTF-8.
 */
static void
log_put_escaped(struct log_line *l, const char *s)
{
	char esc[8];
	unsigned char c;
	size_t n;

	if (l->full)
		return;
	while (*s != '\0') {
		c = (unsigned char)*s;
		n = 1;
		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			esc[2] = '\0';
		} else if (c == '\n')
			snprintf(esc, sizeof esc, "\\n");
		else if (c < 0x20 || c == 0x7f)
			snprintf(esc, sizeof esc, "\\u%04x", c);
		else {
			n = log_utf8_len(c);
			if (strnlen(s, n) < n)
				n = 1;
			esc[0] = '\0';
		}
		if (l->len + (esc[0] != '\0' ? strlen(esc) : n) >
		    LOG_LINE_MAX - LOG_RESERVE) {
			log_puts(l, "...");
			l->full = 1;
			return;
		}
		if (esc[0] != '\0')
			log_puts(l, esc);
		else
			log_put(l, s, n);
		s += n;
	}
}

static void
log_field(struct log_line *l, const char *key, const char *value)
{
	int num;

	/* A field whose key would not fit is left out whole. */
	if (l->full || l->len + strlen(key) + 8 > LOG_LINE_MAX - LOG_RESERVE) {
		l->full = 1;
		return;
	}
	num = log_is_num(value);
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
	l.full = 0;
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
