/* fdlist - prints the file descriptors it was started with, one line each:
 * "fd=N target=WHAT" (the readlink of /proc/self/fd/N), then "fdlist done",
 * and exits 0. The directory stream it reads them through is left out. With
 * an argument, it then waits for SIGTERM (and exits 0 on it), so that a
 * test can look at the supervisor around it while it runs.
 */
#include <dirent.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	char path[64], target[PATH_MAX];
	struct dirent *e;
	sigset_t set;
	DIR *d;
	int sig;

	(void)argv;
	/* Before anything else opens an fd of its own. */
	d = opendir("/proc/self/fd");
	if (!d) {
		perror("fdlist: /proc/self/fd");
		return 1;
	}
	while ((e = readdir(d))) {
		int fd;
		ssize_t n;

		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		fd = atoi(e->d_name);
		if (fd == dirfd(d))
			continue;
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		n = readlink(path, target, sizeof(target) - 1);
		target[n < 0 ? 0 : n] = '\0';
		printf("fd=%d target=%s\n", fd, target);
	}
	closedir(d);
	printf("fdlist done\n");
	fflush(stdout);
	if (argc < 2)
		return 0;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigprocmask(SIG_BLOCK, &set, NULL);
	while (sigwait(&set, &sig) != 0)
		;
	return 0;
}
