/* test_prestop.c - prestop.c: its usage errors, the attached mode against
 * a scripted control socket (a server thread answering POST /drain and
 * GET /wait as httpd.c does, or failing on cue), and the fall back to a
 * standalone drain with a tiny budget on a port nobody uses. Each prestop
 * runs in a forked child, its stdout and stderr in files, bounded by an
 * alarm. */
#include "../../helper/prestop.c"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

/* A prestop that runs longer than this is killed (SIGALRM): a failure. */
#define CHILD_TIMEOUT_S 20
/* How long the server waits for a request's headers. */
#define SERVER_READ_MS 10000
#define REQUESTS_MAX 64
#define OUT_MAX 8192

static char dir[64];	    /* the test's temporary directory */
static char sock_path[108]; /* the control socket */
static char pid1_path[128]; /* stands in for PID 1's stdout */
static int idle_fd = -1;    /* a listening port nobody connects to */
static char idle_port[8];

/* ---- a scripted control socket ---- */

enum step_act {
	ANSWER,	      /* status and body, then close */
	ANSWER_GONE,  /* the instance exits: socket file and listener gone,
		       * then the answer on the connection already open */
	ANSWER_STALE, /* the listener gone, its file left: then the answer */
	DROP,	      /* close without an answer (it died mid-request) */
	HANG,	      /* no answer: wait until the client gives up */
};

struct step {
	enum step_act act;
	int status;
	const char *body;
};

/* The /status bodies httpd.c answers POST /drain and GET /wait with. */
#define STATUS(phase, ms)                                                       \
	"{\"phase\":\"" phase "\",\"ready\":false,\"ms_since_t0\":" #ms         \
	",\"deadline_ms\":29000,\"inflight\":0,\"inflight_source\":\"kernel\"," \
	"\"connections\":0,\"ports\":[8080],\"phases\":{},\"grace_ms\":30000}\n"

static struct {
	int lfd;
	int stop[2];
	pthread_t thread;
	bool running;
	const struct step *steps;
	size_t n_steps; /* past the end, the last step repeats */
	/* Written by the server thread; read after server_stop (the join). */
	size_t n_requests;
	char requests[REQUESTS_MAX][160]; /* request lines */
	int gave_up;			  /* HANG: the client closed */
} srv = { .lfd = -1, .stop = { -1, -1 } };

static const char *reason(int status)
{
	switch (status) {
	/* clang-format off */
	case 200: return "OK";
	case 202: return "Accepted";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	default: return "Internal Server Error";
		/* clang-format on */
	}
}

/* Waits for fd to be readable, or for the stop pipe. false: stop, timeout. */
static bool wait_readable(int fd, int timeout_ms)
{
	struct pollfd p[2] = {
		{ .fd = fd, .events = POLLIN },
		{ .fd = srv.stop[0], .events = POLLIN },
	};

	for (;;) {
		int n = poll(p, 2, timeout_ms);
		if (n < 0 && errno == EINTR)
			continue;
		return n > 0 && !p[1].revents && p[0].revents;
	}
}

/* Reads a request's head (no body is sent to /drain or /wait) and records
 * its first line. */
static bool read_request(int c)
{
	char buf[4096];
	size_t len = 0;

	while (!memmem(buf, len, "\r\n\r\n", 4)) {
		if (len == sizeof(buf) || !wait_readable(c, SERVER_READ_MS))
			return false;
		ssize_t n = read(c, buf + len, sizeof(buf) - len);
		if (n <= 0)
			return false;
		len += (size_t)n;
	}
	if (srv.n_requests < REQUESTS_MAX) {
		size_t line = strcspn(buf, "\r");
		snprintf(srv.requests[srv.n_requests], sizeof(srv.requests[0]), "%.*s", (int)line,
			 buf);
	}
	srv.n_requests++;
	return true;
}

