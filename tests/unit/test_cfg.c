/* test_cfg.c - cfg.c: durations, booleans, env names, flag + environment
 * parsing against a small option table of each type, and --help text. */
#include "../../helper/cfg.c"

#include <signal.h>

/* Frees what libc allocated (open_memstream): cmocka.h below turns free()
 * into its own checking allocator's. */
static void libc_free(void *p)
{
	free(p);
}

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

/* The repeatable option's field: a list its parse appends to. */
struct items {
	size_t n;
	char v[CFG_LIST_MAX + 1][16];
};

struct topts {
	int64_t timeout_ms;
	bool verbose;
	const char *name;
	int stop_signal;
	struct items items;
};

static int parse_item(void *field, const char *value, char *err, size_t errlen)
{
	struct items *it = field;

	if (strcmp(value, "bad") == 0 || strlen(value) >= sizeof(it->v[0])) {
		snprintf(err, errlen, "not an item");
		return -EINVAL;
	}
	if (it->n >= sizeof(it->v) / sizeof(it->v[0])) {
		snprintf(err, errlen, "list full");
		return -EINVAL;
	}
	/* Copies: values from the environment are temporary. */
	snprintf(it->v[it->n++], sizeof(it->v[0]), "%s", value);
	return 0;
}

static const struct cfg_opt topts_table[] = {
	{ "timeout", 't', CFG_DURATION, 0, offsetof(struct topts, timeout_ms), "DURATION", "5s",
	  "How long to wait", NULL },
	{ "verbose", 'v', CFG_BOOL, 0, offsetof(struct topts, verbose), NULL, "false", "Say more",
	  NULL },
	{ "name", 'n', CFG_STRING, 0, offsetof(struct topts, name), "NAME", NULL, "A name", NULL },
	{ "stop-signal", 's', CFG_SIGNAL, 0, offsetof(struct topts, stop_signal), "SIGNAL", "TERM",
	  "Signal to stop with", NULL },
	{ "item", 0, CFG_CUSTOM, CFG_REPEAT, offsetof(struct topts, items), "ITEM", NULL, "An item",
	  parse_item },
};

static const struct cfg_cmd tcmd = {
	.name = "test",
	.args = "[--] CMD [ARGS...]",
	.args_command = true,
	.summary = "A command for the tests.",
	.description = "Longer text.\n",
	.opts = topts_table,
	.n_opts = sizeof(topts_table) / sizeof(topts_table[0]),
};

/* The same options, taking no arguments. */
static const struct cfg_cmd tcmd_noargs = {
	.name = "noargs",
	.args = NULL,
	.summary = "No arguments.",
	.opts = topts_table,
	.n_opts = sizeof(topts_table) / sizeof(topts_table[0]),
};

/* The same options, with positional words that are not a command. */
static const struct cfg_cmd tcmd_words = {
	.name = "words",
	.args = "DIR [MORE...]",
	.summary = "Words, then options.",
	.opts = topts_table,
	.n_opts = sizeof(topts_table) / sizeof(topts_table[0]),
};

static const char *const env_vars[] = {
	"LASTCALL_TIMEOUT",	"LASTCALL_VERBOSE", "LASTCALL_NAME",
	"LASTCALL_STOP_SIGNAL", "LASTCALL_ITEM",
};

static void clear_env(void)
{
	for (size_t i = 0; i < sizeof(env_vars) / sizeof(env_vars[0]); i++)
		unsetenv(env_vars[i]);
}

static int setup(void **state)
{
	(void)state;
	clear_env();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	clear_env();
	return 0;
}

static char err[CFG_ERR_MAX];

/* Parses a NULL-terminated argv into a zeroed *o. */
static int parse_argv(const struct cfg_cmd *cmd, struct topts *o, int *argi, char **argv)
{
	int argc = 0;

	while (argv[argc])
		argc++;
	memset(o, 0, sizeof(*o));
	*argi = -1;
	err[0] = '\0';
	return cfg_parse(cmd, o, argc, argv, argi, err, sizeof(err));
}

#define PARSE(cmd, o, argi, ...) parse_argv(cmd, o, argi, (char *[]){ "test", __VA_ARGS__, NULL })

