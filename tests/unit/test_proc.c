/* test_proc.c - proc.c: parsing /proc/PID/stat lines, and finding the live
 * descendants of this process (a child and a grandchild it forks); the
 * scans with every allocation failing in turn (failalloc.h). */
#include "../../helper/proc.c"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "failalloc.h"

static int parse(const char *s, struct proc_stat *st)
{
	memset(st, 0x7f, sizeof(*st));
	return proc_parse_stat(s, strlen(s), st);
}

static void parse_bad(const char *s)
{
	struct proc_stat st, before;

	memset(&before, 0x7f, sizeof(before));
	if (parse(s, &st) != -EINVAL)
		fail_msg("accepted: \"%s\"", s);
	assert_memory_equal(&st, &before, sizeof(st));
}

static void test_parse_real(void **state)
{
	struct proc_stat st;

	(void)state;
	assert_int_equal(parse("123 (bash) S 1 123 123 0 -1 4194560 1054 0 0 0 1 0 0 0 "
			       "20 0 1 0 2386 8495104 1201 18446744073709551615\n",
			       &st),
			 0);
	assert_int_equal(st.pid, 123);
	assert_int_equal(st.state, 'S');
	assert_int_equal(st.ppid, 1);
	assert_int_equal(st.pgrp, 123);

	/* Only the fields we need: pid, comm, state, ppid, pgrp. */
	assert_int_equal(parse("7 (init) R 0 0", &st), 0);
	assert_int_equal(st.pid, 7);
	assert_int_equal(st.state, 'R');
	assert_int_equal(st.ppid, 0);
	assert_int_equal(st.pgrp, 0);

	assert_int_equal(parse("99 (defunct) Z 42 42 42 0", &st), 0);
	assert_int_equal(st.state, 'Z');
	assert_int_equal(st.ppid, 42);

	assert_int_equal(parse("4194304 (x) D 4194303 4194302\n", &st), 0);
	assert_int_equal(st.pid, 4194304);
	assert_int_equal(st.state, 'D');
	assert_int_equal(st.ppid, 4194303);
	assert_int_equal(st.pgrp, 4194302);
}

static void test_parse_tricky_comm(void **state)
{
	struct proc_stat st;

	(void)state;
	assert_int_equal(parse("45 ((a) b (c)) R 7 45 45 0", &st), 0);
	assert_int_equal(st.pid, 45);
	assert_int_equal(st.state, 'R');
	assert_int_equal(st.ppid, 7);
	assert_int_equal(st.pgrp, 45);

	assert_int_equal(parse("46 (my prog) S 2 46 46", &st), 0);
	assert_int_equal(st.ppid, 2);

	/* A comm that imitates the fields after it: the last ')' wins. */
	assert_int_equal(parse("47 () S 9 9 ) T 3 47 47 0", &st), 0);
	assert_int_equal(st.state, 'T');
	assert_int_equal(st.ppid, 3);
	assert_int_equal(st.pgrp, 47);

	assert_int_equal(parse("48 () S 5 6", &st), 0);
	assert_int_equal(st.ppid, 5);
	assert_int_equal(parse("49 ()) S 5 6", &st), 0);
	assert_int_equal(st.pgrp, 6);
}

