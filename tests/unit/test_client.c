/* test_client.c - client.c: reading our /status, the errors of a call to
 * an instance that is not there or cannot be reached, and the abstract
 * socket of an instance on a read-only root filesystem; the status read
 * with every allocation failing in turn (failalloc.h). */
#include "../../helper/client.c"

#include <grp.h>
#include <signal.h>
#include <sched.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "failalloc.h"

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
		/* Numbers no long long holds (found by fuzz_client: the cast
		 * was undefined). */
		"{\"phase\":\"drain\",\"ms_since_t0\":1e300}",
		"{\"phase\":\"drain\",\"ms_since_t0\":-9223372036854775807.0E3}",
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

static void test_abstract_name(void **state)
{
	struct stat st;
	char name[64], want[64], tiny[12];

	(void)state;
	assert_int_equal(stat("/proc/self/ns/mnt", &st), 0);
	snprintf(want, sizeof(want), "lastcall-%llu", (unsigned long long)st.st_ino);
	assert_int_equal(client_abstract_name(name, sizeof(name)), 0);
	assert_string_equal(name, want);
	assert_int_equal(client_abstract_name(tiny, sizeof(tiny)), -ENAMETOOLONG);
}

/* Answers one request on listening socket lfd with 200 "ok", in a child. */
static pid_t serve_one(int lfd)
{
	static const char answer[] =
		"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n"
		"Connection: close\r\n\r\nok\n";
	pid_t pid = fork();

	if (pid == 0) {
		char buf[1024];
		size_t got = 0;
		int c = accept(lfd, NULL, NULL);
		ssize_t n;

		while (c >= 0 && got < sizeof(buf) - 1 &&
		       (n = read(c, buf + got, sizeof(buf) - 1 - got)) > 0) {
			got += (size_t)n;
			buf[got] = '\0';
			if (strstr(buf, "\r\n\r\n"))
				break;
		}
		if (c >= 0 && write(c, answer, sizeof(answer) - 1) < 0)
			_exit(1);
		_exit(0);
	}
	return pid;
}

/* Nothing at the path: the abstract name of our mount namespace is tried,
 * where an instance that could not bind its path listens. */
static void test_call_abstract(void **state)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct client_reply reply;
	char name[64], err[256];
	int lfd, status, r;
	pid_t pid;

	(void)state;
	/* A mount namespace of our own: the name is ours alone. */
	if (unshare(CLONE_NEWNS) < 0)
		skip();
	assert_int_equal(client_abstract_name(name, sizeof(name)), 0);
	memcpy(sa.sun_path + 1, name, strlen(name));
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(lfd >= 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa,
			      (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 +
					  strlen(name))),
			 0);
	assert_int_equal(listen(lfd, 4), 0);
	pid = serve_one(lfd);
	assert_true(pid > 0);
	r = client_call("/nonexistent-lastcall/x.sock", "GET", "/readyz", 5000, &reply, err,
			sizeof(err));
	if (r != 0)
		kill(pid, SIGKILL); /* it would wait for us forever */
	assert_int_equal(waitpid(pid, &status, 0), pid);
	close(lfd);
	assert_int_equal(r, 0);
	assert_int_equal(reply.status, 200);
	assert_string_equal(reply.body, "ok\n");
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	/* Nobody there either: the path's own error. */
	assert_int_equal(client_call("/nonexistent-lastcall/x.sock", "GET", "/readyz", 1000, &reply,
				     err, sizeof(err)),
			 -ENOENT);
	assert_non_null(strstr(err, "/nonexistent-lastcall/x.sock: No such file"));
}

/* A socket there that we may not connect to is not "no instance": the
 * hook would drain standalone beside a live one. As another user. */
static void test_call_denied(void **state)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char path[64];
	int lfd, status;
	mode_t old;
	pid_t pid;

	(void)state;
	if (geteuid() != 0)
		skip();
	snprintf(path, sizeof(path), "/tmp/lastcall-test-client-deny-%d.sock", (int)getpid());
	unlink(path);
	strcpy(sa.sun_path, path);
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(lfd >= 0);
	old = umask(0177);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	umask(old);
	assert_int_equal(listen(lfd, 4), 0);
	pid = fork();
	if (pid == 0) {
		struct client_reply reply;
		char err[256];
		int r;

		if (setgroups(0, NULL) < 0 || setresgid(65534, 65534, 65534) < 0 ||
		    setresuid(65534, 65534, 65534) < 0)
			_exit(2);
		r = client_call(path, "GET", "/readyz", 1000, &reply, err, sizeof(err));
		_exit(r == -EACCES && strstr(err, "Permission denied") ? 0 : 1);
	}
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	close(lfd);
	unlink(path);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* A status that could not be read is none: `lastcall probe` says not
 * ready with a reason rather than a phase it did not see. */
static void status_round(long n, void *data)
{
	const char body[] = "{\"phase\":\"drain\",\"ready\":false,\"ms_since_t0\":42}";
	char phase[32];
	long long ms;
	int r = client_status_parse(body, strlen(body), phase, sizeof(phase), &ms);

	(void)n;
	(void)data;
	if (failalloc.failed) {
		assert_int_equal(r, -EINVAL);
		assert_string_equal(phase, "");
		assert_int_equal(ms, -1);
	} else {
		assert_int_equal(r, 0);
		assert_string_equal(phase, "drain");
		assert_int_equal(ms, 42);
	}
}

static void test_status_alloc_fails(void **state)
{
	(void)state;
	if (failalloc_off())
		return;
	failalloc_cjson();
	assert_true(failalloc_each(status_round, NULL) >= 5);
	cJSON_InitHooks(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_status_parse), cmocka_unit_test(test_status_alloc_fails),
		cmocka_unit_test(test_call_nobody),  cmocka_unit_test(test_abstract_name),
		cmocka_unit_test(test_call_denied),  cmocka_unit_test(test_call_abstract),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
