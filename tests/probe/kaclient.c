/* kaclient - a keep-alive HTTP/1.1 load client that counts the way a
 * pooling client (Go's http.Transport, Node's http.Agent) fails.
 *
 * Usage: kaclient -c CONNS -d DURATION_MS [-t THINK_MS] [--timeout MS]
 *                 HOST:PORT [PATH]
 *
 * Each of CONNS connections sends GET PATH, waits for the whole response
 * (Content-Length, chunked, or up to EOF when neither), waits about
 * THINK_MS (from half to one and a half of it, drawn each time), and
 * sends the next one over the same connection. A response with
 * "Connection: close" (or an HTTP/1.0 one) ends the connection: the next
 * request opens a new one. After DURATION_MS no request starts; those in
 * flight finish (or time out), then one line goes to stdout; SIGINT or
 * SIGTERM ends the duration early (a test stops the load when the
 * scenario is over):
 *
 *   requests=N ok=N failed=N idle_closed=N connects=N fail_connect=N
 *   fail_reset=N fail_eof=N fail_timeout=N fail_status=N fail_bad=N ms=N
 *
 * A request is counted when it starts (its connect, for a new connection)
 * and fails when no complete 2xx response comes: connect refused or failed
 * (fail_connect), a reset (fail_reset), EOF before the response ended
 * (fail_eof), no response within --timeout (fail_timeout, default 10000),
 * a status other than 2xx (fail_status), an unparsable or oversized
 * response (fail_bad). A failed request ends its connection.
 *
 * A server closing a connection while no request is outstanding on it
 * (EOF or reset during the think time) is NOT a failure: it is counted in
 * idle_closed and the next request opens a new connection, as every
 * pooling client does. That is why the think-time figures do not come from
 * wrk: wrk keeps the socket readable between requests and, on EOF, asks
 * http_body_is_final() of a parser already reset for the next response,
 * so socket_readable() in its src/wrk.c counts the server's idle close as
 * a read error.
 *
 * Single process, one epoll loop; every buffer and count bounded. Exit:
 * 0 after the summary, 2 on bad arguments, 1 when it cannot set up.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define KA_CONNS_MAX 512	 /* under the default RLIMIT_NOFILE of 1024 */
#define KA_DURATION_MAX 3600000L /* one hour */
#define KA_THINK_MAX 600000L	 /* ten minutes */
#define KA_TIMEOUT_MAX 600000L	 /* ten minutes */
#define KA_RESP_MAX 65536	 /* one whole response, head and body */
#define KA_REQ_MAX 1024		 /* the request line and headers */
#define KA_PATH_MAX 512
/* After a failure the connection's next request waits at least this long:
 * a refused connect on loopback takes microseconds, and without a pause
 * the failure count would measure the machine's speed, not the outage. */
#define KA_FAIL_PAUSE_MS 100L
#define KA_EVENTS 64

enum ka_state { KA_WAIT, KA_CONNECT, KA_SEND, KA_READ, KA_DONE };
enum ka_fail { F_CONNECT, F_RESET, F_EOF, F_TIMEOUT, F_STATUS, F_BAD, F_N };
static const char *const fail_name[F_N] = { "connect", "reset", "eof", "timeout", "status", "bad" };

struct ka_conn {
	int fd;
	enum ka_state state;
	int64_t due; /* KA_WAIT: next request; otherwise: the request's deadline */
	size_t sent;
	size_t len;
	char buf[KA_RESP_MAX];
};

static struct {
	long requests, ok, failed, idle_closed, connects;
	long fail[F_N];
} st;

static int ep = -1;
static struct sockaddr_in addr;
static char req[KA_REQ_MAX];
static size_t req_len;
static long think_ms, timeout_ms = 10000;
static int64_t end_at;
static volatile sig_atomic_t stop_now;