/* Asserts an -EINVAL whose message holds each of the given strings. */
#define assert_parse_error(r, ...)                                                     \
	do {                                                                           \
		const char *const want_[] = { __VA_ARGS__ };                           \
		assert_int_equal((r), -EINVAL);                                        \
		for (size_t i_ = 0; i_ < sizeof(want_) / sizeof(want_[0]); i_++)       \
			if (!strstr(err, want_[i_]))                                   \
				fail_msg("error \"%s\" lacks \"%s\"", err, want_[i_]); \
	} while (0)

static int64_t dur(const char *s)
{
	int64_t ms = -1;

	if (cfg_parse_duration(s, &ms) != 0)
		fail_msg("cfg_parse_duration(\"%s\") failed", s);
	return ms;
}

static int dur_err(const char *s)
{
	int64_t ms = -1;
	int r = cfg_parse_duration(s, &ms);

	assert_int_equal(ms, -1);
	return r;
}

static void test_duration_good(void **state)
{
	(void)state;
	assert_int_equal(dur("5s"), 5000);
	assert_int_equal(dur("1500ms"), 1500);
	assert_int_equal(dur("1m"), 60000);
	assert_int_equal(dur("1h"), 3600000);
	assert_int_equal(dur("1m30s"), 90000);
	assert_int_equal(dur("1h1m1s1ms"), 3661001);
	assert_int_equal(dur("2.5s"), 2500);
	assert_int_equal(dur("1.5m"), 90000);
	assert_int_equal(dur(".5s"), 500);
	assert_int_equal(dur("0.001s"), 1);
	assert_int_equal(dur("5"), 5000);
	assert_int_equal(dur("2.5"), 2500);
	assert_int_equal(dur("0"), 0);
	assert_int_equal(dur("0s"), 0);
	assert_int_equal(dur("0ms"), 0);
	assert_int_equal(dur("007s"), 7000);
	assert_int_equal(dur("24h"), DURATION_MAX_MS);
	assert_int_equal(dur("86400000ms"), DURATION_MAX_MS);
	assert_int_equal(dur("23h59m59.999s"), DURATION_MAX_MS - 1);
}

static void test_duration_bad(void **state)
{
	static const char *const bad[] = {
		"",	"abc", "5x",  "-1s", "-1",    "s",     "ms",	"1.2.3s",
		"5 s",	" 5s", "5s ", "5S",  "1m30",  "1s5",   "1sm",	"1mss",
		"5sec", "1d",  "+5s", ".s",  "1..5s", "1e3ms", "0x10s",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (dur_err(bad[i]) != -EINVAL)
			fail_msg("\"%s\" not rejected with -EINVAL", bad[i]);
	}
	assert_int_equal(cfg_parse_duration(NULL, &(int64_t){ 0 }), -EINVAL);
}

static void test_duration_range(void **state)
{
	(void)state;
	assert_int_equal(dur_err("25h"), -ERANGE);
	assert_int_equal(dur_err("86400001ms"), -ERANGE);
	assert_int_equal(dur_err("86401"), -ERANGE);
	assert_int_equal(dur_err("1441m"), -ERANGE);
	assert_int_equal(dur_err("24h1ms"), -ERANGE);
	assert_int_equal(dur_err("12h12h1s"), -ERANGE);
	/* Huge numbers stop early instead of overflowing. */
	assert_int_equal(dur_err("99999999999999999999999999ms"), -ERANGE);
	assert_int_equal(dur_err("99999999999999999999999999"), -ERANGE);
}

static void test_bool(void **state)
{
	static const char *const yes[] = { "1", "true", "TRUE", "True", "yes", "Yes", "on", "ON" };
	static const char *const no[] = { "0", "false", "FALSE", "no", "No", "off", "OFF" };
	static const char *const bad[] = {
		"", "2", "tru", "truee", "y", "n", " true", "true ", "-1"
	};

	(void)state;
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		bool b = false;
		assert_int_equal(cfg_parse_bool(yes[i], &b), 0);
		assert_true(b);
	}
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		bool b = true;
		assert_int_equal(cfg_parse_bool(no[i], &b), 0);
		assert_false(b);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		bool b = true;
		assert_int_equal(cfg_parse_bool(bad[i], &b), -EINVAL);
		assert_true(b);
	}
}

