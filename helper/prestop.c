/* prestop.c - see prestop.h.
 *
 * Attached mode: a `lastcall run` (or sidecar) instance answers on the
 * control socket. POST /drain starts its drain (T0 is the hook's start, so
 * the budget is right), then long-polls GET /wait until --until, printing
 * progress, and returns 0: the kubelet then sends SIGTERM, which finds the
 * drain done. Hooks are delivered at least once: a second prestop attaches
 * to the drain in progress (POST /drain is idempotent).
 */
#include "prestop.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "client.h"
#include "drain.h"
#include "loop.h"

struct prestop_opts {
	struct cli_common common;
	const char *control;
	const char *until;
	int64_t grace_ms;
};

static const struct cfg_opt prestop_opts_table[] = {
	{ "control", 0, CFG_STRING, 0, offsetof(struct prestop_opts, control), "PATH",
	  "/tmp/lastcall.sock", "Control socket of the lastcall instance to drain", NULL },
	{ "until", 0, CFG_STRING, 0, offsetof(struct prestop_opts, until), "PHASE", "drained",
	  "Return once the drain reaches PHASE (unready, propagate, drain, drained, done)",
	  NULL },
	{ "grace-period", 0, CFG_DURATION, 0, offsetof(struct prestop_opts, grace_ms),
	  "DURATION", "30s", "The pod's terminationGracePeriodSeconds: give up 1s before", NULL },
	CLI_LOG_OPTS(struct prestop_opts, common),
};

const struct cfg_cmd prestop_cmd = {
	.name = "prestop",
	.args = NULL,
	.summary = "preStop hook: drain the instance on --control, return when drained.",
	.description =
		"  lifecycle: {preStop: {exec: {command: [/lastcall, prestop]}}}\n"
		"POSTs /drain to the lastcall instance on --control and waits until the\n"
		"drain reaches --until (default drained: just before the stop signal).\n"
		"The kubelet sends SIGTERM when the hook returns; the instance then stops\n"
		"the app at once. Running it twice attaches to the same drain.\n"
		"Exit codes: 0 reached; 1 no instance answers, or the grace period ran\n"
		"out; 125 bad usage.\n",
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

int prestop_main(int argc, char **argv)
{
	struct prestop_opts o;
	struct client_reply reply;
	enum drain_phase target;
	char err[512], path[128], last[32] = "";
	int64_t end;
	int argi, code, r;

	memset(&o, 0, sizeof(o));
	if (cli_parse(&prestop_cmd, &o, &o.common, argc, argv, &argi, &code))
		return code;
	if (argi != argc)
		return cli_fail(&prestop_cmd, "takes no arguments");
	if (drain_phase_parse(o.until, &target) < 0 || target == DRAIN_SERVING)
		return cli_fail(&prestop_cmd,
				"--until: expected unready, propagate, drain, drained, stop, kill or done");
	/* The kubelet kills the hook at the grace period: return before. */
	end = loop_now_ms() + (o.grace_ms > 2000 ? o.grace_ms - 1000 : o.grace_ms / 2);

	r = client_call(o.control, "POST", "/drain", 2000, &reply, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "lastcall prestop: no lastcall instance answers: %s\n", err);
		return 1;
	}
	if (reply.status != 202) {
		fprintf(stderr, "lastcall prestop: POST /drain answered %ld: %s", reply.status,
			reply.body);
		return 1;
	}
	progress(&reply, last, sizeof(last));
	snprintf(path, sizeof(path), "/wait?phase=%s&timeout=1s", o.until);
	for (;;) {
		int64_t left = end - loop_now_ms();

		if (left <= 0) {
			fprintf(stderr, "lastcall prestop: the drain did not reach %s within the grace period\n",
				o.until);
			return 1;
		}
		/* Short polls: progress on the way, and the deadline kept. */
		r = client_call(o.control, "GET", path, left < 3000 ? left : 3000, &reply, err,
				sizeof(err));
		if (r == -ETIMEDOUT)
			continue;
		if (r < 0) {
			/* The instance went away: its app is gone, nothing to drain. */
			printf("prestop: the instance is gone (%s)\n", err);
			return 0;
		}
		progress(&reply, last, sizeof(last));
		if (reply.status == 200) {
			printf("prestop: reached %s\n", o.until);
			return 0;
		}
		if (reply.status != 408) {
			fprintf(stderr, "lastcall prestop: GET /wait answered %ld: %s", reply.status,
				reply.body);
			return 1;
		}
	}
}
