/* opts.c - see opts.h. */
#include "opts.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fetch.h"

int opts_parse_target(void *field, const char *value, char *err, size_t errlen)
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

int opts_parse_rewrite(void *field, const char *value, char *err, size_t errlen)
{
	return sig_rewrite_add(field, value, err, errlen);
}

int opts_parse_exit_map(void *field, const char *value, char *err, size_t errlen)
{
	return status_map_add(field, value, err, errlen);
}

int opts_parse_drain_on(void *field, const char *value, char *err, size_t errlen)
{
	bool *on = field;
	char item[32];

	memset(on, 0, sizeof(bool) * (SIG_MAX + 1));
	if (strcmp(value, "none") == 0)
		return 0;
	for (const char *p = value; *p;) {
		size_t n = strcspn(p, ",");
		int sig;

		if (n == 0 || n >= sizeof(item)) {
			snprintf(err, errlen, "expected signals like TERM,INT, or none");
			return -EINVAL;
		}
		memcpy(item, p, n);
		item[n] = '\0';
		if (sig_parse(item, 0, &sig) < 0 || sig_policy(sig) != SIG_POLICY_FORWARD) {
			snprintf(err, errlen, "\"%s\" is not a signal that can start a drain",
				 item);
			return -EINVAL;
		}
		on[sig] = true;
		p += n;
		if (*p == ',')
			p++;
	}
	return 0;
}

int opts_parse_port(void *field, const char *value, char *err, size_t errlen)
{
	struct sup_ports *ports = field;
	char *end;
	long v;

	errno = 0;
	v = strtol(value, &end, 10);
	if (errno || end == value || *end || v < 1 || v > 65535) {
		snprintf(err, errlen, "expected a TCP port 1..65535");
		return -EINVAL;
	}
	if (ports->n >= PORTS_MAX) {
		snprintf(err, errlen, "at most %d ports", PORTS_MAX);
		return -EINVAL;
	}
	ports->v[ports->n++] = (uint16_t)v;
	return 0;
}

int opts_parse_optional(void *field, const char *value, char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	*(const char **)field = (*value == '\0' || strcmp(value, "none") == 0) ? NULL : value;
	return 0;
}

int opts_parse_allow(void *field, const char *value, char *err, size_t errlen)
{
	return httpd_acl_add(field, value, err, errlen);
}

int opts_parse_app_url(void *field, const char *value, char *err, size_t errlen)
{
	struct fetch_target t;

	if (*value == '\0' || strcmp(value, "none") == 0) {
		*(const char **)field = NULL;
		return 0;
	}
	if (fetch_target_parse(value, &t, err, errlen) < 0)
		return -EINVAL;
	*(const char **)field = value;
	return 0;
}

int opts_parse_exit_url(void *field, const char *value, char *err, size_t errlen)
{
	struct sup_exit_urls *u = field;

	if (u->n >= ON_EXIT_URLS_MAX) {
		snprintf(err, errlen, "at most %d URLs", ON_EXIT_URLS_MAX);
		return -EINVAL;
	}
	if (fetch_target_parse(value, &u->v[u->n], err, errlen) < 0)
		return -EINVAL;
	u->n++;
	return 0;
}

int opts_parse_signal_or_none(void *field, const char *value, char *err, size_t errlen)
{
	int *sig = field;

	if (*value == '\0' || strcmp(value, "none") == 0) {
		*sig = 0;
		return 0;
	}
	if (sig_parse(value, 0, sig) < 0) {
		snprintf(err, errlen, "expected a signal (QUIT, SIGTERM, 15) or none");
		return -EINVAL;
	}
	return 0;
}

int opts_parse_grace(void *field, const char *value, char *err, size_t errlen)
{
	int64_t *ms = field;

	if (strcmp(value, "auto") == 0) {
		*ms = OPTS_GRACE_AUTO;
		return 0;
	}
	if (cfg_parse_duration(value, ms) < 0) {
		snprintf(err, errlen, "expected a duration (30s, 1m) or auto");
		return -EINVAL;
	}
	return 0;
}

int64_t opts_grace_auto(enum opts_where where)
{
	switch (where) {
	case OPTS_WHERE_DOCKER:
	case OPTS_WHERE_PODMAN:
		return 10000;
	default:
		return 30000;
	}
}

const char *opts_where_name(enum opts_where where)
{
	static const char *const names[] = {
		[OPTS_WHERE_KUBERNETES] = "kubernetes",
		[OPTS_WHERE_DOCKER] = "docker",
		[OPTS_WHERE_PODMAN] = "podman",
		[OPTS_WHERE_UNKNOWN] = "unknown",
	};

	return where <= OPTS_WHERE_UNKNOWN ? names[where] : "unknown";
}

enum opts_where opts_where_detect(void)
{
	const char *host = getenv("KUBERNETES_SERVICE_HOST");

	/* Kubernetes first: a pod's container may run on Docker's engine. */
	if ((host && *host) || access(SUP_KUBE_DIR, F_OK) == 0)
		return OPTS_WHERE_KUBERNETES;
	if (access("/run/.containerenv", F_OK) == 0)
		return OPTS_WHERE_PODMAN;
	if (access("/.dockerenv", F_OK) == 0)
		return OPTS_WHERE_DOCKER;
	return OPTS_WHERE_UNKNOWN;
}

void opts_resolve(struct cmd_opts *o)
{
	enum opts_where where;

	if (o->sup.budget.grace_ms != OPTS_GRACE_AUTO)
		return;
	where = opts_where_detect();
	o->sup.budget.grace_ms = opts_grace_auto(where);
	o->sup.grace_assumed = opts_where_name(where);
	o->sup.grace_hint =
		where == OPTS_WHERE_DOCKER || where == OPTS_WHERE_PODMAN
			? "the engine's default stop timeout; if you stop with -t N or "
			  "stop_grace_period, set --grace-period (LASTCALL_GRACE_PERIOD) to it"
			: "set --grace-period (LASTCALL_GRACE_PERIOD) to the pod's "
			  "terminationGracePeriodSeconds";
}

const char *opts_check(const struct cmd_opts *o)
{
	if (o->sup.sample_ms < 10)
		return "--sample-interval: at least 10ms";
	if (o->sup.app.timeout_ms < 10)
		return "--app-timeout: at least 10ms";
	if (o->sup.budget.grace_ms != OPTS_GRACE_AUTO && o->sup.budget.grace_ms < 1000)
		return "--grace-period: at least 1s (as Kubernetes)";
	if (o->sup.kube.timeout_ms < 10)
		return "--api-timeout: at least 10ms";
	if ((o->sup.kube.gate || o->sup.kube.events) && !o->sup.kube.pod_name)
		return "--readiness-gate and --events need --pod-name (LASTCALL_POD_NAME from the downward API)";
	if (o->sup.kube.gate && !kapi_gate_type_ok(o->sup.kube.gate))
		return "--readiness-gate: not a condition type lastcall may set (kubelet-owned, or not [prefix/]name)";
	return NULL;
}
