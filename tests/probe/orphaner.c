/* orphaner - makes N orphans for the reaping tests, then waits.
 *
 * Usage: orphaner N
 * Each of N rounds forks a middle process that forks a grandchild and
 * exits at once; the grandchild is re-parented to the nearest subreaper
 * (lastcall) and exits. The middle processes are reaped here. Prints
 * "done N" when all rounds are over, then sleeps until signalled.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 0;

	for (int i = 0; i < n; i++) {
		pid_t mid = fork();
		if (mid < 0) {
			perror("fork");
			return 1;
		}
		if (mid == 0) {
			if (fork() < 0)
				_exit(1);
			_exit(0);
		}
		while (waitpid(mid, NULL, 0) < 0)
			;
	}
	printf("done %d\n", n);
	fflush(stdout);
	for (;;)
		pause();
}