static void answer(int c, const struct step *st)
{
	char buf[1024];
	int n = snprintf(buf, sizeof(buf),
			 "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
			 "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
			 st->status, reason(st->status), strlen(st->body), st->body);

	/* The client may be gone (its deadline): no SIGPIPE for that. */
	for (int off = 0; off < n;) {
		ssize_t w = send(c, buf + off, (size_t)(n - off), MSG_NOSIGNAL);
		if (w <= 0)
			return;
		off += (int)w;
	}
}

static void stop_listening(bool unlink_file)
{
	if (unlink_file)
		unlink(sock_path);
	close(srv.lfd);
	srv.lfd = -1;
}

static void *server_main(void *arg)
{
	(void)arg;
	while (srv.lfd >= 0 && wait_readable(srv.lfd, -1)) {
		size_t i = srv.n_requests < srv.n_steps ? srv.n_requests : srv.n_steps - 1;
		const struct step *st = &srv.steps[i];
		int c = accept4(srv.lfd, NULL, NULL, SOCK_CLOEXEC);

		if (c < 0)
			continue;
		if (!read_request(c)) {
			close(c);
			continue;
		}
		switch (st->act) {
		case ANSWER:
			answer(c, st);
			break;
		case ANSWER_GONE:
		case ANSWER_STALE:
			/* Before the answer: the next call must find it gone. */
			stop_listening(st->act == ANSWER_GONE);
			answer(c, st);
			break;
		case DROP:
			break;
		case HANG: {
			/* Not stopped early: the client closes first. */
			struct pollfd p = { .fd = c, .events = POLLIN };
			char b[256];
			ssize_t n = 1;
			while (n > 0 && poll(&p, 1, SERVER_READ_MS) > 0)
				n = read(c, b, sizeof(b));
			if (n <= 0)
				srv.gave_up++;
			break;
		}
		}
		close(c);
	}
	return NULL;
}

static void server_start(const struct step *steps, size_t n)
{
	struct sockaddr_un u = { .sun_family = AF_UNIX };

	srv.steps = steps;
	srv.n_steps = n;
	srv.n_requests = 0;
	srv.gave_up = 0;
	memset(srv.requests, 0, sizeof(srv.requests));
	snprintf(u.sun_path, sizeof(u.sun_path), "%s", sock_path);
	unlink(sock_path);
	srv.lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(srv.lfd >= 0);
	assert_int_equal(bind(srv.lfd, (struct sockaddr *)&u, sizeof(u)), 0);
	assert_int_equal(listen(srv.lfd, 16), 0);
	assert_int_equal(pipe2(srv.stop, O_CLOEXEC), 0);
	assert_int_equal(pthread_create(&srv.thread, NULL, server_main, NULL), 0);
	srv.running = true;
}

/* Stops the thread; its records are safe to read from here on. */
static void server_stop(void)
{
	if (!srv.running)
		return;
	assert_int_equal(write(srv.stop[1], "x", 1), 1);
	pthread_join(srv.thread, NULL);
	srv.running = false;
	if (srv.lfd >= 0)
		stop_listening(true);
	unlink(sock_path);
	close(srv.stop[0]);
	close(srv.stop[1]);
	srv.stop[0] = srv.stop[1] = -1;
}

#define SERVE(...)                                                        \
	do {                                                              \
		static const struct step steps_[] = { __VA_ARGS__ };      \
		server_start(steps_, sizeof(steps_) / sizeof(steps_[0])); \
	} while (0)

static void assert_request(size_t i, const char *line)
{
	if (i >= srv.n_requests)
		fail_msg("request %zu never came (%zu in all)", i, srv.n_requests);
	assert_string_equal(srv.requests[i], line);
}

#define WAIT_DRAINED "GET /wait?phase=drained&timeout=1s HTTP/1.1"

/* ---- running prestop ---- */

