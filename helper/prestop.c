/* prestop.c - see prestop.h.
 *
 * Attached mode: a `lastcall run` (or sidecar) instance answers on the
 * control socket. POST /drain starts its drain (T0 is the hook's start, so
 * the budget is right), then long-polls GET /wait until --until, printing
 * progress, and returns 0: the kubelet then sends SIGTERM, which finds the
 * drain done. Hooks are delivered at least once: a second prestop attaches
 * to the drain in progress (POST /drain is idempotent).
 *
 * Standalone mode: nothing answers there. The hook runs the drain engine
 * itself (adopt_run, SUP_MODE_HOOK) on the pod's sockets and returns when
 * drained, or once the app it was told to signal has exited.
 */
#include "prestop.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "adopt.h"
#include "cli.h"
#include "client.h"
#include "drain.h"
#include "log.h"
#include "loop.h"
#include "opts.h"
#include "proc.h"
#include "sup.h"

static const struct cfg_opt prestop_opts_table[] = {
	OPT("control", CFG_CUSTOM, 0, sup.control, "PATH", "/tmp/lastcall.sock",
	    "Control socket of the instance to drain; none: standalone at once",
	    opts_parse_optional),
	OPT("until", CFG_STRING, 0, until, "PHASE", "drained",
	    "Attached: return at PHASE (unready, propagate, drain, drained, done)", NULL),
	OPTS_BUDGET,
	OPT("signal", CFG_CUSTOM, 0, sup.stop_signal, "SIGNAL", "none",
	    "Standalone: once drained, send SIGNAL to the app and wait for its exit",
	    opts_parse_signal_or_none),
	OPT("pid-file", CFG_STRING, 0, sup.pid_file, "PATH", NULL,
	    "Standalone: the app's pid file (nginx: /run/nginx.pid)", NULL),
	OPT("process", CFG_STRING, 0, sup.target_process, "NAME", NULL,
	    "Standalone: ...or its process name (comm or argv[0] base name)", NULL),
	OPTS_WATCH("Standalone: a serving TCP port; default: the app's, or all listening"),
	OPT_READY_FILE("Standalone: remove PATH at once (an exec readinessProbe checks it)"),
	OPTS_APP,
	OPTS_KUBE,
	CLI_LOG_OPTS(struct cmd_opts, common),
};

const struct cfg_cmd prestop_cmd = {
	.name = "prestop",
	.args = NULL,
	.summary = "preStop hook: drain, return when drained.",
	.description =
		"  lifecycle: {preStop: {exec: {command: [/lastcall, prestop]}}}\n"
		"Attached: when a `lastcall run` or `sidecar` instance answers on\n"
		"--control, POSTs /drain to it and waits until the drain reaches --until\n"
		"(default drained: just before the stop signal). The kubelet sends\n"
		"SIGTERM when the hook returns; a `run` instance holds its stop signal\n"
		"until then (at most until the stop-by deadline), so that the hook\n"
		"returns before PID 1 exits.\n"
		"Running it twice attaches to the same drain.\n"
		"Standalone: when nothing answers (the app itself is PID 1, nginx say),\n"
		"the hook drains: readiness off (--app-drain-url, --ready-file), then it\n"
		"watches the pod's sockets until the load balancers stop sending and no\n"
		"request is in flight, then returns; with --signal it first stops the\n"
		"app named by --pid-file or --process and waits for it (if that is PID 1,\n"
		"it returns once PID 1's children are gone: PID 1's exit kills the hook).\n"
		"Progress also goes to PID 1's stdout (the container log) unless PID 1\n"
		"is /pause.\n"
		"T0 is the hook's start; it returns --kill-margin before --grace-period.\n"
		"Exit codes: 0 drained; 1 the grace period ran out, the app to signal\n"
		"was not found, or the instance failed; 125 bad usage.\n",
	.opts = prestop_opts_table,
	.n_opts = sizeof(prestop_opts_table) / sizeof(prestop_opts_table[0]),
};

/* Prints "prestop: phase=X ms=N" from a /status body when the phase changed. */
static void progress(const struct client_reply *reply, char *last, size_t size)
{
	char phase[32];
	long long ms;

	if (client_status_parse(reply->body, reply->len, phase, sizeof(phase), &ms) == 0 &&
	    strcmp(phase, last) != 0) {
		printf("prestop: phase=%s ms=%lld\n", phase, ms);
		fflush(stdout);
		snprintf(last, size, "%s", phase);
	}
}

/*
 * Attached mode. Returns 1 with *ret_code set when an instance answered
 * (whatever came of it), 0 when none is there.
 */
