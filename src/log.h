/*
 * log -- structured log lines on stderr.
 *
 * One line per event: a JSON object ({"ts":..., "level":..., "msg":...,
 * fields}) by default, or "ts LEVEL msg key=value" for people. Fields are
 * key/value string pairs ending in NULL; LOG_NUM() formats a number so that
 * it prints unquoted in JSON. Every value is escaped: ids and texts from
 * peers are untrusted.
 *
 * The level is checked before anything is formatted, and a per-reason rate
 * limiter lets a flood of identical failures cost one line per period.
 * Secrets are never passed to these functions; callers redact first.
 */
#ifndef PODPULSE_LOG_H
#define PODPULSE_LOG_H

#include <stdint.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

void log_setup(enum log_level level, int text_format);
int log_enabled(enum log_level level);

void log_write(enum log_level level, const char *msg, ...)
    __attribute__((sentinel));

#define log_debug(...) \
	do { \
		if (log_enabled(LOG_DEBUG)) \
			log_write(LOG_DEBUG, __VA_ARGS__, (char *)NULL); \
	} while (0)
#define log_info(...) \
	do { \
		if (log_enabled(LOG_INFO)) \
			log_write(LOG_INFO, __VA_ARGS__, (char *)NULL); \
	} while (0)
#define log_warn(...) \
	do { \
		if (log_enabled(LOG_WARN)) \
			log_write(LOG_WARN, __VA_ARGS__, (char *)NULL); \
	} while (0)
#define log_error(...) log_write(LOG_ERROR, __VA_ARGS__, (char *)NULL)

/* A number as a field value (unquoted in JSON); valid for the statement. */
#define LOG_NUM(v) log_num((char[32]){0}, (double)(v))
const char *log_num(char *buf, double v);

/*
 * One line per period: returns 1 when a line may be written now, with
 * *suppressed set to the number of lines held back since the last one.
 */
struct log_ratelimit {
	uint64_t next_ns;
	uint64_t suppressed;
};

int log_ratelimit_allow(struct log_ratelimit *rl, uint64_t now_ns,
    uint64_t period_ns, uint64_t *suppressed);

#endif
