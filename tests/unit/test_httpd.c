/* test_httpd.c - httpd.c's pure parts: HOST:PORT parsing, the
 * --allow-from list that guards GET /prestop over TCP, and the TCP gate's
 * reading of request heads and choice of whom to close when full; where
 * the control socket goes: its path, or the abstract fallback; and the
 * gate on a real loopback socket; the endpoints with every allocation
 * failing in turn (failalloc.h). */
#include "../../helper/httpd.c"

#include <poll.h>
#include <sched.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "failalloc.h"

static struct sockaddr_storage addr(const char *ip)
{
	struct sockaddr_storage ss;

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, ip, &((struct sockaddr_in *)&ss)->sin_addr) == 1)
		ss.ss_family = AF_INET;
	else if (inet_pton(AF_INET6, ip, &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1)
		ss.ss_family = AF_INET6;
	else
		fail_msg("bad test address %s", ip);
	return ss;
}

static bool allows(const struct httpd_acl *acl, const char *ip)
{
	struct sockaddr_storage ss = addr(ip);

	return httpd_acl_allows(acl, (struct sockaddr *)&ss);
}

static void test_loopback_only(void **state)
{
	struct httpd_acl acl = { .n = 0 };
	char err[256];

	(void)state;
	assert_true(allows(NULL, "127.0.0.1"));
	assert_true(allows(NULL, "::1"));
	assert_true(allows(NULL, "::ffff:127.0.0.1"));
	/* The rest of 127.0.0.0/8 is not the pod: Istio relays every mesh
	 * client from 127.0.0.6 (istio/istio#29603). */
	assert_false(allows(NULL, "127.0.0.6"));
	assert_false(allows(NULL, "127.1.2.3"));
	assert_false(allows(NULL, "127.0.0.0"));
	assert_false(allows(NULL, "::ffff:127.0.0.6"));
	assert_false(allows(NULL, "10.0.0.1"));
	assert_false(allows(NULL, "128.0.0.1"));
	assert_false(allows(NULL, "::2"));
	assert_false(allows(NULL, "::ffff:10.0.0.1"));
	assert_false(allows(NULL, "fe80::1"));
	/* ...unless --allow-from says so. */
	assert_int_equal(httpd_acl_add(&acl, "127.0.0.6", err, sizeof(err)), 0);
	assert_true(allows(&acl, "127.0.0.6"));
	assert_true(allows(&acl, "::ffff:127.0.0.6"));
	assert_false(allows(&acl, "127.0.0.7"));
	assert_true(allows(&acl, "127.0.0.1"));
}

static void test_acl_entries(void **state)
{
	struct httpd_acl acl = { .n = 0 };
	char err[256];

	(void)state;
	assert_int_equal(httpd_acl_add(&acl, "10.1.2.3", err, sizeof(err)), 0);
	assert_int_equal(httpd_acl_add(&acl, "192.168.0.0/16", err, sizeof(err)), 0);
	assert_int_equal(httpd_acl_add(&acl, "172.16.0.0/13", err, sizeof(err)), 0);
	assert_int_equal(httpd_acl_add(&acl, "fd00::/8", err, sizeof(err)), 0);
	assert_true(allows(&acl, "10.1.2.3"));
	assert_false(allows(&acl, "10.1.2.4"));
	assert_true(allows(&acl, "::ffff:10.1.2.3")); /* v4 on a dual-stack socket */
	assert_true(allows(&acl, "192.168.255.1"));
	assert_false(allows(&acl, "192.169.0.1"));
	assert_true(allows(&acl, "172.23.255.255")); /* /13: 172.16-172.23 */
	assert_false(allows(&acl, "172.24.0.0"));
	assert_true(allows(&acl, "fd12:3456::1"));
	assert_false(allows(&acl, "fe00::1"));
	assert_false(allows(&acl, "11.1.2.3"));
	/* A v4 entry never matches a v6 address with the same bytes. */
	assert_false(allows(&acl, "a01:203::"));
}

