/* doctor.c - see doctor.h.
 *
 * Kubernetes facts the rules rest on (see also the project's notes):
 * - PID 1 of a container gets the stop signal; a default disposition does
 *   nothing at PID 1, and npm, yarn and pnpm run the app under a shell
 *   that does not pass SIGTERM on: the app is SIGKILLed at the end of the
 *   grace period.
 * - preStop runs to completion before the stop signal and counts against
 *   terminationGracePeriodSeconds (default 30); the kubelet then gives the
 *   stop at least 2 s. The sleep action (lifecycle.preStop.sleep) is
 *   beta and on by default from 1.30 (KEP-3960); distroless and scratch
 *   images have no sleep or sh for an exec hook.
 * - At deletion the endpoint turns not ready at once, but load balancers
 *   lag: without a delay before the stop, requests fail at every rollout.
 * - The kubelet restarts a container whose liveness probe fails: on an
 *   endpoint that fails while draining, mid-drain.
 * - Native sidecars are init containers with restartPolicy: Always
 *   (KEP-753); a sidecar among a Job's containers keeps the Job running.
 * - lifecycle.stopSignal (KEP-4960, alpha 1.33) needs spec.os.name.
 * - The official nginx image stops with SIGQUIT (graceful); SIGTERM is
 *   nginx's fast shutdown, which drops the connections it has.
 */
#include "doctor.h"

#include <errno.h>
#include <stddef.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "limits.h"
#include "opts.h"
#include "prestop.h"
#include "run.h"
#include "sig.h"
#include "status.h"

/* The order is the order of --help and of SARIF's rules: keep ids stable. */
const struct doctor_rule doctor_rules[] = {
	{ "pid1-package-manager",
	  "npm, yarn or pnpm as PID 1: the stop signal never reaches the app", DOCTOR_ERROR },
	{ "pid1-shell", "a shell script as PID 1 that does not exec the app", DOCTOR_WARNING },
	{ "prestop-sleep-exceeds-grace",
	  "a preStop sleep and the app's shutdown do not fit terminationGracePeriodSeconds",
	  DOCTOR_ERROR },
	{ "prestop-exec-missing-binary", "a preStop exec of sleep or sh in an image that has none",
	  DOCTOR_ERROR },
	{ "readiness-missing", "a container behind a Service without a readiness probe",
	  DOCTOR_WARNING },
	{ "readiness-too-slow", "a readiness probe slower than the drain's propagation wait",
	  DOCTOR_WARNING },
	{ "drain-missing", "a container behind a Service with no preStop hook and no drain",
	  DOCTOR_WARNING },
	{ "liveness-on-readiness", "a liveness probe on the readiness endpoint", DOCTOR_ERROR },
	{ "lastcall-invalid-flag", "lastcall would refuse to start with these flags",
	  DOCTOR_ERROR },
	{ "grace-mismatch", "lastcall's --grace-period differs from terminationGracePeriodSeconds",
	  DOCTOR_ERROR },
	{ "delays-exceed-grace", "lastcall's delays do not fit in the grace period", DOCTOR_ERROR },
	{ "max-delay-exceeds-grace",
	  "lastcall's --max-delay reaches past what the grace period leaves", DOCTOR_WARNING },
	{ "httpget-port-unknown",
	  "an httpGet or tcpSocket port name the container does not declare", DOCTOR_ERROR },
	{ "httpget-port-undeclared",
	  "an httpGet or tcpSocket port no container of the pod declares", DOCTOR_WARNING },
	{ "sidecar-needs-shared-pid", "lastcall sidecar without shareProcessNamespace: true",
	  DOCTOR_ERROR },
	{ "gate-not-declared", "--readiness-gate names a type missing from spec.readinessGates",
	  DOCTOR_ERROR },
	{ "api-pod-name", "--pod-name not from the downward API (metadata.name)", DOCTOR_ERROR },
	{ "api-rbac", "the service account may not make the API calls lastcall makes",
	  DOCTOR_ERROR },
	{ "api-rbac-slices",
	  "the service account may not list EndpointSlices: no removal signal for the drain",
	  DOCTOR_WARNING },
	{ "close-idle-no-ptrace", "--close-idle in a container without CAP_SYS_PTRACE",
	  DOCTOR_WARNING },
	{ "listen-port-conflict", "two lastcalls of one pod on the same --listen port",
	  DOCTOR_ERROR },
	{ "nginx-sigterm", "nginx stopped with SIGTERM (fast shutdown) instead of SIGQUIT",
	  DOCTOR_WARNING },
	{ "stop-signal-needs-os", "lifecycle.stopSignal without spec.os.name", DOCTOR_ERROR },
	{ "job-sidecar-not-native", "a sidecar among a Job's containers: the Job never completes",
	  DOCTOR_ERROR },
	{ "job-exit-143", "a Job's container under lastcall run exits 143 on SIGTERM",
	  DOCTOR_WARNING },
};
const size_t doctor_n_rules = sizeof(doctor_rules) / sizeof(doctor_rules[0]);

/* What the kubelet defaults to, and what the doctor assumes an app needs
 * for its own shutdown when nothing says (lastcall's --stop-timeout). */
#define GRACE_DEFAULT_S 30
#define SHUTDOWN_GUESS_S 5
/* A readiness probe's defaults: periodSeconds, failureThreshold. */
#define PROBE_PERIOD_DEFAULT_S 10
#define PROBE_FAILURES_DEFAULT 3

const char *doctor_severity_name(enum doctor_severity s)
{
	static const char *const names[] = { "info", "warning", "error", "none" };

	return s <= DOCTOR_NONE ? names[s] : "?";
}

int doctor_severity_parse(const char *s, enum doctor_severity *ret)
{
	for (int i = DOCTOR_INFO; i <= DOCTOR_NONE; i++) {
		if (strcmp(s, doctor_severity_name(i)) == 0) {
			*ret = i;
			return 0;
		}
	}
	return -EINVAL;
}

/* ---- JSON helpers ---- */

static const cJSON *get(const cJSON *o, const char *k)
{
	return cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, k) : NULL;
}

