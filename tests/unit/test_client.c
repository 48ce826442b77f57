/* test_client.c - client.c: reading our /status, and the errors of a call
 * to an instance that is not there. */
#include "../../helper/client.c"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

static int status_parse(const char *json, char *phase, long long *ms)
{
	return client_status_parse(json, strlen(json), phase, 32, ms);
}

static void test_status_parse(void **state)
{
	char phase[32];
	long long ms;

	(void)state;
	assert_int_equal(status_parse("{\"phase\":\"propagate\",\"ready\":false,"
				      "\"ms_since_t0\":1234,\"inflight\":2}",
				      phase, &ms),
			 0);
	assert_string_equal(phase, "propagate");
	assert_int_equal(ms, 1234);
	assert_int_equal(status_parse("{\"phase\":\"serving\",\"ms_since_t0\":-1}", phase, &ms), 0);
	assert_int_equal(ms, -1);
	/* Not a status: nothing taken. */
	static const char *const bad[] = {
		"",
		"not found\n",
		"[]",
		"{}",
		"{\"phase\":3,\"ms_since_t0\":1}",
		"{\"phase\":\"drain\"}",
		"{\"phase\":\"drain\",\"ms_since_t0\":\"1\"}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		strcpy(phase, "x");
		assert_int_equal(status_parse(bad[i], phase, &ms), -EINVAL);
		assert_string_equal(phase, "");
		assert_int_equal(ms, -1);
	}
}

static void test_call_nobody(void **state)
{
	struct client_reply reply;
	char err[256], path[64];
	int fd;

	(void)state;
	/* No socket file. */
	assert_int_equal(client_call("/tmp/lastcall-test-client-none.sock", "GET", "/readyz", 1000,
				     &reply, err, sizeof(err)),
			 -ENOENT);
	assert_non_null(strstr(err, "No such file"));
	/* A socket file nobody listens on (a stale one). */
	snprintf(path, sizeof(path), "/tmp/lastcall-test-client-%d.sock", (int)getpid());
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	strcpy(sa.sun_path, path);
	unlink(path);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	assert_int_equal(client_call(path, "GET", "/readyz", 1000, &reply, err, sizeof(err)),
			 -ECONNREFUSED);
	assert_int_equal(reply.status, 0);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_status_parse),
		cmocka_unit_test(test_call_nobody),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