struct result {
	int code;
	char out[OUT_MAX];
	char err[OUT_MAX];
	int64_t ms;
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void read_file(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t len = 0;
	ssize_t n;

	buf[0] = '\0';
	if (fd < 0)
		return;
	while (len + 1 < size && (n = read(fd, buf + len, size - 1 - len)) > 0)
		len += (size_t)n;
	buf[len] = '\0';
	close(fd);
}

/* Runs prestop_main(argv) in a child; its exit code and output into *r. */
static void run_prestop(struct result *r, char **argv)
{
	char out_path[128], err_path[128];
	int argc = 0, st;
	pid_t pid;

	while (argv[argc])
		argc++;
	snprintf(out_path, sizeof(out_path), "%s/stdout", dir);
	snprintf(err_path, sizeof(err_path), "%s/stderr", dir);
	/* Nothing buffered may be written twice. */
	fflush(stdout);
	fflush(stderr);
	r->ms = now_ms();
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		int err = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (out < 0 || err < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0)
			_exit(99);
		/* The server's listener is the parent's alone: a copy here
		 * would keep it open after the server closed it. */
		if (srv.lfd >= 0)
			close(srv.lfd);
		alarm(CHILD_TIMEOUT_S);
		int code = prestop_main(argc, argv);
		fflush(stdout);
		fflush(stderr);
		_exit(code);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	r->ms = now_ms() - r->ms;
	read_file(out_path, r->out, sizeof(r->out));
	read_file(err_path, r->err, sizeof(r->err));
	if (!WIFEXITED(st))
		fail_msg("prestop died of signal %d\nstdout: %s\nstderr: %s",
			 WIFSIGNALED(st) ? WTERMSIG(st) : -1, r->out, r->err);
	r->code = WEXITSTATUS(st);
}

#define PRESTOP(r, ...) run_prestop((r), (char *[]){ "prestop", __VA_ARGS__, NULL })

static void assert_has(const char *text, const char *want)
{
	if (!strstr(text, want))
		fail_msg("\"%s\" lacks \"%s\"", text, want);
}

/* ---- fixtures ---- */

static void clear_env(void)
{
	char names[64][64];
	size_t n = 0;

	for (char **e = environ; *e && n < 64; e++) {
		size_t len = strcspn(*e, "=");
		if (strncmp(*e, "LASTCALL_", 9) == 0 && len < sizeof(names[0])) {
			memcpy(names[n], *e, len);
			names[n++][len] = '\0';
		}
	}
	for (size_t i = 0; i < n; i++)
		unsetenv(names[i]);
}

static int group_setup(void **state)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);

	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/lastcall-unit-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(sock_path, sizeof(sock_path), "%s/control.sock", dir);
	snprintf(pid1_path, sizeof(pid1_path), "%s/pid1-stdout", dir);
	/* A standalone hook tees its log to PID 1's stdout: never the real one. */
	pid1_stdout = pid1_path;
	idle_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (idle_fd < 0 || bind(idle_fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    listen(idle_fd, 4) < 0 || getsockname(idle_fd, (struct sockaddr *)&a, &alen) < 0)
		return -1;
	snprintf(idle_port, sizeof(idle_port), "%u", ntohs(a.sin_port));
	return 0;
}

static int group_teardown(void **state)
{
	static const char *const files[] = { "stdout", "stderr", "pid1-stdout", "control.sock",
					     "stale.sock" };
	char path[128];

	(void)state;
	close(idle_fd);
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
		unlink(path);
	}
	return rmdir(dir);
}

static int setup(void **state)
{
	(void)state;
	clear_env();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	server_stop();
	clear_env();
	return 0;
}

/* ---- usage ---- */

/* A usage error: 125, the message, and not a single request. */
static void assert_usage(const struct result *r, const char *want)
{
	if (r->code != 125)
		fail_msg("exit %d, not 125 (stderr: %s)", r->code, r->err);
	assert_has(r->err, "lastcall prestop: ");
	assert_has(r->err, want);
	assert_has(r->err, "(see 'lastcall prestop --help')\n");
	assert_string_equal(r->out, "");
}

