/* test_fetch.c - fetch.c: target parsing, and real requests through our
 * loop to a libmicrohttpd server on 127.0.0.1 and on a Unix socket (in its
 * own thread), to a socket that never answers (timeout), to a closed port,
 * and with an oversized body; the bearer token's header wiped before it is
 * freed; a request curl never ends ended by the backstop; every
 * allocation of a request failing in turn, libcurl's own included (through
 * fetch.c's curl_global_init_mem hooks). Bounded by a watchdog timer in
 * the loop. */
#include "../../helper/fetch.c"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "failalloc.h"
#include "loopback.h"

/* ---- fetch_target_parse ---- */

static int parse(const char *spec, struct fetch_target *t, char *err)
{
	err[0] = '\0';
	return fetch_target_parse(spec, t, err, 256);
}

static void test_parse_good(void **state)
{
	struct fetch_target t;
	char err[256];

	(void)state;
	assert_int_equal(parse("http://127.0.0.1:8080/drain", &t, err), 0);
	assert_string_equal(t.url, "http://127.0.0.1:8080/drain");
	assert_string_equal(t.unix_path, "");
	assert_int_equal(parse("https://app.local/x?y=1", &t, err), 0);
	assert_string_equal(t.url, "https://app.local/x?y=1");
	assert_int_equal(parse("http://[::1]:9/", &t, err), 0);
	assert_int_equal(parse("unix:/run/app.sock:/admin/drain", &t, err), 0);
	assert_string_equal(t.unix_path, "/run/app.sock");
	assert_string_equal(t.url, "http://localhost/admin/drain");
	assert_int_equal(parse("unix:/run/app.sock", &t, err), 0);
	assert_string_equal(t.unix_path, "/run/app.sock");
	assert_string_equal(t.url, "http://localhost/");
}

static void test_parse_bad(void **state)
{
	static const char *const bad[] = {
		"",
		"localhost:8080/drain",
		"127.0.0.1:8080",
		"ftp://x/",
		"file:///etc/passwd",
		"gopher://x/",
		"http://",
		"http://exa mple/",
		"unix:",
		"unix:run/app.sock",
		"unix:relative:/x",
		"/run/app.sock",
	};
	struct fetch_target t;
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(parse(bad[i], &t, err), -EINVAL);
		assert_true(strlen(err) > 0);
		assert_null(strchr(err, '\n'));
	}
}

static void test_parse_too_long(void **state)
{
	struct fetch_target t;
	char spec[FETCH_URL_MAX + 64], err[256];

	(void)state;
	strcpy(spec, "unix:/");
	memset(spec + 6, 'a', FETCH_UNIX_PATH_MAX);
	spec[6 + FETCH_UNIX_PATH_MAX] = '\0';
	assert_int_equal(parse(spec, &t, err), -EINVAL);
	assert_non_null(strstr(err, "socket path longer"));

	strcpy(spec, "http://x/");
	memset(spec + 9, 'a', FETCH_URL_MAX);
	spec[9 + FETCH_URL_MAX] = '\0';
	assert_int_equal(parse(spec, &t, err), -EINVAL);
}

/* ---- fetch_url_ip ---- */