static void test_acl_edges(void **state)
{
	struct httpd_acl acl = { .n = 0 };
	char err[256];

	(void)state;
	assert_int_equal(httpd_acl_add(&acl, "0.0.0.0/0", err, sizeof(err)), 0);
	assert_true(allows(&acl, "8.8.8.8"));
	assert_false(allows(&acl, "2001:db8::1"));
	acl.n = 0;
	assert_int_equal(httpd_acl_add(&acl, "2001:db8::1/128", err, sizeof(err)), 0);
	assert_true(allows(&acl, "2001:db8::1"));
	assert_false(allows(&acl, "2001:db8::2"));
}

static void test_acl_bad(void **state)
{
	static const char *const bad[] = {
		"",
		"/8",
		"10.0.0",
		"10.0.0.256",
		"10.0.0.0/33",
		"10.0.0.0/-1",
		"10.0.0.0/",
		"10.0.0.0/8x",
		"fd00::/129",
		"node",
		"10.0.0.1 ",
		" 10.0.0.1",
		"10.0.0.1/8/8",
	};
	struct httpd_acl acl = { .n = 0 };
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(httpd_acl_add(&acl, bad[i], err, sizeof(err)), -EINVAL);
		assert_true(strlen(err) > 0);
	}
	assert_int_equal(acl.n, 0);
	for (int i = 0; i < HTTPD_ALLOW_MAX; i++)
		assert_int_equal(httpd_acl_add(&acl, "10.0.0.1", err, sizeof(err)), 0);
	assert_int_equal(httpd_acl_add(&acl, "10.0.0.1", err, sizeof(err)), -ENOSPC);
}

static void test_parse_addr(void **state)
{
	struct sockaddr_storage ss;
	size_t len;

	(void)state;
	assert_int_equal(httpd_parse_addr("127.0.0.1:9797", &ss, &len), 0);
	assert_int_equal(ss.ss_family, AF_INET);
	assert_int_equal(ntohs(((struct sockaddr_in *)&ss)->sin_port), 9797);
	assert_int_equal(httpd_parse_addr(":0", &ss, &len), 0);
	assert_int_equal(ss.ss_family, AF_INET);
	assert_int_equal(httpd_parse_addr("[::]:80", &ss, &len), 0);
	assert_int_equal(ss.ss_family, AF_INET6);
	assert_int_equal(len, sizeof(struct sockaddr_in6));
	assert_int_equal(httpd_parse_addr("127.0.0.1", &ss, &len), -EINVAL);
	assert_int_equal(httpd_parse_addr("127.0.0.1:65536", &ss, &len), -EINVAL);
	assert_int_equal(httpd_parse_addr("[::1:80", &ss, &len), -EINVAL);
	assert_int_equal(httpd_parse_addr("host:80", &ss, &len), -EINVAL);
	assert_int_equal(httpd_parse_addr("1.2.3.4:x", &ss, &len), -EINVAL);
}

static bool ops_ready(void *data)
{
	(void)data;
	return true;
}

static size_t ops_text(void *data, char *buf, size_t size)
{
	(void)data;
	return (size_t)snprintf(buf, size, "{}");
}

static void ops_drain(void *data, const char *origin)
{
	(void)data;
	(void)origin;
}

static int ops_phase(void *data)
{
	(void)data;
	return DRAIN_SERVING;
}

static const struct httpd_ops test_ops = {
	.ready = ops_ready,
	.status = ops_text,
	.metrics = ops_text,
	.drain = ops_drain,
	.phase = ops_phase,
};

/* The path when it can be bound: mode 0600, taken only from a dead
 * instance, removed at the end. */
