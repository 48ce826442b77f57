/* spawn.c - see spawn.h. */
#include "spawn.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "limits.h"
#include "sig.h"

extern char **environ;

/* What Docker and Kubernetes put in PATH when the image sets none. */
static const char default_path[] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/* A set of fds below SPAWN_FDS_MAX. */
struct fdset {
	unsigned char bits[SPAWN_FDS_MAX / 8];
};

/*
 * The fds open when lastcall started (0, 1, 2, a runtime's LISTEN_FDS
 * sockets...): the app gets them as we got them. Every other fd is ours or
 * a library's, and the libraries do not all open theirs close-on-exec
 * (curl's multi handle makes a socketpair without SOCK_CLOEXEC), so
 * spawn_child marks them close-on-exec itself. lastcall never closes an
 * inherited fd, so a number in this set is never reused for one of ours.
 */
static struct fdset inherited;
static bool inherited_recorded;

static void fdset_add(struct fdset *s, int fd)
{
	if (fd >= 0 && fd < SPAWN_FDS_MAX)
		s->bits[fd / 8] |= (unsigned char)(1u << (fd % 8));
}

/* Whether fd is in s; every fd from SPAWN_FDS_MAX on is. Pure. */
static bool fdset_has(const struct fdset *s, int fd)
{
	if (fd < 0)
		return false;
	if (fd >= SPAWN_FDS_MAX)
		return true;
	return s->bits[fd / 8] & (1u << (fd % 8));
}

/* The fd an entry of /proc/self/fd names, or -1 ("." and ".."). Pure. */
static int fd_from_name(const char *name)
{
	int fd = 0;

	if (*name == '\0')
		return -1;
	for (; *name; name++) {
		int d = *name - '0';

		if (d < 0 || d > 9 || fd > (INT_MAX - d) / 10)
			return -1;
		fd = fd * 10 + d;
	}
	return fd;
}

/* Calls fn on every open fd but the one used to list them: those in
 * /proc/self/fd, or without /proc each below SPAWN_FDS_MAX that is open. */
static void fds_each(void (*fn)(int fd, void *data), void *data)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;

	if (!d) {
		for (int fd = 0; fd < SPAWN_FDS_MAX; fd++) {
			if (fcntl(fd, F_GETFD) >= 0)
				fn(fd, data);
		}
		return;
	}
	while ((e = readdir(d))) {
		int fd = fd_from_name(e->d_name);

		if (fd >= 0 && fd != dirfd(d))
			fn(fd, data);
	}
	closedir(d);
}

static void record_fd(int fd, void *data)
{
	fdset_add(data, fd);
}

void spawn_init(void)
{
	memset(&inherited, 0, sizeof(inherited));
	fds_each(record_fd, &inherited);
	inherited_recorded = true;
}

/* Marks fd close-on-exec unless it is in the set data. F_SETFD cannot
 * fail on an open fd; one closed meanwhile needs nothing. */
static void cloexec_own_fd(int fd, void *data)
{
	int flags;

	if (fdset_has(data, fd))
		return;
	flags = fcntl(fd, F_GETFD);
	if (flags >= 0 && !(flags & FD_CLOEXEC))
		fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
}