static void test_env_name(void **state)
{
	char buf[64];

	(void)state;
	cfg_env_name("orphan-grace", buf, sizeof(buf));
	assert_string_equal(buf, "LASTCALL_ORPHAN_GRACE");
	cfg_env_name("log-level", buf, sizeof(buf));
	assert_string_equal(buf, "LASTCALL_LOG_LEVEL");
	cfg_env_name("a", buf, sizeof(buf));
	assert_string_equal(buf, "LASTCALL_A");
	cfg_env_name("", buf, sizeof(buf));
	assert_string_equal(buf, "LASTCALL_");
	cfg_env_name("Mixed-Case-9", buf, sizeof(buf));
	assert_string_equal(buf, "LASTCALL_MIXED_CASE_9");
}

static void test_env_name_truncated(void **state)
{
	(void)state;
	/* Every size from 1 up: always terminated, never past the buffer
	 * (each buffer is its own allocation, so ASan sees an overrun). */
	for (size_t size = 1; size <= 24; size++) {
		char *buf = malloc(size);
		assert_non_null(buf);
		cfg_env_name("orphan-grace", buf, size);
		assert_int_equal(strlen(buf), size - 1 < 21 ? size - 1 : 21);
		assert_memory_equal(buf, "LASTCALL_ORPHAN_GRACE", strlen(buf));
		free(buf);
	}
	char untouched = 'x';
	cfg_env_name("orphan-grace", &untouched, 0);
	assert_int_equal(untouched, 'x');
}

static void test_parse_defaults(void **state)
{
	struct topts o;
	int argi;

	(void)state;
	assert_int_equal(parse_argv(&tcmd, &o, &argi, (char *[]){ "test", NULL }), 0);
	assert_int_equal(argi, 1);
	assert_int_equal(o.timeout_ms, 5000);
	assert_false(o.verbose);
	assert_null(o.name);
	assert_int_equal(o.stop_signal, SIGTERM);
	assert_int_equal(o.items.n, 0);
}

static void test_parse_long_inline(void **state)
{
	struct topts o;
	int argi;

	(void)state;
	assert_int_equal(PARSE(&tcmd, &o, &argi, "--timeout=1500ms", "--name=web",
			       "--stop-signal=SIGQUIT", "--verbose=true", "--item=a"),
			 0);
	assert_int_equal(argi, 6);
	assert_int_equal(o.timeout_ms, 1500);
	assert_string_equal(o.name, "web");
	assert_int_equal(o.stop_signal, SIGQUIT);
	assert_true(o.verbose);
	assert_int_equal(o.items.n, 1);
	assert_string_equal(o.items.v[0], "a");

	/* A value may hold '='; a bool may be set false. */
	assert_int_equal(PARSE(&tcmd, &o, &argi, "--name=a=b", "--verbose=off"), 0);
	assert_string_equal(o.name, "a=b");
	assert_false(o.verbose);
}

static void test_parse_long_separate(void **state)
{
	struct topts o;
	int argi;

	(void)state;
	assert_int_equal(PARSE(&tcmd, &o, &argi, "--timeout", "2s", "--name", "x", "--stop-signal",
			       "9", "cmd", "arg"),
			 0);
	assert_int_equal(argi, 7);
	assert_int_equal(o.timeout_ms, 2000);
	assert_string_equal(o.name, "x");
	assert_int_equal(o.stop_signal, SIGKILL);

	/* The next word is the value, even when it looks like a flag. */
	assert_int_equal(PARSE(&tcmd, &o, &argi, "--name", "-v", "--item", "--"), 0);
	assert_string_equal(o.name, "-v");
	assert_false(o.verbose);
	assert_int_equal(o.items.n, 1);
	assert_string_equal(o.items.v[0], "--");
	assert_int_equal(argi, 5);
}

static void test_parse_short(void **state)
{
	struct topts o;
	int argi;

	(void)state;
	assert_int_equal(PARSE(&tcmd, &o, &argi, "-t", "1m", "-nfoo", "-v", "-sHUP", "cmd"), 0);
	assert_int_equal(argi, 6);
	assert_int_equal(o.timeout_ms, 60000);
	assert_string_equal(o.name, "foo");
	assert_true(o.verbose);
	assert_int_equal(o.stop_signal, SIGHUP);

	assert_int_equal(PARSE(&tcmd, &o, &argi, "-vno"), 0);
	assert_false(o.verbose);
}