static void test_control_path(void **state)
{
	struct httpd *h = NULL, *h2 = NULL;
	struct loop *l = NULL;
	char path[64], err[256];
	struct stat st;

	(void)state;
	snprintf(path, sizeof(path), "/tmp/lastcall-test-httpd-%d.sock", (int)getpid());
	unlink(path);
	assert_int_equal(loop_new(&l), 0);
	assert_int_equal(httpd_new(l, NULL, path, NULL, &test_ops, NULL, &h, err, sizeof(err)), 0);
	assert_string_equal(httpd_control_name(h), path);
	assert_int_equal(httpd_control_fallback(h), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(httpd_new(l, NULL, path, NULL, &test_ops, NULL, &h2, err, sizeof(err)),
			 -EADDRINUSE);
	assert_non_null(strstr(err, "another lastcall is listening there"));
	httpd_free(h);
	assert_int_equal(stat(path, &st), -1);
	assert_null(httpd_control_name(NULL));
	loop_free(l);
}

/* A path that cannot be bound (a read-only root filesystem): the abstract
 * name of our mount namespace, reported as a fallback; an error only when
 * another instance in the same mount namespace holds that name. */
static void test_control_fallback(void **state)
{
	struct httpd *h = NULL, *h2 = NULL;
	struct loop *l = NULL;
	char name[108], at[110], err[256];

	(void)state;
	/* A mount namespace of our own, so that the name is ours alone on a
	 * shared machine. */
	if (unshare(CLONE_NEWNS) < 0)
		skip();
	assert_int_equal(client_abstract_name(name, sizeof(name)), 0);
	snprintf(at, sizeof(at), "@%s", name);
	assert_int_equal(loop_new(&l), 0);
	assert_int_equal(httpd_new(l, NULL, "/proc/lastcall-test.sock", NULL, &test_ops, NULL, &h,
				   err, sizeof(err)),
			 0);
	assert_string_equal(httpd_control_name(h), at);
	assert_true(httpd_control_fallback(h) < 0);
	/* A missing directory falls back too; the name is taken: an error. */
	assert_int_equal(httpd_new(l, NULL, "/nonexistent-lastcall/x.sock", NULL, &test_ops, NULL,
				   &h2, err, sizeof(err)),
			 -EADDRINUSE);
	assert_non_null(strstr(err, "another lastcall in this container holds it"));
	assert_non_null(strstr(err, "/nonexistent-lastcall/x.sock"));
	httpd_free(h);
	/* Freed with the instance. */
	assert_int_equal(httpd_new(l, NULL, "/nonexistent-lastcall/x.sock", NULL, &test_ops, NULL,
				   &h2, err, sizeof(err)),
			 0);
	assert_int_equal(httpd_control_fallback(h2), -ENOENT);
	httpd_free(h2);
	loop_free(l);
}

/* ---- the TCP gate ---- */

static void test_head_scan(void **state)
{
	static const struct {
		const char *in;
		enum head want;
	} cases[] = {
		{ "", HEAD_MORE },
		{ "G", HEAD_MORE },
		{ "GET", HEAD_MORE },
		{ "GET /readyz", HEAD_MORE },
		{ "GET /readyz HTTP/1.1\r\n", HEAD_MORE },
		{ "GET /readyz HTTP/1.1\r\nHost: x\r\n", HEAD_MORE },
		{ "GET /readyz HTTP/1.1\r\nHost: x\r\n\r", HEAD_MORE },
		{ "GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n", HEAD_DONE },
		{ "GET /readyz HTTP/1.1\r\n\r\n", HEAD_DONE },
		/* Bare LFs, and empty lines before the request line, as
		 * libmicrohttpd takes them. */
		{ "GET /readyz HTTP/1.0\n\n", HEAD_DONE },
		{ "\r\n\nGET / HTTP/1.1\r\n\r\n", HEAD_DONE },
		{ "\r", HEAD_MORE },
		{ "\r\n", HEAD_MORE },
		/* A body after the head is the handler's business. */
		{ "POST /prestop HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc", HEAD_DONE },
		/* Defects libmicrohttpd answers itself: passed on. */
		{ "GET / HTTP/1.1\r\nBad Header\r\n\r\n", HEAD_DONE },
		{ "GET / HTTP/2.0\r\n\r\n", HEAD_DONE },
		{ "get / HTTP/1.1\r\n\r\n", HEAD_DONE },
		{ "M-SEARCH * HTTP/1.1\r\n\r\n", HEAD_DONE },
		/* No request line: libmicrohttpd would close without a word. */
		{ "GARBAGE\r\n\r\n", HEAD_BAD },
		{ "GARBAGE", HEAD_MORE },
		{ "GARBAGE\r", HEAD_BAD },
		{ "\x16\x03\x01\x02\x00", HEAD_BAD },
		{ "\x16", HEAD_BAD },
		{ " GET / HTTP/1.1\r\n\r\n", HEAD_BAD },
		{ "GET\r\n\r\n", HEAD_BAD },
		{ "GET /\r\n\r\n", HEAD_BAD },
		{ "GET HTTP/1.1\r\n", HEAD_BAD },
		{ "GET / HTTP/1.1 \r\n", HEAD_BAD },
		{ "GET / HTTX/1.1\r\n", HEAD_BAD },
		{ "GET / HTTP/1.x\r\n", HEAD_BAD },
		{ "GET / HTTP/1.1\r\r\n", HEAD_BAD },
		{ "\r\nGARBAGE\r\n", HEAD_BAD },
	};
	char big[256];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum head got = head_scan(cases[i].in, strlen(cases[i].in), HTTPD_HEAD_MAX);

		if (got != cases[i].want)
			fail_msg("head_scan(\"%s\") = %d, want %d", cases[i].in, got,
				 cases[i].want);
	}
	/* max bytes and no end: too big, in the request line or after it;
	 * a head that ends right at max is whole. */
	memset(big, 'a', sizeof(big));
	memcpy(big, "GET /", 5);
	assert_int_equal(head_scan(big, sizeof(big), sizeof(big)), HEAD_TOO_BIG);
	assert_int_equal(head_scan(big, sizeof(big) - 1, sizeof(big)), HEAD_MORE);
	memcpy(big, "GET / HTTP/1.1\r\nX: ", 19);
	assert_int_equal(head_scan(big, sizeof(big), sizeof(big)), HEAD_TOO_BIG);
	memcpy(big + sizeof(big) - 4, "\r\n\r\n", 4);
	assert_int_equal(head_scan(big, sizeof(big), sizeof(big)), HEAD_DONE);
}