static const char *str(const cJSON *o, const char *k)
{
	const cJSON *v = get(o, k);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* A whole number field, or def when absent or not a number. */
static int64_t num(const cJSON *o, const char *k, int64_t def)
{
	const cJSON *v = get(o, k);

	if (!cJSON_IsNumber(v) || v->valuedouble < -1e12 || v->valuedouble > 1e12)
		return def;
	return (int64_t)v->valuedouble;
}

static const char *base_name(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash ? slash + 1 : path;
}

/* An image's repository name without registry, path, tag or digest:
 * "docker.io/library/nginx:1.27" -> "nginx", into buf. */
static void image_repo(const char *image, char *buf, size_t size)
{
	const char *b = base_name(image ? image : "");
	size_t n = strcspn(b, ":@");

	snprintf(buf, size, "%.*s", (int)n, b);
}

static bool image_is(const char *image, const char *name)
{
	char repo[128];

	image_repo(image, repo, sizeof(repo));
	return strcmp(repo, name) == 0;
}

/* ---- pods and containers ---- */

struct inv {
	bool present;	 /* lastcall runs here */
	const char *sub; /* run, sidecar, prestop, probe... */
	const cJSON *at;
	char path[160];
	bool parsed; /* run/sidecar/prestop, its flags read */
	char err[CFG_ERR_MAX];
	struct cmd_opts o;
	/* The words after lastcall's own options (run: CMD and its args). */
	const char *words[DOCTOR_ARGV_MAX];
	int n_words;
};

struct ctr {
	const cJSON *c;
	const char *name, *image;
	bool init, native;
	char path[96];
	/* The main command: command then args. */
	const char *argv[DOCTOR_ARGV_MAX];
	int argc;
	const cJSON *argv_at;
	char argv_path[112];
	struct inv main, hook; /* lastcall as the command, in preStop */
};

struct pod {
	size_t object;
	const cJSON *obj, *spec, *labels;
	const char *ns;
	char prefix[48];
	bool job;
	int64_t grace_s;
	struct ctr c[DOCTOR_CONTAINERS_MAX];
	size_t n;
};

struct ctx {
	const struct kobj_set *s;
	struct doctor_finding *out;
	size_t max, n, dropped;
};

static const struct doctor_rule *rule_by_id(const char *id)
{
	for (size_t i = 0; i < doctor_n_rules; i++) {
		if (strcmp(doctor_rules[i].id, id) == 0)
			return &doctor_rules[i];
	}
	return NULL;
}

/* A new finding of rule id on pod p at path (severity < 0: the rule's);
 * the caller writes why and fix. NULL when the list is full. */
static struct doctor_finding *finding(struct ctx *x, const char *id, int severity,
				      const struct pod *p, const cJSON *at, const char *path)
{
	const struct doctor_rule *r = rule_by_id(id);
	struct doctor_finding *f;

	if (x->n == x->max) {
		x->dropped++;
		return NULL;
	}
	f = &x->out[x->n++];
	memset(f, 0, sizeof(*f));
	f->rule = r;
	f->severity = severity < 0 ? r->severity : (enum doctor_severity)severity;
	f->object = p->object;
	f->at = at;
	snprintf(f->path, sizeof(f->path), "%s", path);
	return f;
}

#define SAY(f, field, ...) \
	((f) ? (void)snprintf((f)->field, sizeof((f)->field), __VA_ARGS__) : (void)0)

/* The strings of a JSON array into argv, after those already there. */
static void take_words(const cJSON *arr, const char **argv, int *argc)
{
	const cJSON *w;

	cJSON_ArrayForEach(w, arr)
	{
		if (*argc < DOCTOR_ARGV_MAX - 1 && cJSON_IsString(w))
			argv[(*argc)++] = w->valuestring;
	}
	argv[*argc] = NULL;
}

/* The container's env as lastcall would see it: literal values; the
 * downward API's fields stand for themselves (their value is only known
 * in the pod); values from elsewhere or with $(VAR) are unknown here. */
static const char *container_env(const char *name, void *data)
{
	const cJSON *env = get(data, "env"), *e;

	cJSON_ArrayForEach(e, env)
	{
		const char *n = str(e, "name"), *v = str(e, "value");

		if (!n || strcmp(n, name) != 0)
			continue;
		if (v)
			return strstr(v, "$(") ? NULL : v;
		if (str(get(get(e, "valueFrom"), "fieldRef"), "fieldPath"))
			return "downward-api";
		return NULL;
	}
	return NULL;
}

static bool is_lastcall_image(const char *image)
{
	return image && image_is(image, "lastcall");
}

/*
 * Reads a lastcall invocation from words (argv[0] may be lastcall, or,
 * with from_image, the words are the args of the lastcall image) with the
 * subcommand's own option table and the container's env.
 */
static void read_inv(struct inv *v, const struct ctr *c, const char *const *words, int n,
		     bool from_image, const cJSON *at, const char *path)
{
	char *argv[DOCTOR_ARGV_MAX + 1];
	const struct cfg_cmd *cmd = NULL;
	int argc = 0, argi, first;
	const char *bad = NULL;

	memset(v, 0, sizeof(*v));
	if (n < 1)
		return;
	if (strcmp(base_name(words[0]), "lastcall") == 0)
		first = 1;
	else if (from_image)
		first = 0;
	else
		return;
	if (first >= n)
		return;
	v->present = true;
	v->sub = words[first];
	v->at = at;
	snprintf(v->path, sizeof(v->path), "%s", path);
	if (strcmp(v->sub, "run") == 0)
		cmd = &run_cmd;
	else if (strcmp(v->sub, "sidecar") == 0)
		cmd = &sidecar_cmd;
	else if (strcmp(v->sub, "prestop") == 0)
		cmd = &prestop_cmd;
	if (!cmd)
		return;
	/* Kubernetes expands $(VAR) in the words; its value is not known
	 * here: such an option (and its value) is left out. */
	for (int i = first; i < n && argc < DOCTOR_ARGV_MAX; i++) {
		if (strstr(words[i], "$(")) {
			if (argc > 1 && strncmp(argv[argc - 1], "--", 2) == 0 &&
			    !strchr(argv[argc - 1], '='))
				argc--;
			continue;
		}
		argv[argc++] = (char *)words[i];
	}
	argv[argc] = NULL;
	sig_rewrite_init(&v->o.sup.rewrite);
	status_map_init(&v->o.sup.exit_map);
	int r = cfg_parse_with(cmd, &v->o, argc, argv, container_env, (void *)c->c, &argi, v->err,
			       sizeof(v->err));
	if (r == CFG_HELP)
		return;
	v->parsed = true;
	if (r < 0)
		return;
	for (int i = argi; i < argc && v->n_words < DOCTOR_ARGV_MAX; i++)
		v->words[v->n_words++] = argv[i];
	if (cmd == &run_cmd && argi >= argc)
		bad = "missing CMD to run";
	else if (cmd == &sidecar_cmd && !v->o.sup.target_process && !v->o.sup.pid_file)
		bad = "give --target-process NAME or --pid-file PATH";
	else
		bad = opts_check(&v->o);
	if (bad)
		snprintf(v->err, sizeof(v->err), "%s", bad);
}

static void read_ctr(struct ctr *k, const cJSON *c, const char *list, size_t i, const char *prefix,
		     bool init)
{
	const cJSON *cmd = get(c, "command"), *args = get(c, "args");
	const cJSON *hook = get(get(get(c, "lifecycle"), "preStop"), "exec");
	const char *hv[DOCTOR_ARGV_MAX];
	int hn = 0;
	char path[160];

	memset(k, 0, sizeof(*k));
	k->c = c;
	k->name = str(c, "name");
	k->image = str(c, "image");
	k->init = init;
	k->native = init && str(c, "restartPolicy") &&
		    strcmp(str(c, "restartPolicy"), "Always") == 0;
	snprintf(k->path, sizeof(k->path), "%s.%s[%zu]", prefix, list, i);
	take_words(cmd, k->argv, &k->argc);
	take_words(args, k->argv, &k->argc);
	k->argv_at = cJSON_IsArray(cmd) ? cmd : args;
	snprintf(k->argv_path, sizeof(k->argv_path), "%s.%s", k->path,
		 cJSON_IsArray(cmd) ? "command" : "args");
	/* The lastcall image's entrypoint is lastcall: args are its words. */
	read_inv(&k->main, k, k->argv, k->argc, !cJSON_IsArray(cmd) && is_lastcall_image(k->image),
		 k->argv_at, k->argv_path);
	take_words(get(hook, "command"), hv, &hn);
	snprintf(path, sizeof(path), "%s.lifecycle.preStop.exec.command", k->path);
	read_inv(&k->hook, k, hv, hn, false, get(hook, "command"), path);
}

/* The pod spec of a workload object, or false when it has none. */
static bool read_pod(struct pod *p, const struct kobj *o, size_t index)
{
	const char *kind = str(o->obj, "kind");
	const cJSON *tmpl = NULL, *spec, *c;
	size_t i;

	/* Not the containers (1.5 MB): read_ctr clears each one it fills, and
	 * only the first n are read. */
	memset(p, 0, offsetof(struct pod, c));
	p->n = 0;
	p->object = index;
	p->obj = o->obj;
	p->ns = str(get(o->obj, "metadata"), "namespace");
	if (strcmp(kind, "Pod") == 0) {
		p->spec = get(o->obj, "spec");
		p->labels = get(get(o->obj, "metadata"), "labels");
		snprintf(p->prefix, sizeof(p->prefix), "spec");
	} else if (strcmp(kind, "CronJob") == 0) {
		tmpl = get(get(get(get(o->obj, "spec"), "jobTemplate"), "spec"), "template");
		snprintf(p->prefix, sizeof(p->prefix), "spec.jobTemplate.spec.template.spec");
		p->job = true;
	} else if (strcmp(kind, "Deployment") == 0 || strcmp(kind, "StatefulSet") == 0 ||
		   strcmp(kind, "DaemonSet") == 0 || strcmp(kind, "ReplicaSet") == 0 ||
		   strcmp(kind, "ReplicationController") == 0 || strcmp(kind, "Job") == 0) {
		tmpl = get(get(o->obj, "spec"), "template");
		snprintf(p->prefix, sizeof(p->prefix), "spec.template.spec");
		p->job = strcmp(kind, "Job") == 0;
	} else {
		return false;
	}
	if (tmpl) {
		p->spec = get(tmpl, "spec");
		p->labels = get(get(tmpl, "metadata"), "labels");
	}
	spec = p->spec;
	if (!cJSON_IsObject(spec))
		return false;
	p->grace_s = num(spec, "terminationGracePeriodSeconds", GRACE_DEFAULT_S);
	i = 0;
	cJSON_ArrayForEach(c, get(spec, "initContainers"))
	{
		if (p->n < DOCTOR_CONTAINERS_MAX && cJSON_IsObject(c))
			read_ctr(&p->c[p->n++], c, "initContainers", i, p->prefix, true);
		i++;
	}
	i = 0;
	cJSON_ArrayForEach(c, get(spec, "containers"))
	{
		if (p->n < DOCTOR_CONTAINERS_MAX && cJSON_IsObject(c))
			read_ctr(&p->c[p->n++], c, "containers", i, p->prefix, false);
		i++;
	}
	return true;
}

/* Containers that run beside the app: regular ones and native sidecars. */
static bool runs(const struct ctr *k)
{
	return !k->init || k->native;
}

/* The invocation that drains in this container: its main or its hook. */
static const struct inv *drainer(const struct ctr *k)
{
	if (k->main.parsed && !k->main.err[0] &&
	    (strcmp(k->main.sub, "run") == 0 || strcmp(k->main.sub, "sidecar") == 0))
		return &k->main;
	return NULL;
}

static bool pod_has_drainer(const struct pod *p)
{
	for (size_t i = 0; i < p->n; i++) {
		if (runs(&p->c[i]) && drainer(&p->c[i]))
			return true;
	}
	return false;
}

/* ---- Services and RBAC ---- */

/* Whether Service svc selects the pod (its selector, all of it, in the
 * pod's labels; a namespace left out matches any). */
static bool selects(const cJSON *svc, const struct pod *p)
{
	const cJSON *sel = get(get(svc, "spec"), "selector"), *kv;
	const char *ns = str(get(svc, "metadata"), "namespace");

	if (!cJSON_IsObject(sel) || !sel->child)
		return false;
	if (ns && p->ns && strcmp(ns, p->ns) != 0)
		return false;
	cJSON_ArrayForEach(kv, sel)
	{
		const char *want = cJSON_IsString(kv) ? kv->valuestring : NULL;
		const char *have = str(p->labels, kv->string);

		if (!want || !have || strcmp(want, have) != 0)
			return false;
	}
	return true;
}

/* Whether container k serves port target (a number or a port name). */
static bool serves(const struct ctr *k, const cJSON *target)
{
	const cJSON *port;

	cJSON_ArrayForEach(port, get(k->c, "ports"))
	{
		if (cJSON_IsNumber(target) && num(port, "containerPort", -1) == target->valueint)
			return true;
		if (cJSON_IsString(target) && str(port, "name") &&
		    strcmp(str(port, "name"), target->valuestring) == 0)
			return true;
	}
	return false;
}

/* Whether a Service of the input sends traffic to container k. */
static bool behind_service(const struct kobj_set *s, const struct pod *p, const struct ctr *k)
{
	for (size_t i = 0; i < kobj_count(s); i++) {
		const cJSON *svc = kobj_at(s, i)->obj, *sp;

		if (strcmp(str(svc, "kind"), "Service") != 0 || !selects(svc, p))
			continue;
		cJSON_ArrayForEach(sp, get(get(svc, "spec"), "ports"))
		{
			const cJSON *t = get(sp, "targetPort");

			if (!t)
				t = get(sp, "port");
			if (serves(k, t))
				return true;
		}
	}
	return false;
}

static bool list_has(const cJSON *arr, const char *v)
{
	const cJSON *it;

	cJSON_ArrayForEach(it, arr)
	{
		if (cJSON_IsString(it) &&
		    (strcmp(it->valuestring, v) == 0 || strcmp(it->valuestring, "*") == 0))
			return true;
	}
	return false;
}

static bool kind_is(const cJSON *o, const char *kind)
{
	const char *k = str(o, "kind");

	return k && strcmp(k, kind) == 0;
}

/* Whether a Role or ClusterRole of the input named by ref grants verb on
 * resource (of the core group). */
static bool role_grants(const struct kobj_set *s, const cJSON *ref, const char *group,
			const char *res, const char *verb)
{
	const char *kind = str(ref, "kind"), *name = str(ref, "name");

	if (!kind || !name)
		return false;
	for (size_t i = 0; i < kobj_count(s); i++) {
		const cJSON *role = kobj_at(s, i)->obj, *rule;

		if (!kind_is(role, kind) || !str(get(role, "metadata"), "name") ||
		    strcmp(str(get(role, "metadata"), "name"), name) != 0)
			continue;
		cJSON_ArrayForEach(rule, get(role, "rules"))
		{
			if (list_has(get(rule, "apiGroups"), group) &&
			    list_has(get(rule, "resources"), res) &&
			    list_has(get(rule, "verbs"), verb))
				return true;
		}
	}
	return false;
}

static bool sa_may(const struct kobj_set *s, const char *sa, const char *ns, const char *group,
		   const char *res, const char *verb)
{
	for (size_t i = 0; i < kobj_count(s); i++) {
		const cJSON *b = kobj_at(s, i)->obj, *sub;

		if (!kind_is(b, "RoleBinding") && !kind_is(b, "ClusterRoleBinding"))
			continue;
		cJSON_ArrayForEach(sub, get(b, "subjects"))
		{
			const char *sns = str(sub, "namespace");

			if (!str(sub, "kind") || strcmp(str(sub, "kind"), "ServiceAccount") != 0 ||
			    !str(sub, "name") || strcmp(str(sub, "name"), sa) != 0 ||
			    (sns && ns && strcmp(sns, ns) != 0))
				continue;
			if (role_grants(s, get(b, "roleRef"), group, res, verb))
				return true;
		}
	}
	return false;
}

/* ---- the rules ---- */

static bool is_shell(const char *w)
{
	static const char *const shells[] = { "sh", "bash", "ash", "dash", "zsh", NULL };
	const char *b = base_name(w);

	for (size_t i = 0; shells[i]; i++) {
		if (strcmp(b, shells[i]) == 0)
			return true;
	}
	return false;
}

static bool is_package_manager(const char *w)
{
	const char *b = base_name(w);

	return strcmp(b, "npm") == 0 || strcmp(b, "yarn") == 0 || strcmp(b, "pnpm") == 0;
}

static bool is_init(const char *w)
{
	static const char *const inits[] = { "lastcall",  "tini",      "tini-static", "dumb-init",
					     "catatonit", "s6-svscan", "init",	      NULL };
	const char *b = base_name(w);

	for (size_t i = 0; inits[i]; i++) {
		if (strcmp(b, inits[i]) == 0)
			return true;
	}
	return false;
}

/* The script of `sh -c SCRIPT` (-c possibly with other flags), or NULL. */
static const char *shell_script(const char *const *argv, int argc)
{
	if (argc < 3 || !is_shell(argv[0]) || argv[1][0] != '-' || !strchr(argv[1], 'c'))
		return NULL;
	return argv[2];
}

/* Whether a script runs a package manager as one of its commands. */
static bool script_runs_pm(const char *script)
{
	const char *p = script;

	while (*p) {
		size_t n;

		p += strspn(p, " \t\n;&|()");
		n = strcspn(p, " \t\n;&|()");
		if ((n == 3 && (strncmp(p, "npm", 3) == 0 || strncmp(p, "npx", 3) == 0)) ||
		    (n == 4 && (strncmp(p, "yarn", 4) == 0 || strncmp(p, "pnpm", 4) == 0)))
			return true;
		p += n;
	}
	return false;
}

static void rule_pid1(struct ctx *x, const struct pod *p, const struct ctr *k)
{
	const char *script;
	struct doctor_finding *f;

	if (k->argc == 0 || is_init(k->argv[0]) || (k->init && !k->native))
		return;
	script = shell_script(k->argv, k->argc);
	if (is_package_manager(k->argv[0]) || (script && script_runs_pm(script))) {
		f = finding(x, "pid1-package-manager", -1, p, k->argv_at, k->argv_path);
		SAY(f, why,
		    "%s runs the app under a shell as PID 1 and does not pass SIGTERM on: the app never shuts down gracefully and is SIGKILLed when the grace period ends",
		    script ? "the script's package manager" : base_name(k->argv[0]));
		SAY(f, fix,
		    "run the app itself (command: [node, server.js]) or put an init in front: command: [/lastcall, run, --], args: [%s, ...]",
		    script ? "npm" : base_name(k->argv[0]));
		return;
	}
	/* bash, and dash from 0.5.11, exec a lone command themselves; with
	 * more than one the shell stays PID 1, where SIGTERM without a
	 * handler does nothing. */
	if (script && strncmp(script, "exec ", 5) != 0 && !strstr(script, "trap ") &&
	    !strstr(script, "exec ") && strpbrk(script, ";&|\n")) {
		f = finding(x, "pid1-shell", -1, p, k->argv_at, k->argv_path);
		SAY(f, why,
		    "%s -c with more than one command stays PID 1: it ignores SIGTERM and the app is SIGKILLed when the grace period ends",
		    base_name(k->argv[0]));
		SAY(f, fix,
		    "start the app's command with exec (\"... && exec node server.js\"), or put lastcall run -- in front");
	}
}

/* A preStop hook's fixed sleep in seconds, or -1: the sleep action, an
 * exec of sleep, sh -c "sleep N", or lastcall sleep. */
static int64_t prestop_sleep_s(const struct ctr *k, bool *ret_exec)
{
	const cJSON *pre = get(get(k->c, "lifecycle"), "preStop");
	const char *argv[DOCTOR_ARGV_MAX];
	const char *script;
	int argc = 0;
	int64_t ms;

	*ret_exec = false;
	if (get(pre, "sleep"))
		return num(get(pre, "sleep"), "seconds", -1);
	take_words(get(get(pre, "exec"), "command"), argv, &argc);
	if (argc == 0)
		return -1;
	*ret_exec = true;
	script = shell_script(argv, argc);
	if (script) {
		script += strspn(script, " \t");
		if (strncmp(script, "sleep ", 6) != 0)
			return -1;
		return strtoll(script + 6, NULL, 10);
	}
	if (argc >= 2 && (strcmp(base_name(argv[0]), "sleep") == 0 ||
			  (strcmp(base_name(argv[0]), "lastcall") == 0 &&
			   strcmp(argv[1], "sleep") == 0 && argc >= 3))) {
		const char *d = strcmp(base_name(argv[0]), "sleep") == 0 ? argv[1] : argv[2];
		if (cfg_parse_duration(d, &ms) == 0)
			return ms / 1000;
	}
	return -1;
}

static bool image_shell_less(const char *image)
{
	return image && (strstr(image, "distroless") || strstr(image, "chainguard") ||
			 strstr(image, "cgr.dev/") || image_is(image, "scratch"));
}

static void rule_prestop(struct ctx *x, const struct pod *p, const struct ctr *k)
{
	const cJSON *pre = get(get(k->c, "lifecycle"), "preStop");
	const char *argv[DOCTOR_ARGV_MAX];
	char path[192];
	int argc = 0;
	bool exec;
	int64_t sleep_s = prestop_sleep_s(k, &exec);
	int64_t shutdown_s = SHUTDOWN_GUESS_S;
	struct doctor_finding *f;

	snprintf(path, sizeof(path), "%s.lifecycle.preStop", k->path);
	take_words(get(get(pre, "exec"), "command"), argv, &argc);
	if (argc > 0 && image_shell_less(k->image) &&
	    (strcmp(base_name(argv[0]), "sleep") == 0 || is_shell(argv[0]))) {
		f = finding(x, "prestop-exec-missing-binary", -1, p, pre, path);
		SAY(f, why,
		    "%s is a distroless or scratch-style image without %s: the hook fails at once and no delay happens",
		    k->image, base_name(argv[0]));
		SAY(f, fix,
		    "use the kubelet's sleep action (preStop: {sleep: {seconds: N}}, Kubernetes 1.30+) or a binary the image has: /lastcall sleep 5s, or /lastcall prestop");
		return;
	}
	if (sleep_s < 0)
		return;
	if (drainer(k))
		shutdown_s = drainer(k)->o.sup.budget.stop_timeout_ms / 1000;
	if (sleep_s >= p->grace_s || sleep_s + shutdown_s > p->grace_s) {
		bool over = sleep_s >= p->grace_s;

		f = finding(x, "prestop-sleep-exceeds-grace", over ? DOCTOR_ERROR : DOCTOR_WARNING,
			    p, pre, path);
		if (over)
			SAY(f, why,
			    "the preStop sleep (%llds) uses the whole grace period (%llds): the app gets SIGTERM only 2 s before SIGKILL",
			    (long long)sleep_s, (long long)p->grace_s);
		else
			SAY(f, why,
			    "the preStop sleep (%llds) leaves %llds of the grace period (%llds) for the app's own shutdown (about %llds)",
			    (long long)sleep_s, (long long)(p->grace_s - sleep_s),
			    (long long)p->grace_s, (long long)shutdown_s);
		SAY(f, fix,
		    "raise terminationGracePeriodSeconds to at least %lld, or shorten the sleep; lastcall run waits for the traffic to stop instead of a fixed sleep",
		    (long long)(sleep_s + shutdown_s));
	}
	(void)exec;
}

/* The path and port of an httpGet probe or hook, or NULL. */
static const char *http_path(const cJSON *probe)
{
	return str(get(probe, "httpGet"), "path");
}

static bool same_port(const cJSON *a, const cJSON *b)
{
	if (cJSON_IsNumber(a) && cJSON_IsNumber(b))
		return a->valueint == b->valueint;
	if (cJSON_IsString(a) && cJSON_IsString(b))
		return strcmp(a->valuestring, b->valuestring) == 0;
	return false;
}

/* Whether an exec probe runs `lastcall probe ready`. */
static bool exec_probe_ready(const cJSON *probe)
{
	const char *argv[DOCTOR_ARGV_MAX];
	int argc = 0;

	take_words(get(get(probe, "exec"), "command"), argv, &argc);
	if (argc < 3 || strcmp(base_name(argv[0]), "lastcall") != 0 ||
	    strcmp(argv[1], "probe") != 0)
		return false;
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "ready") == 0)
			return true;
	}
	return false;
}

