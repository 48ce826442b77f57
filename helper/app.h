/* app.h - the app's own endpoints, each optional:
 *   --app-ready-url     polled before the drain; 2xx means ready
 *   --app-drain-url     POSTed once at T0, so an app with its own
 *                       readiness (or connection draining) can flip it
 *   --app-inflight-url  polled while draining; answers {"inflight": N}
 * Requests go through fetch.c, never block the loop, and a failure is
 * logged once per streak and retried: it never ends or stalls a drain.
 */
#ifndef LASTCALL_APP_H
#define LASTCALL_APP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct fetch;
struct app;

enum app_call {
	APP_READY,    /* value: 1 ready, 0 not */
	APP_DRAIN,    /* value: the HTTP status, 0 when no answer came */
	APP_INFLIGHT, /* value: N, or -1 when the sample failed */
	APP_CALLS,
};

struct app_urls {
	const char *url[APP_CALLS]; /* NULL: not used */
	int64_t timeout_ms;
};

typedef void app_result_fn(void *data, enum app_call call, int value);

/* URLs were checked by the flag parser; -EINVAL with a reason otherwise. */
int app_new(struct fetch *f, const struct app_urls *u, app_result_fn *fn, void *data,
	    struct app **ret, char *err, size_t errlen);
/* Accepts NULL. Free the fetch first: it aborts what is under way. */
void app_free(struct app *a);

/* Whether that URL is configured (a may be NULL). */
bool app_has(const struct app *a, enum app_call call);
/* Starts that call unless one is under way or it is not configured. */
void app_call(struct app *a, enum app_call call);

/* Parses {"inflight": N} (N an integer >= 0). -EINVAL with a reason in
 * err for anything else. Pure. */
int app_inflight_parse(const char *body, size_t len, int *ret, char *err, size_t errlen);

#endif
