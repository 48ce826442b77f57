/* flood - COUNT HTTP requests to 127.0.0.1:PORT, one per connection (the
 * endpoints close each after its answer), from WORKERS processes side by
 * side, worker w from the addresses 127.3.w.1 to 127.3.w.250 in turn;
 * the paths in turn. The server closes first, so each connection leaves a
 * TIME_WAIT behind on its side: with one source address, 100,000 would
 * wrap the ephemeral ports and meet their own TIME_WAITs (a SYN then waits
 * for its retransmission, a second).
 *
 * Usage: flood PORT COUNT WORKERS PATH...
 * Prints one line: "requests N ok A other B failed C ms T": A answered
 * 200, B answered something else, C got no status line (refused, reset,
 * nothing within 2 s). Exits 0 when every request was made.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define WORKERS_MAX 32

struct counts {
	long ok, other, failed;
};

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One request: 200, another status, or -1 (no answer). */
static int one(int port, int w, long i, const char *path)
{
	struct sockaddr_in src = { .sin_family = AF_INET };
	struct sockaddr_in dst = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	struct timeval tv = { .tv_sec = 2 };
	char req[256], buf[4096];
	size_t len = 0;
	int fd, code = -1;
	ssize_t n;

	src.sin_addr.s_addr = htonl(0x7f030001u + ((uint32_t)w << 8) + (uint32_t)(i % 250));
	dst.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (bind(fd, (struct sockaddr *)&src, sizeof(src)) < 0 ||
	    connect(fd, (struct sockaddr *)&dst, sizeof(dst)) < 0)
		goto out;
	n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
		     path);
	if (send(fd, req, (size_t)n, MSG_NOSIGNAL) != n)
		goto out;
	/* To the close: the whole answer is read, as a prober would. */
	while (len + 1 < sizeof(buf) && (n = recv(fd, buf + len, sizeof(buf) - 1 - len, 0)) > 0)
		len += (size_t)n;
	while (n > 0 && (n = recv(fd, buf, sizeof(buf), 0)) > 0)
		;
	buf[len] = '\0';
	if (strncmp(buf, "HTTP/1.1 ", 9) == 0)
		code = atoi(buf + 9);
out:
	close(fd);
	return code;
}

int main(int argc, char **argv)
{
	struct counts all = { 0 }, c;
	int port, workers, fds[WORKERS_MAX];
	long count, t0;

	if (argc < 5) {
		fprintf(stderr, "usage: flood PORT COUNT WORKERS PATH...\n");
		return 2;
	}
	port = atoi(argv[1]);
	count = atol(argv[2]);
	workers = atoi(argv[3]);
	if (port <= 0 || count <= 0 || workers <= 0 || workers > WORKERS_MAX) {
		fprintf(stderr, "flood: bad arguments\n");
		return 2;
	}
	t0 = now_ms();
	for (int w = 0; w < workers; w++) {
		int p[2];

		if (pipe(p) < 0)
			return 1;
		pid_t pid = fork();
		if (pid < 0)
			return 1;
		if (pid == 0) {
			struct counts mine = { 0 };

			close(p[0]);
			for (long i = w; i < count; i += workers) {
				int code = one(port, w, i / workers, argv[4 + i % (argc - 4)]);

				if (code == 200)
					mine.ok++;
				else if (code > 0)
					mine.other++;
				else
					mine.failed++;
			}
			_exit(write(p[1], &mine, sizeof(mine)) == sizeof(mine) ? 0 : 1);
		}
		close(p[1]);
		fds[w] = p[0];
	}
	for (int w = 0; w < workers; w++) {
		if (read(fds[w], &c, sizeof(c)) == sizeof(c)) {
			all.ok += c.ok;
			all.other += c.other;
			all.failed += c.failed;
		}
		close(fds[w]);
	}
	while (wait(NULL) > 0 || errno == EINTR)
		;
	printf("requests %ld ok %ld other %ld failed %ld ms %ld\n", all.ok + all.other + all.failed,
	       all.ok, all.other, all.failed, now_ms() - t0);
	return all.ok + all.other + all.failed == count ? 0 : 1;
}