static void rule_probes(struct ctx *x, const struct pod *p, const struct ctr *k)
{
	const cJSON *ready = get(k->c, "readinessProbe"), *live = get(k->c, "livenessProbe");
	const char *lp = http_path(live), *rp = http_path(ready);
	bool served = runs(k) && behind_service(x->s, p, k);
	struct doctor_finding *f;
	char path[192];

	if (live &&
	    ((lp && rp && strcmp(lp, rp) == 0 &&
	      same_port(get(get(live, "httpGet"), "port"), get(get(ready, "httpGet"), "port"))) ||
	     (lp && strcmp(lp, "/readyz") == 0) || exec_probe_ready(live))) {
		snprintf(path, sizeof(path), "%s.livenessProbe", k->path);
		f = finding(x, "liveness-on-readiness", -1, p, live, path);
		SAY(f, why,
		    "the liveness probe checks readiness, which fails from the start of the drain: the kubelet restarts the container mid-drain");
		SAY(f, fix,
		    "probe liveness on an endpoint that stays up while draining: lastcall's /livez (or lastcall probe live)");
	}
	if (served && !ready) {
		snprintf(path, sizeof(path), "%s", k->path);
		f = finding(x, "readiness-missing", -1, p, k->c, path);
		SAY(f, why,
		    "a Service sends traffic to %s, which has no readinessProbe: it gets requests before it can answer them, and nothing tells balancers that probe it when it drains",
		    k->name ? k->name : "this container");
		SAY(f, fix,
		    "add a readinessProbe; with lastcall: httpGet {path: /readyz, port: 9797}, periodSeconds: 2, failureThreshold: 1");
	}
	if (ready && (exec_probe_ready(ready) || (rp && strcmp(rp, "/readyz") == 0))) {
		/* Readiness from lastcall: it must notice within the
		 * propagation wait of the lastcall that drains. */
		int64_t period = num(ready, "periodSeconds", PROBE_PERIOD_DEFAULT_S);
		int64_t failures = num(ready, "failureThreshold", PROBE_FAILURES_DEFAULT);

		for (size_t i = 0; i < p->n; i++) {
			const struct inv *d = runs(&p->c[i]) ? drainer(&p->c[i]) : NULL;
			int64_t wait_ms;

			if (!d)
				continue;
			wait_ms = d->o.sup.budget.max_delay_ms;
			if (period * failures * 1000 > wait_ms) {
				snprintf(path, sizeof(path), "%s.readinessProbe", k->path);
				f = finding(x, "readiness-too-slow", -1, p, ready, path);
				SAY(f, why,
				    "the probe sees lastcall's /readyz turn 503 only after up to %llds (periodSeconds %lld x failureThreshold %lld), past lastcall's propagation wait (--max-delay %llds)",
				    (long long)(period * failures), (long long)period,
				    (long long)failures, (long long)(wait_ms / 1000));
				SAY(f, fix,
				    "periodSeconds: 2 and failureThreshold: 1, or a longer --max-delay");
			}
			break;
		}
	}
	if (served && !get(get(k->c, "lifecycle"), "preStop") && !pod_has_drainer(p)) {
		snprintf(path, sizeof(path), "%s.lifecycle", k->path);
		f = finding(x, "drain-missing", -1, p, k->c, path);
		SAY(f, why,
		    "%s stops at SIGTERM while load balancers still send it requests for a few seconds (longer for cloud balancers): requests fail at every rollout",
		    k->name ? k->name : "the container");
		SAY(f, fix,
		    "put lastcall run -- in front of the app, or a preStop hook (lastcall prestop, or sleep: {seconds: 5})");
	}
}

