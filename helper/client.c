/* client.c - see client.h. */
#include "client.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "fetch.h"
#include "loop.h"

struct call {
	struct loop *l;
	struct client_reply *reply;
	char error[256];
	int code;
};

static void on_done(void *data, const struct fetch_result *r)
{
	struct call *c = data;

	c->code = r->code;
	c->reply->status = r->status;
	c->reply->len = r->len < FETCH_BODY_MAX ? r->len : FETCH_BODY_MAX;
	memcpy(c->reply->body, r->body, c->reply->len);
	c->reply->body[c->reply->len] = '\0';
	snprintf(c->error, sizeof(c->error), "%s", r->error);
	loop_stop(c->l);
}

int client_call(const char *sock, const char *method, const char *path, int64_t timeout_ms,
		struct client_reply *ret, char *err, size_t errlen)
{
	struct fetch_target t;
	struct call c = { .reply = ret };
	struct fetch *f = NULL;
	char spec[FETCH_URL_MAX];
	int r;

	memset(ret, 0, sizeof(*ret));
	if (strncmp(sock, "http://", 7) == 0) {
		snprintf(spec, sizeof(spec), "%s%s", sock, path);
	} else {
		struct stat st;
		if (stat(sock, &st) < 0) {
			snprintf(err, errlen, "%s: %s", sock, strerror(errno));
			return -ENOENT;
		}
		snprintf(spec, sizeof(spec), "unix:%s:%s", sock, path);
	}
	if (fetch_target_parse(spec, &t, err, errlen) < 0)
		return -EINVAL;
	r = loop_new(&c.l);
	if (r == 0)
		r = fetch_new(c.l, &f);
	if (r == 0)
		r = fetch_start(f, &t, method, NULL, timeout_ms, on_done, &c);
	if (r == 0)
		r = loop_run(c.l);
	fetch_free(f);
	loop_free(c.l);
	if (r < 0) {
		snprintf(err, errlen, "%s", strerror(-r));
		return -EIO;
	}
	if (ret->status == 0) {
		snprintf(err, errlen, "%s: %s", sock, c.error);
		return c.code == -ETIMEDOUT || c.code == -ECONNREFUSED ? c.code : -EIO;
	}
	return 0;
}

int client_status_parse(const char *json, size_t len, char *phase, size_t size, long long *ret_ms)
{
	cJSON *root = cJSON_ParseWithLength(json, len);
	const cJSON *p = cJSON_GetObjectItemCaseSensitive(root, "phase");
	const cJSON *ms = cJSON_GetObjectItemCaseSensitive(root, "ms_since_t0");
	int r = -EINVAL;

	phase[0] = '\0';
	*ret_ms = -1;
	if (cJSON_IsString(p) && cJSON_IsNumber(ms)) {
		snprintf(phase, size, "%s", p->valuestring);
		*ret_ms = (long long)ms->valuedouble;
		r = 0;
	}
	cJSON_Delete(root);
	return r;
}
