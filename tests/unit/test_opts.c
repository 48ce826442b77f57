/* test_opts.c - opts.c: each option parser (good values, bad ones with
 * their message, the caps of the repeatable ones, "none"), opts_check's
 * range checks, and whole command lines of run, sidecar and prestop
 * through cli_parse: defaults, LASTCALL_* variables, flags over them. */
#include "../../helper/opts.c"

#include <signal.h>
#include <stdint.h>
#include <unistd.h>

#include "prestop.h"
#include "run.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

static char err[CFG_ERR_MAX];

/* Unsets every LASTCALL_* variable: the tests set their own. */
static void clear_env(void)
{
	char names[64][64];
	size_t n = 0;

	for (char **e = environ; *e && n < 64; e++) {
		size_t len = strcspn(*e, "=");
		if (strncmp(*e, "LASTCALL_", 9) == 0 && len < sizeof(names[0])) {
			memcpy(names[n], *e, len);
			names[n++][len] = '\0';
		}
	}
	for (size_t i = 0; i < n; i++)
		unsetenv(names[i]);
}

static int setup(void **state)
{
	(void)state;
	clear_env();
	err[0] = '\0';
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	clear_env();
	return 0;
}

/* Asserts that err holds want. */
#define assert_err_has(want)                                                \
	do {                                                                \
		if (!strstr(err, (want)))                                   \
			fail_msg("error \"%s\" lacks \"%s\"", err, (want)); \
	} while (0)

/* Calls parse(field, value) expecting -EINVAL and the message want. */
#define assert_bad(parse, field, value, want)                         \
	do {                                                          \
		err[0] = '\0';                                        \
		if ((parse)((field), (value), err, sizeof(err)) >= 0) \
			fail_msg("\"%s\" accepted", (value));         \
		assert_err_has(want);                                 \
	} while (0)

/* ---- the parsers ---- */

static void test_parse_target(void **state)
{
	enum sup_target t = SUP_TARGET_CHILD;
	static const char *const bad[] = { "", "Group", "pgrp", "child ", "groups" };

	(void)state;
	assert_int_equal(opts_parse_target(&t, "group", err, sizeof(err)), 0);
	assert_int_equal(t, SUP_TARGET_GROUP);
	assert_int_equal(opts_parse_target(&t, "child", err, sizeof(err)), 0);
	assert_int_equal(t, SUP_TARGET_CHILD);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_bad(opts_parse_target, &t, bad[i], "expected child or group");
		assert_int_equal(t, SUP_TARGET_CHILD);
	}
}

static void test_parse_rewrite(void **state)
{
	struct sig_rewrite r;

	(void)state;
	sig_rewrite_init(&r);
	assert_int_equal(opts_parse_rewrite(&r, "TERM:QUIT", err, sizeof(err)), 0);
	assert_int_equal(sig_rewrite_apply(&r, SIGTERM), SIGQUIT);
	assert_int_equal(opts_parse_rewrite(&r, "2:0", err, sizeof(err)), 0);
	assert_int_equal(sig_rewrite_apply(&r, SIGINT), 0);
	assert_int_equal(sig_rewrite_apply(&r, SIGHUP), SIGHUP);
	assert_bad(opts_parse_rewrite, &r, "TERM", "expected FROM:TO");
	assert_bad(opts_parse_rewrite, &r, "BOGUS:TERM", "unknown signal \"BOGUS\"");
	assert_bad(opts_parse_rewrite, &r, "TERM:", "unknown signal \"\"");
	assert_bad(opts_parse_rewrite, &r, "CHLD:TERM", "SIGCHLD is never forwarded");
	assert_bad(opts_parse_rewrite, &r, "TERM:CHLD", "cannot rewrite to SIGCHLD");
	/* The failures left the table alone. */
	assert_int_equal(sig_rewrite_apply(&r, SIGTERM), SIGQUIT);
}

static void test_parse_exit_map(void **state)
{
	struct status_map m;
	static const char *const bad[] = { "143",   "143:", ":0",   "256:0",
					   "1:256", "x:1",  "-1:0", "143:0:1" };

	(void)state;
	status_map_init(&m);
	assert_int_equal(opts_parse_exit_map(&m, "143:0", err, sizeof(err)), 0);
	assert_int_equal(opts_parse_exit_map(&m, "0:255", err, sizeof(err)), 0);
	assert_int_equal(status_map_apply(&m, 143), 0);
	assert_int_equal(status_map_apply(&m, 0), 255);
	assert_int_equal(status_map_apply(&m, 137), 137);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_bad(opts_parse_exit_map, &m, bad[i],
			   "expected FROM:TO with exit codes 0..255");
	assert_int_equal(status_map_apply(&m, 143), 0);
}

/* The signals set in on[] as a mask of 1 << sig (64, unused here, would
 * show as bit 0: no signal 0 is ever set). */
static uint64_t drain_bits(const bool on[SIG_MAX + 1])
{
	uint64_t bits = 0;

	for (int sig = 0; sig <= SIG_MAX; sig++) {
		if (on[sig])
			bits |= 1ull << (sig & 63);
	}
	return bits;
}

