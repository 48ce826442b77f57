/* fetch.c - see fetch.h. */
#include "fetch.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "loop.h"

#ifdef LASTCALL_MBEDTLS
#include <mbedtls/asn1.h>
#include <mbedtls/oid.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>
#endif

#ifndef LASTCALL_VERSION
#define LASTCALL_VERSION "0.0.0-dev"
#endif

struct fetch_req {
	CURL *easy; /* NULL when the slot is free */
	fetch_done_fn *fn;
	void *data;
	int64_t started;
	int64_t deadline; /* started + the timeout */
	size_t len;
	bool too_big;
	struct curl_slist *headers; /* owned; freed with the slot */
	unsigned char peer_ip[16];  /* the server's address when the URL */
	size_t peer_ip_len;	    /* names it by one; else 0 */
	char body[FETCH_BODY_MAX + 1];
	char errbuf[CURL_ERROR_SIZE];
};

struct fetch {
	struct loop *loop;
	CURLM *multi; /* NULL after a reset that could not make one */
	int timer;
	int backstop;			 /* the timer that ends what curl did not */
	int64_t backstop_at;		 /* when it fires; 0: not armed */
	unsigned oom_seen;		 /* fetch_oom when last reset or made */
	int reset;			 /* the timer of a reset due (reset_soon) */
	int fds[FETCH_REQUESTS_MAX * 2]; /* in our loop for curl; -1 free */
	struct fetch_req req[FETCH_REQUESTS_MAX];
};

/*
 * How many of libcurl's allocations have failed (they go through the
 * hooks below, curl_global_init_mem). After one, the multi handle's state
 * is not trusted: libcurl 7.88 (Debian 12's) destroys a socket's transfer
 * hash when adding to it fails but keeps the socket, and its next use
 * divides by zero. So each fetch that sees the count move ends what is
 * under way and starts again with a new handle (fetch_reset). Atomic:
 * curl's threaded resolver allocates in its own thread.
 */
static unsigned fetch_oom;

/* p, counted when it is a failed allocation (a request for 0 bytes may
 * get NULL, and realloc to 0 frees). */
static void *oom_counted(void *p, size_t size)
{
	if (!p && size)
		__atomic_add_fetch(&fetch_oom, 1, __ATOMIC_RELAXED);
	return p;
}

static void *curl_mem_malloc(size_t size)
{
	return oom_counted(malloc(size), size);
}

static void curl_mem_free(void *p)
{
	free(p);
}

static void *curl_mem_realloc(void *p, size_t size)
{
	return oom_counted(realloc(p, size), size);
}

static char *curl_mem_strdup(const char *s)
{
	return oom_counted(strdup(s), 1);
}

static void *curl_mem_calloc(size_t n, size_t size)
{
	return oom_counted(calloc(n, size), n * size);
}

static bool curl_oom_since(const struct fetch *f)
{
	return __atomic_load_n(&fetch_oom, __ATOMIC_RELAXED) != f->oom_seen;
}

static const char fetch_hint[] = "expected http://HOST:PORT/PATH or unix:/PATH/TO.sock:/PATH";

