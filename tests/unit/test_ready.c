/* test_ready.c - ready.c: readiness as a function of the drain phase, the
 * app and its process; the ready file written only on a change and removed
 * at start unless a hook finds it; a symlink or a FIFO in its place is
 * left alone. */
#include "../../helper/ready.c"

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

static void test_ready_is(void **state)
{
	(void)state;
	assert_true(ready_is(DRAIN_SERVING, true, true));
	/* Not before the app is ready, nor without its process. */
	assert_false(ready_is(DRAIN_SERVING, false, true));
	assert_false(ready_is(DRAIN_SERVING, true, false));
	/* Never from T0 on, whatever the app says. */
	for (int p = DRAIN_UNREADY; p < DRAIN_PHASES; p++)
		assert_false(ready_is((enum drain_phase)p, true, true));
}

static void test_ready_app(void **state)
{
	(void)state;
	/* Its own URL decides when it has one, listening or not. */
	assert_true(ready_app(true, true, 0));
	assert_false(ready_app(true, false, 2));
	/* Else: once it listens on a serving port. */
	assert_false(ready_app(false, true, 0));
	assert_true(ready_app(false, false, 1));
}

static bool exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

static void test_file(void **state)
{
	char dir[] = "/tmp/lastcall-ready-XXXXXX", path[256];
	struct ready r;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/ready", dir);
	/* A file left by the last run goes at start. */
	f = fopen(path, "w");
	assert_non_null(f);
	fclose(f);
	ready_init(&r, path, false);
	assert_false(exists(path));
	ready_set(&r, true);
	assert_true(exists(path));
	/* Only on a change: removed by someone else, not written again. */
	unlink(path);
	ready_set(&r, true);
	assert_false(exists(path));
	ready_set(&r, false);
	ready_set(&r, true);
	assert_true(exists(path));

	/* A hook finds it and removes it at T0. */
	ready_init(&r, path, true);
	assert_true(exists(path));
	ready_set(&r, false);
	assert_false(exists(path));

	/* A directory that cannot take it: logged, still not ready. */
	ready_init(&r, "/proc/lastcall-no/ready", false);
	ready_set(&r, true);
	assert_false(r.file_on);
	/* No file at all: nothing happens. */
	ready_init(&r, NULL, false);
	ready_set(&r, true);
	assert_false(r.file_on);
	rmdir(dir);
}

/* Writes text to path (created or truncated). */
static void put(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

/* Whether path holds exactly text. */
static bool holds(const char *path, const char *text)
{
	char buf[256];
	size_t n;
	FILE *f = fopen(path, "r");

	if (!f)
		return false;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return strcmp(buf, text) == 0;
}

static void test_file_symlink_not_followed(void **state)
{
	char dir[] = "/tmp/lastcall-ready-XXXXXX", path[256], victim[256], fifo[256];
	struct ready r;
	struct stat st;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/ready", dir);
	snprintf(victim, sizeof(victim), "%s/victim", dir);
	snprintf(fifo, sizeof(fifo), "%s/fifo", dir);
	put(victim, "precious\n");

	/* The app puts a symlink where the file goes, after our start. */
	ready_init(&r, path, false);
	assert_int_equal(symlink(victim, path), 0);
	ready_set(&r, true);
	assert_true(holds(victim, "precious\n"));
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	assert_false(r.file_on);
	/* Tried again on the next pass, still refused. */
	ready_set(&r, true);
	assert_true(holds(victim, "precious\n"));
	assert_false(r.file_on);
	/* Once the symlink is gone, the file is made as usual. */
	assert_int_equal(unlink(path), 0);
	ready_set(&r, true);
	assert_true(r.file_on);
	assert_true(holds(path, "ready\n"));
	ready_set(&r, false);
	assert_int_equal(lstat(path, &st), -1);

	/* A FIFO without a reader: refused at once, never waited on (the
	 * alarm ends the test if open blocks). */
	assert_int_equal(mkfifo(fifo, 0600), 0);
	ready_init(&r, fifo, true);
	r.file_on = false;
	alarm(5);
	ready_set(&r, true);
	alarm(0);
	assert_false(r.file_on);

	unlink(fifo);
	unlink(victim);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ready_is),
		cmocka_unit_test(test_ready_app),
		cmocka_unit_test(test_file),
		cmocka_unit_test(test_file_symlink_not_followed),
	};

	log_setup(LOG_ERROR, LOG_FMT_LOGFMT, 2);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