static void test_url_ip(void **state)
{
	unsigned char ip[16];
	size_t len = 0;
	static const unsigned char v4[4] = { 10, 96, 0, 1 };
	static const unsigned char v6[16] = { 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 };
	static const char *const names[] = {
		"https://kubernetes.default.svc/api",
		"https://localhost:6443/",
		"https://10.96.0.1.example.com/",
		"not a url",
		"",
		"unix:/x.sock:/p",
	};

	(void)state;
	assert_int_equal(fetch_url_ip("https://10.96.0.1:443/api/v1", ip, &len), 0);
	assert_int_equal(len, 4);
	assert_memory_equal(ip, v4, 4);
	assert_int_equal(fetch_url_ip("https://10.96.0.1/", ip, &len), 0);
	assert_int_equal(fetch_url_ip("https://[fd00::1]:443/api", ip, &len), 0);
	assert_int_equal(len, 16);
	assert_memory_equal(ip, v6, 16);
	/* The address curl connects to: "10.96.0" is 10.96.0.0 to it. */
	assert_int_equal(fetch_url_ip("https://10.96.0/", ip, &len), 0);
	assert_int_equal(len, 4);
	assert_int_equal(ip[2] + ip[3], 0);
	/* A zone is the route, not the address: the address is matched. */
	assert_int_equal(fetch_url_ip("https://[fe80::1%25eth0]:443/", ip, &len), 0);
	assert_int_equal(len, 16);
	assert_int_equal(ip[0], 0xfe);
	assert_int_equal(ip[15], 1);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		len = 99;
		if (fetch_url_ip(names[i], ip, &len) != -EINVAL)
			fail_msg("%s: taken as an IP", names[i]);
		assert_int_equal(len, 99);
	}
}

/* ---- real requests ---- */

static struct MHD_Daemon *tcp_d, *unix_d;
static uint16_t tcp_port, hang_port;
static int hang_fd = -1;
static char unix_path[108];
static int last_method; /* 1 GET, 2 POST; written by the server thread */
/* The last request's Authorization header, "" without; written by the
 * server thread before it answers. */
static char last_auth[256];

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
			       const char *method, const char *version, const char *upload,
			       size_t *upload_size, void **con_cls)
{
	static char big[FETCH_BODY_MAX + 100];
	static int first;
	struct MHD_Response *r;
	enum MHD_Result ret;
	unsigned status = 200;
	const char *body = "hello";
	size_t len;

	(void)cls;
	(void)version;
	(void)upload;
	if (!*con_cls) {
		*con_cls = &first;
		return MHD_YES;
	}
	if (*upload_size) {
		*upload_size = 0;
		return MHD_YES;
	}
	__atomic_store_n(&last_method, strcmp(method, "POST") == 0 ? 2 : 1, __ATOMIC_SEQ_CST);
	{
		const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
		snprintf(last_auth, sizeof(last_auth), "%s", auth ? auth : "");
	}
	if (strcmp(url, "/big") == 0) {
		memset(big, 'b', sizeof(big));
		body = big;
		len = sizeof(big);
	} else if (strcmp(url, "/unavailable") == 0) {
		status = 503;
		body = "no";
		len = 2;
	} else {
		len = strlen(body);
	}
	r = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_PERSISTENT);
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static int setup_servers(void **state)
{
	struct sockaddr_un u = { .sun_family = AF_UNIX };
	int fd;

	(void)state;
	fd = listener(&tcp_port);
	tcp_d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, handler, NULL,
				 MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_END);
	assert_non_null(tcp_d);

	snprintf(unix_path, sizeof(unix_path), "/tmp/lastcall-test-fetch-%d.sock", (int)getpid());
	unlink(unix_path);
	strcpy(u.sun_path, unix_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&u, sizeof(u)), 0);
	assert_int_equal(listen(fd, 16), 0);
	unix_d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, handler, NULL,
				  MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_END);
	assert_non_null(unix_d);

	/* Connects (the kernel completes the handshake), never answers. */
	hang_fd = listener(&hang_port);
	return 0;
}

static int teardown_servers(void **state)
{
	(void)state;
	MHD_stop_daemon(tcp_d);
	MHD_stop_daemon(unix_d);
	unlink(unix_path);
	close(hang_fd);
	return 0;
}

static struct loop *lp;
static struct fetch *fp;
static struct {
	int done;
	int want;
	long status[FETCH_REQUESTS_MAX + 1];
	int code[FETCH_REQUESTS_MAX + 1];
	char error[FETCH_REQUESTS_MAX + 1][256];
	char body[FETCH_REQUESTS_MAX + 1][FETCH_BODY_MAX + 1];
	int64_t ms[FETCH_REQUESTS_MAX + 1];
	bool watchdog;
} got;