int fetch_target_parse(const char *spec, struct fetch_target *ret, char *err, size_t errlen)
{
	struct fetch_target t;
	CURLU *u = NULL;
	char *scheme = NULL, *url = NULL;
	const char *http_path = NULL;
	CURLUcode rc;
	int r = -EINVAL;
	unsigned oom = __atomic_load_n(&fetch_oom, __ATOMIC_RELAXED);

	memset(&t, 0, sizeof(t));
	if (strncmp(spec, "unix:", 5) == 0) {
		const char *path = spec + 5;
		const char *sep = strstr(path, ":/");
		size_t plen = sep ? (size_t)(sep - path) : strlen(path);

		if (path[0] != '/') {
			snprintf(err, errlen, "unix: needs an absolute socket path (%s)",
				 fetch_hint);
			goto out;
		}
		if (plen >= sizeof(t.unix_path)) {
			snprintf(err, errlen, "socket path longer than %zu bytes",
				 sizeof(t.unix_path) - 1);
			goto out;
		}
		memcpy(t.unix_path, path, plen);
		http_path = sep ? sep + 1 : "/";
		if (strlen(http_path) + sizeof("http://localhost") > sizeof(t.url)) {
			snprintf(err, errlen, "URL longer than %zu bytes", sizeof(t.url) - 1);
			goto out;
		}
		snprintf(t.url, sizeof(t.url), "http://localhost%s", http_path);
		spec = t.url;
	}

	u = curl_url();
	if (!u) {
		snprintf(err, errlen, "out of memory");
		r = -ENOMEM;
		goto out;
	}
	rc = curl_url_set(u, CURLUPART_URL, spec, 0);
	if (rc != CURLUE_OK) {
		snprintf(err, errlen, "%s (%s)", curl_url_strerror(rc), fetch_hint);
		if (rc == CURLUE_OUT_OF_MEMORY)
			r = -ENOMEM;
		goto out;
	}
	if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0)) {
		snprintf(err, errlen, "only http and https URLs (%s)", fetch_hint);
		goto out;
	}
	if (curl_url_get(u, CURLUPART_URL, &url, 0) != CURLUE_OK) {
		snprintf(err, errlen, "cannot rebuild the URL (%s)", fetch_hint);
		goto out;
	}
	if (strlen(url) >= sizeof(t.url)) {
		snprintf(err, errlen, "URL longer than %zu bytes", sizeof(t.url) - 1);
		goto out;
	}
	strcpy(t.url, url);
	*ret = t;
	r = 0;
out:
	/* libcurl 7.88's URL parser may call an allocation that failed a
	 * malformed URL: once fetch_new has installed the hooks, that is
	 * known. */
	if (r < 0 && __atomic_load_n(&fetch_oom, __ATOMIC_RELAXED) != oom) {
		snprintf(err, errlen, "out of memory");
		r = -ENOMEM;
	}
	curl_free(url);
	curl_free(scheme);
	curl_url_cleanup(u);
	return r;
}

static void check_done(struct fetch *f);
static void fetch_reset(struct fetch *f);

/* curl_multi_socket_action on fd (CURL_SOCKET_TIMEOUT: its timer), unless
 * curl ran out of memory since the handle was made: then, and when it
 * runs out in this call, a reset instead. */
static void socket_action(struct fetch *f, curl_socket_t fd, int mask)
{
	int running;

	if (f->multi && !curl_oom_since(f))
		curl_multi_socket_action(f->multi, fd, mask, &running);
	if (!f->multi || curl_oom_since(f))
		fetch_reset(f);
	else
		check_done(f);
}

static void on_fd(struct loop *l, int fd, uint32_t events, void *data)
{
	struct fetch *f = data;
	int mask = 0;

	(void)l;
	if (events & (EPOLLIN | EPOLLHUP))
		mask |= CURL_CSELECT_IN;
	if (events & EPOLLOUT)
		mask |= CURL_CSELECT_OUT;
	if (events & EPOLLERR)
		mask |= CURL_CSELECT_ERR;
	socket_action(f, fd, mask);
}

static void on_timer(struct loop *l, void *data)
{
	struct fetch *f = data;

	(void)l;
	f->timer = 0;
	socket_action(f, CURL_SOCKET_TIMEOUT, 0);
}

/* The fds curl asked us to watch, so that a reset can let go of them all
 * (a multi handle in a bad state may not say CURL_POLL_REMOVE). */
static void fds_set(struct fetch *f, int fd, bool watched)
{
	for (size_t i = 0; i < FETCH_REQUESTS_MAX * 2; i++) {
		if (watched ? f->fds[i] == -1 : f->fds[i] == fd) {
			f->fds[i] = watched ? fd : -1;
			return;
		}
	}
}

/* curl: watch fd for what (or stop watching it). socketp is non-NULL once
 * the fd is in our loop. */
