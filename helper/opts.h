/* opts.h - the options run, sidecar and prestop share: one struct, the
 * parsers of its fields, and groups of option-table rows, so a flag means
 * the same thing (and has the same LASTCALL_* variable) everywhere. */
#ifndef LASTCALL_OPTS_H
#define LASTCALL_OPTS_H

#include <stddef.h>

#include "cli.h"
#include "sup.h"

struct cmd_opts {
	struct cli_common common;
	struct sup_opts sup;
	const char *until; /* prestop: return at this phase */
};

int opts_parse_target(void *field, const char *value, char *err, size_t errlen);
int opts_parse_rewrite(void *field, const char *value, char *err, size_t errlen);
int opts_parse_exit_map(void *field, const char *value, char *err, size_t errlen);
/* "TERM,INT", or "none" for no drain at all. */
int opts_parse_drain_on(void *field, const char *value, char *err, size_t errlen);
int opts_parse_port(void *field, const char *value, char *err, size_t errlen);
/* A string where "none" (or empty) turns the feature off. */
int opts_parse_optional(void *field, const char *value, char *err, size_t errlen);
/* A signal name or number, or "none" (0). */
int opts_parse_signal_or_none(void *field, const char *value, char *err, size_t errlen);
int opts_parse_allow(void *field, const char *value, char *err, size_t errlen);
/* An app URL: checked now, so a typo fails at start with 125. */
int opts_parse_app_url(void *field, const char *value, char *err, size_t errlen);

/* --on-exit-url: checked now, kept whole. */
int opts_parse_exit_url(void *field, const char *value, char *err, size_t errlen);

/* --grace-period: a duration, or "auto" (OPTS_GRACE_AUTO until
 * opts_resolve decides). */
#define OPTS_GRACE_AUTO (-1)
int opts_parse_grace(void *field, const char *value, char *err, size_t errlen);

/* Where lastcall runs, as far as it can tell. */
enum opts_where {
	OPTS_WHERE_KUBERNETES, /* KUBERNETES_SERVICE_HOST, or a service account */
	OPTS_WHERE_DOCKER,     /* /.dockerenv */
	OPTS_WHERE_PODMAN,     /* /run/.containerenv */
	OPTS_WHERE_UNKNOWN,
};

/*
 * The grace period "auto" means where lastcall runs: Kubernetes' default
 * terminationGracePeriodSeconds (30 s), or Docker's and podman's default
 * stop timeout (10 s: `docker stop`, `podman stop`, Compose's
 * stop_grace_period), else 30 s. Pure.
 */
int64_t opts_grace_auto(enum opts_where where);
const char *opts_where_name(enum opts_where where);
/* Looks at the environment and the filesystem. */
enum opts_where opts_where_detect(void);

/* Settles what parsing left open: the grace period "auto", noting what
 * was assumed and how to set it (sup_log_grace says so once the app runs).
 * Call once the usage is checked. */
void opts_resolve(struct cmd_opts *o);

/* Range checks every command needs after parsing: a message, or NULL. */
const char *opts_check(const struct cmd_opts *o);

/* clang-format off */
#define OPT(name, type, flags, member, metavar, def, help, parse)               \
	{ name, 0, type, flags, offsetof(struct cmd_opts, member), metavar, def, \
	  help, parse }

/* The budget of the drain. */
#define OPTS_BUDGET                                                             \
	OPT("grace-period", CFG_CUSTOM, 0, sup.budget.grace_ms, "DURATION", "auto", \
	    "The pod's terminationGracePeriodSeconds; auto: 30s in Kubernetes, 10s under Docker or podman", \
	    opts_parse_grace),                                                  \
	OPT("kill-margin", CFG_DURATION, 0, sup.budget.kill_margin_ms, "DURATION", "1s", \
	    "SIGKILL everything this long before the grace period ends", NULL), \
	OPT("stop-timeout", CFG_DURATION, 0, sup.budget.stop_timeout_ms, "DURATION", \
	    "5s", "Time kept for the app's own shutdown after the stop signal", NULL), \
	OPT("min-delay", CFG_DURATION, 0, sup.budget.min_delay_ms, "DURATION", "2s", \
	    "Least time readiness is off before the drain (endpoint propagation)", \
	    NULL),                                                              \
	OPT("quiet-period", CFG_DURATION, 0, sup.budget.quiet_ms, "DURATION", "1s", \
	    "Propagation ends after this long without a new connection or request", \
	    NULL),                                                              \
	OPT("max-delay", CFG_DURATION, 0, sup.budget.max_delay_ms, "DURATION", "15s", \
	    "Most time spent waiting for traffic to stop", NULL)

/* What is watched: the serving ports and how often. */
#define OPTS_WATCH(port_help)                                                   \
	OPT("port", CFG_CUSTOM, CFG_REPEAT, sup.ports, "PORT", NULL, port_help,  \
	    opts_parse_port),                                                   \
	OPT("sample-interval", CFG_DURATION, 0, sup.sample_ms, "DURATION", "100ms", \
	    "How often connections are sampled while draining", NULL)

