/*
 * test_log -- the log line formats, escaping, the length cap and the
 * per-reason rate limiter.
 *
 * Lines are captured by pointing stderr at a temporary file, then parsed
 * back with cJSON: a JSON line must be one valid object whose fields hold
 * exactly the strings that were logged.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cJSON.h>
#include <cmocka.h>

#include "log.h"

#define CAPTURE_MAX 65536

static char captured[CAPTURE_MAX];
static int saved_fd = -1;
static FILE *capture_file;

static void
capture_begin(void)
{
	capture_file = tmpfile();
	assert_non_null(capture_file);
	fflush(stderr);
	saved_fd = dup(STDERR_FILENO);
	assert_true(dup2(fileno(capture_file), STDERR_FILENO) >= 0);
}

/* Stop capturing; returns what was written to stderr meanwhile. */
static const char *
capture_end(void)
{
	size_t n;

	assert_true(dup2(saved_fd, STDERR_FILENO) >= 0);
	close(saved_fd);
	rewind(capture_file);
	n = fread(captured, 1, sizeof captured - 1, capture_file);
	captured[n] = '\0';
	fclose(capture_file);
	return captured;
}

static size_t
count_lines(const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++)
		n += *s == '\n';
	return n;
}

/* One captured line, which must be one JSON object. */
static cJSON *
parse_line(const char *line)
{
	const char *end = strchr(line, '\n');
	cJSON *j;

	assert_non_null(end);
	assert_int_equal(end[1], '\0');
	j = cJSON_ParseWithLength(line, (size_t)(end - line));
	if (j == NULL || !cJSON_IsObject(j))
		fail_msg("not one JSON object: %s", line);
	return j;
}

static int
utf8_valid(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n, i;

	while (*p != '\0') {
		if (*p < 0x80)
			n = 1;
		else if ((*p & 0xe0) == 0xc0)
			n = 2;
		else if ((*p & 0xf0) == 0xe0)
			n = 3;
		else if ((*p & 0xf8) == 0xf0)
			n = 4;
		else
			return 0;
		for (i = 1; i < n; i++)
			if ((p[i] & 0xc0) != 0x80)
				return 0;
		p += n;
	}
	return 1;
}

static void
test_json_fields(void **state)
{
	cJSON *j;

	(void)state;
	log_setup(LOG_INFO, 0);
	capture_begin();
	log_info("report delivered", "kind", "instance_state", "sequence",
	    LOG_NUM(42), "ratio", LOG_NUM(0.25));
	j = parse_line(capture_end());
	assert_string_equal(cJSON_GetObjectItem(j, "level")->valuestring,
	    "info");
	assert_string_equal(cJSON_GetObjectItem(j, "msg")->valuestring,
	    "report delivered");
	assert_int_equal(strlen(cJSON_GetObjectItem(j, "ts")->valuestring),
	    strlen("2026-01-02T15:04:05.000Z"));
	assert_string_equal(cJSON_GetObjectItem(j, "kind")->valuestring,
	    "instance_state");
	assert_true(cJSON_IsNumber(cJSON_GetObjectItem(j, "sequence")));
	assert_int_equal(cJSON_GetObjectItem(j, "sequence")->valueint, 42);
	assert_true(cJSON_GetObjectItem(j, "ratio")->valuedouble == 0.25);
	cJSON_Delete(j);
}

static void
test_escaping_round_trips(void **state)
{
	const char *nasty = "a\"b\\c\nd\te\x01" "f\x7f g \xc3\xa9 \xe2\x82\xac";
	cJSON *j;

	(void)state;
	log_setup(LOG_INFO, 0);
	capture_begin();
	log_warn("peer said \"hi\"\n", "id", nasty);
	j = parse_line(capture_end());
	assert_string_equal(cJSON_GetObjectItem(j, "msg")->valuestring,
	    "peer said \"hi\"\n");
	assert_string_equal(cJSON_GetObjectItem(j, "id")->valuestring, nasty);
	cJSON_Delete(j);
}

/* A peer's value that starts like LOG_NUM's mark is still a string. */
static void
test_number_mark_cannot_inject(void **state)
{
	const char *evil = "\x01\"}{\"level\":\"error\",\"x\":\"";
	cJSON *j;

	(void)state;
	log_setup(LOG_INFO, 0);
	capture_begin();
	log_info("peer", "id", evil, "digits", "\x01" "123", "nan",
	    LOG_NUM(NAN), "neg", LOG_NUM(-1.5e-7));
	j = parse_line(capture_end());
	assert_string_equal(cJSON_GetObjectItem(j, "id")->valuestring, evil);
	assert_string_equal(cJSON_GetObjectItem(j, "level")->valuestring,
	    "info");
	/* Harmless either way: a number, never raw bytes. */
	assert_true(cJSON_IsNumber(cJSON_GetObjectItem(j, "digits")));
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(j, "nan")));
	assert_true(cJSON_GetObjectItem(j, "neg")->valuedouble == -1.5e-7);
	cJSON_Delete(j);
}

