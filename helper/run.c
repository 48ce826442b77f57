/* run.c - `lastcall run [OPTIONS] -- CMD [ARGS...]`. */
#include "run.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "fetch.h"
#include "sup.h"

struct run_opts {
	struct cli_common common;
	struct sup_opts sup;
};

static int parse_target(void *field, const char *value, char *err, size_t errlen)
{
	enum sup_target *t = field;

	if (strcmp(value, "group") == 0)
		*t = SUP_TARGET_GROUP;
	else if (strcmp(value, "child") == 0)
		*t = SUP_TARGET_CHILD;
	else {
		snprintf(err, errlen, "expected child or group");
		return -EINVAL;
	}
	return 0;
}

static int parse_rewrite(void *field, const char *value, char *err, size_t errlen)
{
	return sig_rewrite_add(field, value, err, errlen);
}

static int parse_exit_map(void *field, const char *value, char *err, size_t errlen)
{
	return status_map_add(field, value, err, errlen);
}

/* "TERM,INT", or "none" for no drain at all. */
static int parse_drain_on(void *field, const char *value, char *err, size_t errlen)
{
	bool *on = field;
	char item[32];

	memset(on, 0, sizeof(bool) * (SIG_MAX + 1));
	if (strcmp(value, "none") == 0)
		return 0;
	for (const char *p = value; *p;) {
		size_t n = strcspn(p, ",");
		int sig;

		if (n == 0 || n >= sizeof(item)) {
			snprintf(err, errlen, "expected signals like TERM,INT, or none");
			return -EINVAL;
		}
		memcpy(item, p, n);
		item[n] = '\0';
		if (sig_parse(item, 0, &sig) < 0 || sig_policy(sig) != SIG_POLICY_FORWARD) {
			snprintf(err, errlen, "\"%s\" is not a signal that can start a drain", item);
			return -EINVAL;
		}
		on[sig] = true;
		p += n;
		if (*p == ',')
			p++;
	}
	return 0;
}

static int parse_port(void *field, const char *value, char *err, size_t errlen)
{
	struct sup_ports *ports = field;
	char *end;
	long v;

	errno = 0;
	v = strtol(value, &end, 10);
	if (errno || end == value || *end || v < 1 || v > 65535) {
		snprintf(err, errlen, "expected a TCP port 1..65535");
		return -EINVAL;
	}
	if (ports->n >= PORTS_MAX) {
		snprintf(err, errlen, "at most %d ports", PORTS_MAX);
		return -EINVAL;
	}
	ports->v[ports->n++] = (uint16_t)v;
	return 0;
}

/* A string where "none" (or empty) turns the feature off. */
static int parse_optional(void *field, const char *value, char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	*(const char **)field = (*value == '\0' || strcmp(value, "none") == 0) ? NULL : value;
	return 0;
}

static int parse_allow(void *field, const char *value, char *err, size_t errlen)
{
	return httpd_acl_add(field, value, err, errlen);
}

/* An app URL: checked now, so a typo fails at start with 125. */
static int parse_app_url(void *field, const char *value, char *err, size_t errlen)
{
	struct fetch_target t;

	if (*value == '\0' || strcmp(value, "none") == 0) {
		*(const char **)field = NULL;
		return 0;
	}
	if (fetch_target_parse(value, &t, err, errlen) < 0)
		return -EINVAL;
	*(const char **)field = value;
	return 0;
}

#define OPT(name, type, flags, member, metavar, def, help, parse)               \
	{ name, 0, type, flags, offsetof(struct run_opts, member), metavar, def, \
	  help, parse }

