/* fuzz_httpd.c - raw bytes from a client to the real endpoints: httpd.c
 * and libmicrohttpd on lastcall's own loop, over real sockets.
 *
 * Per input, as the supervisor does: httpd_new on a loopback TCP port and
 * a control socket path. The input goes to one of them as a client would
 * send it; the loop runs until everything has settled; then the client
 * shuts its write side, and once that has settled too, httpd_free ends it
 * (answering whoever still waits: libmicrohttpd aborts when stopped with
 * a connection suspended). The owner is a stand-in with the drain's phase
 * in one variable and its bodies made by report.c, as shut.c makes them.
 * A long poll (/wait, /prestop) still parked once all else has settled is
 * released as a phase change releases it: the stand-in moves to "done"
 * and calls httpd_notify, as shut.c does.
 *
 * Settled: nothing of the loop's is ready, its timers included (a poll of
 * its epoll fd; libmicrohttpd's epoll fds are in it, and work it has
 * queued arms a timer due now). It cannot be told from the client's side:
 * libmicrohttpd's epoll is edge-triggered, so a request and the end of
 * the stream that arrive together are one event, and it reads the request
 * but never sees the end; such a connection stays open until its idle
 * timeout. So the client shuts its write side only once the server has
 * taken all it sent. loop.c is included (the target is linked without
 * loop.o) for its epoll fd; httpd.c is used through its header only.
 *
 * Input: byte 0 is the setup: bit 0 the control socket (else TCP), bit 1
 * the TCP client from 127.0.0.6 (a mesh proxy's address: /prestop is
 * refused) instead of 127.0.0.1, bit 2 --allow-from 127.0.0.0/8, bit 3
 * the drain off (--drain-on none), bits 4-6 the phase at the start (7:
 * serving, and parked requests are never released: httpd_free, as at
 * lastcall's exit, has to answer them), bit 7 the client's write side shut
 * before parked requests are released (a caller that gave up: httpd.c
 * must notice it is gone). The rest is what the client sends.
 *
 * Promises checked: everything settles within FUZZ_PASSES_MAX loop
 * passes; the server closes the connection once the client has shut its
 * side; whatever comes back is HTTP.
 */
#include "../../helper/loop.c"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "drain.h"
#include "httpd.h"
#include "log.h"
#include "report.h"

#include "fuzz.h"

/* Loop passes an input may take to settle; a handful is usual. */
#define FUZZ_PASSES_MAX 10000
/* Waits of 10 ms for the server's close once all has settled (1 s). */
#define FUZZ_WAITS_MAX 100
#define FUZZ_REPLY_MAX (256 * 1024)

/* The stand-in for shut.c. */
struct owner {
	struct httpd *h;
	enum drain_phase phase;
	bool drain_off;
};

/* The client's end. */
struct client {
	int fd;
	const uint8_t *out;
	size_t out_len, sent;
	char reply[FUZZ_REPLY_MAX];
	size_t got;
	bool closed;
};

static struct loop *loop;
static int pass_fd = -1;
static char sock_dir[64], sock_path[128];
static char listen_addr[32];

static void snapshot(const struct owner *o, struct report *r)
{
	static const uint16_t ports[] = { 8080 };

	memset(r, 0, sizeof(*r));
	r->phase = o->phase;
	r->ready = o->phase == DRAIN_SERVING;
	r->since_t0 = o->phase == DRAIN_SERVING ? -1 : 1234;
	r->deadline_ms = o->phase == DRAIN_SERVING ? -1 : 29000;
	for (int p = 0; p < DRAIN_PHASES; p++)
		r->phase_ms[p] = p <= (int)o->phase && p > 0 ? 100 * p : -1;
	r->grace_ms = 30000;
	r->inflight = 1;
	r->connections = 2;
	r->ports = ports;
	r->n_ports = 1;
}

static bool op_ready(void *data)
{
	return ((struct owner *)data)->phase == DRAIN_SERVING;
}

static size_t op_status(void *data, char *buf, size_t size)
{
	struct report r;

	snapshot(data, &r);
	return report_status(&r, buf, size);
}

static size_t op_metrics(void *data, char *buf, size_t size)
{
	struct report r;

	snapshot(data, &r);
	return report_metrics(&r, buf, size);
}

/* As shut.c: the first trigger starts the drain, and the phase change is
 * told to httpd (which may be calling us from a handler). */
static void op_drain(void *data, const char *origin)
{
	struct owner *o = data;

	FUZZ_ASSERT(origin && *origin);
	if (o->drain_off || o->phase != DRAIN_SERVING)
		return;
	o->phase = DRAIN_UNREADY;
	httpd_notify(o->h);
}