static int on_curl_socket(CURL *e, curl_socket_t fd, int what, void *userp, void *socketp)
{
	struct fetch *f = userp;
	uint32_t ev = 0;

	(void)e;
	if (what == CURL_POLL_REMOVE) {
		if (socketp) {
			loop_del(f->loop, fd);
			fds_set(f, fd, false);
		}
		return 0;
	}
	if (what & CURL_POLL_IN)
		ev |= EPOLLIN;
	if (what & CURL_POLL_OUT)
		ev |= EPOLLOUT;
	if (socketp) {
		loop_mod(f->loop, fd, ev);
	} else if (loop_add(f->loop, fd, ev, on_fd, f) == 0) {
		curl_multi_assign(f->multi, fd, f);
		fds_set(f, fd, true);
	}
	/* Not watched (the loop is full): the request's timeout ends it. */
	return 0;
}

/* curl: call us back in timeout_ms (-1: no timer needed). */
static int on_curl_timer(CURLM *m, long timeout_ms, void *userp)
{
	struct fetch *f = userp;

	(void)m;
	loop_timer_cancel(f->loop, f->timer);
	f->timer = 0;
	if (timeout_ms >= 0)
		loop_timer_add(f->loop, loop_now_ms() + timeout_ms, on_timer, f, &f->timer);
	return 0;
}

static size_t on_write(char *p, size_t size, size_t n, void *userp)
{
	struct fetch_req *q = userp;
	size_t len = size * n;

	if (len > FETCH_BODY_MAX - q->len) {
		q->too_big = true;
		return 0; /* CURLE_WRITE_ERROR: stop reading */
	}
	memcpy(q->body + q->len, p, len);
	q->len += len;
	q->body[q->len] = '\0';
	return len;
}

#ifdef UNIT_TESTING
/* Called with a request's headers once wiped, just before they are freed. */
static void (*fetch_test_wiped)(const struct curl_slist *l);
#endif

/* Wipes the text of every header (one may hold the bearer token), then
 * frees them. Accepts NULL. */
static void headers_free(struct curl_slist *l)
{
	for (struct curl_slist *p = l; p; p = p->next)
		explicit_bzero(p->data, strlen(p->data));
#ifdef UNIT_TESTING
	if (l && fetch_test_wiped)
		fetch_test_wiped(l);
#endif
	curl_slist_free_all(l);
}

static void req_release(struct fetch *f, struct fetch_req *q)
{
	if (!q->easy)
		return;
	curl_multi_remove_handle(f->multi, q->easy);
	curl_easy_cleanup(q->easy);
	q->easy = NULL;
	headers_free(q->headers);
	q->headers = NULL;
}

/* The errno that says what kind of failure a curl code is. */
static int fetch_errno(CURLcode c)
{
	switch (c) {
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_COULDNT_CONNECT:
		return -ECONNREFUSED;
	case CURLE_WRITE_ERROR:
		return -EMSGSIZE; /* only on_write refuses */
	default:
		return -EIO;
	}
}

/* Hands every finished transfer to its caller. */
static void check_done(struct fetch *f)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(f->multi, &left))) {
		struct fetch_req *q = NULL;
		struct fetch_result r;
		char error[CURL_ERROR_SIZE + 64];

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&q);
		if (!q)
			continue;
		memset(&r, 0, sizeof(r));
		r.error = "";
		if (msg->data.result == CURLE_OK) {
			curl_easy_getinfo(q->easy, CURLINFO_RESPONSE_CODE, &r.status);
		} else if (q->too_big) {
			snprintf(error, sizeof(error), "response body over %d bytes",
				 FETCH_BODY_MAX);
			r.error = error;
			r.code = -EMSGSIZE;
		} else {
			snprintf(error, sizeof(error), "%s",
				 q->errbuf[0] ? q->errbuf : curl_easy_strerror(msg->data.result));
			r.error = error;
			r.code = fetch_errno(msg->data.result);
		}
		r.body = q->body;
		r.len = q->len;
		r.ms = loop_now_ms() - q->started;
		/* The slot stays taken while fn reads its body; fn may start
		 * further requests in the other slots. */
		q->fn(q->data, &r);
		req_release(f, q);
	}
}

static void on_backstop(struct loop *l, void *data);

