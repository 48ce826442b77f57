/* test_spawn.c - spawn.c: PATH lookup as execvp does it, and spawn_child
 * (exec errors, the shell fallback, process group, mask and dispositions,
 * the fds the child gets; no process made: out of fds, every allocation
 * failing in turn, failalloc.h). */
#include "../../helper/spawn.c"

#include <ftw.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "failalloc.h"

/* A temporary tree:
 *   dir/bin/prog       executable script "exit 3" with #!
 *   dir/bin/noexec     mode 0644
 *   dir/bin/tool/      a directory
 *   dir/other/tool     executable
 *   dir/other/noexec   executable
 *   dir/nosh           executable, no "#!": "exit ${1:-7}"
 */
static char dir[64];
static char bin[128], other[128];
static char *saved_path;
/* Whose failure spawn_child's last one was. */
static enum spawn_failure failure;
static int saved_cwd = -1;

static void write_file(const char *rel, const char *text, mode_t mode)
{
	char path[256];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(close(fd), 0);
	assert_int_equal(chmod(path, mode), 0);
}

static int setup(void **state)
{
	char path[256];
	const char *p = getenv("PATH");

	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/lastcall-unit-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(bin, sizeof(bin), "%s/bin", dir);
	snprintf(other, sizeof(other), "%s/other", dir);
	if (mkdir(bin, 0755) < 0 || mkdir(other, 0755) < 0)
		return -1;
	snprintf(path, sizeof(path), "%s/tool", bin);
	if (mkdir(path, 0755) < 0)
		return -1;
	write_file("bin/prog", "#!/bin/sh\nexit 3\n", 0755);
	write_file("bin/noexec", "#!/bin/sh\nexit 0\n", 0644);
	write_file("other/tool", "#!/bin/sh\nexit 4\n", 0755);
	write_file("other/noexec", "#!/bin/sh\nexit 5\n", 0755);
	write_file("nosh", "exit ${1:-7}\n", 0755);
	if (!p)
		p = "";
	/* Not strdup: cmocka's free (below) must get cmocka's malloc. */
	saved_path = malloc(strlen(p) + 1);
	if (saved_path)
		memcpy(saved_path, p, strlen(p) + 1);
	saved_cwd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	/* A terminal on stdin would make spawn_child hand it to the child. */
	int null = open("/dev/null", O_RDONLY);
	if (null < 0 || dup2(null, STDIN_FILENO) < 0)
		return -1;
	close(null);
	return saved_path && saved_cwd >= 0 ? 0 : -1;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int teardown(void **state)
{
	(void)state;
	setenv("PATH", saved_path, 1);
	free(saved_path);
	if (fchdir(saved_cwd) < 0)
		return -1;
	close(saved_cwd);
	return nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void test_resolve_path_lookup(void **state)
{
	char out[SPAWN_PATH_MAX], want[256], path[512];

	(void)state;
	assert_int_equal(spawn_resolve("prog", bin, out, sizeof(out)), 0);
	snprintf(want, sizeof(want), "%s/prog", bin);
	assert_string_equal(out, want);

	/* A directory of the name is skipped for a file further on. */
	snprintf(path, sizeof(path), "%s:%s", bin, other);
	assert_int_equal(spawn_resolve("tool", path, out, sizeof(out)), 0);
	snprintf(want, sizeof(want), "%s/tool", other);
	assert_string_equal(out, want);

	/* So is a file without execute permission. */
	assert_int_equal(spawn_resolve("noexec", path, out, sizeof(out)), 0);
	snprintf(want, sizeof(want), "%s/noexec", other);
	assert_string_equal(out, want);

	/* The first match wins. */
	snprintf(path, sizeof(path), "%s:%s:%s", other, bin, other);
	assert_int_equal(spawn_resolve("tool", path, out, sizeof(out)), 0);
	snprintf(want, sizeof(want), "%s/tool", other);
	assert_string_equal(out, want);

	/* Entries that do not exist, or are files, are passed over. */
	snprintf(path, sizeof(path), "/nonexistent:%s/prog:%s", bin, bin);
	assert_int_equal(spawn_resolve("prog", path, out, sizeof(out)), 0);
	snprintf(want, sizeof(want), "%s/prog", bin);
	assert_string_equal(out, want);
}

static void test_resolve_default_path(void **state)
{
	char out[SPAWN_PATH_MAX];

	(void)state;
	assert_int_equal(spawn_resolve("sh", NULL, out, sizeof(out)), 0);
	assert_true(out[0] == '/');
	assert_string_equal(out + strlen(out) - 3, "/sh");
	assert_int_equal(access(out, X_OK), 0);
	assert_int_equal(spawn_resolve("lastcall-no-such-command", NULL, out, sizeof(out)),
			 -ENOENT);
}

static void test_resolve_slash(void **state)
{
	char out[SPAWN_PATH_MAX];

	(void)state;
	/* With a '/', as given: not even checked. */
	assert_int_equal(spawn_resolve("/abs/path", bin, out, sizeof(out)), 0);
	assert_string_equal(out, "/abs/path");
	assert_int_equal(spawn_resolve("./rel", "", out, sizeof(out)), 0);
	assert_string_equal(out, "./rel");
	assert_int_equal(spawn_resolve("a/b", NULL, out, sizeof(out)), 0);
	assert_string_equal(out, "a/b");
	/* Exactly fitting, and one byte short. */
	assert_int_equal(spawn_resolve("/abs", NULL, out, 5), 0);
	assert_string_equal(out, "/abs");
	assert_int_equal(spawn_resolve("/abs", NULL, out, 4), -ENAMETOOLONG);
}

static void test_resolve_empty_entry_is_cwd(void **state)
{
	char out[SPAWN_PATH_MAX], path[256];

	(void)state;
	assert_int_equal(chdir(bin), 0);
	assert_int_equal(spawn_resolve("prog", ":/nonexistent", out, sizeof(out)), 0);
	assert_string_equal(out, "prog");
	assert_int_equal(spawn_resolve("prog", "/nonexistent:", out, sizeof(out)), 0);
	assert_string_equal(out, "prog");
	assert_int_equal(spawn_resolve("prog", "/nonexistent::/x", out, sizeof(out)), 0);
	assert_string_equal(out, "prog");
	assert_int_equal(spawn_resolve("prog", "", out, sizeof(out)), 0);
	assert_string_equal(out, "prog");
	/* An explicit directory first still wins. */
	snprintf(path, sizeof(path), "%s::", other);
	assert_int_equal(spawn_resolve("tool", path, out, sizeof(out)), 0);
	assert_string_equal(out + strlen(out) - 11, "/other/tool");
	assert_int_equal(spawn_resolve("prog", "/nonexistent", out, sizeof(out)), -ENOENT);
	assert_int_equal(fchdir(saved_cwd), 0);
}

static void test_resolve_errors(void **state)
{
	char out[SPAWN_PATH_MAX], path[256];

	(void)state;
	assert_int_equal(spawn_resolve("nope", bin, out, sizeof(out)), -ENOENT);
	assert_int_equal(spawn_resolve("", bin, out, sizeof(out)), -ENOENT);
	/* Only non-executable candidates: EACCES, not ENOENT. */
	assert_int_equal(spawn_resolve("noexec", bin, out, sizeof(out)), -EACCES);
	assert_int_equal(spawn_resolve("tool", bin, out, sizeof(out)), -EACCES);
	snprintf(path, sizeof(path), "/nonexistent:%s:/also-not", bin);
	assert_int_equal(spawn_resolve("noexec", path, out, sizeof(out)), -EACCES);
	/* Found, but out is too small. */
	assert_int_equal(spawn_resolve("prog", bin, out, 4), -ENAMETOOLONG);
	assert_int_equal(spawn_resolve("prog", bin, out, strlen(bin) + 5), -ENAMETOOLONG);
	assert_int_equal(spawn_resolve("prog", bin, out, strlen(bin) + 6), 0);
}

static void test_resolve_long_entry_skipped(void **state)
{
	size_t n = SPAWN_PATH_MAX + 100;
	char *path = malloc(n + sizeof(bin) + 2);
	char out[SPAWN_PATH_MAX];

	(void)state;
	assert_non_null(path);
	path[0] = '/';
	memset(path + 1, 'a', n - 1);
	snprintf(path + n, sizeof(bin) + 2, ":%s", bin);
	assert_int_equal(spawn_resolve("prog", path, out, sizeof(out)), 0);
	assert_string_equal(out + strlen(out) - 9, "/bin/prog");
	path[n] = '\0';
	assert_int_equal(spawn_resolve("prog", path, out, sizeof(out)), -ENOENT);
	free(path);
}

/* Spawns argv with mask and returns the wait status; asserts the start. */
static int spawn_wait(char *const argv[], const sigset_t *mask)
{
	pid_t pid = -1;
	int st = -1;

	assert_int_equal(spawn_child(argv, mask, &pid, &failure), 0);
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	return st;
}

static sigset_t empty;

static void test_spawn_runs(void **state)
{
	char path[256];
	int st;

	(void)state;
	sigemptyset(&empty);
	st = spawn_wait((char *[]){ "/bin/true", NULL }, &empty);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);

	/* Arguments arrive as given. */
	st = spawn_wait((char *[]){ "/bin/sh", "-c", "exit $#", "sh", "a", "b c", NULL }, &empty);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 2);

	/* Found through PATH. */
	snprintf(path, sizeof(path), "/nonexistent:%s", bin);
	setenv("PATH", path, 1);
	st = spawn_wait((char *[]){ "prog", NULL }, &empty);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 3);

	/* Without PATH, the default one. */
	unsetenv("PATH");
	st = spawn_wait((char *[]){ "true", NULL }, &empty);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	setenv("PATH", saved_path, 1);
}