/* httpGet and tcpSocket ports of the probes and hooks, against the ports
 * the container names and the pod declares. */
static void check_port(struct ctx *x, const struct pod *p, const struct ctr *k, const cJSON *port,
		       const char *where)
{
	struct doctor_finding *f;
	char path[224];

	/* Neither a name nor a number (a mapping, a list, null): the API
	 * server refuses such a spec, and no rule here can read it. */
	if (!cJSON_IsString(port) && !cJSON_IsNumber(port))
		return;
	snprintf(path, sizeof(path), "%s.%s.port", k->path, where);
	if (cJSON_IsString(port) &&
	    strspn(port->valuestring, "0123456789") != strlen(port->valuestring)) {
		if (serves(k, port))
			return;
		f = finding(x, "httpget-port-unknown", -1, p, port, path);
		SAY(f, why,
		    "%s names port \"%s\", which %s does not declare: the kubelet cannot resolve it and the probe or hook fails",
		    where, port->valuestring, k->name ? k->name : "the container");
		SAY(f, fix,
		    "declare it under ports: [{name: %s, containerPort: N}], or give the number",
		    port->valuestring);
		return;
	}
	int64_t n = cJSON_IsNumber(port) ? port->valueint : strtoll(port->valuestring, NULL, 10);
	for (size_t i = 0; i < p->n; i++) {
		const cJSON *cp;

		cJSON_ArrayForEach(cp, get(p->c[i].c, "ports"))
		{
			if (num(cp, "containerPort", -1) == n)
				return;
		}
	}
	f = finding(x, "httpget-port-undeclared", -1, p, port, path);
	SAY(f, why,
	    "%s uses port %lld, which no container of the pod declares: a typo here fails the probe or hook, and nothing shows it",
	    where, (long long)n);
	SAY(f, fix,
	    "declare the port in the container that listens on it (ports: [{containerPort: %lld}])",
	    (long long)n);
}