/*
 * Arms the backstop for the earliest deadline of the requests under way
 * (plus FETCH_BACKSTOP_MS), unless it is armed for that time or an
 * earlier one already. -ENOSPC when the loop has no timer left (the
 * backstop armed before, if any, stays).
 */
static int backstop_arm(struct fetch *f)
{
	int64_t at = 0;
	int id, r;

	for (size_t i = 0; i < FETCH_REQUESTS_MAX; i++) {
		const struct fetch_req *q = &f->req[i];

		if (q->easy && (!at || q->deadline + FETCH_BACKSTOP_MS < at))
			at = q->deadline + FETCH_BACKSTOP_MS;
	}
	if (!at || (f->backstop_at && f->backstop_at <= at))
		return 0;
	r = loop_timer_add(f->loop, at, on_backstop, f, &id);
	if (r < 0)
		return r;
	loop_timer_cancel(f->loop, f->backstop);
	f->backstop = id;
	f->backstop_at = at;
	return 0;
}

/* Ends, with -ETIMEDOUT, each request curl has not ended by its deadline
 * plus FETCH_BACKSTOP_MS, then arms the backstop for the rest. */
static void on_backstop(struct loop *l, void *data)
{
	struct fetch *f = data;
	int64_t now = loop_now_ms();

	f->backstop = 0;
	f->backstop_at = 0;
	if (!f->multi || curl_oom_since(f)) {
		fetch_reset(f);
		return;
	}
	/* curl first: a transfer it can still end, it ends itself. */
	check_done(f);
	for (size_t i = 0; i < FETCH_REQUESTS_MAX; i++) {
		struct fetch_req *q = &f->req[i];
		struct fetch_result r = { .code = -ETIMEDOUT };

		if (!q->easy || now < q->deadline + FETCH_BACKSTOP_MS)
			continue;
		r.error = "no end from libcurl past the request's timeout (out of memory?)";
		r.body = q->body;
		r.len = q->len;
		r.ms = now - q->started;
		/* As check_done: fn may start requests in other slots (each
		 * arms the backstop as needed). */
		q->fn(q->data, &r);
		req_release(f, q);
	}
	(void)l;
	/* With no timer left in the loop, the rest keep curl's own. */
	(void)backstop_arm(f);
}

