/* run.c - `lastcall run [OPTIONS] -- CMD [ARGS...]` and `lastcall sidecar`. */
#include "run.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adopt.h"
#include "cli.h"
#include "opts.h"
#include "sup.h"

/* What run and sidecar both serve and report, after their own rows. */
/* clang-format off */
#define OPTS_SERVING                                                            \
	OPTS_ENDPOINTS,                                                         \
	OPT_READY_FILE("Create PATH while ready, remove it at the drain (exec readinessProbe)"), \
	OPT_TERMINATION_LOG,                                                    \
	OPT_APP_READY,                                                          \
	OPTS_APP,                                                               \
	OPT_ON_EXIT_URL,                                                        \
	OPTS_KUBE,                                                              \
	CLI_LOG_OPTS(struct cmd_opts, common)
/* clang-format on */

static const struct cfg_opt run_opts_table[] = {
	OPT("signal-target", CFG_CUSTOM, 0, sup.target, "child|group", "group",
	    "Forward signals to CMD's whole process group, or to CMD alone", opts_parse_target),
	OPT("rewrite", CFG_CUSTOM, CFG_REPEAT, sup.rewrite, "FROM:TO", NULL,
	    "Send signal TO when FROM arrives (TERM:QUIT, 15:3); TO 0 drops FROM",
	    opts_parse_rewrite),
	OPT("exit-code-map", CFG_CUSTOM, CFG_REPEAT, sup.exit_map, "FROM:TO", NULL,
	    "Exit with TO when CMD's status is FROM (143:0 for SIGTERM deaths)",
	    opts_parse_exit_map),
	OPT("orphan-grace", CFG_DURATION, 0, sup.orphan_grace_ms, "DURATION", "2s",
	    "Time processes left after CMD exits get between SIGTERM and SIGKILL", NULL),
	OPT("drain-on", CFG_CUSTOM, 0, sup.drain_on, "SIGNALS", "TERM,INT",
	    "Signals that start the drain instead of being forwarded; none: no drain",
	    opts_parse_drain_on),
	OPTS_BUDGET,
	OPT("stop-signal", CFG_SIGNAL, 0, sup.stop_signal, "SIGNAL", "TERM",
	    "Signal that tells the app to stop once drained (QUIT for nginx)", NULL),
	OPT_CLOSE_IDLE,
	OPTS_WATCH("A serving TCP port to watch; default: the ports CMD listens on"),
	OPTS_SERVING,
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
	struct cmd_opts o;
	const char *bad;
	int argi, code;

	memset(&o, 0, sizeof(o));
	sig_rewrite_init(&o.sup.rewrite);
	status_map_init(&o.sup.exit_map);
	if (cli_parse(&run_cmd, &o, &o.common, argc, argv, &argi, &code))
		return code;
	if (argi >= argc)
		return cli_fail(&run_cmd, "missing CMD to run");
	if ((bad = opts_check(&o)))
		return cli_fail(&run_cmd, bad);
	opts_resolve(&o);
	return sup_run(&o.sup, argv + argi, orig_mask);
}

static const struct cfg_opt sidecar_opts_table[] = {
	OPT("target-process", CFG_STRING, 0, sup.target_process, "NAME", NULL,
	    "The app's main process: comm or argv[0] base name (listening first, then oldest)",
	    NULL),
	OPT("pid-file", CFG_STRING, 0, sup.pid_file, "PATH", NULL,
	    "...or the file holding its pid (wins over --target-process)", NULL),
	OPT("drain-on", CFG_CUSTOM, 0, sup.drain_on, "SIGNALS", "TERM,INT",
	    "Signals that start the drain (once the app is gone: exit 0)", opts_parse_drain_on),
	OPTS_BUDGET,
	OPT("stop-signal", CFG_SIGNAL, 0, sup.stop_signal, "SIGNAL", "TERM",
	    "Signal sent to the app once drained (QUIT for nginx)", NULL),
	OPT_CLOSE_IDLE,
	OPTS_WATCH("A serving TCP port to watch; default: the ports the app listens on"),
	OPTS_SERVING,
};

const struct cfg_cmd sidecar_cmd = {
	.name = "sidecar",
	.args = NULL,
	.summary = "Drain the app next to it, from its own container.",
	.description =
		"Needs shareProcessNamespace: true. Finds the app's main process by\n"
		"--pid-file or --target-process (and again after a restart), serves the\n"
		"probes for it, and drains it like `run` does: on a --drain-on signal,\n"
		"POST /drain on the control socket (`lastcall prestop`), or GET /prestop\n"
		"(a preStop httpGet, in the app's container or its own), then sends\n"
		"--stop-signal to the app and waits until it exits, SIGKILLing it and its\n"
		"children at the deadline.\n"
		"As a native sidecar (an init container with restartPolicy: Always) its\n"
		"SIGTERM comes after the app exited: the drain must start from a\n"
		"preStop hook. It keeps serving probes through the drain and exits once\n"
		"the app is gone.\n"
		"Ports are found through /proc/PID/fd, which needs the app's user (or\n"
		"CAP_SYS_PTRACE); otherwise give --port.\n"
		"\n"
		"Exit codes: 0 the app is gone; 137 it had to be SIGKILLed; 125 bad\n"
		"usage or lastcall could not start.\n",
	.opts = sidecar_opts_table,
	.n_opts = sizeof(sidecar_opts_table) / sizeof(sidecar_opts_table[0]),
};

int sidecar_main(int argc, char **argv)
{
	struct cmd_opts o;
	const char *bad;
	int argi, code;

	memset(&o, 0, sizeof(o));
	if (cli_parse(&sidecar_cmd, &o, &o.common, argc, argv, &argi, &code))
		return code;
	if (!o.sup.target_process && !o.sup.pid_file)
		return cli_fail(&sidecar_cmd, "give --target-process NAME or --pid-file PATH");
	if ((bad = opts_check(&o)))
		return cli_fail(&sidecar_cmd, bad);
	opts_resolve(&o);
	return adopt_run(&o.sup, SUP_MODE_SIDECAR);
}
