/* client.c - see client.h.
 *
 * libcurl's easy interface, blocking (the callers have nothing else to
 * do): fetch.c cannot reach an abstract socket (CURLOPT_ABSTRACT_UNIX_SOCKET),
 * so this keeps fetch's rules by itself: no signals, a deadline, no proxy,
 * a fresh connection, a capped body.
 */
#include "client.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#ifndef LASTCALL_VERSION
#define LASTCALL_VERSION "0.0.0-dev"
#endif

struct call {
	struct client_reply *reply;
	bool too_big;
};

static size_t on_write(char *p, size_t size, size_t n, void *userp)
{
	struct call *c = userp;
	size_t len = size * n;

	if (len > FETCH_BODY_MAX - c->reply->len) {
		c->too_big = true;
		return 0; /* CURLE_WRITE_ERROR: stop reading */
	}
	memcpy(c->reply->body + c->reply->len, p, len);
	c->reply->len += len;
	c->reply->body[c->reply->len] = '\0';
	return len;
}

/*
 * One request to url, through the Unix socket unix_path or the abstract
 * one abstract (at most one of them; neither: TCP). 0 with ret filled when
 * an answer came; else a negative errno and a reason in err: a failed
 * connect gives connect's own errno (-ENOENT, -ECONNREFUSED, -EACCES...).
 */
static int perform(const char *url, const char *unix_path, const char *abstract, const char *method,
		   int64_t timeout_ms, struct client_reply *ret, char *err, size_t errlen)
{
	char errbuf[CURL_ERROR_SIZE] = "";
	struct call c = { .reply = ret };
	long connect_ms = timeout_ms < FETCH_CONNECT_TIMEOUT_MAX_MS ? (long)timeout_ms
								    : FETCH_CONNECT_TIMEOUT_MAX_MS;
	long os_errno = 0;
	CURLcode rc;
	CURL *e;
	int r = 0;

	memset(ret, 0, sizeof(*ret));
	e = curl_easy_init();
	if (!e) {
		snprintf(err, errlen, "%s", strerror(ENOMEM));
		return -ENOMEM;
	}
	/* We own the signals; every request has a deadline. */
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
	curl_easy_setopt(e, CURLOPT_URL, url);
	if (unix_path)
		curl_easy_setopt(e, CURLOPT_UNIX_SOCKET_PATH, unix_path);
	if (abstract)
		curl_easy_setopt(e, CURLOPT_ABSTRACT_UNIX_SOCKET, abstract);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http");
	/* A pod's HTTP_PROXY is for the outside world. */
	curl_easy_setopt(e, CURLOPT_PROXY, "");
	curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "lastcall/" LASTCALL_VERSION);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, &c);
	if (strcmp(method, "POST") == 0)
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, "");
	else if (strcmp(method, "GET") != 0)
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
	rc = curl_easy_perform(e);
	if (rc == CURLE_OK) {
		curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &ret->status);
	} else if (rc == CURLE_COULDNT_CONNECT) {
		curl_easy_getinfo(e, CURLINFO_OS_ERRNO, &os_errno);
		r = os_errno > 0 ? -(int)os_errno : -ECONNREFUSED;
		snprintf(err, errlen, "%s", strerror(-r));
	} else if (rc == CURLE_OPERATION_TIMEDOUT) {
		r = -ETIMEDOUT;
		snprintf(err, errlen, "%s", errbuf[0] ? errbuf : curl_easy_strerror(rc));
	} else {
		r = -EIO;
		if (c.too_big)
			snprintf(err, errlen, "response body over %d bytes", FETCH_BODY_MAX);
		else
			snprintf(err, errlen, "%s", errbuf[0] ? errbuf : curl_easy_strerror(rc));
	}
	curl_easy_cleanup(e);
	if (r < 0)
		ret->status = 0;
	return r;
}

int client_abstract_name(char *buf, size_t size)
{
	struct stat st;
	int n;

	if (stat("/proc/self/ns/mnt", &st) < 0)
		return -errno;
	n = snprintf(buf, size, "lastcall-%llu", (unsigned long long)st.st_ino);
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

int client_call(const char *sock, const char *method, const char *path, int64_t timeout_ms,
		struct client_reply *ret, char *err, size_t errlen)
{
	char url[FETCH_URL_MAX], name[FETCH_UNIX_PATH_MAX], at[FETCH_UNIX_PATH_MAX + 1];
	char why[256], why2[256];
	bool tcp = strncmp(sock, "http://", 7) == 0;
	const char *where = sock;
	int n, r;

	memset(ret, 0, sizeof(*ret));
	n = snprintf(url, sizeof(url), "%s%s", tcp ? sock : "http://localhost", path);
	if (n < 0 || (size_t)n >= sizeof(url)) {
		snprintf(err, errlen, "%s%s: URL too long", sock, path);
		return -EINVAL;
	}
	if (!tcp && strlen(sock) >= FETCH_UNIX_PATH_MAX) {
		snprintf(err, errlen, "%s: path too long", sock);
		return -ENAMETOOLONG;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		snprintf(err, errlen, "cannot initialise libcurl");
		return -EIO;
	}
	r = perform(url, tcp ? NULL : sock, NULL, method, timeout_ms, ret, why, sizeof(why));
	if (!tcp && (r == -ENOENT || r == -ECONNREFUSED) &&
	    client_abstract_name(name, sizeof(name)) == 0) {
		/* Nothing there: an instance that could not bind its path (a
		 * read-only root filesystem) listens on the abstract name. */
		int a = perform(url, NULL, name, method, timeout_ms, ret, why2, sizeof(why2));
		if (a != -ENOENT && a != -ECONNREFUSED) {
			r = a;
			snprintf(at, sizeof(at), "@%s", name);
			where = at;
			memcpy(why, why2, sizeof(why));
		}
	}
	if (r < 0)
		snprintf(err, errlen, "%s: %s", where, why);
	curl_global_cleanup();
	return r;
}

int client_status_parse(const char *json, size_t len, char *phase, size_t size, long long *ret_ms)
{
	cJSON *root = cJSON_ParseWithLength(json, len);
	const cJSON *p = cJSON_GetObjectItemCaseSensitive(root, "phase");
	const cJSON *ms = cJSON_GetObjectItemCaseSensitive(root, "ms_since_t0");
	int r = -EINVAL;

	phase[0] = '\0';
	*ret_ms = -1;
	/* Whatever answers may send any number: one a long long cannot hold
	 * (1e300, inf, nan) is no status (casting it is undefined). */
	if (cJSON_IsString(p) && cJSON_IsNumber(ms) && ms->valuedouble >= -9.2e18 &&
	    ms->valuedouble <= 9.2e18) {
		snprintf(phase, size, "%s", p->valuestring);
		*ret_ms = (long long)ms->valuedouble;
		r = 0;
	}
	cJSON_Delete(root);
	return r;
}
