/* app.c - see app.h. */
#include "app.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fetch.h"
#include "log.h"

static const char *const app_call_names[APP_CALLS] = {
	[APP_READY] = "ready",
	[APP_DRAIN] = "drain",
	[APP_INFLIGHT] = "inflight",
};

struct app_slot {
	struct app *a;
	enum app_call call;
	struct fetch_target t;
	const char *spec; /* as the user wrote it, for the logs */
	bool used;
	bool busy;    /* a request is under way */
	bool failing; /* the last one failed: logged already */
	bool ever_ok; /* a 2xx came at least once */
	int last;     /* last value handed out, -2 before any */
};

struct app {
	struct fetch *f;
	int64_t timeout_ms;
	app_result_fn *fn;
	void *data;
	struct app_slot slot[APP_CALLS];
};

int app_inflight_parse(const char *body, size_t len, int *ret, char *err, size_t errlen)
{
	cJSON *root = NULL;
	const cJSON *n;
	int r = -EINVAL;

	root = cJSON_ParseWithLength(body, len);
	if (!root) {
		snprintf(err, errlen, "not JSON (expected {\"inflight\": N})");
		goto out;
	}
	if (!cJSON_IsObject(root)) {
		snprintf(err, errlen, "not a JSON object (expected {\"inflight\": N})");
		goto out;
	}
	n = cJSON_GetObjectItemCaseSensitive(root, "inflight");
	if (!cJSON_IsNumber(n)) {
		snprintf(err, errlen, "no \"inflight\" number (expected {\"inflight\": N})");
		goto out;
	}
	/* The range test comes first: it makes the cast defined (NaN fails it). */
	if (!(n->valuedouble >= 0 && n->valuedouble <= INT_MAX) ||
	    (double)(int)n->valuedouble != n->valuedouble) {
		snprintf(err, errlen, "\"inflight\" must be a whole number from 0 to %d", INT_MAX);
		goto out;
	}
	*ret = (int)n->valuedouble;
	r = 0;
out:
	cJSON_Delete(root);
	return r;
}

/* Logs a failure once per streak, and the recovery. */
static void note(struct app_slot *sl, bool ok, const char *error, long status)
{
	if (!ok && !sl->failing) {
		if (status)
			log_warn("app_call_failed", "call=%s url=%s status=%ld error=%s",
				 app_call_names[sl->call], sl->spec, status, error);
		else
			log_warn("app_call_failed", "call=%s url=%s error=%s",
				 app_call_names[sl->call], sl->spec, error);
	} else if (ok && sl->failing) {
		log_info("app_call_recovered", "call=%s url=%s", app_call_names[sl->call],
			 sl->spec);
	}
	sl->failing = !ok;
}

static void on_done(void *data, const struct fetch_result *res)
{
	struct app_slot *sl = data;
	struct app *a = sl->a;
	bool ok2xx = res->status >= 200 && res->status <= 299;
	char err[256];
	int value = 0;

	sl->busy = false;
	switch (sl->call) {
	case APP_READY:
		/* Not ready is an answer, not a failure: log the change only.
		 * No answer is a failure once the app has been ready; before,
		 * it is the app still starting. */
		value = ok2xx;
		if (res->status != 0)
			note(sl, true, "", 0);
		else if (sl->ever_ok)
			note(sl, false, res->error, 0);
		sl->ever_ok |= ok2xx;
		if (value != sl->last)
			log_info("app_ready", "ready=%s status=%ld url=%s",
				 value ? "true" : "false", res->status, sl->spec);
		break;
	case APP_DRAIN:
		value = (int)res->status;
		if (ok2xx)
			log_info("app_drain_notified", "status=%ld took_ms=%lld url=%s",
				 res->status, (long long)res->ms, sl->spec);
		else
			log_warn("app_drain_failed", "status=%ld error=%s url=%s", res->status,
				 res->status ? "not 2xx" : res->error, sl->spec);
		break;
	case APP_INFLIGHT:
		value = -1;
		if (!ok2xx) {
			note(sl, false, res->status ? "not 2xx" : res->error, res->status);
		} else if (app_inflight_parse(res->body, res->len, &value, err, sizeof(err)) < 0) {
			value = -1;
			note(sl, false, err, res->status);
		} else {
			note(sl, true, "", res->status);
		}
		break;
	default:
		return;
	}
	sl->last = value;
	a->fn(a->data, sl->call, value);
}

int app_new(struct fetch *f, const struct app_urls *u, app_result_fn *fn, void *data,
	    struct app **ret, char *err, size_t errlen)
{
	struct app *a = calloc(1, sizeof(*a));

	if (!a) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	a->f = f;
	a->timeout_ms = u->timeout_ms;
	a->fn = fn;
	a->data = data;
	for (int c = 0; c < APP_CALLS; c++) {
		struct app_slot *sl = &a->slot[c];
		sl->a = a;
		sl->call = (enum app_call)c;
		sl->last = -2;
		if (!u->url[c])
			continue;
		if (fetch_target_parse(u->url[c], &sl->t, err, errlen) < 0) {
			free(a);
			return -EINVAL;
		}
		sl->spec = u->url[c];
		sl->used = true;
	}
	*ret = a;
	return 0;
}

void app_free(struct app *a)
{
	free(a);
}

bool app_has(const struct app *a, enum app_call call)
{
	return a && call < APP_CALLS && a->slot[call].used;
}

void app_call(struct app *a, enum app_call call)
{
	struct app_slot *sl;
	int r;

	if (!app_has(a, call))
		return;
	sl = &a->slot[call];
	if (sl->busy)
		return;
	r = fetch_start(a->f, &sl->t, call == APP_DRAIN ? "POST" : "GET", NULL, a->timeout_ms,
			on_done, sl);
	if (r < 0) {
		note(sl, false, strerror(-r), 0);
		return;
	}
	sl->busy = true;
}