static void test_parse_terminator(void **state)
{
	struct topts o;
	int argi;

	(void)state;
	assert_int_equal(PARSE(&tcmd, &o, &argi, "-v", "--", "--timeout", "1s"), 0);
	assert_int_equal(argi, 3);
	assert_true(o.verbose);
	assert_int_equal(o.timeout_ms, 5000);

	/* "--" alone: no arguments follow. */
	assert_int_equal(PARSE(&tcmd, &o, &argi, "--"), 0);
	assert_int_equal(argi, 2);
	/* Only the first "--" is taken. */
	assert_int_equal(PARSE(&tcmd, &o, &argi, "--", "--"), 0);
	assert_int_equal(argi, 2);
}

static void test_parse_positional_stops(void **state)
{
	struct topts o;
	int argi;

	(void)state;
	assert_int_equal(PARSE(&tcmd, &o, &argi, "-v", "cmd", "--timeout=1s", "--nope"), 0);
	assert_int_equal(argi, 2);
	assert_true(o.verbose);
	assert_int_equal(o.timeout_ms, 5000);

	/* A lone "-" is an argument (stdin, by convention). */
	assert_int_equal(PARSE(&tcmd, &o, &argi, "-", "-v"), 0);
	assert_int_equal(argi, 1);
	assert_false(o.verbose);

	/* "--" after the first argument belongs to the command. */
	assert_int_equal(PARSE(&tcmd, &o, &argi, "cmd", "--"), 0);
	assert_int_equal(argi, 1);
}

static void test_parse_help(void **state)
{
	struct topts o;
	int argi;

	(void)state;
	assert_int_equal(PARSE(&tcmd, &o, &argi, "--help"), CFG_HELP);
	assert_int_equal(PARSE(&tcmd, &o, &argi, "-h"), CFG_HELP);
	assert_int_equal(PARSE(&tcmd, &o, &argi, "-v", "--timeout", "1s", "--help"), CFG_HELP);
	/* --help wins over errors later on the line... */
	assert_int_equal(PARSE(&tcmd, &o, &argi, "--help", "--nope"), CFG_HELP);
	/* ...but not over earlier ones. */
	assert_parse_error(PARSE(&tcmd, &o, &argi, "--nope", "--help"), "--nope");
	/* After "--" or as a value it is not ours. */
	assert_int_equal(PARSE(&tcmd, &o, &argi, "--", "--help"), 0);
	assert_int_equal(argi, 2);
	assert_int_equal(PARSE(&tcmd, &o, &argi, "--name", "--help"), 0);
	assert_string_equal(o.name, "--help");
}

static void test_parse_unknown(void **state)
{
	struct topts o;
	int argi;

	(void)state;
	assert_parse_error(PARSE(&tcmd, &o, &argi, "--nope"), "unknown option", "\"--nope\"");
	assert_parse_error(PARSE(&tcmd, &o, &argi, "--nope=1"), "\"--nope\"");
	assert_parse_error(PARSE(&tcmd, &o, &argi, "-x"), "unknown option", "\"-x\"");
	/* No abbreviations. */
	assert_parse_error(PARSE(&tcmd, &o, &argi, "--time=1s"), "\"--time\"");
	assert_parse_error(PARSE(&tcmd, &o, &argi, "--timeouts=1s"), "\"--timeouts\"");
	assert_parse_error(PARSE(&tcmd, &o, &argi, "--=x"), "\"--\"");
}

static void test_parse_missing_value(void **state)
{
	struct topts o;
	int argi;

	(void)state;
	assert_parse_error(PARSE(&tcmd, &o, &argi, "--timeout"), "--timeout", "needs a value",
			   "DURATION");
	assert_parse_error(PARSE(&tcmd, &o, &argi, "-v", "-n"), "--name", "needs a value");
	assert_parse_error(PARSE(&tcmd, &o, &argi, "--item"), "--item", "ITEM");
}