/* A multi handle calling back f, or NULL. */
static CURLM *multi_new(struct fetch *f)
{
	CURLM *m = curl_multi_init();

	if (!m)
		return NULL;
	curl_multi_setopt(m, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
	curl_multi_setopt(m, CURLMOPT_SOCKETDATA, f);
	curl_multi_setopt(m, CURLMOPT_TIMERFUNCTION, on_curl_timer);
	curl_multi_setopt(m, CURLMOPT_TIMERDATA, f);
	return m;
}

/*
 * libcurl ran out of memory: each request under way ends with -ENOMEM
 * (its caller goes on as after any failed request), and a new multi
 * handle replaces the old one (none if it cannot be made: fetch_start
 * tries again). From the loop only: callbacks run here.
 */
static void fetch_reset(struct fetch *f)
{
	struct {
		fetch_done_fn *fn;
		void *data;
		int64_t started;
	} ended[FETCH_REQUESTS_MAX];
	size_t n = 0;

	for (size_t i = 0; i < FETCH_REQUESTS_MAX; i++) {
		struct fetch_req *q = &f->req[i];

		if (!q->easy)
			continue;
		ended[n].fn = q->fn;
		ended[n].data = q->data;
		ended[n].started = q->started;
		n++;
		req_release(f, q);
	}
	for (size_t i = 0; i < FETCH_REQUESTS_MAX * 2; i++) {
		if (f->fds[i] != -1)
			loop_del(f->loop, f->fds[i]);
		f->fds[i] = -1;
	}
	loop_timer_cancel(f->loop, f->timer);
	f->timer = 0;
	loop_timer_cancel(f->loop, f->backstop);
	f->backstop = 0;
	f->backstop_at = 0;
	loop_timer_cancel(f->loop, f->reset);
	f->reset = 0;
	if (f->multi)
		curl_multi_cleanup(f->multi);
	f->oom_seen = __atomic_load_n(&fetch_oom, __ATOMIC_RELAXED);
	f->multi = multi_new(f);
	for (size_t i = 0; i < n; i++) {
		struct fetch_result r = {
			.code = -ENOMEM,
			.error = "libcurl ran out of memory",
			.body = "",
			.ms = loop_now_ms() - ended[i].started,
		};

		ended[i].fn(ended[i].data, &r);
	}
}

static void on_reset(struct loop *l, void *data)
{
	struct fetch *f = data;

	(void)l;
	f->reset = 0;
	if (!f->multi || curl_oom_since(f))
		fetch_reset(f);
}

/* A reset from the loop, as soon as it can: out of memory found where
 * callbacks may not run. When even a timer cannot be had, the next event
 * of curl's resets (socket_action), or the backstop. */
static void reset_soon(struct fetch *f)
{
	if (!f->reset)
		(void)loop_timer_add(f->loop, loop_now_ms(), on_reset, f, &f->reset);
}

int fetch_new(struct loop *l, struct fetch **ret)
{
	struct fetch *f;

	/* libcurl's allocations through the hooks above; when it is in use
	 * already, this only counts one more user. */
	if (curl_global_init_mem(CURL_GLOBAL_DEFAULT, curl_mem_malloc, curl_mem_free,
				 curl_mem_realloc, curl_mem_strdup, curl_mem_calloc) != CURLE_OK)
		return -EIO;
	f = calloc(1, sizeof(*f));
	if (!f) {
		curl_global_cleanup();
		return -ENOMEM;
	}
	f->loop = l;
	for (size_t i = 0; i < FETCH_REQUESTS_MAX * 2; i++)
		f->fds[i] = -1;
	f->oom_seen = __atomic_load_n(&fetch_oom, __ATOMIC_RELAXED);
	f->multi = multi_new(f);
	if (!f->multi) {
		free(f);
		curl_global_cleanup();
		return -ENOMEM;
	}
	*ret = f;
	return 0;
}

void fetch_free(struct fetch *f)
{
	if (!f)
		return;
	for (size_t i = 0; i < FETCH_REQUESTS_MAX; i++)
		req_release(f, &f->req[i]);
	for (size_t i = 0; i < FETCH_REQUESTS_MAX * 2; i++) {
		if (f->fds[i] != -1)
			loop_del(f->loop, f->fds[i]);
	}
	if (f->multi)
		curl_multi_cleanup(f->multi);
	loop_timer_cancel(f->loop, f->timer);
	loop_timer_cancel(f->loop, f->backstop);
	loop_timer_cancel(f->loop, f->reset);
	free(f);
	curl_global_cleanup();
}

size_t fetch_pending(const struct fetch *f)
{
	size_t n = 0;

	for (size_t i = 0; i < FETCH_REQUESTS_MAX; i++)
		n += f->req[i].easy != NULL;
	return n;
}

/* Appends "name: value" to *l when value is set. */
static int add_header(struct curl_slist **l, const char *name, const char *value)
{
	char h[256];
	struct curl_slist *n;

	if (!value)
		return 0;
	snprintf(h, sizeof(h), "%s: %s", name, value);
	n = curl_slist_append(*l, h);
	if (!n)
		return -ENOMEM;
	*l = n;
	return 0;
}

/*
 * Appends "Authorization: Bearer token" to *l. The header is built here,
 * not by curl (CURLOPT_XOAUTH2_BEARER keeps a copy we could not wipe), so
 * every copy of the token we make is wiped before it is freed: the one
 * built here now, the list's by headers_free. A token with a control byte
 * (which would end the header) is refused with -EINVAL.
 */
static int add_bearer(struct curl_slist **l, const char *token)
{
	static const char prefix[] = "Authorization: Bearer ";
	size_t tlen = strlen(token), size = sizeof(prefix) + tlen;
	struct curl_slist *n;
	char *h;

	for (const unsigned char *p = (const unsigned char *)token; *p; p++) {
		if (*p < 0x20 || *p == 0x7f)
			return -EINVAL;
	}
	h = malloc(size);
	if (!h)
		return -ENOMEM;
	memcpy(h, prefix, sizeof(prefix) - 1);
	memcpy(h + sizeof(prefix) - 1, token, tlen + 1);
	n = curl_slist_append(*l, h);
	explicit_bzero(h, size);
	free(h);
	if (!n)
		return -ENOMEM;
	*l = n;
	return 0;
}

int fetch_start(struct fetch *f, const struct fetch_target *t, const char *method, const char *body,
		int64_t timeout_ms, fetch_done_fn *fn, void *data)
{
	return fetch_start_ex(f, t, method, body, timeout_ms, NULL, fn, data);
}

int fetch_url_ip(const char *url, unsigned char ip[16], size_t *ret_len)
{
	char buf[INET6_ADDRSTRLEN + 2], *host = NULL;
	CURLU *u = curl_url();
	int r = -EINVAL;
	size_t n;

	if (!u)
		return -ENOMEM;
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK)
		goto out;
	n = strlen(host);
	if (n >= 2 && host[0] == '[' && host[n - 1] == ']' && n - 2 < sizeof(buf)) {
		memcpy(buf, host + 1, n - 2);
		buf[n - 2] = '\0';
		/* curl keeps a zone ("%eth0") apart from the host. */
		if (inet_pton(AF_INET6, buf, ip) == 1) {
			*ret_len = 16;
			r = 0;
		}
	} else if (inet_pton(AF_INET, host, ip) == 1) {
		*ret_len = 4;
		r = 0;
	}
out:
	curl_free(host);
	curl_url_cleanup(u);
	return r;
}