static void test_usage_until(void **state)
{
	struct result r;

	(void)state;
	SERVE({ ANSWER, 202, STATUS("unready", 0) });
	PRESTOP(&r, "--control", sock_path, "--until", "bogus");
	assert_usage(&r,
		     "--until: expected unready, propagate, drain, drained, stop, kill "
		     "or done");
	/* Serving is where it starts, not a phase to wait for. */
	PRESTOP(&r, "--control", sock_path, "--until", "serving");
	assert_usage(&r, "--until: expected");
	setenv("LASTCALL_UNTIL", "Drained", 1);
	PRESTOP(&r, "--control", sock_path);
	assert_usage(&r, "--until: expected");
	server_stop();
	assert_int_equal(srv.n_requests, 0);
}

static void test_usage_signal(void **state)
{
	struct result r;

	(void)state;
	SERVE({ ANSWER, 202, STATUS("unready", 0) });
	PRESTOP(&r, "--control", sock_path, "--signal", "QUIT");
	assert_usage(&r, "--signal needs --pid-file or --process");
	setenv("LASTCALL_SIGNAL", "TERM", 1);
	PRESTOP(&r, "--control", sock_path, "--until", "drain");
	assert_usage(&r, "--signal needs --pid-file or --process");
	unsetenv("LASTCALL_SIGNAL");
	PRESTOP(&r, "--control", sock_path, "--signal", "STOPPIT", "--process", "nginx");
	assert_usage(&r,
		     "--signal: invalid value \"STOPPIT\": expected a signal (QUIT, "
		     "SIGTERM, 15) or none");
	server_stop();
	assert_int_equal(srv.n_requests, 0);
}

static void test_usage_other(void **state)
{
	struct result r;

	(void)state;
	SERVE({ ANSWER, 202, STATUS("unready", 0) });
	/* opts_check's range checks. */
	PRESTOP(&r, "--control", sock_path, "--grace-period", "500ms");
	assert_usage(&r, "--grace-period: at least 1s (as Kubernetes)");
	PRESTOP(&r, "--control", sock_path, "--sample-interval", "1ms");
	assert_usage(&r, "--sample-interval: at least 10ms");
	PRESTOP(&r, "--control", sock_path, "--events");
	assert_usage(&r, "--readiness-gate and --events need --pod-name");
	/* Flags and arguments. */
	PRESTOP(&r, "--control", sock_path, "--bogus");
	assert_usage(&r, "unknown option \"--bogus\"");
	PRESTOP(&r, "--control", sock_path, "now");
	assert_usage(&r, "unexpected argument \"now\"");
	PRESTOP(&r, "--control", sock_path, "--port", "0");
	assert_usage(&r, "--port: invalid value \"0\": expected a TCP port 1..65535");
	PRESTOP(&r, "--control", sock_path, "--until");
	assert_usage(&r, "option --until needs a value (PHASE)");
	server_stop();
	assert_int_equal(srv.n_requests, 0);
}

static void test_help(void **state)
{
	struct result r;

	(void)state;
	SERVE({ ANSWER, 202, STATUS("unready", 0) });
	PRESTOP(&r, "--control", sock_path, "--help");
	assert_int_equal(r.code, 0);
	assert_has(r.out, "Usage: lastcall prestop [OPTIONS]\n");
	assert_has(r.out, "--until PHASE");
	assert_has(r.out, "env LASTCALL_UNTIL, default drained");
	assert_has(r.out, "env LASTCALL_CONTROL, default /tmp/lastcall.sock");
	assert_string_equal(r.err, "");
	server_stop();
	assert_int_equal(srv.n_requests, 0);
}

/* ---- attached ---- */