/* Keep-alive connections the app never closes (idle.h). */
#define OPT_CLOSE_IDLE                                                          \
	OPT("close-idle", CFG_BOOL, 0, sup.close_idle, NULL, "false",            \
	    "Once propagation is over, close each idle keep-alive connection for the app (needs ptrace rights: CAP_SYS_PTRACE in a container)", \
	    NULL)

/* The probe and control endpoints. */
#define OPTS_ENDPOINTS                                                          \
	OPT("listen", CFG_CUSTOM, 0, sup.listen, "HOST:PORT", "0.0.0.0:9797",     \
	    "Probe endpoints (/readyz /livez /status /metrics); none: off",     \
	    opts_parse_optional),                                               \
	OPT("control", CFG_CUSTOM, 0, sup.control, "PATH", "/tmp/lastcall.sock",  \
	    "Control socket (probes, POST /drain, GET /wait); none: off",       \
	    opts_parse_optional),                                               \
	OPT("allow-from", CFG_CUSTOM, CFG_REPEAT, sup.allow, "ADDR[/BITS]", NULL, \
	    "May call GET /prestop on --listen besides 127.0.0.1 and ::1 (the node: status.hostIP)", \
	    opts_parse_allow)

#define OPT_READY_FILE(help)                                                    \
	OPT("ready-file", CFG_CUSTOM, 0, sup.ready_file, "PATH", NULL, help,     \
	    opts_parse_optional)

#define OPT_TERMINATION_LOG                                                     \
	OPT("termination-log", CFG_CUSTOM, 0, sup.termination_log, "PATH",       \
	    REPORT_TERMINATION_LOG,                                                \
	    "One JSON line on how it ended, for kubectl describe pod; none: off", \
	    opts_parse_optional)

/* Where the pod is and how to reach the API server (also `lastcall gate`). */
#define OPTS_KUBE_POD(name_help)                                                \
	OPT("pod-name", CFG_STRING, 0, sup.kube.pod_name, "NAME", NULL, name_help, NULL), \
	OPT("pod-uid", CFG_STRING, 0, sup.kube.pod_uid, "UID", NULL,              \
	    "This pod's uid (metadata.uid): the patch precondition, the Events' target", \
	    NULL),                                                              \
	OPT("kube-dir", CFG_STRING, 0, sup.kube.dir, "DIR", SUP_KUBE_DIR,         \
	    "The service account's token, ca.crt and namespace", NULL),         \
	OPT("api-timeout", CFG_DURATION, 0, sup.kube.timeout_ms, "DURATION", "2s", \
	    "Timeout of each Kubernetes API call", NULL)

/* The Kubernetes API: all of it best effort. */
#define OPTS_KUBE                                                               \
	OPTS_KUBE_POD("This pod's name (downward API metadata.name); turns the Kubernetes API on"), \
	OPT("readiness-gate", CFG_STRING, 0, sup.kube.gate, "TYPE", NULL,         \
	    "Pod condition set True when ready, False at the drain (spec.readinessGates)", \
	    NULL),                                                              \
	OPT("events", CFG_BOOL, 0, sup.kube.events, NULL, "false",               \
	    "Post an Event on the pod at each step of the shutdown", NULL),     \
	OPT("proxy-sync", CFG_DURATION, 0, sup.budget.proxy_sync_ms, "DURATION", "1s", \
	    "Time proxies take to follow an EndpointSlice change (kube-proxy's min sync period)", \
	    NULL)

#define OPT_ON_EXIT_URL                                                         \
	OPT("on-exit-url", CFG_CUSTOM, CFG_REPEAT, sup.on_exit, "URL", NULL,      \
	    "POST to URL once the app has exited (Istio :15020/quitquitquit)",  \
	    opts_parse_exit_url)

#define OPT_APP_READY                                                           \
	OPT("app-ready-url", CFG_CUSTOM, 0, sup.app.url[APP_READY], "URL", NULL,  \
	    "Ready only while GET URL answers 2xx (default: once the app listens)", \
	    opts_parse_app_url)

#define OPTS_APP                                                                \
	OPT("app-drain-url", CFG_CUSTOM, 0, sup.app.url[APP_DRAIN], "URL", NULL,  \
	    "POST to URL when the drain starts, for apps with their own readiness", \
	    opts_parse_app_url),                                                \
	OPT("app-inflight-url", CFG_CUSTOM, 0, sup.app.url[APP_INFLIGHT], "URL",  \
	    NULL, "Take requests in flight from GET URL ({\"inflight\": N}), not the kernel", \
	    opts_parse_app_url),                                                \
	OPT("app-timeout", CFG_DURATION, 0, sup.app.timeout_ms, "DURATION", "1s", \
	    "Timeout of each call to the app URLs (http://HOST:PORT/PATH, unix:/S.sock:/PATH)", \
	    NULL)

/* clang-format on */
#endif