static void test_parse_bad(void **state)
{
	static const char *const bad[] = {
		"123 (bash S 1 123 123", /* missing ')' */
		"123 bash S 1 123",	 /* no comm */
		"abc (x) S 1 1",	 /* pid not a number */
		"12a (x) S 1 1",
		"0 (x) S 1 1", /* pid must be > 0 */
		"-5 (x) S 1 1",
		" ",
		"\n",
		"12(x) S 1 1",
		"12 (x)S 1 1",
		"12 (x)",
		"12 (x) ",
		"12 (x) S",
		"12 (x) S ",
		"12 (x) S 3",	/* no pgrp */
		"12 (x) 5 3 4", /* state not a letter */
		"12 (x) SS 3 4",
		"12 (x) S 3x 4",
		"12 (x) S x 4",
		"12 (x) S 3 4x",
		"12 )x( S 3 4",
		"99999999999999999999 (x) S 1 1",
		"12 (x) S 99999999999999999999 1",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		parse_bad(bad[i]);
}

static void test_parse_length(void **state)
{
	char line[PROC_STAT_MAX + 8];
	struct proc_stat st;

	(void)state;
	/* Empty. */
	assert_int_equal(proc_parse_stat("1 (x) S 0 1", 0, &st), -EINVAL);

	/* Only len bytes count: the buffer need not be terminated. */
	memcpy(line, "12 (x) S 3 45 6", 15);
	assert_int_equal(proc_parse_stat(line, 13, &st), 0);
	assert_int_equal(st.pgrp, 45);
	assert_int_equal(proc_parse_stat(line, 12, &st), 0);
	assert_int_equal(st.pgrp, 4);
	assert_int_equal(proc_parse_stat(line, 11, &st), -EINVAL);

	/* PROC_STAT_MAX - 1 bytes fit, PROC_STAT_MAX do not. */
	memset(line, '0', sizeof(line));
	memcpy(line, "12 (x) S 3 4 ", 13);
	for (size_t i = 13; i + 1 < sizeof(line); i += 2)
		line[i] = ' ';
	assert_int_equal(proc_parse_stat(line, PROC_STAT_MAX - 1, &st), 0);
	assert_int_equal(st.ppid, 3);
	memset(&st, 0, sizeof(st));
	assert_int_equal(proc_parse_stat(line, PROC_STAT_MAX, &st), -EINVAL);
	assert_int_equal(st.pid, 0);
	assert_int_equal(proc_parse_stat(line, PROC_STAT_MAX + 7, &st), -EINVAL);
}

static void test_parse_self(void **state)
{
	char buf[PROC_STAT_MAX];
	struct proc_stat st;
	ssize_t n;
	int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);

	(void)state;
	assert_true(fd >= 0);
	n = read(fd, buf, sizeof(buf));
	close(fd);
	assert_true(n > 0 && n < (ssize_t)sizeof(buf));
	assert_int_equal(proc_parse_stat(buf, (size_t)n, &st), 0);
	assert_int_equal(st.pid, getpid());
	assert_int_equal(st.ppid, getppid());
	assert_int_equal(st.pgrp, getpgrp());
	assert_int_equal(st.state, 'R');
}

/*
 * A child in a process group of its own and its grandchild, both blocked
 * reading a pipe that only the test process can close.
 */
struct family {
	pid_t child;
	pid_t grandchild;
	int hold; /* write end: closing it lets both go */
};

static void family_start(struct family *f)
{
	int hold[2], ready[2];

	assert_int_equal(pipe2(hold, O_CLOEXEC), 0);
	assert_int_equal(pipe2(ready, O_CLOEXEC), 0);
	f->child = fork();
	assert_true(f->child >= 0);
	if (f->child == 0) {
		char c;
		int st;
		pid_t g;

		close(hold[1]);
		close(ready[0]);
		setpgid(0, 0);
		g = fork();
		if (g < 0)
			_exit(1);
		if (g == 0) {
			close(ready[1]);
			while (read(hold[0], &c, 1) < 0 && errno == EINTR)
				;
			_exit(0);
		}
		if (write(ready[1], &g, sizeof(g)) != sizeof(g))
			_exit(1);
		close(ready[1]);
		while (read(hold[0], &c, 1) < 0 && errno == EINTR)
			;
		/* Reap the grandchild; report how it ended. */
		if (waitpid(g, &st, 0) != g)
			_exit(2);
		_exit(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL ? 0 : 3);
	}
	close(hold[0]);
	close(ready[1]);
	f->hold = hold[1];
	assert_int_equal(read(ready[0], &f->grandchild, sizeof(f->grandchild)),
			 sizeof(f->grandchild));
	close(ready[0]);
	assert_true(f->grandchild > 0);
}