/* Puts a waiting connection from ip (v4 or v6), accepted at since. */
static void put_pending(struct pending *p, size_t i, const char *ip, int64_t since)
{
	struct sockaddr_storage ss = addr(ip);

	memset(&p[i], 0, sizeof(p[i]));
	memcpy(&p[i].addr, &ss, sizeof(p[i].addr));
	p[i].fd = 100 + (int)i;
	p[i].since = since;
}

static int victim_for(const struct pending *p, const char *ip)
{
	struct sockaddr_storage ss = addr(ip);

	return gate_victim(p, HTTPD_CONN_MAX, (struct sockaddr *)&ss);
}

static void test_gate_victim(void **state)
{
	struct pending p[HTTPD_CONN_MAX];
	char ip[32];

	(void)state;
	for (size_t i = 0; i < HTTPD_CONN_MAX; i++)
		p[i].fd = -1;
	assert_int_equal(victim_for(p, "10.0.0.1"), -1);
	assert_int_equal(gate_oldest_of_most(p, HTTPD_CONN_MAX), -1);
	/* One address, below its share: room. */
	for (size_t i = 0; i < HTTPD_CONN_PER_IP_MAX - 1; i++)
		put_pending(p, i + 1, "10.0.0.1", 1000 - (int64_t)i);
	assert_int_equal(victim_for(p, "10.0.0.1"), -1);
	/* At its share: its own oldest goes; others still have room. */
	put_pending(p, 40, "10.0.0.1", 2000);
	assert_int_equal(victim_for(p, "10.0.0.1"), HTTPD_CONN_PER_IP_MAX - 1);
	assert_int_equal(victim_for(p, "10.0.0.2"), -1);
	assert_int_equal(victim_for(p, "::ffff:10.0.0.1"), -1); /* another family */
	/* Full: the oldest of the address that holds the most, wherever
	 * the newcomer comes from. */
	for (size_t i = 0, k = 0; i < HTTPD_CONN_MAX; i++) {
		if (p[i].fd >= 0)
			continue;
		snprintf(ip, sizeof(ip), "10.0.1.%zu", k++ % 30);
		put_pending(p, i, ip, 10);
	}
	assert_int_equal(victim_for(p, "10.0.9.9"), HTTPD_CONN_PER_IP_MAX - 1);
	assert_int_equal(victim_for(p, "10.0.1.3"), HTTPD_CONN_PER_IP_MAX - 1);
	assert_int_equal(gate_oldest_of_most(p, HTTPD_CONN_MAX), HTTPD_CONN_PER_IP_MAX - 1);
	/* Everyone holds one: the oldest of all. */
	for (size_t i = 0; i < HTTPD_CONN_MAX; i++) {
		snprintf(ip, sizeof(ip), "fd00::%zx", i + 1);
		put_pending(p, i, ip, 500 + (int64_t)((i * 7) % HTTPD_CONN_MAX));
	}
	assert_int_equal(victim_for(p, "fd00::ffff"), 0);
	assert_int_equal(victim_for(p, "fd00::9"), 0);
	p[0].fd = -1;
	assert_int_equal(victim_for(p, "fd00::ffff"), -1);
}

