/* cli.h - what every subcommand shares: log options, errors, --help. */
#ifndef LASTCALL_CLI_H
#define LASTCALL_CLI_H

#include <stddef.h>

#include "cfg.h"
#include "log.h"

/* Embedded first in each subcommand's options struct. */
struct cli_common {
	enum log_level log_level;
	enum log_format log_format;
};

int cli_parse_log_level(void *field, const char *value, char *err, size_t errlen);
int cli_parse_log_format(void *field, const char *value, char *err, size_t errlen);

/* The option table rows for struct cli_common, at member m of type T. */
/* clang-format off */
#define CLI_LOG_OPTS(T, m)                                                    \
	{ "log-format", 0, CFG_CUSTOM, 0, offsetof(T, m.log_format),           \
	  "logfmt|json", "logfmt", "Format of log lines on stderr",            \
	  cli_parse_log_format },                                              \
	{ "log-level", 0, CFG_CUSTOM, 0, offsetof(T, m.log_level),             \
	  "LEVEL", "info", "Least level logged: debug, info, warn, error, off", \
	  cli_parse_log_level }
/* clang-format on */

/*
 * Parses argv for cmd into opts and sets up logging. Returns 0 with
 * *ret_argi at the first positional argument; otherwise prints --help
 * (returns 1 with *ret_exit 0) or a one-line error (returns 1 with
 * *ret_exit 125).
 */
int cli_parse(const struct cfg_cmd *cmd, void *opts, struct cli_common *common, int argc,
	      char **argv, int *ret_argi, int *ret_exit);

/* Prints "lastcall CMD: MESSAGE (see 'lastcall CMD --help')" and returns 125. */
int cli_fail(const struct cfg_cmd *cmd, const char *message);

#endif