static void rule_ports(struct ctx *x, const struct pod *p, const struct ctr *k)
{
	static const char *const probes[] = { "readinessProbe", "livenessProbe", "startupProbe" };
	static const char *const hooks[] = { "preStop", "postStart" };
	char where[64];

	for (size_t i = 0; i < 3; i++) {
		const cJSON *pr = get(k->c, probes[i]);
		snprintf(where, sizeof(where), "%s.httpGet", probes[i]);
		check_port(x, p, k, get(get(pr, "httpGet"), "port"), where);
		snprintf(where, sizeof(where), "%s.tcpSocket", probes[i]);
		check_port(x, p, k, get(get(pr, "tcpSocket"), "port"), where);
	}
	for (size_t i = 0; i < 2; i++) {
		const cJSON *h = get(get(k->c, "lifecycle"), hooks[i]);
		snprintf(where, sizeof(where), "lifecycle.%s.httpGet", hooks[i]);
		check_port(x, p, k, get(get(h, "httpGet"), "port"), where);
	}
}

/* The env entry of name and its path, or NULL. */
static const cJSON *env_entry(const struct ctr *k, const char *name, char *path, size_t size)
{
	const cJSON *e;
	int i = 0;

	cJSON_ArrayForEach(e, get(k->c, "env"))
	{
		if (str(e, "name") && strcmp(str(e, "name"), name) == 0) {
			snprintf(path, size, "%s.env[%d]", k->path, i);
			return e;
		}
		i++;
	}
	return NULL;
}

/* The rules on one lastcall invocation (run, sidecar or prestop). */
/* The container may use ptrace: CAP_SYS_PTRACE added, or privileged. */
static bool has_ptrace(const struct ctr *k)
{
	const cJSON *sc = get(k->c, "securityContext"), *cap;

	if (cJSON_IsTrue(get(sc, "privileged")))
		return true;
	cJSON_ArrayForEach(cap, get(get(sc, "capabilities"), "add"))
	{
		if (cJSON_IsString(cap) && (strcmp(cap->valuestring, "SYS_PTRACE") == 0 ||
					    strcmp(cap->valuestring, "CAP_SYS_PTRACE") == 0 ||
					    strcmp(cap->valuestring, "ALL") == 0))
			return true;
	}
	return false;
}