static void stop_loop(struct loop *l, void *data)
{
	(void)data;
	loop_stop(l);
}

/* Runs the loop for ms. */
static void spin(struct loop *l, int64_t ms)
{
	assert_int_equal(loop_timer_add(l, loop_now_ms() + ms, stop_loop, NULL, NULL), 0);
	assert_int_equal(loop_run(l), 0);
}

static int client(int port, const char *send_first)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	if (send_first)
		assert_int_equal(send(fd, send_first, strlen(send_first), MSG_NOSIGNAL),
				 (ssize_t)strlen(send_first));
	return fd;
}

/* What the server sent fd, up to its close, within 1 s ("" for nothing,
 * "open" when it is still open). */
static const char *answer(int fd, char *buf, size_t size)
{
	size_t len = 0;

	buf[0] = '\0';
	while (len + 1 < size) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&pfd, 1, 1000) <= 0)
			return "open";
		n = recv(fd, buf + len, size - 1 - len, 0);
		if (n <= 0)
			break;
		len += (size_t)n;
		buf[len] = '\0';
	}
	return buf;
}

/* Whether the server closed fd (EOF or reset), without waiting. */
static bool closed(int fd)
{
	char c;
	ssize_t n = recv(fd, &c, 1, MSG_DONTWAIT | MSG_PEEK);

	return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

/* The gate on a real socket: whole heads are answered (and the connection
 * closed: one request each), a line that is no request gets a 400, an
 * address at its share gives up its oldest half-sent connection while a
 * whole request from it still gets in, and a head overdue gets a 408. */
static void test_gate_real(void **state)
{
	struct httpd *h = NULL;
	struct loop *l = NULL;
	int half[HTTPD_CONN_PER_IP_MAX + 1], fd, port;
	char err[256], buf[1024];

	(void)state;
	assert_int_equal(loop_new(&l), 0);
	assert_int_equal(httpd_new(l, "127.0.0.1:0", NULL, NULL, &test_ops, NULL, &h, err,
				   sizeof(err)),
			 0);
	port = httpd_port(h);
	assert_true(port > 0);

	fd = client(port, "GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n");
	spin(l, 50);
	answer(fd, buf, sizeof(buf));
	assert_non_null(strstr(buf, "HTTP/1.1 200 OK\r\n"));
	assert_non_null(strstr(buf, "Connection: close\r\n"));
	close(fd);

	fd = client(port, "GARBAGE\r\n\r\n");
	spin(l, 50);
	assert_non_null(strstr(answer(fd, buf, sizeof(buf)), "HTTP/1.1 400 Bad Request\r\n"));
	close(fd);

	for (size_t i = 0; i < HTTPD_CONN_PER_IP_MAX; i++) {
		half[i] = client(port, "GET /readyz HTTP/1.1\r\nX-Half: ");
		spin(l, 2); /* accepted in this order */
	}
	spin(l, 20);
	for (size_t i = 0; i < HTTPD_CONN_PER_IP_MAX; i++)
		assert_false(closed(half[i]));
	half[HTTPD_CONN_PER_IP_MAX] = client(port, "GET /readyz HTTP/1.1\r\nX-Half: ");
	spin(l, 20);
	assert_true(closed(half[0]));
	for (size_t i = 1; i <= HTTPD_CONN_PER_IP_MAX; i++)
		assert_false(closed(half[i]));
	fd = client(port, "GET /livez HTTP/1.1\r\nHost: x\r\n\r\n");
	spin(l, 50);
	assert_non_null(strstr(answer(fd, buf, sizeof(buf)), "HTTP/1.1 200 OK\r\n"));
	close(fd);
	for (size_t i = 1; i <= HTTPD_CONN_PER_IP_MAX; i++)
		assert_false(closed(half[i]));

	/* The deadline counts from the accept, whatever trickles. */
	assert_int_equal(send(half[1], "a", 1, MSG_NOSIGNAL), 1);
	spin(l, HTTPD_HEAD_TIMEOUT_MS + 100);
	for (size_t i = 1; i <= HTTPD_CONN_PER_IP_MAX; i++)
		assert_non_null(strstr(answer(half[i], buf, sizeof(buf)),
				       "HTTP/1.1 408 Request Timeout\r\n"));
	for (size_t i = 0; i <= HTTPD_CONN_PER_IP_MAX; i++)
		close(half[i]);
	httpd_free(h);
	loop_free(l);
}

/* The endpoints started, then asked, with each allocation failing: the
 * start fails with its reason, or each request is answered or closed;
 * never a stall, never "not ready" from a server that is. libmicrohttpd's
 * own allocations are its own (not wrapped: a shared library). */
static void endpoints_round(long n, void *data)
{
	static const char *const asks[] = { "/readyz", "/metrics", "/status", "/livez" };
	struct httpd *h = NULL;
	struct loop *l = NULL;
	char err[256] = "", buf[1024];
	int r, fd;

	(void)n;
	(void)data;
	if (loop_new(&l) < 0) {
		assert_true(failalloc.failed);
		return;
	}
	r = httpd_new(l, "127.0.0.1:0", NULL, NULL, &test_ops, NULL, &h, err, sizeof(err));
	if (r < 0) {
		assert_true(failalloc.failed);
		assert_int_equal(r, -ENOMEM);
		assert_true(strlen(err) > 0);
		loop_free(l);
		return;
	}
	for (size_t i = 0; i < sizeof(asks) / sizeof(asks[0]); i++) {
		snprintf(buf, sizeof(buf), "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", asks[i]);
		fd = client(httpd_port(h), buf);
		spin(l, 20);
		answer(fd, buf, sizeof(buf));
		if (buf[0])
			assert_non_null(strstr(buf, "HTTP/1.1 200 OK\r\n"));
		close(fd);
	}
	httpd_free(h);
	loop_free(l);
}

static void test_alloc_fails(void **state)
{
	(void)state;
	if (failalloc_off())
		return;
	assert_true(failalloc_each(endpoints_round, NULL) >= 5);
}

int main(void)
{
	/* clang-format off */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_loopback_only),
		cmocka_unit_test(test_acl_entries),
		cmocka_unit_test(test_acl_edges),
		cmocka_unit_test(test_acl_bad),
		cmocka_unit_test(test_parse_addr),
		cmocka_unit_test(test_control_path),
		cmocka_unit_test(test_control_fallback),
		cmocka_unit_test(test_head_scan),
		cmocka_unit_test(test_gate_victim),
		cmocka_unit_test(test_gate_real),
		cmocka_unit_test(test_alloc_fails),
	};
	/* clang-format on */

	return cmocka_run_group_tests(tests, NULL, NULL);
}