static int attached(const struct cmd_opts *o, int *ret_code)
{
	struct client_reply reply;
	char err[512], path[128], last[32] = "";
	int64_t grace = o->sup.budget.grace_ms, margin = o->sup.budget.kill_margin_ms;
	int64_t end;
	int r;

	/* The kubelet kills the hook at the grace period: return before. */
	end = loop_now_ms() + (grace > 2 * margin ? grace - margin : grace / 2);
	/* How far we wait: past the stop, the instance must not hold its
	 * stop signal for the kubelet's, which comes only after we return. */
	snprintf(path, sizeof(path), "/drain?until=%s", o->until);
	r = client_call(o->sup.control, "POST", path, 2000, &reply, err, sizeof(err));
	if (r == -ENOENT || r == -ECONNREFUSED) {
		printf("prestop: no lastcall instance on %s: draining standalone\n",
		       o->sup.control);
		fflush(stdout);
		return 0;
	}
	*ret_code = 1;
	if (r < 0) {
		fprintf(stderr, "lastcall prestop: the instance on %s failed: %s\n", o->sup.control,
			err);
		return 1;
	}
	if (reply.status != 202) {
		fprintf(stderr, "lastcall prestop: POST /drain answered %ld: %s", reply.status,
			reply.body);
		return 1;
	}
	progress(&reply, last, sizeof(last));
	snprintf(path, sizeof(path), "/wait?phase=%s&timeout=1s", o->until);
	for (;;) {
		int64_t left = end - loop_now_ms();

		if (left <= 0) {
			fprintf(stderr,
				"lastcall prestop: the drain did not reach %s within the grace period\n",
				o->until);
			return 1;
		}
		/* Short polls: progress on the way, and the deadline kept. */
		r = client_call(o->sup.control, "GET", path, left < 3000 ? left : 3000, &reply, err,
				sizeof(err));
		if (r == -ETIMEDOUT)
			continue;
		if (r == -ENOENT || r == -ECONNREFUSED || r == -EIO) {
			/* The instance went away (its socket, or the connection
			 * dropped): its app is gone, nothing to drain. */
			printf("prestop: the instance is gone (%s)\n", err);
			*ret_code = 0;
			return 1;
		}
		if (r < 0) {
			/* Ours to fail (no memory, no fds, no right to it): the
			 * drain may still be going on, so no success. */
			fprintf(stderr, "lastcall prestop: GET /wait failed: %s\n", err);
			return 1;
		}
		if (reply.status == 503 && strncmp(reply.body, "shutting down", 13) == 0) {
			/* The instance is exiting: its app is gone. */
			printf("prestop: the instance is exiting\n");
			*ret_code = 0;
			return 1;
		}
		progress(&reply, last, sizeof(last));
		if (reply.status == 200) {
			printf("prestop: reached %s\n", o->until);
			*ret_code = 0;
			return 1;
		}
		if (reply.status != 408) {
			fprintf(stderr, "lastcall prestop: GET /wait answered %ld: %s",
				reply.status, reply.body);
			return 1;
		}
	}
}

/* PID 1's stdout (the unit tests point it at a file of theirs). */
static const char *pid1_stdout = "/proc/1/fd/1";

/* Standalone: the hook's output never reaches `kubectl logs`; PID 1's
 * stdout does, unless PID 1 is the pod's /pause (shareProcessNamespace). */
static void tee_to_pid1(void)
{
	int fd;

	if (getpid() == 1 || proc_is_named(1, "pause"))
		return;
	fd = open(pid1_stdout, O_WRONLY | O_APPEND | O_NOCTTY | O_CLOEXEC);
	if (fd >= 0)
		log_tee(fd);
}

int prestop_main(int argc, char **argv)
{
	struct cmd_opts o;
	enum drain_phase target;
	const char *bad;
	int argi, code;

	memset(&o, 0, sizeof(o));
	if (cli_parse(&prestop_cmd, &o, &o.common, argc, argv, &argi, &code))
		return code;
	if (drain_phase_parse(o.until, &target) < 0 || target == DRAIN_SERVING)
		return cli_fail(
			&prestop_cmd,
			"--until: expected unready, propagate, drain, drained, stop, kill or done");
	if ((bad = opts_check(&o)))
		return cli_fail(&prestop_cmd, bad);
	if (o.sup.stop_signal && !o.sup.pid_file && !o.sup.target_process)
		return cli_fail(&prestop_cmd, "--signal needs --pid-file or --process");
	opts_resolve(&o);
	if (o.sup.control && attached(&o, &code))
		return code;
	tee_to_pid1();
	return adopt_run(&o.sup, SUP_MODE_HOOK);
}