static void rule_lastcall(struct ctx *x, const struct pod *p, const struct ctr *k,
			  const struct inv *v)
{
	const struct sup_opts *o = &v->o.sup;
	int64_t grace_ms = p->grace_s * 1000, flag_ms;
	const struct drain_budget *b = &o->budget;
	struct doctor_finding *f;

	if (!v->parsed)
		return;
	if (v->err[0]) {
		f = finding(x, "lastcall-invalid-flag", -1, p, v->at, v->path);
		SAY(f, why, "lastcall %s would exit 125 at start: %s", v->sub, v->err);
		SAY(f, fix, "fix the flag or its LASTCALL_* variable (lastcall %s --help)", v->sub);
		return;
	}
	/* "auto" is Kubernetes' 30 s, or with the API on, the pod's own. */
	flag_ms = b->grace_ms;
	if (flag_ms == OPTS_GRACE_AUTO)
		flag_ms = o->kube.pod_name ? grace_ms : GRACE_DEFAULT_S * 1000;
	if (flag_ms != grace_ms) {
		bool longer = flag_ms > grace_ms;

		f = finding(x, "grace-mismatch", longer ? DOCTOR_ERROR : DOCTOR_WARNING, p, v->at,
			    v->path);
		SAY(f, why,
		    "lastcall %s plans for %llds but terminationGracePeriodSeconds is %llds: %s",
		    v->sub, (long long)(flag_ms / 1000), (long long)p->grace_s,
		    longer ? "the kubelet's SIGKILL comes before lastcall's deadline"
			   : "lastcall kills the app before it has to");
		SAY(f, fix,
		    "set --grace-period (LASTCALL_GRACE_PERIOD) to %llds, or give --pod-name from the downward API so lastcall reads the pod's",
		    (long long)p->grace_s);
	}
	if (b->kill_margin_ms + b->stop_timeout_ms + b->min_delay_ms > flag_ms) {
		f = finding(x, "delays-exceed-grace", -1, p, v->at, v->path);
		SAY(f, why,
		    "--kill-margin + --stop-timeout + --min-delay (%lld ms) do not fit in the grace period (%lld ms): lastcall shrinks them at start",
		    (long long)(b->kill_margin_ms + b->stop_timeout_ms + b->min_delay_ms),
		    (long long)flag_ms);
		SAY(f, fix,
		    "raise terminationGracePeriodSeconds (and --grace-period) or lower the delays");
	} else if (b->max_delay_ms > flag_ms - b->kill_margin_ms - b->stop_timeout_ms) {
		f = finding(x, "max-delay-exceeds-grace", -1, p, v->at, v->path);
		SAY(f, why,
		    "--max-delay (%lld ms) is longer than the grace period leaves after --kill-margin and --stop-timeout (%lld ms): the wait is cut short",
		    (long long)b->max_delay_ms,
		    (long long)(flag_ms - b->kill_margin_ms - b->stop_timeout_ms));
		SAY(f, fix, "lower --max-delay, or raise terminationGracePeriodSeconds");
	}
	if (strcmp(v->sub, "sidecar") == 0 &&
	    !cJSON_IsTrue(get(p->spec, "shareProcessNamespace"))) {
		f = finding(x, "sidecar-needs-shared-pid", -1, p, v->at, v->path);
		SAY(f, why,
		    "lastcall sidecar finds and signals the app's process, which it cannot see without a shared PID namespace");
		SAY(f, fix, "set shareProcessNamespace: true in the pod spec");
	}
	if (o->kube.gate) {
		const cJSON *g;
		bool found = false;

		cJSON_ArrayForEach(g, get(p->spec, "readinessGates"))
		{
			if (str(g, "conditionType") &&
			    strcmp(str(g, "conditionType"), o->kube.gate) == 0)
				found = true;
		}
		if (!found) {
			f = finding(x, "gate-not-declared", -1, p, v->at, v->path);
			SAY(f, why,
			    "--readiness-gate %s is not in spec.readinessGates: the condition lastcall sets does not make the pod unready",
			    o->kube.gate);
			SAY(f, fix, "add readinessGates: [{conditionType: %s}] to the pod spec",
			    o->kube.gate);
		}
	}
	if (o->kube.pod_name) {
		char epath[128];
		const cJSON *e = env_entry(k, "LASTCALL_POD_NAME", epath, sizeof(epath));
		const char *fp = str(get(get(e, "valueFrom"), "fieldRef"), "fieldPath");
		const char *name = str(get(p->obj, "metadata"), "name");
		bool literal_ok = kind_is(p->obj, "Pod") && name &&
				  strcmp(o->kube.pod_name, name) == 0;

		if (!(fp && strcmp(fp, "metadata.name") == 0 &&
		      strcmp(o->kube.pod_name, "downward-api") == 0) &&
		    !literal_ok) {
			f = finding(x, "api-pod-name", -1, p, e ? e : v->at, e ? epath : v->path);
			SAY(f, why,
			    "the pod's name is given as \"%s\": the API calls go to another pod, or to none",
			    strcmp(o->kube.pod_name, "downward-api") == 0 ? fp : o->kube.pod_name);
			SAY(f, fix,
			    "env: [{name: LASTCALL_POD_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}]");
		}
	}
	if (o->kube.pod_name) {
		const char *sa = str(p->spec, "serviceAccountName");
		const char *need[3][2] = { { "pods", "get" },
					   { "pods/status", o->kube.gate ? "patch" : NULL },
					   { "events", o->kube.events ? "create" : NULL } };
		char missing[160] = "";

		for (size_t i = 0; i < 3; i++) {
			size_t n = strlen(missing);

			if (need[i][1] &&
			    (!sa || !sa_may(x->s, sa, p->ns, "", need[i][0], need[i][1])))
				snprintf(missing + n, sizeof(missing) - n, "%s%s %s", n ? ", " : "",
					 need[i][1], need[i][0]);
		}
		if (missing[0]) {
			f = finding(x, "api-rbac", -1, p, v->at, v->path);
			SAY(f, why,
			    "%s%s may not %s (no Role in the input grants it): those API calls fail with 403",
			    sa ? "service account "
			       : "the pod has no serviceAccountName: the default account",
			    sa ? sa : "", missing);
			SAY(f, fix,
			    "a ServiceAccount, a Role granting %s, and a RoleBinding (see deploy/readiness-gate/rbac.yaml)",
			    missing);
		}
	}
	if (o->kube.pod_name) {
		const char *sa = str(p->spec, "serviceAccountName");

		if (!sa || !sa_may(x->s, sa, p->ns, "discovery.k8s.io", "endpointslices", "list")) {
			f = finding(x, "api-rbac-slices", -1, p, v->at, v->path);
			SAY(f, why,
			    "%s%s may not list endpointslices (discovery.k8s.io): lastcall cannot see the endpoint's removal, so keep-alive clients pinned to the pod hold the drain until --max-delay",
			    sa ? "service account " : "the default service account", sa ? sa : "");
			SAY(f, fix,
			    "grant list and get on endpointslices in the discovery.k8s.io group (see deploy/readiness-gate/rbac.yaml)");
		}
	}
	if (o->close_idle && !has_ptrace(k)) {
		f = finding(x, "close-idle-no-ptrace", -1, p, v->at, v->path);
		SAY(f, why,
		    "--close-idle copies the app's sockets with pidfd_getfd, which the RuntimeDefault seccomp profile allows only with CAP_SYS_PTRACE: lastcall would say so and go on without it");
		SAY(f, fix,
		    "securityContext.capabilities.add: [SYS_PTRACE] on this container (a Pod Security level of privileged), or make the app answer Connection: close once stopping");
	}
	if (strcmp(v->sub, "run") == 0 && p->job && status_map_apply(&o->exit_map, 143) == 143) {
		f = finding(x, "job-exit-143", -1, p, v->at, v->path);
		SAY(f, why,
		    "when the Job's pod is stopped (deletion, eviction, activeDeadlineSeconds) the app's 143 after SIGTERM counts as a failure of the Job");
		SAY(f, fix,
		    "--exit-code-map 143:0 (LASTCALL_EXIT_CODE_MAP), or a podFailurePolicy");
	}
}