/* Kills exactly the two, lets the child reap the grandchild, reaps the child. */
static void family_stop(struct family *f)
{
	int st;

	assert_int_equal(kill(f->grandchild, SIGKILL), 0);
	close(f->hold);
	assert_int_equal(waitpid(f->child, &st, 0), f->child);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

static bool has(const pid_t *pids, size_t n, pid_t pid)
{
	for (size_t i = 0; i < n; i++) {
		if (pids[i] == pid)
			return true;
	}
	return false;
}

static void test_descendants(void **state)
{
	struct family f;
	pid_t pids[64];
	size_t n = 999;

	(void)state;
	family_start(&f);

	/* Of this process: exactly the child and the grandchild. */
	assert_int_equal(proc_descendants(getpid(), 0, pids, 64, &n), 0);
	assert_int_equal(n, 2);
	assert_true(has(pids, n, f.child));
	assert_true(has(pids, n, f.grandchild));
	assert_false(has(pids, n, getpid()));
	assert_false(has(pids, n, getppid()));

	/* Of the child: the grandchild alone. */
	assert_int_equal(proc_descendants(f.child, 0, pids, 64, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(pids[0], f.grandchild);

	/* The grandchild has none. */
	assert_int_equal(proc_descendants(f.grandchild, 0, pids, 64, &n), 0);
	assert_int_equal(n, 0);

	/* By process group: the child's group holds both; pid itself is out. */
	assert_int_equal(proc_descendants(f.grandchild, f.child, pids, 64, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(pids[0], f.child);

	/* At most cap pids. */
	assert_int_equal(proc_descendants(getpid(), 0, pids, 1, &n), 0);
	assert_int_equal(n, 1);
	assert_true(pids[0] == f.child || pids[0] == f.grandchild);
	assert_int_equal(proc_descendants(getpid(), 0, pids, 0, &n), 0);
	assert_int_equal(n, 0);

	family_stop(&f);

	/* Gone and reaped: nothing left. */
	assert_int_equal(proc_descendants(getpid(), 0, pids, 64, &n), 0);
	assert_int_equal(n, 0);
}

static void test_descendants_skip_zombies(void **state)
{
	pid_t pids[8];
	size_t n = 999;
	pid_t pid;
	int st;

	(void)state;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(0);
	/* Wait until it is a zombie without reaping it. */
	siginfo_t si;
	assert_int_equal(waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT), 0);
	assert_int_equal(proc_descendants(getpid(), 0, pids, 8, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(waitpid(pid, &st, 0), pid);
}

static void test_parse_starttime(void **state)
{
	struct proc_stat st;

	(void)state;
	assert_int_equal(parse("123 (a b) S 1 123 123 0 -1 4194560 1054 0 0 0 1 0 0 0 "
			       "20 0 1 0 2386 8495104 1201 18446744073709551615\n",
			       &st),
			 0);
	assert_int_equal(st.starttime, 2386);
	/* Cut before field 22: parsed, the start time unknown. */
	assert_int_equal(parse("7 (init) R 0 0", &st), 0);
	assert_int_equal(st.starttime, 0);
}

static void test_parse_pid(void **state)
{
	pid_t pid = 0;

	(void)state;
	assert_int_equal(proc_parse_pid("42\n", 3, &pid), 0);
	assert_int_equal(pid, 42);
	assert_int_equal(proc_parse_pid("4194304", 7, &pid), 0);
	assert_int_equal(pid, 4194304);
	assert_int_equal(proc_parse_pid("17 \r\n", 5, &pid), 0);
	assert_int_equal(pid, 17);
	pid = 5;
	const char *bad[] = { "",    "0",	    "-1",
			      " 42", "42x",	    "4 2",
			      "abc", "99999999999", "123456789012345678901234567890123" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (proc_parse_pid(bad[i], strlen(bad[i]), &pid) != -EINVAL)
			fail_msg("accepted \"%s\"", bad[i]);
	}
	assert_int_equal(pid, 5);
	assert_int_equal(proc_read_pid_file("/nonexistent/x.pid", &pid), -ENOENT);
}

/* A child and its own child, both called lc-find-test; the parent waits
 * on a pipe. Returns the child's pid; the grandchild's in *ret_g. */
static pid_t named_pair(int *ret_hold, pid_t *ret_g)
{
	int hold[2], ready[2];
	pid_t pid;

	assert_int_equal(pipe(hold), 0);
	assert_int_equal(pipe(ready), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char c;
		close(hold[1]);
		close(ready[0]);
		prctl(PR_SET_NAME, "lc-find-test");
		pid_t g = fork();
		if (g == 0) {
			close(ready[1]);
			while (read(hold[0], &c, 1) < 0 && errno == EINTR)
				;
			_exit(0);
		}
		if (write(ready[1], &g, sizeof(g)) != sizeof(g))
			_exit(1);
		while (read(hold[0], &c, 1) < 0 && errno == EINTR)
			;
		waitpid(g, NULL, 0);
		_exit(0);
	}
	close(hold[0]);
	close(ready[1]);
	assert_int_equal(read(ready[0], ret_g, sizeof(*ret_g)), sizeof(*ret_g));
	close(ready[0]);
	*ret_hold = hold[1];
	return pid;
}

static void test_find(void **state)
{
	pid_t pid, g, found = 0;
	int hold, st;

	(void)state;
	assert_int_equal(proc_find("lc-find-test", 0, NULL, NULL, &found), -ESRCH);
	pid = named_pair(&hold, &g);
	/* Both match: the one whose parent does not is the main process. */
	assert_int_equal(proc_find("lc-find-test", 0, NULL, NULL, &found), 0);
	assert_int_equal(found, pid);
	/* Skipping it (ourselves, say), its child is the main one. */
	assert_int_equal(proc_find("lc-find-test", pid, NULL, NULL, &found), 0);
	assert_int_equal(found, g);
	assert_true(proc_alive(pid));
	assert_true(proc_is_named(pid, "lc-find-test"));
	assert_false(proc_is_named(pid, "lc-find"));
	assert_false(proc_is_named(getpid(), "lc-find-test"));
	close(hold);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_false(proc_alive(pid));
	assert_int_equal(proc_find("lc-find-test", 0, NULL, NULL, &found), -ESRCH);

	/* A name longer than comm holds: argv[0]'s base name. */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		execl("/bin/sleep", "/opt/app/lc-find-a-rather-long-name", "30", (char *)NULL);
		_exit(127);
	}
	for (int i = 0;
	     i < 500 && proc_find("lc-find-a-rather-long-name", 0, NULL, NULL, &found) < 0; i++)
		usleep(10 * 1000);
	assert_int_equal(found, pid);
	assert_true(proc_is_named(pid, "lc-find-a-rather-long-name"));
	assert_int_equal(proc_find("lc-find-a-rather", 0, NULL, NULL, &found), -ESRCH);

	/* A zombie is not alive, and not found. */
	assert_int_equal(kill(pid, SIGKILL), 0);
	siginfo_t si;
	assert_int_equal(waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT), 0);
	assert_false(proc_alive(pid));
	assert_int_equal(proc_find("lc-find-a-rather-long-name", 0, NULL, NULL, &found), -ESRCH);
	assert_int_equal(waitpid(pid, &st, 0), pid);
}

static bool prefer_pid(pid_t pid, void *data)
{
	return pid == *(pid_t *)data;
}

static bool prefer_none(pid_t pid, void *data)
{
	(void)pid;
	(void)data;
	return false;
}

/* Two main processes of one name (another container's, in a shared PID
 * namespace): the preferred one wins over the older; none preferred, the
 * older. */
static void test_find_prefer(void **state)
{
	pid_t a, b, found = 0;
	int st;

	(void)state;
	a = fork();
	assert_true(a >= 0);
	if (a == 0) {
		execl("/bin/sleep", "lc-find-two", "30", (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 500 && proc_find("lc-find-two", 0, NULL, NULL, &found) < 0; i++)
		usleep(10 * 1000);
	assert_int_equal(found, a);
	b = fork();
	assert_true(b >= 0);
	if (b == 0) {
		execl("/bin/sleep", "lc-find-two", "30", (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 500 && !proc_is_named(b, "lc-find-two"); i++)
		usleep(10 * 1000);
	assert_int_equal(proc_find("lc-find-two", 0, NULL, NULL, &found), 0);
	assert_int_equal(found, a);
	assert_int_equal(proc_find("lc-find-two", 0, prefer_none, NULL, &found), 0);
	assert_int_equal(found, a);
	assert_int_equal(proc_find("lc-find-two", 0, prefer_pid, &b, &found), 0);
	assert_int_equal(found, b);
	kill(a, SIGKILL);
	kill(b, SIGKILL);
	assert_int_equal(waitpid(a, &st, 0), a);
	assert_int_equal(waitpid(b, &st, 0), b);
}

/* A scan with each allocation failing: -ENOMEM, nothing written (the
 * caller must not take it for "no process left"), or the whole answer. */
static void descendants_round(long n, void *data)
{
	struct family *f = data;
	pid_t pids[8];
	size_t got = 999;
	int r = proc_descendants(getpid(), 0, pids, 8, &got);

	(void)n;
	if (failalloc.failed) {
		assert_int_equal(r, -ENOMEM);
		assert_int_equal(got, 999);
		return;
	}
	assert_int_equal(r, 0);
	assert_int_equal(got, 2);
	assert_true(has(pids, got, f->child) && has(pids, got, f->grandchild));
}

static void find_round(long n, void *data)
{
	pid_t found = 0;
	int r = proc_find("lc-find-test", 0, NULL, NULL, &found);

	(void)n;
	if (failalloc.failed) {
		assert_int_equal(r, -ENOMEM);
		assert_int_equal(found, 0);
		return;
	}
	assert_int_equal(r, 0);
	assert_int_equal(found, *(pid_t *)data);
}

static void test_alloc_fails(void **state)
{
	struct family f;
	pid_t pid, g;
	int hold, st;

	(void)state;
	if (failalloc_off())
		return;
	family_start(&f);
	assert_true(failalloc_each(descendants_round, &f) >= 2);
	family_stop(&f);
	pid = named_pair(&hold, &g);
	assert_true(failalloc_each(find_round, &pid) >= 1);
	close(hold);
	assert_int_equal(waitpid(pid, &st, 0), pid);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_real),
		cmocka_unit_test(test_parse_tricky_comm),
		cmocka_unit_test(test_parse_bad),
		cmocka_unit_test(test_parse_length),
		cmocka_unit_test(test_parse_self),
		cmocka_unit_test(test_descendants),
		cmocka_unit_test(test_descendants_skip_zombies),
		cmocka_unit_test(test_parse_starttime),
		cmocka_unit_test(test_parse_pid),
		cmocka_unit_test(test_find),
		cmocka_unit_test(test_find_prefer),
		cmocka_unit_test(test_alloc_fails),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
