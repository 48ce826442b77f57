/* cli.c - see cli.h. */
#include "cli.h"

#include <stdio.h>

#include "limits.h"
#include "status.h"

int cli_parse_log_level(void *field, const char *value, char *err, size_t errlen)
{
	if (log_level_parse(value, field) < 0) {
		snprintf(err, errlen, "expected debug, info, warn, error or off");
		return -1;
	}
	return 0;
}

int cli_parse_log_format(void *field, const char *value, char *err, size_t errlen)
{
	if (log_format_parse(value, field) < 0) {
		snprintf(err, errlen, "expected logfmt or json");
		return -1;
	}
	return 0;
}

int cli_fail(const struct cfg_cmd *cmd, const char *message)
{
	fprintf(stderr, "lastcall %s: %s (see 'lastcall %s --help')\n", cmd->name, message,
		cmd->name);
	return STATUS_LASTCALL_FAILED;
}

int cli_parse(const struct cfg_cmd *cmd, void *opts, struct cli_common *common, int argc,
	      char **argv, int *ret_argi, int *ret_exit)
{
	char err[CFG_ERR_MAX];
	int r = cfg_parse(cmd, opts, argc, argv, ret_argi, err, sizeof(err));

	if (r == CFG_HELP) {
		cfg_usage(stdout, cmd);
		*ret_exit = 0;
		return 1;
	}
	if (r < 0) {
		*ret_exit = cli_fail(cmd, err);
		return 1;
	}
	log_setup(common->log_level, common->log_format, 2);
	return 0;
}
