/* test_app.c - app.c: the {"inflight": N} answer, good and bad, and with
 * every allocation failing in turn (failalloc.h). */
#include "../../helper/app.c"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "failalloc.h"

static int parse(const char *body, int *n)
{
	char err[256] = "";

	*n = -7;
	return app_inflight_parse(body, strlen(body), n, err, sizeof(err));
}

static void test_inflight_good(void **state)
{
	int n;

	(void)state;
	assert_int_equal(parse("{\"inflight\":0}", &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(parse(" {\n \"inflight\" : 12 , \"queued\": 3 }\n", &n), 0);
	assert_int_equal(n, 12);
	assert_int_equal(parse("{\"other\":{\"inflight\":9},\"inflight\":4}", &n), 0);
	assert_int_equal(n, 4);
	assert_int_equal(parse("{\"inflight\":2147483647}", &n), 0);
	assert_int_equal(n, 2147483647);
	assert_int_equal(parse("{\"inflight\":3.0}", &n), 0);
	assert_int_equal(n, 3);
}

static void test_inflight_bad(void **state)
{
	static const char *const bad[] = {
		"",
		" ",
		"null",
		"[]",
		"[{\"inflight\":1}]",
		"3",
		"\"3\"",
		"{}",
		"{\"inflight\":\"3\"}",
		"{\"inflight\":null}",
		"{\"inflight\":true}",
		"{\"inflight\":-1}",
		"{\"inflight\":1.5}",
		"{\"inflight\":1e12}",
		"{\"inflight\":2147483648}",
		"{\"Inflight\":1}",
		"{\"inflight\":",
		"{\"inflight\":1",
		"<html>busy</html>",
	};
	char err[256];
	int n;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		n = -7;
		assert_int_equal(app_inflight_parse(bad[i], strlen(bad[i]), &n, err, sizeof(err)),
				 -EINVAL);
		assert_int_equal(n, -7); /* untouched on failure */
		assert_true(strlen(err) > 0);
		assert_null(strchr(err, '\n'));
	}
}

static void test_inflight_explicit_length(void **state)
{
	const char body[] = "{\"inflight\":5}{\"inflight\":6";
	char err[256];
	int n = -1;

	(void)state;
	/* Only len bytes count: what follows is not read. */
	assert_int_equal(app_inflight_parse(body, 14, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 5);
	/* Cut inside: an error, not a read past len. */
	assert_int_equal(app_inflight_parse(body, 10, &n, err, sizeof(err)), -EINVAL);
}

static void test_err_names_the_shape(void **state)
{
	char err[256];
	int n;

	(void)state;
	app_inflight_parse("{}", 2, &n, err, sizeof(err));
	assert_non_null(strstr(err, "{\"inflight\": N}"));
	app_inflight_parse("{\"inflight\":-2}", 15, &n, err, sizeof(err));
	assert_non_null(strstr(err, "whole number"));
}

/* An answer that could not be read is an error, never a count: 0 taken
 * for "nothing in flight" would end the drain early. */
static void inflight_round(long n, void *data)
{
	const char body[] = "{\"other\":[1,2,{\"x\":\"y\"}],\"inflight\":7}";
	char err[256] = "";
	int got = -7, r = app_inflight_parse(body, strlen(body), &got, err, sizeof(err));

	(void)n;
	(void)data;
	if (failalloc.failed) {
		assert_int_equal(r, -EINVAL);
		assert_int_equal(got, -7);
		assert_true(strlen(err) > 0);
	} else {
		assert_int_equal(r, 0);
		assert_int_equal(got, 7);
	}
}

static void test_inflight_alloc_fails(void **state)
{
	(void)state;
	if (failalloc_off())
		return;
	failalloc_cjson();
	assert_true(failalloc_each(inflight_round, NULL) >= 6);
	cJSON_InitHooks(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_inflight_good),
		cmocka_unit_test(test_inflight_bad),
		cmocka_unit_test(test_inflight_explicit_length),
		cmocka_unit_test(test_err_names_the_shape),
		cmocka_unit_test(test_inflight_alloc_fails),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