static void on_done(void *data, const struct fetch_result *r)
{
	int i = (int)(intptr_t)data;

	got.status[i] = r->status;
	got.code[i] = r->code;
	snprintf(got.error[i], sizeof(got.error[i]), "%s", r->error);
	memcpy(got.body[i], r->body, r->len + 1);
	got.ms[i] = r->ms;
	if (++got.done == got.want)
		loop_stop(lp);
}

static void on_watchdog(struct loop *l, void *data)
{
	(void)data;
	got.watchdog = true;
	loop_stop(l);
}

static int setup(void **state)
{
	(void)state;
	memset(&got, 0, sizeof(got));
	if (loop_new(&lp) < 0)
		return -1;
	return fetch_new(lp, &fp);
}

static int teardown(void **state)
{
	(void)state;
	fetch_free(fp);
	loop_free(lp);
	return 0;
}

/* Runs the loop until want requests ended, 5 s at most. */
static void run(int want)
{
	got.want = want;
	assert_int_equal(loop_timer_add(lp, loop_now_ms() + 5000, on_watchdog, NULL, NULL), 0);
	assert_int_equal(loop_run(lp), 0);
	assert_false(got.watchdog);
}

static void start(const char *spec, const char *method, int64_t timeout_ms, int i)
{
	struct fetch_target t;
	char err[256];

	assert_int_equal(fetch_target_parse(spec, &t, err, sizeof(err)), 0);
	assert_int_equal(fetch_start(fp, &t, method, NULL, timeout_ms, on_done,
				     (void *)(intptr_t)i),
			 0);
}

static void test_get_tcp(void **state)
{
	char url[64];

	(void)state;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/hello", tcp_port);
	start(url, "GET", 2000, 0);
	assert_int_equal(got.done, 0); /* never called back from fetch_start */
	run(1);
	assert_int_equal(got.status[0], 200);
	assert_string_equal(got.body[0], "hello");
	assert_string_equal(got.error[0], "");
	assert_int_equal(got.code[0], 0);
	assert_int_equal(__atomic_load_n(&last_method, __ATOMIC_SEQ_CST), 1);
	assert_int_equal(fetch_pending(fp), 0);
}

static void test_post_unix(void **state)
{
	char spec[160];

	(void)state;
	snprintf(spec, sizeof(spec), "unix:%s:/drain", unix_path);
	start(spec, "POST", 2000, 0);
	run(1);
	assert_int_equal(got.status[0], 200);
	assert_int_equal(__atomic_load_n(&last_method, __ATOMIC_SEQ_CST), 2);
}

static void test_status_passed_on(void **state)
{
	char url[64];

	(void)state;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/unavailable", tcp_port);
	start(url, "GET", 2000, 0);
	run(1);
	assert_int_equal(got.status[0], 503);
	assert_string_equal(got.body[0], "no");
}

static void test_timeout(void **state)
{
	char url[64];

	(void)state;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/x", hang_port);
	start(url, "GET", 300, 0);
	run(1);
	assert_int_equal(got.status[0], 0);
	assert_non_null(strstr(got.error[0], "imed out"));
	assert_int_equal(got.code[0], -ETIMEDOUT);
	assert_true(got.ms[0] >= 290);
}

static void test_refused(void **state)
{
	char url[64];
	uint16_t port;
	int fd = listener(&port);

	(void)state;
	close(fd); /* nothing listens there now */
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/x", port);
	start(url, "GET", 2000, 0);
	run(1);
	assert_int_equal(got.status[0], 0);
	assert_true(strlen(got.error[0]) > 0);
	assert_int_equal(got.code[0], -ECONNREFUSED);
}

static void test_body_capped(void **state)
{
	char url[64];

	(void)state;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/big", tcp_port);
	start(url, "GET", 2000, 0);
	run(1);
	assert_int_equal(got.status[0], 0);
	assert_non_null(strstr(got.error[0], "response body over"));
	assert_int_equal(got.code[0], -EMSGSIZE);
}