static void test_spawn_script_without_shebang(void **state)
{
	char path[256];
	int st;

	(void)state;
	sigemptyset(&empty);
	snprintf(path, sizeof(path), "%s/nosh", dir);
	/* execve says ENOEXEC; it runs through /bin/sh, as with execvp. */
	st = spawn_wait((char *[]){ path, NULL }, &empty);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 7);
	/* With its arguments. */
	st = spawn_wait((char *[]){ path, "9", NULL }, &empty);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 9);
}

static void test_spawn_errors(void **state)
{
	char path[256];
	pid_t pid = -1;
	int st;

	(void)state;
	sigemptyset(&empty);
	setenv("PATH", bin, 1);
	assert_int_equal(spawn_child((char *[]){ "lastcall-no-such-command", NULL }, &empty, &pid,
				     &failure),
			 -ENOENT);
	assert_int_equal(spawn_child((char *[]){ "noexec", NULL }, &empty, &pid, &failure),
			 -EACCES);
	setenv("PATH", saved_path, 1);

	/* Errors of the exec itself, reported from the child. */
	assert_int_equal(spawn_child((char *[]){ "/nonexistent/cmd", NULL }, &empty, &pid,
				     &failure),
			 -ENOENT);
	snprintf(path, sizeof(path), "%s/noexec", bin);
	assert_int_equal(spawn_child((char *[]){ path, NULL }, &empty, &pid, &failure), -EACCES);
	assert_int_equal(spawn_child((char *[]){ bin, NULL }, &empty, &pid, &failure), -EACCES);
	snprintf(path, sizeof(path), "%s/prog/x", bin);
	assert_int_equal(spawn_child((char *[]){ path, NULL }, &empty, &pid, &failure), -ENOTDIR);
	assert_int_equal(failure, SPAWN_FAILED_EXEC);
	assert_int_equal(pid, -1);
	/* The failed children were collected: none is left. */
	assert_int_equal(waitpid(-1, &st, WNOHANG), -1);
	assert_int_equal(errno, ECHILD);
}