static void test_attached_drained(void **state)
{
	struct result r;

	(void)state;
	SERVE({ ANSWER, 202, STATUS("unready", 0) }, { ANSWER, 408, STATUS("propagate", 1000) },
	      { ANSWER, 408, STATUS("propagate", 2000) }, { ANSWER, 408, STATUS("drain", 2500) },
	      { ANSWER, 200, STATUS("stop", 3100) });
	PRESTOP(&r, "--control", sock_path);
	assert_int_equal(r.code, 0);
	/* A line per phase change, then the end. */
	assert_string_equal(r.out,
			    "prestop: phase=unready ms=0\n"
			    "prestop: phase=propagate ms=1000\n"
			    "prestop: phase=drain ms=2500\n"
			    "prestop: phase=stop ms=3100\n"
			    "prestop: reached drained\n");
	assert_string_equal(r.err, "");
	server_stop();
	assert_int_equal(srv.n_requests, 5);
	/* How far it waits goes with the drain (past the stop: no hold). */
	assert_request(0, "POST /drain?until=drained HTTP/1.1");
	for (size_t i = 1; i < 5; i++)
		assert_request(i, WAIT_DRAINED);
}

static void test_attached_until(void **state)
{
	struct result r;

	(void)state;
	/* A second prestop attaches to the drain under way (202 again). */
	SERVE({ ANSWER, 202, STATUS("propagate", 700) }, { ANSWER, 200, STATUS("propagate", 701) });
	setenv("LASTCALL_UNTIL", "propagate", 1);
	PRESTOP(&r, "--control", sock_path);
	assert_int_equal(r.code, 0);
	assert_string_equal(r.out,
			    "prestop: phase=propagate ms=700\n"
			    "prestop: reached propagate\n");
	server_stop();
	assert_int_equal(srv.n_requests, 2);
	assert_request(0, "POST /drain?until=propagate HTTP/1.1");
	assert_request(1, "GET /wait?phase=propagate&timeout=1s HTTP/1.1");

	/* Answers that are not a status: no progress, still followed. */
	SERVE({ ANSWER, 202, "accepted\n" }, { ANSWER, 408, "" }, { ANSWER, 200, "{\"phase\":3}" });
	PRESTOP(&r, "--control", sock_path, "--until", "done");
	assert_int_equal(r.code, 0);
	assert_string_equal(r.out, "prestop: reached done\n");
	server_stop();
	assert_int_equal(srv.n_requests, 3);
	assert_request(2, "GET /wait?phase=done&timeout=1s HTTP/1.1");
}

static void test_attached_refused(void **state)
{
	struct result r;

	(void)state;
	/* --drain-on none on the instance: httpd answers 409. */
	SERVE({ ANSWER, 409, "the drain is off (--drain-on none)\n" });
	PRESTOP(&r, "--control", sock_path);
	assert_int_equal(r.code, 1);
	assert_string_equal(r.out, "");
	assert_string_equal(r.err,
			    "lastcall prestop: POST /drain answered 409: "
			    "the drain is off (--drain-on none)\n");
	server_stop();
	assert_int_equal(srv.n_requests, 1);
}

static void test_attached_wait_error(void **state)
{
	struct result r;

	(void)state;
	SERVE({ ANSWER, 202, STATUS("unready", 0) }, { ANSWER, 408, STATUS("propagate", 1000) },
	      { ANSWER, 500, "internal error\n" });
	PRESTOP(&r, "--control", sock_path);
	assert_int_equal(r.code, 1);
	assert_string_equal(r.out,
			    "prestop: phase=unready ms=0\n"
			    "prestop: phase=propagate ms=1000\n");
	assert_string_equal(r.err, "lastcall prestop: GET /wait answered 500: internal error\n");
	server_stop();
	assert_int_equal(srv.n_requests, 3);
}

/* The instance exits while the hook waits (its app went): 503 "shutting
 * down" to the waiter, and nothing is left to drain: 0. "too many
 * waiters" is another 503: a failure. */
