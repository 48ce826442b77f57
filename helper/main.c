/* main.c - lastcall: graceful shutdown for Kubernetes pods. Subcommands. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "gate.h"
#include "prestop.h"
#include "run.h"
#include "spawn.h"
#include "status.h"
#include "sup.h"
#include "tools.h"

#ifndef LASTCALL_VERSION
#define LASTCALL_VERSION "0.0.0-dev"
#endif

static const struct cmd_entry {
	const struct cfg_cmd *cmd;
	int (*main)(int argc, char **argv);
} commands[] = {
	{ &run_cmd, NULL }, /* needs the original signal mask */
	{ &sidecar_cmd, sidecar_main },
	{ &prestop_cmd, prestop_main },
	{ &gate_cmd, gate_main },
	{ &tools_probe_cmd, tools_probe_main },
	{ &tools_sleep_cmd, tools_sleep_main },
	{ &tools_install_cmd, tools_install_main },
	{ &tools_doctor_cmd, tools_doctor_main },
};

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: lastcall COMMAND [OPTIONS] [ARGS...]\n"
		"\n"
		"Shut Kubernetes pods down without losing a request.\n"
		"\n"
		"Commands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(out, "  %-10s %s\n", commands[i].cmd->name, commands[i].cmd->summary);
	fprintf(out,
		"  %-10s %s\n"
		"\n"
		"Options:\n"
		"  -h, --help     Show this help and exit\n"
		"  -V, --version  Show the version and exit\n"
		"\n"
		"Run 'lastcall help COMMAND' or 'lastcall COMMAND --help' for details.\n",
		"help", "Show the help of a command");
}

static const struct cmd_entry *find_command(const char *name)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(commands[i].cmd->name, name) == 0)
			return &commands[i];
	}
	return NULL;
}

int main(int argc, char **argv)
{
	sigset_t orig_mask;

	/* First thing: no signal may arrive before we can forward it. */
	sig_block_all(&orig_mask);
	/* Before any library opens an fd: what is open now is inherited. */
	spawn_init();

	if (argc < 2) {
		usage(stderr);
		return STATUS_LASTCALL_FAILED;
	}
	const char *cmd = argv[1];
	if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "-V") == 0 ||
	    strcmp(cmd, "version") == 0) {
		printf("lastcall %s\n", LASTCALL_VERSION);
		return 0;
	}
	if (strcmp(cmd, "help") == 0) {
		if (argc < 3) {
			usage(stdout);
			return 0;
		}
		const struct cmd_entry *c = find_command(argv[2]);
		if (!c) {
			fprintf(stderr,
				"lastcall: unknown command \"%s\" (see 'lastcall --help')\n",
				argv[2]);
			return STATUS_LASTCALL_FAILED;
		}
		cfg_usage(stdout, c->cmd);
		return 0;
	}
	if (strcmp(cmd, "run") == 0)
		return run_main(argc - 1, argv + 1, &orig_mask);
	const struct cmd_entry *c = find_command(cmd);
	if (c && c->main)
		return c->main(argc - 1, argv + 1);
	fprintf(stderr, "lastcall: unknown command \"%s\" (see 'lastcall --help')\n", cmd);
	return STATUS_LASTCALL_FAILED;
}