static const struct cfg_opt run_opts_table[] = {
	OPT("signal-target", CFG_CUSTOM, 0, sup.target, "child|group", "group",
	    "Forward signals to CMD's whole process group, or to CMD alone", parse_target),
	OPT("rewrite", CFG_CUSTOM, CFG_REPEAT, sup.rewrite, "FROM:TO", NULL,
	    "Send signal TO when FROM arrives (TERM:QUIT, 15:3); TO 0 drops FROM",
	    parse_rewrite),
	OPT("exit-code-map", CFG_CUSTOM, CFG_REPEAT, sup.exit_map, "FROM:TO", NULL,
	    "Exit with TO when CMD's status is FROM (143:0 for SIGTERM deaths)",
	    parse_exit_map),
	OPT("orphan-grace", CFG_DURATION, 0, sup.orphan_grace_ms, "DURATION", "2s",
	    "Time processes left after CMD exits get between SIGTERM and SIGKILL", NULL),
	OPT("drain-on", CFG_CUSTOM, 0, sup.drain_on, "SIGNALS", "TERM,INT",
	    "Signals that start the drain instead of being forwarded; none: no drain",
	    parse_drain_on),
	OPT("grace-period", CFG_DURATION, 0, sup.budget.grace_ms, "DURATION", "30s",
	    "The pod's terminationGracePeriodSeconds: the whole shutdown fits in it", NULL),
	OPT("kill-margin", CFG_DURATION, 0, sup.budget.kill_margin_ms, "DURATION", "1s",
	    "SIGKILL everything this long before the grace period ends", NULL),
	OPT("stop-timeout", CFG_DURATION, 0, sup.budget.stop_timeout_ms, "DURATION", "5s",
	    "Time kept for the app's own shutdown after the stop signal", NULL),
	OPT("min-delay", CFG_DURATION, 0, sup.budget.min_delay_ms, "DURATION", "2s",
	    "Least time readiness is off before the drain (endpoint propagation)", NULL),
	OPT("quiet-period", CFG_DURATION, 0, sup.budget.quiet_ms, "DURATION", "1s",
	    "Propagation ends after this long without a new connection or request", NULL),
	OPT("max-delay", CFG_DURATION, 0, sup.budget.max_delay_ms, "DURATION", "15s",
	    "Most time spent waiting for traffic to stop", NULL),
	OPT("stop-signal", CFG_SIGNAL, 0, sup.stop_signal, "SIGNAL", "TERM",
	    "Signal that tells the app to stop once drained (QUIT for nginx)", NULL),
	OPT("port", CFG_CUSTOM, CFG_REPEAT, sup.ports, "PORT", NULL,
	    "A serving TCP port to watch; default: the ports CMD listens on", parse_port),
	OPT("sample-interval", CFG_DURATION, 0, sup.sample_ms, "DURATION", "100ms",
	    "How often connections are sampled while draining", NULL),
	OPT("listen", CFG_CUSTOM, 0, sup.listen, "HOST:PORT", "0.0.0.0:9797",
	    "Probe endpoints (/readyz /livez /status /metrics); none: off", parse_optional),
	OPT("control", CFG_CUSTOM, 0, sup.control, "PATH", "/tmp/lastcall.sock",
	    "Control socket (probes, POST /drain, GET /wait); none: off", parse_optional),
	OPT("allow-from", CFG_CUSTOM, CFG_REPEAT, sup.allow, "ADDR[/BITS]", NULL,
	    "May call GET /prestop on --listen besides loopback (the node: status.hostIP)",
	    parse_allow),
	OPT("app-ready-url", CFG_CUSTOM, 0, sup.app.url[APP_READY], "URL", NULL,
	    "Ready only while GET URL answers 2xx (default: once CMD listens)",
	    parse_app_url),
	OPT("app-drain-url", CFG_CUSTOM, 0, sup.app.url[APP_DRAIN], "URL", NULL,
	    "POST to URL when the drain starts, for apps with their own readiness",
	    parse_app_url),
	OPT("app-inflight-url", CFG_CUSTOM, 0, sup.app.url[APP_INFLIGHT], "URL", NULL,
	    "Take requests in flight from GET URL ({\"inflight\": N}), not the kernel",
	    parse_app_url),
	OPT("app-timeout", CFG_DURATION, 0, sup.app.timeout_ms, "DURATION", "1s",
	    "Timeout of each call to the app URLs (http://HOST:PORT/PATH, unix:/S.sock:/PATH)",
	    NULL),
	CLI_LOG_OPTS(struct run_opts, common),
};

const struct cfg_cmd run_cmd = {
	.name = "run",
	.args = "[--] CMD [ARGS...]",
	.summary = "Run CMD as a supervised child: the container's PID 1.",
	.description =
		"lastcall starts CMD in its own process group, forwards every signal it\n"
		"gets (but SIGCHLD and the TTY stop signals) to that group, reaps every\n"
		"zombie, and exits with CMD's status (128+n when a signal n killed it).\n"
		"Processes CMD leaves behind get SIGTERM, then SIGKILL after\n"
		"--orphan-grace; lastcall exits as soon as none remain. Not PID 1, it\n"
		"registers as child subreaper so orphans are still its to reap.\n"
		"\n"
		"A --drain-on signal (TERM, INT) or POST /drain on the control socket\n"
		"starts the drain instead: /readyz answers 503 at once, lastcall waits\n"
		"until no new connection or request reaches CMD's ports for\n"
		"--quiet-period (at least --min-delay, at most --max-delay), then until\n"
		"no request is in flight, then sends --stop-signal; all of it within\n"
		"--grace-period, SIGKILLing what is left --kill-margin before its end.\n"
		"\n"
		"Exit codes: CMD's (mapped by --exit-code-map); 125 when lastcall itself\n"
		"fails (bad flag, cannot start); 126 when CMD cannot be executed; 127\n"
		"when CMD is not found.\n"
		"Durations: 5s, 1500ms, 1m, 1m30s, or a number of seconds.\n"
		"Signals: TERM, SIGTERM, 15, RTMIN+2.\n",
	.opts = run_opts_table,
	.n_opts = sizeof(run_opts_table) / sizeof(run_opts_table[0]),
};

int run_main(int argc, char **argv, const sigset_t *orig_mask)
{
	struct run_opts o;
	int argi, code;

	memset(&o, 0, sizeof(o));
	sig_rewrite_init(&o.sup.rewrite);
	status_map_init(&o.sup.exit_map);
	if (cli_parse(&run_cmd, &o, &o.common, argc, argv, &argi, &code))
		return code;
	if (argi >= argc)
		return cli_fail(&run_cmd, "missing CMD to run");
	if (o.sup.sample_ms < 10)
		return cli_fail(&run_cmd, "--sample-interval: at least 10ms");
	if (o.sup.app.timeout_ms < 10)
		return cli_fail(&run_cmd, "--app-timeout: at least 10ms");
	if (o.sup.budget.grace_ms < 1000)
		return cli_fail(&run_cmd, "--grace-period: at least 1s (as Kubernetes)");
	return sup_run(&o.sup, argv + argi, orig_mask);
}
