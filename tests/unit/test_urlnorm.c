/*
 * test_urlnorm -- what may be logged and labelled of a download URL.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "urlnorm.h"

static void
expect(const char *in, int rc, const char *url, const char *host)
{
	char u[URLNORM_URL_MAX], h[URLNORM_HOST_MAX];
	int r;

	r = urlnorm(in, u, h);
	if (r != rc || strcmp(u, url) != 0 || strcmp(h, host) != 0)
		fail_msg("urlnorm(%s): expected %d %s %s, got %d %s %s",
		    in != NULL ? in : "NULL", rc, url, host, r, u, h);
}

static void
test_secrets_removed(void **state)
{
	expect("https://my-bucket.s3.us-east-1.amazonaws.com/weights/model.bin"
	    "?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAEXAMPLE"
	    "%2F20260101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20260101T"
	    "000000Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host"
	    "&X-Amz-Signature=deadbeefcafe", 0,
	    "https://my-bucket.s3.us-east-1.amazonaws.com/weights/model.bin",
	    "my-bucket.s3.us-east-1.amazonaws.com");
	expect("https://huggingface.co/org/model/resolve/main/model.safetensors"
	    "?token=hf_SECRETSECRET#frag", 0,
	    "https://huggingface.co/org/model/resolve/main/model.safetensors",
	    "huggingface.co");
	expect("https://user:hf_pass@HuggingFace.CO:443/a/b#x", 0,
	    "https://huggingface.co:443/a/b", "huggingface.co");
	expect("HTTP://a:b@c@Example.com/p", 0, "http://example.com/p",
	    "example.com");
}

static void
test_shapes(void **state)
{
	expect("http://[::1]:8080/x?y", 0, "http://[::1]:8080/x", "::1");
	expect("http://[2001:DB8::2]/", 0, "http://[2001:db8::2]/",
	    "2001:db8::2");
	expect("https://example.com", 0, "https://example.com/",
	    "example.com");
	expect("https://example.com?q=1", 0, "https://example.com/",
	    "example.com");
	expect("https://example.com#f", 0, "https://example.com/",
	    "example.com");
	expect("gs://bucket/obj", 0, "gs://bucket/obj", "bucket");
	expect("http://10.0.0.1:/p", 0, "http://10.0.0.1/p", "10.0.0.1");
}

static void
test_garbage(void **state)
{
	static const char *const bad[] = { "", "example.com/x", "://x/y",
		"http://", "http:///path", "http://user@/p", "http://[::1/x",
		"http://[::1]x/", "http://h:80a/", "http://h:1234567/",
		"http://h st/", "http://h/p\x01", "http://h\xc3\xa9/",
		"1http://h/", "http://h/\n", "http:/h/", NULL };
	size_t i;

	expect(NULL, -1, "invalid", "invalid");
	for (i = 0; bad[i] != NULL; i++)
		expect(bad[i], -1, "invalid", "invalid");
}

static void
test_long_path_cut(void **state)
{
	char in[4000], u[URLNORM_URL_MAX], h[URLNORM_HOST_MAX];

	memcpy(in, "https://h/", 10);
	memset(in + 10, 'a', sizeof in - 11);
	in[sizeof in - 1] = '\0';
	assert_int_equal(urlnorm(in, u, h), 0);
	assert_int_equal(strlen(u), URLNORM_URL_MAX - 1);
	assert_string_equal(u + strlen(u) - 3, "...");
	assert_string_equal(h, "h");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_secrets_removed),
		cmocka_unit_test(test_shapes),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_long_path_cut),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
