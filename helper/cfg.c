/* cfg.c - see cfg.h. */
#include "cfg.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "limits.h"
#include "sig.h"

int cfg_parse_duration(const char *s, int64_t *ret_ms)
{
	static const struct {
		const char *suffix;
		int64_t ms;
	} units[] = {
		{ "ms", 1 },
		{ "s", 1000 },
		{ "m", 60000 },
		{ "h", 3600000 },
	};
	int64_t total = 0;
	const char *p = s;

	if (!s || !*s)
		return -EINVAL;
	while (*p) {
		int64_t whole = 0, frac = 0, frac_div = 1;
		int digits = 0;

		while (isdigit((unsigned char)*p)) {
			whole = whole * 10 + (*p++ - '0');
			digits++;
			if (whole > DURATION_MAX_MS)
				return -ERANGE;
		}
		if (*p == '.') {
			p++;
			while (isdigit((unsigned char)*p)) {
				if (frac_div < 1000000) {
					frac = frac * 10 + (*p - '0');
					frac_div *= 10;
				}
				p++;
				digits++;
			}
		}
		if (digits == 0)
			return -EINVAL;
		int64_t unit = -1;
		if (*p == '\0' && p == s + strlen(s) && total == 0 && p != s) {
			/* A bare number, only as the whole string: seconds. */
			unit = 1000;
		} else {
			for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
				size_t n = strlen(units[i].suffix);
				if (strncmp(p, units[i].suffix, n) == 0 &&
				    !isalpha((unsigned char)p[n])) {
					unit = units[i].ms;
					p += n;
					break;
				}
			}
		}
		if (unit < 0)
			return -EINVAL;
		total += whole * unit + frac * unit / frac_div;
		if (total > DURATION_MAX_MS)
			return -ERANGE;
	}
	*ret_ms = total;
	return 0;
}

int cfg_parse_bool(const char *s, bool *ret)
{
	static const char *const yes[] = { "1", "true", "yes", "on" };
	static const char *const no[] = { "0", "false", "no", "off" };

	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*ret = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*ret = false;
			return 0;
		}
	}
	return -EINVAL;
}

void cfg_env_name(const char *name, char *buf, size_t size)
{
	size_t n;

	if (size == 0)
		return;
	/* snprintf returns the untruncated length: clamp it to the buffer. */
	n = (size_t)snprintf(buf, size, "LASTCALL_");
	if (n >= size)
		return;
	for (; *name && n + 1 < size; name++)
		buf[n++] = *name == '-' ? '_' : (char)toupper((unsigned char)*name);
	buf[n] = '\0';
}

/* Applies one value to the option's field. */
static int apply(const struct cfg_opt *o, void *opts, const char *value, const char *origin,
		 char *err, size_t errlen)
{
	char *field = (char *)opts + o->offset;
	char why[CFG_ERR_MAX] = "";
	int r = 0;

	if (strlen(value) > CFG_VALUE_MAX) {
		snprintf(err, errlen, "%s: value too long (over %d bytes)", origin, CFG_VALUE_MAX);
		return -EINVAL;
	}
	switch (o->type) {
	case CFG_BOOL:
		r = cfg_parse_bool(value, (bool *)field);
		if (r < 0)
			snprintf(why, sizeof(why), "expected true or false");
		break;
	case CFG_DURATION:
		r = cfg_parse_duration(value, (int64_t *)field);
		if (r == -ERANGE)
			snprintf(why, sizeof(why), "longer than 24h");
		else if (r < 0)
			snprintf(why, sizeof(why), "expected a duration like 5s, 1500ms, 1m");
		break;
	case CFG_STRING:
		if (*value == '\0') {
			r = -EINVAL;
			snprintf(why, sizeof(why), "must not be empty");
		}
		*(const char **)field = value;
		break;
	case CFG_SIGNAL:
		r = sig_parse(value, 0, (int *)field);
		if (r < 0)
			snprintf(why, sizeof(why), "expected a signal like TERM, SIGQUIT or 15");
		break;
	case CFG_CUSTOM:
		r = o->parse(field, value, why, sizeof(why));
		break;
	}
	if (r < 0) {
		snprintf(err, errlen, "%s: invalid value \"%.64s\": %s", origin, value,
			 why[0] ? why : "not accepted");
		return -EINVAL;
	}
	return 0;
}