/* The --listen port of a lastcall that serves probes, or 0. */
static long listen_port(const struct inv *v)
{
	const char *l = v->o.sup.listen, *colon;

	if (!l)
		return 0;
	colon = strrchr(l, ':');
	return colon ? strtol(colon + 1, NULL, 10) : 0;
}

static void rule_listen(struct ctx *x, const struct pod *p)
{
	for (size_t i = 0; i < p->n; i++) {
		const struct inv *a = runs(&p->c[i]) ? drainer(&p->c[i]) : NULL;

		for (size_t j = 0; a && j < i; j++) {
			const struct inv *b = runs(&p->c[j]) ? drainer(&p->c[j]) : NULL;
			struct doctor_finding *f;

			if (!b || !listen_port(a) || listen_port(a) != listen_port(b))
				continue;
			f = finding(x, "listen-port-conflict", -1, p, a->at, a->path);
			SAY(f, why,
			    "%s and %s both run lastcall on port %ld: containers share the pod's network, the second refuses to start",
			    p->c[j].name ? p->c[j].name : "one",
			    p->c[i].name ? p->c[i].name : "another", listen_port(a));
			SAY(f, fix, "give one --listen :9798 (LASTCALL_LISTEN), or --listen none");
			break;
		}
	}
}

/* Whether container k runs nginx: by its image or its command. */
static bool runs_nginx(const struct ctr *k, const struct inv *run)
{
	char repo[128];

	if (run && run->n_words > 0)
		return strncmp(base_name(run->words[0]), "nginx", 5) == 0;
	image_repo(k->image, repo, sizeof(repo));
	return strncmp(repo, "nginx", 5) == 0;
}

static void rule_nginx(struct ctx *x, const struct pod *p, const struct ctr *k)
{
	const char *stop = str(get(k->c, "lifecycle"), "stopSignal");
	const struct inv *d = drainer(k);
	struct doctor_finding *f;
	char path[192];

	if (stop && !str(get(p->spec, "os"), "name")) {
		snprintf(path, sizeof(path), "%s.lifecycle.stopSignal", k->path);
		f = finding(x, "stop-signal-needs-os", -1, p,
			    get(get(k->c, "lifecycle"), "stopSignal"), path);
		SAY(f, why,
		    "the API server refuses lifecycle.stopSignal unless the pod says its OS");
		SAY(f, fix, "set spec.os.name: linux");
	}
	if (d && strcmp(d->sub, "run") == 0 && runs_nginx(k, d) &&
	    sig_rewrite_apply(&d->o.sup.rewrite, d->o.sup.stop_signal) == SIGTERM) {
		f = finding(x, "nginx-sigterm", -1, p, d->at, d->path);
		SAY(f, why,
		    "lastcall stops nginx with SIGTERM, nginx's fast shutdown: it closes the connections it has, requests in flight included");
		SAY(f, fix, "--stop-signal QUIT (LASTCALL_STOP_SIGNAL): nginx's graceful stop");
	} else if (!d && runs_nginx(k, NULL) && stop && strcmp(stop, "SIGTERM") == 0) {
		snprintf(path, sizeof(path), "%s.lifecycle.stopSignal", k->path);
		f = finding(x, "nginx-sigterm", -1, p, get(get(k->c, "lifecycle"), "stopSignal"),
			    path);
		SAY(f, why,
		    "nginx stopped with SIGTERM does its fast shutdown: it closes the connections it has, requests in flight included");
		SAY(f, fix,
		    "lifecycle.stopSignal: SIGQUIT (or leave the image's STOPSIGNAL, SIGQUIT)");
	}
	if (k->hook.parsed && !k->hook.err[0] && strcmp(k->hook.sub, "prestop") == 0 &&
	    k->hook.o.sup.stop_signal == SIGTERM && runs_nginx(k, NULL)) {
		f = finding(x, "nginx-sigterm", -1, p, k->hook.at, k->hook.path);
		SAY(f, why,
		    "the hook stops nginx with SIGTERM, its fast shutdown: it closes the connections it has");
		SAY(f, fix, "--signal QUIT");
	}
}

static bool is_proxy(const struct ctr *k)
{
	static const char *const names[] = {
		"istio-proxy", "envoy", "linkerd-proxy", "cloud-sql-proxy", "cloudsql-proxy",
		"proxyv2",     NULL
	};
	char repo[128];

	image_repo(k->image, repo, sizeof(repo));
	for (size_t i = 0; names[i]; i++) {
		if (strcmp(repo, names[i]) == 0 || (k->name && strcmp(k->name, names[i]) == 0))
			return true;
	}
	return k->main.present && k->main.sub && strcmp(k->main.sub, "sidecar") == 0;
}

static void rule_job(struct ctx *x, const struct pod *p)
{
	size_t regular = 0;

	if (!p->job)
		return;
	for (size_t i = 0; i < p->n; i++)
		regular += !p->c[i].init;
	for (size_t i = 0; i < p->n && regular > 1; i++) {
		const struct ctr *k = &p->c[i];
		struct doctor_finding *f;

		if (k->init || !is_proxy(k))
			continue;
		f = finding(x, "job-sidecar-not-native", -1, p, k->c, k->path);
		SAY(f, why,
		    "%s keeps running after the Job's work is done: the pod never completes, nor does the Job",
		    k->name ? k->name : "this sidecar");
		SAY(f, fix,
		    "make it a native sidecar: move it to initContainers with restartPolicy: Always (Kubernetes 1.29+)");
	}
}

void doctor_check(const struct kobj_set *s, struct doctor_finding *out, size_t max, size_t *ret_n,
		  size_t *ret_dropped)
{
	struct ctx x = { .s = s, .out = out, .max = max };
	struct pod *p = calloc(1, sizeof(*p));

	for (size_t i = 0; p && i < kobj_count(s); i++) {
		if (!read_pod(p, kobj_at(s, i), i))
			continue;
		for (size_t j = 0; j < p->n; j++) {
			const struct ctr *k = &p->c[j];

			rule_pid1(&x, p, k);
			rule_prestop(&x, p, k);
			rule_probes(&x, p, k);
			rule_ports(&x, p, k);
			rule_lastcall(&x, p, k, &k->main);
			rule_lastcall(&x, p, k, &k->hook);
			rule_nginx(&x, p, k);
		}
		rule_listen(&x, p);
		rule_job(&x, p);
	}
	free(p);
	*ret_n = x.n;
	*ret_dropped = x.dropped;
}

/* ---- output ---- */

void doctor_object_name(const struct kobj_set *s, size_t i, char *buf, size_t size)
{
	const cJSON *o = kobj_at(s, i)->obj, *m = get(o, "metadata");
	const char *ns = str(m, "namespace"), *name = str(m, "name");

	snprintf(buf, size, "%s%s%s/%s", ns ? ns : "", ns ? "/" : "", str(o, "kind"),
		 name ? name : "(no name)");
}