/* The hex value of field ("SigBlk") in /proc/pid/status. */
static unsigned long long status_mask(pid_t pid, const char *field)
{
	char path[64], line[256];
	unsigned long long v = ~0ULL;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, field, strlen(field)) == 0 && line[strlen(field)] == ':')
			v = strtoull(line + strlen(field) + 1, NULL, 16);
	}
	fclose(f);
	assert_true(v != ~0ULL);
	return v;
}

/* Starts a long sleep with mask; kill_reap() ends it. */
static pid_t spawn_sleeper(const sigset_t *mask)
{
	pid_t pid = -1;

	assert_int_equal(spawn_child((char *[]){ "/bin/sleep", "1000", NULL }, mask, &pid,
				     &failure),
			 0);
	assert_true(pid > 0);
	return pid;
}

static void kill_reap(pid_t pid)
{
	int st;

	assert_int_equal(kill(pid, SIGKILL), 0);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGKILL);
}

static void test_spawn_own_group(void **state)
{
	pid_t pid;

	(void)state;
	sigemptyset(&empty);
	pid = spawn_sleeper(&empty);
	assert_int_equal(getpgid(pid), pid);
	assert_true(getpgid(pid) != getpgrp());
	kill_reap(pid);
}

static void test_spawn_mask(void **state)
{
	sigset_t mask;
	pid_t pid;

	(void)state;
	sigemptyset(&mask);
	sigaddset(&mask, SIGUSR1);
	sigaddset(&mask, SIGUSR2);
	pid = spawn_sleeper(&mask);
	/* Bit n-1 for signal n: USR1 (10) is 0x200, USR2 (12) is 0x800. */
	assert_int_equal(status_mask(pid, "SigBlk"), 0xa00);
	kill_reap(pid);

	/* Our own mask does not leak into the child's. */
	sigset_t ours, old;
	sigemptyset(&ours);
	sigaddset(&ours, SIGHUP);
	assert_int_equal(sigprocmask(SIG_BLOCK, &ours, &old), 0);
	sigemptyset(&empty);
	pid = spawn_sleeper(&empty);
	assert_int_equal(status_mask(pid, "SigBlk"), 0);
	kill_reap(pid);
	assert_int_equal(sigprocmask(SIG_SETMASK, &old, NULL), 0);
}

