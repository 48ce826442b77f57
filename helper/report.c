/* report.c - see report.h. */
#include "report.h"

#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fetch.h"
#include "kapi.h"
#include "limits.h"
#include "log.h"
#include "loop.h"

/* Appends to buf, keeping *len within size - 1. */
static void put(char *buf, size_t size, size_t *len, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void put(char *buf, size_t size, size_t *len, const char *fmt, ...)
{
	va_list ap;
	int w;

	if (size == 0 || *len >= size - 1)
		return;
	va_start(ap, fmt);
	w = vsnprintf(buf + *len, size - *len, fmt, ap);
	va_end(ap);
	if (w > 0)
		*len = (size_t)w < size - *len ? *len + (size_t)w : size - 1;
}

size_t report_status(const struct report *r, char *buf, size_t size)
{
	size_t len = 0;

	if (size == 0)
		return 0;
	buf[0] = '\0';
	put(buf, size, &len,
	    "{\"phase\":\"%s\",\"ready\":%s,\"ms_since_t0\":%lld,"
	    "\"deadline_ms\":%lld,\"inflight\":%d,\"inflight_source\":\"%s\","
	    "\"connections\":%d,\"connections_unsampled\":%zu,\"ports\":[",
	    drain_phase_name(r->phase), r->ready ? "true" : "false", (long long)r->since_t0,
	    (long long)r->deadline_ms, r->inflight, r->inflight_app ? "app" : "kernel",
	    r->connections, r->connections_dropped);
	for (size_t i = 0; i < r->n_ports; i++)
		put(buf, size, &len, "%s%u", i ? "," : "", r->ports[i]);
	put(buf, size, &len, "],\"phases\":{");
	for (int p = DRAIN_UNREADY, first = 1; p < DRAIN_PHASES; p++) {
		if (r->phase_ms[p] < 0)
			continue;
		put(buf, size, &len, "%s\"%s\":%lld", first ? "" : ",", drain_phase_name(p),
		    (long long)r->phase_ms[p]);
		first = 0;
	}
	put(buf, size, &len,
	    "},\"pinned_ms\":%lld,\"late_requests\":%lld,\"closed_idle\":%lld,"
	    "\"grace_ms\":%lld}\n",
	    (long long)r->pinned_ms, r->late_requests, r->closed_idle, (long long)r->grace_ms);
	return len;
}

size_t report_metrics(const struct report *r, char *buf, size_t size)
{
	size_t len = 0;

	if (size == 0)
		return 0;
	buf[0] = '\0';
	put(buf, size, &len,
	    "# HELP lastcall_phase The drain phase lastcall is in (1 for the current one).\n"
	    "# TYPE lastcall_phase gauge\n");
	for (int p = 0; p < DRAIN_PHASES; p++)
		put(buf, size, &len, "lastcall_phase{phase=\"%s\"} %d\n", drain_phase_name(p),
		    p == (int)r->phase);
	put(buf, size, &len,
	    "# HELP lastcall_phase_start_seconds When each phase began, seconds after the drain started.\n"
	    "# TYPE lastcall_phase_start_seconds gauge\n");
	for (int p = DRAIN_UNREADY; p < DRAIN_PHASES; p++) {
		if (r->phase_ms[p] >= 0)
			put(buf, size, &len, "lastcall_phase_start_seconds{phase=\"%s\"} %.3f\n",
			    drain_phase_name(p), (double)r->phase_ms[p] / 1000.0);
	}
	put(buf, size, &len,
	    "# HELP lastcall_ready Whether /readyz answers 200.\n"
	    "# TYPE lastcall_ready gauge\nlastcall_ready %d\n",
	    r->ready);
	put(buf, size, &len,
	    "# HELP lastcall_inflight_requests Requests in flight (from the app, or serving connections busy).\n"
	    "# TYPE lastcall_inflight_requests gauge\nlastcall_inflight_requests %d\n",
	    r->inflight < 0 ? 0 : r->inflight);
	put(buf, size, &len,
	    "# HELP lastcall_open_connections Established connections on the serving ports.\n"
	    "# TYPE lastcall_open_connections gauge\nlastcall_open_connections %d\n",
	    r->connections < 0 ? 0 : r->connections);
	put(buf, size, &len,
	    "# HELP lastcall_unsampled_connections Serving connections past what one sample keeps (then the drain runs to its caps).\n"
	    "# TYPE lastcall_unsampled_connections gauge\nlastcall_unsampled_connections %zu\n"
	    "# HELP lastcall_pinned Whether only traffic pinned to this pod was left after propagation.\n"
	    "# TYPE lastcall_pinned gauge\nlastcall_pinned %d\n"
	    "# HELP lastcall_late_requests_total Requests since the drain began on connections already open before.\n"
	    "# TYPE lastcall_late_requests_total counter\nlastcall_late_requests_total %lld\n"
	    "# HELP lastcall_closed_idle_total Idle connections closed for the app (--close-idle).\n"
	    "# TYPE lastcall_closed_idle_total counter\nlastcall_closed_idle_total %lld\n",
	    r->connections_dropped, r->pinned_ms >= 0, r->late_requests, r->closed_idle);
	return len;
}

int report_summary(const struct report *r, int exit_code, int app_code, char *buf, size_t size)
{
	bool drained = r->since_t0 >= 0;
	cJSON *root = cJSON_CreateObject();
	cJSON *phases = cJSON_CreateObject();
	int n = -ENOMEM;

	if (!root || !phases || !cJSON_AddNumberToObject(root, "exit_code", exit_code) ||
	    (app_code >= 0 && !cJSON_AddNumberToObject(root, "app_code", app_code)) ||
	    !cJSON_AddBoolToObject(root, "forced_kill", r->forced_kill) ||
	    !cJSON_AddBoolToObject(root, "drained", drained) ||
	    (drained && r->inflight >= 0 &&
	     !cJSON_AddNumberToObject(root, "inflight_left", r->inflight)) ||
	    (r->pinned_ms >= 0 &&
	     !cJSON_AddNumberToObject(root, "pinned_ms", (double)r->pinned_ms)) ||
	    (r->closed_idle > 0 &&
	     !cJSON_AddNumberToObject(root, "closed_idle", (double)r->closed_idle)))
		goto out;
	for (int p = DRAIN_UNREADY; p < DRAIN_PHASES; p++) {
		if (r->phase_ms[p] >= 0 &&
		    !cJSON_AddNumberToObject(phases, drain_phase_name(p), (double)r->phase_ms[p]))
			goto out;
	}
	if (!cJSON_AddItemToObject(root, "phases", phases))
		goto out;
	phases = NULL; /* root's now */
	if (size > INT32_MAX)
		size = INT32_MAX;
	n = cJSON_PrintPreallocated(root, buf, (int)size, false) ? (int)strlen(buf) : -ENOSPC;
out:
	cJSON_Delete(phases);
	cJSON_Delete(root);
	return n;
}

void report_termination_log(const char *path, const char *line)
{
	/* As the ready file (ready.c): no symlink followed, no FIFO waited on. */
	int flags = O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW | O_NONBLOCK, fd;
	size_t len = strlen(line);

	if (strcmp(path, REPORT_TERMINATION_LOG) != 0)
		flags |= O_CREAT;
	fd = open(path, flags, 0644);
	if (fd < 0 && errno == ELOOP) {
		log_warn("termination_log_failed", "path=%s error=%s hint=%s", path,
			 strerror(errno), "a symlink is not followed; name the file itself");
		return;
	}
	if (fd < 0) {
		if (errno != ENOENT || (flags & O_CREAT))
			log_warn("termination_log_failed", "path=%s error=%s", path,
				 strerror(errno));
		return;
	}
	if (write(fd, line, len) != (ssize_t)len || write(fd, "\n", 1) != 1)
		log_warn("termination_log_failed", "path=%s error=%s", path, strerror(errno));
	close(fd);
}

int64_t report_flush_until(int64_t now, int64_t t0, int64_t grace_ms, int64_t kill_margin_ms,
			   bool exit_urls, int64_t exit_timeout_ms)
{
	int64_t until = now + EXIT_FLUSH_MAX_MS, end;

	if (exit_urls && now + exit_timeout_ms > until)
		until = now + exit_timeout_ms;
	if (t0 >= 0) {
		/* The kubelet's SIGKILL comes at T0 + grace: be gone before. */
		end = t0 + grace_ms - kill_margin_ms / 2;
		if (end < until)
			until = end;
	}
	return until;
}

struct flush {
	struct loop *loop;
	struct kapi *kapi;
	size_t pending; /* exit calls without an answer */
	int64_t until;
	int timer;
};

struct exit_call {
	struct flush *f;
	const struct fetch_target *t;
};

static void on_exit_done(void *data, const struct fetch_result *r)
{
	struct exit_call *c = data;
	const char *url = c->t->url;

	c->f->pending--;
	if (r->status >= 200 && r->status < 300)
		log_info("on_exit_url", "url=%s status=%ld took_ms=%lld", url, r->status,
			 (long long)r->ms);
	else if (r->status)
		log_warn("on_exit_url_failed", "url=%s status=%ld took_ms=%lld", url, r->status,
			 (long long)r->ms);
	else
		log_warn("on_exit_url_failed", "url=%s error=\"%s\" took_ms=%lld", url, r->error,
			 (long long)r->ms);
}

/* What is worth waiting for: the exit calls, and the last Events unless
 * posting Events fails (then they would only time out). Not a gate patch:
 * the pod is going. */
static bool flush_pending(const struct flush *f)
{
	return f->pending > 0 || kapi_events_waiting(f->kapi) > 0;
}

static void on_flush_timer(struct loop *l, void *data)
{
	struct flush *f = data;

	f->timer = 0;
	if (!flush_pending(f) || loop_now_ms() >= f->until ||
	    loop_timer_add(l, loop_now_ms() + EXIT_FLUSH_POLL_MS, on_flush_timer, f, &f->timer) < 0)
		loop_stop(l);
}

void report_flush(struct loop *l, struct fetch **fe, struct kapi *k,
		  const struct fetch_target *urls, size_t n_urls, int64_t timeout_ms, int64_t until,
		  bool app_left)
{
	struct flush f = { .loop = l, .kapi = k, .until = until };
	struct exit_call calls[ON_EXIT_URLS_MAX];
	int64_t now = loop_now_ms();

	if (n_urls > ON_EXIT_URLS_MAX)
		n_urls = ON_EXIT_URLS_MAX;
	for (size_t i = 0; i < n_urls; i++) {
		const char *url = urls[i].url;
		int r = 0;

		calls[i] = (struct exit_call){ .f = &f, .t = &urls[i] };
		if (app_left) {
			/* A sidecar told to stop while its app runs: the proxy
			 * must stay for the app. */
			log_info("on_exit_url_skipped", "url=%s reason=app_running", url);
			continue;
		}
		if (until <= now)
			r = -ETIME;
		else
			r = fetch_start(*fe, &urls[i], "POST", NULL,
					until - now < timeout_ms ? until - now : timeout_ms,
					on_exit_done, &calls[i]);
		if (r < 0)
			log_warn("on_exit_url_failed", "url=%s error=\"%s\"", url,
				 r == -ETIME ? "no time left in the grace period" : strerror(-r));
		else
			f.pending++;
	}
	if (flush_pending(&f) && until > now &&
	    loop_timer_add(l, now + EXIT_FLUSH_POLL_MS, on_flush_timer, &f, &f.timer) == 0)
		loop_run(l);
	loop_timer_cancel(l, f.timer);
	if (f.pending)
		log_warn("on_exit_url_failed", "count=%zu error=\"no answer before the exit\"",
			 f.pending);
	/* calls[] and f go out of scope: what is under way is aborted, so
	 * nothing calls back into them. */
	fetch_free(*fe);
	*fe = NULL;
}
