/* fuzz_cfg.c - a subcommand's flags and LASTCALL_* environment through
 * cfg_parse and the real option tables (run, sidecar, prestop, gate, probe,
 * sleep, install), then the checks every command makes after parsing.
 *
 * Input: the first byte picks the table, the rest is split on NUL into
 * strings. A string "LASTCALL_NAME=VALUE" goes to the environment; the
 * others, in order, are argv[1...] (argv[0] is the subcommand's name).
 * LASTCALL_* variables the fuzzer itself was started with are removed
 * first, so that an input means the same wherever it runs.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "gate.h"
#include "limits.h"
#include "opts.h"
#include "prestop.h"
#include "run.h"
#include "sig.h"
#include "status.h"
#include "tools.h"

#include "fuzz.h"

extern char **environ;

/* Bounds on one input: more would only make it slower. */
#define FUZZ_ARGS_MAX 64
#define FUZZ_ENV_MAX 8
#define FUZZ_ENV_NAME_MAX 64

static const struct cfg_cmd *const cmds[] = {
	&run_cmd,	  &sidecar_cmd,	    &prestop_cmd,	&gate_cmd,
	&tools_probe_cmd, &tools_sleep_cmd, &tools_install_cmd, &tools_doctor_cmd,
};

/* Whether the table's options struct is struct cmd_opts (run, sidecar,
 * prestop, gate); the others (tools.c's) are smaller structs of their
 * own, which a struct cmd_opts sized buffer holds. */
static bool uses_cmd_opts(const struct cfg_cmd *cmd)
{
	return cmd == &run_cmd || cmd == &sidecar_cmd || cmd == &prestop_cmd || cmd == &gate_cmd;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	/* tests/integration/lib.sh exports LASTCALL_LISTEN and others. */
	for (size_t i = 0; environ[i];) {
		if (strncmp(environ[i], "LASTCALL_", 9) == 0) {
			char name[256];
			size_t n = strcspn(environ[i], "=");
			snprintf(name, sizeof(name), "%.*s", (int)n, environ[i]);
			unsetenv(name);
			i = 0;
			continue;
		}
		i++;
	}
	return 0;
}

static int by_address(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t) * (char *const *)a, y = (uintptr_t) * (char *const *)b;

	return x < y ? -1 : x > y;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct cfg_cmd *cmd;
	char *args[FUZZ_ARGS_MAX + 2], *before[FUZZ_ARGS_MAX + 2];
	char *env[FUZZ_ENV_MAX];
	char err[CFG_ERR_MAX];
	struct cmd_opts *o;
	char *copy;
	int argc = 1, n_env = 0, argi = -1, r;

	if (size < 1 || size > 16 * 1024)
		return 0;
	cmd = cmds[data[0] % (sizeof(cmds) / sizeof(cmds[0]))];
	/* One copy, NUL-terminated at its end too: strings point into it. */
	copy = fuzz_body(data + 1, size - 1);
	o = calloc(1, sizeof(*o));
	if (!copy || !o)
		goto out;
	args[0] = (char *)cmd->name;
	for (size_t off = 0; off < size - 1 && argc <= FUZZ_ARGS_MAX;) {
		char *s = copy + off;
		size_t len = strlen(s);

		if (strncmp(s, "LASTCALL_", 9) == 0 && strchr(s, '=')) {
			/* putenv keeps the pointer: the copy outlives the parse,
			 * and unsetenv takes it out again (a longer name than
			 * FUZZ_ENV_NAME_MAX is no option's anyway). */
			if (n_env < FUZZ_ENV_MAX && strcspn(s, "=") < FUZZ_ENV_NAME_MAX &&
			    putenv(s) == 0)
				env[n_env++] = s;
		} else {
			args[argc++] = s;
		}
		off += len + 1;
	}
	args[argc] = NULL;

	/* As run_main and sidecar_main start. */
	sig_rewrite_init(&o->sup.rewrite);
	status_map_init(&o->sup.exit_map);
	memcpy(before, args, sizeof(args));
	r = cfg_parse(cmd, o, argc, args, &argi, err, sizeof(err));
	FUZZ_ASSERT(r == 0 || r == CFG_HELP || r == -EINVAL);
	/* Options moved before the words: the same words, reordered. */
	FUZZ_ASSERT(args[0] == before[0] && args[argc] == NULL);
	qsort(before + 1, (size_t)argc - 1, sizeof(*before), by_address);
	qsort(args + 1, (size_t)argc - 1, sizeof(*args), by_address);
	FUZZ_ASSERT(memcmp(before, args, sizeof(*args) * (size_t)argc) == 0);
	if (r == -EINVAL) {
		FUZZ_ASSERT(memchr(err, '\0', sizeof(err)) && err[0]);
	} else if (r == 0) {
		FUZZ_ASSERT(argi >= 1 && argi <= argc);
		FUZZ_ASSERT(cmd->args || argi == argc);
		if (uses_cmd_opts(cmd)) {
			const char *bad = opts_check(o);
			FUZZ_ASSERT(!bad || *bad);
			FUZZ_ASSERT(o->sup.ports.n <= PORTS_MAX);
			FUZZ_ASSERT(o->sup.allow.n <= HTTPD_ALLOW_MAX);
			FUZZ_ASSERT(o->sup.on_exit.n <= ON_EXIT_URLS_MAX);
			FUZZ_ASSERT(o->sup.budget.grace_ms == OPTS_GRACE_AUTO ||
				    (o->sup.budget.grace_ms >= 0 &&
				     o->sup.budget.grace_ms <= DURATION_MAX_MS));
		}
	}

out:
	for (int i = 0; i < n_env; i++) {
		char name[FUZZ_ENV_NAME_MAX];
		size_t n = strcspn(env[i], "=");
		snprintf(name, sizeof(name), "%.*s", (int)n, env[i]);
		unsetenv(name);
	}
	free(o);
	free(copy);
	return 0;
}
