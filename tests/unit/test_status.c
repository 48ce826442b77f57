/* test_status.c - status.c: wait statuses to shell exit codes, FROM:TO maps. */
#include "../../helper/status.c"

#include <signal.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

/* glibc's constructors of wait statuses; musl (the aarch64 unit tests) has
 * none. The layout is the kernel's: the code in bits 8..15, the signal in
 * 0..6; a stopped child has 0x7f there. */
#ifndef W_EXITCODE
#define W_EXITCODE(ret, sig) ((ret) << 8 | (sig))
#endif
#ifndef W_STOPCODE
#define W_STOPCODE(sig) ((sig) << 8 | 0x7f)
#endif

/* The wait status of a child that exits with code. */
static int wait_exit(int code)
{
	int st = -1;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0)
		_exit(code);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	return st;
}

/* The wait status of a child that raises sig against itself. */
static int wait_raise(int sig)
{
	int st = -1;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		signal(sig, SIG_DFL);
		raise(sig);
		_exit(99);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	return st;
}

static void test_from_wait_exit(void **state)
{
	static const int codes[] = { 0, 1, 42, 126, 127, 255 };

	(void)state;
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		int st = wait_exit(codes[i]);
		assert_true(WIFEXITED(st));
		assert_int_equal(status_from_wait(st), codes[i]);
	}
	/* _exit keeps the low byte only. */
	assert_int_equal(status_from_wait(wait_exit(256 + 3)), 3);
}

static void test_from_wait_signal(void **state)
{
	(void)state;
	assert_int_equal(status_from_wait(wait_raise(SIGTERM)), 143);
	assert_int_equal(status_from_wait(wait_raise(SIGKILL)), 137);
	assert_int_equal(status_from_wait(wait_raise(SIGUSR1)), 128 + SIGUSR1);
	assert_int_equal(status_from_wait(wait_raise(SIGINT)), 130);
}

static void test_from_wait_killed_by_parent(void **state)
{
	int st = -1, p[2];
	char c;
	pid_t pid;

	(void)state;
	assert_int_equal(pipe(p), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(p[1]);
		while (read(p[0], &c, 1) < 0)
			;
		_exit(0);
	}
	close(p[0]);
	assert_int_equal(kill(pid, SIGTERM), 0);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	close(p[1]);
	assert_true(WIFSIGNALED(st));
	assert_int_equal(status_from_wait(st), 143);
}

static void test_from_wait_stopped(void **state)
{
	int st = -1;
	pid_t pid;

	(void)state;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		raise(SIGSTOP);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &st, WUNTRACED), pid);
	assert_true(WIFSTOPPED(st));
	/* Neither exited nor killed: lastcall's own failure code. */
	assert_int_equal(status_from_wait(st), STATUS_LASTCALL_FAILED);
	assert_int_equal(kill(pid, SIGKILL), 0);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_int_equal(status_from_wait(st), 137);
}

static void test_from_wait_constructed(void **state)
{
	(void)state;
	assert_int_equal(status_from_wait(W_EXITCODE(0, 0)), 0);
	assert_int_equal(status_from_wait(W_EXITCODE(42, 0)), 42);
	assert_int_equal(status_from_wait(W_EXITCODE(255, 0)), 255);
	assert_int_equal(status_from_wait(W_EXITCODE(0, SIGTERM)), 143);
	assert_int_equal(status_from_wait(W_EXITCODE(0, SIGKILL)), 137);
	/* The core dump flag does not change the code. */
	assert_int_equal(status_from_wait(W_EXITCODE(0, SIGSEGV) | 0x80), 139);
	/* Real-time signals: 128 + 64 still fits a byte. */
	assert_int_equal(status_from_wait(W_EXITCODE(0, 64)), 192);
	assert_int_equal(status_from_wait(W_STOPCODE(SIGTSTP)), STATUS_LASTCALL_FAILED);
	assert_int_equal(status_from_wait(0xffff), STATUS_LASTCALL_FAILED); /* continued */
}

static void test_map_init_identity(void **state)
{
	struct status_map m;

	(void)state;
	memset(&m, 0xaa, sizeof(m));
	status_map_init(&m);
	for (int i = 0; i < 256; i++)
		assert_int_equal(status_map_apply(&m, i), i);
	/* Codes are taken modulo 256. */
	assert_int_equal(status_map_apply(&m, 256 + 7), 7);
	assert_int_equal(status_map_apply(&m, -1), 255);
}

static void test_map_add_good(void **state)
{
	struct status_map m;
	char err[128] = "";

	(void)state;
	status_map_init(&m);
	assert_int_equal(status_map_add(&m, "143:0", err, sizeof(err)), 0);
	assert_int_equal(status_map_add(&m, "0:1", err, sizeof(err)), 0);
	assert_int_equal(status_map_add(&m, "255:254", err, sizeof(err)), 0);
	assert_int_equal(status_map_add(&m, "007:3", err, sizeof(err)), 0);
	assert_string_equal(err, "");

	assert_int_equal(status_map_apply(&m, 143), 0);
	assert_int_equal(status_map_apply(&m, 0), 1);
	assert_int_equal(status_map_apply(&m, 255), 254);
	assert_int_equal(status_map_apply(&m, 7), 3);
	/* A map is applied once, not chained: 1 stays 1. */
	assert_int_equal(status_map_apply(&m, 1), 1);
	assert_int_equal(status_map_apply(&m, 137), 137);
	assert_int_equal(status_map_apply(&m, 256 + 143), 0);

	/* The last entry for a code wins. */
	assert_int_equal(status_map_add(&m, "143:2", err, sizeof(err)), 0);
	assert_int_equal(status_map_apply(&m, 143), 2);
}

static void test_map_add_bad(void **state)
{
	static const char *const bad[] = {
		"",
		"143",
		"256:0",
		"1:256",
		"a:b",
		"1:2:3",
		"-1:0",
		":0",
		"1:",
		" 1:0",
		"1: 0",
		"1:0 ",
		"+1:0",
		"1:+0",
		"0x1:0",
		"1;0",
		"1:0x",
		"99999999999999999999:0",
		"1:99999999999999999999",
	};
	struct status_map m, fresh;

	(void)state;
	status_map_init(&m);
	status_map_init(&fresh);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char err[256] = "";
		char quoted[64];

		assert_int_equal(status_map_add(&m, bad[i], err, sizeof(err)), -EINVAL);
		snprintf(quoted, sizeof(quoted), "\"%s\"", bad[i]);
		assert_non_null(strstr(err, quoted));
		assert_non_null(strstr(err, "FROM:TO"));
	}
	/* Nothing was recorded. */
	assert_memory_equal(&m, &fresh, sizeof(m));
}

static void test_map_err_truncated(void **state)
{
	struct status_map m;
	char err[9];

	(void)state;
	status_map_init(&m);
	memset(err, 'x', sizeof(err));
	assert_int_equal(status_map_add(&m, "bad", err, sizeof(err)), -EINVAL);
	assert_int_equal(strlen(err), sizeof(err) - 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_from_wait_exit),
		cmocka_unit_test(test_from_wait_signal),
		cmocka_unit_test(test_from_wait_killed_by_parent),
		cmocka_unit_test(test_from_wait_stopped),
		cmocka_unit_test(test_from_wait_constructed),
		cmocka_unit_test(test_map_init_identity),
		cmocka_unit_test(test_map_add_good),
		cmocka_unit_test(test_map_add_bad),
		cmocka_unit_test(test_map_err_truncated),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
