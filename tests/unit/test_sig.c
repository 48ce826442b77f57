/* test_sig.c - sig.c: signal names, the forwarding policy, the rewrite table. */
#include "../../helper/sig.c"

#include <pthread.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

/* sig_parse that must succeed. */
static int parse_ok(const char *s, int allow_zero)
{
	int sig = -7;

	assert_int_equal(sig_parse(s, allow_zero, &sig), 0);
	return sig;
}

/* sig_parse that must fail and leave the result alone. */
static void parse_bad(const char *s, int allow_zero)
{
	int sig = -7;

	if (sig_parse(s, allow_zero, &sig) != -EINVAL)
		fail_msg("sig_parse(\"%s\", %d) accepted: %d", s, allow_zero, sig);
	assert_int_equal(sig, -7);
}

static void test_parse_names(void **state)
{
	(void)state;
	assert_int_equal(parse_ok("TERM", 0), SIGTERM);
	assert_int_equal(parse_ok("SIGTERM", 0), SIGTERM);
	assert_int_equal(parse_ok("sigterm", 0), SIGTERM);
	assert_int_equal(parse_ok("Term", 0), SIGTERM);
	assert_int_equal(parse_ok("HUP", 0), SIGHUP);
	assert_int_equal(parse_ok("SIGQUIT", 0), SIGQUIT);
	assert_int_equal(parse_ok("usr1", 0), SIGUSR1);
	assert_int_equal(parse_ok("WINCH", 0), SIGWINCH);
	assert_int_equal(parse_ok("KILL", 0), SIGKILL);
	assert_int_equal(parse_ok("CHLD", 0), SIGCHLD);
	/* Aliases. */
	assert_int_equal(parse_ok("IOT", 0), SIGABRT);
	assert_int_equal(parse_ok("SIGCLD", 0), SIGCHLD);
	assert_int_equal(parse_ok("POLL", 0), SIGIO);
}

static void test_parse_numbers(void **state)
{
	(void)state;
	assert_int_equal(parse_ok("15", 0), SIGTERM);
	assert_int_equal(parse_ok("1", 0), SIGHUP);
	assert_int_equal(parse_ok("015", 0), SIGTERM);
	assert_int_equal(parse_ok("64", 0), 64);
	assert_int_equal(parse_ok("0", 1), 0);
	parse_bad("0", 0);
	parse_bad("00", 0);
	assert_int_equal(parse_ok("00", 1), 0);
}

static void test_parse_realtime(void **state)
{
	(void)state;
	/* The kernel's (and glibc's) numbers in every build: musl's own
	 * SIGRTMIN is 35. */
	assert_int_equal(parse_ok("RTMIN", 0), 34);
	assert_int_equal(parse_ok("SIGRTMIN", 0), 34);
	assert_int_equal(parse_ok("rtmin", 0), 34);
	assert_int_equal(parse_ok("RTMIN+0", 0), 34);
	assert_int_equal(parse_ok("RTMIN+2", 0), 36);
	assert_int_equal(parse_ok("SIGRTMIN+2", 0), 36);
	assert_int_equal(parse_ok("RTMAX", 0), 64);
	assert_int_equal(parse_ok("SIGRTMAX-1", 0), 63);
	assert_int_equal(parse_ok("sigrtmax-0", 0), 64);
	assert_int_equal(parse_ok("RTMIN+30", 0), 64);
	assert_int_equal(parse_ok("34", 0), 34);
	parse_bad("RTMIN+31", 0);
	parse_bad("RTMAX-31", 0);
}

static void test_parse_bad(void **state)
{
	static const char *const bad[] = {
		"",	      "FOO",	 "SIG",
		"SIGSIGTERM", "TERMX",	 " TERM",
		"TERM ",      "65",	 "99999999999999999999",
		"-1",	      "-15",	 "+15",
		"15x",	      "1 5",	 "0x0f",
		"32",	      "33",	 "RTMIN+99",
		"RTMIN+",     "RTMIN-1", "RTMAX+1",
		"RTMAX-",     "RTMINX",	 "RTMIN+1x",
		"RTMIN++1",   "SIG15",	 "SIGRT",
		"RTMI",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		parse_bad(bad[i], 0);
		parse_bad(bad[i], 1);
	}
	int sig = -7;
	assert_int_equal(sig_parse(NULL, 1, &sig), -EINVAL);
	assert_int_equal(sig, -7);
}