static void test_spawn_dispositions_reset(void **state)
{
	struct sigaction ign, old_usr2, old_hup;
	pid_t pid;

	(void)state;
	memset(&ign, 0, sizeof(ign));
	ign.sa_handler = SIG_IGN;
	assert_int_equal(sigaction(SIGUSR2, &ign, &old_usr2), 0);
	assert_int_equal(sigaction(SIGHUP, &ign, &old_hup), 0);
	sigemptyset(&empty);
	pid = spawn_sleeper(&empty);
	/* Ignored signals would stay ignored across exec: they are reset.
	 * Signals 32 and 33 are glibc's own (its sigaction refuses them); an
	 * environment that ignores them passes that on, so they are left out. */
	assert_int_equal(status_mask(pid, "SigIgn") & ~0x180000000ULL, 0);
	kill_reap(pid);
	assert_int_equal(sigaction(SIGUSR2, &old_usr2, NULL), 0);
	assert_int_equal(sigaction(SIGHUP, &old_hup, NULL), 0);
}

static void test_fd_from_name(void **state)
{
	(void)state;
	assert_int_equal(fd_from_name("0"), 0);
	assert_int_equal(fd_from_name("7"), 7);
	assert_int_equal(fd_from_name("1023"), 1023);
	assert_int_equal(fd_from_name("2147483647"), INT_MAX);
	assert_int_equal(fd_from_name("2147483648"), -1);
	assert_int_equal(fd_from_name("99999999999999999999"), -1);
	assert_int_equal(fd_from_name("."), -1);
	assert_int_equal(fd_from_name(".."), -1);
	assert_int_equal(fd_from_name(""), -1);
	assert_int_equal(fd_from_name("12a"), -1);
	assert_int_equal(fd_from_name("-1"), -1);
	assert_int_equal(fd_from_name(" 1"), -1);
}

static void test_fdset(void **state)
{
	struct fdset s;

	(void)state;
	memset(&s, 0, sizeof(s));
	assert_false(fdset_has(&s, 0));
	fdset_add(&s, 0);
	fdset_add(&s, 2);
	fdset_add(&s, 9);
	fdset_add(&s, SPAWN_FDS_MAX - 1);
	/* Out of range: not recorded, and no write past the bits (ASan). */
	fdset_add(&s, SPAWN_FDS_MAX);
	fdset_add(&s, -1);
	assert_true(fdset_has(&s, 0));
	assert_false(fdset_has(&s, 1));
	assert_true(fdset_has(&s, 2));
	assert_false(fdset_has(&s, 8));
	assert_true(fdset_has(&s, 9));
	assert_false(fdset_has(&s, 10));
	assert_false(fdset_has(&s, SPAWN_FDS_MAX - 2));
	assert_true(fdset_has(&s, SPAWN_FDS_MAX - 1));
	/* Past the bits every fd counts as inherited: never touched. */
	assert_true(fdset_has(&s, SPAWN_FDS_MAX));
	assert_true(fdset_has(&s, INT_MAX));
	assert_false(fdset_has(&s, -1));
}

/* Opened before spawn_init (in main), without O_CLOEXEC: as if inherited. */
static int inherited_fd = -1;