static void test_parse_twice(void **state)
{
	struct topts o;
	int argi;

	(void)state;
	assert_parse_error(PARSE(&tcmd, &o, &argi, "--name=a", "--name=b"), "--name", "twice");
	assert_parse_error(PARSE(&tcmd, &o, &argi, "-t1s", "--timeout", "2s"), "--timeout",
			   "twice");
	assert_parse_error(PARSE(&tcmd, &o, &argi, "-v", "-v"), "--verbose", "twice");
	/* The repeatable option collects every flag, in order. */
	assert_int_equal(PARSE(&tcmd, &o, &argi, "--item=a", "--item", "b", "--item=c"), 0);
	assert_int_equal(o.items.n, 3);
	assert_string_equal(o.items.v[0], "a");
	assert_string_equal(o.items.v[1], "b");
	assert_string_equal(o.items.v[2], "c");
}

static void test_parse_bad_value(void **state)
{
	struct topts o;
	int argi;

	(void)state;
	assert_parse_error(PARSE(&tcmd, &o, &argi, "--timeout=5x"), "--timeout",
			   "invalid value \"5x\"", "expected a duration");
	assert_parse_error(PARSE(&tcmd, &o, &argi, "-t", "25h"), "--timeout", "\"25h\"",
			   "longer than 24h");
	assert_parse_error(PARSE(&tcmd, &o, &argi, "--verbose=maybe"), "--verbose", "\"maybe\"",
			   "expected true or false");
	assert_parse_error(PARSE(&tcmd, &o, &argi, "-vx"), "--verbose", "\"x\"");
	assert_parse_error(PARSE(&tcmd, &o, &argi, "--stop-signal=FOO"), "--stop-signal", "\"FOO\"",
			   "expected a signal");
	/* 0 is "drop" only in the rewrite table. */
	assert_parse_error(PARSE(&tcmd, &o, &argi, "--stop-signal=0"), "--stop-signal");
	assert_parse_error(PARSE(&tcmd, &o, &argi, "--name="), "--name", "must not be empty");
	assert_parse_error(PARSE(&tcmd, &o, &argi, "--item=a", "--item=bad"), "--item", "\"bad\"",
			   "not an item");

	/* A value longer than CFG_VALUE_MAX is refused before parsing. */
	char *big = malloc(CFG_VALUE_MAX + 2);
	assert_non_null(big);
	memset(big, 'a', CFG_VALUE_MAX + 1);
	big[CFG_VALUE_MAX + 1] = '\0';
	assert_parse_error(PARSE(&tcmd, &o, &argi, "--name", big), "--name", "too long");
	big[CFG_VALUE_MAX] = '\0';
	assert_int_equal(PARSE(&tcmd, &o, &argi, "--name", big), 0);
	assert_int_equal(strlen(o.name), CFG_VALUE_MAX);
	free(big);
}

static void test_parse_env(void **state)
{
	struct topts o;
	int argi;

	(void)state;
	setenv("LASTCALL_TIMEOUT", "10s", 1);
	setenv("LASTCALL_VERBOSE", "yes", 1);
	setenv("LASTCALL_NAME", "envname", 1);
	setenv("LASTCALL_STOP_SIGNAL", "USR1", 1);
	assert_int_equal(PARSE(&tcmd, &o, &argi, "cmd"), 0);
	assert_int_equal(argi, 1);
	assert_int_equal(o.timeout_ms, 10000);
	assert_true(o.verbose);
	assert_string_equal(o.name, "envname");
	assert_int_equal(o.stop_signal, SIGUSR1);

	/* Flags win over the environment, option by option. */
	assert_int_equal(PARSE(&tcmd, &o, &argi, "--timeout=1s", "-vfalse"), 0);
	assert_int_equal(o.timeout_ms, 1000);
	assert_false(o.verbose);
	assert_string_equal(o.name, "envname");
	assert_int_equal(o.stop_signal, SIGUSR1);

	/* An empty variable is a value too, and not a valid one here. */
	setenv("LASTCALL_NAME", "", 1);
	assert_parse_error(PARSE(&tcmd, &o, &argi, "cmd"), "LASTCALL_NAME", "must not be empty");
}

