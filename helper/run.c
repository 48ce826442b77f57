/* run.c - `lastcall run [OPTIONS] -- CMD [ARGS...]`. */
#include "run.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
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

static const struct cfg_opt run_opts_table[] = {
	{ "signal-target", 0, CFG_CUSTOM, 0, offsetof(struct run_opts, sup.target),
	  "child|group", "group",
	  "Forward signals to CMD's whole process group, or to CMD alone",
	  parse_target },
	{ "rewrite", 0, CFG_CUSTOM, CFG_REPEAT, offsetof(struct run_opts, sup.rewrite),
	  "FROM:TO", NULL,
	  "Send signal TO when FROM arrives (TERM:QUIT, 15:3); TO 0 drops FROM",
	  parse_rewrite },
	{ "exit-code-map", 0, CFG_CUSTOM, CFG_REPEAT,
	  offsetof(struct run_opts, sup.exit_map), "FROM:TO", NULL,
	  "Exit with TO when CMD's status is FROM (143:0 for SIGTERM deaths)",
	  parse_exit_map },
	{ "orphan-grace", 0, CFG_DURATION, 0,
	  offsetof(struct run_opts, sup.orphan_grace_ms), "DURATION", "2s",
	  "Time processes left after CMD exits get between SIGTERM and SIGKILL",
	  NULL },
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
	return sup_run(&o.sup, argv + argi, orig_mask);
}