static const struct cfg_opt *find_long(const struct cfg_cmd *cmd, const char *name, size_t len)
{
	for (size_t i = 0; i < cmd->n_opts; i++) {
		if (strlen(cmd->opts[i].name) == len && strncmp(cmd->opts[i].name, name, len) == 0)
			return &cmd->opts[i];
	}
	return NULL;
}

static const struct cfg_opt *find_short(const struct cfg_cmd *cmd, char c)
{
	for (size_t i = 0; i < cmd->n_opts; i++) {
		if (cmd->opts[i].short_name && cmd->opts[i].short_name == c)
			return &cmd->opts[i];
	}
	return NULL;
}

/* Applies the comma-separated list (or single value) of an env variable. */
static int apply_env(const struct cfg_opt *o, void *opts, cfg_getenv_fn get, void *data, char *err,
		     size_t errlen)
{
	char env[64], origin[96];
	char item[CFG_VALUE_MAX + 1];
	const char *value;

	cfg_env_name(o->name, env, sizeof(env));
	value = get(env, data);
	if (!value)
		return 0;
	snprintf(origin, sizeof(origin), "%s", env);
	if (!(o->flags & CFG_REPEAT))
		return apply(o, opts, value, origin, err, errlen);
	if (strlen(value) > CFG_VALUE_MAX) {
		snprintf(err, errlen, "%s: value too long", env);
		return -EINVAL;
	}
	const char *p = value;
	int count = 0;
	while (*p) {
		size_t n = strcspn(p, ",");
		if (n > 0) {
			if (++count > CFG_LIST_MAX) {
				snprintf(err, errlen, "%s: more than %d entries", env,
					 CFG_LIST_MAX);
				return -EINVAL;
			}
			memcpy(item, p, n);
			item[n] = '\0';
			/* Repeatable options are CFG_CUSTOM and copy what they keep. */
			if (apply(o, opts, item, origin, err, errlen) < 0)
				return -EINVAL;
		}
		p += n;
		if (*p == ',')
			p++;
	}
	return 0;
}

/* Moves the n words at from to position to (to < from), the words in
 * between shifted after them: options come before positional words. */
static void move_before(char **argv, int to, int from, int n)
{
	for (int k = 0; k < n; k++) {
		char *w = argv[from + k];

		memmove(&argv[to + k + 1], &argv[to + k], (size_t)(from - to) * sizeof(*argv));
		argv[to + k] = w;
	}
}

static const char *process_env(const char *name, void *data)
{
	(void)data;
	return getenv(name);
}

int cfg_parse(const struct cfg_cmd *cmd, void *opts, int argc, char **argv, int *ret_argi,
	      char *err, size_t errlen)
{
	return cfg_parse_with(cmd, opts, argc, argv, process_env, NULL, ret_argi, err, errlen);
}