static void test_parse_drain_on(void **state)
{
	bool on[SIG_MAX + 1];
	char long_item[64];

	(void)state;
	memset(on, 0, sizeof(on));
	assert_int_equal(opts_parse_drain_on(on, "TERM,INT", err, sizeof(err)), 0);
	assert_int_equal(drain_bits(on), (1ull << SIGTERM) | (1ull << SIGINT));
	/* Each value replaces the last: no leftovers. */
	assert_int_equal(opts_parse_drain_on(on, "SIGHUP", err, sizeof(err)), 0);
	assert_int_equal(drain_bits(on), 1ull << SIGHUP);
	assert_int_equal(opts_parse_drain_on(on, "usr1,15,RTMIN+1", err, sizeof(err)), 0);
	assert_int_equal(drain_bits(on),
			 (1ull << SIGUSR1) | (1ull << SIGTERM) | (1ull << (SIG_RTMIN + 1)));
	assert_int_equal(opts_parse_drain_on(on, "none", err, sizeof(err)), 0);
	assert_int_equal(drain_bits(on), 0);

	/* Signals that are never forwarded cannot start a drain. */
	assert_bad(opts_parse_drain_on, on, "KILL",
		   "\"KILL\" is not a signal that can start a drain");
	assert_bad(opts_parse_drain_on, on, "TERM,CHLD",
		   "\"CHLD\" is not a signal that can start a drain");
	assert_bad(opts_parse_drain_on, on, "TSTP", "\"TSTP\" is not a signal");
	assert_bad(opts_parse_drain_on, on, "SEGV", "\"SEGV\" is not a signal");
	assert_bad(opts_parse_drain_on, on, "BOGUS", "\"BOGUS\" is not a signal");
	assert_bad(opts_parse_drain_on, on, "0", "\"0\" is not a signal");
	assert_bad(opts_parse_drain_on, on, "NONE", "\"NONE\" is not a signal");
	/* An empty item, or one too long to be a signal. */
	assert_bad(opts_parse_drain_on, on, "TERM,,INT", "expected signals like TERM,INT, or none");
	assert_bad(opts_parse_drain_on, on, ",TERM", "expected signals like TERM,INT, or none");
	memset(long_item, 'A', sizeof(long_item) - 1);
	long_item[sizeof(long_item) - 1] = '\0';
	assert_bad(opts_parse_drain_on, on, long_item, "expected signals like TERM,INT, or none");
}

static void test_parse_port(void **state)
{
	struct sup_ports ports = { .n = 0 };
	static const char *const bad[] = { "",	   "0",	  "65536", "-1",
					   "http", "80x", "8 0",   "99999999999999999999" };
	char v[32];

	(void)state;
	assert_int_equal(opts_parse_port(&ports, "8080", err, sizeof(err)), 0);
	assert_int_equal(opts_parse_port(&ports, "1", err, sizeof(err)), 0);
	assert_int_equal(opts_parse_port(&ports, "65535", err, sizeof(err)), 0);
	assert_int_equal(ports.n, 3);
	assert_int_equal(ports.v[0], 8080);
	assert_int_equal(ports.v[1], 1);
	assert_int_equal(ports.v[2], 65535);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_bad(opts_parse_port, &ports, bad[i], "expected a TCP port 1..65535");
		assert_int_equal(ports.n, 3);
	}
	/* Up to PORTS_MAX, then an error and the list as it was. */
	for (int i = 3; i < PORTS_MAX; i++) {
		snprintf(v, sizeof(v), "%d", 9000 + i);
		assert_int_equal(opts_parse_port(&ports, v, err, sizeof(err)), 0);
	}
	assert_int_equal(ports.n, PORTS_MAX);
	snprintf(v, sizeof(v), "at most %d ports", PORTS_MAX);
	assert_bad(opts_parse_port, &ports, "9999", v);
	assert_int_equal(ports.n, PORTS_MAX);
	assert_int_equal(ports.v[PORTS_MAX - 1], 9000 + PORTS_MAX - 1);
	/* A bad value still says what a port is, even when full. */
	assert_bad(opts_parse_port, &ports, "0", "expected a TCP port");
}

static void test_parse_optional(void **state)
{
	const char *field = "before";
	const char *value = "/run/lastcall.sock";

	(void)state;
	assert_int_equal(opts_parse_optional(&field, value, err, sizeof(err)), 0);
	/* Kept, not copied: it points into argv or environ. */
	assert_ptr_equal(field, value);
	assert_int_equal(opts_parse_optional(&field, "none", err, sizeof(err)), 0);
	assert_null(field);
	field = "before";
	assert_int_equal(opts_parse_optional(&field, "", err, sizeof(err)), 0);
	assert_null(field);
	assert_int_equal(opts_parse_optional(&field, "0.0.0.0:9797", err, sizeof(err)), 0);
	assert_string_equal(field, "0.0.0.0:9797");
}

static void test_parse_signal_or_none(void **state)
{
	static const struct {
		const char *s;
		int sig;
	} good[] = {
		{ "QUIT", SIGQUIT },
		{ "SIGTERM", SIGTERM },
		{ "sigusr2", SIGUSR2 },
		{ "15", SIGTERM },
		{ "RTMIN+2", SIG_RTMIN + 2 },
		{ "none", 0 },
		{ "", 0 },
		/* Any signal: a standalone hook may be told to SIGKILL its app. */
		{ "KILL", SIGKILL },
	};
	static const char *const bad[] = { "0", "65", "BOGUS", "TERM,INT", "NONE", "-15" };
	int sig;

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		sig = -1;
		if (opts_parse_signal_or_none(&sig, good[i].s, err, sizeof(err)) != 0)
			fail_msg("\"%s\" refused: %s", good[i].s, err);
		assert_int_equal(sig, good[i].sig);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_bad(opts_parse_signal_or_none, &sig, bad[i],
			   "expected a signal (QUIT, SIGTERM, 15) or none");
}