static void test_attached_exiting(void **state)
{
	struct result r;

	(void)state;
	SERVE({ ANSWER, 202, STATUS("unready", 0) }, { ANSWER, 503, "shutting down\n" });
	PRESTOP(&r, "--control", sock_path);
	assert_int_equal(r.code, 0);
	assert_string_equal(r.out,
			    "prestop: phase=unready ms=0\n"
			    "prestop: the instance is exiting\n");
	server_stop();
	SERVE({ ANSWER, 202, STATUS("unready", 0) }, { ANSWER, 503, "too many waiters\n" });
	PRESTOP(&r, "--control", sock_path);
	assert_int_equal(r.code, 1);
	assert_string_equal(r.err, "lastcall prestop: GET /wait answered 503: too many waiters\n");
	server_stop();
}

static void test_attached_post_dropped(void **state)
{
	struct result r;

	(void)state;
	/* Something answers but breaks off: not "no instance", a failure. */
	SERVE({ DROP, 0, "" });
	PRESTOP(&r, "--control", sock_path);
	assert_int_equal(r.code, 1);
	assert_string_equal(r.out, "");
	assert_has(r.err, "lastcall prestop: the instance on ");
	assert_has(r.err, sock_path);
	assert_has(r.err, " failed: ");
	server_stop();
	assert_int_equal(srv.n_requests, 1);
}

static void test_attached_gone(void **state)
{
	struct result r;
	char want[256];

	(void)state;
	/* The instance exits mid-drain (its app is gone): nothing to drain. */
	SERVE({ ANSWER, 202, STATUS("unready", 0) },
	      { ANSWER_GONE, 408, STATUS("propagate", 1000) });
	PRESTOP(&r, "--control", sock_path);
	assert_int_equal(r.code, 0);
	snprintf(want, sizeof(want),
		 "prestop: phase=unready ms=0\n"
		 "prestop: phase=propagate ms=1000\n"
		 "prestop: the instance is gone (%s: No such file or directory)\n",
		 sock_path);
	assert_string_equal(r.out, want);
	assert_string_equal(r.err, "");
	server_stop();
	assert_int_equal(srv.n_requests, 2);

	/* Its socket file left behind, nobody listening. */
	SERVE({ ANSWER, 202, STATUS("unready", 0) }, { ANSWER_STALE, 408, STATUS("drain", 2000) });
	PRESTOP(&r, "--control", sock_path);
	assert_int_equal(r.code, 0);
	assert_has(r.out, "prestop: phase=drain ms=2000\nprestop: the instance is gone (");
	server_stop();
	assert_int_equal(srv.n_requests, 2);

	/* Or the connection breaks off during a wait. */
	SERVE({ ANSWER, 202, STATUS("unready", 0) }, { DROP, 0, "" });
	PRESTOP(&r, "--control", sock_path);
	assert_int_equal(r.code, 0);
	assert_has(r.out, "prestop: phase=unready ms=0\nprestop: the instance is gone (");
	server_stop();
	assert_int_equal(srv.n_requests, 2);
}

static void test_attached_deadline(void **state)
{
	struct result r;

	(void)state;
	/* The hook must return before the kubelet kills it: --grace-period
	 * 1s with a margin as large keeps half of it, 500 ms. Every wait
	 * answers 408 at once. */
	SERVE({ ANSWER, 202, STATUS("unready", 0) }, { ANSWER, 408, STATUS("drain", 10) });
	PRESTOP(&r, "--control", sock_path, "--grace-period", "1s", "--kill-margin", "1s");
	assert_int_equal(r.code, 1);
	assert_string_equal(r.err,
			    "lastcall prestop: the drain did not reach drained "
			    "within the grace period\n");
	assert_string_equal(r.out, "prestop: phase=unready ms=0\nprestop: phase=drain ms=10\n");
	assert_true(r.ms >= 500);
	assert_true(r.ms < 5000);
	server_stop();
	assert_true(srv.n_requests >= 2);
	assert_request(1, WAIT_DRAINED);

	/* A wait that never answers: the call times out at the deadline. */
	SERVE({ ANSWER, 202, STATUS("unready", 0) }, { HANG, 0, "" });
	PRESTOP(&r, "--control", sock_path, "--grace-period", "1s", "--kill-margin", "400ms");
	assert_int_equal(r.code, 1);
	assert_has(r.err, "did not reach drained within the grace period");
	/* grace - margin when the margin is less than half: 600 ms. */
	assert_true(r.ms >= 600);
	assert_true(r.ms < 5000);
	server_stop();
	assert_true(srv.gave_up >= 1);
}

