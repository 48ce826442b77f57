/* report.h - what lastcall tells about a shutdown: /status (JSON),
 * /metrics (Prometheus text), the termination message; and the exit
 * flush (--on-exit-url, the last Events).
 * The builders are pure functions over a snapshot the shell fills in;
 * only report_termination_log and report_flush do I/O.
 */
#ifndef LASTCALL_REPORT_H
#define LASTCALL_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "drain.h"

struct fetch;
struct fetch_target;
struct kapi;
struct loop;

/* Kubernetes mounts it in every container; elsewhere nothing is created. */
#define REPORT_TERMINATION_LOG "/dev/termination-log"

/* A snapshot of the shutdown. Times are ms after T0, -1: not (yet). */
struct report {
	enum drain_phase phase;
	bool ready;			/* /readyz would answer 200 */
	int64_t since_t0;		/* now, after T0 */
	int64_t deadline_ms;		/* the SIGKILL deadline */
	int64_t phase_ms[DRAIN_PHASES]; /* when each phase began */
	int64_t grace_ms;		/* the grace period in force */
	int inflight;			/* requests in flight, -1 unknown */
	bool inflight_app;		/* ...as the app counts them, else the kernel */
	int connections;		/* established on the serving ports, -1 unknown */
	size_t connections_dropped;	/* more than a sample keeps (limits.h CONN_MAX) */
	const uint16_t *ports;
	size_t n_ports;
	bool forced_kill;	 /* lastcall had to SIGKILL */
	int64_t pinned_ms;	 /* only pinned traffic was left (drain.h) */
	long long late_requests; /* since T0, on connections already open */
	long long closed_idle;	 /* connections closed for the app (--close-idle) */
};

/* The /status body: one JSON object and a newline. Its length (cut to
 * size - 1 when it does not fit; NUL-terminated). */
size_t report_status(const struct report *r, char *buf, size_t size);
/* The /metrics body in the Prometheus text format. Its length (cut
 * likewise). */
size_t report_metrics(const struct report *r, char *buf, size_t size);
/* The termination message, one JSON line without the newline:
 * {"exit_code":..,"app_code":..,"forced_kill":..,"drained":..,
 * "inflight_left":..,"pinned_ms":..,"closed_idle":..,
 * "phases":{"unready":0,...}}; app_code -1 (unknown), an unknown in-flight
 * count, no pinned verdict and no connection closed are left out. Length, -ENOSPC or
 * -ENOMEM. */
int report_summary(const struct report *r, int exit_code, int app_code, char *buf, size_t size);

/*
 * Writes the termination message (with a newline) to path. The default
 * path (/dev/termination-log) is only written when it exists: Kubernetes
 * mounts it, elsewhere nothing is created. Failures are logged.
 */
void report_termination_log(const char *path, const char *line);

/*
 * Until when the exit flush may wait: EXIT_FLUSH_MAX_MS, or the exit
 * calls' own timeout when they have one and it is longer, but never past
 * half the kill margin before the grace period ends (the kubelet's SIGKILL
 * comes at T0 + grace). t0 < 0: no drain ran. Pure.
 */
int64_t report_flush_until(int64_t now, int64_t t0, int64_t grace_ms, int64_t kill_margin_ms,
			   bool exit_urls, int64_t exit_timeout_ms);

/*
 * The app is gone: POSTs each of urls (skipped with a log line when
 * app_left: a sidecar told to stop while its app runs keeps the mesh
 * proxy for it), then runs the loop until they and the Events kapi is
 * still posting are done, or until `until`. Everything is logged. Frees
 * *f (aborting what is still under way) and sets it to NULL: the app and
 * kapi clients on it can then only be freed.
 */
void report_flush(struct loop *l, struct fetch **f, struct kapi *k, const struct fetch_target *urls,
		  size_t n_urls, int64_t timeout_ms, int64_t until, bool app_left);

#endif