static void test_parse_allow(void **state)
{
	struct httpd_acl acl = { .n = 0 };
	static const char *const bad[] = { "",		 "node",       "10.0.0.0/33",
					   "fd00::/129", "10.0.0.1/",  "10.0.0.1/x",
					   "/8",	 "10.0.0.256", "none" };
	char v[32];

	(void)state;
	assert_int_equal(opts_parse_allow(&acl, "10.0.0.5", err, sizeof(err)), 0);
	assert_int_equal(opts_parse_allow(&acl, "10.1.0.0/16", err, sizeof(err)), 0);
	assert_int_equal(opts_parse_allow(&acl, "fd00::/8", err, sizeof(err)), 0);
	assert_int_equal(acl.n, 3);
	assert_int_equal(acl.v[0].prefix, 32);
	assert_int_equal(acl.v[1].prefix, 16);
	assert_int_equal(acl.v[2].family, AF_INET6);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_bad(opts_parse_allow, &acl, bad[i],
			   "expected an IP address or ADDRESS/PREFIX");
		assert_int_equal(acl.n, 3);
	}
	for (int i = 3; i < HTTPD_ALLOW_MAX; i++) {
		snprintf(v, sizeof(v), "192.0.2.%d", i);
		assert_int_equal(opts_parse_allow(&acl, v, err, sizeof(err)), 0);
	}
	snprintf(v, sizeof(v), "at most %d addresses", HTTPD_ALLOW_MAX);
	assert_bad(opts_parse_allow, &acl, "192.0.2.200", v);
	assert_int_equal(acl.n, HTTPD_ALLOW_MAX);
}

static void test_parse_app_url(void **state)
{
	static const char *const good[] = {
		"http://127.0.0.1:8080/drain",
		"https://app.local/inflight",
		"unix:/run/app.sock:/admin/ready",
		"unix:/run/app.sock",
	};
	const char *field = NULL;

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		if (opts_parse_app_url(&field, good[i], err, sizeof(err)) != 0)
			fail_msg("\"%s\" refused: %s", good[i], err);
		/* Kept as given (checked only). */
		assert_ptr_equal(field, good[i]);
	}
	assert_int_equal(opts_parse_app_url(&field, "none", err, sizeof(err)), 0);
	assert_null(field);
	field = good[0];
	assert_int_equal(opts_parse_app_url(&field, "", err, sizeof(err)), 0);
	assert_null(field);

	/* A typo fails now, with the expected spelling, and changes nothing. */
	field = good[0];
	assert_bad(opts_parse_app_url, &field, "localhost:8080/drain",
		   "expected http://HOST:PORT/PATH or unix:/PATH/TO.sock:/PATH");
	assert_bad(opts_parse_app_url, &field, "ftp://app/x", "only http and https URLs");
	assert_bad(opts_parse_app_url, &field, "unix:run/app.sock", "absolute socket path");
	assert_bad(opts_parse_app_url, &field, "/run/app.sock", "expected http://");
	assert_ptr_equal(field, good[0]);
}

static void test_parse_exit_url(void **state)
{
	struct sup_exit_urls u;
	char v[64];

	(void)state;
	memset(&u, 0, sizeof(u));
	assert_int_equal(opts_parse_exit_url(&u, "http://127.0.0.1:15020/quitquitquit", err,
					     sizeof(err)),
			 0);
	assert_int_equal(opts_parse_exit_url(&u, "unix:/run/proxy.sock:/quit", err, sizeof(err)),
			 0);
	assert_int_equal(u.n, 2);
	/* Copied into the list: an item from the environment is temporary. */
	assert_string_equal(u.v[0].url, "http://127.0.0.1:15020/quitquitquit");
	assert_string_equal(u.v[0].unix_path, "");
	assert_string_equal(u.v[1].url, "http://localhost/quit");
	assert_string_equal(u.v[1].unix_path, "/run/proxy.sock");

	assert_bad(opts_parse_exit_url, &u, "127.0.0.1:15020/quitquitquit",
		   "expected http://HOST:PORT/PATH");
	assert_bad(opts_parse_exit_url, &u, "none", "expected http://HOST:PORT/PATH");
	assert_int_equal(u.n, 2);
	for (size_t i = 2; i < ON_EXIT_URLS_MAX; i++) {
		snprintf(v, sizeof(v), "http://127.0.0.1:%zu/", 9000 + i);
		assert_int_equal(opts_parse_exit_url(&u, v, err, sizeof(err)), 0);
	}
	snprintf(v, sizeof(v), "at most %d URLs", ON_EXIT_URLS_MAX);
	assert_bad(opts_parse_exit_url, &u, "http://127.0.0.1:1/", v);
	assert_int_equal(u.n, ON_EXIT_URLS_MAX);
	assert_string_equal(u.v[ON_EXIT_URLS_MAX - 1].url, "http://127.0.0.1:9003/");
}

/* ---- opts_check ---- */

/* Options as the tables' defaults leave them. */
static void valid_opts(struct cmd_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->sup.sample_ms = 100;
	o->sup.app.timeout_ms = 1000;
	o->sup.budget.grace_ms = 30000;
	o->sup.kube.timeout_ms = 2000;
}

