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
	CURLM *multi;
	int timer;
	struct fetch_req req[FETCH_REQUESTS_MAX];
};

static const char fetch_hint[] = "expected http://HOST:PORT/PATH or unix:/PATH/TO.sock:/PATH";

int fetch_target_parse(const char *spec, struct fetch_target *ret, char *err, size_t errlen)
{
	struct fetch_target t;
	CURLU *u = NULL;
	char *scheme = NULL, *url = NULL;
	const char *http_path = NULL;
	CURLUcode rc;
	int r = -EINVAL;

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
	curl_free(url);
	curl_free(scheme);
	curl_url_cleanup(u);
	return r;
}

static void check_done(struct fetch *f);

static void on_fd(struct loop *l, int fd, uint32_t events, void *data)
{
	struct fetch *f = data;
	int mask = 0, running;

	(void)l;
	if (events & (EPOLLIN | EPOLLHUP))
		mask |= CURL_CSELECT_IN;
	if (events & EPOLLOUT)
		mask |= CURL_CSELECT_OUT;
	if (events & EPOLLERR)
		mask |= CURL_CSELECT_ERR;
	curl_multi_socket_action(f->multi, fd, mask, &running);
	check_done(f);
}

static void on_timer(struct loop *l, void *data)
{
	struct fetch *f = data;
	int running;

	(void)l;
	f->timer = 0;
	curl_multi_socket_action(f->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_done(f);
}

/* curl: watch fd for what (or stop watching it). socketp is non-NULL once
 * the fd is in our loop. */
static int on_curl_socket(CURL *e, curl_socket_t fd, int what, void *userp, void *socketp)
{
	struct fetch *f = userp;
	uint32_t ev = 0;

	(void)e;
	if (what == CURL_POLL_REMOVE) {
		if (socketp)
			loop_del(f->loop, fd);
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

int fetch_new(struct loop *l, struct fetch **ret)
{
	struct fetch *f;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return -EIO;
	f = calloc(1, sizeof(*f));
	if (!f) {
		curl_global_cleanup();
		return -ENOMEM;
	}
	f->loop = l;
	f->multi = curl_multi_init();
	if (!f->multi) {
		free(f);
		curl_global_cleanup();
		return -ENOMEM;
	}
	curl_multi_setopt(f->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
	curl_multi_setopt(f->multi, CURLMOPT_SOCKETDATA, f);
	curl_multi_setopt(f->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
	curl_multi_setopt(f->multi, CURLMOPT_TIMERDATA, f);
	*ret = f;
	return 0;
}

void fetch_free(struct fetch *f)
{
	if (!f)
		return;
	for (size_t i = 0; i < FETCH_REQUESTS_MAX; i++)
		req_release(f, &f->req[i]);
	curl_multi_cleanup(f->multi);
	loop_timer_cancel(f->loop, f->timer);
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

	/* We own the signals; every request has a deadline. */
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
	curl_easy_setopt(e, CURLOPT_URL, t->url);
	if (t->unix_path[0])
		curl_easy_setopt(e, CURLOPT_UNIX_SOCKET_PATH, t->unix_path);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	/* A pod's HTTP_PROXY is for the outside world, not for the app. */
	curl_easy_setopt(e, CURLOPT_PROXY, "");
	curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "lastcall/" LASTCALL_VERSION);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, q->errbuf);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, q);
	curl_easy_setopt(e, CURLOPT_PRIVATE, q);
	/* curl keeps its own copy of the body: the caller's may go. */
	if (body || strcmp(method, "POST") == 0)
		curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, body ? body : "");
	if (strcmp(method, "POST") != 0 && strcmp(method, "GET") != 0)
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
	if (x && x->cainfo) {
		/* Verify the peer against this CA only (the cluster's). */
		curl_easy_setopt(e, CURLOPT_CAINFO, x->cainfo);
		curl_easy_setopt(e, CURLOPT_CAPATH, NULL);
	}
	q->peer_ip_len = 0;
#ifdef LASTCALL_MBEDTLS
	if (fetch_url_ip(t->url, q->peer_ip, &q->peer_ip_len) < 0)
		q->peer_ip_len = 0;
	curl_easy_setopt(e, CURLOPT_SSL_CTX_FUNCTION, on_ssl_ctx);
	curl_easy_setopt(e, CURLOPT_SSL_CTX_DATA, q);
#endif
	q->headers = NULL;
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
	return 0;
fail:
	curl_easy_cleanup(e);
	headers_free(q->headers);
	q->headers = NULL;
	return r;
}