static int op_phase(void *data)
{
	return (int)((struct owner *)data)->phase;
}

static const struct httpd_ops ops = {
	.ready = op_ready,
	.status = op_status,
	.metrics = op_metrics,
	.drain = op_drain,
	.phase = op_phase,
};

/* Ends a pass of the loop. An eventfd rather than a timer: a timer due
 * now would stop the loop before what epoll lists after it in the same
 * batch, every time; the eventfd is made ready after all that is ready
 * already, and epoll lists ready fds in that order. */
static void on_pass(struct loop *l, int fd, uint32_t events, void *data)
{
	uint64_t n;

	(void)events;
	(void)data;
	if (read(fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		abort();
	loop_stop(l);
}

static void cleanup(void)
{
	unlink(sock_path);
	rmdir(sock_dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *tmp = getenv("TMPDIR");
	int log_fd;

	(void)argc;
	(void)argv;
	/* Our end may be written to after the server closed. */
	signal(SIGPIPE, SIG_IGN);
	/* The log at lastcall's default level, formatted and thrown away:
	 * libmicrohttpd's own messages are debug lines, which formatted
	 * for every input took half the time (the formatter has its own
	 * target, fuzz_log). FUZZ_HTTPD_LOG=1 shows every line, debug
	 * included. */
	log_fd = getenv("FUZZ_HTTPD_LOG") ? 2 : open("/dev/null", O_WRONLY | O_CLOEXEC);
	log_setup(getenv("FUZZ_HTTPD_LOG") ? LOG_DEBUG : LOG_INFO, LOG_FMT_JSON, log_fd);
	snprintf(sock_dir, sizeof(sock_dir), "%s/lastcall-fuzz-httpd.XXXXXX",
		 tmp && strlen(tmp) < 32 ? tmp : "/tmp");
	if (!mkdtemp(sock_dir) || loop_new(&loop) < 0) {
		perror("fuzz_httpd: setup");
		exit(1);
	}
	snprintf(sock_path, sizeof(sock_path), "%s/control.sock", sock_dir);
	atexit(cleanup);
	/* One TCP port for every input. The server closes first (one request
	 * per TCP connection), so its end of each connection stays in
	 * TIME_WAIT for a minute, holding the port it listened on: a new
	 * port per input would soon leave none to bind. Its own port, with
	 * SO_REUSEADDR as httpd.c sets it, binds again at once. */
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) < 0) {
		perror("fuzz_httpd: a port");
		exit(1);
	}
	close(fd);
	snprintf(listen_addr, sizeof(listen_addr), "127.0.0.1:%d", ntohs(sa.sin_port));
	pass_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (pass_fd < 0 || loop_add(loop, pass_fd, EPOLLIN, on_pass, NULL) < 0) {
		perror("fuzz_httpd: eventfd");
		exit(1);
	}
	return 0;
}

/* One pass of the loop: what is ready now, and the timers that are due. */
static void run_once(void)
{
	uint64_t one = 1;

	FUZZ_ASSERT(write(pass_fd, &one, sizeof(one)) == sizeof(one));
	FUZZ_ASSERT(loop_run(loop) == 0);
}

/* Nothing of the loop's is ready (our own eventfd is read by now). */
static bool settled(void)
{
	struct pollfd p = { .fd = loop->epfd, .events = POLLIN };

	return poll(&p, 1, 0) == 0;
}

/* Sends what the socket takes of the rest of the input. */
static void client_send(struct client *c)
{
	while (c->sent < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->sent, c->out_len - c->sent, MSG_NOSIGNAL);
		if (n > 0) {
			c->sent += (size_t)n;
		} else {
			if (n < 0 && errno != EAGAIN && errno != EINTR)
				c->sent = c->out_len; /* the server closed: no more */
			return;
		}
	}
}

/* Reads what has come back. */
static void client_recv(struct client *c)
{
	char tmp[4096];

	while (!c->closed) {
		ssize_t n = recv(c->fd, tmp, sizeof(tmp), 0);
		if (n > 0) {
			size_t keep = (size_t)n;
			if (keep > sizeof(c->reply) - c->got)
				keep = sizeof(c->reply) - c->got;
			memcpy(c->reply + c->got, tmp, keep);
			c->got += keep;
		} else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
			c->closed = true;
		} else {
			return;
		}
	}
}