#ifdef LASTCALL_MBEDTLS
/*
 * mbedTLS 2 matches the host only against dNSName entries, so a server
 * reached by its IP (the Kubernetes service's) fails with a name mismatch
 * even when its certificate lists that IP. Here the mismatch is cleared
 * when an iPAddress entry holds exactly the address the URL names: for
 * the server's own certificate only, and no other verdict (trust, dates)
 * is touched.
 */
static int verify_ip_san(void *p, mbedtls_x509_crt *crt, int depth, uint32_t *flags)
{
	const struct fetch_req *q = p;
	const mbedtls_x509_sequence *san;

	if (depth != 0 || q->peer_ip_len == 0 || !(*flags & MBEDTLS_X509_BADCERT_CN_MISMATCH) ||
	    !(crt->ext_types & MBEDTLS_X509_EXT_SUBJECT_ALT_NAME))
		return 0;
	for (san = &crt->subject_alt_names; san; san = san->next) {
		if (san->buf.tag == (MBEDTLS_ASN1_CONTEXT_SPECIFIC | 7) && /* iPAddress */
		    san->buf.len == q->peer_ip_len &&
		    memcmp(san->buf.p, q->peer_ip, q->peer_ip_len) == 0) {
			*flags &= ~(uint32_t)MBEDTLS_X509_BADCERT_CN_MISMATCH;
			break;
		}
	}
	return 0;
}

static CURLcode on_ssl_ctx(CURL *e, void *conf, void *p)
{
	(void)e;
	mbedtls_ssl_conf_verify(conf, verify_ip_san, p);
	return CURLE_OK;
}
#endif