static void test_parse_env_bad(void **state)
{
	struct topts o;
	int argi;

	(void)state;
	setenv("LASTCALL_TIMEOUT", "soon", 1);
	assert_parse_error(PARSE(&tcmd, &o, &argi, "cmd"), "LASTCALL_TIMEOUT", "\"soon\"");
	/* A bad variable is no error when the flag replaces it. */
	assert_int_equal(PARSE(&tcmd, &o, &argi, "-t", "3s"), 0);
	assert_int_equal(o.timeout_ms, 3000);
	unsetenv("LASTCALL_TIMEOUT");

	setenv("LASTCALL_STOP_SIGNAL", "NOPE", 1);
	assert_parse_error(PARSE(&tcmd, &o, &argi, "cmd"), "LASTCALL_STOP_SIGNAL", "\"NOPE\"");
}

static void test_parse_env_list(void **state)
{
	struct topts o;
	int argi;

	(void)state;
	setenv("LASTCALL_ITEM", "a,b,,c,", 1);
	assert_int_equal(PARSE(&tcmd, &o, &argi, "cmd"), 0);
	assert_int_equal(o.items.n, 3);
	assert_string_equal(o.items.v[0], "a");
	assert_string_equal(o.items.v[1], "b");
	assert_string_equal(o.items.v[2], "c");

	/* Flags replace the environment's list instead of adding to it. */
	assert_int_equal(PARSE(&tcmd, &o, &argi, "--item=x", "--item", "y"), 0);
	assert_int_equal(o.items.n, 2);
	assert_string_equal(o.items.v[0], "x");
	assert_string_equal(o.items.v[1], "y");

	/* A single value, and an empty list. */
	setenv("LASTCALL_ITEM", "only", 1);
	assert_int_equal(PARSE(&tcmd, &o, &argi, "cmd"), 0);
	assert_int_equal(o.items.n, 1);
	assert_string_equal(o.items.v[0], "only");
	setenv("LASTCALL_ITEM", ",,", 1);
	assert_int_equal(PARSE(&tcmd, &o, &argi, "cmd"), 0);
	assert_int_equal(o.items.n, 0);

	setenv("LASTCALL_ITEM", "a,bad,c", 1);
	assert_parse_error(PARSE(&tcmd, &o, &argi, "cmd"), "LASTCALL_ITEM", "\"bad\"",
			   "not an item");
}

static void test_parse_env_list_max(void **state)
{
	char list[CFG_LIST_MAX * 2 + 8] = "";
	struct topts o;
	int argi;

	(void)state;
	for (int i = 0; i < CFG_LIST_MAX; i++)
		strcat(list, i ? ",x" : "x");
	setenv("LASTCALL_ITEM", list, 1);
	assert_int_equal(PARSE(&tcmd, &o, &argi, "cmd"), 0);
	assert_int_equal(o.items.n, CFG_LIST_MAX);

	strcat(list, ",x");
	setenv("LASTCALL_ITEM", list, 1);
	assert_parse_error(PARSE(&tcmd, &o, &argi, "cmd"), "LASTCALL_ITEM", "more than 64");
}

static void test_parse_unexpected_argument(void **state)
{
	struct topts o;
	int argi;

	(void)state;
	assert_int_equal(PARSE(&tcmd_noargs, &o, &argi, "-v"), 0);
	assert_int_equal(argi, 2);
	assert_int_equal(PARSE(&tcmd_noargs, &o, &argi, "-v", "--"), 0);
	assert_int_equal(argi, 3);
	assert_parse_error(PARSE(&tcmd_noargs, &o, &argi, "extra"), "unexpected argument",
			   "\"extra\"");
	assert_parse_error(PARSE(&tcmd_noargs, &o, &argi, "-v", "--", "x"), "unexpected argument",
			   "\"x\"");
	assert_parse_error(PARSE(&tcmd_noargs, &o, &argi, "-"), "unexpected argument");
}

