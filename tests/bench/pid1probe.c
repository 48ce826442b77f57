/* pid1probe - the child an init supervises in tests/bench/pid1.sh, and the
 * sender that times the init's signal forwarding.
 *
 * Usage:
 *   pid1probe child DIR SECONDS   under the init: answer SIGUSR1s
 *   pid1probe orphans DIR N       under the init: make N orphans, time
 *                                 their reaping
 *   pid1probe send DIR PID N      outside: N SIGUSR1s to PID, one at a time
 *
 * child blocks the signals it takes, opens the FIFO DIR/ack (made by the
 * driver) and creates DIR/ready. Then, for SECONDS at most, it reads its
 * signals with sigtimedwait: for a SIGUSR1 it writes CLOCK_MONOTONIC (ns,
 * a uint64_t) to DIR/ack; SIGUSR2, SIGTERM or SIGINT end it (status 0).
 *
 * send, in the parent PID namespace (CLOCK_MONOTONIC is the same there),
 * reads the clock just before each kill(PID, SIGUSR1), then waits for the
 * child's time on DIR/ack before the next signal: the difference is how
 * long the init took to pass the signal on, wake-up of the child included.
 * Prints "p50_us=.. p99_us=.. max_us=.. n=N" after WARMUP unrecorded ones.
 *
 * orphans forks a middle process that forks N grandchildren and exits
 * (reaped by orphans itself): each grandchild is an orphan of the init,
 * blocked on a read of a pipe. Once all exist, it closes the pipe: they
 * all exit at once, and only the init can reap them. A reaped PID gives ESRCH to
 * kill(pid, 0), a zombie does not; the time from the close to the last
 * ESRCH is the init's. Writes "orphans=N seconds=S" to DIR/orphans.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SIGNALS_MAX 100000
#define ORPHANS_MAX 20000
#define WARMUP 100
/* An init that has not passed a signal on in this long lost it. */
#define ACK_TIMEOUT_MS 2000
/* Bounds of the orphans mode: making them, then their reaping. */
#define ORPHANS_MAKE_S 60
#define ORPHANS_REAP_S 60
#define CHILD_MAX_S 600

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *what)
{
	fprintf(stderr, "pid1probe: %s: %s\n", what, strerror(errno));
	exit(1);
}

static long arg_long(const char *s, long min, long max)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max) {
		fprintf(stderr, "pid1probe: bad number %s (%ld..%ld)\n", s, min, max);
		exit(2);
	}
	return v;
}

/* Writes text to DIR/NAME whole: through a temporary file and rename(2), so
 * that the driver, polling for NAME, never reads half of it. */
static int put_file(const char *dir, const char *name, const char *text)
{
	char tmp[4096], path[4096];
	size_t len = strlen(text);
	int fd, ok;

	snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", dir, name);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	ok = write(fd, text, len) == (ssize_t)len;
	if (close(fd) < 0 || !ok)
		return -EIO;
	return rename(tmp, path) < 0 ? -errno : 0;
}

static int run_child(const char *dir, long max_s)
{
	char path[4096];
	sigset_t set;
	uint64_t deadline = now_ns() + (uint64_t)max_s * 1000000000u;
	struct timespec tick = { 1, 0 };
	int ack;

	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGUSR2);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		die("sigprocmask");
	snprintf(path, sizeof(path), "%s/ack", dir);
	/* O_RDWR: a FIFO opened so does not wait for the reader. */
	ack = open(path, O_RDWR | O_CLOEXEC);
	if (ack < 0)
		die(path);
	if (put_file(dir, "ready", "child\n") < 0)
		die("ready");
	while (now_ns() < deadline) {
		int sig = sigtimedwait(&set, NULL, &tick);
		uint64_t t = now_ns();

		if (sig == SIGUSR1) {
			if (write(ack, &t, sizeof(t)) != (ssize_t)sizeof(t))
				die("write ack");
		} else if (sig > 0) {
			return 0;
		} else if (errno != EAGAIN && errno != EINTR) {
			die("sigtimedwait");
		}
	}
	fprintf(stderr, "pid1probe: child: no stop signal in %ld s\n", max_s);
	return 1;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int run_send(const char *dir, pid_t pid, long n)
{
	char path[4096];
	uint64_t *lat;
	int ack;

	lat = calloc((size_t)n, sizeof(*lat));
	if (!lat)
		die("calloc");
	snprintf(path, sizeof(path), "%s/ack", dir);
	ack = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (ack < 0)
		die(path);
	for (long i = 0; i < WARMUP + n; i++) {
		struct pollfd p = { .fd = ack, .events = POLLIN };
		uint64_t t0, t1;
		ssize_t r;

		t0 = now_ns();
		if (kill(pid, SIGUSR1) < 0)
			die("kill");
		if (poll(&p, 1, ACK_TIMEOUT_MS) != 1) {
			fprintf(stderr, "pid1probe: send: signal #%ld not passed on in %d ms\n", i,
				ACK_TIMEOUT_MS);
			return 1;
		}
		r = read(ack, &t1, sizeof(t1));
		if (r != (ssize_t)sizeof(t1))
			die("read ack");
		if (i >= WARMUP)
			lat[i - WARMUP] = t1 > t0 ? t1 - t0 : 0;
	}
	qsort(lat, (size_t)n, sizeof(*lat), cmp_u64);
	printf("p50_us=%.1f p99_us=%.1f max_us=%.1f n=%ld\n", (double)lat[n / 2] / 1e3,
	       (double)lat[n * 99 / 100] / 1e3, (double)lat[n - 1] / 1e3, n);
	free(lat);
	close(ack);
	return 0;
}