int fetch_start_ex(struct fetch *f, const struct fetch_target *t, const char *method,
		   const char *body, int64_t timeout_ms, const struct fetch_extra *x,
		   fetch_done_fn *fn, void *data)
{
	struct fetch_req *q = NULL;
	CURL *e;
	int r = 0;
	long connect_ms = timeout_ms < FETCH_CONNECT_TIMEOUT_MAX_MS ? (long)timeout_ms
								    : FETCH_CONNECT_TIMEOUT_MAX_MS;

	for (size_t i = 0; i < FETCH_REQUESTS_MAX && !q; i++) {
		if (!f->req[i].easy)
			q = &f->req[i];
	}
	if (!q)
		return -ENOSPC;
	if (!f->multi || curl_oom_since(f)) {
		/* Nothing under way: nobody to call back, so here. */
		if (fetch_pending(f) == 0)
			fetch_reset(f);
		else
			reset_soon(f);
		if (!f->multi || curl_oom_since(f))
			return -ENOMEM;
	}
	e = curl_easy_init();
	if (!e)
		return -ENOMEM;
	q->fn = fn;
	q->data = data;
	q->len = 0;
	q->too_big = false;
	q->body[0] = '\0';
	q->errbuf[0] = '\0';
	q->started = loop_now_ms();
	q->deadline = q->started + timeout_ms;
	q->headers = NULL;

	/* We own the signals; every request has a deadline. These options
	 * take no copy: they cannot fail. */
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
	curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, q->errbuf);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, q);
	curl_easy_setopt(e, CURLOPT_PRIVATE, q);
	/* These copy their string, and a copy that failed would change the
	 * request (a PATCH sent as a POST, a POST without its body). Only
	 * that fails it: an option a build of libcurl left out answers
	 * CURLE_UNKNOWN_OPTION (the static build has no proxy support, so
	 * no proxy to turn off). */
	r = -ENOMEM;
	if (curl_easy_setopt(e, CURLOPT_URL, t->url) == CURLE_OUT_OF_MEMORY ||
	    (t->unix_path[0] &&
	     curl_easy_setopt(e, CURLOPT_UNIX_SOCKET_PATH, t->unix_path) == CURLE_OUT_OF_MEMORY) ||
	    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OUT_OF_MEMORY ||
	    /* A pod's HTTP_PROXY is for the outside world, not for the app. */
	    curl_easy_setopt(e, CURLOPT_PROXY, "") == CURLE_OUT_OF_MEMORY ||
	    curl_easy_setopt(e, CURLOPT_USERAGENT, "lastcall/" LASTCALL_VERSION) ==
		    CURLE_OUT_OF_MEMORY ||
	    /* curl keeps its own copy of the body: the caller's may go. */
	    ((body || strcmp(method, "POST") == 0) &&
	     curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, body ? body : "") ==
		     CURLE_OUT_OF_MEMORY) ||
	    (strcmp(method, "POST") != 0 && strcmp(method, "GET") != 0 &&
	     curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method) == CURLE_OUT_OF_MEMORY) ||
	    /* Verify the peer against this CA only (the cluster's). */
	    (x && x->cainfo &&
	     (curl_easy_setopt(e, CURLOPT_CAINFO, x->cainfo) == CURLE_OUT_OF_MEMORY ||
	      curl_easy_setopt(e, CURLOPT_CAPATH, NULL) == CURLE_OUT_OF_MEMORY)))
		goto fail;
	r = 0;
	q->peer_ip_len = 0;
#ifdef LASTCALL_MBEDTLS
	if (fetch_url_ip(t->url, q->peer_ip, &q->peer_ip_len) < 0)
		q->peer_ip_len = 0;
	curl_easy_setopt(e, CURLOPT_SSL_CTX_FUNCTION, on_ssl_ctx);
	curl_easy_setopt(e, CURLOPT_SSL_CTX_DATA, q);
#endif
	if (x && x->bearer)
		r = add_bearer(&q->headers, x->bearer);
	if (x && r == 0 &&
	    (add_header(&q->headers, "Content-Type", x->content_type) < 0 ||
	     add_header(&q->headers, "Accept", x->accept) < 0))
		r = -ENOMEM;
	if (r < 0)
		goto fail;
	if (q->headers)
		curl_easy_setopt(e, CURLOPT_HTTPHEADER, q->headers);
	if (curl_multi_add_handle(f->multi, e) != CURLM_OK) {
		r = -EIO;
		goto fail;
	}
	q->easy = e;
	r = curl_oom_since(f) ? -ENOMEM : backstop_arm(f);
	if (r < 0) {
		curl_multi_remove_handle(f->multi, e);
		q->easy = NULL;
		goto fail;
	}
	return 0;
fail:
	curl_easy_cleanup(e);
	headers_free(q->headers);
	q->headers = NULL;
	if (curl_oom_since(f)) {
		r = -ENOMEM;
		if (fetch_pending(f) == 0)
			fetch_reset(f);
		else
			reset_soon(f);
	}
	return r;
}