/* Options after positional words (issue 16): `install /shared --name lc`. */
static void test_parse_options_after_words(void **state)
{
	char *v1[] = { "words", "/shared", "--name", "lc", "-v", "more", "-t2s", NULL };
	char *v2[] = { "words", "a", "--", "--name", "b", NULL };
	char *v3[] = { "test", "cmd", "--name", "x", NULL };
	struct topts o;
	int argi;

	(void)state;
	memset(&o, 0, sizeof(o));
	assert_int_equal(cfg_parse(&tcmd_words, &o, 7, v1, &argi, err, sizeof(err)), 0);
	assert_string_equal(o.name, "lc");
	assert_true(o.verbose);
	assert_int_equal(o.timeout_ms, 2000);
	/* Options first, the words after in their order. */
	assert_int_equal(argi, 5);
	assert_string_equal(v1[argi], "/shared");
	assert_string_equal(v1[argi + 1], "more");

	/* "--" ends the options: what follows is words, even "--name". */
	memset(&o, 0, sizeof(o));
	assert_int_equal(cfg_parse(&tcmd_words, &o, 5, v2, &argi, err, sizeof(err)), 0);
	assert_null(o.name);
	assert_int_equal(argi, 2);
	assert_string_equal(v2[2], "a");
	assert_string_equal(v2[3], "--name");
	assert_string_equal(v2[4], "b");

	/* A command's words are its own: run's CMD keeps "--name x". */
	memset(&o, 0, sizeof(o));
	assert_int_equal(cfg_parse(&tcmd, &o, 4, v3, &argi, err, sizeof(err)), 0);
	assert_null(o.name);
	assert_int_equal(argi, 1);
	assert_string_equal(v3[2], "--name");

	/* Mistakes after the words are still found. */
	assert_parse_error(PARSE(&tcmd_words, &o, &argi, "d", "--bogus"), "unknown option");
	assert_parse_error(PARSE(&tcmd_words, &o, &argi, "d", "--name"), "needs a value");
	assert_parse_error(PARSE(&tcmd_words, &o, &argi, "-n", "a", "d", "--name", "b"),
			   "given twice");
	assert_int_equal(PARSE(&tcmd_words, &o, &argi, "d", "--help"), CFG_HELP);
	assert_parse_error(PARSE(&tcmd_noargs, &o, &argi, "x", "-v"), "unexpected argument",
			   "\"x\"");
}

static void test_parse_err_truncated(void **state)
{
	struct topts o;
	char small[12];
	int argi;

	(void)state;
	memset(&o, 0, sizeof(o));
	assert_int_equal(cfg_parse(&tcmd, &o, 2, (char *[]){ "test", "--no-such-option", NULL },
				   &argi, small, sizeof(small)),
			 -EINVAL);
	assert_string_equal(small, "unknown opt");
}

static void test_usage(void **state)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	(void)state;
	assert_non_null(f);
	cfg_usage(f, &tcmd);
	assert_int_equal(fclose(f), 0);

	static const char *const want[] = {
		"Usage: lastcall test [OPTIONS] [--] CMD [ARGS...]\n",
		"A command for the tests.\n",
		"Longer text.\n",
		"-t, --timeout DURATION",
		"How long to wait",
		"env LASTCALL_TIMEOUT, default 5s",
		"-v, --verbose ",
		"env LASTCALL_VERBOSE, default false",
		"-n, --name NAME",
		"env LASTCALL_NAME\n",
		"-s, --stop-signal SIGNAL",
		"env LASTCALL_STOP_SIGNAL, default TERM",
		"    --item ITEM",
		"An item (repeatable)",
		"env LASTCALL_ITEM (comma-separated)\n",
		"-h, --help",
		"Show this help and exit\n",
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		if (!strstr(text, want[i]))
			fail_msg("usage lacks \"%s\":\n%s", want[i], text);
	}
	assert_null(strstr(text, "--verbose (null)"));
	libc_free(text);

	/* No arguments, no description. */
	f = open_memstream(&text, &len);
	assert_non_null(f);
	cfg_usage(f, &tcmd_noargs);
	assert_int_equal(fclose(f), 0);
	assert_true(strncmp(text, "Usage: lastcall noargs [OPTIONS]\n\nNo arguments.\n", 48) == 0);
	libc_free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_duration_good),
		cmocka_unit_test(test_duration_bad),
		cmocka_unit_test(test_duration_range),
		cmocka_unit_test(test_bool),
		cmocka_unit_test(test_env_name),
		cmocka_unit_test(test_env_name_truncated),
		cmocka_unit_test_setup_teardown(test_parse_defaults, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parse_long_inline, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parse_long_separate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parse_short, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parse_terminator, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parse_positional_stops, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parse_help, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parse_unknown, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parse_missing_value, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parse_twice, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parse_bad_value, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parse_env, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parse_env_bad, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parse_env_list, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parse_env_list_max, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parse_unexpected_argument, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parse_options_after_words, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parse_err_truncated, setup, teardown),
		cmocka_unit_test(test_usage),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