static int check_candidate(const char *p)
{
	struct stat st;

	if (stat(p, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EACCES;
	if (access(p, X_OK) < 0)
		return -errno;
	return 0;
}

int spawn_resolve(const char *file, const char *path, char *out, size_t size)
{
	size_t flen = strlen(file);
	int best = -ENOENT;

	if (flen == 0)
		return -ENOENT;
	if (strchr(file, '/')) {
		if (flen >= size)
			return -ENAMETOOLONG;
		memcpy(out, file, flen + 1);
		return 0;
	}
	if (!path)
		path = default_path;
	for (const char *p = path;; p++) {
		const char *end = strchr(p, ':');
		size_t dlen = end ? (size_t)(end - p) : strlen(p);
		char cand[SPAWN_PATH_MAX];

		/* An empty entry means the current directory, as in execvp. */
		if (dlen + 1 + flen + 1 <= sizeof(cand)) {
			if (dlen == 0)
				snprintf(cand, sizeof(cand), "%s", file);
			else
				snprintf(cand, sizeof(cand), "%.*s/%s", (int)dlen, p, file);
			int r = check_candidate(cand);
			if (r == 0) {
				if (strlen(cand) >= size)
					return -ENAMETOOLONG;
				memcpy(out, cand, strlen(cand) + 1);
				return 0;
			}
			if (r == -EACCES)
				best = -EACCES;
		}
		if (!end)
			break;
		p = end;
	}
	return best;
}

/* Child side: only async-signal-safe calls from here to exec. */
static void __attribute__((noreturn))
child_exec(const char *path, char *const argv[], char *const sh_argv[], const sigset_t *orig_mask,
	   bool take_tty, int errfd)
{
	struct sigaction dfl;
	int err;

	setpgid(0, 0);
	/* Still ignoring SIGTTOU here, so this cannot stop us. */
	if (take_tty)
		tcsetpgrp(STDIN_FILENO, getpgrp());
	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	for (int sig = 1; sig < NSIG; sig++)
		sigaction(sig, &dfl, NULL);
	sig_setmask(orig_mask, NULL);

	execve(path, argv, environ);
	/* A script without "#!": run it with the shell, as execvp does. */
	if (errno == ENOEXEC)
		execve("/bin/sh", sh_argv, environ);
	err = errno;
	while (write(errfd, &err, sizeof(err)) < 0 && errno == EINTR)
		;
	_exit(127);
}

int spawn_child(char *const argv[], const sigset_t *orig_mask, pid_t *ret_pid,
		enum spawn_failure *failure)
{
	char path[SPAWN_PATH_MAX];
	char **sh_argv = NULL;
	int pipefd[2] = { -1, -1 };
	bool take_tty = false;
	size_t argc = 0;
	pid_t pid;
	int err = 0, r;
	ssize_t n;

	*failure = SPAWN_FAILED_EXEC;
	r = spawn_resolve(argv[0], getenv("PATH"), path, sizeof(path));
	if (r < 0)
		return r;
	/* From here to the exec, a failure is ours. */
	*failure = SPAWN_FAILED_START;
	/* Everything the child needs is built here: it must not allocate. */
	while (argv[argc])
		argc++;
	sh_argv = calloc(argc + 2, sizeof(*sh_argv));
	if (!sh_argv)
		return -ENOMEM;
	sh_argv[0] = (char *)"sh";
	sh_argv[1] = path;
	for (size_t i = 1; i < argc; i++)
		sh_argv[i + 1] = argv[i];
	if (isatty(STDIN_FILENO) && tcgetpgrp(STDIN_FILENO) == getpgrp())
		take_tty = true;
	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		r = -errno;
		goto out;
	}
	/* Whatever a library opened since spawn_init stays ours. */
	if (inherited_recorded)
		fds_each(cloexec_own_fd, &inherited);

	pid = fork();
	if (pid < 0) {
		r = -errno;
		goto out;
	}
	if (pid == 0)
		child_exec(path, argv, sh_argv, orig_mask, take_tty, pipefd[1]);

	/* Also here, so signalling the group works even before the child runs. */
	setpgid(pid, pid);
	close(pipefd[1]);
	pipefd[1] = -1;
	do
		n = read(pipefd[0], &err, sizeof(err));
	while (n < 0 && errno == EINTR);
	if (n == sizeof(err)) {
		/* The exec failed: collect the child, it never ran CMD. */
		*failure = SPAWN_FAILED_EXEC;
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
		r = -err;
		goto out;
	}
	*ret_pid = pid;
	r = 0;
out:
	if (pipefd[0] >= 0)
		close(pipefd[0]);
	if (pipefd[1] >= 0)
		close(pipefd[1]);
	free(sh_argv);
	return r;
}