static void on_stop(int sig)
{
	(void)sig;
	stop_now = 1;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void watch(struct ka_conn *c, int idx, uint32_t events, int op)
{
	struct epoll_event ev = { .events = events, .data.u32 = (uint32_t)idx };

	if (epoll_ctl(ep, op, c->fd, &ev) < 0) {
		perror("kaclient: epoll_ctl");
		exit(1);
	}
}

static void drop(struct ka_conn *c)
{
	if (c->fd >= 0)
		close(c->fd); /* leaves the epoll set with it */
	c->fd = -1;
	c->len = 0;
	c->sent = 0;
}

/* The request on c is over; the next one waits `pause` ms, or none comes
 * once the duration has passed. */
/* A think time between think_ms / 2 and 3 * think_ms / 2: a pool's
 * clients drift apart, where equal waits would keep them in lock-step
 * (the server's timers then line their answers up) and make every
 * connection idle, or busy, at the same moment. */
static long think(void)
{
	static uint64_t x;

	if (think_ms == 0)
		return 0;
	if (x == 0)
		x = (uint64_t)getpid() * 2654435761u + (uint64_t)now_ms();
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return think_ms / 2 + (long)(x % (uint64_t)(think_ms + 1));
}

static void next(struct ka_conn *c, long pause)
{
	int64_t now = now_ms();

	c->len = 0;
	c->sent = 0;
	if (now >= end_at) {
		drop(c);
		c->state = KA_DONE;
		return;
	}
	c->state = KA_WAIT;
	c->due = now + pause;
}

static void fail(struct ka_conn *c, enum ka_fail why)
{
	st.failed++;
	st.fail[why]++;
	drop(c);
	next(c, think_ms > KA_FAIL_PAUSE_MS ? think_ms : KA_FAIL_PAUSE_MS);
}

static void send_more(struct ka_conn *c, int idx)
{
	while (c->sent < req_len) {
		ssize_t n = send(c->fd, req + c->sent, req_len - c->sent, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			watch(c, idx, EPOLLOUT, EPOLL_CTL_MOD);
			return;
		}
		if (n < 0) {
			fail(c, F_RESET);
			return;
		}
		c->sent += (size_t)n;
	}
	c->state = KA_READ;
	watch(c, idx, EPOLLIN | EPOLLRDHUP, EPOLL_CTL_MOD);
}

/* Starts a request: over c's open connection, or on a new one. */
static void start(struct ka_conn *c, int idx)
{
	st.requests++;
	c->due = now_ms() + timeout_ms;
	c->len = 0;
	c->sent = 0;
	if (c->fd >= 0) {
		c->state = KA_SEND;
		send_more(c, idx);
		return;
	}
	st.connects++;
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		perror("kaclient: socket");
		exit(1);
	}
	int one = 1;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(c->fd, (struct sockaddr *)&addr, sizeof(addr)) == 0) {
		watch(c, idx, EPOLLOUT, EPOLL_CTL_ADD);
		c->state = KA_SEND;
		send_more(c, idx);
		return;
	}
	if (errno != EINPROGRESS) {
		fail(c, F_CONNECT);
		return;
	}
	c->state = KA_CONNECT;
	watch(c, idx, EPOLLOUT, EPOLL_CTL_ADD);
}

/* The value of header NAME (case-insensitive) in head[0..len), or NULL;
 * *vlen its length without surrounding blanks. */
static const char *header(const char *head, size_t len, const char *name, size_t *vlen)
{
	size_t nlen = strlen(name);
	const char *p = memchr(head, '\n', len), *end = head + len;

	while (p && p + 1 < end) {
		const char *line = p + 1, *eol = memchr(line, '\n', (size_t)(end - line));

		if (!eol)
			break;
		if ((size_t)(eol - line) > nlen && line[nlen] == ':' &&
		    strncasecmp(line, name, nlen) == 0) {
			const char *v = line + nlen + 1, *ve = eol;

			while (v < ve && (*v == ' ' || *v == '\t'))
				v++;
			while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t'))
				ve--;
			*vlen = (size_t)(ve - v);
			return v;
		}
		p = eol;
	}
	return NULL;
}

static int has_token(const char *v, size_t vlen, const char *tok)
{
	size_t tlen = strlen(tok);

	for (size_t i = 0; v && i + tlen <= vlen; i++)
		if (strncasecmp(v + i, tok, tlen) == 0)
			return 1;
	return 0;
}

/* Where a chunked body starting at b (n bytes) ends: its length, 0 while
 * incomplete, -1 when malformed. Trailers are skipped. */
static long chunked_end(const char *b, size_t n)
{
	size_t at = 0;

	for (int chunks = 0; chunks < KA_RESP_MAX; chunks++) {
		const char *eol = memchr(b + at, '\n', n - at);
		char *stop;

		if (!eol)
			return 0;
		unsigned long size = strtoul(b + at, &stop, 16);
		if (stop == b + at || size > KA_RESP_MAX)
			return -1;
		at = (size_t)(eol - b) + 1;
		if (size == 0) {
			/* Trailer lines, then the empty line. */
			for (;;) {
				eol = memchr(b + at, '\n', n - at);
				if (!eol)
					return 0;
				size_t l = (size_t)(eol - (b + at));
				at = (size_t)(eol - b) + 1;
				if (l == 0 || (l == 1 && b[at - 2] == '\r'))
					return (long)at;
			}
		}
		if (n - at < size + 2)
			return 0;
		at += size + 2;
	}
	return -1;
}