static void test_name_exact(void **state)
{
	char buf[SIG_NAME_MAX];

	(void)state;
	assert_string_equal(sig_name(SIGTERM, buf), "SIGTERM");
	assert_string_equal(sig_name(SIGHUP, buf), "SIGHUP");
	assert_string_equal(sig_name(SIGVTALRM, buf), "SIGVTALRM");
	assert_string_equal(sig_name(SIGSTKFLT, buf), "SIGSTKFLT");
	assert_ptr_equal(sig_name(SIGKILL, buf), buf);
	assert_string_equal(sig_name(34, buf), "SIGRTMIN");
	assert_string_equal(sig_name(36, buf), "SIGRTMIN+2");
	assert_string_equal(sig_name(64, buf), "SIGRTMIN+30");
	/* Not signals: the number. */
	assert_string_equal(sig_name(0, buf), "0");
	assert_string_equal(sig_name(-1, buf), "-1");
	assert_string_equal(sig_name(32, buf), "32");
	assert_string_equal(sig_name(33, buf), "33");
	assert_string_equal(sig_name(65, buf), "65");
	assert_string_equal(sig_name(INT32_MIN, buf), "-2147483648");
}

static void test_name_round_trip(void **state)
{
	int checked = 0;

	(void)state;
	for (int sig = 1; sig <= SIG_MAX; sig++) {
		char buf[SIG_NAME_MAX];
		int back = -1;

		if (sig_policy(sig) == SIG_POLICY_RESERVED)
			continue;
		sig_name(sig, buf);
		assert_true(strncmp(buf, "SIG", 3) == 0);
		if (sig_parse(buf, 0, &back) != 0 || back != sig)
			fail_msg("%d -> \"%s\" -> %d", sig, buf, back);
		/* Without the prefix, and as a number, too. */
		assert_int_equal(parse_ok(buf + 3, 0), sig);
		snprintf(buf, sizeof(buf), "%d", sig);
		assert_int_equal(parse_ok(buf, 0), sig);
		checked++;
	}
	/* 1..31 and every real-time signal. */
	assert_int_equal(checked, 31 + 31);
}

static void test_policy(void **state)
{
	(void)state;
	assert_int_equal(sig_policy(SIGCHLD), SIG_POLICY_REAP);
	assert_int_equal(sig_policy(SIGTSTP), SIG_POLICY_IGNORE);
	assert_int_equal(sig_policy(SIGTTIN), SIG_POLICY_IGNORE);
	assert_int_equal(sig_policy(SIGTTOU), SIG_POLICY_IGNORE);
	assert_int_equal(sig_policy(SIGPIPE), SIG_POLICY_IGNORE);
	assert_int_equal(sig_policy(SIGSEGV), SIG_POLICY_SYNC);
	assert_int_equal(sig_policy(SIGBUS), SIG_POLICY_SYNC);
	assert_int_equal(sig_policy(SIGFPE), SIG_POLICY_SYNC);
	assert_int_equal(sig_policy(SIGILL), SIG_POLICY_SYNC);
	assert_int_equal(sig_policy(SIGABRT), SIG_POLICY_SYNC);
	assert_int_equal(sig_policy(SIGTRAP), SIG_POLICY_SYNC);
	assert_int_equal(sig_policy(SIGSYS), SIG_POLICY_SYNC);
	assert_int_equal(sig_policy(SIGKILL), SIG_POLICY_UNCATCHABLE);
	assert_int_equal(sig_policy(SIGSTOP), SIG_POLICY_UNCATCHABLE);
	assert_int_equal(sig_policy(SIGTERM), SIG_POLICY_FORWARD);
	assert_int_equal(sig_policy(SIGHUP), SIG_POLICY_FORWARD);
	assert_int_equal(sig_policy(SIGINT), SIG_POLICY_FORWARD);
	assert_int_equal(sig_policy(SIGQUIT), SIG_POLICY_FORWARD);
	assert_int_equal(sig_policy(SIGUSR1), SIG_POLICY_FORWARD);
	assert_int_equal(sig_policy(SIGUSR2), SIG_POLICY_FORWARD);
	assert_int_equal(sig_policy(SIGWINCH), SIG_POLICY_FORWARD);
	assert_int_equal(sig_policy(SIGCONT), SIG_POLICY_FORWARD);
	assert_int_equal(sig_policy(34), SIG_POLICY_FORWARD);
	assert_int_equal(sig_policy(64), SIG_POLICY_FORWARD);
	assert_int_equal(sig_policy(0), SIG_POLICY_INVALID);
	assert_int_equal(sig_policy(-1), SIG_POLICY_INVALID);
	assert_int_equal(sig_policy(65), SIG_POLICY_INVALID);
	/* The libcs' own, below the kernel's first real-time signal. */
	assert_int_equal(sig_policy(32), SIG_POLICY_RESERVED);
	assert_int_equal(sig_policy(33), SIG_POLICY_RESERVED);
}

