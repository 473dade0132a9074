/*
 * fuzz_intake -- libFuzzer target for the download-metrics intake and the
 * URL normaliser.
 *
 * The input is fed to intake_parse() as a request body, and (as a C
 * string) to urlnorm(). Checked: nothing crashes or reads out of bounds;
 * a refusal always says why; whatever may be logged or labelled is
 * printable ASCII, bounded, and holds no query, fragment or user-info
 * (no '?', '#' or '@' in a normalised URL, no '/' in a host); a URL that
 * cannot be normalised is shown as "invalid", never in part; source and
 * type labels hold no quote or backslash.
 *
 * Build: clang -fsanitize=fuzzer,address -Isrc -Iinclude
 *     tests/fuzz/fuzz_intake.c src/intake.c src/urlnorm.c src/protocol.c
 *     src/status.c src/xmalloc.c -lcjson
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "intake.h"
#include "urlnorm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_check(int ok)
{
	if (!ok)
		abort();
}

static void
fuzz_printable(const char *s, size_t max, const char *forbidden)
{
	size_t n = strnlen(s, max);

	fuzz_check(n < max);
	for (; *s != '\0'; s++) {
		fuzz_check((unsigned char)*s > 0x20 && (unsigned char)*s < 0x7f);
		fuzz_check(strchr(forbidden, *s) == NULL);
	}
}

static void
fuzz_norm(int rc, const char *url, const char *host)
{
	if (rc != 0) {
		fuzz_check(strcmp(url, "invalid") == 0);
		fuzz_check(strcmp(host, "invalid") == 0);
		return;
	}
	fuzz_printable(url, URLNORM_URL_MAX, "?#@");
	fuzz_printable(host, URLNORM_HOST_MAX, "?#@/[] \"\\");
	fuzz_check(strstr(url, "://") != NULL);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct intake_event ev;
	char why[128], url[URLNORM_URL_MAX], host[URLNORM_HOST_MAX], *s;
	int rc;

	memset(why, 0, sizeof why);
	rc = intake_parse((const char *)data, size, &ev, why, sizeof why);
	if (rc != 0)
		fuzz_check(why[0] != '\0' && strnlen(why, sizeof why) <
		    sizeof why);
	else {
		fuzz_printable(ev.source, INTAKE_NAME_MAX, "\"\\");
		fuzz_printable(ev.type, INTAKE_NAME_MAX, "\"\\");
		if (ev.download)
			fuzz_norm(strcmp(ev.url, "invalid") == 0 ? -1 : 0,
			    ev.url, ev.host);
	}
	s = malloc(size + 1);
	fuzz_check(s != NULL);
	memcpy(s, data, size);
	s[size] = '\0';
	rc = urlnorm(s, url, host);
	fuzz_norm(rc, url, host);
	free(s);
	return 0;
}