static void test_check(void **state)
{
	static struct cmd_opts o;

	(void)state;
	valid_opts(&o);
	assert_null(opts_check(&o));

	/* Each bound: the least value passes, one below fails. */
	o.sup.sample_ms = 10;
	assert_null(opts_check(&o));
	o.sup.sample_ms = 9;
	assert_string_equal(opts_check(&o), "--sample-interval: at least 10ms");
	valid_opts(&o);
	o.sup.app.timeout_ms = 10;
	assert_null(opts_check(&o));
	o.sup.app.timeout_ms = 0;
	assert_string_equal(opts_check(&o), "--app-timeout: at least 10ms");
	valid_opts(&o);
	o.sup.budget.grace_ms = 1000;
	assert_null(opts_check(&o));
	o.sup.budget.grace_ms = 999;
	assert_string_equal(opts_check(&o), "--grace-period: at least 1s (as Kubernetes)");
	/* auto is settled after the checks (opts_resolve). */
	o.sup.budget.grace_ms = OPTS_GRACE_AUTO;
	assert_null(opts_check(&o));
	valid_opts(&o);
	o.sup.kube.timeout_ms = 10;
	assert_null(opts_check(&o));
	o.sup.kube.timeout_ms = 9;
	assert_string_equal(opts_check(&o), "--api-timeout: at least 10ms");

	/* The API's features need the pod's name. */
	valid_opts(&o);
	o.sup.kube.gate = "example.com/drained";
	assert_string_equal(opts_check(&o),
			    "--readiness-gate and --events need --pod-name "
			    "(LASTCALL_POD_NAME from the downward API)");
	o.sup.kube.gate = NULL;
	o.sup.kube.events = true;
	assert_non_null(strstr(opts_check(&o), "need --pod-name"));
	o.sup.kube.pod_name = "web-0";
	assert_null(opts_check(&o));
	o.sup.kube.gate = "example.com/drained";
	assert_null(opts_check(&o));
	o.sup.kube.gate = "Draining";
	assert_null(opts_check(&o));

	/* Conditions the kubelet owns, or not a qualified name. */
	static const char *const bad_gates[] = { "Ready", "ContainersReady", "bad name",
						 "/x",	  "example.com/",    "-x" };
	for (size_t i = 0; i < sizeof(bad_gates) / sizeof(bad_gates[0]); i++) {
		o.sup.kube.gate = bad_gates[i];
		const char *m = opts_check(&o);
		if (!m || !strstr(m, "--readiness-gate: not a condition type lastcall may set"))
			fail_msg("gate \"%s\": %s", bad_gates[i], m ? m : "accepted");
	}

	/* The first problem is the one reported. */
	valid_opts(&o);
	o.sup.sample_ms = 1;
	o.sup.budget.grace_ms = 1;
	assert_string_equal(opts_check(&o), "--sample-interval: at least 10ms");
}

/* ---- whole command lines ---- */

static int argv_len(char **argv)
{
	int argc = 0;

	while (argv[argc])
		argc++;
	return argc;
}

/* cli_parse of argv (argv[0] the command) into a zeroed *o, as the
 * commands' mains do. Returns cli_parse's result. */
static int parse_cmd(const struct cfg_cmd *cmd, struct cmd_opts *o, int *argi, int *code,
		     char **argv)
{
	memset(o, 0, sizeof(*o));
	sig_rewrite_init(&o->sup.rewrite);
	status_map_init(&o->sup.exit_map);
	*argi = -1;
	*code = -1;
	return cli_parse(cmd, o, &o->common, argv_len(argv), argv, argi, code);
}

/* cfg_parse of argv, for the error text (cli_parse prints it). */
static int parse_err(const struct cfg_cmd *cmd, struct cmd_opts *o, char **argv)
{
	int argi;

	memset(o, 0, sizeof(*o));
	err[0] = '\0';
	return cfg_parse(cmd, o, argv_len(argv), argv, &argi, err, sizeof(err));
}

#define ARGV(...) ((char *[]){ __VA_ARGS__, NULL })

/* The budget, sampling and API defaults every command shares. */
static void assert_common_defaults(const struct cmd_opts *o)
{
	/* auto: decided by opts_resolve where lastcall runs. */
	assert_int_equal(o->sup.budget.grace_ms, OPTS_GRACE_AUTO);
	assert_int_equal(o->sup.budget.kill_margin_ms, 1000);
	assert_int_equal(o->sup.budget.stop_timeout_ms, 5000);
	assert_int_equal(o->sup.budget.min_delay_ms, 2000);
	assert_int_equal(o->sup.budget.quiet_ms, 1000);
	assert_int_equal(o->sup.budget.max_delay_ms, 15000);
	assert_int_equal(o->sup.sample_ms, 100);
	assert_int_equal(o->sup.ports.n, 0);
	assert_null(o->sup.app.url[APP_READY]);
	assert_null(o->sup.app.url[APP_DRAIN]);
	assert_null(o->sup.app.url[APP_INFLIGHT]);
	assert_int_equal(o->sup.app.timeout_ms, 1000);
	assert_null(o->sup.kube.pod_name);
	assert_null(o->sup.kube.gate);
	assert_false(o->sup.kube.events);
	assert_string_equal(o->sup.kube.dir, "/var/run/secrets/kubernetes.io/serviceaccount");
	assert_int_equal(o->sup.kube.timeout_ms, 2000);
	assert_int_equal(o->common.log_level, LOG_INFO);
	assert_int_equal(o->common.log_format, LOG_FMT_LOGFMT);
	assert_null(o->sup.ready_file);
	assert_null(opts_check(o));
}