/* sig_set_* use the kernel's layout, which sigismember reads too (glibc's
 * does not refuse its own signals when reading), and reach 32..34. */
static void test_set_bits(void **state)
{
	sigset_t set;

	(void)state;
	sigemptyset(&set);
	for (int sig = 1; sig <= SIG_MAX; sig += 3)
		sig_set_add(&set, sig);
	for (int sig = 1; sig <= SIG_MAX; sig++) {
		assert_int_equal(sig_set_has(&set, sig), (sig - 1) % 3 == 0);
		assert_int_equal(sigismember(&set, sig) == 1, (sig - 1) % 3 == 0);
	}
	for (int sig = 32; sig <= 34; sig++) {
		sig_set_add(&set, sig);
		assert_true(sig_set_has(&set, sig));
	}
	sig_set_del(&set, 33);
	assert_false(sig_set_has(&set, 33));
	assert_true(sig_set_has(&set, 32));
	assert_true(sig_set_has(&set, 34));
	sig_set_add(&set, 64);
	assert_true(sig_set_has(&set, 64));
	sig_set_del(&set, 64);
	assert_false(sig_set_has(&set, 64));
	/* Out of range: no effect, and no write past the set. */
	sig_set_add(&set, 0);
	sig_set_add(&set, 65);
	sig_set_add(&set, -1);
	assert_false(sig_set_has(&set, 0));
	assert_false(sig_set_has(&set, 65));
}

static void test_rewrite_init_identity(void **state)
{
	struct sig_rewrite r;

	(void)state;
	memset(&r, 0x55, sizeof(r));
	sig_rewrite_init(&r);
	for (int sig = 1; sig <= SIG_MAX; sig++)
		assert_int_equal(sig_rewrite_apply(&r, sig), sig);
	/* Out of range: dropped. */
	assert_int_equal(sig_rewrite_apply(&r, 0), 0);
	assert_int_equal(sig_rewrite_apply(&r, -3), 0);
	assert_int_equal(sig_rewrite_apply(&r, SIG_MAX + 1), 0);
}

static void test_rewrite_add(void **state)
{
	struct sig_rewrite r;
	char err[128] = "";

	(void)state;
	sig_rewrite_init(&r);
	assert_int_equal(sig_rewrite_add(&r, "TERM:QUIT", err, sizeof(err)), 0);
	assert_int_equal(sig_rewrite_apply(&r, SIGTERM), SIGQUIT);
	assert_int_equal(sig_rewrite_apply(&r, SIGQUIT), SIGQUIT);

	sig_rewrite_init(&r);
	assert_int_equal(sig_rewrite_add(&r, "15:3", err, sizeof(err)), 0);
	assert_int_equal(sig_rewrite_apply(&r, SIGTERM), SIGQUIT);

	assert_int_equal(sig_rewrite_add(&r, "INT:0", err, sizeof(err)), 0);
	assert_int_equal(sig_rewrite_apply(&r, SIGINT), 0);

	assert_int_equal(sig_rewrite_add(&r, "SIGUSR1:RTMIN+2", err, sizeof(err)), 0);
	assert_int_equal(sig_rewrite_apply(&r, SIGUSR1), SIG_RTMIN + 2);
	assert_int_equal(sig_rewrite_add(&r, "RTMAX:usr2", err, sizeof(err)), 0);
	assert_int_equal(sig_rewrite_apply(&r, SIG_RTMAX), SIGUSR2);

	/* Uncatchable and the TTY stop are valid targets. */
	assert_int_equal(sig_rewrite_add(&r, "HUP:KILL", err, sizeof(err)), 0);
	assert_int_equal(sig_rewrite_apply(&r, SIGHUP), SIGKILL);
	assert_int_equal(sig_rewrite_add(&r, "WINCH:STOP", err, sizeof(err)), 0);
	assert_int_equal(sig_rewrite_apply(&r, SIGWINCH), SIGSTOP);
	assert_int_equal(sig_rewrite_add(&r, "USR2:TSTP", err, sizeof(err)), 0);
	assert_int_equal(sig_rewrite_apply(&r, SIGUSR2), SIGTSTP);

	/* The last one wins. */
	assert_int_equal(sig_rewrite_add(&r, "TERM:TERM", err, sizeof(err)), 0);
	assert_int_equal(sig_rewrite_apply(&r, SIGTERM), SIGTERM);
	assert_string_equal(err, "");
}

