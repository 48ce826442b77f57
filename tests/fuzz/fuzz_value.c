/* fuzz_value.c - one flag or environment value through the parser of its
 * kind: a duration, a signal, a --rewrite or --exit-code-map list, an
 * --allow-from list, an app or exit URL, a --listen address, --drain-on,
 * a /wait phase, a readiness-gate type, a port, --grace-period, a log
 * level or format, a boolean.
 *
 * Input: the first byte picks the parser (and a flag or two of it), the
 * rest is the value, cut at the first NUL as argv and environ cut it.
 * Lists are split on ',' as an environment variable is (cfg.c apply_env).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>

#include "cfg.h"
#include "drain.h"
#include "fetch.h"
#include "httpd.h"
#include "kapi.h"
#include "log.h"
#include "opts.h"
#include "sig.h"
#include "status.h"

#include "fuzz.h"

/* err buffers are filled by snprintf: always terminated, never overrun. */
static void check_err(const char *err, size_t size)
{
	FUZZ_ASSERT(memchr(err, '\0', size) != NULL);
}

static void fuzz_duration(const char *s)
{
	int64_t ms = -1;

	if (cfg_parse_duration(s, &ms) == 0)
		FUZZ_ASSERT(ms >= 0 && ms <= DURATION_MAX_MS);
}

/* A parsed signal is a real one, and its canonical name parses back to it. */
static void fuzz_signal(const char *s, bool allow_zero)
{
	char name[SIG_NAME_MAX];
	int sig = -1, again = -1;

	if (sig_parse(s, allow_zero, &sig) < 0)
		return;
	FUZZ_ASSERT(sig >= 0 && sig <= SIG_MAX && (sig > 0 || allow_zero));
	if (sig == 0)
		return;
	FUZZ_ASSERT(sig_policy(sig) != SIG_POLICY_INVALID);
	sig_name(sig, name);
	FUZZ_ASSERT(sig_parse(name, 0, &again) == 0 && again == sig);
}

/* Each comma-separated item of s through add; the rest is checked by the
 * caller. */
static void each_item(const char *s, int (*add)(void *obj, const char *item, char *err, size_t n),
		      void *obj)
{
	char item[CFG_VALUE_MAX + 1], err[CFG_ERR_MAX];

	for (const char *p = s; *p;) {
		size_t n = strcspn(p, ",");

		if (n > 0 && n < sizeof(item)) {
			memcpy(item, p, n);
			item[n] = '\0';
			if (add(obj, item, err, sizeof(err)) < 0)
				check_err(err, sizeof(err));
		}
		p += n;
		if (*p == ',')
			p++;
	}
}

static int add_rewrite(void *obj, const char *item, char *err, size_t n)
{
	return sig_rewrite_add(obj, item, err, n);
}

static void fuzz_rewrite(const char *s)
{
	struct sig_rewrite r;

	sig_rewrite_init(&r);
	each_item(s, add_rewrite, &r);
	for (int sig = 1; sig <= SIG_MAX; sig++) {
		int to = sig_rewrite_apply(&r, sig);
		FUZZ_ASSERT(to >= 0 && to <= SIG_MAX);
		/* Only forwardable signals are rewritten: to one, to 0 (dropped),
		 * or to KILL, STOP or TSTP (sig_rewrite_add takes those too). */
		if (to != sig)
			FUZZ_ASSERT(sig_policy(sig) == SIG_POLICY_FORWARD &&
				    (to == 0 || sig_policy(to) == SIG_POLICY_FORWARD ||
				     to == SIGKILL || to == SIGSTOP || to == SIGTSTP));
	}
}

static int add_exit_map(void *obj, const char *item, char *err, size_t n)
{
	return status_map_add(obj, item, err, n);
}

static void fuzz_exit_map(const char *s)
{
	struct status_map m;

	status_map_init(&m);
	each_item(s, add_exit_map, &m);
	for (int code = -300; code < 600; code += 7)
		FUZZ_ASSERT(status_map_apply(&m, code) >= 0 && status_map_apply(&m, code) <= 255);
}

static int add_allow(void *obj, const char *item, char *err, size_t n)
{
	struct httpd_acl *acl = obj;
	size_t before = acl->n;
	int r = httpd_acl_add(acl, item, err, n);

	FUZZ_ASSERT(acl->n == before + (r == 0));
	FUZZ_ASSERT(r != -ENOSPC || before == HTTPD_ALLOW_MAX);
	return r;
}

/* Every entry allows its own address; loopback is always allowed. */
static void fuzz_allow(const char *s)
{
	struct httpd_acl acl = { .n = 0 };
	struct sockaddr_storage ss;
	struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;

	each_item(s, add_allow, &acl);
	FUZZ_ASSERT(acl.n <= HTTPD_ALLOW_MAX);
	for (size_t i = 0; i < acl.n; i++) {
		memset(&ss, 0, sizeof(ss));
		ss.ss_family = acl.v[i].family;
		if (acl.v[i].family == AF_INET) {
			FUZZ_ASSERT(acl.v[i].prefix <= 32);
			memcpy(&in4->sin_addr, acl.v[i].addr, 4);
		} else {
			FUZZ_ASSERT(acl.v[i].family == AF_INET6 && acl.v[i].prefix <= 128);
			memcpy(&in6->sin6_addr, acl.v[i].addr, 16);
		}
		FUZZ_ASSERT(httpd_acl_allows(&acl, (struct sockaddr *)&ss));
	}
	memset(&ss, 0, sizeof(ss));
	in4->sin_family = AF_INET;
	in4->sin_addr.s_addr = htonl(0x7f000001);
	FUZZ_ASSERT(httpd_acl_allows(&acl, (struct sockaddr *)&ss));
}