static int line_of(const struct doctor_out *o, const struct doctor_finding *f)
{
	int l = kobj_line(o->set, f->at);

	return l ? l : kobj_at(o->set, f->object)->line;
}

static const char *file_of(const struct doctor_out *o, const struct doctor_finding *f)
{
	return o->files[kobj_at(o->set, f->object)->file];
}

void doctor_write_text(FILE *out, const struct doctor_out *o)
{
	size_t by[DOCTOR_NONE] = { 0 };
	char name[320];

	for (size_t i = 0; i < o->n; i++) {
		const struct doctor_finding *f = &o->v[i];

		by[f->severity]++;
		doctor_object_name(o->set, f->object, name, sizeof(name));
		fprintf(out, "%s:%d: %s %s: %s %s\n    why: %s\n    fix: %s\n", file_of(o, f),
			line_of(o, f), doctor_severity_name(f->severity), f->rule->id, name,
			f->path, f->why, f->fix);
	}
	fprintf(out, "%zu object%s checked: %zu error%s, %zu warning%s, %zu info\n",
		kobj_count(o->set), kobj_count(o->set) == 1 ? "" : "s", by[DOCTOR_ERROR],
		by[DOCTOR_ERROR] == 1 ? "" : "s", by[DOCTOR_WARNING],
		by[DOCTOR_WARNING] == 1 ? "" : "s", by[DOCTOR_INFO]);
}

static int print_json(FILE *out, cJSON *root)
{
	char *text = root ? cJSON_Print(root) : NULL;

	cJSON_Delete(root);
	if (!text)
		return -ENOMEM;
	fprintf(out, "%s\n", text);
	free(text);
	return 0;
}

int doctor_write_json(FILE *out, const struct doctor_out *o)
{
	cJSON *root = cJSON_CreateObject(), *arr, *sum;
	size_t by[DOCTOR_NONE] = { 0 };
	char name[320];

	if (!root || !(arr = cJSON_AddArrayToObject(root, "findings")))
		goto fail;
	for (size_t i = 0; i < o->n; i++) {
		const struct doctor_finding *f = &o->v[i];
		const cJSON *obj = kobj_at(o->set, f->object)->obj;
		cJSON *j = cJSON_CreateObject();

		if (!j)
			goto fail;
		cJSON_AddItemToArray(arr, j);
		by[f->severity]++;
		doctor_object_name(o->set, f->object, name, sizeof(name));
		if (!cJSON_AddStringToObject(j, "rule", f->rule->id) ||
		    !cJSON_AddStringToObject(j, "severity", doctor_severity_name(f->severity)) ||
		    !cJSON_AddStringToObject(j, "file", file_of(o, f)) ||
		    !cJSON_AddNumberToObject(j, "line", line_of(o, f)) ||
		    !cJSON_AddStringToObject(j, "object", name) ||
		    !cJSON_AddStringToObject(j, "kind", str(obj, "kind")) ||
		    !cJSON_AddStringToObject(j, "path", f->path) ||
		    !cJSON_AddStringToObject(j, "why", f->why) ||
		    !cJSON_AddStringToObject(j, "fix", f->fix))
			goto fail;
	}
	if (!(sum = cJSON_AddObjectToObject(root, "summary")) ||
	    !cJSON_AddNumberToObject(sum, "objects", (double)kobj_count(o->set)) ||
	    !cJSON_AddNumberToObject(sum, "errors", (double)by[DOCTOR_ERROR]) ||
	    !cJSON_AddNumberToObject(sum, "warnings", (double)by[DOCTOR_WARNING]) ||
	    !cJSON_AddNumberToObject(sum, "info", (double)by[DOCTOR_INFO]))
		goto fail;
	return print_json(out, root);
fail:
	cJSON_Delete(root);
	return -ENOMEM;
}

static const char *sarif_level(enum doctor_severity s)
{
	return s == DOCTOR_ERROR ? "error" : s == DOCTOR_WARNING ? "warning" : "note";
}

/* SARIF 2.1.0 (OASIS): what code-scanning tools read. */
int doctor_write_sarif(FILE *out, const struct doctor_out *o)
{
	cJSON *root = cJSON_CreateObject(), *runs, *run, *driver, *rules, *results;
	char text[1100], name[640];

	if (!root ||
	    !cJSON_AddStringToObject(root, "$schema",
				     "https://json.schemastore.org/sarif-2.1.0.json") ||
	    !cJSON_AddStringToObject(root, "version", "2.1.0") ||
	    !(runs = cJSON_AddArrayToObject(root, "runs")) || !(run = cJSON_CreateObject()))
		goto fail;
	cJSON_AddItemToArray(runs, run);
	if (!(driver = cJSON_AddObjectToObject(cJSON_AddObjectToObject(run, "tool"), "driver")) ||
	    !cJSON_AddStringToObject(driver, "name", "lastcall") ||
	    !cJSON_AddStringToObject(driver, "version", o->version) ||
	    !(rules = cJSON_AddArrayToObject(driver, "rules")))
		goto fail;
	for (size_t i = 0; i < doctor_n_rules; i++) {
		cJSON *r = cJSON_CreateObject();

		if (!r)
			goto fail;
		cJSON_AddItemToArray(rules, r);
		if (!cJSON_AddStringToObject(r, "id", doctor_rules[i].id) ||
		    !cJSON_AddStringToObject(cJSON_AddObjectToObject(r, "shortDescription"), "text",
					     doctor_rules[i].title) ||
		    !cJSON_AddStringToObject(cJSON_AddObjectToObject(r, "defaultConfiguration"),
					     "level", sarif_level(doctor_rules[i].severity)))
			goto fail;
	}
	if (!(results = cJSON_AddArrayToObject(run, "results")))
		goto fail;
	for (size_t i = 0; i < o->n; i++) {
		const struct doctor_finding *f = &o->v[i];
		cJSON *r = cJSON_CreateObject(), *locs, *loc, *phys, *logs, *lg;

		if (!r)
			goto fail;
		cJSON_AddItemToArray(results, r);
		snprintf(text, sizeof(text), "%s Fix: %s", f->why, f->fix);
		doctor_object_name(o->set, f->object, name, sizeof(name) / 2);
		snprintf(name + strlen(name), sizeof(name) - strlen(name), " %s", f->path);
		if (!cJSON_AddStringToObject(r, "ruleId", f->rule->id) ||
		    !cJSON_AddNumberToObject(r, "ruleIndex", (double)(f->rule - doctor_rules)) ||
		    !cJSON_AddStringToObject(r, "level", sarif_level(f->severity)) ||
		    !cJSON_AddStringToObject(cJSON_AddObjectToObject(r, "message"), "text", text) ||
		    !(locs = cJSON_AddArrayToObject(r, "locations")) ||
		    !(loc = cJSON_CreateObject()))
			goto fail;
		cJSON_AddItemToArray(locs, loc);
		if (!(phys = cJSON_AddObjectToObject(loc, "physicalLocation")) ||
		    !cJSON_AddStringToObject(cJSON_AddObjectToObject(phys, "artifactLocation"),
					     "uri",
					     strcmp(file_of(o, f), "-") == 0 ? "stdin"
									     : file_of(o, f)) ||
		    !cJSON_AddNumberToObject(cJSON_AddObjectToObject(phys, "region"), "startLine",
					     line_of(o, f)) ||
		    !(logs = cJSON_AddArrayToObject(loc, "logicalLocations")) ||
		    !(lg = cJSON_CreateObject()))
			goto fail;
		cJSON_AddItemToArray(logs, lg);
		if (!cJSON_AddStringToObject(lg, "fullyQualifiedName", name))
			goto fail;
	}
	return print_json(out, root);
fail:
	cJSON_Delete(root);
	return -ENOMEM;
}
