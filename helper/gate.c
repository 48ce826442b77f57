/* gate.c - see gate.h. */
#include "gate.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "fetch.h"
#include "kapi.h"
#include "loop.h"
#include "opts.h"

static const struct cfg_opt gate_opts_table[] = {
	OPTS_KUBE_POD("This pod's name (downward API metadata.name); required"),
	CLI_LOG_OPTS(struct cmd_opts, common),
};

const struct cfg_cmd gate_cmd = {
	.name = "gate",
	.args = "TYPE true|false",
	.summary = "Set this pod's readiness-gate condition TYPE once.",
	.description =
		"PATCHes pods/NAME/status (strategic merge: the other conditions stay)\n"
		"with the service account in --kube-dir. With spec.readinessGates\n"
		"naming TYPE, `gate TYPE false` takes the pod out of every Service's\n"
		"endpoints without deleting it (kubectl exec POD -- /lastcall gate ...);\n"
		"`gate TYPE true` puts it back. A running `lastcall run --readiness-gate\n"
		"TYPE` sets it again on its next change of readiness.\n"
		"RBAC: patch on pods/status. Exit codes: 0 set; 1 the API server\n"
		"refused or did not answer; 125 bad usage.\n",
	.opts = gate_opts_table,
	.n_opts = sizeof(gate_opts_table) / sizeof(gate_opts_table[0]),
};

struct gate_run {
	struct loop *loop;
	bool done;
	long http;
};

static void on_gate_done(void *data, bool status, long http)
{
	struct gate_run *g = data;

	(void)status;
	g->done = true;
	g->http = http;
	loop_stop(g->loop);
}

static void on_timeout(struct loop *l, void *data)
{
	(void)data;
	loop_stop(l);
}

static const struct kapi_ops gate_ops = { .gate_done = on_gate_done };

int gate_main(int argc, char **argv)
{
	struct cmd_opts o;
	struct gate_run g = { 0 };
	struct fetch *f = NULL;
	struct kapi *k = NULL;
	char err[512];
	bool status;
	int argi, code, timer = 0, r;

	memset(&o, 0, sizeof(o));
	if (cli_parse(&gate_cmd, &o, &o.common, argc, argv, &argi, &code))
		return code;
	if (argc - argi != 2)
		return cli_fail(&gate_cmd, "expected TYPE and true or false");
	if (!kapi_gate_type_ok(argv[argi]))
		return cli_fail(
			&gate_cmd,
			"TYPE: not a condition type lastcall may set (kubelet-owned, or not [prefix/]name)");
	if (cfg_parse_bool(argv[argi + 1], &status) < 0)
		return cli_fail(&gate_cmd, "expected true or false after TYPE");
	if (!o.sup.kube.pod_name)
		return cli_fail(&gate_cmd,
				"--pod-name is needed (LASTCALL_POD_NAME from the downward API)");
	if (o.sup.kube.timeout_ms < 10)
		return cli_fail(&gate_cmd, "--api-timeout: at least 10ms");
	o.sup.kube.gate = argv[argi];

	r = loop_new(&g.loop);
	if (r == 0)
		r = fetch_new(g.loop, &f);
	if (r < 0) {
		log_error("gate_failed", "error=\"%s\"", strerror(-r));
		code = 125;
		goto out;
	}
	r = kapi_new(g.loop, f, &o.sup.kube, &gate_ops, &g, &k, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "lastcall gate: %s\n", err);
		code = 125;
		goto out;
	}
	kapi_gate(k, status);
	/* fetch times the call out; this only guards against a bug there. */
	loop_timer_add(g.loop, loop_now_ms() + o.sup.kube.timeout_ms + 1000, on_timeout, &g,
		       &timer);
	if (!g.done && kapi_pending(k) > 0)
		loop_run(g.loop);
	if (g.http >= 200 && g.http < 300) {
		log_info("readiness_gate", "type=%s status=%s", argv[argi],
			 status ? "True" : "False");
		code = 0;
	} else {
		/* kapi logged why. */
		code = 1;
	}
out:
	fetch_free(f);
	kapi_free(k);
	loop_free(g.loop);
	return code;
}
