/* fetch.h - HTTP requests through libcurl's multi interface, driven by our
 * event loop, so that a slow or dead peer never blocks the supervisor.
 *
 * Shaped like curl's docs/examples/ephiperfifo.c: curl tells us which
 * sockets to watch and when to wake it (socket and timer callbacks); the
 * loop calls back into curl; finished transfers call the caller's function.
 * Every request has a total timeout, a capped response body, no proxy, no
 * redirects, and a fresh connection (an idle keep-alive connection of ours
 * must not hold up the app's own graceful close).
 */
#ifndef LASTCALL_FETCH_H
#define LASTCALL_FETCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "limits.h"

struct loop;
struct fetch;

/*
 * Where a request goes: an http:// or https:// URL, or a Unix socket
 * written unix:/path/to.sock or unix:/path/to.sock:/http/path (nginx's
 * spelling; the HTTP path defaults to /).
 */
struct fetch_target {
	char url[FETCH_URL_MAX];
	char unix_path[FETCH_UNIX_PATH_MAX]; /* "" for TCP */
};

/* Parses spec into *ret. -EINVAL with a one-line reason in err. Pure. */
int fetch_target_parse(const char *spec, struct fetch_target *ret, char *err, size_t errlen);

struct fetch_result {
	long status;	   /* HTTP status, 0 when no answer came */
	int code;	   /* 0 with a status; else -ETIMEDOUT, -ECONNREFUSED
			    * (nothing listens), -EMSGSIZE (body too big), -EIO */
	const char *error; /* transport error, "" when status != 0 */
	const char *body;  /* NUL-terminated, at most FETCH_BODY_MAX */
	size_t len;
	int64_t ms; /* how long the request took */
};

typedef void fetch_done_fn(void *data, const struct fetch_result *r);

int fetch_new(struct loop *l, struct fetch **ret);
/* Aborts what is under way without calling back. Accepts NULL. */
void fetch_free(struct fetch *f);

/*
 * Starts method (GET, POST, PATCH...) on t with a total timeout; fn runs
 * once when it ends, from the loop (never from inside this call). body may
 * be NULL; curl keeps its own copy.
 * Returns 0, or -ENOSPC when FETCH_REQUESTS_MAX are under way, -ENOMEM,
 * -EIO when curl refuses.
 */
int fetch_start(struct fetch *f, const struct fetch_target *t, const char *method, const char *body,
		int64_t timeout_ms, fetch_done_fn *fn, void *data);

/* What the Kubernetes API needs on top: each field optional. */
struct fetch_extra {
	const char *cainfo;	  /* verify TLS against this CA file only */
	const char *bearer;	  /* Authorization: Bearer (copied, and the
				   * copy wiped when the request ends) */
	const char *content_type; /* Content-Type header of body */
	const char *accept;	  /* Accept header */
};

/*
 * The address in url's host when it is an IP literal ("10.96.0.1",
 * "[fd00::1]"): 4 or 16 bytes into ip and *ret_len. -EINVAL for a name
 * or a URL that does not parse. Pure. With a TLS library that matches
 * only DNS names (mbedTLS 2), fetch matches such a server's certificate
 * against its iPAddress entries itself, as OpenSSL does.
 */
int fetch_url_ip(const char *url, unsigned char ip[16], size_t *ret_len);

/* fetch_start with x (may be NULL). body is copied. Also -EINVAL for a
 * bearer token with a control byte. */
int fetch_start_ex(struct fetch *f, const struct fetch_target *t, const char *method,
		   const char *body, int64_t timeout_ms, const struct fetch_extra *x,
		   fetch_done_fn *fn, void *data);

/* Requests under way. */
size_t fetch_pending(const struct fetch *f);

#endif
