/*
 * replay -- run a libFuzzer target without libFuzzer.
 *
 *     fuzz_protocol_replay [FILE ...]
 *
 * With files (a corpus, or a crash libFuzzer found), each is fed to the
 * target once. Without, a fixed number of inputs is generated from a fixed
 * seed and fed: protocol-shaped streams spliced from a dictionary of verbs,
 * ids, statuses, attributes and hostile bytes (NUL, invalid UTF-8, bare CR,
 * runs of spaces, very long words), and plain random bytes. The target
 * aborts on any broken invariant, so this is an ordinary test: it runs in
 * every ctest run, under AddressSanitizer in the sanitizer build, and is
 * reproducible because the generator is deterministic.
 *
 * Built with -DREPLAY_INTAKE, the dictionary is one of JSON fragments for
 * the download-metrics intake (fuzz_intake.c) instead.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REPLAY_INPUTS 20000
#define REPLAY_MAX 8192

#ifdef REPLAY_INTAKE
#define REPLAY_NAME "fuzz_intake"
static const char *const replay_dict[] = {
	"{", "}", "[", "]", ",", ":", "\"", "\\", "\\u0000", "\\ud800",
	"\"source\":", "\"type\":", "\"data\":", "\"url\":", "\"size\":",
	"\"version\":", "\"bytes_per_second\":", "\"error\":", "\"pget\"",
	"\"download\"", "\"runner\"", "-1", "0", "1e308", "-0", "1.5e-9",
	"null", "true", "false", "\"https://", "\"http://", "user:pass@",
	"[::1]", "[2001:db8::1]:443", "h.example", ":8080", ":99999999",
	"/path/to/model.bin", "?X-Amz-Signature=secret&a=b", "?token=hf_x",
	"#frag", "@", "%2F", " ", "\t", "\n", "\0", "\xc3\xa9", "\xff",
	"\xc3", "\xed\xa0\x80", "\xf0\x9f\x98\x80",
	"{\"source\":\"pget\",\"type\":\"download\",\"data\":{\"url\":",
};
#else
#define REPLAY_NAME "fuzz_protocol"
static const char *const replay_dict[] = {
	"hello 1", "hello 1 ack", "hello 2", "ping", "PING", "state",
	"setup start", "setup log ", "setup done ready", "setup done failed",
	"setup done succeeded", "setup done maybe", "enqueue ", "start ",
	"stop ", "Start ", "STOP ", "pred-1", "pred-2", "p", " succeeded",
	" failed", " canceled", " aborted", " bogus", " model=llama",
	" tenant=acme", " input_tokens=12", " output_tokens=-1", " ttft_ms=x",
	" traceparent=00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
	" K=v", " a=", " =b", " a=b=c", "\n", "\r\n", "\r", "  ", "\t", "\0",
	"\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\xc3", "\xe2\x82",
	"\xff", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80",
};
#endif

static uint64_t replay_rng = 0x9e3779b97f4a7c15ULL;

static uint32_t
replay_next(void)
{
	/* xorshift64*: fast, and the same sequence on every machine. */
	replay_rng ^= replay_rng >> 12;
	replay_rng ^= replay_rng << 25;
	replay_rng ^= replay_rng >> 27;
	return (uint32_t)((replay_rng * 0x2545f4914f6cdd1dULL) >> 32);
}

static size_t
replay_append(uint8_t *buf, size_t len, const void *p, size_t n)
{
	if (n > REPLAY_MAX - len)
		n = REPLAY_MAX - len;
	memcpy(buf + len, p, n);
	return len + n;
}

/* A stream of dictionary words, sometimes with a long run or junk byte. */
static size_t
replay_shaped(uint8_t *buf)
{
	const size_t ndict = sizeof replay_dict / sizeof replay_dict[0];
	size_t len = 0, words = 1 + replay_next() % 200, i, n;
	const char *w;
	uint8_t b;

	for (i = 0; i < words && len < REPLAY_MAX; i++) {
		switch (replay_next() % 16) {
		case 0:
			/* A run longer than small max_line values. */
			n = replay_next() % 1500;
			while (n-- > 0 && len < REPLAY_MAX)
				buf[len++] = 'x';
			break;
		case 1:
			b = (uint8_t)replay_next();
			len = replay_append(buf, len, &b, 1);
			break;
		default:
			w = replay_dict[replay_next() % ndict];
			/* "\0" is the one word whose length strlen misses. */
			n = *w == '\0' ? 1 : strlen(w);
			len = replay_append(buf, len, w, n);
		}
	}
	return len;
}

static size_t
replay_random(uint8_t *buf)
{
	size_t len = replay_next() % 1024, i;

	for (i = 0; i < len; i++)
		buf[i] = (uint8_t)replay_next();
	return len;
}

static int
replay_file(const char *path)
{
	static uint8_t buf[1 << 20];
	size_t n;
	FILE *f;

	if ((f = fopen(path, "rb")) == NULL) {
		perror(path);
		return -1;
	}
	n = fread(buf, 1, sizeof buf, f);
	fclose(f);
	LLVMFuzzerTestOneInput(buf, n);
	return 0;
}

int
main(int argc, char **argv)
{
	static uint8_t buf[REPLAY_MAX + 2];
	size_t len;
	int i;

	if (argc > 1) {
		for (i = 1; i < argc; i++)
			if (replay_file(argv[i]) != 0)
				return 1;
		printf("replayed %d file(s)\n", argc - 1);
		return 0;
	}
	for (i = 0; i < REPLAY_INPUTS; i++) {
		/* Two leading bytes choose max_line and the chunking. */
		buf[0] = (uint8_t)replay_next();
		buf[1] = (uint8_t)replay_next();
		len = i % 4 == 3 ? replay_random(buf + 2) : replay_shaped(buf + 2);
		LLVMFuzzerTestOneInput(buf, len + 2);
	}
	printf("%s: %d generated inputs, every invariant held\n", REPLAY_NAME,
	    REPLAY_INPUTS);
	return 0;
}