int cfg_parse_with(const struct cfg_cmd *cmd, void *opts, int argc, char **argv, cfg_getenv_fn get,
		   void *data, int *ret_argi, char *err, size_t errlen)
{
	/* Which options the flags set: those skip the environment. */
	bool given[64] = { false };
	int argi = 1;
	/* Where the positional words met so far start: options found after
	 * them are moved before them. */
	int first_pos = 1;
	int first_pass_end;

	if (cmd->n_opts > sizeof(given) / sizeof(given[0])) {
		snprintf(err, errlen, "internal: too many options");
		return -EINVAL;
	}

	/* Pass 1: syntax, --help, which options are given, where args start. */
	for (argi = 1; argi < argc; argi++) {
		const char *a = argv[argi];
		const struct cfg_opt *o = NULL;
		bool has_inline = false;
		int width = 1;

		if (strcmp(a, "--") == 0) {
			move_before(argv, first_pos, argi, 1);
			break;
		}
		if (a[0] != '-' || a[1] == '\0') {
			if (cmd->args_command)
				break;
			continue;
		}
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
			return CFG_HELP;
		if (a[1] == '-') {
			const char *eq = strchr(a + 2, '=');
			size_t len = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
			o = find_long(cmd, a + 2, len);
			has_inline = eq != NULL;
			if (!o) {
				snprintf(err, errlen, "unknown option \"--%.*s\"",
					 (int)len > 64 ? 64 : (int)len, a + 2);
				return -EINVAL;
			}
		} else {
			o = find_short(cmd, a[1]);
			has_inline = a[2] != '\0';
			if (!o) {
				snprintf(err, errlen, "unknown option \"-%c\"", a[1]);
				return -EINVAL;
			}
		}
		if (o->type != CFG_BOOL && !has_inline) {
			if (argi + 1 >= argc) {
				snprintf(err, errlen, "option --%s needs a value (%s)", o->name,
					 o->metavar ? o->metavar : "VALUE");
				return -EINVAL;
			}
			width = 2;
		}
		if (given[o - cmd->opts] && !(o->flags & CFG_REPEAT)) {
			snprintf(err, errlen, "option --%s given twice", o->name);
			return -EINVAL;
		}
		given[o - cmd->opts] = true;
		move_before(argv, first_pos, argi, width);
		first_pos += width;
		argi += width - 1;
	}
	first_pass_end = first_pos;

	/* Defaults, then the environment for what the flags leave alone. */
	for (size_t i = 0; i < cmd->n_opts; i++) {
		const struct cfg_opt *o = &cmd->opts[i];
		char origin[80];

		snprintf(origin, sizeof(origin), "default of --%s", o->name);
		if (o->def && apply(o, opts, o->def, origin, err, errlen) < 0)
			return -EINVAL;
		if (!given[i] && apply_env(o, opts, get, data, err, errlen) < 0)
			return -EINVAL;
	}

	/* Pass 2: apply the flags in order. */
	for (argi = 1; argi < first_pass_end; argi++) {
		const char *a = argv[argi];
		const struct cfg_opt *o;
		const char *value;
		char origin[80];

		if (a[1] == '-') {
			const char *eq = strchr(a + 2, '=');
			o = find_long(cmd, a + 2, eq ? (size_t)(eq - a - 2) : strlen(a + 2));
			value = eq ? eq + 1 : NULL;
		} else {
			o = find_short(cmd, a[1]);
			value = a[2] ? a + 2 : NULL;
		}
		if (!value)
			value = o->type == CFG_BOOL ? "true" : argv[++argi];
		snprintf(origin, sizeof(origin), "--%s", o->name);
		if (apply(o, opts, value, origin, err, errlen) < 0)
			return -EINVAL;
	}

	if (argi < argc && strcmp(argv[argi], "--") == 0)
		argi++;
	if (!cmd->args && argi < argc) {
		snprintf(err, errlen, "unexpected argument \"%.64s\"", argv[argi]);
		return -EINVAL;
	}
	*ret_argi = argi;
	return 0;
}

void cfg_usage(FILE *out, const struct cfg_cmd *cmd)
{
	char env[64];

	fprintf(out, "Usage: lastcall %s [OPTIONS]%s%s\n\n%s\n", cmd->name, cmd->args ? " " : "",
		cmd->args ? cmd->args : "", cmd->summary);
	if (cmd->description)
		fprintf(out, "\n%s", cmd->description);
	fprintf(out, "\nOptions (each also from the environment variable shown):\n");
	for (size_t i = 0; i < cmd->n_opts; i++) {
		const struct cfg_opt *o = &cmd->opts[i];
		char left[96];

		if (o->short_name)
			snprintf(left, sizeof(left), "-%c, --%s%s%s", o->short_name, o->name,
				 o->metavar ? " " : "", o->metavar ? o->metavar : "");
		else
			snprintf(left, sizeof(left), "    --%s%s%s", o->name, o->metavar ? " " : "",
				 o->metavar ? o->metavar : "");
		cfg_env_name(o->name, env, sizeof(env));
		fprintf(out, "  %-34s %s%s\n", left, o->help,
			(o->flags & CFG_REPEAT) ? " (repeatable)" : "");
		fprintf(out, "  %-34s env %s%s%s%s\n", "", env,
			(o->flags & CFG_REPEAT) ? " (comma-separated)" : "",
			o->def ? ", default " : "", o->def ? o->def : "");
	}
	fprintf(out, "  %-34s %s\n", "-h, --help", "Show this help and exit");
}