/* A client socket connected to the endpoint setup asks for. */
static int client_connect(const struct httpd *h, uint8_t setup)
{
	int fd;

	if (setup & 1) {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock_path);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			close(fd);
			return -1;
		}
		return fd;
	}
	struct sockaddr_in to = { .sin_family = AF_INET }, from = { .sin_family = AF_INET };
	int one = 1;
	to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	to.sin_port = htons((uint16_t)httpd_port(h));
	from.sin_addr.s_addr = htonl(0x7f000006);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -1;
	/* From 127.0.0.6: the port is picked at connect, as for any client. */
	if ((setup & 2) &&
	    (setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one)) < 0 ||
	     bind(fd, (struct sockaddr *)&from, sizeof(from)) < 0)) {
		close(fd);
		return -1;
	}
	if (connect(fd, (struct sockaddr *)&to, sizeof(to)) < 0 && errno != EINPROGRESS) {
		close(fd);
		return -1;
	}
	return fd;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct client c;
	struct owner o = { 0 };
	struct httpd_acl acl = { .n = 0 };
	char err[256];
	bool released = false, shut = false, shut_first, hold;
	int pass, waits = 0;

	if (size < 1 || size > 64 * 1024)
		return 0;
	shut_first = data[0] & 0x80;
	o.drain_off = data[0] & 8;
	o.phase = (enum drain_phase)((data[0] >> 4 & 7) % DRAIN_PHASES);
	hold = (data[0] >> 4 & 7) == DRAIN_PHASES;
	if (o.drain_off)
		o.phase = DRAIN_SERVING;
	if (data[0] & 4)
		FUZZ_ASSERT(httpd_acl_add(&acl, "127.0.0.0/8", err, sizeof(err)) == 0);
	if (httpd_new(loop, listen_addr, sock_path, &acl, &ops, &o, &o.h, err, sizeof(err)) < 0) {
		fprintf(stderr, "fuzz_httpd: httpd_new: %s\n", err);
		abort();
	}
	c.out = data + 1;
	c.out_len = size - 1;
	c.sent = c.got = 0;
	c.closed = false;
	c.fd = client_connect(o.h, data[0]);
	FUZZ_ASSERT(c.fd >= 0);

	for (pass = 0; pass < FUZZ_PASSES_MAX; pass++) {
		client_send(&c);
		run_once();
		client_recv(&c);
		if (!settled() || c.sent < c.out_len)
			continue;
		if (!released && !hold && (shut || !shut_first)) {
			/* What a phase change does: wake the waiters, from the
			 * loop. Nothing when none waits. */
			o.phase = DRAIN_DONE;
			httpd_notify(o.h);
			released = true;
			continue;
		}
		if (!shut) {
			if (!c.closed)
				shutdown(c.fd, SHUT_WR);
			shut = true;
			continue;
		}
		if (!c.closed && !hold && waits < FUZZ_WAITS_MAX) {
			/* Settled, but the end of our stream may not have
			 * reached the server yet: loopback hands packets on
			 * in a softirq, which a loaded machine defers (the
			 * server's close was then missed, one input in a
			 * million under a parallel make test). Wait a
			 * little for the loop or for our end to stir.
			 * (hold: httpd_free below closes.) */
			struct pollfd pf[2] = { { .fd = loop->epfd, .events = POLLIN },
						{ .fd = c.fd, .events = POLLIN } };

			poll(pf, 2, 10);
			waits++;
			continue;
		}
		break;
	}
	if (pass == FUZZ_PASSES_MAX) {
		fprintf(stderr, "fuzz_httpd: not settled after %d loop passes\n", pass);
		abort();
	}
	if (hold) {
		/* lastcall exits with requests parked: httpd_free answers them
		 * and closes every connection. */
		httpd_free(o.h);
		o.h = NULL;
		client_recv(&c);
	}
	/* FUZZ_HTTPD_SHOW=1: what came back, to see what an input does. */
	if (getenv("FUZZ_HTTPD_SHOW"))
		fprintf(stderr, "fuzz_httpd: %d passes, closed=%d, reply:\n%.*s\n", pass, c.closed,
			(int)c.got, c.reply);
	FUZZ_ASSERT(c.closed);
	if (c.got > 0)
		FUZZ_ASSERT(c.got >= 7 && memcmp(c.reply, "HTTP/1.", 7) == 0);
	/* A reset, not a FIN: the server closed first, and a FIN now would
	 * leave its end in TIME_WAIT on the one port (every bind of it would
	 * then walk them all, slower with each input). */
	struct linger reset = { .l_onoff = 1, .l_linger = 0 };
	setsockopt(c.fd, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
	close(c.fd);
	httpd_free(o.h);
	return 0;
}
