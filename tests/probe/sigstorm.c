/* sigstorm - COUNT signals to PID as fast as they can be sent, the kinds
 * given in turn; then, for each kind, "last N" appended to OUT and that
 * signal sent once more. A receiver that records into OUT too (sigprobe)
 * has got a kind after its last sending when a "sig=N" line follows the
 * "last N" line: the marker is written before that kill(2), so a record
 * after it is of a delivery after the marker.
 *
 * Usage: sigstorm PID COUNT OUT SIG...
 * Prints "sent N eagain E ms T" (E: kills refused with EAGAIN, a full
 * queue of real-time signals, not counted in N; T: the storm, markers
 * included), then "sig S sent K" for each kind.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define KINDS_MAX 32

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int main(int argc, char **argv)
{
	int sigs[KINDS_MAX], kinds = argc - 4, fd;
	long per[KINDS_MAX] = { 0 };
	long count, sent = 0, eagain = 0, t0;
	pid_t pid;

	if (argc < 5 || kinds > KINDS_MAX) {
		fprintf(stderr, "usage: sigstorm PID COUNT OUT SIG...\n");
		return 2;
	}
	pid = (pid_t)atoi(argv[1]);
	count = atol(argv[2]);
	for (int k = 0; k < kinds; k++) {
		sigs[k] = atoi(argv[4 + k]);
		if (sigs[k] <= 0 || sigs[k] >= NSIG)
			return 2;
	}
	fd = open(argv[3], O_WRONLY | O_APPEND | O_CLOEXEC);
	if (pid <= 1 || count <= 0 || fd < 0) {
		fprintf(stderr, "sigstorm: bad arguments\n");
		return 2;
	}
	t0 = now_ms();
	for (long i = 0; i < count; i++) {
		if (kill(pid, sigs[i % kinds]) == 0) {
			sent++;
			per[i % kinds]++;
		} else if (errno == EAGAIN)
			eagain++;
		else
			return 1;
	}
	for (int k = 0; k < kinds; k++) {
		char line[32];
		int n = snprintf(line, sizeof(line), "last %d\n", sigs[k]);

		if (write(fd, line, (size_t)n) != n)
			return 1;
		/* A real-time queue still full: retried, briefly. */
		for (int tries = 0; kill(pid, sigs[k]) < 0; tries++) {
			struct timespec ms = { 0, 1000000 };

			if (errno != EAGAIN || tries > 2000)
				return 1;
			nanosleep(&ms, NULL);
		}
		sent++;
		per[k]++;
	}
	printf("sent %ld eagain %ld ms %ld\n", sent, eagain, now_ms() - t0);
	for (int k = 0; k < kinds; k++)
		printf("sig %d sent %ld\n", sigs[k], per[k]);
	return 0;
}