/* A URL that parses is kept whole, and what is kept parses again to the
 * same. */
static void fuzz_url(const char *s)
{
	struct fetch_target t, again;
	unsigned char ip[16];
	char err[CFG_ERR_MAX];
	size_t iplen;

	if (fetch_target_parse(s, &t, err, sizeof(err)) < 0) {
		check_err(err, sizeof(err));
		return;
	}
	FUZZ_ASSERT(memchr(t.url, '\0', sizeof(t.url)) &&
		    memchr(t.unix_path, '\0', sizeof(t.unix_path)));
	FUZZ_ASSERT(strncmp(t.url, "http://", 7) == 0 || strncmp(t.url, "https://", 8) == 0);
	FUZZ_ASSERT(fetch_target_parse(t.url, &again, err, sizeof(err)) == 0);
	FUZZ_ASSERT(strcmp(again.url, t.url) == 0);
	if (fetch_url_ip(t.url, ip, &iplen) == 0)
		FUZZ_ASSERT(iplen == 4 || iplen == 16);
}

static void fuzz_listen(const char *s)
{
	struct sockaddr_storage ss;
	size_t len = 0;

	if (httpd_parse_addr(s, &ss, &len) == 0)
		FUZZ_ASSERT((ss.ss_family == AF_INET && len == sizeof(struct sockaddr_in)) ||
			    (ss.ss_family == AF_INET6 && len == sizeof(struct sockaddr_in6)));
}

/* Only signals that are forwarded may start a drain. */
static void fuzz_drain_on(const char *s)
{
	bool on[SIG_MAX + 1];
	char err[CFG_ERR_MAX];

	if (opts_parse_drain_on(on, s, err, sizeof(err)) < 0) {
		check_err(err, sizeof(err));
		return;
	}
	FUZZ_ASSERT(!on[0]);
	for (int sig = 1; sig <= SIG_MAX; sig++)
		FUZZ_ASSERT(!on[sig] || sig_policy(sig) == SIG_POLICY_FORWARD);
}

static void fuzz_phase(const char *s)
{
	enum drain_phase p;

	if (drain_phase_parse(s, &p) == 0) {
		FUZZ_ASSERT((int)p >= 0 && p < DRAIN_PHASES);
		FUZZ_ASSERT(drain_phase_name(p) != NULL);
	}
}

static void fuzz_misc(const char *s, unsigned which)
{
	struct sup_ports ports = { .n = 0 };
	enum log_level level;
	enum log_format format;
	char err[CFG_ERR_MAX];
	int64_t ms;
	bool b;

	switch (which % 5) {
	case 0:
		kapi_gate_type_ok(s);
		break;
	case 1:
		for (int i = 0; i <= PORTS_MAX; i++) {
			if (opts_parse_port(&ports, s, err, sizeof(err)) < 0) {
				check_err(err, sizeof(err));
				break;
			}
		}
		FUZZ_ASSERT(ports.n <= PORTS_MAX);
		for (size_t i = 0; i < ports.n; i++)
			FUZZ_ASSERT(ports.v[i] >= 1);
		break;
	case 2:
		if (opts_parse_grace(&ms, s, err, sizeof(err)) == 0)
			FUZZ_ASSERT(ms == OPTS_GRACE_AUTO || (ms >= 0 && ms <= DURATION_MAX_MS));
		break;
	case 3:
		if (log_level_parse(s, &level) == 0)
			FUZZ_ASSERT(level >= LOG_DEBUG && level <= LOG_OFF);
		if (log_format_parse(s, &format) == 0)
			FUZZ_ASSERT(format == LOG_FMT_LOGFMT || format == LOG_FMT_JSON);
		break;
	default:
		cfg_parse_bool(s, &b);
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s;

	if (size < 1 || size > CFG_VALUE_MAX + 1)
		return 0;
	s = fuzz_cstr(data + 1, size - 1);
	if (!s)
		return 0;
	switch (data[0] % 10) {
	case 0:
		fuzz_duration(s);
		break;
	case 1:
		fuzz_signal(s, data[0] & 0x80);
		break;
	case 2:
		fuzz_rewrite(s);
		break;
	case 3:
		fuzz_exit_map(s);
		break;
	case 4:
		fuzz_allow(s);
		break;
	case 5:
		fuzz_url(s);
		break;
	case 6:
		fuzz_listen(s);
		break;
	case 7:
		fuzz_drain_on(s);
		break;
	case 8:
		fuzz_phase(s);
		break;
	default:
		fuzz_misc(s, data[0] / 10);
		break;
	}
	free(s);
	return 0;
}