static void test_run_defaults(void **state)
{
	static struct cmd_opts o;
	int argi, code;
	char **argv = ARGV("run", "--", "nginx", "-g", "daemon off;");

	(void)state;
	assert_int_equal(parse_cmd(&run_cmd, &o, &argi, &code, argv), 0);
	assert_int_equal(argi, 2);
	assert_common_defaults(&o);
	assert_int_equal(o.sup.target, SUP_TARGET_GROUP);
	assert_int_equal(drain_bits(o.sup.drain_on), (1ull << SIGTERM) | (1ull << SIGINT));
	assert_int_equal(o.sup.stop_signal, SIGTERM);
	assert_int_equal(o.sup.orphan_grace_ms, 2000);
	assert_string_equal(o.sup.listen, "0.0.0.0:9797");
	assert_string_equal(o.sup.control, "/tmp/lastcall.sock");
	assert_string_equal(o.sup.termination_log, "/dev/termination-log");
	assert_int_equal(o.sup.allow.n, 0);
	assert_int_equal(o.sup.on_exit.n, 0);
	assert_int_equal(sig_rewrite_apply(&o.sup.rewrite, SIGTERM), SIGTERM);
	assert_int_equal(status_map_apply(&o.sup.exit_map, 143), 143);

	/* No "--": CMD starts at the first argument that is not an option. */
	assert_int_equal(parse_cmd(&run_cmd, &o, &argi, &code, ARGV("run", "sleep", "1")), 0);
	assert_int_equal(argi, 1);
}

static void test_run_flags(void **state)
{
	static struct cmd_opts o;
	int argi, code;
	char **argv =
		ARGV("run", "--signal-target", "child", "--rewrite", "TERM:QUIT", "--rewrite=INT:0",
		     "--exit-code-map", "143:0", "--drain-on", "none", "--grace-period", "1m",
		     "--kill-margin", "500ms", "--stop-timeout", "2.5s", "--min-delay", "0",
		     "--quiet-period", "250ms", "--max-delay", "20s", "--stop-signal", "QUIT",
		     "--port", "8080", "--port", "8443", "--sample-interval", "50ms", "--listen",
		     "none", "--control", "/run/lc.sock", "--allow-from", "10.0.0.0/8",
		     "--ready-file", "/tmp/ready", "--termination-log", "none", "--app-ready-url",
		     "http://127.0.0.1:8080/ready", "--app-drain-url", "unix:/run/app.sock:/drain",
		     "--app-inflight-url", "none", "--on-exit-url",
		     "http://127.0.0.1:15020/quitquitquit", "--pod-name", "web-0",
		     "--readiness-gate", "example.com/serving", "--events", "--log-level", "debug",
		     "--log-format", "json", "--", "app", "--port", "1");

	(void)state;
	assert_int_equal(parse_cmd(&run_cmd, &o, &argi, &code, argv), 0);
	assert_string_equal(argv[argi], "app");
	assert_int_equal(argv_len(argv) - argi, 3);
	assert_int_equal(o.sup.target, SUP_TARGET_CHILD);
	assert_int_equal(sig_rewrite_apply(&o.sup.rewrite, SIGTERM), SIGQUIT);
	assert_int_equal(sig_rewrite_apply(&o.sup.rewrite, SIGINT), 0);
	assert_int_equal(status_map_apply(&o.sup.exit_map, 143), 0);
	assert_int_equal(drain_bits(o.sup.drain_on), 0);
	assert_int_equal(o.sup.budget.grace_ms, 60000);
	assert_int_equal(o.sup.budget.kill_margin_ms, 500);
	assert_int_equal(o.sup.budget.stop_timeout_ms, 2500);
	assert_int_equal(o.sup.budget.min_delay_ms, 0);
	assert_int_equal(o.sup.budget.quiet_ms, 250);
	assert_int_equal(o.sup.budget.max_delay_ms, 20000);
	assert_int_equal(o.sup.stop_signal, SIGQUIT);
	assert_int_equal(o.sup.ports.n, 2);
	assert_int_equal(o.sup.ports.v[0], 8080);
	assert_int_equal(o.sup.ports.v[1], 8443);
	assert_int_equal(o.sup.sample_ms, 50);
	assert_null(o.sup.listen);
	assert_string_equal(o.sup.control, "/run/lc.sock");
	assert_int_equal(o.sup.allow.n, 1);
	assert_string_equal(o.sup.ready_file, "/tmp/ready");
	assert_null(o.sup.termination_log);
	assert_string_equal(o.sup.app.url[APP_READY], "http://127.0.0.1:8080/ready");
	assert_string_equal(o.sup.app.url[APP_DRAIN], "unix:/run/app.sock:/drain");
	assert_null(o.sup.app.url[APP_INFLIGHT]);
	assert_int_equal(o.sup.on_exit.n, 1);
	assert_string_equal(o.sup.kube.pod_name, "web-0");
	assert_string_equal(o.sup.kube.gate, "example.com/serving");
	assert_true(o.sup.kube.events);
	assert_int_equal(o.common.log_level, LOG_DEBUG);
	assert_int_equal(o.common.log_format, LOG_FMT_JSON);
	assert_null(opts_check(&o));
}