/* Looks at c's bytes: 1 when a whole response is there (ok or failure
 * counted, c moved on), 0 when more must come, eof: the server closed. */
static int parse(struct ka_conn *c, int eof)
{
	const char *head_end = NULL;
	size_t head, vlen;
	const char *v;
	int status, close_after, http10;
	long body = -1;

	for (size_t i = 0; i + 3 < c->len && !head_end; i++)
		if (memcmp(c->buf + i, "\r\n\r\n", 4) == 0)
			head_end = c->buf + i + 4;
	if (!head_end) {
		if (eof) {
			fail(c, c->len ? F_BAD : F_EOF);
			return 1;
		}
		if (c->len == sizeof(c->buf)) {
			fail(c, F_BAD);
			return 1;
		}
		return 0;
	}
	head = (size_t)(head_end - c->buf);
	if (c->len < 12 || strncmp(c->buf, "HTTP/1.", 7) != 0 ||
	    sscanf(c->buf + 9, "%3d", &status) != 1) {
		fail(c, F_BAD);
		return 1;
	}
	http10 = c->buf[7] == '0';
	v = header(c->buf, head, "connection", &vlen);
	close_after = has_token(v, vlen, "close") || (http10 && !has_token(v, vlen, "keep-alive"));
	v = header(c->buf, head, "transfer-encoding", &vlen);
	if (has_token(v, vlen, "chunked")) {
		body = chunked_end(head_end, c->len - head);
		if (body < 0) {
			fail(c, F_BAD);
			return 1;
		}
		if (body == 0)
			body = -1;
	} else if ((v = header(c->buf, head, "content-length", &vlen))) {
		char *stop;
		unsigned long cl = strtoul(v, &stop, 10);

		if (stop == v || cl > KA_RESP_MAX) {
			fail(c, F_BAD);
			return 1;
		}
		if (c->len - head >= cl)
			body = (long)cl;
	} else if (status == 204 || status == 304 || status / 100 == 1) {
		body = 0;
	} else if (eof) {
		body = (long)(c->len - head); /* delimited by the close */
		close_after = 1;
	}
	if (body < 0) {
		if (eof) {
			fail(c, F_EOF);
			return 1;
		}
		if (c->len == sizeof(c->buf)) {
			fail(c, F_BAD);
			return 1;
		}
		return 0;
	}
	if (status / 100 != 2) {
		st.failed++;
		st.fail[F_STATUS]++;
		drop(c); /* a failed request ends its connection, as fail() does */
		next(c, think_ms > KA_FAIL_PAUSE_MS ? think_ms : KA_FAIL_PAUSE_MS);
		return 1;
	}
	st.ok++;
	if (close_after || eof)
		drop(c);
	next(c, think());
	return 1;
}

static void readable(struct ka_conn *c)
{
	for (;;) {
		if (c->state == KA_WAIT) {
			/* Nothing outstanding: the server closing now is an idle
			 * close, never a failure. Bytes here are not ours either. */
			char junk[256];
			ssize_t n = recv(c->fd, junk, sizeof(junk), 0);

			if (n < 0 && (errno == EAGAIN || errno == EINTR))
				return;
			st.idle_closed++;
			drop(c);
			return;
		}
		ssize_t n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n < 0) {
			fail(c, F_RESET);
			return;
		}
		c->len += (size_t)n;
		if (parse(c, n == 0))
			return;
		if (c->len == sizeof(c->buf)) {
			fail(c, F_BAD);
			return;
		}
	}
}

static void event(struct ka_conn *c, int idx, uint32_t events)
{
	if (c->fd < 0)
		return;
	switch (c->state) {
	case KA_CONNECT: {
		int err = 0;
		socklen_t elen = sizeof(err);

		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0 || err) {
			fail(c, F_CONNECT);
			return;
		}
		if (!(events & EPOLLOUT))
			return;
		c->state = KA_SEND;
		send_more(c, idx);
		return;
	}
	case KA_SEND:
		if (events & (EPOLLERR | EPOLLHUP)) {
			fail(c, F_RESET);
			return;
		}
		send_more(c, idx);
		return;
	case KA_READ:
	case KA_WAIT:
		readable(c);
		return;
	case KA_DONE:
		return;
	}
}

static void usage(void)
{
	fprintf(stderr,
		"usage: kaclient -c CONNS -d DURATION_MS [-t THINK_MS] [--timeout MS] "
		"HOST:PORT [PATH]\n");
	exit(2);
}

