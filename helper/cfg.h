/* cfg.h - flags and LASTCALL_* environment variables from one table. Pure.
 *
 * Every subcommand describes its options as a table of struct cfg_opt.
 * Values are applied in this order: the default, then the environment
 * (LASTCALL_<NAME> with '-' as '_', upper case), then the flags. A flag of a
 * repeatable option replaces the environment's list instead of adding to it;
 * in the environment a repeatable option is a comma-separated list.
 */
#ifndef LASTCALL_CFG_H
#define LASTCALL_CFG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum cfg_type {
	CFG_BOOL,     /* bool */
	CFG_DURATION, /* int64_t milliseconds */
	CFG_STRING,   /* const char *, points into argv or environ */
	CFG_SIGNAL,   /* int signal number */
	CFG_CUSTOM,   /* parsed by opt->parse */
};

/* May be given several times; only for CFG_CUSTOM options, whose parse
 * copies what it keeps (list items from the environment are temporary). */
#define CFG_REPEAT 1u

struct cfg_opt {
	const char *name; /* long flag without "--" */
	char short_name;  /* or 0 */
	enum cfg_type type;
	unsigned flags;
	size_t offset;	     /* of the field in the options struct */
	const char *metavar; /* shown in --help; NULL for booleans */
	const char *def;     /* default as text, or NULL */
	const char *help;
	/* CFG_CUSTOM: parse value into field; -EINVAL with a reason in err. */
	int (*parse)(void *field, const char *value, char *err, size_t errlen);
};

struct cfg_cmd {
	const char *name; /* "run" */
	const char *args; /* "[--] CMD [ARGS...]", or NULL: no arguments */
	/* The first positional word starts a command whose words are all its
	 * own (run's CMD): options end there. Otherwise options may also come
	 * after positional words, as users write `probe ready --control S`. */
	bool args_command;
	const char *summary;	 /* one line */
	const char *description; /* paragraphs for --help, or NULL */
	const struct cfg_opt *opts;
	size_t n_opts;
};

#define CFG_HELP 1

/*
 * Parses argv (argv[0] is the subcommand name) into opts. On success
 * returns 0 and sets *ret_argi to the index of the first positional
 * argument (argc when none), or returns CFG_HELP when --help was asked.
 * Unless cmd->args_command, options and positional words may be mixed
 * until "--": argv is then reordered in place (GNU getopt's way), options
 * first, the positional words after *ret_argi in their order.
 * On error returns -EINVAL with a one-line reason in err.
 */
int cfg_parse(const struct cfg_cmd *cmd, void *opts, int argc, char **argv, int *ret_argi,
	      char *err, size_t errlen);

/* cfg_parse with the environment from get (NULL: not set), e.g. a
 * container's env in a manifest (`lastcall doctor`). */
typedef const char *(*cfg_getenv_fn)(const char *name, void *data);
int cfg_parse_with(const struct cfg_cmd *cmd, void *opts, int argc, char **argv, cfg_getenv_fn get,
		   void *data, int *ret_argi, char *err, size_t errlen);

/* Prints the --help text of cmd. */
void cfg_usage(FILE *out, const struct cfg_cmd *cmd);

/* "5s", "1500ms", "1m", "1h", "1m30s", "2.5s"; a bare number is seconds. */
int cfg_parse_duration(const char *s, int64_t *ret_ms);
int cfg_parse_bool(const char *s, bool *ret);

/* The environment variable name of option name: LASTCALL_ORPHAN_GRACE. */
void cfg_env_name(const char *name, char *buf, size_t size);

#endif