static void test_run_env(void **state)
{
	static struct cmd_opts o;
	int argi, code;

	(void)state;
	setenv("LASTCALL_GRACE_PERIOD", "45s", 1);
	setenv("LASTCALL_SIGNAL_TARGET", "child", 1);
	setenv("LASTCALL_DRAIN_ON", "TERM", 1);
	setenv("LASTCALL_PORT", "80,443", 1);
	setenv("LASTCALL_ALLOW_FROM", "10.0.0.1,fd00::/8", 1);
	setenv("LASTCALL_REWRITE", "TERM:QUIT,HUP:0", 1);
	setenv("LASTCALL_EXIT_CODE_MAP", "143:0,137:1", 1);
	setenv("LASTCALL_ON_EXIT_URL", "http://127.0.0.1:1/a,http://127.0.0.1:2/b", 1);
	setenv("LASTCALL_CONTROL", "none", 1);
	setenv("LASTCALL_APP_DRAIN_URL", "http://127.0.0.1:8080/drain", 1);
	setenv("LASTCALL_EVENTS", "true", 1);
	setenv("LASTCALL_POD_NAME", "web-1", 1);
	assert_int_equal(parse_cmd(&run_cmd, &o, &argi, &code, ARGV("run", "app")), 0);
	assert_int_equal(o.sup.budget.grace_ms, 45000);
	assert_int_equal(o.sup.target, SUP_TARGET_CHILD);
	assert_int_equal(drain_bits(o.sup.drain_on), 1ull << SIGTERM);
	assert_int_equal(o.sup.ports.n, 2);
	assert_int_equal(o.sup.ports.v[0], 80);
	assert_int_equal(o.sup.ports.v[1], 443);
	assert_int_equal(o.sup.allow.n, 2);
	assert_int_equal(sig_rewrite_apply(&o.sup.rewrite, SIGTERM), SIGQUIT);
	assert_int_equal(sig_rewrite_apply(&o.sup.rewrite, SIGHUP), 0);
	assert_int_equal(status_map_apply(&o.sup.exit_map, 143), 0);
	assert_int_equal(status_map_apply(&o.sup.exit_map, 137), 1);
	assert_int_equal(o.sup.on_exit.n, 2);
	assert_string_equal(o.sup.on_exit.v[1].url, "http://127.0.0.1:2/b");
	assert_null(o.sup.control);
	assert_string_equal(o.sup.app.url[APP_DRAIN], "http://127.0.0.1:8080/drain");
	assert_true(o.sup.kube.events);
	assert_string_equal(o.sup.kube.pod_name, "web-1");

	/* Flags win: a repeatable flag replaces the environment's list. */
	assert_int_equal(parse_cmd(&run_cmd, &o, &argi, &code,
				   ARGV("run", "--port", "9000", "--grace-period", "10s",
					"--control", "/run/x.sock", "--drain-on", "TERM,INT",
					"--allow-from", "192.0.2.1", "app")),
			 0);
	assert_int_equal(o.sup.ports.n, 1);
	assert_int_equal(o.sup.ports.v[0], 9000);
	assert_int_equal(o.sup.budget.grace_ms, 10000);
	assert_string_equal(o.sup.control, "/run/x.sock");
	assert_int_equal(drain_bits(o.sup.drain_on), (1ull << SIGTERM) | (1ull << SIGINT));
	assert_int_equal(o.sup.allow.n, 1);
	/* What the flags leave alone still comes from the environment. */
	assert_int_equal(o.sup.on_exit.n, 2);
}

static void test_env_errors(void **state)
{
	static struct cmd_opts o;
	char list[PORTS_MAX * 6 + 8] = "";

	(void)state;
	setenv("LASTCALL_PORT", "80,http", 1);
	assert_int_equal(parse_err(&run_cmd, &o, ARGV("run", "app")), -EINVAL);
	assert_err_has("LASTCALL_PORT: invalid value \"http\": expected a TCP port 1..65535");
	/* The flag replaces the list: the bad variable is not read. */
	assert_int_equal(parse_err(&run_cmd, &o, ARGV("run", "--port", "80", "app")), 0);

	/* Past the cap of a list, from the environment... */
	for (int i = 0; i <= PORTS_MAX; i++)
		snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%d", i ? "," : "",
			 1000 + i);
	setenv("LASTCALL_PORT", list, 1);
	assert_int_equal(parse_err(&run_cmd, &o, ARGV("run", "app")), -EINVAL);
	assert_err_has("LASTCALL_PORT: invalid value \"1016\": at most 16 ports");
	unsetenv("LASTCALL_PORT");

	setenv("LASTCALL_DRAIN_ON", "TERM,KILL", 1);
	assert_int_equal(parse_err(&sidecar_cmd, &o, ARGV("sidecar")), -EINVAL);
	assert_err_has("LASTCALL_DRAIN_ON: invalid value \"TERM,KILL\": \"KILL\" is not a signal");
	unsetenv("LASTCALL_DRAIN_ON");

	setenv("LASTCALL_APP_INFLIGHT_URL", "127.0.0.1:8080/inflight", 1);
	assert_int_equal(parse_err(&prestop_cmd, &o, ARGV("prestop")), -EINVAL);
	assert_err_has("LASTCALL_APP_INFLIGHT_URL: invalid value");
	assert_err_has("expected http://HOST:PORT/PATH");
	unsetenv("LASTCALL_APP_INFLIGHT_URL");

	setenv("LASTCALL_SIGNAL", "TERMINATE", 1);
	assert_int_equal(parse_err(&prestop_cmd, &o, ARGV("prestop")), -EINVAL);
	assert_err_has("LASTCALL_SIGNAL: invalid value \"TERMINATE\": expected a signal");
}