/* ---- standalone ---- */

/* What makes a standalone drain end at once: nothing to wait for, one
 * port nobody connects to, samples 10 ms apart. */
#define TINY_BUDGET                                                                             \
	"--grace-period", "1s", "--kill-margin", "100ms", "--stop-timeout", "0", "--min-delay", \
		"0", "--quiet-period", "0", "--max-delay", "0", "--sample-interval", "10ms",    \
		"--port", idle_port

static void test_standalone_fallback(void **state)
{
	struct result r;
	char want[256], stale[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct sockaddr_un u = { .sun_family = AF_UNIX };
	int fd;

	(void)state;
	/* No socket file. */
	PRESTOP(&r, "--control", sock_path, "--log-level", "off", TINY_BUDGET);
	assert_int_equal(r.code, 0);
	snprintf(want, sizeof(want), "prestop: no lastcall instance on %s: draining standalone\n",
		 sock_path);
	assert_string_equal(r.out, want);
	assert_string_equal(r.err, "");

	/* A stale one: the file of an instance that is gone. */
	snprintf(stale, sizeof(stale), "%s/stale.sock", dir);
	snprintf(u.sun_path, sizeof(u.sun_path), "%s", stale);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&u, sizeof(u)), 0);
	close(fd);
	PRESTOP(&r, "--control", stale, "--log-level", "off", TINY_BUDGET);
	assert_int_equal(r.code, 0);
	snprintf(want, sizeof(want), "prestop: no lastcall instance on %s: draining standalone\n",
		 stale);
	assert_string_equal(r.out, want);
	unlink(stale);
}

static void test_standalone_at_once(void **state)
{
	struct result r;
	char tee[OUT_MAX];
	int fd;

	(void)state;
	fd = open(pid1_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	close(fd);
	/* --control none: no instance looked for. */
	setenv("LASTCALL_CONTROL", "none", 1);
	PRESTOP(&r, TINY_BUDGET);
	assert_int_equal(r.code, 0);
	assert_string_equal(r.out, "");
	assert_has(r.err, "event=drain_started origin=prestop:standalone");
	assert_has(r.err, "event=drained");
	assert_has(r.err, "event=exiting code=0");
	/* Its log also went to PID 1's stdout (the container log), unless PID
	 * 1 is a pod's /pause. */
	read_file(pid1_path, tee, sizeof(tee));
	if (!proc_is_named(1, "pause")) {
		assert_has(tee, "event=drained");
		assert_has(tee, "event=exiting code=0");
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_usage_until, setup, teardown),
		cmocka_unit_test_setup_teardown(test_usage_signal, setup, teardown),
		cmocka_unit_test_setup_teardown(test_usage_other, setup, teardown),
		cmocka_unit_test_setup_teardown(test_help, setup, teardown),
		cmocka_unit_test_setup_teardown(test_attached_drained, setup, teardown),
		cmocka_unit_test_setup_teardown(test_attached_until, setup, teardown),
		cmocka_unit_test_setup_teardown(test_attached_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_attached_wait_error, setup, teardown),
		cmocka_unit_test_setup_teardown(test_attached_exiting, setup, teardown),
		cmocka_unit_test_setup_teardown(test_attached_post_dropped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_attached_gone, setup, teardown),
		cmocka_unit_test_setup_teardown(test_attached_deadline, setup, teardown),
		cmocka_unit_test_setup_teardown(test_standalone_fallback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_standalone_at_once, setup, teardown),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
