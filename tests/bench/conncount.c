/* conncount - how fast lastcall counts a serving port's connections, next
 * to `ss` counting the same ones, in the same run.
 *
 * Usage: conncount CONNECTIONS ROUNDS
 *
 * Opens CONNECTIONS loopback connections to one listening port (client and
 * accepted side: twice as many sockets), spread over child processes so
 * that each stays under RLIMIT_NOFILE. Then, ROUNDS times and alternating
 * the order, counts the established connections on that port with
 * conn_dump (sock_diag with tcp_info, filtered in the kernel) and with
 * `ss -Htn state established sport = :PORT`, and the same without the
 * port filter. Prints medians and the ratio. Run it in a network namespace
 * of its own (tests/bench/run.sh does) so nothing else is counted.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "conn.h"

#define ROUNDS_MAX 1000
#define CHILDREN_MAX 64

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* A child: n connect+accept pairs, then "ready", then waits for EOF. */
static void hold(int lfd, const struct sockaddr_in *a, long n, int ready, int quit)
{
	char c = 'r';

	for (long i = 0; i < n; i++) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);

		if (fd < 0 || connect(fd, (const struct sockaddr *)a, sizeof(*a)) < 0) {
			fprintf(stderr, "conncount: connect #%ld: %s\n", i, strerror(errno));
			_exit(1);
		}
		if (accept(lfd, NULL, NULL) < 0) {
			fprintf(stderr, "conncount: accept #%ld: %s\n", i, strerror(errno));
			_exit(1);
		}
	}
	if (write(ready, &c, 1) != 1)
		_exit(1);
	while (read(quit, &c, 1) > 0)
		;
	_exit(0);
}

/* Runs ss with args, returns the number of lines it printed, or -1. */
static long run_ss(char *const argv[])
{
	int p[2];
	pid_t pid;
	char buf[65536];
	long lines = 0;
	ssize_t n;
	int st;

	if (pipe(p) < 0)
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		dup2(p[1], 1);
		close(p[0]);
		close(p[1]);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(p[1]);
	while ((n = read(p[0], buf, sizeof(buf))) > 0) {
		for (ssize_t i = 0; i < n; i++)
			lines += buf[i] == '\n';
	}
	close(p[0]);
	if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return -1;
	return lines;
}

static long count_dump(const uint16_t *port, size_t n_ports, struct conn *buf, size_t cap)
{
	size_t n = 0;
	long count = 0;
	int r = conn_dump(1u << CONN_TCP_ESTABLISHED, port, n_ports, buf, cap, &n);

	if (r < 0) {
		fprintf(stderr, "conncount: conn_dump: %s\n", strerror(-r));
		return -1;
	}
	/* Count as sup.c does: established, on the port (or all). */
	for (size_t i = 0; i < n; i++)
		count += buf[i].state == CONN_TCP_ESTABLISHED &&
			 (n_ports == 0 || buf[i].lport == *port);
	return count;
}

int main(int argc, char **argv)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t alen = sizeof(a);
	struct rlimit rl;
	long conns, per, n_children;
	int rounds, lfd, ready[2], quit[2];
	pid_t kids[CHILDREN_MAX];
	char sport[64];
	struct conn *buf;
	size_t cap;
	static double t[4][ROUNDS_MAX];
	long got[4] = { 0, 0, 0, 0 };

	if (argc != 3 || (conns = atol(argv[1])) < 1 || (rounds = atoi(argv[2])) < 1 ||
	    rounds > ROUNDS_MAX) {
		fprintf(stderr, "usage: conncount CONNECTIONS ROUNDS (1..%d)\n", ROUNDS_MAX);
		return 2;
	}
	getrlimit(RLIMIT_NOFILE, &rl);
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
	per = ((long)rl.rlim_cur - 64) / 2;
	n_children = (conns + per - 1) / per;
	if (per < 1 || n_children > CHILDREN_MAX) {
		fprintf(stderr, "conncount: RLIMIT_NOFILE %ld is too low for %ld connections\n",
			(long)rl.rlim_cur, conns);
		return 1;
	}

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(lfd, 4096) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&a, &alen) < 0 || pipe(ready) < 0 ||
	    pipe(quit) < 0) {
		fprintf(stderr, "conncount: setup: %s\n", strerror(errno));
		return 1;
	}
	for (long i = 0; i < n_children; i++) {
		long n = i + 1 < n_children ? per : conns - per * (n_children - 1);

		kids[i] = fork();
		if (kids[i] == 0) {
			close(ready[0]);
			close(quit[1]);
			hold(lfd, &a, n, ready[1], quit[0]);
		}
	}
	close(ready[1]);
	close(quit[0]);
	for (long i = 0; i < n_children; i++) {
		char c;
		if (read(ready[0], &c, 1) != 1) {
			fprintf(stderr, "conncount: a child failed to open its connections\n");
			return 1;
		}
	}

	uint16_t port = ntohs(a.sin_port);
	snprintf(sport, sizeof(sport), "sport = :%u", port);
	char *ss_port[] = { "ss", "-Htn", "state", "established", sport, NULL };
	char *ss_all[] = { "ss", "-Htn", "state", "established", NULL };
	cap = (size_t)conns * 2 + 1024;
	buf = calloc(cap, sizeof(*buf));
	if (!buf)
		return 1;

	for (int r = 0; r < rounds; r++) {
		for (int k = 0; k < 4; k++) {
			int m = (k + r) % 4; /* alternate who goes first */
			double t0 = now_ms();
			long c = m == 0	  ? count_dump(&port, 1, buf, cap)
				 : m == 1 ? run_ss(ss_port)
				 : m == 2 ? count_dump(NULL, 0, buf, cap)
					  : run_ss(ss_all);
			t[m][r] = now_ms() - t0;
			if (c < 0)
				return 1;
			got[m] = c;
		}
	}
	close(quit[1]);
	for (long i = 0; i < n_children; i++)
		waitpid(kids[i], NULL, 0);

	double md[4];
	for (int m = 0; m < 4; m++)
		md[m] = median(t[m], rounds);
	printf("sockets: %ld established (%ld connections to port %u), %d rounds, %ld processes\n",
	       conns * 2, conns, port, rounds, n_children);
	printf("%-46s %8s %10s\n", "method", "counted", "median ms");
	printf("%-46s %8ld %10.2f\n", "lastcall conn_dump, port filter, tcp_info", got[0], md[0]);
	printf("%-46s %8ld %10.2f\n", "ss -Htn state established sport = :PORT", got[1], md[1]);
	printf("%-46s %8ld %10.2f\n", "lastcall conn_dump, all, tcp_info", got[2], md[2]);
	printf("%-46s %8ld %10.2f\n", "ss -Htn state established", got[3], md[3]);
	printf("ratio ss / lastcall: %.1fx with the port filter, %.1fx without\n", md[1] / md[0],
	       md[3] / md[2]);
	if (got[0] != conns || got[1] != conns || got[2] != conns * 2 || got[3] != conns * 2) {
		fprintf(stderr, "conncount: counts disagree with the %ld connections opened\n",
			conns);
		return 1;
	}
	return 0;
}