static void test_flag_limits(void **state)
{
	static struct cmd_opts o;
	char *argv[2 + 2 * (PORTS_MAX + 1) + 2];
	char ports[PORTS_MAX + 1][16], addrs[HTTPD_ALLOW_MAX + 1][24];
	char urls[ON_EXIT_URLS_MAX + 1][32];
	int n;

	(void)state;
	/* One --port past the cap. */
	n = 0;
	argv[n++] = "run";
	for (int i = 0; i <= PORTS_MAX; i++) {
		snprintf(ports[i], sizeof(ports[i]), "%d", 2000 + i);
		argv[n++] = "--port";
		argv[n++] = ports[i];
	}
	argv[n++] = "app";
	argv[n] = NULL;
	assert_int_equal(parse_err(&run_cmd, &o, argv), -EINVAL);
	assert_err_has("--port: invalid value \"2016\": at most 16 ports");
	/* At the cap, fine. */
	argv[n - 3] = "app";
	argv[n - 2] = NULL;
	assert_int_equal(parse_err(&run_cmd, &o, argv), 0);
	assert_int_equal(o.sup.ports.n, PORTS_MAX);

	n = 0;
	argv[n++] = "sidecar";
	for (int i = 0; i <= HTTPD_ALLOW_MAX; i++) {
		snprintf(addrs[i], sizeof(addrs[i]), "10.0.0.%d", i);
		argv[n++] = "--allow-from";
		argv[n++] = addrs[i];
	}
	argv[n] = NULL;
	assert_int_equal(parse_err(&sidecar_cmd, &o, argv), -EINVAL);
	assert_err_has("--allow-from: invalid value \"10.0.0.16\": at most 16 addresses");

	n = 0;
	argv[n++] = "sidecar";
	for (int i = 0; i <= ON_EXIT_URLS_MAX; i++) {
		snprintf(urls[i], sizeof(urls[i]), "http://127.0.0.1:%d/", 3000 + i);
		argv[n++] = "--on-exit-url";
		argv[n++] = urls[i];
	}
	argv[n] = NULL;
	assert_int_equal(parse_err(&sidecar_cmd, &o, argv), -EINVAL);
	assert_err_has("--on-exit-url: invalid value \"http://127.0.0.1:3004/\": at most 4 URLs");

	/* Not repeatable: twice is an error. */
	assert_int_equal(parse_err(&run_cmd, &o,
				   ARGV("run", "--drain-on", "TERM", "--drain-on", "INT", "app")),
			 -EINVAL);
	assert_err_has("option --drain-on given twice");
	/* Options of other commands are unknown. */
	assert_int_equal(parse_err(&prestop_cmd, &o, ARGV("prestop", "--rewrite", "TERM:QUIT")),
			 -EINVAL);
	assert_err_has("unknown option \"--rewrite\"");
	assert_int_equal(parse_err(&run_cmd, &o, ARGV("run", "--until", "drain", "app")), -EINVAL);
	assert_err_has("unknown option \"--until\"");
}

static void test_sidecar(void **state)
{
	static struct cmd_opts o;
	int argi, code;

	(void)state;
	setenv("LASTCALL_TARGET_PROCESS", "nginx", 1);
	setenv("LASTCALL_STOP_SIGNAL", "QUIT", 1);
	assert_int_equal(parse_cmd(&sidecar_cmd, &o, &argi, &code,
				   ARGV("sidecar", "--pid-file", "/run/nginx.pid")),
			 0);
	assert_int_equal(argi, 3);
	assert_common_defaults(&o);
	assert_string_equal(o.sup.target_process, "nginx");
	assert_string_equal(o.sup.pid_file, "/run/nginx.pid");
	assert_int_equal(o.sup.stop_signal, SIGQUIT);
	assert_int_equal(drain_bits(o.sup.drain_on), (1ull << SIGTERM) | (1ull << SIGINT));
	assert_string_equal(o.sup.listen, "0.0.0.0:9797");
	assert_string_equal(o.sup.control, "/tmp/lastcall.sock");
	assert_string_equal(o.sup.termination_log, "/dev/termination-log");

	/* Takes no arguments. */
	assert_int_equal(parse_err(&sidecar_cmd, &o, ARGV("sidecar", "nginx")), -EINVAL);
	assert_err_has("unexpected argument \"nginx\"");
	/* A string option may not be empty. */
	assert_int_equal(parse_err(&sidecar_cmd, &o, ARGV("sidecar", "--target-process", "")),
			 -EINVAL);
	assert_err_has("--target-process: invalid value \"\": must not be empty");
}