/* The middle process: forks n grandchildren, writes their PIDs to pids
 * and exits, so that all of them become the init's at once. Each waits
 * for EOF on gate, then exits. */
static void middle(int gate[2], int pids, long n)
{
	uint64_t deadline = now_ns() + ORPHANS_MAKE_S * 1000000000ull;
	char c;

	for (long i = 0; i < n && now_ns() < deadline; i++) {
		pid_t pid = fork();

		if (pid == 0) {
			close(gate[1]);
			close(pids);
			while (read(gate[0], &c, 1) < 0 && errno == EINTR)
				;
			_exit(0);
		}
		if (pid < 0 || write(pids, &pid, sizeof(pid)) != sizeof(pid))
			_exit(1);
	}
	_exit(0);
}

static int run_orphans(const char *dir, long n)
{
	struct timespec nap = { 0, 100000 }, settle = { 0, 200000000 };
	size_t got = 0, want = (size_t)n * sizeof(pid_t);
	char text[128];
	pid_t *pid, mid;
	int gate[2], pids[2], st;
	uint64_t t0, t1;
	long made, left = 0;
	ssize_t r;

	pid = calloc((size_t)n, sizeof(*pid));
	if (!pid)
		die("calloc");
	if (pipe2(gate, O_CLOEXEC) < 0 || pipe2(pids, O_CLOEXEC) < 0)
		die("pipe");
	mid = fork();
	if (mid < 0)
		die("fork");
	if (mid == 0)
		middle(gate, pids[1], n);
	close(pids[1]);
	/* EOF once the middle process and every grandchild closed pids. */
	while (got < want) {
		r = read(pids[0], (char *)pid + got, want - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	made = (long)(got / sizeof(pid_t));
	if (waitpid(mid, &st, 0) != mid)
		die("waitpid");
	/* Let the last grandchildren reach their read(2). */
	nanosleep(&settle, NULL);
	t0 = now_ns();
	close(gate[1]);
	for (long i = 0; i < made; i++) {
		while (kill(pid[i], 0) == 0 && now_ns() - t0 < ORPHANS_REAP_S * 1000000000ull)
			nanosleep(&nap, NULL);
		if (kill(pid[i], 0) == 0)
			left++;
	}
	t1 = now_ns();
	free(pid);
	if (made < n || !WIFEXITED(st) || WEXITSTATUS(st)) {
		fprintf(stderr, "pid1probe: orphans: made %ld of %ld\n", made, n);
		return 1;
	}
	if (left) {
		fprintf(stderr, "pid1probe: orphans: %ld of %ld not reaped in %d s\n", left, n,
			ORPHANS_REAP_S);
		return 1;
	}
	snprintf(text, sizeof(text), "orphans=%ld seconds=%.6f\n", n, (double)(t1 - t0) / 1e9);
	if (put_file(dir, "orphans", text) < 0)
		die("orphans file");
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "child"))
		return run_child(argv[2], arg_long(argv[3], 1, CHILD_MAX_S));
	if (argc == 4 && !strcmp(argv[1], "orphans"))
		return run_orphans(argv[2], arg_long(argv[3], 1, ORPHANS_MAX));
	if (argc == 5 && !strcmp(argv[1], "send"))
		return run_send(argv[2], (pid_t)arg_long(argv[3], 2, 1L << 22),
				arg_long(argv[4], 1, SIGNALS_MAX));
	fprintf(stderr, "usage: pid1probe child DIR SECONDS | orphans DIR N | send DIR PID N\n");
	return 2;
}
