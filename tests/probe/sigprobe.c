/* sigprobe - records every signal it receives, one "sig=N" line each.
 *
 * Usage: sigprobe OUT [--child OUT2] [--exit-on SIG [CODE]]
 *   OUT            file the records go to ("ready" first, once set up)
 *   --child OUT2   also fork a child in the same process group that
 *                  records into OUT2 (to tell group from child targeting)
 *   --exit-on SIG  exit with CODE (default 0) after recording SIG
 * Handlers write with write(2) only; the main loop just pauses.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int out_fd = -1;
static int exit_sig = 0;
static int exit_code = 0;

static void record(int sig)
{
	char line[32];
	int saved = errno;
	int n = snprintf(line, sizeof(line), "sig=%d\n", sig);

	if (write(out_fd, line, (size_t)n) < 0)
		_exit(99);
	if (sig == exit_sig)
		_exit(exit_code);
	errno = saved;
}

static void setup(const char *path)
{
	struct sigaction sa;

	out_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (out_fd < 0) {
		perror(path);
		exit(98);
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = record;
	sigfillset(&sa.sa_mask);
	for (int sig = 1; sig < NSIG; sig++) {
		if (sig == SIGKILL || sig == SIGSTOP)
			continue;
		sigaction(sig, &sa, NULL);
	}
}

static void ready(void)
{
	sigset_t none;

	if (write(out_fd, "ready\n", 6) < 0)
		_exit(99);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (;;)
		pause();
}

int main(int argc, char **argv)
{
	const char *child_out = NULL;
	sigset_t all;

	if (argc < 2) {
		fprintf(stderr, "usage: sigprobe OUT [--child OUT2] [--exit-on SIG [CODE]]\n");
		return 2;
	}
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--child") == 0 && i + 1 < argc)
			child_out = argv[++i];
		else if (strcmp(argv[i], "--exit-on") == 0 && i + 1 < argc) {
			exit_sig = atoi(argv[++i]);
			if (i + 1 < argc && argv[i + 1][0] != '-')
				exit_code = atoi(argv[++i]);
		}
	}
	/* Hold signals until the handlers are in place and "ready" is out. */
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	if (child_out) {
		pid_t pid = fork();
		if (pid < 0)
			return 97;
		if (pid == 0) {
			setup(child_out);
			ready();
		}
	}
	setup(argv[1]);
	ready();
}
