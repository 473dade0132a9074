/*
 * test_spool -- the spool on a real temporary directory: order across a
 * reopen, counters that continue, corrupt and truncated files moved aside,
 * leftovers of interrupted writes removed, an unusable directory refused.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "spool.h"
#include "xmalloc.h"

struct loaded {
	int n;
	int kinds[16];
	char keys[16][64];
	char bodies[16][64];
	char *paths[16];
};

static void
load_cb(void *arg, enum reporter_kind kind, const char *key, char *body,
    size_t len, char *path)
{
	struct loaded *l = arg;

	assert_true(l->n < 16);
	assert_int_equal(strlen(body), len);
	l->kinds[l->n] = kind;
	snprintf(l->keys[l->n], sizeof l->keys[0], "%s", key);
	snprintf(l->bodies[l->n], sizeof l->bodies[0], "%s", body);
	l->paths[l->n] = path;
	l->n++;
	free(body);
}

static void
loaded_free(struct loaded *l)
{
	int i;

	for (i = 0; i < l->n; i++)
		free(l->paths[i]);
}

static char *
tmpdir(void)
{
	char tmpl[] = "/tmp/test_spool.XXXXXX";

	assert_non_null(mkdtemp(tmpl));
	return xstrdup(tmpl);
}

static void
rmtree(const char *dir)
{
	char *cmd;

	xasprintf(&cmd, "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
	free(cmd);
}

static void
write_raw(const char *dir, const char *name, const char *text)
{
	char *path;
	FILE *f;

	xasprintf(&path, "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	free(path);
}

static void
test_order_survives_reopen(void **state)
{
	struct spool s;
	struct loaded l = { 0 };
	char *base = tmpdir(), *dir, *path, err[256];

	/* A missing directory is created, parents too. */
	xasprintf(&dir, "%s/var/spool", base);
	assert_int_equal(spool_open(&s, dir, err, sizeof err), 0);
	assert_int_equal(spool_write(&s, REPORTER_INSTANCE_STATE, "i:is:0",
	    "{\"sequence\":0}", 14, &path), 0);
	free(path);
	assert_int_equal(spool_write(&s, REPORTER_SETUP_RUN, "i:sr:0",
	    "{\"s\":1}", 7, &path), 0);
	free(path);
	assert_int_equal(spool_write(&s, REPORTER_INSTANCE_STATE, "i:is:1",
	    "{\"sequence\":1}", 14, &path), 0);
	spool_remove(path);	/* delivered */
	free(path);
	spool_close(&s);

	assert_int_equal(spool_open(&s, dir, err, sizeof err), 0);
	assert_int_equal(spool_load(&s, load_cb, &l), 2);
	assert_int_equal(l.n, 2);
	assert_int_equal(l.kinds[0], REPORTER_INSTANCE_STATE);
	assert_string_equal(l.keys[0], "i:is:0");
	assert_string_equal(l.bodies[0], "{\"sequence\":0}");
	assert_int_equal(l.kinds[1], REPORTER_SETUP_RUN);
	assert_string_equal(l.bodies[1], "{\"s\":1}");
	/* New files sort after every loaded one, even a removed one. */
	assert_int_equal(spool_write(&s, REPORTER_INSTANCE_STATE, "i:is:2",
	    "{}", 2, &path), 0);
	assert_true(strcmp(strrchr(path, '/'), strrchr(l.paths[1], '/')) > 0);
	free(path);
	loaded_free(&l);
	spool_close(&s);
	free(dir);
	rmtree(base);
	free(base);
}

static void
test_corrupt_files_move_aside(void **state)
{
	static const char *const bad[] = {
		"garbage\n",
		"podpulse-spool 1 instance_state 100 k\n{\"short\":1}",
		"podpulse-spool 1 nonsense 2 k\n{}",
		"podpulse-spool 1 setup_run 5 k\n{nope",
		"podpulse-spool 1 setup_run 2",
		"",
	};
	struct spool s;
	struct loaded l = { 0 };
	char *dir = tmpdir(), name[64], *path, err[256];
	struct stat st;
	size_t i;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		snprintf(name, sizeof name, "%016zu.report", i + 1);
		write_raw(dir, name, bad[i]);
	}
	write_raw(dir, "0000000000000099.report",
	    "podpulse-spool 1 setup_run 2 good:key\n{}");
	write_raw(dir, ".tmp-0000000000000100", "half a wri");
	write_raw(dir, "README", "not a report");
	assert_int_equal(spool_open(&s, dir, err, sizeof err), 0);
	assert_int_equal(spool_load(&s, load_cb, &l), 1);
	assert_string_equal(l.keys[0], "good:key");
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		xasprintf(&path, "%s/corrupt/%016zu.report", dir, i + 1);
		if (stat(path, &st) != 0)
			fail_msg("%s was not moved aside", path);
		free(path);
	}
	xasprintf(&path, "%s/.tmp-0000000000000100", dir);
	assert_int_not_equal(stat(path, &st), 0);
	free(path);
	xasprintf(&path, "%s/README", dir);
	assert_int_equal(stat(path, &st), 0);
	free(path);
	loaded_free(&l);
	spool_close(&s);
	rmtree(dir);
	free(dir);
}

static void
test_unusable_dir_is_refused(void **state)
{
	struct spool s;
	char *dir = tmpdir(), *file, err[256] = "";

	write_raw(dir, "file", "x");
	xasprintf(&file, "%s/file/sub", dir);
	assert_int_not_equal(spool_open(&s, file, err, sizeof err), 0);
	assert_non_null(strstr(err, "cannot use spool directory"));
	free(file);
	rmtree(dir);
	free(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_order_survives_reopen),
		cmocka_unit_test(test_corrupt_files_move_aside),
		cmocka_unit_test(test_unusable_dir_is_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
