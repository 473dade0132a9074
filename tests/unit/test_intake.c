/*
 * test_intake -- download-metrics envelopes: pget's shapes, errors that
 * name the field, unknown types accepted, secrets never passed on.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "intake.h"

static int
parse(const char *body, struct intake_event *ev, char *why)
{
	return intake_parse(body, strlen(body), ev, why, 256);
}

static void
expect_bad(const char *body, const char *want)
{
	struct intake_event ev;
	char why[256] = "";

	if (parse(body, &ev, why) != -1)
		fail_msg("accepted: %s", body);
	if (strcmp(why, want) != 0)
		fail_msg("%s: expected reason \"%s\", got \"%s\"", body, want,
		    why);
}

static void
test_pget_download(void **state)
{
	struct intake_event ev;
	char why[256];

	assert_int_equal(parse("{\"source\":\"pget\",\"type\":\"download\","
	    "\"data\":{\"url\":\"https://u:p@h.example/m.bin?X-Amz-Signature="
	    "s3cr3t\",\"size\":1048576,\"version\":\"0.8.2\","
	    "\"bytes_per_second\":5.5e8}}", &ev, why), 0);
	assert_string_equal(ev.source, "pget");
	assert_string_equal(ev.type, "download");
	assert_true(ev.download);
	assert_string_equal(ev.url, "https://h.example/m.bin");
	assert_string_equal(ev.host, "h.example");
	assert_true(ev.size == 1048576);
	assert_true(ev.bytes_per_second == 5.5e8);
	assert_false(ev.failed);

	assert_int_equal(parse("{\"source\":\"pget\",\"type\":\"download\","
	    "\"data\":{\"url\":\"https://h/x\",\"size\":-1,\"error\":"
	    "\"403 Forbidden\"}}", &ev, why), 0);
	assert_true(ev.failed);
	assert_true(ev.size == -1);
	assert_int_equal(parse("{\"type\":\"download\",\"data\":{\"url\":"
	    "\"garbage\"}}", &ev, why), 0);
	assert_string_equal(ev.host, "invalid");
	assert_string_equal(ev.source, "");
	assert_false(ev.failed);
}

static void
test_unknown_accepted(void **state)
{
	struct intake_event ev;
	char why[256];

	assert_int_equal(parse("{\"source\":\"cog-runtime\",\"type\":"
	    "\"runner\",\"data\":{\"anything\":[1,2]}}", &ev, why), 0);
	assert_false(ev.download);
	assert_string_equal(ev.source, "cog-runtime");
	assert_string_equal(ev.type, "runner");
	assert_int_equal(parse("{\"type\":\"x y\\n\"}", &ev, why), 0);
	assert_string_equal(ev.type, "invalid");
}

static void
test_invalid(void **state)
{
	expect_bad("", "invalid JSON");
	expect_bad("{\"type\":", "invalid JSON");
	expect_bad("[1]", "body must be a JSON object");
	expect_bad("{\"source\":\"pget\"}", "missing field: type");
	expect_bad("{\"type\":7}", "type must be a string");
	expect_bad("{\"type\":\"x\",\"source\":[]}", "source must be a string");
	expect_bad("{\"type\":\"download\"}", "data must be an object");
	expect_bad("{\"type\":\"download\",\"data\":{}}",
	    "missing field: data.url");
	expect_bad("{\"type\":\"download\",\"data\":{\"url\":1}}",
	    "data.url must be a string");
	expect_bad("{\"type\":\"download\",\"data\":{\"url\":\"http://h/\","
	    "\"size\":\"12\"}}", "data.size must be a number");
	expect_bad("{\"type\":\"download\",\"data\":{\"url\":\"http://h/\","
	    "\"bytes_per_second\":true}}",
	    "data.bytes_per_second must be a number");
	expect_bad("{\"type\":\"download\",\"data\":{\"url\":\"http://h/\","
	    "\"error\":{}}}", "data.error must be a string");
	expect_bad("{\"type\":\"\xff\xfe\"}", "body is not valid UTF-8");
}

static void
test_nul_in_body(void **state)
{
	struct intake_event ev;
	char why[256];
	static const char body[] = "{\"type\":\"x\"}\0junk";

	assert_int_equal(intake_parse(body, sizeof body - 1, &ev, why,
	    sizeof why), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pget_download),
		cmocka_unit_test(test_unknown_accepted),
		cmocka_unit_test(test_invalid),
		cmocka_unit_test(test_nul_in_body),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