static void test_prestop(void **state)
{
	static struct cmd_opts o;
	int argi, code;

	(void)state;
	assert_int_equal(parse_cmd(&prestop_cmd, &o, &argi, &code, ARGV("prestop")), 0);
	assert_int_equal(argi, 1);
	assert_common_defaults(&o);
	assert_string_equal(o.sup.control, "/tmp/lastcall.sock");
	assert_string_equal(o.until, "drained");
	/* No signal unless asked: the kubelet sends it after the hook. */
	assert_int_equal(o.sup.stop_signal, 0);
	assert_null(o.sup.pid_file);
	assert_null(o.sup.target_process);
	/* Not among prestop's options: left as they were. */
	assert_null(o.sup.listen);
	assert_null(o.sup.termination_log);
	assert_int_equal(drain_bits(o.sup.drain_on), 0);

	setenv("LASTCALL_UNTIL", "propagate", 1);
	setenv("LASTCALL_CONTROL", "/run/lastcall/control.sock", 1);
	setenv("LASTCALL_SIGNAL", "SIGQUIT", 1);
	setenv("LASTCALL_PROCESS", "nginx", 1);
	setenv("LASTCALL_GRACE_PERIOD", "90", 1);
	assert_int_equal(parse_cmd(&prestop_cmd, &o, &argi, &code, ARGV("prestop")), 0);
	assert_string_equal(o.until, "propagate");
	assert_string_equal(o.sup.control, "/run/lastcall/control.sock");
	assert_int_equal(o.sup.stop_signal, SIGQUIT);
	assert_string_equal(o.sup.target_process, "nginx");
	assert_int_equal(o.sup.budget.grace_ms, 90000);

	assert_int_equal(parse_cmd(&prestop_cmd, &o, &argi, &code,
				   ARGV("prestop", "--control", "none", "--signal", "none",
					"--until=done", "--min-delay", "0s", "--ready-file",
					"/tmp/ready")),
			 0);
	assert_null(o.sup.control);
	assert_int_equal(o.sup.stop_signal, 0);
	assert_string_equal(o.until, "done");
	assert_int_equal(o.sup.budget.min_delay_ms, 0);
	assert_string_equal(o.sup.ready_file, "/tmp/ready");
	unsetenv("LASTCALL_GRACE_PERIOD");

	/* The duration types' own errors name the flag. */
	assert_int_equal(parse_err(&prestop_cmd, &o, ARGV("prestop", "--grace-period", "30x")),
			 -EINVAL);
	assert_err_has("--grace-period: invalid value \"30x\": expected a duration");
	assert_int_equal(parse_err(&prestop_cmd, &o, ARGV("prestop", "--max-delay", "25h")),
			 -EINVAL);
	assert_err_has("--max-delay: invalid value \"25h\": longer than 24h");
	assert_int_equal(parse_err(&prestop_cmd, &o, ARGV("prestop", "--until", "")), -EINVAL);
	assert_err_has("--until: invalid value \"\": must not be empty");
}

/* --grace-period auto: what it means where lastcall runs. */
static void test_grace_auto(void **state)
{
	int64_t ms = 0;

	(void)state;
	assert_int_equal(opts_parse_grace(&ms, "auto", err, sizeof(err)), 0);
	assert_int_equal(ms, OPTS_GRACE_AUTO);
	assert_int_equal(opts_parse_grace(&ms, "45s", err, sizeof(err)), 0);
	assert_int_equal(ms, 45000);
	assert_int_equal(opts_parse_grace(&ms, "soon", err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "expected a duration (30s, 1m) or auto");
	/* Kubernetes' default terminationGracePeriodSeconds; the engines'
	 * default stop timeout (docker stop, podman stop, Compose). */
	assert_int_equal(opts_grace_auto(OPTS_WHERE_KUBERNETES), 30000);
	assert_int_equal(opts_grace_auto(OPTS_WHERE_DOCKER), 10000);
	assert_int_equal(opts_grace_auto(OPTS_WHERE_PODMAN), 10000);
	assert_int_equal(opts_grace_auto(OPTS_WHERE_UNKNOWN), 30000);
	assert_string_equal(opts_where_name(OPTS_WHERE_PODMAN), "podman");
	assert_string_equal(opts_where_name((enum opts_where)99), "unknown");
	/* The engines' 10 s still leave the default delays room, the caps
	 * shrinking to the window (no stop timeout or floor is cut). */
	struct drain_budget in = { .grace_ms = 10000,
				   .kill_margin_ms = 1000,
				   .stop_timeout_ms = 5000,
				   .min_delay_ms = 2000,
				   .quiet_ms = 1000,
				   .max_delay_ms = 15000 },
			    out;
	assert_true(drain_budget_fit(&in, &out, NULL, 0));
	assert_int_equal(out.stop_timeout_ms, 5000);
	assert_int_equal(out.min_delay_ms, 2000);
	assert_int_equal(out.max_delay_ms, 4000);
}

/* Settled once: a given value stays; auto becomes a number. */
static void test_resolve(void **state)
{
	struct cmd_opts o;

	(void)state;
	memset(&o, 0, sizeof(o));
	o.sup.budget.grace_ms = 20000;
	opts_resolve(&o);
	assert_int_equal(o.sup.budget.grace_ms, 20000);
	assert_null(o.sup.grace_assumed);
	o.sup.budget.grace_ms = OPTS_GRACE_AUTO;
	setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
	assert_int_equal(opts_where_detect(), OPTS_WHERE_KUBERNETES);
	opts_resolve(&o);
	assert_int_equal(o.sup.budget.grace_ms, 30000);
	assert_string_equal(o.sup.grace_assumed, "kubernetes");
	assert_non_null(strstr(o.sup.grace_hint, "LASTCALL_GRACE_PERIOD"));
	unsetenv("KUBERNETES_SERVICE_HOST");
	o.sup.budget.grace_ms = OPTS_GRACE_AUTO;
	opts_resolve(&o);
	assert_int_equal(o.sup.budget.grace_ms, opts_grace_auto(opts_where_detect()));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_parse_target, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parse_rewrite, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parse_exit_map, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parse_drain_on, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parse_port, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parse_optional, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parse_signal_or_none, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parse_allow, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parse_app_url, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parse_exit_url, setup, teardown),
		cmocka_unit_test_setup_teardown(test_check, setup, teardown),
		cmocka_unit_test_setup_teardown(test_run_defaults, setup, teardown),
		cmocka_unit_test_setup_teardown(test_run_flags, setup, teardown),
		cmocka_unit_test_setup_teardown(test_run_env, setup, teardown),
		cmocka_unit_test_setup_teardown(test_env_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flag_limits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sidecar, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prestop, setup, teardown),
		cmocka_unit_test(test_grace_auto),
		cmocka_unit_test(test_resolve),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