static void test_several_at_once(void **state)
{
	char ok[64], hang[64];
	struct fetch_target t;
	char err[256];

	(void)state;
	snprintf(ok, sizeof(ok), "http://127.0.0.1:%d/hello", tcp_port);
	snprintf(hang, sizeof(hang), "http://127.0.0.1:%d/x", hang_port);
	for (int i = 0; i < FETCH_REQUESTS_MAX; i++)
		start(i % 2 ? hang : ok, "GET", 200, i);
	assert_int_equal(fetch_pending(fp), FETCH_REQUESTS_MAX);
	/* Full: refused, nothing started. */
	assert_int_equal(fetch_target_parse(ok, &t, err, sizeof(err)), 0);
	assert_int_equal(fetch_start(fp, &t, "GET", NULL, 200, on_done, (void *)(intptr_t)8),
			 -ENOSPC);
	run(FETCH_REQUESTS_MAX);
	for (int i = 0; i < FETCH_REQUESTS_MAX; i++)
		assert_int_equal(got.status[i], i % 2 ? 0 : 200);
	assert_int_equal(fetch_pending(fp), 0);
}

static void test_free_with_requests_under_way(void **state)
{
	char hang[64];

	(void)state;
	snprintf(hang, sizeof(hang), "http://127.0.0.1:%d/x", hang_port);
	start(hang, "GET", 2000, 0);
	start(hang, "POST", 2000, 1);
	/* teardown frees them: no callback, no leak (ASan would say). */
	assert_int_equal(fetch_pending(fp), 2);
	assert_int_equal(got.done, 0);
}

/* What the wipe hook expects: the headers' lengths, in order. */
static struct {
	size_t n;
	size_t len[4];
	int calls;
} wipe;

static void check_wiped(const struct curl_slist *l)
{
	size_t i = 0;

	for (; l; l = l->next, i++) {
		assert_true(i < wipe.n);
		/* Every byte the header had, not just the first (ASan checks
		 * that the length is the allocation's). */
		for (size_t k = 0; k < wipe.len[i]; k++) {
			if (l->data[k] != '\0')
				fail_msg("header %zu byte %zu not wiped", i, k);
		}
	}
	assert_int_equal(i, wipe.n);
	wipe.calls++;
}

/* The request in flight (one only). */
static struct fetch_req *only_req(void)
{
	struct fetch_req *q = NULL;

	for (size_t i = 0; i < FETCH_REQUESTS_MAX; i++) {
		if (fp->req[i].easy) {
			assert_null(q);
			q = &fp->req[i];
		}
	}
	assert_non_null(q);
	return q;
}

static void test_bearer_wiped(void **state)
{
	static const char token[] = "eyJhbGciOiJSUzI1NiJ9.s3cr3t-t0ken_value";
	static const char auth[] = "Authorization: Bearer eyJhbGciOiJSUzI1NiJ9.s3cr3t-t0ken_value";
	struct fetch_extra x = { .bearer = token,
				 .content_type = "application/json",
				 .accept = "application/json" };
	struct fetch_target t;
	struct curl_slist *h;
	char url[64], err[256];

	(void)state;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/hello", tcp_port);
	assert_int_equal(fetch_target_parse(url, &t, err, sizeof(err)), 0);
	assert_int_equal(fetch_start_ex(fp, &t, "POST", "{}", 2000, &x, on_done, (void *)0), 0);
	/* Our own header, in our list: no copy of the token curl keeps. */
	h = only_req()->headers;
	assert_non_null(h);
	assert_string_equal(h->data, auth);
	assert_non_null(h->next);
	assert_string_equal(h->next->data, "Content-Type: application/json");
	wipe.n = 3;
	wipe.len[0] = strlen(auth);
	wipe.len[1] = strlen("Content-Type: application/json");
	wipe.len[2] = strlen("Accept: application/json");
	wipe.calls = 0;
	fetch_test_wiped = check_wiped;
	run(1);
	fetch_test_wiped = NULL;
	assert_int_equal(got.status[0], 200);
	assert_string_equal(last_auth, "Bearer eyJhbGciOiJSUzI1NiJ9.s3cr3t-t0ken_value");
	/* Wiped once, when the request ended. */
	assert_int_equal(wipe.calls, 1);

	/* Without a bearer, no Authorization header at all. */
	x.bearer = NULL;
	assert_int_equal(fetch_start_ex(fp, &t, "GET", NULL, 2000, &x, on_done, (void *)1), 0);
	run(2);
	assert_string_equal(last_auth, "");
}