/* Whether a child spawned now has fd open: it exits 0 when it has. */
static bool child_has_fd(int fd)
{
	char script[96];
	int st;

	snprintf(script, sizeof(script), "[ -e /proc/$$/fd/%d ]", fd);
	sigemptyset(&empty);
	st = spawn_wait((char *[]){ "/bin/sh", "-c", script, NULL }, &empty);
	assert_true(WIFEXITED(st));
	return WEXITSTATUS(st) == 0;
}

static void test_spawn_fds(void **state)
{
	int sv[2], own;

	(void)state;
	assert_true(inherited_fd > 2);
	/* What curl's multi handle does: a socketpair without CLOEXEC. */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	own = open("/dev/null", O_RDONLY);
	assert_true(own >= 0);
	assert_int_equal(fcntl(sv[0], F_GETFD) & FD_CLOEXEC, 0);

	assert_true(child_has_fd(0));
	assert_true(child_has_fd(1));
	assert_true(child_has_fd(2));
	assert_true(child_has_fd(inherited_fd));
	assert_false(child_has_fd(sv[0]));
	assert_false(child_has_fd(sv[1]));
	assert_false(child_has_fd(own));
	/* Ours are close-on-exec from now on, the inherited one is not. */
	assert_int_equal(fcntl(sv[0], F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
	assert_int_equal(fcntl(own, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
	assert_int_equal(fcntl(inherited_fd, F_GETFD) & FD_CLOEXEC, 0);
	close(sv[0]);
	close(sv[1]);
	close(own);

	/* Not recorded (spawn_init never ran): the fds are left as they are. */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	inherited_recorded = false;
	assert_true(child_has_fd(sv[0]));
	inherited_recorded = true;
	assert_false(child_has_fd(sv[0]));
	close(sv[0]);
	close(sv[1]);
}

/* No process could be made: lastcall's failure, not CMD's (125, not 126).
 * Out of fds (the error pipe) here; a fork refused by the pids limit is
 * test_hostile's (root's forks ignore RLIMIT_NPROC). */
static void test_spawn_no_process(void **state)
{
	struct rlimit old, none;
	pid_t pid = -1;
	int fd, r, st;

	(void)state;
	sigemptyset(&empty);
	fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	none = old;
	none.rlim_cur = (rlim_t)fd + 1; /* one fd: not the two of a pipe */
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &none), 0);
	r = spawn_child((char *[]){ "/bin/true", NULL }, &empty, &pid, &failure);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
	assert_int_equal(r, -EMFILE);
	assert_int_equal(failure, SPAWN_FAILED_START);
	assert_int_equal(pid, -1);
	assert_int_equal(waitpid(-1, &st, WNOHANG), -1);
}

static void spawn_round(long n, void *data)
{
	pid_t pid = -1;
	int r = spawn_child((char *[]){ "true", NULL }, &empty, &pid, &failure), st;

	(void)n;
	(void)data;
	if (failalloc.failed) {
		assert_int_equal(r, -ENOMEM);
		assert_int_equal(failure, SPAWN_FAILED_START);
		assert_int_equal(pid, -1);
		return;
	}
	assert_int_equal(r, 0);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static void test_spawn_alloc_fails(void **state)
{
	(void)state;
	if (failalloc_off())
		return;
	sigemptyset(&empty);
	assert_true(failalloc_each(spawn_round, NULL) >= 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_resolve_path_lookup),
		cmocka_unit_test(test_resolve_default_path),
		cmocka_unit_test(test_resolve_slash),
		cmocka_unit_test(test_resolve_empty_entry_is_cwd),
		cmocka_unit_test(test_resolve_errors),
		cmocka_unit_test(test_resolve_long_entry_skipped),
		cmocka_unit_test(test_spawn_runs),
		cmocka_unit_test(test_spawn_script_without_shebang),
		cmocka_unit_test(test_spawn_errors),
		cmocka_unit_test(test_spawn_no_process),
		cmocka_unit_test(test_spawn_alloc_fails),
		cmocka_unit_test(test_spawn_own_group),
		cmocka_unit_test(test_spawn_mask),
		cmocka_unit_test(test_spawn_dispositions_reset),
		cmocka_unit_test(test_fd_from_name),
		cmocka_unit_test(test_fdset),
		cmocka_unit_test(test_spawn_fds),
	};

	/* As main does: first thing, with one more fd open than 0, 1, 2. */
	inherited_fd = open("/dev/null", O_RDONLY);
	spawn_init();

	return cmocka_run_group_tests(tests, setup, teardown);
}