static void
test_levels(void **state)
{
	const char *out;

	(void)state;
	log_setup(LOG_WARN, 0);
	assert_false(log_enabled(LOG_DEBUG));
	assert_false(log_enabled(LOG_INFO));
	assert_true(log_enabled(LOG_WARN));
	assert_true(log_enabled(LOG_ERROR));
	capture_begin();
	log_debug("hidden");
	log_info("hidden too");
	log_warn("shown");
	log_error("shown too");
	out = capture_end();
	assert_int_equal(count_lines(out), 2);
	assert_null(strstr(out, "hidden"));
	assert_non_null(strstr(out, "\"level\":\"warn\""));
	assert_non_null(strstr(out, "\"level\":\"error\""));
}

static void
test_text_format(void **state)
{
	const char *out, *p;

	(void)state;
	log_setup(LOG_INFO, 1);
	capture_begin();
	log_info("started", "socket", "/tmp/p.sock", "reason", "two words",
	    "n", LOG_NUM(3), "empty", "");
	out = capture_end();
	/* "ts info started socket=/tmp/p.sock reason="two words" n=3 ..." */
	p = strchr(out, ' ');
	assert_non_null(p);
	assert_string_equal(p, " info started socket=/tmp/p.sock "
	    "reason=\"two words\" n=3 empty=\"\"\n");
}

/* A value far longer than a line: cut, marked, still one valid object. */
static void
check_cut(const char *fill, size_t fill_len)
{
	size_t n = 10000 / fill_len, i;
	char *big = malloc(n * fill_len + 1);
	const char *out, *v;
	cJSON *j;

	for (i = 0; i < n; i++)
		memcpy(big + i * fill_len, fill, fill_len);
	big[n * fill_len] = '\0';
	log_setup(LOG_INFO, 0);
	capture_begin();
	log_info("long", "value", big, "after", "dropped");
	out = capture_end();
	assert_true(strlen(out) <= 4096);
	j = parse_line(out);
	v = cJSON_GetObjectItem(j, "value")->valuestring;
	assert_true(strlen(v) > 500);	/* 4 KiB of six-byte escapes */
	assert_true(strlen(v) < strlen(big));
	assert_string_equal(v + strlen(v) - 3, "...");
	/* Whole units only: the kept part is a prefix of the value. */
	assert_memory_equal(v, big, strlen(v) - 3);
	assert_true(utf8_valid(v));
	assert_null(cJSON_GetObjectItem(j, "after"));
	cJSON_Delete(j);
	free(big);
}

static void
test_long_values_are_cut_cleanly(void **state)
{
	(void)state;
	check_cut("x", 1);
	check_cut("\"", 1);		/* escapes: never half of "\\\"" */
	check_cut("\x02", 1);		/* six-byte escapes */
	check_cut("\xc3\xa9", 2);	/* never half a character */
	check_cut("\xe2\x82\xac", 3);
	check_cut("a\xf0\x9f\x98\x80", 5);
}

static void
test_ratelimit(void **state)
{
	const uint64_t s = 1000000000ULL;
	struct log_ratelimit a = { 0, 0 }, b = { 0, 0 };
	uint64_t suppressed = 99;
	int i;

	(void)state;
	/* The first line of a reason always goes out, even at time 0. */
	assert_true(log_ratelimit_allow(&a, 0, s, &suppressed));
	assert_int_equal(suppressed, 0);
	for (i = 0; i < 5; i++)
		assert_false(log_ratelimit_allow(&a, (uint64_t)i * s / 10, s,
		    &suppressed));
	/* Another reason has its own budget. */
	assert_true(log_ratelimit_allow(&b, s / 2, s, &suppressed));
	assert_int_equal(suppressed, 0);
	assert_false(log_ratelimit_allow(&a, s - 1, s, &suppressed));
	/* One period on: allowed, and told how many were held back. */
	assert_true(log_ratelimit_allow(&a, s, s, &suppressed));
	assert_int_equal(suppressed, 6);
	assert_false(log_ratelimit_allow(&a, s + 1, s, &suppressed));
	assert_true(log_ratelimit_allow(&a, 10 * s, s, &suppressed));
	assert_int_equal(suppressed, 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_fields),
		cmocka_unit_test(test_escaping_round_trips),
		cmocka_unit_test(test_number_mark_cannot_inject),
		cmocka_unit_test(test_levels),
		cmocka_unit_test(test_text_format),
		cmocka_unit_test(test_long_values_are_cut_cleanly),
		cmocka_unit_test(test_ratelimit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