static void test_bearer_refused(void **state)
{
	struct fetch_extra x = { .bearer = "abc\r\nX-Injected: 1", .accept = "application/json" };
	struct fetch_target t;
	char url[64], err[256];

	(void)state;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/hello", tcp_port);
	assert_int_equal(fetch_target_parse(url, &t, err, sizeof(err)), 0);
	/* A control byte would end the header: refused, nothing started. */
	assert_int_equal(fetch_start_ex(fp, &t, "GET", NULL, 2000, &x, on_done, NULL), -EINVAL);
	x.bearer = "abc\x7f";
	assert_int_equal(fetch_start_ex(fp, &t, "GET", NULL, 2000, &x, on_done, NULL), -EINVAL);
	assert_int_equal(fetch_pending(fp), 0);

	/* Freed before it was sent (fetch_free): wiped too. */
	x.bearer = "tok";
	assert_int_equal(fetch_start_ex(fp, &t, "GET", NULL, 2000, &x, on_done, NULL), 0);
	wipe.n = 2;
	wipe.len[0] = strlen("Authorization: Bearer tok");
	wipe.len[1] = strlen("Accept: application/json");
	wipe.calls = 0;
	fetch_test_wiped = check_wiped;
	fetch_free(fp);
	fp = NULL;
	fetch_test_wiped = NULL;
	assert_int_equal(wipe.calls, 1);
}

/* A request curl never ends (here: its timer taken away before it began,
 * as an allocation failing inside curl can leave one): the backstop ends
 * it FETCH_BACKSTOP_MS after its timeout, with -ETIMEDOUT. */
static void test_backstop(void **state)
{
	char hang[64];

	(void)state;
	snprintf(hang, sizeof(hang), "http://127.0.0.1:%d/x", hang_port);
	start(hang, "GET", 200, 0);
	assert_true(fp->timer > 0);
	loop_timer_cancel(lp, fp->timer);
	fp->timer = 0;
	run(1);
	assert_int_equal(got.status[0], 0);
	assert_int_equal(got.code[0], -ETIMEDOUT);
	assert_non_null(strstr(got.error[0], "no end from libcurl"));
	assert_true(got.ms[0] >= 200 + FETCH_BACKSTOP_MS);
	assert_true(got.ms[0] < 200 + FETCH_BACKSTOP_MS + 1000);
	assert_int_equal(fetch_pending(fp), 0);
}

/* ---- every allocation failing in turn, libcurl's included ---- */

/* How test_alloc_fail's requests that failed ended: by a reset of the
 * multi handle, or by the backstop. */
static int ended_by_reset, ended_by_backstop;

/* What a round's request ended in: answered, or a clean error. */
static void alloc_outcome(int i, bool failed)
{
	if (got.status[i] == 200) {
		assert_string_equal(got.body[i], "hello");
		assert_int_equal(got.code[i], 0);
		return;
	}
	/* Only a failed allocation may cost the answer; then the reason is
	 * one line. */
	assert_true(failed);
	assert_int_equal(got.status[i], 0);
	assert_true(got.code[i] < 0);
	assert_true(got.error[i][0] != '\0');
	assert_null(strchr(got.error[i], '\n'));
	ended_by_reset += strcmp(got.error[i], "libcurl ran out of memory") == 0;
	ended_by_backstop += strstr(got.error[i], "no end from libcurl") != NULL;
}

/*
 * Round n: a loop and a fetch made, a GET and a POST with a bearer token
 * and a body (what kapi sends) started and run to their ends, all freed,
 * with the nth allocation failing, ours or libcurl's. Each step may fail
 * cleanly (-ENOMEM, -EIO, a request ended with an error), never crash,
 * hang (the watchdog) or leak (failalloc_each asks LeakSanitizer).
 */