static void test_rewrite_bad(void **state)
{
	static const struct {
		const char *spec;
		const char *why; /* expected in err */
	} bad[] = {
		{ "TERM", "expected FROM:TO" },
		{ "", "expected FROM:TO" },
		{ "TERM:", "unknown signal \"\"" },
		{ ":QUIT", "unknown signal \"\"" },
		{ "FOO:TERM", "unknown signal \"FOO\"" },
		{ "TERM:FOO", "unknown signal \"FOO\"" },
		{ "0:TERM", "unknown signal \"0\"" },
		{ "TERM:QUIT:HUP", "unknown signal \"QUIT:HUP\"" },
		{ "TERM:65", "unknown signal \"65\"" },
		{ "CHLD:TERM", "SIGCHLD is never forwarded" },
		{ "KILL:TERM", "SIGKILL is never forwarded" },
		{ "PIPE:TERM", "SIGPIPE is never forwarded" },
		{ "SEGV:TERM", "SIGSEGV is never forwarded" },
		{ "TERM:CHLD", "cannot rewrite to SIGCHLD" },
		{ "TERM:SEGV", "cannot rewrite to SIGSEGV" },
		{ "TERM:TTIN", "cannot rewrite to SIGTTIN" },
		{ "TERM:PIPE", "cannot rewrite to SIGPIPE" },
		{ "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA:TERM", "expected FROM:TO" },
	};
	struct sig_rewrite r, fresh;

	(void)state;
	sig_rewrite_init(&r);
	sig_rewrite_init(&fresh);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char err[256] = "";

		assert_int_equal(sig_rewrite_add(&r, bad[i].spec, err, sizeof(err)), -EINVAL);
		if (!strstr(err, bad[i].why))
			fail_msg("\"%s\": err \"%s\" lacks \"%s\"", bad[i].spec, err, bad[i].why);
	}
	assert_memory_equal(&r, &fresh, sizeof(r));
}

static void test_rewrite_err_truncated(void **state)
{
	struct sig_rewrite r;
	char err[6];

	(void)state;
	sig_rewrite_init(&r);
	assert_int_equal(sig_rewrite_add(&r, "CHLD:TERM", err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "SIGCH");
}

struct seen_sigs {
	int sig[8];
	int n;
};

static void note_sig(void *data, int sig)
{
	struct seen_sigs *seen = data;

	if (seen->n < 8)
		seen->sig[seen->n++] = sig;
}

/* The signalfd read: forwardable signals to fn in order, SIGCHLD said,
 * the libcs' reserved ones dropped, nothing left behind; fn NULL drops. */
static void test_fd_read(void **state)
{
	struct seen_sigs seen = { 0 };
	sigset_t all, old;
	int fd;

	(void)state;
	sigfillset(&all);
	assert_int_equal(pthread_sigmask(SIG_BLOCK, &all, &old), 0);
	fd = sig_fd_open();
	assert_true(fd >= 0);
	raise(SIGUSR1);
	raise(SIGCHLD);
	raise(SIGUSR2);
	assert_true(sig_fd_read(fd, note_sig, &seen));
	assert_int_equal(seen.n, 2);
	assert_int_equal(seen.sig[0], SIGUSR1);
	assert_int_equal(seen.sig[1], SIGUSR2);
	/* Nothing left: no SIGCHLD, no call. */
	assert_false(sig_fd_read(fd, note_sig, &seen));
	assert_int_equal(seen.n, 2);
	raise(SIGHUP);
	raise(SIGCHLD);
	assert_true(sig_fd_read(fd, NULL, NULL));
	assert_false(sig_fd_read(fd, note_sig, &seen));
	assert_int_equal(seen.n, 2);
	close(fd);
	assert_int_equal(pthread_sigmask(SIG_SETMASK, &old, NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fd_read),
		cmocka_unit_test(test_parse_names),
		cmocka_unit_test(test_parse_numbers),
		cmocka_unit_test(test_parse_realtime),
		cmocka_unit_test(test_parse_bad),
		cmocka_unit_test(test_name_exact),
		cmocka_unit_test(test_name_round_trip),
		cmocka_unit_test(test_policy),
		cmocka_unit_test(test_set_bits),
		cmocka_unit_test(test_rewrite_init_identity),
		cmocka_unit_test(test_rewrite_add),
		cmocka_unit_test(test_rewrite_bad),
		cmocka_unit_test(test_rewrite_err_truncated),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