static long number(const char *s, long lo, long hi, const char *what)
{
	char *stop;
	long v;

	errno = 0;
	v = strtol(s, &stop, 10);
	if (errno || stop == s || *stop || v < lo || v > hi) {
		fprintf(stderr, "kaclient: %s must be a number from %ld to %ld, got '%s'\n", what,
			lo, hi, s);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = { { "timeout", required_argument, NULL, 'T' },
						  { NULL, 0, NULL, 0 } };
	static struct ka_conn conns[KA_CONNS_MAX];
	long nconns = 0, duration = -1;
	const char *target, *path = "/";
	char host[64];
	int opt, n;
	int64_t start_at;

	while ((opt = getopt_long(argc, argv, "c:d:t:", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			nconns = number(optarg, 1, KA_CONNS_MAX, "-c");
			break;
		case 'd':
			duration = number(optarg, 1, KA_DURATION_MAX, "-d");
			break;
		case 't':
			think_ms = number(optarg, 0, KA_THINK_MAX, "-t");
			break;
		case 'T':
			timeout_ms = number(optarg, 1, KA_TIMEOUT_MAX, "--timeout");
			break;
		default:
			usage();
		}
	}
	if (nconns == 0 || duration < 0 || optind >= argc || argc - optind > 2)
		usage();
	target = argv[optind];
	if (optind + 1 < argc)
		path = argv[optind + 1];
	const char *colon = strrchr(target, ':');
	if (!colon || (size_t)(colon - target) >= sizeof(host) || strlen(path) > KA_PATH_MAX ||
	    path[0] != '/') {
		fprintf(stderr, "kaclient: want HOST:PORT (IPv4) and a PATH starting with /\n");
		exit(2);
	}
	memcpy(host, target, (size_t)(colon - target));
	host[colon - target] = '\0';
	addr.sin_family = AF_INET;
	addr.sin_port = htons((uint16_t)number(colon + 1, 1, 65535, "the port"));
	if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) {
		fprintf(stderr, "kaclient: '%s' is not an IPv4 address\n", host);
		exit(2);
	}
	n = snprintf(req, sizeof(req),
		     "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: kaclient\r\n\r\n", path, target);
	if (n < 0 || (size_t)n >= sizeof(req))
		usage();
	req_len = (size_t)n;

	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0) {
		perror("kaclient: epoll_create1");
		return 1;
	}
	/* No SA_RESTART: the signal interrupts epoll_wait, the loop ends the
	 * duration. */
	struct sigaction sa = { .sa_handler = on_stop };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	start_at = now_ms();
	end_at = start_at + duration;
	/* Spread the first requests over one think time: clients of a pool
	 * are not in lock-step. */
	for (long i = 0; i < nconns; i++) {
		conns[i].fd = -1;
		conns[i].state = KA_WAIT;
		conns[i].due = start_at + think_ms * i / nconns;
	}

	for (;;) {
		struct epoll_event evs[KA_EVENTS];
		int64_t now = now_ms(), wake = INT64_MAX;
		int live = 0;

		if (stop_now && end_at > now)
			end_at = now;
		for (long i = 0; i < nconns; i++) {
			struct ka_conn *c = &conns[i];

			if (c->state == KA_WAIT && now >= end_at) {
				drop(c);
				c->state = KA_DONE;
			}
			if (c->state == KA_DONE)
				continue;
			live = 1;
			if (c->state == KA_WAIT && now >= c->due)
				start(c, (int)i);
			else if (c->state != KA_WAIT && now >= c->due)
				fail(c, F_TIMEOUT);
			if (c->state != KA_DONE && c->due < wake)
				wake = c->due;
			if (c->state == KA_WAIT && end_at < wake)
				wake = end_at;
		}
		if (!live)
			break;
		now = now_ms();
		int ms = wake <= now ? 0 : wake - now > 1000 ? 1000 : (int)(wake - now);
		int got = epoll_wait(ep, evs, KA_EVENTS, ms);

		if (got < 0 && errno != EINTR) {
			perror("kaclient: epoll_wait");
			return 1;
		}
		for (int k = 0; k < got; k++) {
			int idx = (int)evs[k].data.u32;

			event(&conns[idx], idx, evs[k].events);
		}
	}
	printf("requests=%ld ok=%ld failed=%ld idle_closed=%ld connects=%ld", st.requests, st.ok,
	       st.failed, st.idle_closed, st.connects);
	for (int i = 0; i < F_N; i++)
		printf(" fail_%s=%ld", fail_name[i], st.fail[i]);
	printf(" ms=%lld\n", (long long)(now_ms() - start_at));
	return 0;
}