static void curl_alloc_round(long n, void *data)
{
	struct fetch_extra x = { .bearer = "tok", .content_type = "application/json" };
	struct fetch_target t;
	char url[64], err[256];
	bool on[2] = { false, false };
	int rc, started = 0;

	(void)n;
	(void)data;
	memset(&got, 0, sizeof(got));
	lp = NULL;
	fp = NULL;
	rc = loop_new(&lp);
	if (rc < 0) {
		assert_true(failalloc.failed);
		return;
	}
	rc = fetch_new(lp, &fp);
	if (rc < 0) {
		assert_true(failalloc.failed);
		assert_true(rc == -ENOMEM || rc == -EIO);
		loop_free(lp);
		return;
	}
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/hello", tcp_port);
	rc = fetch_target_parse(url, &t, err, sizeof(err));
	if (rc < 0) { /* curl's URL parser out of memory */
		assert_true(failalloc.failed);
		assert_int_equal(rc, -ENOMEM);
	}
	for (int i = 0; i < 2 && rc == 0; i++) {
		int r = i ? fetch_start_ex(fp, &t, "POST", "{\"a\":1}", 2000, &x, on_done,
					   (void *)(intptr_t)i)
			  : fetch_start(fp, &t, "GET", NULL, 2000, on_done, (void *)(intptr_t)i);

		if (r < 0) {
			assert_true(failalloc.failed);
			assert_true(r == -ENOMEM || r == -EIO);
			continue;
		}
		on[i] = true;
		started++;
	}
	if (started) {
		/* The loop's timers are a table: no allocation. */
		assert_int_equal(loop_timer_add(lp, loop_now_ms() + 5000, on_watchdog, NULL, NULL),
				 0);
		got.want = started;
		assert_int_equal(loop_run(lp), 0);
		assert_false(got.watchdog);
		for (int i = 0; i < 2; i++) {
			if (on[i])
				alloc_outcome(i, failalloc.failed);
		}
	}
	if (!failalloc.failed) {
		assert_int_equal(got.status[0], 200);
		assert_int_equal(got.status[1], 200);
	}
	fetch_free(fp);
	fp = NULL;
	loop_free(lp);
	lp = NULL;
}

static void test_alloc_fail(void **state)
{
	long calls;

	(void)state;
	if (failalloc_off())
		return;
	calls = failalloc_each(curl_alloc_round, NULL);
	/* libcurl's allocations were among them: a request of its takes
	 * well over a hundred. */
	print_message(
		"fetch: %ld allocations in a round, each failed in turn; %d requests "
		"ended by a reset after libcurl ran out of memory, %d by the backstop\n",
		calls, ended_by_reset, ended_by_backstop);
	assert_true(calls > 100);
	/* Inside curl's transfers too, where libcurl 7.88 would later divide
	 * by zero but for the reset. */
	assert_true(ended_by_reset > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_good),
		cmocka_unit_test(test_parse_bad),
		cmocka_unit_test(test_parse_too_long),
		cmocka_unit_test(test_url_ip),
		cmocka_unit_test_setup_teardown(test_get_tcp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_post_unix, setup, teardown),
		cmocka_unit_test_setup_teardown(test_status_passed_on, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_body_capped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_several_at_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_free_with_requests_under_way, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bearer_wiped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bearer_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backstop, setup, teardown),
		cmocka_unit_test(test_alloc_fail),
	};

	/* libcurl in use for the whole run, through fetch.c's hooks (whose
	 * malloc calls go to failalloc's wrappers): each fetch_new only adds
	 * to its count, and libcurl's global state is made once, not in
	 * every round of test_alloc_fail. */
	if (curl_global_init_mem(CURL_GLOBAL_DEFAULT, curl_mem_malloc, curl_mem_free,
				 curl_mem_realloc, curl_mem_strdup, curl_mem_calloc) != CURLE_OK)
		return 1;
	return cmocka_run_group_tests(tests, setup_servers, teardown_servers);
}
